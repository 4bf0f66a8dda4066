"""OAuth pages: the authorization endpoint (sign in, then consent), the device page where a
signed-in user enters a code, and the list of the user's OAuth sessions.

Consent and device forms are ordinary forms of the site: they carry the session's CSRF
token and are refused without it, so another site cannot approve a sign-in for a user
who merely visits it. Nothing is approved on a GET.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from taipan.errors import TaipanError
from taipan.oauth import flows, sessions
from taipan.oauth.flows import AuthorizationRequest, RedirectedError
from taipan.web.deps import Address, Svc
from taipan.web.errors import status_for
from taipan.web.params import Id
from taipan.web.ui.forms import Form, ViewerDep, Visitor
from taipan.web.ui.pages import CSP, PageRoute, login_redirect, page, redirect

router = APIRouter(route_class=PageRoute, include_in_schema=False)
AUTHORIZE_FIELDS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",
)


def _back_to_client(redirect_uri: str, issuer: str, **params: str) -> RedirectResponse:
    """Redirect to the client's redirect URI with ``params`` added to its query (RFC 6749 §4.1.2)."""
    parts = urlsplit(redirect_uri)
    extra = urlencode({k: v for k, v in params.items() if v} | {"iss": issuer})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return RedirectResponse(
        urlunsplit(parts._replace(query=query)), status_code=303, headers={"Cache-Control": "no-store"}
    )


def _refused(exc: RedirectedError, issuer: str) -> RedirectResponse:
    return _back_to_client(exc.redirect_uri, issuer, error=exc.code, error_description=str(exc), state=exc.state)


def _consent(request: Request, visitor: Visitor, req: AuthorizationRequest) -> Response:
    response = page(
        request,
        visitor,
        "oauth_consent.html",
        client=req.client,
        what=req.scope.describe(),
        action="/oauth/authorize",
        hidden={name: request.query_params.get(name, "") for name in AUTHORIZE_FIELDS},
    )
    # Browsers apply form-action to the redirect that follows the post, too: allow the client's own origin.
    target = urlsplit(req.redirect_uri)
    response.headers["Content-Security-Policy"] = CSP.replace(
        "form-action 'self'", f"form-action 'self' {target.scheme}://{target.netloc}"
    )
    return response


@router.get("/oauth/authorize")
def authorize_page(request: Request, svc: Svc, visitor: ViewerDep) -> Response:
    try:
        req = flows.check_authorization(svc.db, dict(request.query_params))
    except RedirectedError as exc:
        return _refused(exc, svc.oauth.issuer)
    if visitor.who is None:
        return login_redirect(request)
    return _consent(request, visitor, req)


@router.post("/oauth/authorize")
def authorize(svc: Svc, form: Form) -> Response:
    who = form.visitor.user()
    try:
        req = flows.check_authorization(svc.db, {name: form.get(name) for name in AUTHORIZE_FIELDS})
    except RedirectedError as exc:
        return _refused(exc, svc.oauth.issuer)
    if form.get("decision") != "allow" or who.user_id is None:
        return _back_to_client(
            req.redirect_uri, svc.oauth.issuer, error="access_denied", error_description="you refused", state=req.state
        )
    code = flows.issue_code(svc.db, req, who.user_id)
    return _back_to_client(req.redirect_uri, svc.oauth.issuer, code=code, state=req.state)


# -- the device flow's page ---------------------------------------------------------------------


@router.get("/oauth/device")
def device_page(request: Request, visitor: ViewerDep, user_code: str = "") -> Response:
    if visitor.who is None:
        return login_redirect(request)
    return page(request, visitor, "oauth_device.html", user_code=user_code[:32], error="")


@router.post("/oauth/device")
def device_enter(request: Request, svc: Svc, form: Form, address: Address) -> Response:
    form.visitor.user()
    user_code = form.get("user_code")
    svc.limiter.check(address)  # user codes are short: guesses count like failed sign-ins
    try:
        pending = flows.find_device(svc.db, user_code)
    except TaipanError as exc:
        svc.limiter.failed(address)
        return page(
            request, form.visitor, "oauth_device.html", status_for(exc), user_code=user_code[:32], error=str(exc)
        )
    return page(
        request,
        form.visitor,
        "oauth_consent.html",
        client=pending.client,
        what=pending.scope.describe(),
        action="/oauth/device/decide",
        hidden={"user_code": pending.user_code},
    )


@router.post("/oauth/device/decide")
def device_decide(request: Request, svc: Svc, form: Form) -> Response:
    who = form.visitor.user()
    allow = form.get("decision") == "allow"
    if who.user_id is None:
        allow = False
    flows.decide_device(svc.db, form.get("user_code"), who.user_id or 0, allow)
    return page(request, form.visitor, "oauth_done.html", allowed=allow)


# -- the user's OAuth sessions ---------------------------------------------------------------------


@router.get("/settings/oauth")
def sessions_page(request: Request, svc: Svc, visitor: ViewerDep) -> Response:
    who = visitor.user()
    found = sessions.list_sessions(svc.db, who.user_id) if who.user_id is not None else []
    return page(request, visitor, "oauth_sessions.html", sessions=found)


@router.post("/settings/oauth/{session_id}/revoke")
def revoke_session(session_id: Id, svc: Svc, form: Form, address: Address) -> Response:
    sessions.revoke_session(svc.db, form.visitor.user(), session_id, address)
    return redirect("/settings/oauth")
