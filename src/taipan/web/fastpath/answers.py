"""The fast path's per-process state and the answers it gives (see :mod:`taipan.web.fastpath`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
from prometheus_client import Counter
from starlette.responses import Response
from starlette.routing import Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taipan.errors import RateLimited
from taipan.indexing.artifacts import Body, Kind, Streamed, SubdirState
from taipan.indexing.watch import ChangeWatch
from taipan.services import Services
from taipan.web.auth import PATH_TOKEN
from taipan.web.fastpath.targets import Routes, Target
from taipan.web.http_cache import http_date, matches
from taipan.web.routes import files

CREDENTIAL_TTL_S = 10.0
"""Longest a credential check is reused. Revocation (a commit) ends reuse at once; this
bounds what no commit announces: a key's or a session's expiry time passing."""
MAX_CREDENTIALS = 10_000
MAX_SUBDIRS = 10_000
MAX_SHARD_HEADS = 4096  # per view: the prepared heads of its most asked shards
MAX_MEMO = 4096  # whole answers remembered for the exact requests that got them
MAX_MEMO_BYTES = 64 << 20  # and their bodies (counted once per answer, shared or not)
SEND_CHUNK = 1 << 20
"""Larger bodies go out in pieces of this size, so that a slow reader's socket buffer holds a
piece, not a copy of a 30 MB repodata.json.zst."""


@dataclass(frozen=True)
class Head:
    """An answer's headers as the general path makes them, and as they go on the wire."""

    headers: list[tuple[bytes, bytes]]
    wire: bytes  # "name: value\r\n" for each

    @classmethod
    def of(cls, response: Response) -> Head:
        raw = response.raw_headers
        return cls(raw, b"".join(b"%s: %s\r\n" % pair for pair in raw))


@dataclass(frozen=True)
class Reply:
    status: int
    head: Head
    body: Body = b""


@dataclass(frozen=True)
class Learn:
    """Let the general path answer; remember the credential if it let the caller read."""

    credential: Hashable
    channel_id: int
    version: Hashable


@dataclass
class Prepared:
    """One built file and its answers' heads."""

    data: Body
    get: Head
    head: Head


@dataclass(frozen=True)
class Memo:
    """An answer given at once, for the exact request (method, path, client, headers) it answered."""

    seen: Scope
    target: Target
    reply: Reply
    credential: Hashable | None
    state: SubdirState


