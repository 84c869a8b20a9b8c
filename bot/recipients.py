"""Who got what: the recipients of an issue's sends, read from the delivery ledger.

After a wrong send the first questions are "how many got it" and "who exactly"
(to phone the person affected, and to write to everyone who received it).
`counts()` answers the first with no address in it; `export()` writes the
second as CSV — address, time, outcome, Postmark MessageID, the sent version's
hash — and records in the audit trail who took the addresses, how, and how
many. The set a correction is addressed to is `bot.audience.received()`.

One row per ledger row: a recipient of two sends of the issue (a refused send
and its successor, say) appears once per send. A forgotten person (address
erased) keeps their row with an empty address, so the counts stay true.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from typing import IO, NamedTuple

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from bot import audit
from bot.clock import Clock
from bot.csvfile import writer
from bot.issues import load
from bot.refusal import Refusal
from storage.db import Database
from storage.models import Delivery, IssueVersion, Send, Subscriber

COLUMNS = ("address", "time", "outcome", "message_id", "version_hash")


class Row(NamedTuple):
    address: str
    time: str  # ISO 8601, UTC: when the ledger row last changed (for `sent`: accepted)
    outcome: str
    message_id: str
    version_hash: str


@dataclass(frozen=True)
class Export:
    issue_id: int
    rows: int
    counts: dict[str, int]


def _of_issue(issue_id: int) -> Select[int]:
    return select(Send.id).where(Send.issue_id == issue_id)


def _require_sent(session: Session, issue_id: int) -> None:
    load(session, issue_id)  # issue_not_found
    if session.execute(_of_issue(issue_id).limit(1)).first() is None:
        raise Refusal("issue_never_sent", issue=issue_id)


def counts(session: Session, issue_id: int) -> dict[str, int]:
    """Ledger rows of the issue's sends by outcome (no addresses)."""
    _require_sent(session, issue_id)
    rows = session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.send_id.in_(_of_issue(issue_id)))
        .group_by(Delivery.status)
    ).all()
    return {str(status): int(n) for status, n in rows}


def rows(session: Session, issue_id: int) -> Iterator[Row]:
    """Every ledger row of the issue's sends, in ledger order."""
    result = session.execute(
        select(
            Subscriber.email,
            Delivery.updated_at,
            Delivery.status,
            Delivery.message_id,
            IssueVersion.content_hash,
        )
        .join(Send, Send.id == Delivery.send_id)
        .join(IssueVersion, IssueVersion.id == Send.version_id)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Send.issue_id == issue_id)
        .order_by(Send.id, Delivery.id)
        .execution_options(yield_per=5_000)
    )
    for email, at, status, message_id, content_hash in result:
        yield Row(
            address=email or "",
            time=at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            outcome=str(status),
            message_id=message_id or "",
            version_hash=content_hash,
        )


def export(
    db: Database, clock: Clock, issue_id: int, out: IO[str], *, actor: str, via: str
) -> Export:
    """Write the recipients of issue `issue_id` as CSV to `out`, audited.

    The audit event is written first, in its own transaction: whoever gets the
    addresses is on record even if handing the file over fails afterwards.
    """
    with db.sessions() as session:
        by_outcome = counts(session, issue_id)
    total = sum(by_outcome.values())
    with db.transaction() as session:
        audit.record(
            session,
            actor=actor,
            action="recipients.exported",
            at=clock.now(),
            issue_id=issue_id,
            subject=f"issue:{issue_id}",
            via=via,
            rows=total,
        )
    csv_out = writer(out)
    csv_out.writerow(COLUMNS)
    written = 0
    with db.sessions() as session:
        for row in rows(session, issue_id):
            csv_out.writerow(row)
            written += 1
    return Export(issue_id=issue_id, rows=written, counts=by_outcome)
