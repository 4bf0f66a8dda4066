"""Taipan as an OAuth 2 / OpenID Connect provider: discovery, keys, token, device
authorization, revocation, user info; and the API for OAuth sessions, clients and keys.

The endpoints clients call (token, device authorization, revocation) take
``application/x-www-form-urlencoded`` bodies and answer errors the RFC way,
``{"error": "<code>", "error_description": "..."}``, mapped here and only here. The
pages (authorize, consent, device code entry) are in :mod:`taipan.web.ui.oauth`.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any
from urllib.parse import unquote_plus

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from taipan.errors import Unauthenticated
from taipan.oauth import clients, sessions
from taipan.oauth.errors import OAuthError, invalid_client, invalid_request
from taipan.oauth.tokens import looks_like_access_token
from taipan.services import Services
from taipan.web.deps import Address, Admin, Svc, User, services
from taipan.web.params import Id
from taipan.web.ui.forms import parse_form

router = APIRouter(tags=["oauth"])
MAX_BODY = 64 * 1024
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
COUNTED = frozenset({"invalid_grant", "invalid_client"})
"""Refusals that count towards the address's failed-credential limit (not the polling answers)."""


def oauth_error(exc: OAuthError, basic: bool = False) -> JSONResponse:
    status = 401 if exc.code == "invalid_client" else 400
    headers = dict(NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="taipan"' if basic else 'Bearer realm="taipan"'
    return JSONResponse({"error": exc.code, "error_description": str(exc)}, status_code=status, headers=headers)


async def _form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise invalid_request("send the parameters as an application/x-www-form-urlencoded body")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise invalid_request(f"the body is larger than {MAX_BODY} bytes")
    try:
        fields = parse_form(bytes(body))
    except Exception as exc:  # InvalidInput from a body that is not a form
        raise invalid_request("the body is not a valid form") from exc
    repeated = sorted(name for name, values in fields.items() if len(values) > 1)
    if repeated:
        raise invalid_request(f"parameters must not repeat: {', '.join(repeated)}")
    return {name: values[0] for name, values in fields.items()}


def _client_secret(request: Request, form: dict[str, str]) -> str | None:
    """The client's secret from HTTP Basic (RFC 6749 §2.3.1) or the form; sets form's client_id from Basic."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return form.get("client_secret") or None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise invalid_client("malformed Basic client credentials") from None
    client_id, _, secret = decoded.partition(":")
    client_id, secret = unquote_plus(client_id), unquote_plus(secret)
    if form.get("client_id", client_id) != client_id:
        raise invalid_request("client_id in the body differs from the one in the Authorization header")
    form["client_id"] = client_id
    return secret


async def _answer(request: Request, call: Any) -> Response:
    svc: Services = services(request)
    address = request.client.host if request.client else "unknown"
    svc.limiter.check(address)
    basic = request.headers.get("authorization", "").lower().startswith("basic ")
    try:
        form = await _form(request)
        secret = _client_secret(request, form)
        result = await run_in_threadpool(call, svc, form, secret)
    except OAuthError as exc:
        if exc.code in COUNTED:
            svc.limiter.failed(address)
        return oauth_error(exc, basic)
    if result is None:
        return Response(status_code=200, headers=NO_STORE)
    return JSONResponse(result, headers=NO_STORE)


# -- discovery -------------------------------------------------------------------------------------


@router.get(
    "/.well-known/openid-configuration",
    summary="OpenID Connect discovery",
    description="The provider's endpoints and what it supports; `pixi auth login --oauth` reads it.",
)
def openid_configuration(svc: Svc) -> JSONResponse:
    return JSONResponse(svc.oauth.discovery(), headers={"Cache-Control": "max-age=300"})


@router.get(
    "/.well-known/oauth-authorization-server",
    summary="OAuth 2 authorization server metadata (RFC 8414)",
    description="The same document as /.well-known/openid-configuration.",
)
def oauth_server_metadata(svc: Svc) -> JSONResponse:
    return JSONResponse(svc.oauth.discovery(), headers={"Cache-Control": "max-age=300"})


@router.get(
    "/oauth/jwks",
    summary="The keys that sign access and ID tokens (JWKS)",
    description="The current signing key and retired ones whose tokens may not have expired yet.",
)
def jwks(svc: Svc) -> JSONResponse:
    return JSONResponse(svc.oauth.jwks(), headers={"Cache-Control": "max-age=60"})


# -- endpoints for clients ------------------------------------------------------------------------------


@router.post(
    "/oauth/token",
    summary="Token endpoint: authorization code (PKCE S256), device code, refresh token",
    description=(
        "Form fields per RFC 6749 §4.1.3 / §6 and RFC 8628 §3.4. A refresh answers a new refresh "
        "token; the one sent is spent, and sending a spent one again revokes the whole sign-in."
    ),
)
async def token(request: Request) -> Response:
    return await _answer(request, lambda svc, form, secret: svc.oauth.token(form, secret).as_json())


@router.post(
    "/oauth/device_authorization",
    summary="Start the device flow (RFC 8628)",
    description="Answers a device code to poll /oauth/token with, and a user code to enter at /oauth/device.",
)
async def device_authorization(request: Request) -> Response:
    return await _answer(request, lambda svc, form, secret: svc.oauth.start_device(form, secret))


@router.post(
    "/oauth/revoke",
    summary="Revoke a refresh or access token (RFC 7009)",
    description="Ends the whole sign-in the token belongs to. Answers 200 also for unknown tokens.",
)
async def revoke(request: Request) -> Response:
    return await _answer(request, lambda svc, form, secret: svc.oauth.revoke(form, secret))


@router.get(
    "/oauth/userinfo",
    summary="Who an OAuth access token stands for (OpenID Connect UserInfo)",
    description="Needs `Authorization: Bearer <access token>`.",
)
def userinfo(svc: Svc, authorization: Annotated[str, Header()] = "") -> JSONResponse:
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not looks_like_access_token(value.strip()):
        raise Unauthenticated("send an OAuth access token as Authorization: Bearer <token>")
    who = svc.oauth.principal_for_access_token(value.strip())
    return JSONResponse(
        {"sub": str(who.user_id), "preferred_username": who.username, "name": who.username}, headers=NO_STORE
    )


# -- OAuth sessions (users) ------------------------------------------------------------------------------


class SessionOut(BaseModel):
    id: int
    client_id: str
    client_name: str
    scope: str
    read_only: bool
    flow: str = Field(description="How it was signed in: code (browser) or device.")
    created_ms: int
    last_used_ms: int = Field(description="When it last refreshed its tokens.")
    revoked_ms: int | None
    revoked_reason: str


@router.get(
    "/api/v1/oauth/sessions",
    summary="Your OAuth sessions (apps signed in as you)",
    description="Active ones; `?all=true` includes revoked ones.",
)
def list_sessions(svc: Svc, who: User, all: bool = False) -> list[SessionOut]:
    if who.user_id is None:
        return []
    return [SessionOut(**vars(s)) for s in sessions.list_sessions(svc.db, who.user_id, include_revoked=all)]


@router.delete(
    "/api/v1/oauth/sessions/{session_id}",
    summary="Revoke one of your OAuth sessions",
    description="Its access and refresh tokens stop working at once.",
)
def revoke_session(session_id: Id, svc: Svc, who: User, address: Address) -> dict[str, str]:
    sessions.revoke_session(svc.db, who, session_id, address)
    return {"status": "revoked"}


# -- clients and keys (administrators) ---------------------------------------------------------------------


class ClientIn(BaseModel):
    client_id: str = Field(examples=["my-tool"])
    name: str = Field(examples=["My tool"])
    redirect_uris: list[str] = Field(default_factory=list, max_length=20)
    loopback: bool = Field(
        default=False, description="Also allow http://127.0.0.1:<any port>/ redirects (native apps)."
    )
    confidential: bool = Field(default=False, description="Give the client a secret (answered once).")


class ClientOut(BaseModel):
    client_id: str
    name: str
    redirect_uris: list[str]
    loopback: bool
    confidential: bool
    builtin: bool
    client_secret: str | None = None


def _client_out(client: clients.Client, secret: str | None = None) -> ClientOut:
    return ClientOut(
        client_id=client.client_id,
        name=client.name,
        redirect_uris=list(client.redirect_uris),
        loopback=client.loopback,
        confidential=client.confidential,
        builtin=client.builtin,
        client_secret=secret,
    )


@router.get("/api/v1/oauth/clients", summary="Registered OAuth clients (administrators)")
def list_clients(svc: Svc, _admin: Admin) -> list[ClientOut]:
    return [_client_out(c) for c in clients.list_clients(svc.db)]


@router.post("/api/v1/oauth/clients", status_code=201, summary="Register an OAuth client (administrators)")
def add_client(body: ClientIn, svc: Svc, admin: Admin) -> ClientOut:
    client, secret = clients.add_client(
        svc.db,
        admin,
        body.client_id,
        body.name,
        body.redirect_uris,
        loopback=body.loopback,
        confidential=body.confidential,
    )
    return _client_out(client, secret)


@router.delete(
    "/api/v1/oauth/clients/{client_id}",
    summary="Unregister an OAuth client (administrators)",
    description="Its sign-ins stop refreshing; their access tokens stop working.",
)
def remove_client(client_id: str, svc: Svc, admin: Admin) -> dict[str, str]:
    clients.remove_client(svc.db, admin, client_id)
    return {"status": "removed"}


@router.post(
    "/api/v1/oauth/keys/rotate",
    summary="Replace the token signing key now (administrators)",
    description="Tokens signed with the old key stay valid until they expire: nobody is signed out.",
)
def rotate_keys(svc: Svc, _admin: Admin) -> dict[str, str]:
    key = svc.oauth.keys.rotate()
    return {"kid": key.kid}
