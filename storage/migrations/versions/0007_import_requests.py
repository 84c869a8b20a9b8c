"""import requests: a file from Slack waiting for a second team member

Revision ID: 0007_import_requests
Revises: 0006_personal_data_changes
Create Date: 2026-12-01 09:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision: str = "0007_import_requests"
down_revision: str | None = "0006_personal_data_changes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "import_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("requester", sa.String(length=100), nullable=False),
        sa.Column("list_name", sa.String(length=200), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("dry_run", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("card_channel", sa.String(length=50), nullable=True),
        sa.Column("card_ts", sa.String(length=50), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_requests")),
    )
    with op.batch_alter_table("import_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_import_requests_state"), ["state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("import_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_import_requests_state"))
    op.drop_table("import_requests")
