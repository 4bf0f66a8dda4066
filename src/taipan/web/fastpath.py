"""Index files, shards and their 304s answered from prepared bytes, in front of the router.

The hot path of a channel server is clients revalidating index files. Going through
FastAPI for each (routing, dependencies, a thread hop, an ORM query for the subdir's
revision) cost ~1 ms of CPU per request. This middleware answers a GET or HEAD of an
index file or shard itself when it can, from per-process state:

- a *version* from :mod:`taipan.indexing.watch`, asked once per request (SQLite: a
  pragma on the event loop; PostgreSQL: one snapshot query shared by every request that
  arrives while it runs). Everything cached here remembers the version it was read at
  and is used only while the version is unchanged, so a commit that answered 2xx in any
  process is seen by the very next request in every process (read-your-writes);
- per subdir view: its :class:`SubdirState`, re-read (in a thread) when the version moved;
- the built bytes (the per-process build cache of :class:`IndexFiles`) and, prepared
  once per built file, the exact header lists of the 200, the HEAD and the 304 answers;
- for credentials: which (credential, channel) pairs the general path let read that
  channel, valid while the version is unchanged and for at most CREDENTIAL_TTL_S.

Anything else — a missing or unreadable subdir, a credential not yet seen, a failure of
any kind, a query string — goes to the general path (the router), which gives the answer
it always gave: so errors, 401/403/404 bodies and the rate limiter's accounting are the
general path's own, and a private channel stays indistinguishable from a missing one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
from prometheus_client import Counter
from starlette.applications import Starlette
from starlette.concurrency import iterate_in_threadpool
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taipan.conda.names import DEFAULT_LABEL
from taipan.errors import RateLimited
from taipan.indexing.artifacts import INDEX_FILES, Body, Kind, Streamed, SubdirState
from taipan.indexing.watch import ChangeWatch
from taipan.services import Services
from taipan.web.auth import PATH_TOKEN, strip_token_path
from taipan.web.http_cache import http_date, matches
from taipan.web.observe import UNMATCHED, log_access
from taipan.web.proxies import ForwardedMiddleware
from taipan.web.routes import files

log = logging.getLogger(__name__)

CREDENTIAL_TTL_S = 10.0
"""Longest a credential check is reused. Revocation (a commit) ends reuse at once; this
bounds what no commit announces: a key's or a session's expiry time passing."""
MAX_CREDENTIALS = 10_000
MAX_SUBDIRS = 10_000
SHARD_SUFFIX = ".msgpack.zst"
SEND_CHUNK = 1 << 20
"""Larger bodies go out in pieces of this size, so that a slow reader's socket buffer holds a
piece, not a copy of a 30 MB repodata.json.zst."""
SAFE = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class Target:
    channel: str
    label: str
    subdir: str
    kind: Kind | None  # None: a shard
    shard: str = ""  # the hex digest of a shard


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


@dataclass(frozen=True)
class Reply:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes | Streamed = b""


@dataclass(frozen=True)
class Learn:
    """Let the general path answer; remember the credential if it let the caller read."""

    credential: Hashable
    channel_id: int
    version: Hashable


@dataclass
class Prepared:
    """One built file and its answers' headers, exactly as the general path makes them."""

    data: Body
    etag: str
    get: list[tuple[bytes, bytes]]
    head: list[tuple[bytes, bytes]]


@dataclass
class View:
    """What this process knows of one subdir's label view, as of ``version``."""

    version: Hashable
    state: SubdirState | None
    not_modified: dict[str, list[tuple[bytes, bytes]]] = field(default_factory=dict)
    files: dict[str, Prepared] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class SharedCheck:
    """Ask a slow ``version()`` once for all the requests that arrive while one runs.

    A request must see a version read *after* it arrived. So a request that finds a check
    already running waits for the next one, which starts when the running one ends; all
    requests that arrive meanwhile share that next one.
    """

    def __init__(self, watch: ChangeWatch) -> None:
        self._watch = watch
        self._next: asyncio.Future[Hashable] | None = None
        self._running = asyncio.Lock()

    async def version(self) -> Hashable:
        if self._next is not None:
            return await asyncio.shield(self._next)
        future: asyncio.Future[Hashable] = asyncio.get_running_loop().create_future()
        self._next = future
        try:
            async with self._running:
                if self._next is future:
                    self._next = None  # from here on, newcomers need a check that starts later
                future.set_result(await anyio.to_thread.run_sync(self._watch.version))
        except BaseException as exc:
            if not future.done():
                future.set_exception(exc)
            if self._next is future:
                self._next = None
            future.exception()  # retrieved: waiters get it, the loop does not log it
            raise
        return future.result()


