"""Integers from outside (path, query, form), bounded once.

A Python ``int`` has no bound; the databases' integers do (64 bits signed: SQLite raises
OverflowError for more, so a long number in a URL was a 500). Every route and page that takes
an integer declares it with one of these types, so a value out of range answers 422 (a page,
400) before it reaches a query. Ids are tighter still: their columns are INTEGER, 32 bits on
PostgreSQL, which refuses a larger value even in a lookup (SQLAlchemy casts the parameter).
tests/functional/test_openapi.py checks that every integer in the OpenAPI description has a
maximum.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

DB_INT_MAX = 2**63 - 1
"""The largest integer every supported database holds (SQLite INTEGER, PostgreSQL bigint)."""
ID_MAX = 2**31 - 1
"""The largest id: id columns are ``Integer`` (PostgreSQL integer)."""
MAX_LIMIT = 1000
"""The most rows a listing answers at once, unless a route says otherwise."""

Id = Annotated[int, Path(ge=1, le=ID_MAX, description="A row's id, as listed.")]
"""A row's id in a path: ``/api/v1/tokens/{key_id}``."""
BeforeId = Annotated[int | None, Query(ge=1, le=ID_MAX, description="Only rows older than this id.")]
"""The id a page of a newest-first listing starts below."""
Offset = Annotated[int, Query(ge=0, le=DB_INT_MAX, description="Rows to skip.")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="The most rows to answer.")]
FileLimit = Annotated[int, Query(ge=1, le=10_000, description="The most files to answer.")]
"""Files are small rows that mirrors list in bulk: ten times the usual page."""
