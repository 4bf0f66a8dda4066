"""web UI: channel avatars, download counts, sign-up invitations

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("channels") as batch_op:
        batch_op.add_column(sa.Column("avatar_url", sa.String(length=2048), server_default="", nullable=False))
    with op.batch_alter_table("package_files") as batch_op:
        batch_op.add_column(sa.Column("download_count", sa.BigInteger(), server_default="0", nullable=False))
    op.create_table(
        "invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("note", sa.String(length=255), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.Column("used_ms", sa.BigInteger(), nullable=True),
        sa.Column("used_by", sa.String(length=64), nullable=True),
        sa.Column("revoked_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitations_token_hash")),
    )


def downgrade() -> None:
    op.drop_table("invitations")
    with op.batch_alter_table("package_files") as batch_op:
        batch_op.drop_column("download_count")
    with op.batch_alter_table("channels") as batch_op:
        batch_op.drop_column("avatar_url")
