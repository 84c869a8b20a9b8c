"""The domain's tables, as SQLAlchemy 2 typed declarative models.

Portable by design: nothing here is SQLite-only, so the same models run on
PostgreSQL unchanged. States are plain strings checked by the services in
`bot/` (the issue state machine lives in `bot/states.py`); enumerations of
allowed values are kept here as `StrEnum`s so every layer spells them alike
(the audience's — statuses, suppression reasons — in `storage.vocabulary`,
re-exported here).

Two tables refuse change once written, enforced below at the ORM level and by
database triggers created in the migration: `issue_versions` (an approval is
bound to a version's hash, so a version may never change) and `audit_events`
(append-only).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Mapper, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# The audience's vocabulary, re-exported: it lives where a process without the
# database (bot.import_reader's worker) can import it without SQLAlchemy.
from storage.vocabulary import (  # noqa: F401
    ALL_LISTS,
    PushState,
    SubscriberStatus,
    SuppressionOrigin,
    SuppressionReason,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use bot.clock")
        from datetime import UTC

        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        from datetime import UTC

        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    # SQLAlchemy reads this class attribute once, when mapping; it is never mutated.
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}  # noqa: RUF012


class MailingList(Base):
    __tablename__ = "lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]


class Subscriber(Base):
    """One address on one list. `email` is NULL once the person was forgotten."""

    __tablename__ = "subscribers"
    __table_args__ = (
        UniqueConstraint("list_id", "email", name="uq_subscribers_list_email"),
        Index("ix_subscribers_list_status", "list_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id"))
    email: Mapped[str | None] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200), default="")
    company: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(20), default=SubscriberStatus.ACTIVE)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Set by the database on every change to email, name or company (storage.changes).
    change_seq: Mapped[int] = mapped_column(BigInteger, server_default="0", index=True)

    mailing_list: Mapped[MailingList] = relationship()


class Suppression(Base):
    """An address that must not receive broadcasts, on one list or on all (`*`).

    Keyed by the salted hash of the normalised address so that a forgotten
    person stays suppressed after their address itself was erased.
    """

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("email_hash", "scope", name="uq_suppressions_hash_scope"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    email_hash: Mapped[str] = mapped_column(String(64), index=True)
    scope: Mapped[str] = mapped_column(String(200), default=ALL_LISTS)
    reason: Mapped[str] = mapped_column(String(30))
    origin: Mapped[str] = mapped_column(String(30))
    actor: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    push_state: Mapped[str] = mapped_column(String(20), default=PushState.PENDING)
    push_attempts: Mapped[int] = mapped_column(Integer, default=0)
    push_error: Mapped[str] = mapped_column(Text, default="")


class PersonalDataChanges(Base):
    """One row (id 1), kept by the database's triggers (storage.changes): how many
    changes to personal data there were (SQLite's stamps) and how many rows of
    subscribers or unsubscribe requests were deleted."""

    __tablename__ = "personal_data_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    changes: Mapped[int] = mapped_column(BigInteger)
    removals: Mapped[int] = mapped_column(BigInteger)


class UnsubscribeRequest(Base):
    """What an operator typed about a reader's request. Internal only: nothing
    here is ever placed into any message's render context."""

    __tablename__ = "unsubscribe_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320))
    email_hash: Mapped[str] = mapped_column(String(64), index=True)
    given_name: Mapped[str] = mapped_column(String(200), default="")
    given_company: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(100))
    confirmation_requested: Mapped[bool] = mapped_column(default=False)
    confirmation_message_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]
    # Set by the database on every change to what was typed (storage.changes).
    change_seq: Mapped[int] = mapped_column(BigInteger, server_default="0", index=True)


class IssueState(enum.StrEnum):
    DRAFT = "draft"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    HALTED = "halted"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


class Issue(Base):
    __tablename__ = "issues"

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id"))
    state: Mapped[str] = mapped_column(String(30), default=IssueState.DRAFT, index=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    current_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("issue_versions.id", use_alter=True, name="fk_issues_current_version")
    )
    # A correction goes to exactly the readers who received this earlier issue.
    correction_of: Mapped[int | None] = mapped_column(ForeignKey("issues.id"))

    mailing_list: Mapped[MailingList] = relationship()
    current_version: Mapped[IssueVersion | None] = relationship(
        foreign_keys=[current_version_id], post_update=True
    )


