"""labels: every package file carries labels (main by default); shards per label

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "file_labels",
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"], ["package_files.id"], name=op.f("fk_file_labels_file_id_package_files"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("file_id", "label", name=op.f("pk_file_labels")),
    )
    op.create_index("ix_file_labels_label_file", "file_labels", ["label", "file_id"], unique=False)
    op.execute("INSERT INTO file_labels (file_id, label) SELECT id, 'main' FROM package_files")
    # Shard pointers gain the label as part of their key; existing ones are main's.
    with op.batch_alter_table("shard_pointers", recreate="always") as batch_op:
        batch_op.add_column(sa.Column("label", sa.String(length=128), server_default="main", nullable=False))
        batch_op.drop_constraint("pk_shard_pointers", type_="primary")
        batch_op.create_primary_key("pk_shard_pointers", ["subdir_id", "label", "name"])


def downgrade() -> None:
    op.execute("DELETE FROM shard_pointers WHERE label <> 'main'")
    with op.batch_alter_table("shard_pointers", recreate="always") as batch_op:
        batch_op.drop_constraint("pk_shard_pointers", type_="primary")
        batch_op.drop_column("label")
        batch_op.create_primary_key("pk_shard_pointers", ["subdir_id", "name"])
    op.drop_index("ix_file_labels_label_file", table_name="file_labels")
    op.drop_table("file_labels")