class FastIndex:
    """The per-process state of the fast path for one :class:`Services`."""

    def __init__(self, svc: Services, watch: ChangeWatch, router: Router) -> None:
        self.svc = svc
        self._watch = watch
        self._cheap = bool(getattr(watch, "cheap", False))
        self._shared = SharedCheck(watch)
        self._router = router
        self._views: dict[tuple[str, str, str], View] = {}
        self._routes: dict[tuple[str, str, str, bool], Any] = {}
        self._allowed: dict[tuple[Hashable, int], tuple[Hashable, float]] = {}
        self._counted: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.answers = Counter(
            "taipan_index_fast_answers",
            "Index file and shard requests answered by the fast path, by status",
            ["status"],
            registry=svc.metrics.registry,
        )

    async def version(self) -> Hashable:
        if self._cheap:
            return self._watch.version()
        return await self._shared.version()

    async def answer(self, scope: Scope, target: Target) -> Reply | Learn | None:
        """The answer to send, or what to learn from the general path, or None: ask the general path."""
        route = self._route(scope, target)
        if route is None:
            return None
        version = await self.version()
        view = await self._view(target, version)
        state = view.state
        if state is None:
            return None
        headers = _headers(scope)
        credential = _credential(scope, headers, private=state.private)
        if credential is not None and not self._may_read(scope, credential, state, version):
            return Learn(credential, state.channel_id, version)
        if target.kind is None:
            reply = await self._shard(scope, view, target.shard, headers.get(b"if-none-match"))
        else:
            reply = await self._index(scope, view, target.kind, headers)
        if reply is not None:
            scope["route"] = route  # the request metrics label it as the router would have
        return reply

    def count(self, method: str, route: str, status: int) -> None:
        """One answer in the request metrics and the fast path's own (children kept: labels() is slow)."""
        key = (method, route, status)
        children = self._counted.get(key)
        if children is None:
            if len(self._counted) >= MAX_SUBDIRS:
                self._counted.clear()
            requests = self.svc.metrics.requests.labels(method, route, str(status))
            children = self._counted[key] = (requests, self.answers.labels(str(status)))
        children[0].inc()
        children[1].inc()

    # The general path decides about credentials; the fast path only remembers its "yes".

    def _may_read(self, scope: Scope, credential: Hashable, state: SubdirState, version: Hashable) -> bool:
        found = self._allowed.get((credential, state.channel_id))
        if found is None or found[0] != version or time.monotonic() - found[1] > CREDENTIAL_TTL_S:
            return False
        try:
            self.svc.limiter.check(_address(scope))  # as the general path does for every credential
        except RateLimited:
            return False
        return True

    async def learn(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send, learn: Learn) -> None:
        """Let the general path answer, and remember a credential it let read the channel."""
        started = time.monotonic()
        status = 0

        async def watch_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await app(scope, receive, watch_send)
        if status in (200, 304):
            if len(self._allowed) >= MAX_CREDENTIALS:
                self._allowed.clear()
            self._allowed[(learn.credential, learn.channel_id)] = (learn.version, started)

    async def _view(self, target: Target, version: Hashable) -> View:
        key = (target.channel, target.label, target.subdir)
        view = self._views.get(key)
        if view is None:
            if len(self._views) >= MAX_SUBDIRS:
                self._views.clear()
            view = self._views[key] = View(version=object(), state=None)
        if view.version == version:
            return view
        async with view.lock:
            if view.version != version:
                state = await anyio.to_thread.run_sync(
                    self.svc.index.state, target.channel, target.subdir, target.label
                )
                if state != view.state:
                    view.state, view.not_modified, view.files = state, {}, {}
                view.version = version
        return view

    async def _index(self, scope: Scope, view: View, kind: Kind, headers: dict[bytes, str]) -> Reply:
        state = view.state
        assert state is not None
        if matches(
            headers.get(b"if-none-match"), headers.get(b"if-modified-since"), state.etag(kind), state.updated_ms
        ):
            raw = view.not_modified.get(kind)
            if raw is None:
                raw = view.not_modified[kind] = Response(
                    status_code=304, headers=self._index_headers(state, kind)
                ).raw_headers
            return Reply(304, raw)
        built = self.svc.index.cached_body(state, kind)
        if built is None:
            built = await anyio.to_thread.run_sync(self.svc.index.body, state, kind)
        built_state, data = built
        prepared = view.files.get(kind)
        if prepared is None or not _same_body(prepared.data, data):
            prepared = view.files[kind] = self._prepare(built_state, kind, data)
        if scope["method"] == "HEAD":
            return Reply(200, prepared.head)
        return Reply(200, prepared.get, data)

    def _prepare(self, state: SubdirState, kind: Kind, data: Body) -> Prepared:
        headers = self._index_headers(state, kind)
        media = files.CONTENT_TYPES[kind]
        size = len(data) if isinstance(data, bytes) else data.size
        head = Response(status_code=200, media_type=media, headers={**headers, "Content-Length": str(size)})
        get = Response(content=data, media_type=media, headers=headers) if isinstance(data, bytes) else head
        return Prepared(data, headers["ETag"], get.raw_headers, head.raw_headers)

    def _index_headers(self, state: SubdirState, kind: Kind) -> dict[str, str]:
        return {
            "ETag": state.etag(kind),
            "Last-Modified": http_date(state.updated_ms),
            "Cache-Control": _cache_control(state.private, f"max-age={self.svc.settings.index_max_age}"),
        }

    async def _shard(self, scope: Scope, view: View, digest: str, inm: str | None) -> Reply | None:
        state = view.state
        assert state is not None
        key = bytes.fromhex(digest)
        data = self.svc.index.cached_shard(state, key)
        if data is None:
            data = await anyio.to_thread.run_sync(self.svc.index.shard, state, key)
            if data is None:
                return None  # the general path answers the 404
        headers = {"ETag": f'"{digest}"', "Cache-Control": _cache_control(state.private, files.IMMUTABLE)}
        if inm is not None and matches(inm, None, headers["ETag"], state.updated_ms):
            return Reply(304, Response(status_code=304, headers=headers).raw_headers)
        media = "application/octet-stream"
        if scope["method"] == "HEAD":
            head = Response(status_code=200, media_type=media, headers={**headers, "Content-Length": str(len(data))})
            return Reply(200, head.raw_headers)
        return Reply(200, Response(content=data, media_type=media, headers=headers).raw_headers, data)

    def _route(self, scope: Scope, target: Target) -> Any:
        """The files route the router would pick for this path, or None if it would pick another.

        Asked of the router itself once per subdir view and kind of file, so the fast path
        never answers a path some other route owns."""
        key = (target.channel, target.label, target.subdir, target.kind is None)
        if key in self._routes:
            return self._routes[key]
        probe = {"type": "http", "method": "GET", "path": scope["path"], "root_path": "", "headers": []}
        found = None
        resolved = _resolve(self._router.routes, probe)
        if resolved is not None:
            route, params = resolved
            if getattr(route, "endpoint", None) in FILE_ENDPOINTS and _same(params, target):
                found = route
        if len(self._routes) >= MAX_SUBDIRS:
            self._routes.clear()
        self._routes[key] = found
        return found


