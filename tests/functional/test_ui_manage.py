"""Web pages that change things: create a channel, its settings and members, hand it over,
delete it or one of its files, and upload without JavaScript."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx

from tests.support.accounts import new_user
from tests.support.packages import Spec, build
from tests.support.server import Server
from tests.support.ui import csrf_of, post_form, sign_in, text_of


def create(http: httpx.Client, name: str, **fields: str) -> httpx.Response:
    return post_form(http, "/new", "/new", {"name": name, "visibility": "public", **fields})


def test_create_a_channel_and_change_its_settings(server: Server) -> None:
    owner = new_user(server, "own")
    name = f"set-{uuid.uuid4().hex[:6]}"
    with sign_in(server, owner) as http:
        bad = create(http, "Not Valid!")
        assert bad.status_code == 400
        assert "Not Valid!" in bad.text
        bad_avatar = create(http, name, avatar_url="javascript:alert(1)")
        assert bad_avatar.status_code == 400
        assert "http(s)" in bad_avatar.text
        made = create(http, name, description="first <words>", avatar_url="https://example.org/a.png")
        assert made.status_code == 303
        assert made.headers["location"] == f"/channels/{name}"
        assert create(http, name).status_code == 409
        page = http.get(f"/channels/{name}")
        assert "first &lt;words&gt;" in page.text
        assert 'src="https://example.org/a.png"' in page.text
        assert 'referrerpolicy="no-referrer"' in page.text
        changed = post_form(
            http,
            f"/channels/{name}/settings",
            f"/channels/{name}/settings",
            {"description": "second", "visibility": "private", "avatar_url": ""},
        )
        assert changed.status_code == 200
        assert "Settings saved" in changed.text
        page = http.get(f"/channels/{name}")
        assert "second" in page.text
        assert "example.org/a.png" not in page.text
        assert "private" in text_of(page)
    with httpx.Client(base_url=server.url) as anonymous:
        assert anonymous.get(f"/{name}/noarch/repodata.json").status_code == 401  # private now


def test_members_ownership_and_deletion(server: Server, pkgdir: Path) -> None:
    owner, helper, other = new_user(server, "own"), new_user(server, "hlp"), new_user(server, "oth")
    name = f"mem-{uuid.uuid4().hex[:6]}"
    settings = f"/channels/{name}/settings"
    with sign_in(server, owner) as http:
        assert create(http, name, visibility="private").status_code == 303
        added = post_form(http, settings, f"/channels/{name}/members", {"username": helper, "role": "viewer"})
        assert added.status_code == 200
        assert f"{helper} is now a viewer" in added.text
        changed = post_form(http, settings, f"/channels/{name}/members", {"username": helper, "role": "contributor"})
        assert changed.status_code == 200
        missing = post_form(http, settings, f"/channels/{name}/members", {"username": "nobody-x", "role": "viewer"})
        assert missing.status_code == 404
        assert "does not exist" in missing.text
    with sign_in(server, helper) as http:
        assert http.get(settings).status_code == 403  # contributors don't manage the channel
        assert http.get(f"/channels/{name}/upload").status_code == 200
    with sign_in(server, owner) as http:
        removed = post_form(http, settings, f"/channels/{name}/members/{helper}/remove", {})
        assert removed.status_code == 200
        assert helper not in text_of(removed).split("Danger zone")[0].split("Members")[1]
        refused = post_form(http, settings, f"/channels/{name}/transfer", {"username": other, "confirm": "wrong"})
        assert refused.status_code == 400
        assert "to confirm" in refused.text
        # "Owner" in the invite form hands the channel over.
        moved = post_form(http, settings, f"/channels/{name}/members", {"username": other, "role": "owner"})
        assert moved.status_code == 303
        assert http.get(settings).status_code == 403
        assert f"Owner: {other}" in text_of(http.get(f"/channels/{name}"))
    with sign_in(server, other) as http:
        wrong = post_form(http, settings, f"/channels/{name}/delete", {"confirm": name + "x"})
        assert wrong.status_code == 400
        gone = post_form(http, settings, f"/channels/{name}/delete", {"confirm": name})
        assert gone.status_code == 303
        assert gone.headers["location"] == "/"
        assert http.get(f"/channels/{name}").status_code == 404


def test_upload_without_javascript_and_delete_a_file(server: Server, pkgdir: Path) -> None:
    owner = new_user(server, "up")
    name = f"up-{uuid.uuid4().hex[:6]}"
    good = build(Spec("nojs", "1.0"), pkgdir)
    other = build(Spec("nojs", "1.1", fmt=".tar.bz2"), pkgdir)
    junk = pkgdir / "nojs-2.0-0.conda"
    junk.write_bytes(b"not a zip at all")
    with sign_in(server, owner) as http:
        assert create(http, name).status_code == 303
        page = http.get(f"/channels/{name}/upload")
        assert "1.0 GiB" in text_of(page)
        assert 'enctype="multipart/form-data"' in page.text
        files = [("file", (p.name, p.read_bytes(), "application/octet-stream")) for p in (good, other, junk)]
        refused = http.post(f"/channels/{name}/upload", files=files)
        assert refused.status_code == 403  # no CSRF token
        response = http.post(f"/channels/{name}/upload", data={"csrf_token": csrf_of(page)}, files=files)
        assert response.status_code == 200
        text = text_of(response)
        assert "Stored: stored as noarch/nojs-1.0-0.conda" in text
        assert "Stored: stored as noarch/nojs-1.1-0.tar.bz2" in text
        assert "Refused:" in text
        assert "nojs-2.0-0.conda" in text
        assert "nojs" in text_of(http.get(f"/channels/{name}"))

        confirm = http.get(f"/channels/{name}/files/noarch/{good.name}/delete")
        assert confirm.status_code == 200
        assert "Dependants may break" in confirm.text
        deleted = http.post(f"/channels/{name}/files/noarch/{good.name}/delete", data={"csrf_token": csrf_of(confirm)})
        assert deleted.status_code == 303
        assert deleted.headers["location"] == f"/channels/{name}/packages/nojs"
        assert http.get(f"/{name}/noarch/{good.name}").status_code == 404
        detail = text_of(http.get(f"/channels/{name}/packages/nojs"))
        assert "1.1" in detail
        assert "nojs-1.0-0.conda" not in detail
    stranger = new_user(server, "str")
    with sign_in(server, stranger) as http:
        assert http.get(f"/channels/{name}/upload").status_code == 403
        assert http.get(f"/channels/{name}/files/noarch/{other.name}/delete").status_code == 403
