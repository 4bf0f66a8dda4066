"""The upload edge: what all seven upload handlers do the same way (docs/architecture.md).

Every upload handler (prefix raw and multipart, Quetz raw and multipart, Artifactory,
anaconda's S3-style POST, Forgejo, the web form) goes through the same steps, in this order:

1. find out who is calling (:func:`authorized_uploader`, or a :class:`receive.Gate` for
   credentials inside the form) and refuse before a single body byte is stored;
2. open a staging scope (:func:`staging`) and :func:`receive` the body into it, under
   the limits of settings;
3. hand each staged file to the one ingest use-case (:func:`ingest`), which moves it
   into place: it is then consumed;
4. the scope closes, whatever happened, and removes every staged object not consumed.

Handlers never delete a staged object themselves. Status codes are the dialect's
business: each dialect's router sets a ``route_class`` (a :class:`DialectRoute`) that
maps domain errors to its own answers, so handlers hold no try/except for them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from taipan.accounts.principal import Principal
from taipan.errors import TaipanError
from taipan.packages.checks import Staged
from taipan.packages.ingest import Stored
from taipan.packages.staging import Staging, StagingScope, UploadTooSlow
from taipan.services import Services
from taipan.web import auth, receive
from taipan.web.deps import services
from taipan.web.errors import error_response
from taipan.web.receive import Form, Gate, Shape

log = logging.getLogger(__name__)


def truthy(value: str | bytes | None) -> bool:
    """A query or form flag as clients send it: true/1/yes/on (any case)."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value or ""
    return text.strip().lower() in ("1", "true", "yes", "on")


def staging_of(svc: Services) -> Staging:
    return Staging(svc.storage, svc.settings.upload_timeout)


async def authorized_uploader(request: Request, channel: str) -> Principal | None:
    """The caller, once it is known they may upload to ``channel`` (401/403/404 otherwise)."""
    svc = services(request)
    who = await run_in_threadpool(auth.principal, request, svc)
    await run_in_threadpool(svc.ingestor.authorize, who, channel)
    return who


@asynccontextmanager
async def staging(request: Request) -> AsyncIterator[StagingScope]:
    """The staging scope of one upload request: on the way out, what was not ingested goes."""
    scope = staging_of(services(request)).scope()
    try:
        yield scope
    finally:
        await run_in_threadpool(scope.close)


async def receive_body(
    request: Request,
    scope: StagingScope,
    shape: Shape,
    *,
    file_fields: frozenset[str] = frozenset(),
    gate: Gate | None = None,
) -> Form:
    """The request body staged in ``scope``, under the limits of this server's settings."""
    limits = receive.Limits.of(services(request).settings)
    return await receive.receive(request, scope, limits, shape, file_fields=file_fields, gate=gate)


async def ingest(
    request: Request,
    scope: StagingScope,
    who: Principal | None,
    channel: str,
    filename: str,
    staged: Staged,
    *,
    expected_sha256: str | None = None,
    expected_subdir: str | None = None,
    force: bool = False,
    labels: Sequence[str] | None = None,
    attestation: bytes | None = None,
) -> Stored:
    """Check, store and index one staged file; once stored, it is consumed."""
    ingestor = services(request).ingestor
    stored = await run_in_threadpool(
        lambda: ingestor.ingest(
            who,
            channel,
            filename,
            staged,
            expected_sha256=expected_sha256,
            expected_subdir=expected_subdir,
            force=force,
            labels=labels,
            attestation=attestation,
        )
    )
    scope.consumed(staged.key)
    return stored


def stored_body(stored: Stored) -> dict[str, object]:
    return {
        "channel": stored.channel,
        "subdir": stored.subdir,
        "filename": stored.filename,
        "sha256": stored.sha256,
        "size": stored.size,
        "replaced": stored.replaced,
    }


# --- dialect answers ------------------------------------------------------------------


class DialectRoute(APIRoute):
    """A route whose domain errors are answered the dialect's way.

    Subclasses override :meth:`answer`; errors it leaves (None) go to the app's one
    mapping (web/errors.py). Every upload route answers an upload cut off for taking
    too long with 408."""

    def answer(self, request: Request, exc: TaipanError) -> Response | None:
        if isinstance(exc, UploadTooSlow):
            return error_response(408, str(exc))
        return None

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except TaipanError as exc:
                response = self.answer(request, exc)
                if response is None:
                    raise
                return response

        return handle


# --- leftovers of crashed processes ---------------------------------------------------


async def sweep_periodically(staging: Staging) -> None:
    """Remove crash leftovers now, then every ``sweep_interval_s``, until cancelled."""
    while True:
        try:
            await run_in_threadpool(staging.sweep)
        except Exception:
            log.warning("sweeping staged leftovers failed; trying again later", exc_info=True)
        await asyncio.sleep(staging.sweep_interval_s)
