"""Apply and inspect schema migrations (Alembic), on SQLite and PostgreSQL alike."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import inspect, make_url, text

from taipan.db.engine import Database

MIGRATIONS = Path(__file__).parent / "migrations"
# PostgreSQL advisory lock key held while migrating, so processes starting together on
# one empty database (several hosts, or replicas) migrate one after another.
MIGRATION_LOCK = 0x7A1BA2
STARTUP_LOCK = 0x7A1BA3
SchemaState = Literal["empty", "current", "behind", "ahead", "foreign"]


def _config(db: Database) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


@contextmanager
def startup_lock(db: Database) -> Iterator[None]:
    """Hold off other processes' start-up work (schema, first admin key) on this database.

    Servers sharing a database may start together (replicas, several hosts): one at a
    time decides whether the schema is there and whether the admin account exists.
    PostgreSQL: a session advisory lock; SQLite: a lock file next to the database (the
    processes of one SQLite database are on one host).
    """
    if db.is_sqlite:
        path = make_url(db.url).database
        if not path or path == ":memory:":
            yield
            return
        with open(f"{path}.startup-lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
        return
    with db.write_engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": STARTUP_LOCK})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": STARTUP_LOCK})
            conn.commit()


def upgrade(db: Database) -> None:
    """Bring the schema to the newest revision."""
    cfg = _config(db)
    with db.write_engine.connect() as conn:
        if conn.dialect.name == "postgresql":  # SQLite: BEGIN IMMEDIATE serialises migrators already
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        conn.commit()


def head_revision(db: Database) -> str | None:
    return ScriptDirectory.from_config(_config(db)).get_current_head()


def current_revision(db: Database) -> str | None:
    with db.read_engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def schema_state(db: Database) -> SchemaState:
    """Where the database stands against this Taipan's migrations.

    ``empty``: no tables at all; ``current``: at the newest revision; ``behind``: at an
    older one of ours; ``ahead``: at a revision this Taipan does not know (a newer one
    migrated it); ``foreign``: tables, but no Taipan schema version.
    """
    current = current_revision(db)
    if current is None:
        with db.read_engine.connect() as conn:
            return "foreign" if inspect(conn).get_table_names() else "empty"
    if current == head_revision(db):
        return "current"
    try:
        known = ScriptDirectory.from_config(_config(db)).get_revision(current) is not None
    except CommandError:
        known = False
    return "behind" if known else "ahead"


def is_current(db: Database) -> bool:
    return current_revision(db) == head_revision(db)


def autogenerate(db: Database, message: str) -> None:
    """Developer helper: write a new revision from the models' difference to the database."""
    cfg = _config(db)
    with db.write_engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.revision(cfg, message=message, autogenerate=True)
