"""Who a send goes to: the active subscribers of a list that no suppression
covers (on all lists, `*`, or on this one). One query, used for the count an
approval is bound to, for the drift check and for freezing a send's audience.
"""

from __future__ import annotations

from sqlalchemy import Select, exists, func, select
from sqlalchemy.orm import Session

from storage.models import ALL_LISTS, MailingList, Subscriber, SubscriberStatus, Suppression

RULE = "active subscribers, not suppressed"


def eligible(mailing_list: MailingList) -> Select[int]:
    """SELECT of the subscriber ids a send to `mailing_list` may reach now."""
    suppressed = exists().where(
        Suppression.email == Subscriber.email,
        Suppression.scope.in_((ALL_LISTS, mailing_list.name)),
    )
    return select(Subscriber.id).where(
        Subscriber.list_id == mailing_list.id,
        Subscriber.status == SubscriberStatus.ACTIVE,
        Subscriber.email.is_not(None),
        ~suppressed,
    )


def count(session: Session, mailing_list: MailingList) -> int:
    sub = eligible(mailing_list).subquery()
    return int(session.execute(select(func.count()).select_from(sub)).scalar_one())


def drift_percent(approved: int, now: int) -> float:
    if approved == 0:
        return 0.0 if now == 0 else 100.0
    return abs(now - approved) * 100.0 / approved
