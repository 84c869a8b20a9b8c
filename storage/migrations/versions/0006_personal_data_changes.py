"""personal data changes: every change to a name, company, address or note is stamped

Revision ID: 0006_personal_data_changes
Revises: 0005_canary
Create Date: 2026-12-01 09:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage import changes

revision: str = "0006_personal_data_changes"
down_revision: str | None = "0005_canary"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "personal_data_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("changes", sa.BigInteger(), nullable=False),
        sa.Column("removals", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_personal_data_changes")),
    )
    for table in changes.WATCHED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("change_seq", sa.BigInteger(), server_default="0", nullable=False)
            )
            batch_op.create_index(batch_op.f(f"ix_{table}_change_seq"), ["change_seq"])
    changes.install(op.get_bind(), bulk=False)


def downgrade() -> None:
    changes.remove(op.get_bind())
    for table in changes.WATCHED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_change_seq"))
            batch_op.drop_column("change_seq")
    op.drop_table("personal_data_changes")
