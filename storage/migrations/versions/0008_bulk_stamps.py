"""bulk stamps: an import stamps its own rows; the triggers restamp every other write

Revision ID: 0008_bulk_stamps
Revises: 0007_import_requests
Create Date: 2026-12-01 15:40:00

The personal-data stamping triggers of 0006 leave a row alone when it already
carries a stamp that no reader has passed (`storage.changes`), so that an
import of a million rows pays one counter bump instead of a trigger per row.
"""

from collections.abc import Sequence

from alembic import op

from storage import changes

revision: str = "0008_bulk_stamps"
down_revision: str | None = "0007_import_requests"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    changes.remove(op.get_bind())
    changes.install(op.get_bind(), bulk=True)


def downgrade() -> None:
    changes.remove(op.get_bind())
    changes.install(op.get_bind(), bulk=False)
