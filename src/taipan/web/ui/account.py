"""Account pages: sign in and out, sign up, password, API keys, invitations (admins)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from taipan.accounts import invitations, keys, sessions, signup, users
from taipan.accounts.principal import Role
from taipan.channels.tokens import create_key
from taipan.db.models import now_ms
from taipan.errors import InvalidInput, TaipanError
from taipan.packages.read_model import member_channels
from taipan.web.auth import SESSION_COOKIE
from taipan.web.deps import Address, Svc
from taipan.web.errors import status_for
from taipan.web.params import Id
from taipan.web.ui import forms
from taipan.web.ui.forms import Form, ViewerDep, local_path
from taipan.web.ui.pages import PageRoute, page, redirect

router = APIRouter(route_class=PageRoute, include_in_schema=False)


# -- signing in and out ------------------------------------------------------------------


@router.get("/login")
def login_page(request: Request, visitor: ViewerDep, next: str = "/") -> Response:
    if visitor.who is not None:
        return redirect(local_path(next))
    return page(request, visitor, "login.html", next=local_path(next), username="", error="")


@router.post("/login")
def login(request: Request, svc: Svc, form: Form, address: Address) -> Response:
    target = local_path(form.get("next"))
    username = form.get("username").strip()
    try:
        _, started = signup.sign_in(
            svc.db, svc.passwords, svc.limiter, username, form.get("password"), svc.settings.session_ttl, address
        )
    except TaipanError as exc:
        return page(
            request, form.visitor, "login.html", status_for(exc), next=target, username=username, error=str(exc)
        )
    response = redirect(target)
    forms.set_session_cookie(response, svc.settings, started.token)
    return response


@router.post("/logout")
def logout(request: Request, svc: Svc, form: Form) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        sessions.end(svc.db, token)
    response = redirect("/")
    forms.clear_session_cookie(response, svc.settings)
    return response


# -- signing up ---------------------------------------------------------------------------


@router.get("/signup")
def signup_page(request: Request, svc: Svc, visitor: ViewerDep, invite: str = "") -> Response:
    mode = svc.settings.signup
    usable = mode == "open" or (mode == "invite" and invitations.is_open(svc.db, invite))
    return page(request, visitor, "signup.html", mode=mode, usable=usable, invite=invite, username="", error="")


@router.post("/signup")
def signup_post(request: Request, svc: Svc, form: Form, address: Address) -> Response:
    username, invite = form.get("username").strip(), form.get("invite")
    # Sign-ups hash a password (slow on purpose): failed ones count like failed sign-ins.
    svc.limiter.check(address)
    try:
        if form.get("password") != form.get("confirm"):
            raise InvalidInput("the two passwords differ")
        user = signup.sign_up(svc.db, svc.settings.signup, username, form.get("password"), invite, address)
    except TaipanError as exc:
        svc.limiter.failed(address)
        return page(
            request,
            form.visitor,
            "signup.html",
            status_for(exc),
            mode=svc.settings.signup,
            usable=True,
            invite=invite,
            username=username,
            error=str(exc),
        )
    started = sessions.start(svc.db, user.id, svc.settings.session_ttl)
    response = redirect("/")
    forms.set_session_cookie(response, svc.settings, started.token)
    return response


# -- account settings ---------------------------------------------------------------------


@router.get("/settings")
def settings_page(request: Request, visitor: ViewerDep) -> Response:
    visitor.user()
    return page(request, visitor, "account.html", error="", notice="")


@router.post("/settings/password")
def change_password(request: Request, svc: Svc, form: Form) -> Response:
    who = form.visitor.user()
    try:
        if form.get("new_password") != form.get("confirm"):
            raise InvalidInput("the two new passwords differ")
        users.change_password(
            svc.db,
            who,
            form.get("current_password"),
            form.get("new_password"),
            keep_session=request.cookies.get(SESSION_COOKIE),
        )
    except TaipanError as exc:
        return page(request, form.visitor, "account.html", status_for(exc), error=str(exc), notice="")
    return page(request, form.visitor, "account.html", error="", notice="Your password has been changed.")


# -- API keys -------------------------------------------------------------------------------


def _keys_page(request: Request, svc: Svc, visitor: forms.Visitor, status: int = 200, **extra: object) -> Response:
    who = visitor.user()
    context: dict[str, object] = {"new_key": "", "error": "", "chosen": request.query_params.get("channel", "")}
    context.update(extra)
    return page(
        request,
        visitor,
        "keys.html",
        status,
        keys=keys.list_keys(svc.db, who.user_id) if who.user_id is not None else [],
        channels=member_channels(svc.db, who),
        now=now_ms(),
        **context,
    )


@router.get("/settings/keys")
def keys_page(request: Request, svc: Svc, visitor: ViewerDep) -> Response:
    return _keys_page(request, svc, visitor)


@router.post("/settings/keys")
def new_key(request: Request, svc: Svc, form: Form, address: Address) -> Response:
    who = form.visitor.user()
    channel, role = form.get("channel"), form.get("role")
    try:
        days_text = form.get("expires_days").strip()
        days = float(days_text) if days_text else None
        scope = {channel: Role.parse(role) if role else None} if channel else None
        key, _ = create_key(
            svc.db,
            who,
            form.get("name").strip(),
            read_only=form.checked("read_only"),
            channels=scope,
            expires_in_days=days,
            address=address,
        )
    except ValueError as exc:
        return _keys_page(request, svc, form.visitor, 400, error=f"not a valid scope or expiry: {exc}", chosen=channel)
    except TaipanError as exc:
        return _keys_page(request, svc, form.visitor, status_for(exc), error=str(exc), chosen=channel)
    return _keys_page(request, svc, form.visitor, new_key=key, chosen=channel)


@router.post("/settings/keys/{key_id}/revoke")
def revoke_key(key_id: Id, svc: Svc, form: Form, address: Address) -> Response:
    keys.revoke(svc.db, form.visitor.user(), key_id, address)
    return redirect("/settings/keys")


# -- invitations (administrators) -----------------------------------------------------------


def _invitations_page(
    request: Request, svc: Svc, visitor: forms.Visitor, status: int = 200, **extra: object
) -> Response:
    context: dict[str, object] = {"link": "", "error": ""}
    context.update(extra)
    found = invitations.list_invitations(svc.db, visitor.user())
    return page(
        request,
        visitor,
        "invitations.html",
        status,
        invitations=found,
        mode=svc.settings.signup,
        now=now_ms(),
        **context,
    )


@router.get("/admin/invitations")
def invitations_page(request: Request, svc: Svc, visitor: ViewerDep) -> Response:
    return _invitations_page(request, svc, visitor)


@router.post("/admin/invitations")
def new_invitation(request: Request, svc: Svc, form: Form, address: Address) -> Response:
    try:
        days = float(form.get("days") or 7)
        token, _ = invitations.create_invitation(svc.db, form.visitor.user(), form.get("note").strip(), days, address)
    except ValueError:
        return _invitations_page(request, svc, form.visitor, 400, error="the number of days is not a number")
    except TaipanError as exc:
        return _invitations_page(request, svc, form.visitor, status_for(exc), error=str(exc))
    link = f"{svc.settings.public_url}/signup?invite={token}"
    return _invitations_page(request, svc, form.visitor, link=link)


@router.post("/admin/invitations/{invitation_id}/revoke")
def revoke_invitation(invitation_id: Id, svc: Svc, form: Form, address: Address) -> Response:
    invitations.revoke_invitation(svc.db, form.visitor.user(), invitation_id, address)
    return redirect("/admin/invitations")
