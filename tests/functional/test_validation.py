"""Bad uploads, through a running server: each answers a 4xx naming the problem, and nothing changes.

After every refused upload, the index files of the subdirs involved (repodata.json, its
.zst, the shard index) are byte for byte and ETag for ETag what they were before, and no
file was added, changed or left behind anywhere in the server's storage folder
(including its internal ``.tmp`` and ``.staging``).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import ssl
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx
import pytest

from tests.support import malformed, packages
from tests.support.malformed import MIB, Zeros
from tests.support.packages import Spec
from tests.support.server import Server
from tests.support.upload import upload_multipart, upload_raw

INDEX_FILES = ("repodata.json", "repodata.json.zst", "repodata_shards.msgpack.zst")
SEEDED_SUBDIRS = ("noarch", "linux-64")
FORMATS = (".conda", ".tar.bz2")


# Built once: httpx makes a TLS context per client otherwise (~40 ms each), and these speak plain HTTP.
_TLS = ssl.create_default_context()


def client(server: Server, token: str | None = "admin") -> httpx.Client:
    """``server.client(token)``, made cheaply: the cases here make a few clients each."""
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {server.token if token == 'admin' else token}"
    return httpx.Client(base_url=server.url, headers=headers, timeout=120, verify=_TLS)


# --- what must not change ---------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    index: dict[str, tuple[int, str | None, bytes]]
    """``subdir/file`` → (status, ETag, body)."""
    files: dict[str, tuple[int, int]]
    """Every file under the storage folder → (size, mtime_ns)."""


def snapshot(server: Server, channel: str, subdirs: tuple[str, ...]) -> Snapshot:
    index = {}
    with client(server, token=None) as http:
        for subdir in subdirs:
            for name in INDEX_FILES:
                response = http.get(f"/{channel}/{subdir}/{name}")
                index[f"{subdir}/{name}"] = (response.status_code, response.headers.get("etag"), response.content)
    return Snapshot(index, server.stored_files())


def assert_unchanged(before: Snapshot, after: Snapshot) -> None:
    for key, (status, etag, body) in before.index.items():
        now = after.index[key]
        assert now[0] == status, f"{key}: status {status} became {now[0]}"
        assert now[1] == etag, f"{key}: ETag {etag} became {now[1]}"
        assert now[2] == body, f"{key}: the bytes changed"
    assert sorted(set(after.files) - set(before.files)) == [], "files were left in storage"
    assert sorted(set(before.files) - set(after.files)) == [], "files vanished from storage"
    assert after.files == before.files, "stored files were rewritten"


def assert_refused(
    server: Server,
    channel: str,
    send: Callable[[httpx.Client], httpx.Response],
    status: int,
    message: str,
    subdirs: tuple[str, ...] = (),
    token: str | None = "admin",
) -> httpx.Response:
    """Send the upload; check its status and message, and that nothing changed."""
    watched = tuple(dict.fromkeys((*SEEDED_SUBDIRS, *subdirs)))
    before = snapshot(server, channel, watched)
    with client(server, token) as http:
        response = send(http)
    if response.is_success:  # put things back, so one wrongly accepted case does not spoil the next
        with client(server) as http:
            stored = response.json()
            http.delete(f"/api/v1/delete/{stored['channel']}/{stored['subdir']}/{stored['filename']}")
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.text
    error = response.json()["error"]
    assert re.search(message, error, re.IGNORECASE), f"{message!r} not in {error!r}"
    assert_unchanged(before, snapshot(server, channel, watched))
    return response


# --- fixtures --------------------------------------------------------------------------


def _create_channel(server: Server, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    with client(server) as http:
        response = http.post("/api/v1/channels", json={"name": name})
        assert response.status_code == 201, response.text
    return name


def _seed(server: Server, channel: str, out: Path) -> None:
    """One package in each watched subdir, so their index files exist and have content."""
    with client(server) as http:
        for spec in (Spec("seed-noarch"), Spec("seed-linux", subdir="linux-64", fmt=".tar.bz2")):
            response = upload_raw(http, channel, packages.build(spec, out))
            assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def seeded(server: Server, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A channel with a package in noarch and linux-64, shared by this module's cases."""
    channel = _create_channel(server, "validation")
    _seed(server, channel, tmp_path_factory.mktemp("seed"))
    return channel


