"""The web UI in a real browser: one person's day with a private channel, and two others'.

Sign in, create a private channel, upload two packages by drag and drop (and a bigger one picked from disk), see them
listed, open a package, invite a Viewer, who sees the channel while a stranger does not,
transfer ownership, and the new owner deletes the channel. Every request the pages make
must go to Taipan itself, and no page may log a script or CSP error.
"""

from __future__ import annotations

import base64
import os
import re
import uuid
from pathlib import Path

from playwright.sync_api import Browser, ConsoleMessage, Page, Response, Route, expect

from tests.browser.conftest import new_page
from tests.support.accounts import PASSWORD, new_user
from tests.support.packages import Spec, build
from tests.support.server import Server


class Watch:
    """Refuse and remember any request to another host; remember console errors."""

    def __init__(self, page: Page, server: Server) -> None:
        self.outside: list[str] = []
        self.errors: list[str] = []
        page.context.route("**/*", self._route)
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("response", self._response)
        self._origin = server.url

    def _console(self, message: ConsoleMessage) -> None:
        # A page answered with 4xx on purpose (a refused form, a hidden channel) is logged
        # as a failed load too; failed loads of anything else are caught in _response.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    def _response(self, response: Response) -> None:
        if response.request.resource_type not in ("document", "xhr") and response.status >= 400:
            self.errors.append(f"{response.status} for {response.url}")

    def _route(self, route: Route) -> None:
        url = route.request.url
        if url.startswith(self._origin) or url.startswith("data:"):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def check(self) -> None:
        assert not self.outside, f"pages asked for outside resources: {self.outside}"
        assert not self.errors, f"the browser logged errors: {self.errors}"


def sign_in(page: Page, username: str) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("form.panel button[type=submit]")
    expect(page.locator("header nav .user")).to_have_text(username)


def drop_files(page: Page, paths: list[Path]) -> None:
    """What a drop from the desktop does: a drop event whose DataTransfer holds the files."""
    files = [{"name": p.name, "b64": base64.b64encode(p.read_bytes()).decode()} for p in paths]
    transfer = page.evaluate_handle(
        """(files) => {
            const dt = new DataTransfer();
            for (const f of files) {
                const bytes = Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0));
                dt.items.add(new File([bytes], f.name, {type: "application/octet-stream"}));
            }
            return dt;
        }""",
        files,
    )
    page.dispatch_event("#dropzone", "dragenter", {"dataTransfer": transfer})
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})


