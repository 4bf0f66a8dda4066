"""A thin HTTP client for the CLI commands that talk to a server."""

from __future__ import annotations

from typing import Any

import click
import httpx


class Api:
    def __init__(self, server: str, token: str | None, timeout: float = 60.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=server.rstrip("/"), headers=headers, timeout=timeout)
        # Closed with the command's context, not left to the garbage collector: the command also
        # runs inside other processes (the tests' CliRunner), where an open socket outlives it.
        context = click.get_current_context(silent=True)
        if context is not None:
            context.call_on_close(self.http.close)

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise click.ClickException(f"cannot reach {self.http.base_url}: {exc}") from exc
        if response.status_code >= 400:
            raise click.ClickException(explain(response))
        return response


def explain(response: httpx.Response) -> str:
    try:
        message = response.json().get("error", response.text)
    except ValueError:
        message = response.text
    hint = ""
    if response.status_code == 401:
        hint = " (pass --token or set TAIPAN_TOKEN; `taipan admin token` prints the admin token)"
    return f"{response.status_code}: {message}{hint}"
