"""Web pages for accounts: sign-up in each mode, invitations, changing a password."""

from __future__ import annotations

import re
import uuid

from tests.support.accounts import PASSWORD, new_user
from tests.support.server import Server
from tests.support.ui import browser, csrf_of, post_form, sign_in, text_of


def signup(http, username: str, invite: str = "", password: str = PASSWORD):  # type: ignore[no-untyped-def]
    page = http.get("/login")  # a form of this browser's (the sign-up page has none when closed)
    fields = {"username": username, "password": password, "confirm": password, "invite": invite}
    return http.post("/signup", data={"csrf_token": csrf_of(page), **fields})


def test_signup_is_closed_by_default(server: Server) -> None:
    with browser(server) as http:
        page = http.get("/signup")
        assert page.status_code == 200
        assert "Sign-up is closed" in text_of(page)
        response = signup(http, f"x-{uuid.uuid4().hex[:6]}")
        assert response.status_code == 403
        assert "closed" in response.text


def test_open_signup_makes_an_account_and_signs_in(server_factory) -> None:  # type: ignore[no-untyped-def]
    with server_factory({"TAIPAN_SIGNUP": "open"}) as srv:
        name = f"new-{uuid.uuid4().hex[:6]}"
        with browser(srv) as http:
            response = signup(http, name)
            assert response.status_code == 303
            assert name in http.get("/").text  # signed in
        with browser(srv) as http:
            again = signup(http, name)
            assert again.status_code == 409
            assert "taken" in again.text
            short = signup(http, f"s-{uuid.uuid4().hex[:6]}", password="short")
            assert short.status_code == 400
            assert "at least 8" in short.text
            bad = signup(http, "Bad Name")
            assert bad.status_code == 400
            assert "not valid" in bad.text


def test_signup_by_invitation(server_factory) -> None:  # type: ignore[no-untyped-def]
    with server_factory({"TAIPAN_SIGNUP": "invite"}) as srv:
        with srv.client() as api:
            assert (
                api.post("/api/v1/users", json={"username": "boss", "password": PASSWORD, "is_admin": True}).status_code
                == 201
            )
        member = new_user(srv, "plain")
        with sign_in(srv, member) as http:
            assert http.get("/admin/invitations").status_code == 403  # administrators only
        with sign_in(srv, "boss") as admin:
            made = post_form(admin, "/admin/invitations", "/admin/invitations", {"note": "for <carol>", "days": "2"})
            assert made.status_code == 200
            link = re.search(r'id="invite-link">([^<]+)<', made.text).group(1)  # type: ignore[union-attr]
            token = link.split("invite=", 1)[1]
            assert "for &lt;carol&gt;" in made.text
            spare = post_form(admin, "/admin/invitations", "/admin/invitations", {"note": "spare"})
            spare_token = re.search(r"invite=([\w-]+)", spare.text).group(1)  # type: ignore[union-attr]
        with browser(srv) as http:
            assert "by invitation" in text_of(http.get("/signup"))  # no token: no form
            assert signup(http, "carol-x", invite="not-a-token").status_code == 403
            response = signup(http, "carol-x", invite=token)
            assert response.status_code == 303
        with browser(srv) as http:
            assert signup(http, "carol-y", invite=token).status_code == 403  # used up
        with sign_in(srv, "boss") as admin:
            listing = admin.get("/admin/invitations")
            assert "used by carol-x" in text_of(listing)
            spare_id = re.findall(r'action="/admin/invitations/(\d+)/revoke"', listing.text)[0]
            revoked = admin.post(f"/admin/invitations/{spare_id}/revoke", data={"csrf_token": csrf_of(listing)})
            assert revoked.status_code == 303
        with browser(srv) as http:
            assert signup(http, "dave-x", invite=spare_token).status_code == 403


def test_change_password(server: Server) -> None:
    user = new_user(server, "pw")
    new = "a much better password"
    with sign_in(server, user) as http:
        wrong = post_form(
            http, "/settings", "/settings/password", {"current_password": "nope", "new_password": new, "confirm": new}
        )
        assert wrong.status_code == 401
        assert "not right" in wrong.text
        differ = post_form(
            http,
            "/settings",
            "/settings/password",
            {"current_password": PASSWORD, "new_password": new, "confirm": new + "!"},
        )
        assert differ.status_code == 400
        done = post_form(
            http, "/settings", "/settings/password", {"current_password": PASSWORD, "new_password": new, "confirm": new}
        )
        assert done.status_code == 200
        assert "has been changed" in done.text
    with sign_in(server, user, new) as http:
        assert user in http.get("/settings").text
