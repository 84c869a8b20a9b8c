"""corrections: an issue addressed to the readers of an earlier one

Revision ID: 0004_correction_of
Revises: 0003_reconciliation_outbox
Create Date: 2026-12-01 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_correction_of"
down_revision: str | None = "0003_reconciliation_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.add_column(sa.Column("correction_of", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_issues_correction_of_issues"), "issues", ["correction_of"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_issues_correction_of_issues"), type_="foreignkey")
        batch_op.drop_column("correction_of")
