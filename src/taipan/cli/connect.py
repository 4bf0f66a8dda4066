"""``taipan connect`` / ``taipan disconnect``: point conda, mamba and pixi at a server, and back.

What Anaconda Navigator's "Connect" does, for a terminal. ``connect`` stores the key
where each client looks for it, and points ``.condarc`` at the server's channels:

- pixi, rattler-build, py-rattler: ``~/.rattler/credentials.json``, key = host without
  port, ``{"BearerToken": key}``, compact sorted JSON, written atomically
  (client-protocols.md §3.2);
- micromamba / mamba: ``~/.mamba/auth/authentication.json``, key = ``host[:port]``,
  ``{"type": "BearerToken", "token": key}``, 4-space indent (§5; a bearer key with a
  path would never match);
- conda: the channel URLs in ``~/.condarc`` carry ``/t/<key>/`` (§4.1), which conda and
  mamba send as Taipan reads it (at the path root).

Everything it changes is recorded in ``~/.taipan/connect.json`` (with a byte copy of
``.condarc`` next to it), so ``disconnect`` puts back the credential entries that were
there before and restores ``.condarc`` byte for byte, or removes it if it did not exist.
``--dry-run`` prints every change and writes nothing.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import io
import json
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from taipan.cli.client import Api

STATE = Path(".taipan/connect.json")
CONDARC_BACKUP = Path(".taipan/condarc.backup")
CONDARC_REPLACED = Path(".taipan/condarc.replaced")
RATTLER = Path(".rattler/credentials.json")
MAMBA = Path(".mamba/auth/authentication.json")
CONDARC = Path(".condarc")
CONDA_TOKEN_RE = re.compile(r"^[A-Za-z0-9-]{2,}$")  # what conda and mamba accept in /t/<token>/
PATH_TOKEN_RE = re.compile(r"/t/([A-Za-z0-9-]+)/")
SECRET_MODE = 0o600


@dataclass
class Edit:
    """One file to write (``after``) or remove (``after`` None); ``before`` is what is there now."""

    path: Path
    before: bytes | None
    after: bytes | None
    summary: list[str]
    mode: int = SECRET_MODE
    secret: str | None = None  # masked when the change is shown


@dataclass
class Plan:
    home: Path
    edits: list[Edit] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    remove_dirs: list[Path] = field(default_factory=list)


# -- the commands ---------------------------------------------------------------------------


@click.command()
@click.argument("url")
@click.option("--token", envvar="TAIPAN_TOKEN", required=True, help="Your API key [env TAIPAN_TOKEN].")
@click.option(
    "--channel",
    "-c",
    "channels",
    multiple=True,
    help="A channel to use (repeatable; first has priority). Default: every channel the key can read.",
)
@click.option(
    "--remove-default-channels",
    is_flag=True,
    help="Also drop `defaults` from channels and the default_channels setting (nothing from repo.anaconda.com).",
)
@click.option("--dry-run", is_flag=True, help="Show every change and write nothing.")
def connect(url: str, token: str, channels: tuple[str, ...], remove_default_channels: bool, dry_run: bool) -> None:
    """Point conda, mamba and pixi on this account at the Taipan server at URL.

    \b
    Stores the key for pixi/rattler (~/.rattler/credentials.json) and mamba
    (~/.mamba/auth/authentication.json), saves a copy of ~/.condarc, and puts the
    server's channels (with the key in /t/<key>/ URLs, for conda) first in its
    `channels`. `taipan disconnect` undoes all of it.

    \b
    Examples:
      taipan connect https://conda.example.org --token taipan-... --channel lab
      taipan connect http://127.0.0.1:8000 --token "$KEY" -c lab -c tools --remove-default-channels --dry-run
    """
    home = Path.home()
    if (home / STATE).exists():
        raise click.ClickException(f"already connected (see {home / STATE}): run `taipan disconnect` first")
    server = _server_url(url)
    if not CONDA_TOKEN_RE.match(token):
        raise click.ClickException("this key has characters conda cannot carry in a /t/<key>/ URL: use a Taipan key")
    api = Api(server, token)
    username = api.call("GET", "/api/v1/me").json()["username"]
    for name in channels:  # a typo should fail here, not at the next conda install
        api.call("GET", f"/api/v1/channels/{name}")
    names = list(channels) or [c["name"] for c in api.call("GET", "/api/v1/channels").json()]
    plan = plan_connect(home, server, token, names, remove_default_channels)
    click.echo(f"Connecting to {server} as {username}; channels: {', '.join(names) or '(none)'}")
    _run(plan, dry_run)


@click.command()
@click.option("--dry-run", is_flag=True, help="Show every change and write nothing.")
def disconnect(dry_run: bool) -> None:
    """Undo `taipan connect`: remove the stored keys and restore ~/.condarc exactly as it was."""
    home = Path.home()
    if not (home / STATE).exists():
        click.echo("Not connected: nothing to undo.")
        return
    _run(plan_disconnect(home), dry_run)


def _run(plan: Plan, dry_run: bool) -> None:
    for warning in plan.warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    for edit in plan.edits:
        click.echo(describe(plan.home, edit, dry_run))
    if dry_run:
        click.echo("Dry run: nothing was written.")
        return
    apply(plan)


def _server_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.UsageError(f"{url!r} is not an http(s) URL of a server")
    return url.rstrip("/")


# -- connect ---------------------------------------------------------------------------------


def plan_connect(home: Path, server: str, token: str, channels: list[str], remove_defaults: bool) -> Plan:
    """Every file change ``connect`` makes, and the state that lets ``disconnect`` undo it."""
    plan = Plan(home)
    parts = urlsplit(server)
    host = parts.hostname or ""
    if parts.path not in ("", "/"):
        plan.warnings.append(
            "conda moves /t/<key>/ to the root of the URL, so conda needs the server at the root of its host"
        )
    rattler = _set_entry(plan, home / RATTLER, host, {"BearerToken": token}, None, token)
    mamba_key = parts.netloc.rpartition("@")[2]  # host[:port], as mamba keys it
    mamba = _set_entry(plan, home / MAMBA, mamba_key, {"type": "BearerToken", "token": token}, 4, token)
    condarc = _edit_condarc(plan, home, server, token, channels, remove_defaults)
    touched = [home / STATE, *(e.path for e in plan.edits)]
    folders = {d for path in touched for d in _parents_below(path, home) if not d.exists()}
    created = sorted((str(d) for d in folders), key=len, reverse=True)  # deepest first
    state = {"server": server, "credentials": [rattler, mamba], "condarc": condarc, "created_dirs": created}
    plan.edits.insert(0, Edit(home / STATE, _read(home / STATE), _json(state, 2), ["what disconnect will undo"]))
    return plan


def _set_entry(
    plan: Plan, path: Path, key: str, entry: dict[str, Any], indent: int | None, secret: str
) -> dict[str, Any]:
    before = _read(path)
    data = _load_json(path, before)
    previous = data.get(key)
    data[key] = entry
    was = "nothing" if previous is None else _kind(previous)
    plan.edits.append(
        Edit(path, before, _dump_store(data, indent), [f"{key}: {_kind(entry)} (was {was})"], secret=secret)
    )
    return {"path": str(path), "key": key, "indent": indent, "previous": previous, "written": _digest(entry)}


def _edit_condarc(
    plan: Plan, home: Path, server: str, token: str, channels: list[str], remove_defaults: bool
) -> dict[str, Any] | None:
    path = home / CONDARC
    before = _read(path)
    if not channels:
        return None
    yaml = _yaml()
    try:
        data = yaml.load(before) if before else None
    except YAMLError as exc:
        raise click.ClickException(f"{path} is not valid YAML ({exc}): fix it or move it aside first") from exc
    if data is None:
        data = CommentedMap()
    if not isinstance(data, CommentedMap):
        raise click.ClickException(f"{path} is not a YAML mapping: fix it or move it aside first")
    _point_channels(data, server, token, channels, remove_defaults)
    out = io.StringIO()
    yaml.dump(data, out)
    after = out.getvalue().encode()
    mode = path.stat().st_mode & 0o777 if before is not None else 0o644
    summary = [f"channels: {', '.join(channels)} first"] + (["no defaults"] if remove_defaults else [])
    plan.edits.append(Edit(path, before, after, summary, mode, token))
    if before is not None:
        plan.edits.insert(0, Edit(home / CONDARC_BACKUP, _read(home / CONDARC_BACKUP), before, ["copy of .condarc"]))
    return {"path": str(path), "existed": before is not None, "mode": mode, "written": _sha(after)}


def _point_channels(data: CommentedMap, server: str, token: str, channels: list[str], remove_defaults: bool) -> None:
    """Put the server's channels first in ``channels``, editing the list in place so comments stay."""
    seq = data.get("channels")
    if not isinstance(seq, CommentedSeq):
        # Absent: conda's value is [defaults]. A lone string is one channel.
        seq = CommentedSeq(["defaults"] if seq is None else [seq])
        data["channels"] = seq
    plain = {f"{server}/{name}" for name in channels}
    for i in reversed(range(len(seq))):
        entry = str(seq[i])
        if PATH_TOKEN_RE.sub("/", entry) in plain or (remove_defaults and entry == "defaults"):
            del seq[i]
    for i, name in enumerate(channels):
        seq.insert(i, f"{server}/t/{token}/{name}")
    if remove_defaults:
        data.pop("default_channels", None)


