"""The OpenAPI description a running server serves: sound (unique operation ids, bounded
integers) and matched by the docs (every route is written down in some docs/*.md)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import Server

# On the SQLite pass only (the OpenAPI description and the docs, whatever the backends).
pytestmark = pytest.mark.backend_independent

DOCS = Path(__file__).resolve().parents[2] / "docs"
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
# A route as the docs write it: one or more methods joined by "/", a space, then the path,
# e.g. `GET/HEAD /{channel}/{subdir}/{file}` or `DELETE /api/v1/tokens/{id}`.
MENTION = re.compile(rf"\b((?:{'|'.join(METHODS)})(?:/(?:{'|'.join(METHODS)}))*) +(/[^\s`|?\[\]]*)")


@pytest.fixture(scope="module")
def spec(server: Server) -> dict[str, Any]:
    with server.client(token=None) as http:
        response = http.get("/openapi.json")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, ops in spec["paths"].items() for method, op in ops.items()]


def test_operation_ids_are_unique(spec: dict[str, Any]) -> None:
    """A route taking several methods gets one id for all of them: give each method its own
    decorator (@router.get and @router.head), as FastAPI's maintainers advise."""
    counts = Counter(op["operationId"] for _, _, op in operations(spec))
    assert not [name for name, n in counts.items() if n > 1]


def integers_without_maximum(schema: Any, components: dict[str, Any], seen: set[str]) -> list[str]:
    """Where ``schema`` (followed through $refs) allows an integer with no maximum."""
    found: list[str] = []
    if isinstance(schema, list):
        for item in schema:
            found += integers_without_maximum(item, components, seen)
    elif isinstance(schema, dict):
        ref = schema.get("$ref", "")
        name = ref.rsplit("/", 1)[-1]
        if ref and name not in seen:
            seen.add(name)
            found += [f"{name}.{where}" for where in integers_without_maximum(components[name], components, seen)]
        if schema.get("type") == "integer" and "maximum" not in schema:
            found.append(str(schema.get("title", "?")))
        for key, value in schema.items():
            if key != "$ref":
                found += integers_without_maximum(value, components, seen)
    return found


def test_every_integer_taken_has_a_maximum(spec: dict[str, Any]) -> None:
    """Databases hold 64 bits (PostgreSQL's ids 32): an unbounded int reached them as a 500.
    Declare integers with the types of taipan/web/params.py."""
    components = spec.get("components", {}).get("schemas", {})
    unbounded = []
    for method, path, op in operations(spec):
        for param in op.get("parameters", []):
            unbounded += [
                f"{method} {path} {param['name']}" for _ in integers_without_maximum(param, components, set())
            ]
        body = op.get("requestBody", {})
        unbounded += [f"{method} {path} body {where}" for where in integers_without_maximum(body, components, set())]
    assert not unbounded


def normalised(path: str) -> str:
    """``/api/v1/channels/{name}`` and ``/api/v1/channels/{channel}`` are the same route."""
    return re.sub(r"\{[^}]*\}", "{}", path.rstrip(".,;:)"))


def documented_routes() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for doc in DOCS.glob("*.md"):
        for methods, path in MENTION.findall(doc.read_text(encoding="utf-8")):
            found.update((method, normalised(path)) for method in methods.split("/"))
    return found


def test_every_route_is_documented(spec: dict[str, Any]) -> None:
    """Every method and path of /openapi.json is written as `METHOD /path` (or `GET/HEAD /path`)
    in some docs/*.md; parameter names may differ. docs/api.md lists them all by area."""
    documented = documented_routes()
    missing = sorted(
        f"{method} {path}" for method, path, _ in operations(spec) if (method, normalised(path)) not in documented
    )
    assert not missing, "write these routes in a docs/*.md file (docs/api.md has a table per area)"


def test_the_route_mentions_are_read_as_meant() -> None:
    """The matching itself: methods joined by "/", parameters renamed, query strings and
    optional parts cut off, trailing punctuation dropped."""
    text = "`GET/HEAD /{channel}/{subdir}/{file}`, `POST /api/v1/upload/{c}[?force=true]`; DELETE /api/x/{id}."
    found = {(m, normalised(p)) for ms, p in MENTION.findall(text) for m in ms.split("/")}
    assert found == {
        ("GET", "/{}/{}/{}"),
        ("HEAD", "/{}/{}/{}"),
        ("POST", "/api/v1/upload/{}"),
        ("DELETE", "/api/x/{}"),
    }