class IssueVersion(Base):
    """One saved state of an issue. Immutable: a save makes a new version."""

    __tablename__ = "issue_versions"
    __table_args__ = (UniqueConstraint("issue_id", "number", name="uq_issue_versions_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id"))
    number: Mapped[int]
    subject: Mapped[str] = mapped_column(Text)
    body_markdown: Mapped[str] = mapped_column(Text)
    html_template: Mapped[str] = mapped_column(Text)
    text_template: Mapped[str] = mapped_column(Text)
    sender: Mapped[str] = mapped_column(String(320))
    stream: Mapped[str] = mapped_column(String(100))
    content_hash: Mapped[str] = mapped_column(String(64))
    author: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]


class ApprovalState(enum.StrEnum):
    OPEN = "open"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    VOID = "void"  # the issue changed after the request was made


class ApprovalRequest(Base):
    """A request for a second person's approval of one exact version and audience."""

    __tablename__ = "approval_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("issue_versions.id"))
    content_hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20), default="send")  # send | resume
    send_id: Mapped[int | None] = mapped_column(ForeignKey("sends.id", use_alter=True))
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id"))
    audience_rule: Mapped[str] = mapped_column(String(200))
    recipient_count: Mapped[int]
    scheduled_at: Mapped[datetime | None]
    override_reason: Mapped[str | None] = mapped_column(Text)
    overridden_findings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    requester: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(20), default=ApprovalState.OPEN, index=True)
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    card_channel: Mapped[str | None] = mapped_column(String(50))
    card_ts: Mapped[str | None] = mapped_column(String(50))
    # The canary plan that is approved with it: this share first, then a hold.
    canary_percent: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    canary_hold_minutes: Mapped[int] = mapped_column(default=0, server_default="0")


class SendState(enum.StrEnum):
    PREPARING = "preparing"
    SENDING = "sending"
    HALTED = "halted"
    FINISHED = "finished"
    REFUSED = "refused"


class SendStage(enum.StrEnum):
    """Where a sending send is in its canary plan (`bot.canary`)."""

    ALL = "all"  # no canary: every row may be claimed
    CANARY = "canary"  # only the canary's rows may be claimed
    HOLD = "hold"  # nothing may be claimed until `hold_until` (or "send the rest now")
    REST = "rest"  # the hold is over: every row may be claimed


class Send(Base):
    """One delivery of one approved version to a frozen audience."""

    __tablename__ = "sends"

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("issue_versions.id"))
    approval_id: Mapped[int] = mapped_column(ForeignKey("approval_requests.id"))
    state: Mapped[str] = mapped_column(String(20), default=SendState.PREPARING, index=True)
    total: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    last_progress_at: Mapped[datetime | None]
    halted_by: Mapped[str | None] = mapped_column(String(100))
    halt_reason: Mapped[str] = mapped_column(Text, default="")
    progress_channel: Mapped[str | None] = mapped_column(String(50))
    progress_ts: Mapped[str | None] = mapped_column(String(50))
    stage: Mapped[str] = mapped_column(String(10), default=SendStage.ALL, server_default="all")
    canary_percent: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    canary_size: Mapped[int] = mapped_column(default=0, server_default="0")
    hold_minutes: Mapped[int] = mapped_column(default=0, server_default="0")
    hold_until: Mapped[datetime | None]


class BatchState(enum.StrEnum):
    CLAIMED = "claimed"  # rows chosen, nothing sent yet: safe to release
    IN_FLIGHT = "in_flight"  # a request may have reached Postmark
    DONE = "done"
    UNKNOWN = "unknown"  # reconciliation could not settle it: people decide


class DeliveryBatch(Base):
    __tablename__ = "delivery_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    send_id: Mapped[int] = mapped_column(ForeignKey("sends.id"), index=True)
    state: Mapped[str] = mapped_column(String(20), default=BatchState.CLAIMED)
    size: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str] = mapped_column(String(100), default="")
    claimed_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    error: Mapped[str] = mapped_column(Text, default="")
    # When the last request of this batch left (wall clock): Postmark may still
    # process and index it for the reconciliation window after that.
    attempted_at: Mapped[datetime | None]


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    BATCHED = "batched"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    INVALID = "invalid"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"  # unsubscribed or suppressed before its batch was claimed


