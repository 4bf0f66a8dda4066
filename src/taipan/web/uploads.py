"""What every upload dialect does the same way; each route module only adds its wire shape.

The order is the contract of every dialect: find out who is calling, refuse before a
single body byte is stored, stage the body, then hand it to the one ingest use-case in
a worker thread. Status codes are the dialect's business, so they stay in the routes.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from taipan.accounts.principal import Principal
from taipan.packages.ingest import Staged, Stored
from taipan.web import auth
from taipan.web.deps import services


def truthy(value: str | bytes | None) -> bool:
    """A query or form flag as clients send it: true/1/yes/on (any case)."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value or ""
    return text.strip().lower() in ("1", "true", "yes", "on")


async def authorized_uploader(request: Request, channel: str) -> Principal | None:
    """The caller, once it is known they may upload to ``channel`` (401/403/404 otherwise)."""
    svc = services(request)
    who = await run_in_threadpool(auth.principal, request, svc)
    await run_in_threadpool(svc.ingestor.authorize, who, channel)
    return who


async def ingest(
    request: Request,
    who: Principal | None,
    channel: str,
    filename: str,
    staged: Staged,
    *,
    expected_sha256: str | None = None,
    expected_subdir: str | None = None,
    force: bool = False,
) -> Stored:
    """Check, store and index one staged file (the staged object is gone afterwards)."""
    ingestor = services(request).ingestor
    return await run_in_threadpool(
        lambda: ingestor.ingest(
            who,
            channel,
            filename,
            staged,
            expected_sha256=expected_sha256,
            expected_subdir=expected_subdir,
            force=force,
        )
    )


async def discard(request: Request, staged: Iterable[Staged]) -> None:
    """Remove staged objects that will not be ingested."""
    storage = services(request).storage
    for item in staged:
        await run_in_threadpool(storage.delete, item.key)


def stored_body(stored: Stored) -> dict[str, object]:
    return {
        "channel": stored.channel,
        "subdir": stored.subdir,
        "filename": stored.filename,
        "sha256": stored.sha256,
        "size": stored.size,
        "replaced": stored.replaced,
    }