@pytest.fixture(scope="module")
def small_server(server_factory) -> Iterator[Server]:  # type: ignore[no-untyped-def]
    """A server whose upload limit is 100 000 bytes."""
    with server_factory({"TAIPAN_MAX_UPLOAD_SIZE": "100000"}) as srv:
        yield srv


@pytest.fixture(scope="module")
def small_seeded(small_server: Server, tmp_path_factory: pytest.TempPathFactory) -> str:
    channel = _create_channel(small_server, "limits")
    _seed(small_server, channel, tmp_path_factory.mktemp("seed-small"))
    return channel


# --- the malformed kinds --------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    path: Path
    sha256: str | None = None
    name: str | None = None


Builder = Callable[[Path, str], Upload]


@dataclass(frozen=True)
class Case:
    id: str
    build: Builder
    status: int
    message: str
    formats: tuple[str, ...] = FORMATS
    subdirs: tuple[str, ...] = ()
    both_forms: bool = False
    """Also send it as multipart (every case goes raw)."""
    extra: dict[str, str] = field(default_factory=dict)


def _spec(tmp: Path, fmt: str, **kwargs: object) -> Upload:
    """A package built from ``Spec("val", ..., fmt=fmt, **kwargs)``."""
    name = str(kwargs.pop("name", "val"))
    return Upload(packages.build(Spec(name, fmt=fmt, **kwargs), tmp))  # type: ignore[arg-type]


def spec(**kwargs: object) -> Builder:
    return lambda tmp, fmt: _spec(tmp, fmt, **kwargs)


def index(**changes: object) -> Builder:
    """A package whose info/index.json has keys changed (None drops one)."""
    return member("info/index.json", lambda s: malformed.index_bytes(s, **changes))


def member(name: str, data: bytes | Zeros | Callable[[Spec], bytes] | None) -> Builder:
    """A package with member ``name`` replaced (or removed with None)."""

    def build(tmp: Path, fmt: str) -> Upload:
        s = Spec("val", fmt=fmt)
        value = data(s) if callable(data) else data
        entries = malformed.with_member(malformed.good_entries(s), name, value)
        return Upload(malformed.write(tmp, s.filename, entries))

    return build


def extra_entries(*entries: malformed.Entry) -> Builder:
    def build(tmp: Path, fmt: str) -> Upload:
        s = Spec("val", fmt=fmt)
        return Upload(malformed.write(tmp, s.filename, [*malformed.good_entries(s), *entries]))

    return build


def in_component(component: str, *entries: malformed.Entry) -> Builder:
    """A .conda with ``entries`` added to its ``pkg`` or ``info`` component, whatever their names."""

    def build(tmp: Path, fmt: str) -> Upload:
        s = Spec("val", fmt=fmt)
        extra = list(entries)
        pkg, info = (extra, []) if component == "pkg" else ([], extra)
        return Upload(malformed.write(tmp, s.filename, malformed.good_entries(s), pkg_extra=pkg, info_extra=info))

    return build


def forged_index(s: Spec) -> bytes:
    return malformed.index_bytes(s, depends=["evil >=1"])


def renamed(new_name: Callable[[str], str]) -> Builder:
    """A valid package saved under another file name."""

    def build(tmp: Path, fmt: str) -> Upload:
        path = packages.build(Spec("val", fmt=fmt), tmp / "good")
        target = tmp / new_name(path.name)
        shutil.copy(path, target)
        return Upload(target)

    return build


def sent_as(name: str) -> Builder:
    """A valid package, sent with ``name`` in X-File-Name."""
    return lambda tmp, fmt: Upload(packages.build(Spec("val", fmt=fmt), tmp), name=name + fmt)