class Delivery(Base):
    """The ledger: one row per recipient of a send, never two."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("send_id", "subscriber_id", name="uq_deliveries_send_subscriber"),
        Index("ix_deliveries_send_status", "send_id", "status"),
        Index("ix_deliveries_batch", "batch_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    send_id: Mapped[int] = mapped_column(ForeignKey("sends.id"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("delivery_batches.id"))
    status: Mapped[str] = mapped_column(String(20), default=DeliveryStatus.PENDING)
    message_id: Mapped[str | None] = mapped_column(String(100))
    error_code: Mapped[int | None]
    error_message: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime]
    # 1: in the send's canary (a random sample drawn when the audience was frozen).
    wave: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")


class SendEventKind(enum.StrEnum):
    """What Postmark's webhooks said about one recipient's message."""

    DELIVERED = "delivered"
    HARD_BOUNCE = "hard_bounce"
    SOFT_BOUNCE = "soft_bounce"
    COMPLAINT = "complaint"
    UNSUBSCRIBED = "unsubscribed"


class SendEvent(Base):
    """A webhook event attributed to one ledger row through the message's metadata.

    One row per recipient and kind: Postmark retries webhooks, and a hard
    bounce arrives both as a Bounce and as a SubscriptionChange, yet counts once.
    """

    __tablename__ = "send_events"
    __table_args__ = (
        UniqueConstraint("delivery_id", "kind", name="uq_send_events_delivery_kind"),
        Index("ix_send_events_send_kind", "send_id", "kind"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    send_id: Mapped[int] = mapped_column(ForeignKey("sends.id"))
    delivery_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), ForeignKey("deliveries.id")
    )
    kind: Mapped[str] = mapped_column(String(20))
    message_id: Mapped[str | None] = mapped_column(String(100))
    at: Mapped[datetime]


class AuditEvent(Base):
    """Append-only: who did what, when, to which issue or address.

    Addresses are recorded as their salted hash (and a masked form), so that
    forgetting a person never needs to rewrite this log.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60), index=True)
    issue_id: Mapped[int | None] = mapped_column(index=True)
    subject: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class OutboxMessage(Base):
    """A notice that must reach Slack after the commit that caused it (an
    approval card, progress, a halt, a failure): kept until Slack has it."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(60))
    issue_id: Mapped[int | None]
    request_id: Mapped[int | None]
    send_id: Mapped[int | None]
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(index=True)
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")


class KeyValue(Base):
    """Small installation-wide facts: the address-hash salt, schema notes."""

    __tablename__ = "installation"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Lease(Base):
    """A named lease with a heartbeat, so one process at a time runs a duty."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime]


class OnceMarker(Base):
    """Marks a one-off duty as done (a reminder for a given day, a scheduled start)."""

    __tablename__ = "once_markers"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    at: Mapped[datetime]


class ImportRequestState(enum.StrEnum):
    OPEN = "open"  # dry run shown, waiting for a second team member
    APPLYING = "applying"
    APPLIED = "applied"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class ImportRequest(Base):
    """A file brought in from Slack, applied only when a second team member
    confirms it. The file's bytes are kept only while the request is open."""

    __tablename__ = "import_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    requester: Mapped[str] = mapped_column(String(100))
    list_name: Mapped[str] = mapped_column(String(200))
    file_name: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    dry_run: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the counts shown
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the counts applied
    state: Mapped[str] = mapped_column(String(20), default=ImportRequestState.OPEN, index=True)
    created_at: Mapped[datetime]
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None]
    card_channel: Mapped[str | None] = mapped_column(String(50))
    card_ts: Mapped[str | None] = mapped_column(String(50))


class ImmutableRowError(RuntimeError):
    """Raised when code tries to change a row that must never change."""


def _refuse_change(kind: str) -> Any:
    def refuse(mapper: Mapper[Any], connection: Any, target: Any) -> None:
        raise ImmutableRowError(f"{type(target).__tablename__} rows are never {kind}")

    return refuse


for _model in (AuditEvent, IssueVersion):
    event.listen(_model, "before_update", _refuse_change("updated"))
    event.listen(_model, "before_delete", _refuse_change("deleted"))
