"""INSERT … ON CONFLICT for the two dialects we run on.

Statements are built once per (dialect, table, conflict keys) and executed with the row's
values as parameters: building them per call cost more than the database work itself.
They take the mapped class (``Channel``), which SQLAlchemy inserts into as its table.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from taipan.db.models import Base


def insert_or_ignore(session: Session, model: type[Base], values: dict[str, Any], keys: Sequence[str]) -> None:
    session.execute(_ignore(_dialect(session), model, tuple(keys)), values)


def insert_or_update(
    session: Session, model: type[Base], values: dict[str, Any], keys: Sequence[str], update: Sequence[str]
) -> None:
    session.execute(_update(_dialect(session), model, tuple(keys), tuple(update)), values)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


@lru_cache(maxsize=64)
def _ignore(dialect: str, model: type[Base], keys: tuple[str, ...]) -> Any:
    return _insert(dialect, model).on_conflict_do_nothing(index_elements=list(keys))


@lru_cache(maxsize=64)
def _update(dialect: str, model: type[Base], keys: tuple[str, ...], update: tuple[str, ...]) -> Any:
    stmt = _insert(dialect, model)
    return stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in update})


def _insert(dialect: str, model: type[Base]) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(model)
    if dialect == "sqlite":
        return sqlite.insert(model)
    raise NotImplementedError(f"no upsert for the {dialect} dialect")


def insert_many_or_ignore(
    session: Session, model: type[Base], rows: Sequence[dict[str, Any]], keys: Sequence[str]
) -> None:
    """:func:`insert_or_ignore` for many rows in one executemany."""
    if rows:
        session.execute(_ignore(_dialect(session), model, tuple(keys)), list(rows))


def insert_many_or_update(
    session: Session, model: type[Base], rows: Sequence[dict[str, Any]], keys: Sequence[str], update: Sequence[str]
) -> None:
    """:func:`insert_or_update` for many rows in one executemany; no two rows may share their ``keys``."""
    if rows:
        session.execute(_update(_dialect(session), model, tuple(keys), tuple(update)), list(rows))
