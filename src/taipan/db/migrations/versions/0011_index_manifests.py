"""index_manifests and index_pieces: repodata.json.zst blocks shared between processes

One process builds or patches a label view's blocks and publishes them; every other process
and host loads the pieces it lacks instead of rendering and compressing them again
(taipan.indexing.shared).

Also an index on shard_pointers (subdir_id, name): an upload reads the pointers of the names
it touched in every label, which the primary key (subdir_id, label, name) serves only by its
first column, i.e. by reading every pointer of the subdir (0.8 ms at 10k names, per upload).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 21:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "index_manifests",
        sa.Column("subdir_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=128), nullable=False),
        sa.Column("epoch", sa.String(length=32), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subdir_id"], ["subdirs.id"], name="fk_index_manifests_subdir_id_subdirs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("subdir_id", "label", name="pk_index_manifests"),
    )
    op.create_table(
        "index_pieces",
        sa.Column("subdir_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=128), nullable=False),
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subdir_id"], ["subdirs.id"], name="fk_index_pieces_subdir_id_subdirs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("subdir_id", "label", "digest", name="pk_index_pieces"),
    )
    op.create_index("ix_shard_pointers_subdir_name", "shard_pointers", ["subdir_id", "name"])


def downgrade() -> None:
    op.drop_index("ix_shard_pointers_subdir_name", table_name="shard_pointers")
    op.drop_table("index_pieces")
    op.drop_table("index_manifests")
