"""api_keys.parent_key_id: the key that minted a key, so revoking a key revokes its descendants

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 06:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for every existing key: their lineage was never recorded, so each is its own root.
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parent_key_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_api_keys_parent_key_id"), ["parent_key_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_api_keys_parent_key_id_api_keys"), "api_keys", ["parent_key_id"], ["id"], ondelete="CASCADE"
        )


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_api_keys_parent_key_id_api_keys"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_api_keys_parent_key_id"))
        batch_op.drop_column("parent_key_id")