def wrong_sha256(tmp: Path, fmt: str) -> Upload:
    return Upload(packages.build(Spec("val", fmt=fmt), tmp), sha256="0" * 64)


def cut_in_half(tmp: Path, fmt: str) -> Upload:
    good = packages.build(Spec("val", fmt=fmt, files={"share/val/data": os.urandom(20_000)}), tmp / "good")
    return Upload(malformed.truncated(good, tmp / "cut"))


def random_bytes(tmp: Path, fmt: str) -> Upload:
    return Upload(malformed.garbage(tmp, f"val-1.0-0{fmt}"))


def empty_file(tmp: Path, fmt: str) -> Upload:
    path = tmp / f"val-1.0-0{fmt}"
    path.write_bytes(b"")
    return Upload(path)


def conda_zip(*, omit: str = "", extra: dict[str, bytes] | None = None) -> Builder:
    def build(tmp: Path, fmt: str) -> Upload:
        s = Spec("val", fmt=fmt)
        stem = s.filename[: -len(fmt)]
        omitted = {omit.format(stem=stem)} if omit else set()
        return Upload(malformed.write(tmp, s.filename, malformed.good_entries(s), omit=omitted, extra=extra))

    return build


def bomb_entries(*entries: malformed.Entry, first: bool = False) -> Builder:
    def build(tmp: Path, fmt: str) -> Upload:
        s = Spec("val", fmt=fmt)
        good = malformed.good_entries(s)
        path = malformed.write(tmp, s.filename, [*entries, *good] if first else [*good, *entries])
        assert path.stat().st_size < 200_000, "a bomb should be small"
        return Upload(path)

    return build


