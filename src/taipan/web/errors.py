"""The one place domain errors become HTTP answers."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from taipan.errors import (
    ChecksumMismatch,
    Conflict,
    Forbidden,
    InvalidInput,
    InvalidPackage,
    NotFound,
    RateLimited,
    TaipanError,
    TooLarge,
    Unauthenticated,
    Unavailable,
)

STATUS: list[tuple[type[TaipanError], int]] = [
    (ChecksumMismatch, 400),
    (InvalidPackage, 422),
    (InvalidInput, 400),
    (NotFound, 404),
    (Conflict, 409),
    (Unauthenticated, 401),
    (Forbidden, 403),
    (TooLarge, 413),
    (RateLimited, 429),
    (Unavailable, 503),
]
WWW_AUTHENTICATE = 'Bearer realm="taipan", Basic realm="taipan"'


def status_for(error: TaipanError) -> int:
    for kind, status in STATUS:
        if isinstance(error, kind):
            return status
    return 400


def error_response(status: int, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": WWW_AUTHENTICATE} if status == 401 else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TaipanError)
    response = error_response(status_for(exc), str(exc))
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
    return error_response(422, "; ".join(parts) or "invalid request")


def install(app: FastAPI) -> None:
    app.add_exception_handler(TaipanError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
