"""Suppressions: the addresses broadcasts must not reach (invariant 7).

`add()` is the one way a suppression is recorded: idempotent (one row per
address and scope), it also marks the address's subscribers so that no send
claims them, and it is audited. Everything that learns of an unsubscribe,
a bounce or a complaint — Slack, Postmark's webhook, the periodic sync, a
send's per-message result — comes through here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot import audit
from bot.addresses import InvalidAddress, address_hash, normalise
from bot.desk import Desk
from bot.installation import address_salt
from storage.models import (
    ALL_LISTS,
    MailingList,
    PushState,
    Subscriber,
    SubscriberStatus,
    Suppression,
    SuppressionOrigin,
    SuppressionReason,
)

# What a suppression does to the subscriber rows of its address.
STATUS_FOR_REASON = {
    SuppressionReason.UNSUBSCRIBED: SubscriberStatus.UNSUBSCRIBED,
    SuppressionReason.MANUAL: SubscriberStatus.UNSUBSCRIBED,
    SuppressionReason.HARD_BOUNCE: SubscriberStatus.INACTIVE,
    SuppressionReason.SPAM_COMPLAINT: SubscriberStatus.INACTIVE,
    SuppressionReason.INVALID: SubscriberStatus.INVALID,
}

# Postmark's SuppressionReason values, mapped to ours.
FROM_POSTMARK = {
    "HardBounce": SuppressionReason.HARD_BOUNCE,
    "SpamComplaint": SuppressionReason.SPAM_COMPLAINT,
    "ManualSuppression": SuppressionReason.UNSUBSCRIBED,
}


def add(
    session: Session,
    *,
    email: str,
    reason: SuppressionReason,
    origin: SuppressionOrigin,
    actor: str,
    at: datetime,
    scope: str = ALL_LISTS,
    note: str = "",
    push_state: PushState = PushState.PENDING,
) -> tuple[Suppression, bool]:
    """Record that `email` (already normalised) is suppressed; return (row, created).

    Subscribers of that address (on every list, or on the `scope` list) are
    marked accordingly in the same transaction.
    """
    email_hash = address_hash(address_salt(session), email)
    existing = session.execute(
        select(Suppression).where(Suppression.email_hash == email_hash, Suppression.scope == scope)
    ).scalar_one_or_none()
    created = existing is None
    if existing is None:
        existing = Suppression(
            email=email,
            email_hash=email_hash,
            scope=scope,
            reason=reason,
            origin=origin,
            actor=actor,
            note=note,
            created_at=at,
            push_state=push_state,
            push_attempts=0,
            push_error="",
        )
        session.add(existing)
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="suppression.added",
            at=at,
            subject=audit.address_ref(email_hash),
            scope=scope,
            reason=str(reason),
            origin=str(origin),
        )
    status = STATUS_FOR_REASON[reason]
    query = update(Subscriber).where(
        Subscriber.email == email, Subscriber.status == SubscriberStatus.ACTIVE
    )
    if scope != ALL_LISTS:
        list_ids = select(MailingList.id).where(MailingList.name == scope).scalar_subquery()
        query = query.where(Subscriber.list_id == list_ids)
    changed = session.execute(query.values(status=status, updated_at=at)).rowcount  # type: ignore[attr-defined]
    if changed:
        audit.record(
            session,
            actor=actor,
            action="subscriber.status",
            at=at,
            subject=audit.address_ref(email_hash),
            status=str(status),
            subscribers=changed,
        )
    return existing, created


def is_suppressed(session: Session, email: str, list_name: str) -> bool:
    return (
        session.execute(
            select(Suppression.id)
            .where(Suppression.email == email, Suppression.scope.in_((ALL_LISTS, list_name)))
            .limit(1)
        ).first()
        is not None
    )


def sync_from_postmark(desk: Desk) -> int:
    """Pull the broadcast stream's suppression dump into local suppressions;
    return how many were new. Safe to run any time (idempotent)."""
    entries = desk.postmark.dump_suppressions(desk.settings.POSTMARK_BROADCAST_STREAM)
    now = desk.clock.now()
    new = 0
    with desk.db.transaction() as session:
        for entry in entries:
            try:
                email = normalise(str(entry.get("EmailAddress", "")))
            except InvalidAddress:
                continue
            reason = FROM_POSTMARK.get(
                str(entry.get("SuppressionReason")), SuppressionReason.UNSUBSCRIBED
            )
            _, created = add(
                session,
                email=email,
                reason=reason,
                origin=SuppressionOrigin.POSTMARK_SYNC,
                actor="postmark",
                at=now,
                push_state=PushState.NOT_NEEDED,
            )
            new += int(created)
        if new:
            audit.record(session, actor=audit.SYSTEM, action="suppressions.synced", at=now, new=new)
    return new
