"""Web pages over plain HTTP, as a browser without JavaScript sees them: browsing, search
and its privacy, escaping of untrusted package metadata, pagination, download counts."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx

from tests.support.accounts import add_member, new_channel, new_key, new_user
from tests.support.packages import Spec, build
from tests.support.server import Server
from tests.support.ui import browser, sign_in, text_of
from tests.support.upload import upload_raw

HOSTILE_ABOUT = {
    "summary": "<script>alert('summary')</script>",
    "description": 'Line one\n<img src=x onerror="alert(1)"> & <b>bold</b>',
    "home": "javascript:alert('home')",
    "dev_url": "https://example.org/src?a=1&b=<2>",
    "license": "<i>MIT</i>",
}


def links(page: httpx.Response) -> list[str]:
    return re.findall(r'href="([^"]*)"', page.text)


def test_home_channel_and_package_pages_browse_without_javascript(server: Server, channel: str, pkgdir: Path) -> None:
    with server.client() as admin:
        for spec in (Spec("ui-walk", "1.0"), Spec("ui-walk", "1.10"), Spec("ui-walk", "1.9", subdir="linux-64")):
            assert upload_raw(admin, channel, build(spec, pkgdir)).status_code == 200
    with browser(server) as http:
        home = http.get("/")
        assert home.status_code == 200
        assert home.headers["content-type"].startswith("text/html")
        # The home page is paged and the session's server holds many channels: walk the pages.
        listed = links(home)
        number = 2
        while f"/channels/{channel}" not in listed and f"?page={number}" in listed:
            listed = links(http.get(f"/?page={number}"))
            number += 1
        assert f"/channels/{channel}" in listed
        page = http.get(f"/channels/{channel}")
        assert page.status_code == 200
        text = text_of(page)
        # the latest by conda's version order, not by string order; both platforms
        assert re.search(r"ui-walk .*1\.10 .*linux-64 .*noarch", text), text
        url = f"{server.url}/{channel}"
        assert f'channels = ["{url}"]' in text
        assert f"conda install -c {url}" in text
        assert f"mamba install -c {url}" in text
        package_link = f"/channels/{channel}/packages/ui-walk"
        assert package_link in links(page)
        detail = http.get(package_link)
        assert detail.status_code == 200
        text = text_of(detail)
        assert text.index("1.10") < text.index("1.9 ") < text.index("1.0 ")
        assert "ui-walk for tests" in text  # about.json summary
        assert "BSD-3-Clause" in text
        for spec_file in ("noarch/ui-walk-1.10-0.conda", "linux-64/ui-walk-1.9-0.conda"):
            assert f"/{channel}/{spec_file}" in links(detail)
        assert "admin" in text  # the uploader


def test_package_metadata_is_shown_as_text(server: Server, channel: str, pkgdir: Path) -> None:
    spec = Spec("ui-hostile", "1.0", about=HOSTILE_ABOUT, depends=["<script>x</script>"])
    with server.client() as admin:
        response = upload_raw(admin, channel, build(spec, pkgdir))
    if response.status_code != 200:  # a dependency like that may be refused at upload; the about.json is what matters
        spec = Spec("ui-hostile", "1.0", about=HOSTILE_ABOUT)
        with server.client() as admin:
            assert upload_raw(admin, channel, build(spec, pkgdir)).status_code == 200
    with browser(server) as http:
        for path in (f"/channels/{channel}/packages/ui-hostile", f"/channels/{channel}", "/search?q=ui-hostile"):
            page = http.get(path)
            assert page.status_code == 200
            assert "<script>alert" not in page.text
            assert "&lt;script&gt;alert(" in page.text
            assert "<img src=x" not in page.text
            assert "<i>MIT</i>" not in page.text
            assert not any(link.lower().startswith("javascript:") for link in links(page))
        page = http.get(f"/channels/{channel}/packages/ui-hostile")
        assert "&lt;img src=x onerror=" in page.text
        assert "javascript:alert(&#39;home&#39;)" in page.text  # shown, not linked
        assert 'href="https://example.org/src?a=1&amp;b=&lt;2&gt;"' in page.text
        # No script runs inline anyway: the policy allows only the server's own script file.
        assert "script-src 'self'" in page.headers["content-security-policy"]
        scripts = re.findall(r"<script[^>]*>", page.text)
        assert len(scripts) == 1
        assert 'src="/static/taipan.js?v=' in scripts[0]


def test_search_shows_private_packages_only_to_readers(server: Server, pkgdir: Path) -> None:
    token = uuid.uuid4().hex[:6]
    owner, member, stranger = new_user(server, "own"), new_user(server, "mem"), new_user(server, "str")
    owner_key = new_key(server, owner)
    private = new_channel(server, owner_key, private=True)
    public = new_channel(server, owner_key, private=False)
    add_member(server, owner_key, private, member, "viewer")
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {owner_key}"}) as http:
        assert upload_raw(http, private, build(Spec(f"hidden-{token}", "1.0"), pkgdir)).status_code == 200
        assert upload_raw(http, public, build(Spec(f"shown-{token}", "1.0"), pkgdir)).status_code == 200

    def found(client: httpx.Client) -> str:
        page = client.get("/search", params={"q": token})
        assert page.status_code == 200
        return text_of(page)

    with browser(server) as anonymous:
        text = found(anonymous)
        assert f"shown-{token}" in text
        assert f"hidden-{token}" not in text
        assert private not in text
        home = anonymous.get("/").text
        assert public in home
        assert private not in home
    with sign_in(server, stranger) as client:
        text = found(client)
        assert f"shown-{token}" in text
        assert f"hidden-{token}" not in text
        assert private not in client.get("/").text
        assert client.get(f"/channels/{private}").status_code == 404
        assert client.get(f"/channels/{private}/packages/hidden-{token}").status_code == 404
    with sign_in(server, member) as client:
        text = found(client)
        assert f"shown-{token}" in text
        assert f"hidden-{token}" in text
        assert private in text
        assert client.get(f"/channels/{private}/packages/hidden-{token}").status_code == 200
    # Exact names come first.
    with browser(server) as anonymous:
        text = text_of(anonymous.get("/search", params={"q": f"SHOWN-{token}"}))
        assert f"shown-{token}" in text


def test_private_channel_pages_ask_anonymous_visitors_to_sign_in(server: Server) -> None:
    owner = new_user(server, "own")
    private = new_channel(server, new_key(server, owner), private=True)
    with browser(server) as http:
        for path in (f"/channels/{private}", f"/channels/{private}/packages/x", "/channels/no-such-channel-here"):
            response = http.get(path)
            assert response.status_code == 303
            assert response.headers["location"].startswith("/login?next=/channels/")
    with sign_in(server, owner) as http:
        page = http.get(f"/channels/{private}")
        assert page.status_code == 200
        text = text_of(page)
        assert "private" in text
        assert f"/t/YOUR-KEY/{private}" in text  # the token form of the install snippet
        assert "pixi auth login" in text


def test_long_lists_come_in_pages(server: Server, channel: str, pkgdir: Path) -> None:
    with server.client() as admin:
        for i in range(52):
            assert upload_raw(admin, channel, build(Spec(f"pg-{i:03d}", "1.0"), pkgdir)).status_code == 200
    with browser(server) as http:
        first = http.get(f"/channels/{channel}")
        assert "pg-000" in first.text
        assert "pg-049" in first.text
        assert "pg-050" not in first.text
        assert "Page 1 of 2" in text_of(first)
        assert 'href="?q=&amp;subdir=&amp;page=2"' in first.text
        second = http.get(f"/channels/{channel}", params={"page": 2})
        assert "pg-050" in second.text
        assert "pg-051" in second.text
        assert "pg-000" not in second.text
        filtered = text_of(http.get(f"/channels/{channel}", params={"q": "pg-05"}))
        assert "pg-050" in filtered
        assert "pg-049" not in filtered
        assert "2 packages" in filtered
        results = http.get("/search", params={"q": "pg-0", "page": 2})
        assert results.status_code == 200
        assert "pg-05" in results.text


def test_download_counts_are_shown(server: Server, channel: str, pkgdir: Path) -> None:
    path = build(Spec("ui-counted", "1.0"), pkgdir)
    with server.client() as admin:
        assert upload_raw(admin, channel, path).status_code == 200
    with browser(server) as http:
        url = f"/{channel}/noarch/{path.name}"
        for _ in range(3):
            assert http.get(url).status_code == 200
        assert http.head(url).status_code == 200  # not a download
        assert http.get(url, headers={"Range": "bytes=10-"}).status_code == 206  # a resumed one: not counted
        text = text_of(http.get(f"/channels/{channel}/packages/ui-counted"))
        assert "Downloads 3" in text


def test_static_assets_and_api_docs_are_served_locally(server: Server) -> None:
    with browser(server) as http:
        home = http.get("/")
        for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', home.text):
            response = http.get(asset)
            assert response.status_code == 200, asset
        assert not re.search(r'(?:src|href)="(?:https?:)?//', home.text)
        docs = http.get("/docs")
        assert docs.status_code == 200
        assets = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+\.(?:js|css|png))['"]""", docs.text)
        assert assets
        assert all(a.startswith("/static/") for a in assets), assets
        for asset in assets:
            assert http.get(asset).status_code == 200, asset
        assert http.get("/openapi.json").json()["info"]["title"] == "Taipan"