def _same_body(a: Body, b: Body) -> bool:
    if isinstance(a, Streamed) and isinstance(b, Streamed):
        return a.zst is b.zst
    return a is b


FILE_ENDPOINTS = frozenset({files.channel_file, files.label_file, files.shard, files.label_shard})


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


def _cache_control(private: bool, policy: str) -> str:
    """As the general path's files routes say it (a test compares the two paths' headers)."""
    return f"{'private' if private else 'public'}, {policy}"


def _same(params: dict[str, Any], target: Target) -> bool:
    return (
        params.get("channel") == target.channel
        and params.get("subdir") == target.subdir
        and params.get("label", DEFAULT_LABEL) == target.label
    )


def _headers(scope: Scope) -> dict[bytes, str]:
    """The request headers the fast path looks at (the first of each, as Starlette reads them)."""
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in WANTED and name not in found:
            found[name] = value.decode("latin-1")
    return found


WANTED = frozenset({b"if-none-match", b"if-modified-since", b"authorization", b"x-api-key", b"cookie"})


def _credential(scope: Scope, headers: dict[bytes, str], *, private: bool) -> Hashable | None:
    """What the caller presents, as taipan.web.auth reads it; None if nothing needs checking.

    A key or password is checked on every channel (a wrong one is a 401 even on a public
    channel); a session cookie only matters for a private channel."""
    token = scope.get("state", {}).get(PATH_TOKEN)
    presented = (headers.get(b"authorization"), headers.get(b"x-api-key"), token)
    if any(presented):
        return presented
    if private:
        return ("cookie", headers.get(b"cookie"))  # no cookie at all: the general path says 401
    return None