def test_private_channel_journey(browser: Browser, ui_server: Server, shots: Path, tmp_path: Path) -> None:
    owner, viewer, stranger = (new_user(ui_server, p) for p in ("olive", "vera", "sam"))
    channel = f"lab-{uuid.uuid4().hex[:6]}"
    alpha = build(
        Spec("alpha", "1.4.2", about={"summary": "Alpha does <b>things</b>", "home": "https://example.org"}), tmp_path
    )
    beta = build(Spec("beta", "2.0.1", build="py_0", fmt=".tar.bz2", depends=["alpha >=1.4"]), tmp_path)

    # The owner signs in and creates a private channel.
    page = new_page(browser, ui_server)
    watch = Watch(page, ui_server)
    sign_in(page, owner)
    page.click("text=New channel")
    page.fill("#name", channel)
    page.fill("#description", "Builds of the lab")
    page.check("input[name=visibility][value=private]")
    page.screenshot(path=shots / "channel-new.png", full_page=True)
    page.click("form.panel button[type=submit]")
    expect(page).to_have_url(re.compile(f"/channels/{channel}$"))
    expect(page.locator("h1 .badge")).to_have_text("private")

    # Two packages by drag and drop, each with its own progress bar and result.
    page.click("text=Upload")
    expect(page.locator("#dropzone")).to_be_visible()
    drop_files(page, [alpha, beta])
    rows = page.locator("#uploads li")
    expect(rows).to_have_count(2)
    expect(page.locator("#uploads li[data-state=ok]")).to_have_count(2)
    expect(page.locator("#uploads progress")).to_have_count(2)

    # Files that are not packages are refused, in words: by the page, and by the server.
    junk = tmp_path / "notes.txt"
    junk.write_text("not a package")
    fake = tmp_path / "fake-1.0-0.conda"
    fake.write_bytes(b"PK\x03\x04 this is no zip archive")
    drop_files(page, [junk, fake])
    failed = page.locator("#uploads li[data-state=failed] .status")
    expect(failed).to_have_count(2)
    expect(failed.first).to_contain_text(".conda or .tar.bz2")
    expect(failed.nth(1)).to_contain_text("Refused (422)")
    # Picked rather than dropped, and bigger: the browser streams it from disk.
    big = build(Spec("gamma", "0.1", files={"share/gamma/blob": os.urandom(24 * 1024 * 1024)}), tmp_path)
    page.set_input_files("#files", str(big))
    expect(page.locator("#uploads li[data-state=ok]")).to_have_count(3, timeout=60_000)
    page.screenshot(path=shots / "upload.png", full_page=True)

    # Both are listed with their versions and platforms.
    page.goto(f"/channels/{channel}")
    table = page.locator("table")
    expect(table.locator("tr", has_text="alpha")).to_contain_text("1.4.2")
    expect(table.locator("tr", has_text="beta")).to_contain_text("2.0.1")
    expect(table.locator("tr", has_text="beta")).to_contain_text("noarch")
    expect(table.locator("tr", has_text="gamma")).to_contain_text("0.1")
    expect(page.locator("pre", has_text="channels = [")).to_contain_text(f"/{channel}")
    page.screenshot(path=shots / "channel.png", full_page=True)
    page.goto("/")
    expect(page.locator(".cards")).to_contain_text("3 packages")
    page.screenshot(path=shots / "home.png", full_page=True)
    page.goto(f"/channels/{channel}")

    # The package page: versions, dependencies, about.json (escaped), uploader.
    page.click("table >> text=beta")
    expect(page.locator("h1")).to_contain_text("beta")
    expect(page.locator("ul.deps").first).to_contain_text("alpha >=1.4")
    page.goto(f"/channels/{channel}/packages/alpha")
    expect(page.locator(".summary")).to_have_text("Alpha does <b>things</b>")
    expect(page.locator("dl.facts").first).to_contain_text(owner)
    page.locator("table.files summary").first.click()
    expect(page.locator("table.files .hash").first).to_be_visible()
    page.screenshot(path=shots / "package.png", full_page=True)

    # Invite a Viewer.
    page.goto(f"/channels/{channel}/settings")
    invite = page.locator("form", has_text="Invite a member")
    invite.locator("input[name=username]").fill(viewer)
    invite.locator("select[name=role]").select_option("viewer")
    invite.locator("button[type=submit]").click()
    expect(page.locator(".notice")).to_contain_text(viewer)
    expect(page.locator("table tr", has_text=viewer)).to_be_visible()
    page.screenshot(path=shots / "channel-settings.png", full_page=True)
    watch.check()

    # The Viewer sees the channel (on a phone, too); a stranger does not.
    vpage = new_page(browser, ui_server, phone=True)
    vwatch = Watch(vpage, ui_server)
    sign_in(vpage, viewer)
    expect(vpage.locator(".cards")).to_contain_text(channel)
    vpage.click(f".cards >> text={channel}")
    expect(vpage.locator("table")).to_contain_text("alpha")
    expect(vpage.locator("text=Upload")).to_have_count(0)
    vpage.screenshot(path=shots / "channel-phone.png", full_page=True)

    spage = new_page(browser, ui_server)
    sign_in(spage, stranger)
    expect(spage.locator("main")).not_to_contain_text(channel)
    response = spage.goto(f"/channels/{channel}")
    assert response is not None
    assert response.status == 404
    spage.goto("/search?q=alpha")
    expect(spage.locator("main")).not_to_contain_text(channel)
    spage.context.close()

    # The owner hands the channel to the Viewer, who deletes it.
    page.goto(f"/channels/{channel}/settings")
    danger = page.locator("form", has_text="Transfer ownership")
    danger.locator("input[name=username]").fill(viewer)
    button = danger.locator("button[type=submit]")
    expect(button).to_be_disabled()  # until the channel's name is typed
    danger.locator("input[name=confirm]").fill(channel)
    button.click()
    expect(page).to_have_url(re.compile(f"/channels/{channel}$"))
    expect(page.locator(".meta").first).to_contain_text(f"Owner: {viewer}")
    expect(page.locator("text=Settings")).to_have_count(0)
    watch.check()
    page.context.close()

    vpage.goto(f"/channels/{channel}/settings")
    deletion = vpage.locator("form", has_text="Delete channel")
    deletion.locator("input[name=confirm]").fill(channel)
    deletion.locator("button[type=submit]").click()
    expect(vpage).to_have_url(re.compile(r"/$"))
    expect(vpage.locator("main")).not_to_contain_text(channel)
    response = vpage.goto(f"/channels/{channel}")
    assert response is not None
    assert response.status == 404
    vwatch.check()
    vpage.context.close()


def test_search_and_sign_in_pages(browser: Browser, ui_server: Server, shots: Path) -> None:
    page = new_page(browser, ui_server)
    watch = Watch(page, ui_server)
    page.goto("/login")
    page.screenshot(path=shots / "login.png", full_page=True)
    page.fill("#username", "nobody-here")
    page.fill("#password", "wrong password")
    page.click("form.panel button[type=submit]")
    expect(page.locator(".error")).to_contain_text("wrong user name or password")
    page.goto("/search?q=a")
    page.screenshot(path=shots / "search.png", full_page=True)
    watch.check()
    page.context.close()