def _yaml() -> YAML:
    yaml = YAML()  # round trip: comments, order and quoting of everything else stay
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)  # the layout `conda config` writes
    return yaml


# -- disconnect ------------------------------------------------------------------------------


def plan_disconnect(home: Path) -> Plan:
    plan = Plan(home)
    state = json.loads((home / STATE).read_bytes())
    for record in state.get("credentials", []):
        _restore_entry(plan, record)
    if state.get("condarc"):
        _restore_condarc(plan, home, state["condarc"])
    plan.edits.append(Edit(home / STATE, _read(home / STATE), None, ["connection state"]))
    if (home / CONDARC_BACKUP).exists():
        plan.edits.append(Edit(home / CONDARC_BACKUP, _read(home / CONDARC_BACKUP), None, ["copy of .condarc"]))
    plan.remove_dirs = [Path(d) for d in state.get("created_dirs", [])]
    return plan


def _restore_entry(plan: Plan, record: dict[str, Any]) -> None:
    path, key, previous = Path(record["path"]), record["key"], record["previous"]
    before = _read(path)
    data = _load_json(path, before)
    current = data.get(key)
    if current is None or _digest(current) != record["written"]:
        plan.warnings.append(f"{path}: {key} changed since connect; left as it is")
        return
    if previous is None:
        del data[key]
    else:
        data[key] = previous
    after = _dump_store(data, record["indent"]) if data else None
    was = "removed" if previous is None else f"back to {_kind(previous)}"
    plan.edits.append(Edit(path, before, after, [f"{key}: {was}"]))