def _address(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


class FastIndexMiddleware:
    """In front of the whole FastAPI application (taipan.web.app.create_app wraps it): what
    it answers goes through no middleware, no routing and no dependency injection.

    It reads the path as the middlewares inside it would give it to the router (a trusted
    proxy's forwarded client, then without a ``/conda`` or ``/t/<key>`` prefix), counts
    what it answers in the request metrics (not in the latency histogram: its answers take
    microseconds) and writes their access log lines when that log is on. Anything it does
    not answer goes on with the scope as it came, so every other request meets the
    middlewares exactly as before.
    """

    def __init__(self, app: Starlette, trusted_proxies: str = "", access_log: bool = False) -> None:
        self.app = app
        self.access_log = access_log
        self._forwarded = ForwardedMiddleware(app, trusted_proxies) if trusted_proxies else None
        self._fast: FastIndex | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not await self._handle(scope, receive, send):
            await self.app(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Answer ``scope`` (or let the application answer and learn from it); False: not for here."""
        if scope["type"] != "http" or scope["method"] not in SAFE or scope.get("query_string"):
            return False
        if scope.get("root_path"):
            return False
        seen = self._forwarded.resolve(scope) if self._forwarded is not None else scope
        seen = strip_token_path(seen)
        target = parse(seen["path"])
        if target is None:
            return False
        fast = self._for(scope)
        if fast is None:
            return False
        started = time.perf_counter()
        try:
            answer = await fast.answer(seen, target)
        except Exception:  # the general path answers; it logs what it meets
            log.exception("fast path failed for %s; answering on the general path", seen["path"])
            return False
        if isinstance(answer, Reply):
            await send({"type": "http.response.start", "status": answer.status, "headers": answer.headers})
            if isinstance(answer.body, Streamed):  # decompressed in a thread, a chunk at a time
                async for chunk in iterate_in_threadpool(answer.body.chunks()):
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
            elif len(answer.body) > SEND_CHUNK:  # a piece at a time: the socket's buffer never holds a copy
                body = answer.body
                for start in range(0, len(body), SEND_CHUNK):
                    more = start + SEND_CHUNK < len(body)
                    await send(
                        {"type": "http.response.body", "body": body[start : start + SEND_CHUNK], "more_body": more}
                    )
            else:
                await send({"type": "http.response.body", "body": answer.body})
            route = getattr(seen.get("route"), "path", None) or UNMATCHED
            fast.count(seen["method"], route, answer.status)
            if self.access_log:
                log_access(seen, route, answer.status, time.perf_counter() - started)
            return True
        if isinstance(answer, Learn):
            await fast.learn(self.app, scope, receive, send, answer)
            return True
        return False

    def _for(self, scope: Scope) -> FastIndex | None:
        app = self.app  # its state holds the services (from startup on), its router the routes
        svc: Services | None = getattr(app.state, "services", None)
        if svc is None:
            return None
        fast = self._fast
        if fast is None or fast.svc is not svc:
            if svc.changes is None:
                return None
            fast = self._fast = FastIndex(svc, svc.changes, app.router)
        return fast
