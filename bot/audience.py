"""Who a send goes to: the active subscribers of a list that no suppression
covers (on all lists, `*`, or on this one). One query, used for the count an
approval is bound to, for the drift check and for freezing a send's audience.

A correction (`Issue.correction_of`) narrows that to the readers who received
the earlier issue — whose message left for them — and nobody else: the same
query with one more condition, so unsubscribes and suppressions since still
win (invariant 7) and the drift guard compares like with like.
"""

from __future__ import annotations

from sqlalchemy import Select, exists, func, select
from sqlalchemy.orm import Session

from storage.models import (
    ALL_LISTS,
    Delivery,
    DeliveryStatus,
    MailingList,
    Send,
    Subscriber,
    SubscriberStatus,
    Suppression,
)

RULE = "active subscribers, not suppressed"
CORRECTION_RULE = "readers who received issue #{issue}, still active, not suppressed"
# Ledger outcomes that mean the message left for the reader (Postmark accepted it).
RECEIVED = (DeliveryStatus.SENT,)


def rule(correction_of: int | None) -> str:
    """The audience rule an approval records."""
    return RULE if correction_of is None else CORRECTION_RULE.format(issue=correction_of)


def received(issue_id: int) -> Select[int]:
    """SELECT of the subscriber ids whose message of issue `issue_id` left."""
    return (
        select(Delivery.subscriber_id)
        .where(
            Delivery.send_id.in_(select(Send.id).where(Send.issue_id == issue_id)),
            Delivery.status.in_(RECEIVED),
        )
        .distinct()
    )


def eligible(mailing_list: MailingList, correction_of: int | None = None) -> Select[int]:
    """SELECT of the subscriber ids a send to `mailing_list` may reach now (for a
    correction: only those who received issue `correction_of`)."""
    suppressed = exists().where(
        Suppression.email == Subscriber.email,
        Suppression.scope.in_((ALL_LISTS, mailing_list.name)),
    )
    query = select(Subscriber.id).where(
        Subscriber.list_id == mailing_list.id,
        Subscriber.status == SubscriberStatus.ACTIVE,
        Subscriber.email.is_not(None),
        ~suppressed,
    )
    if correction_of is not None:
        query = query.where(Subscriber.id.in_(received(correction_of)))
    return query


def count(session: Session, mailing_list: MailingList, correction_of: int | None = None) -> int:
    sub = eligible(mailing_list, correction_of).subquery()
    return int(session.execute(select(func.count()).select_from(sub)).scalar_one())


def drift_percent(approved: int, now: int) -> float:
    if approved == 0:
        return 0.0 if now == 0 else 100.0
    return abs(now - approved) * 100.0 / approved
