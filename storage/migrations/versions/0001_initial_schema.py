"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27 23:53:16.014267
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage import guards
from storage.models import UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_events_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_events_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_events_issue_id"), ["issue_id"], unique=False)

    op.create_table(
        "installation",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_installation")),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )
    op.create_table(
        "lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lists")),
        sa.UniqueConstraint("name", name=op.f("uq_lists_name")),
    )
    op.create_table(
        "once_markers",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_once_markers")),
    )
    op.create_table(
        "suppressions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("email_hash", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=30), nullable=False),
        sa.Column("origin", sa.String(length=30), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("push_state", sa.String(length=20), nullable=False),
        sa.Column("push_attempts", sa.Integer(), nullable=False),
        sa.Column("push_error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppressions")),
        sa.UniqueConstraint("email_hash", "scope", name="uq_suppressions_hash_scope"),
    )
    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_suppressions_email_hash"), ["email_hash"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_suppressions_email"), ["email"], unique=False)

    op.create_table(
        "unsubscribe_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("email_hash", sa.String(length=64), nullable=False),
        sa.Column("given_name", sa.String(length=200), nullable=False),
        sa.Column("given_company", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("confirmation_requested", sa.Boolean(), nullable=False),
        sa.Column("confirmation_message_id", sa.String(length=100), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unsubscribe_requests")),
    )
    with op.batch_alter_table("unsubscribe_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_unsubscribe_requests_email_hash"), ["email_hash"], unique=False
        )

    op.create_table(
        "issues",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=30), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("current_version_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["list_id"], ["lists.id"], name=op.f("fk_issues_list_id_lists")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issues")),
    )
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_issues_state"), ["state"], unique=False)

    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("company", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"], ["lists.id"], name=op.f("fk_subscribers_list_id_lists")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscribers")),
        sa.UniqueConstraint("list_id", "email", name="uq_subscribers_list_email"),
    )
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.create_index("ix_subscribers_list_status", ["list_id", "status"], unique=False)

    op.create_table(
        "issue_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body_markdown", sa.Text(), nullable=False),
        sa.Column("html_template", sa.Text(), nullable=False),
        sa.Column("text_template", sa.Text(), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("stream", sa.String(length=100), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("author", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issues.id"], name=op.f("fk_issue_versions_issue_id_issues")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issue_versions")),
        sa.UniqueConstraint("issue_id", "number", name="uq_issue_versions_number"),
    )
    op.create_table(
        "approval_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("send_id", sa.Integer(), nullable=True),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("audience_rule", sa.String(length=200), nullable=False),
        sa.Column("recipient_count", sa.Integer(), nullable=False),
        sa.Column("scheduled_at", UTCDateTime(), nullable=True),
        sa.Column("override_reason", sa.Text(), nullable=True),
        sa.Column("overridden_findings", sa.JSON(), nullable=False),
        sa.Column("requester", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("card_channel", sa.String(length=50), nullable=True),
        sa.Column("card_ts", sa.String(length=50), nullable=True),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issues.id"], name=op.f("fk_approval_requests_issue_id_issues")
        ),
        sa.ForeignKeyConstraint(
            ["list_id"], ["lists.id"], name=op.f("fk_approval_requests_list_id_lists")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["issue_versions.id"],
            name=op.f("fk_approval_requests_version_id_issue_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_requests")),
    )
    with op.batch_alter_table("approval_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_approval_requests_issue_id"), ["issue_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_approval_requests_state"), ["state"], unique=False)

    op.create_table(
        "sends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("approval_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("last_progress_at", UTCDateTime(), nullable=True),
        sa.Column("halted_by", sa.String(length=100), nullable=True),
        sa.Column("halt_reason", sa.Text(), nullable=False),
        sa.Column("progress_channel", sa.String(length=50), nullable=True),
        sa.Column("progress_ts", sa.String(length=50), nullable=True),
        sa.ForeignKeyConstraint(
            ["approval_id"],
            ["approval_requests.id"],
            name=op.f("fk_sends_approval_id_approval_requests"),
        ),
        sa.ForeignKeyConstraint(["issue_id"], ["issues.id"], name=op.f("fk_sends_issue_id_issues")),
        sa.ForeignKeyConstraint(
            ["version_id"], ["issue_versions.id"], name=op.f("fk_sends_version_id_issue_versions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sends")),
    )
    with op.batch_alter_table("sends", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sends_issue_id"), ["issue_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sends_state"), ["state"], unique=False)

    op.create_table(
        "delivery_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("send_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=100), nullable=False),
        sa.Column("claimed_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["send_id"], ["sends.id"], name=op.f("fk_delivery_batches_send_id_sends")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_batches")),
    )
    with op.batch_alter_table("delivery_batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_delivery_batches_send_id"), ["send_id"], unique=False)

    op.create_table(
        "deliveries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("send_id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("message_id", sa.String(length=100), nullable=True),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["delivery_batches.id"],
            name=op.f("fk_deliveries_batch_id_delivery_batches"),
        ),
        sa.ForeignKeyConstraint(
            ["send_id"], ["sends.id"], name=op.f("fk_deliveries_send_id_sends")
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_deliveries_subscriber_id_subscribers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint("send_id", "subscriber_id", name="uq_deliveries_send_subscriber"),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_deliveries_batch", ["batch_id"], unique=False)
        batch_op.create_index("ix_deliveries_send_status", ["send_id", "status"], unique=False)

    # The two foreign keys that close a cycle are added once both tables exist.
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_issues_current_version", "issue_versions", ["current_version_id"], ["id"]
        )
    with op.batch_alter_table("approval_requests", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_approval_requests_send_id_sends", "sends", ["send_id"], ["id"]
        )
    guards.install(op.get_bind())


def downgrade() -> None:
    guards.remove(op.get_bind())
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.drop_constraint("fk_issues_current_version", type_="foreignkey")
    with op.batch_alter_table("approval_requests", schema=None) as batch_op:
        batch_op.drop_constraint("fk_approval_requests_send_id_sends", type_="foreignkey")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_send_status")
        batch_op.drop_index("ix_deliveries_batch")

    op.drop_table("deliveries")
    with op.batch_alter_table("delivery_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_batches_send_id"))

    op.drop_table("delivery_batches")
    with op.batch_alter_table("sends", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sends_state"))
        batch_op.drop_index(batch_op.f("ix_sends_issue_id"))

    op.drop_table("sends")
    with op.batch_alter_table("approval_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_approval_requests_state"))
        batch_op.drop_index(batch_op.f("ix_approval_requests_issue_id"))

    op.drop_table("approval_requests")
    op.drop_table("issue_versions")
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_index("ix_subscribers_list_status")

    op.drop_table("subscribers")
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issues_state"))

    op.drop_table("issues")
    with op.batch_alter_table("unsubscribe_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_unsubscribe_requests_email_hash"))

    op.drop_table("unsubscribe_requests")
    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_suppressions_email_hash"))
        batch_op.drop_index(batch_op.f("ix_suppressions_email"))

    op.drop_table("suppressions")
    op.drop_table("once_markers")
    op.drop_table("lists")
    op.drop_table("leases")
    op.drop_table("installation")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_issue_id"))
        batch_op.drop_index(batch_op.f("ix_audit_events_at"))
        batch_op.drop_index(batch_op.f("ix_audit_events_action"))

    op.drop_table("audit_events")