LINUX = {"subdir": "linux-64"}
CASES = [
    # file names
    Case("wrong-extension", renamed(lambda n: n.replace(".tar.bz2", ".tar").replace(".conda", ".zip")), 422,
         r"must end in \.conda or \.tar\.bz2", both_forms=True),
    Case("no-extension", renamed(lambda n: n.split(".")[0] + "-1-0"), 422, r"must end in \.conda or \.tar\.bz2"),
    Case("not-name-version-build", renamed(lambda n: n.replace("-1.0-0", "-1.0")), 422,
         "not of the form name-version-build"),
    Case("path-in-file-name", sent_as("../val-1.0-0"), 422, "not a plain file name"),
    Case("file-name-too-long", sent_as("v" * 200 + "-1.0-0"), 422, "characters long"),
    # the file name against info/index.json
    Case("name-mismatch", spec(index_overrides={"name": "other"}), 422,
         r"does not match the package's info/index\.json, which says 'other-1\.0-0", both_forms=True),
    Case("version-mismatch", spec(index_overrides={"version": "2.0"}), 422,
         r"does not match .* which says 'val-2\.0-0"),
    Case("build-mismatch", spec(index_overrides={"build": "1"}), 422, r"does not match .* which says 'val-1\.0-1"),
    Case("renamed-file", renamed(lambda n: n.replace("val-", "other-")), 422,
         r"lacks info-other-1\.0-0\.tar\.zst|does not match"),
    # info/index.json itself
    Case("index-missing", member("info/index.json", None), 422, r"has no info/index\.json", both_forms=True),
    Case("index-not-json", member("info/index.json", b"{name: val"), 422, r"info/index\.json is not valid JSON"),
    Case("index-empty", member("info/index.json", b""), 422, r"info/index\.json is not valid JSON"),
    Case("index-a-list", member("info/index.json", b'["val", "1.0", "0"]'), 422,
         r"info/index\.json must hold a JSON object"),
    *[
        Case(f"index-lacks-{key}", spec(index_drop=[key]), 422, rf"lacks required field\(s\): {key}")
        for key in ("name", "version", "build", "build_number", "subdir")
    ],
    Case("build-number-negative", index(build_number=-1), 422, "'build_number' must be a non-negative integer"),
    Case("build-number-string", index(build_number="0"), 422, "'build_number' must be a non-negative integer"),
    Case("build-number-bool", index(build_number=True), 422, "'build_number' must be a non-negative integer"),
    Case("build-number-float", index(build_number=1.5), 422, "'build_number' must be a non-negative integer"),
    Case("build-number-over-32-bits", index(build_number=2**31), 422, "'build_number' must be .* at most 2147483647"),
    Case("build-number-over-64-bits", index(build_number=2**63), 422, "'build_number' must be"),
    Case("name-not-a-string", index(name=7), 422, "'name' must be a string"),
    Case("version-not-a-string", index(version=1.0), 422, "'version' must be a string"),
    Case("depends-not-a-list", index(depends="python"), 422, "'depends' must be a list of strings"),
    Case("depends-not-strings", index(depends=[1]), 422, "'depends' must be a list of strings"),
    Case("timestamp-a-string", index(timestamp="yesterday"), 422, "'timestamp' must be an integer"),
    # values that would make rattler refuse the whole repodata.json
    Case("timestamp-out-of-range", index(timestamp=2**53), 422, "'timestamp' .* before the year 10000"),
    Case("noarch-unknown", index(noarch="banana"), 422, "'noarch' must be 'python', 'generic' or a boolean"),
    Case("license-not-a-string", index(license=["MIT"]), 422, "'license' must be a string"),
    Case("run-exports-json-bad-shape", member("info/run_exports.json", b'{"weak": "foo"}'), 422,
         r"info/run_exports\.json must map kinds"),
    # CEP 26 syntax
    Case("name-upper-case", spec(name="Val"), 422, "package name 'Val' is not valid"),
    Case("name-double-separator", spec(name="val--x"), 422, "package name 'val--x' is not valid"),
    Case("name-double-underscore", spec(name="val__x"), 422, "package name 'val__x' is not valid"),
    Case("name-too-long", spec(name="v" * 65), 422, "package name 'v{65}' is not valid"),
    Case("version-double-dot", spec(version="1..2"), 422, r"version '1\.\.2' is not a conda version"),
    Case("version-with-dash", spec(version="1-2"), 422, "version '1-2' is not valid"),
    Case("version-upper-case", spec(version="1.0A"), 422, "version '1.0A' is not valid"),
    Case("version-too-long", spec(version="1." * 32 + "1"), 422, "version .* is not valid"),
    Case("build-bad-characters", spec(build="b!ld"), 422, "build string 'b!ld' is not valid"),
    Case("build-too-long", spec(build="b" * 65), 422, "build string 'b{65}' is not valid"),
    Case("subdir-unknown-platform", spec(subdir="linux-999"), 422,
         "subdir 'linux-999' is not a conda platform or noarch", subdirs=("linux-999",)),
    Case("subdir-not-a-platform", spec(subdir="foo"), 422, "subdir 'foo' is not a conda platform or noarch",
         subdirs=("foo",)),
    Case("subdir-empty", index(subdir=""), 422, "subdir '' is not a conda platform or noarch"),
    # what was received
    Case("sha256-mismatch", wrong_sha256, 400, r"SHA-256 mismatch for val-1\.0-0", both_forms=True),
    Case("truncated", cut_in_half, 422, "the archive is corrupt or truncated", both_forms=True),
    Case("random-bytes", random_bytes, 422, "the archive is corrupt or truncated"),
    Case("empty-file", empty_file, 422, "the archive is corrupt or truncated"),
    Case("conda-lacks-info", conda_zip(omit="info-{stem}.tar.zst"), 422, r"lacks info-val-1\.0-0\.tar\.zst",
         formats=(".conda",)),
    Case("conda-lacks-pkg", conda_zip(omit="pkg-{stem}.tar.zst"), 422, r"lacks pkg-val-1\.0-0\.tar\.zst",
         formats=(".conda",)),
    Case("conda-extra-member", conda_zip(extra={"../evil.sh": b"rm -rf /"}), 422,
         r"unexpected members: \.\./evil\.sh", formats=(".conda",)),
    # metadata from one place only: an installer extracts both components into one folder
    Case("index-json-in-pkg-component",
         in_component("pkg", malformed.regular("info/index.json", forged_index(Spec("val")))), 422,
         r"the pkg component of the \.conda holds 'info/index\.json': metadata belongs in the info component",
         formats=(".conda",), both_forms=True),
    Case("recipe-in-pkg-component", in_component("pkg", malformed.regular("info/recipe/meta.yaml", b"")), 422,
         r"the pkg component of the \.conda holds 'info/recipe/meta\.yaml'", formats=(".conda",)),
    Case("files-in-info-component", in_component("info", malformed.regular("bin/tool", b"")), 422,
         r"the info component of the \.conda holds 'bin/tool'", formats=(".conda",)),
    Case("index-json-twice", extra_entries(malformed.regular("./info/index.json", forged_index(Spec("val")))), 422,
         r"holds info/index\.json twice", formats=(".tar.bz2",)),
    # members that escape
    Case("member-dotdot", extra_entries(malformed.regular("../evil", b"x")), 422,
         r"'\.\./evil' escapes the archive", both_forms=True),
    Case("member-absolute", extra_entries(malformed.regular("/etc/passwd", b"x")), 422,
         "'/etc/passwd' escapes the archive"),
    Case("member-dotdot-in-info", extra_entries(malformed.regular("info/../../evil", b"x")), 422,
         "escapes the archive"),
    Case("symlink-outside", extra_entries(malformed.symlink("lib/link", "../../x")), 422,
         r"'lib/link' links outside the archive \('\.\./\.\./x'\)"),
    Case("symlink-absolute", extra_entries(malformed.symlink("lib/link", "/etc/passwd")), 422,
         "links outside the archive"),
    Case("hardlink-outside", extra_entries(malformed.hardlink("lib/hard", "../x")), 422,
         r"'lib/hard' links outside the archive \('\.\./x'\)"),
    Case("symlink-chain-outside", extra_entries(malformed.symlink("a", "."), malformed.symlink("b", "a/..")), 422,
         r"'b' links outside the archive"),
    Case("member-through-symlink", extra_entries(malformed.symlink("lib/up", ".."), malformed.regular("lib/up/x", b"")),
         422, "'lib/up/x' escapes the archive through the symlink 'lib/up'"),
    Case("fifo", extra_entries(malformed.fifo("lib/fifo")), 422, "is a device, fifo or other special file"),
    # decompression bombs (the budget is at least 256 MiB)
    Case("index-json-bomb", member("info/index.json", Zeros(2 * MIB)), 413,
         r"info/index\.json is 2097152 bytes; at most 1048576", both_forms=True),
    Case("about-json-bomb", member("info/about.json", Zeros(5 * MIB)), 413, r"info/about\.json is 5242880 bytes"),
    Case("paths-json-bomb", member("info/paths.json", Zeros(300 * MIB)), 413, "decompression bomb"),
    Case("pkg-member-bomb", bomb_entries(malformed.regular("share/zeros", Zeros(300 * MIB))), 413,
         "unpacks to more than 268435456 bytes; refusing it as a decompression bomb", both_forms=True),
    Case("members-adding-up", bomb_entries(*[malformed.regular(f"share/z{i}", Zeros(100 * MIB)) for i in range(3)]),
         413, "decompression bomb"),
    Case("pax-header-bomb", bomb_entries(malformed.pax_header(1024 * MIB), first=True), 413,
         "extended tar header in the archive is 1073741824 bytes"),
    Case("gnu-long-name-bomb", bomb_entries(malformed.gnu_long_name(1024 * MIB), first=True), 413,
         "extended tar header"),
]  # fmt: skip


