"""INSERT … ON CONFLICT for the two dialects we run on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_or_ignore(session: Session, table: Table, values: dict[str, Any], keys: Sequence[str]) -> None:
    session.execute(_insert(session, table).values(**values).on_conflict_do_nothing(index_elements=list(keys)))


def insert_or_update(
    session: Session, table: Table, values: dict[str, Any], keys: Sequence[str], update: Sequence[str]
) -> None:
    stmt = _insert(session, table).values(**values)
    stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in update})
    session.execute(stmt)


def _insert(session: Session, table: Table) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no upsert for the {dialect} dialect")
