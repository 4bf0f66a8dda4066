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

Two ways in: :class:`FastIndexMiddleware` is an ASGI middleware around the whole
application; its ``answer_now`` lets :mod:`taipan.web.server`'s HTTP protocol write an
answer that needs nothing awaited (the state and the bytes in memory, a cheap version
check) straight to the socket in one write, without an ASGI task, before uvicorn would
start one. Modules: :mod:`.targets` (which file a path names, and whose route it is),
:mod:`.answers` (the per-process state and the answers), :mod:`.middleware`.
"""

from taipan.web.fastpath.middleware import FastIndexMiddleware

__all__ = ["FastIndexMiddleware"]
