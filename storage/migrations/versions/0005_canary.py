"""canary: the plan on requests and sends, the stage of a send, the canary's rows

Revision ID: 0005_canary
Revises: 0004_correction_of
Create Date: 2026-12-01 09:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision: str = "0005_canary"
down_revision: str | None = "0004_correction_of"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("approval_requests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("canary_percent", sa.Float(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("canary_hold_minutes", sa.Integer(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("sends", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("stage", sa.String(length=10), server_default="all", nullable=False)
        )
        batch_op.add_column(
            sa.Column("canary_percent", sa.Float(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("canary_size", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("hold_minutes", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("hold_until", UTCDateTime(), nullable=True))
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("wave", sa.SmallInteger(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("wave")
    with op.batch_alter_table("sends", schema=None) as batch_op:
        for column in ("hold_until", "hold_minutes", "canary_size", "canary_percent", "stage"):
            batch_op.drop_column(column)
    with op.batch_alter_table("approval_requests", schema=None) as batch_op:
        batch_op.drop_column("canary_hold_minutes")
        batch_op.drop_column("canary_percent")
