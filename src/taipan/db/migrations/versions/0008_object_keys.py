"""package_files.object_key: where a record's bytes lie, so a replacement never overwrites them

Revision ID: 0008
Revises: 0007_oauth
Create Date: 2026-12-02 05:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007_oauth"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL means the plain key {channel}/{subdir}/{filename}: every existing row.
    with op.batch_alter_table("package_files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("object_key", sa.String(length=1024), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("package_files", schema=None) as batch_op:
        batch_op.drop_column("object_key")