def _params() -> Iterator[object]:
    for case in CASES:
        for fmt in case.formats:
            for form in ("raw", "multipart") if case.both_forms else ("raw",):
                yield pytest.param(case, fmt, form, id=f"{case.id}{fmt}-{form}")


def _send(upload: Upload, form: str, channel: str) -> Callable[[httpx.Client], httpx.Response]:
    def send(http: httpx.Client) -> httpx.Response:
        if form == "raw":
            return upload_raw(http, channel, upload.path, sha256=upload.sha256, name=upload.name)
        assert upload.name is None, "multipart names the file after the path"
        return upload_multipart(http, channel, upload.path, sha256=upload.sha256)

    return send


@pytest.mark.parametrize(("case", "fmt", "form"), list(_params()))
def test_malformed_upload_is_refused(
    server: Server, seeded: str, tmp_path: Path, case: Case, fmt: str, form: str
) -> None:
    upload = case.build(tmp_path, fmt)
    assert_refused(server, seeded, _send(upload, form, seeded), case.status, case.message, case.subdirs)


def test_the_cases_are_valid_when_not_broken(server: Server, seeded: str, tmp_path: Path) -> None:
    """The builders make good packages by default, so each case fails for its own reason alone."""
    with client(server) as http:
        for fmt in FORMATS:
            s = Spec("val-control", fmt=fmt)
            good = malformed.write(tmp_path, s.filename, malformed.good_entries(s))
            response = upload_multipart(http, seeded, good)
            assert response.status_code == 200, response.text


