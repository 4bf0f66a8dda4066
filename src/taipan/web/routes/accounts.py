"""Sign-in, users, API keys and the server-wide audit log."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from taipan.accounts import audit, keys, sessions, users
from taipan.accounts.principal import Role
from taipan.channels.tokens import create_key
from taipan.errors import InvalidInput, Unauthenticated
from taipan.web.auth import CSRF_HEADER, SESSION_COOKIE, client_address
from taipan.web.deps import Address, Admin, Svc, User
from taipan.web.params import BeforeId, Id, Limit

router = APIRouter(prefix="/api/v1", tags=["accounts"])


class LoginIn(BaseModel):
    username: str
    password: str


class MeOut(BaseModel):
    username: str
    is_admin: bool
    csrf_token: str | None = Field(default=None, description=f"Send it as {CSRF_HEADER} with cookie-signed changes.")


class PasswordIn(BaseModel):
    current_password: str
    new_password: str


class UserIn(BaseModel):
    username: str
    password: str | None = None
    is_admin: bool = False


class UserOut(BaseModel):
    username: str
    is_admin: bool
    has_password: bool
    created_ms: int


class KeyIn(BaseModel):
    name: str = Field(examples=["ci upload"])
    read_only: bool = False
    channels: dict[str, str | None] | None = Field(
        default=None,
        description="Limit the key to these channels, each up to a role (null: your own role).",
        examples=[{"my-channel": "contributor"}],
    )
    expires_in_days: float | None = Field(default=None, gt=0)


class KeyOut(BaseModel):
    id: int
    name: str
    read_only: bool
    channels: dict[str, str] | None
    expires_ms: int | None
    revoked_ms: int | None
    created_ms: int


class NewKeyOut(KeyOut):
    key: str = Field(description="Shown once: store it now.")


def _key_out(info: keys.KeyInfo) -> KeyOut:
    return KeyOut(
        id=info.id,
        name=info.name,
        read_only=info.read_only,
        channels=info.channels,
        expires_ms=info.expires_ms,
        revoked_ms=info.revoked_ms,
        created_ms=info.created_ms,
    )


@router.post("/auth/login", summary="Sign in with a password; sets the session cookie")
def login(body: LoginIn, request: Request, svc: Svc) -> JSONResponse:
    address = client_address(request)
    svc.limiter.check(address)
    user = svc.passwords.check(body.username, body.password)
    with svc.db.write() as session:
        action = "login" if user else "login_failed"
        audit.record(session, body.username[:255], action, address=address)
    if user is None:
        svc.limiter.failed(address)
        raise Unauthenticated("wrong user name or password")
    started = sessions.start(svc.db, user.id, svc.settings.session_ttl)
    response = JSONResponse(
        MeOut(username=user.username, is_admin=user.is_admin, csrf_token=started.csrf_token).model_dump()
    )
    response.set_cookie(
        SESSION_COOKIE,
        started.token,
        max_age=svc.settings.session_ttl,
        httponly=True,
        secure=svc.settings.public_url.startswith("https://"),
        samesite="lax",
        path="/",
    )
    return response


@router.post("/auth/logout", status_code=204, summary="End the session")
def logout(request: Request, svc: Svc) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        sessions.end(svc.db, token)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/me", summary="Who you are")
def me(who: User) -> MeOut:
    return MeOut(username=who.username, is_admin=who.user_is_admin)


@router.put("/me/password", status_code=204, summary="Change your password")
def change_password(body: PasswordIn, request: Request, svc: Svc, who: User) -> Response:
    """Every other sign-in session of the user ends; this request's own (if any) stays."""
    keep = request.cookies.get(SESSION_COOKIE) if who.via == "session" else None
    users.change_password(svc.db, who, body.current_password, body.new_password, keep_session=keep)
    return Response(status_code=204)


@router.post("/users", status_code=201, summary="Create a user (admin)")
def create_user(body: UserIn, svc: Svc, who: Admin) -> UserOut:
    info = users.create_user(svc.db, body.username, body.password, is_admin=body.is_admin, actor=who.username)
    return UserOut(**{k: v for k, v in vars(info).items() if k != "id"})


@router.get("/users", summary="List users (admin)")
def list_users(svc: Svc, who: Admin) -> list[UserOut]:
    return [UserOut(**{k: v for k, v in vars(u).items() if k != "id"}) for u in users.list_users(svc.db)]


@router.post("/tokens", status_code=201, summary="Create an API key (shown once)")
def new_token(body: KeyIn, svc: Svc, who: User, address: Address) -> NewKeyOut:
    try:
        scopes = {c: Role.parse(r) if r else None for c, r in body.channels.items()} if body.channels else None
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    key, info = create_key(
        svc.db,
        who,
        body.name,
        read_only=body.read_only,
        channels=scopes,
        expires_in_days=body.expires_in_days,
        address=address,
    )
    return NewKeyOut(key=key, **_key_out(info).model_dump())


@router.get("/tokens", summary="Your API keys (never the keys themselves)")
def list_tokens(svc: Svc, who: User) -> list[KeyOut]:
    if who.user_id is None:
        return []
    return [_key_out(k) for k in keys.list_keys(svc.db, who.user_id)]


@router.delete("/tokens/{key_id}", status_code=204, summary="Revoke an API key")
def revoke_token(key_id: Id, svc: Svc, who: User, address: Address) -> Response:
    keys.revoke(svc.db, who, key_id, address)
    return Response(status_code=204)


@router.get("/audit", summary="The server's audit log, newest first (admin)")
def server_audit(
    svc: Svc,
    who: Admin,
    channel: str | None = None,
    limit: Limit = 100,
    before_id: BeforeId = None,
) -> list[audit.Event]:
    return audit.events(svc.db, channel=channel, limit=limit, before_id=before_id)
