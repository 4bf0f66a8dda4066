"""INSERT … ON CONFLICT for the two dialects we run on.

Statements are built once per (dialect, table, conflict keys) and executed with the row's
values as parameters: building them per call cost more than the database work itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_or_ignore(session: Session, table: Table, values: dict[str, Any], keys: Sequence[str]) -> None:
    session.execute(_ignore(_dialect(session), table, tuple(keys)), values)


def insert_or_update(
    session: Session, table: Table, values: dict[str, Any], keys: Sequence[str], update: Sequence[str]
) -> None:
    session.execute(_update(_dialect(session), table, tuple(keys), tuple(update)), values)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


@lru_cache(maxsize=64)
def _ignore(dialect: str, table: Table, keys: tuple[str, ...]) -> Any:
    return _insert(dialect, table).on_conflict_do_nothing(index_elements=list(keys))


@lru_cache(maxsize=64)
def _update(dialect: str, table: Table, keys: tuple[str, ...], update: tuple[str, ...]) -> Any:
    stmt = _insert(dialect, table)
    return stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in update})


def _insert(dialect: str, table: Table) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no upsert for the {dialect} dialect")