# --- memory -----------------------------------------------------------------------------


def _peak_rss(pid: int) -> int:
    """The process's peak resident memory since the last reset, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/<pid>/status")


def _reset_peak_rss(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # Linux: the peak becomes the current RSS


def test_a_tiny_package_cannot_make_the_server_take_gigabytes(server: Server, seeded: str, tmp_path: Path) -> None:
    # A paths.json of 16 million empty objects, a few KiB compressed: parsed whole, it took
    # ~1 GiB (2 GiB with a larger one). It is the client's install manifest: not read here.
    s = Spec("val-paths")
    huge = b'{"paths": [' + b"{}," * (16 * MIB) + b'{}], "paths_version": 1}'
    entries = malformed.with_member(malformed.good_entries(s), "info/paths.json", huge)
    path = malformed.write(tmp_path, s.filename, entries)
    assert path.stat().st_size < 100_000
    pid = server.process.pid
    _reset_peak_rss(pid)
    before = _peak_rss(pid)
    with client(server) as http:
        response = upload_raw(http, seeded, path)
        if response.is_success:
            http.delete(f"/api/v1/delete/{seeded}/noarch/{s.filename}")
    grown = _peak_rss(pid) - before
    assert response.status_code in (200, 413, 422), response.text
    assert grown < 200 * MIB, f"the server's peak memory grew by {grown // MIB} MiB"


# --- size limits ------------------------------------------------------------------------


@pytest.fixture
def too_big(tmp_path: Path) -> Path:
    """A valid package of about 150 000 bytes: over the small server's limit."""
    return packages.build(Spec("big", files={"share/big/blob": os.urandom(150_000)}), tmp_path)


def test_declared_length_over_the_limit(small_server: Server, small_seeded: str, too_big: Path) -> None:
    def send(http: httpx.Client) -> httpx.Response:
        return upload_raw(http, small_seeded, too_big)

    assert_refused(small_server, small_seeded, send, 413, "limit is 100000")


def test_chunked_body_over_the_limit(small_server: Server, small_seeded: str, too_big: Path) -> None:
    data = too_big.read_bytes()

    def chunks() -> Iterator[bytes]:  # a generator body: httpx sends it chunked, with no Content-Length
        for start in range(0, len(data), 16 * 1024):
            yield data[start : start + 16 * 1024]

    def send(http: httpx.Client) -> httpx.Response:
        headers = {"X-File-Name": too_big.name, "X-File-Sha256": hashlib.sha256(data).hexdigest()}
        request = http.build_request("POST", f"/api/v1/upload/{small_seeded}", content=chunks(), headers=headers)
        assert "content-length" not in request.headers
        assert request.headers["transfer-encoding"] == "chunked"
        return http.send(request)

    assert_refused(small_server, small_seeded, send, 413, "limit of 100000 bytes")


