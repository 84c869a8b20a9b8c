"""Helpers for the delivery engine's tests (no tests here): a desk built
directly on the real database and the Postmark stand-in, subscribers in bulk,
an approved issue, a running engine, and the exactly-once check of the
stand-in's store against the ledger."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import insert, select

from bot import approvals, issues
from bot.clock import Clock
from bot.delivery_engine import Engine, EngineOptions
from bot.desk import Desk
from bot.standins.postmark import PostmarkStandIn
from bot.subscribers import get_or_create_list
from storage.db import Database
from storage.models import Delivery, DeliveryStatus, Subscriber
from tests.fixtures.desk import APPROVER, EDITOR, build_desk

FAST = EngineOptions(
    batch_size=50,
    in_flight=3,
    settle_seconds=0.3,
    backoff_initial=0.02,
    backoff_max=0.2,
    poll_seconds=0.05,
    progress_seconds=0.2,
    start_retry_seconds=0.5,
)


def make_desk(
    db: Database,
    postmark_url: str,
    clock: Clock,
    *,
    read_timeout: float = 1.0,
    **overrides: Any,
) -> Desk:
    return build_desk(
        db,
        clock,
        read_timeout=read_timeout,
        DATABASE_URL=db.engine.url.render_as_string(False),
        POSTMARK_API_URL=postmark_url,
        **overrides,
    )


def add_subscribers(
    desk: Desk,
    count: int,
    *,
    list_name: str = "Newsletter",
    start: int = 0,
    names: Callable[[int], tuple[str, str]] | None = None,
    emails: Callable[[int], str] | None = None,
) -> None:
    now = desk.clock.now()
    with desk.db.transaction() as session:
        mailing_list = get_or_create_list(session, list_name, now)
        rows = []
        for i in range(start, start + count):
            name, company = names(i) if names else (f"Reader {i}", f"Company {i % 7}")
            rows.append(
                {
                    "list_id": mailing_list.id,
                    "email": emails(i) if emails else f"reader{i}@example.com",
                    "name": name,
                    "company": company,
                    "status": "active",
                    "created_at": now,
                    "updated_at": now,
                }
            )
        if rows:
            session.execute(insert(Subscriber), rows)


BODY = (
    "Hello {{ subscriber.name }} of {{ subscriber.company }}.\n\n"
    "This month: news ({{ issue_date }})."
)


def approved_request(
    desk: Desk, *, subject: str = "Monthly news", body: str = BODY, approver: str = APPROVER
) -> int:
    """An issue written by EDITOR, submitted, and approved by `approver`; the
    request id (no listener is registered unless the test did)."""
    saved = issues.create(desk, actor=EDITOR, subject=subject, body=body)
    card = approvals.submit(desk, saved.issue_id, actor=EDITOR)
    approvals.approve(desk, card.request_id, actor=approver)
    return card.request_id


@contextmanager
def running(desk: Desk, options: EngineOptions = FAST) -> Iterator[Engine]:
    engine = Engine(desk, options)
    engine.start()
    try:
        yield engine
    finally:
        engine.stop(timeout=20)


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0, step: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise AssertionError("condition not reached in time")


def send_state(desk: Desk, send_id: int) -> str:
    from storage.models import Send

    with desk.db.sessions() as session:
        send = session.get(Send, send_id)
        assert send is not None
        return send.state


def ledger_rows(desk: Desk, send_id: int) -> list[tuple[int, str, str | None, str]]:
    """(delivery id, status, message id, address) of every row of a send."""
    with desk.db.sessions() as session:
        return [
            (int(r[0]), str(r[1]), r[2], str(r[3]))
            for r in session.execute(
                select(Delivery.id, Delivery.status, Delivery.message_id, Subscriber.email)
                .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
                .where(Delivery.send_id == send_id)
                .order_by(Delivery.id)
            ).all()
        ]


def assert_exactly_once(
    desk: Desk, postmark: PostmarkStandIn, send_id: int, *, allow_open: bool = False
) -> dict[str, int]:
    """The stand-in's store against the ledger: no recipient twice, every sent
    row's message present under its MessageID and address, nothing lost."""
    stored = postmark.messages(stream="broadcast")
    per_address = Counter(m.Recipients[0] for m in stored if m.Recipients)
    twice = [a for a, n in per_address.items() if n > 1]
    assert not twice, f"{len(twice)} recipients got two copies"
    by_id = {m.MessageID: m for m in stored}
    rows = ledger_rows(desk, send_id)
    statuses = Counter(status for _, status, _, _ in rows)
    sent_addresses = set()
    for delivery_id, status, message_id, email in rows:
        if status == DeliveryStatus.SENT:
            assert message_id in by_id, f"delivery {delivery_id} has no stored message"
            message = by_id[message_id]
            assert message.Recipients == (email.lower(),)
            assert message.Metadata is not None
            assert message.Metadata["delivery_id"] == str(delivery_id)
            sent_addresses.add(email.lower())
    mine = {m.Recipients[0] for m in stored if (m.Metadata or {}).get("send_id") == str(send_id)}
    assert mine == sent_addresses, "the store and the ledger disagree on who got it"
    if not allow_open:
        assert statuses[DeliveryStatus.PENDING] == 0 and statuses[DeliveryStatus.BATCHED] == 0
    assert statuses[DeliveryStatus.UNKNOWN] == 0
    return dict(statuses)
