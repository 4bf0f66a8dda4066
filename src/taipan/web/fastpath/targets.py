"""Which index file or shard a path names, and whether the router would give it to a files route."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.routing import BaseRoute, Match, Router
from starlette.types import Scope

from taipan.conda.names import DEFAULT_LABEL
from taipan.indexing.artifacts import INDEX_FILES, Kind
from taipan.web.routes import files

SHARD_SUFFIX = ".msgpack.zst"
MAX_ROUTES = 10_000
FILE_ENDPOINTS = frozenset({files.channel_file, files.label_file, files.shard, files.label_shard})


@dataclass(frozen=True)
class Target:
    channel: str
    label: str
    subdir: str
    kind: Kind | None  # None: a shard
    shard: str = ""  # the hex digest of a shard

    @property
    def view(self) -> tuple[str, str, str]:
        return (self.channel, self.label, self.subdir)


def parse(path: str) -> Target | None:
    """The index file or shard a path names, parsed as the router's file routes would."""
    parts = path.split("/")
    if len(parts) < 4 or parts[0] != "" or "" in parts[1:]:
        return None
    segs = parts[1:]
    if segs[-2] == "shards" and segs[-1].endswith(SHARD_SUFFIX):
        digest = segs[-1][: -len(SHARD_SUFFIX)]
        if len(digest) != 64 or digest.strip("0123456789abcdef"):
            return None
        head, kind = segs[:-2], None
    elif segs[-1] in INDEX_FILES:
        digest, head, kind = "", segs[:-1], segs[-1]
    else:
        return None
    if len(head) >= 4 and head[1] == "label":
        return Target(head[0], "/".join(head[2:-1]), head[-1], kind, digest)
    if len(head) == 2:
        return Target(head[0], DEFAULT_LABEL, head[1], kind, digest)
    return None


class Routes:
    """The files route the router would pick for a target's path, or None if it would pick another.

    Asked of the router itself once per subdir view and kind of file, so the fast path
    never answers a path some other route owns."""

    def __init__(self, router: Router) -> None:
        self._router = router
        self._found: dict[tuple[str, str, str, bool], Any] = {}

    def route(self, path: str, target: Target) -> Any:
        key = (*target.view, target.kind is None)
        try:
            return self._found[key]
        except KeyError:
            pass
        probe = {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": []}
        found = None
        resolved = _resolve(self._router.routes, probe)
        if resolved is not None:
            route, params = resolved
            if getattr(route, "endpoint", None) in FILE_ENDPOINTS and _same(params, target):
                found = route
        if len(self._found) >= MAX_ROUTES:
            self._found.clear()
        self._found[key] = found
        return found


def _resolve(routes: Sequence[BaseRoute], probe: Scope) -> tuple[BaseRoute, dict[str, Any]] | None:
    """The route the router would run for ``probe`` and its path parameters (None: unsure).

    FastAPI keeps included routers whole (they match as one route and pick their own route
    when run), so a full match of one is looked into."""
    for route in routes:
        match, child = route.matches(probe)
        if match != Match.FULL:
            continue
        inner = getattr(route, "original_router", None)
        if inner is not None:
            context = getattr(route, "include_context", None)
            if getattr(context, "prefix", None) != "":
                return None
            return _resolve(inner.routes, probe)
        return route, child.get("path_params", {})
    return None


def _same(params: dict[str, Any], target: Target) -> bool:
    return (
        params.get("channel") == target.channel
        and params.get("subdir") == target.subdir
        and params.get("label", DEFAULT_LABEL) == target.label
    )