def test_multipart_over_the_limit(small_server: Server, small_seeded: str, too_big: Path) -> None:
    def send(http: httpx.Client) -> httpx.Response:
        return upload_multipart(http, small_seeded, too_big)

    assert_refused(small_server, small_seeded, send, 413, "limit of 100000 bytes")


def test_under_the_limit_is_accepted(small_server: Server, small_seeded: str, tmp_path: Path) -> None:
    path = packages.build(Spec("small", files={"share/small/blob": os.urandom(50_000)}), tmp_path)
    with client(small_server) as http:
        response = upload_raw(http, small_seeded, path)
    assert response.status_code == 200, response.text


# --- requests that are wrong before any package is looked at ----------------------------


@pytest.fixture
def valid(tmp_path: Path) -> Path:
    return packages.build(Spec("val-valid"), tmp_path)


def test_unknown_channel(server: Server, seeded: str, valid: Path) -> None:
    missing = f"no-such-channel-{uuid.uuid4().hex[:8]}"
    assert_refused(server, seeded, lambda http: upload_raw(http, missing, valid), 404, missing)


def test_no_credentials(server: Server, seeded: str, valid: Path) -> None:
    response = assert_refused(
        server,
        seeded,
        lambda http: upload_raw(http, seeded, valid),
        401,
        r"key|token|credential|log ?in|authenticat",
        token=None,
    )
    assert "Bearer" in response.headers["www-authenticate"]


def test_bad_token(server: Server, seeded: str, valid: Path) -> None:
    response = assert_refused(
        server, seeded, lambda http: upload_raw(http, seeded, valid), 401, "not valid", token="not-a-real-key"
    )
    assert "www-authenticate" in response.headers


def test_malformed_authorization_header(server: Server, seeded: str, valid: Path) -> None:
    def send(http: httpx.Client) -> httpx.Response:
        http.headers["Authorization"] = "Digest nonsense"
        return upload_raw(http, seeded, valid)

    assert_refused(server, seeded, send, 401, "Authorization", token=None)


def test_missing_file_name(server: Server, seeded: str, valid: Path) -> None:
    def send(http: httpx.Client) -> httpx.Response:
        return http.post(f"/api/v1/upload/{seeded}", content=valid.read_bytes())

    assert_refused(server, seeded, send, 400, "file name is missing")


@pytest.mark.parametrize(("name", "status", "message"), [(None, 400, "file name"), ("val-1.0-0.conda", 422, "")])
def test_empty_body(server: Server, seeded: str, name: str | None, status: int, message: str) -> None:
    def send(http: httpx.Client) -> httpx.Response:
        headers = {"X-File-Name": name} if name else {}
        return http.post(f"/api/v1/upload/{seeded}", content=b"", headers=headers)

    assert_refused(server, seeded, send, status, message or "corrupt or truncated")


def _multipart(http: httpx.Client, channel: str, body: bytes, boundary: str = "b0und") -> httpx.Response:
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    return http.post(f"/api/v1/upload/{channel}", content=body, headers=headers)


def test_multipart_without_a_file_part(server: Server, seeded: str) -> None:
    body = b'--b0und\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n--b0und--\r\n'
    assert_refused(server, seeded, lambda http: _multipart(http, seeded, body), 400, "no 'file' part")


def test_multipart_without_a_boundary(server: Server, seeded: str) -> None:
    def send(http: httpx.Client) -> httpx.Response:
        headers = {"Content-Type": "multipart/form-data"}
        return http.post(f"/api/v1/upload/{seeded}", content=b"--x\r\n", headers=headers)

    assert_refused(server, seeded, send, 400, "boundary")


