"""send events: Postmark's webhooks attributed to ledger rows

Revision ID: 0002_send_events
Revises: 0001
Create Date: 2026-12-01 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision: str = "0002_send_events"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "send_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("send_id", sa.Integer(), nullable=False),
        sa.Column(
            "delivery_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("message_id", sa.String(length=100), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"], ["deliveries.id"], name=op.f("fk_send_events_delivery_id_deliveries")
        ),
        sa.ForeignKeyConstraint(["send_id"], ["sends.id"], name=op.f("fk_send_events_send_id_sends")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_send_events")),
        sa.UniqueConstraint("delivery_id", "kind", name="uq_send_events_delivery_kind"),
    )
    with op.batch_alter_table("send_events", schema=None) as batch_op:
        batch_op.create_index("ix_send_events_send_kind", ["send_id", "kind"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("send_events", schema=None) as batch_op:
        batch_op.drop_index("ix_send_events_send_kind")
    op.drop_table("send_events")
