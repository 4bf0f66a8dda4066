"""package_files.filename compared bytewise (COLLATE "C") on PostgreSQL

repodata.json.zst is kept in blocks of file name ranges (taipan.indexing.blocks): the
database's order of file names and its range comparisons must be Python's (code point
order), whatever the database's default collation. SQLite's BINARY collation already is.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 17:10:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute('ALTER TABLE package_files ALTER COLUMN filename TYPE VARCHAR(255) COLLATE "C"')


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute('ALTER TABLE package_files ALTER COLUMN filename TYPE VARCHAR(255) COLLATE "default"')