def test_multipart_cut_mid_part(server: Server, seeded: str, valid: Path) -> None:
    data = valid.read_bytes()
    body = (
        b'--b0und\r\nContent-Disposition: form-data; name="file"; filename="val-valid-1.0-0.conda"\r\n\r\n'
        + data[: len(data) // 2]
    )
    assert_refused(server, seeded, lambda http: _multipart(http, seeded, body), 400, "ended in the middle of a part")


def test_multipart_empty_body(server: Server, seeded: str) -> None:
    assert_refused(server, seeded, lambda http: _multipart(http, seeded, b""), 400, "file")


def _raw_of(http: httpx.Client, *, channel: str, path: Path) -> httpx.Response:
    return upload_raw(http, channel, path)


def _multipart_of(http: httpx.Client, *, channel: str, path: Path) -> httpx.Response:
    return upload_multipart(http, channel, path)


# --- the same file twice ---------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_file_twice_conflicts_and_force_replaces(server: Server, tmp_path: Path, fmt: str) -> None:
    channel = _create_channel(server, "twice")
    _seed(server, channel, tmp_path / "seed")
    first = packages.build(Spec("val-twice", fmt=fmt, files={"share/a": b"first"}), tmp_path / "first")
    second = packages.build(Spec("val-twice", fmt=fmt, files={"share/a": b"second"}), tmp_path / "second")
    with client(server) as http:
        assert upload_raw(http, channel, first).status_code == 200

    for path in (first, second):  # the very same bytes, or other bytes under the same name
        assert_refused(server, channel, partial(_raw_of, channel=channel, path=path), 409, "already exists")
        assert_refused(server, channel, partial(_multipart_of, channel=channel, path=path), 409, "exists")

    # force does not let a bad file through, nor take the good one's place
    broken = malformed.truncated(second, tmp_path / "broken")
    assert_refused(server, channel, lambda http: upload_raw(http, channel, broken, force=True), 422, "truncated")
    assert_refused(
        server, channel, lambda http: upload_raw(http, channel, second, force=True, sha256="0" * 64), 400, "SHA-256"
    )

    before = snapshot(server, channel, SEEDED_SUBDIRS)
    with client(server) as http:
        response = upload_raw(http, channel, second, force=True)
        assert response.status_code == 200, response.text
        assert response.json()["replaced"] is True
        served = http.get(f"/{channel}/noarch/{second.name}")
    assert served.content == second.read_bytes()
    after = snapshot(server, channel, SEEDED_SUBDIRS)
    assert after.index["noarch/repodata.json"][1] != before.index["noarch/repodata.json"][1]
    assert hashlib.sha256(second.read_bytes()).hexdigest().encode() in after.index["noarch/repodata.json"][2]
    assert after.index["linux-64/repodata.json"] == before.index["linux-64/repodata.json"]
    # The new bytes went to another key (a committed record's are never overwritten), and
    # the predecessor's object was deleted after the commit: one file for one file.
    assert len(after.files) == len(before.files), "a replaced file takes its predecessor's place"
    gone, added = set(before.files) - set(after.files), set(after.files) - set(before.files)
    assert {k.rsplit("/", 1)[-1] for k in gone} == {k.rsplit("/", 1)[-1] for k in added} == {second.name}


def test_index_json_cannot_say_where_the_file_is_or_what_it_hashes_to(
    server: Server, channel: str, tmp_path: Path
) -> None:
    # conda downloads from a record's url and names the file by fn: a package must not set them.
    s = Spec(
        "val-keys",
        index_overrides={
            "url": "https://evil.example/val-keys-1.0-0.conda",
            "fn": "other-1.0-0.conda",
            "channel": "https://evil.example/channel",
            "sha256": "0" * 64,
            "md5": "0" * 32,
            "size": 1,
            "python_site_packages_path": "lib/python3.13t/site-packages",
        },
    )
    path = packages.build(s, tmp_path)
    with client(server) as http:
        assert upload_raw(http, channel, path).status_code == 200
        record = http.get(f"/{channel}/noarch/repodata.json").json()["packages.conda"][s.filename]
    assert not {"url", "fn", "channel"} & set(record)
    assert (record["sha256"], record["size"]) == (packages.sha256_of(path), path.stat().st_size)
    assert record["md5"] == hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
    assert record["python_site_packages_path"] == "lib/python3.13t/site-packages"  # CEP 17, kept