def _restore_condarc(plan: Plan, home: Path, record: dict[str, Any]) -> None:
    path = Path(record["path"])
    before = _read(path)
    original = _read(home / CONDARC_BACKUP) if record["existed"] else None
    if record["existed"] and original is None:
        plan.warnings.append(f"{home / CONDARC_BACKUP} is missing: {path} is left as it is")
        return
    if before is not None and _sha(before) != record["written"]:
        plan.warnings.append(f"{path} changed since connect; that version is kept in {home / CONDARC_REPLACED}")
        plan.edits.append(Edit(home / CONDARC_REPLACED, _read(home / CONDARC_REPLACED), before, ["your edits"]))
    summary = "restored as it was" if original is not None else "removed (there was none before)"
    plan.edits.append(Edit(path, before, original, [summary], record["mode"]))


# -- files -----------------------------------------------------------------------------------


def apply(plan: Plan) -> None:
    for edit in plan.edits:
        if edit.after is None:
            edit.path.unlink(missing_ok=True)
        else:
            _write_atomic(edit.path, edit.after, edit.mode)
    for folder in plan.remove_dirs:  # the folders connect made, when nothing else is in them now
        with contextlib.suppress(OSError):
            folder.rmdir()


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    if path.is_symlink():  # e.g. a .condarc kept in a dotfiles repository: write where it points
        path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _parents_below(path: Path, home: Path) -> Iterable[Path]:
    """The folders between ``home`` and ``path``, deepest first (removed only if empty)."""
    parent = path.parent
    while parent != home and home in parent.parents:
        yield parent
        parent = parent.parent


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _load_json(path: Path, raw: bytes | None) -> dict[str, Any]:
    if not raw or not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise click.ClickException(f"{path} is not valid JSON ({exc}): fix it or move it aside first") from exc
    if not isinstance(data, dict):
        raise click.ClickException(f"{path} is not a JSON object: fix it or move it aside first")
    return data


def _dump_store(data: dict[str, Any], indent: int | None) -> bytes:
    if indent is None:  # rattler: compact, one line, keys sorted
        return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    return json.dumps(data, indent=indent).encode()


def _json(data: object, indent: int) -> bytes:
    return (json.dumps(data, indent=indent, sort_keys=True) + "\n").encode()


def _digest(entry: object) -> str:
    return _sha(json.dumps(entry, sort_keys=True, separators=(",", ":")).encode())


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _kind(entry: object) -> str:
    if isinstance(entry, dict):
        kind = entry.get("type") or next(iter(entry), "?")
        return str(kind)
    return "?"


# -- showing changes -------------------------------------------------------------------------


def describe(home: Path, edit: Edit, dry_run: bool) -> str:
    shown = f"~/{edit.path.relative_to(home)}" if home in edit.path.parents else str(edit.path)
    if edit.after is None:
        verb = "remove" if dry_run else "removed"
    elif edit.before is None:
        verb = "create" if dry_run else "created"
    else:
        verb = "change" if dry_run else "changed"
    lines = [f"{'would ' if dry_run else ''}{verb} {shown}: {'; '.join(edit.summary)}"]
    if dry_run and edit.path.name == CONDARC.name:
        lines.extend(_diff(edit, shown))
    return "\n".join(lines)


def _diff(edit: Edit, shown: str) -> list[str]:
    def text(data: bytes | None) -> list[str]:
        value = (data or b"").decode("utf-8", "replace")
        if edit.secret:
            value = value.replace(edit.secret, mask(edit.secret))
        # Every /t/<key>/ too: disconnect never knew the key (it is stored nowhere), yet the
        # .condarc it restores from holds it; so do other servers' channel URLs.
        return PATH_TOKEN_RE.sub(lambda m: f"/t/{mask(m.group(1))}/", value).splitlines()

    diff = difflib.unified_diff(text(edit.before), text(edit.after), f"{shown} (now)", f"{shown} (after)", lineterm="")
    return ["    " + line for line in diff]


def mask(secret: str) -> str:
    return f"{secret[:7]}…{secret[-4:]}" if len(secret) > 12 else "…"