@dataclass
class View:
    """What this process knows of one subdir's label view, as of ``version``."""

    version: Hashable
    state: SubdirState | None
    not_modified: dict[str, Head] = field(default_factory=dict)
    files: dict[str, Prepared] = field(default_factory=dict)
    shard_heads: dict[tuple[str, str], Head] = field(default_factory=dict)  # (digest, "304" | method)
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
    """The per-process state of the fast path for one :class:`Services`.

    :meth:`answer_now` answers from what is in memory, without awaiting anything (the HTTP
    server calls it before it starts an ASGI task); :meth:`answer` may read a subdir's state,
    build a file or ask a slow watch first. Both give the same answers.
    """

    def __init__(self, svc: Services, watch: ChangeWatch, router: Router) -> None:
        self.svc = svc
        self._watch = watch
        self._cheap = bool(getattr(watch, "cheap", False))
        self._shared = SharedCheck(watch)
        self._routes = Routes(router)
        self._views: dict[tuple[str, str, str], View] = {}
        self._allowed: dict[tuple[Hashable, int], tuple[Hashable, float]] = {}
        self._counted: dict[tuple[str, str, int, str], tuple[Any, Any]] = {}
        self._memo: dict[Hashable, Memo] = {}
        self._memo_version: Hashable = object()
        self._memo_bytes = 0
        self.answers = Counter(
            "taipan_index_fast_answers",
            "Index file and shard requests answered by the fast path, by status and by who wrote the "
            "answer: the HTTP server at once (server) or the ASGI middleware (asgi)",
            ["status", "via"],
            registry=svc.metrics.registry,
        )

    async def version(self) -> Hashable:
        if self._cheap:
            return self._watch.version()
        return await self._shared.version()

    def answer_now(self, scope: Scope, target: Target) -> Reply | None:
        """The answer, if everything it needs is in memory and its body is at most SEND_CHUNK
        bytes; None: ask :meth:`answer`."""
        if not self._cheap:
            return None
        route = self._routes.route(scope["path"], target)
        if route is None:
            return None
        view = self._views.get(target.view)
        if view is None or view.state is None or view.version != self._watch.version():
            return None
        reply = self._ready(scope, view, target)
        if not isinstance(reply, Reply) or not isinstance(reply.body, bytes) or len(reply.body) > SEND_CHUNK:
            return None
        scope["route"] = route  # the request metrics label it as the router would have
        return reply

    # Polling clients send the very same request again and again; while nothing is committed
    # its answer is the same too, except that a credential's reuse is checked each time.

    def recall(self, key: Hashable) -> Memo | None:
        """The answer remembered for this exact request, if nothing was committed since and a
        credential it carries may still be reused; None: ask :meth:`answer_now`."""
        if not self._cheap:
            return None
        version = self._watch.version()
        if version != self._memo_version:
            self._forget()
            self._memo_version = version
            return None
        memo = self._memo.get(key)
        if memo is None:
            return None
        if memo.credential is not None and not self._may_read(memo.seen, memo.credential, memo.state, version):
            return None
        return memo

    def remember(self, key: Hashable, seen: Scope, target: Target, reply: Reply) -> None:
        """Keep what :meth:`answer_now` just answered ``seen`` with, for :meth:`recall`."""
        view = self._views.get(target.view)
        if view is None or view.state is None or view.version != self._memo_version:
            return
        size = len(reply.body) if isinstance(reply.body, bytes) else 0
        if len(self._memo) >= MAX_MEMO or self._memo_bytes + size > MAX_MEMO_BYTES:
            self._forget()  # (the bodies stay held by the build cache as long as it wants them)
        credential = _credential(seen, _headers(seen), private=view.state.private)
        self._memo[key] = Memo(seen, target, reply, credential, view.state)
        self._memo_bytes += size

    def _forget(self) -> None:
        self._memo.clear()
        self._memo_bytes = 0

    async def answer(self, scope: Scope, target: Target) -> Reply | Learn | None:
        """The answer to send, or what to learn from the general path, or None: ask the general path."""
        route = self._routes.route(scope["path"], target)
        if route is None:
            return None
        view = await self._view(target, await self.version())
        if view.state is None:
            return None
        reply = self._ready(scope, view, target)
        if reply is None:
            reply = await self._built(scope, view, target)
        if isinstance(reply, Reply):
            scope["route"] = route
        return reply

    def count(self, method: str, route: str, status: int, via: str) -> None:
        """One answer in the request metrics and the fast path's own (children kept: labels() is slow)."""
        key = (method, route, status, via)
        children = self._counted.get(key)
        if children is None:
            if len(self._counted) >= MAX_SUBDIRS:
                self._counted.clear()
            requests = self.svc.metrics.requests.labels(method, route, str(status))
            children = self._counted[key] = (requests, self.answers.labels(str(status), via))
        children[0].inc()
        children[1].inc()

    def _ready(self, scope: Scope, view: View, target: Target) -> Reply | Learn | None:
        """The answer from memory, or what to learn from the general path; None: something needs reading."""
        state = view.state
        assert state is not None
        headers = _headers(scope)
        credential = _credential(scope, headers, private=state.private)
        if credential is not None and not self._may_read(scope, credential, state, view.version):
            return Learn(credential, state.channel_id, view.version)
        if target.kind is None:
            data = self.svc.index.cached_shard(state, bytes.fromhex(target.shard))
            return None if data is None else self._shard(scope, view, target.shard, headers, data)
        kind = target.kind
        if matches(
            headers.get(b"if-none-match"), headers.get(b"if-modified-since"), state.etag(kind), state.updated_ms
        ):
            head = view.not_modified.get(kind)
            if head is None:
                head = view.not_modified[kind] = Head.of(
                    Response(status_code=304, headers=self._index_headers(state, kind))
                )
            return Reply(304, head)
        built = self.svc.index.cached_body(state, kind)
        return None if built is None else self._index(scope, view, kind, built)

    async def _built(self, scope: Scope, view: View, target: Target) -> Reply | None:
        """The answer once what it needs is read or built (in a thread); None: the general path's 404."""
        state = view.state
        assert state is not None
        if target.kind is None:
            data = await anyio.to_thread.run_sync(self.svc.index.shard, state, bytes.fromhex(target.shard))
            return None if data is None else self._shard(scope, view, target.shard, _headers(scope), data)
        built = await anyio.to_thread.run_sync(self.svc.index.body, state, target.kind)
        return self._index(scope, view, target.kind, built)

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
        key = target.view
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
                    view.state, view.not_modified, view.files, view.shard_heads = state, {}, {}, {}
                view.version = version
        return view

    def _index(self, scope: Scope, view: View, kind: Kind, built: tuple[SubdirState, Body]) -> Reply:
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
        head = Head.of(Response(status_code=200, media_type=media, headers={**headers, "Content-Length": str(size)}))
        get = Head.of(Response(content=data, media_type=media, headers=headers)) if isinstance(data, bytes) else head
        return Prepared(data, get, head)

    def _index_headers(self, state: SubdirState, kind: Kind) -> dict[str, str]:
        return {
            "ETag": state.etag(kind),
            "Last-Modified": http_date(state.updated_ms),
            "Cache-Control": _cache_control(state.private, f"max-age={self.svc.settings.index_max_age}"),
        }

    def _shard(self, scope: Scope, view: View, digest: str, headers: dict[bytes, str], data: bytes) -> Reply:
        state = view.state
        assert state is not None
        etag = f'"{digest}"'
        inm = headers.get(b"if-none-match")
        if inm is not None and matches(inm, None, etag, state.updated_ms):
            return Reply(304, self._shard_head(view, digest, "304", etag, data))
        method = scope["method"]
        return Reply(200, self._shard_head(view, digest, method, etag, data), b"" if method == "HEAD" else data)

    def _shard_head(self, view: View, digest: str, answer: str, etag: str, data: bytes) -> Head:
        found = view.shard_heads.get((digest, answer))
        if found is not None:
            return found
        assert view.state is not None
        headers = {"ETag": etag, "Cache-Control": _cache_control(view.state.private, files.IMMUTABLE)}
        media = "application/octet-stream"
        if answer == "304":
            response = Response(status_code=304, headers=headers)
        elif answer == "HEAD":
            response = Response(
                status_code=200, media_type=media, headers={**headers, "Content-Length": str(len(data))}
            )
        else:
            response = Response(content=data, media_type=media, headers=headers)
        if len(view.shard_heads) >= MAX_SHARD_HEADS:
            view.shard_heads.clear()
        head = view.shard_heads[(digest, answer)] = Head.of(response)
        return head


def _same_body(a: Body, b: Body) -> bool:
    if isinstance(a, Streamed) and isinstance(b, Streamed):
        return a.zst is b.zst
    return a is b


def _cache_control(private: bool, policy: str) -> str:
    """As the general path's files routes say it (a test compares the two paths' headers)."""
    return f"{'private' if private else 'public'}, {policy}"


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
