"""bot.webhooks: Postmark's Bounce, SpamComplaint and SubscriptionChange webhooks
become suppressions, idempotently; anything malformed is refused and changes
nothing."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot import unsubscribe, webhooks
from bot.clock import FrozenClock
from bot.desk import Desk
from bot.standins.postmark import PostmarkStandIn
from storage.db import Database
from storage.models import PushState, Suppression
from tests.test_unsubscribe import EDITOR, add_subscriber, make_desk, statuses, table_counts


@pytest.fixture
def desk(db: Database, clock: FrozenClock, postmark: PostmarkStandIn) -> Desk:
    return make_desk(db, clock, postmark)


def change(email: str, *, suppress: bool = True, stream: str = "broadcast", **extra: Any) -> Any:
    payload = {
        "RecordType": "SubscriptionChange",
        "MessageID": None,
        "ServerID": 1,
        "MessageStream": stream,
        "ChangedAt": "2026-11-02T01:00:00+00:00",
        "Recipient": email,
        "Origin": "Recipient",
        "SuppressSending": suppress,
        "SuppressionReason": "ManualSuppression" if suppress else None,
        "Tag": "",
        "Metadata": {},
    }
    payload.update(extra)
    return payload


def bounce(email: str, kind: str = "HardBounce", inactive: bool = True) -> Any:
    return {
        "RecordType": "Bounce",
        "ID": 1,
        "Type": kind,
        "TypeCode": 1,
        "MessageID": "m-1",
        "MessageStream": "broadcast",
        "Email": email,
        "Inactive": inactive,
    }


def rows(desk: Desk) -> list[tuple[str | None, str, str, str]]:
    with desk.db.sessions() as session:
        return [
            (r.email, r.reason, r.origin, r.push_state)
            for r in session.execute(select(Suppression).order_by(Suppression.id)).scalars()
        ]


def test_subscription_change_unsubscribes_like_slack_and_is_idempotent(desk: Desk):
    add_subscriber(desk, "hanako@example.jp")
    add_subscriber(desk, "hanako@example.jp", list_name="Seminars")
    assert webhooks.handle(desk, change("Hanako@Example.jp")) == (200, {"ok": True, "new": True})
    assert statuses(desk, "hanako@example.jp") == ["unsubscribed", "unsubscribed"]
    assert rows(desk) == [("hanako@example.jp", "unsubscribed", "postmark_webhook", "not_needed")]
    before = table_counts(desk)
    assert webhooks.handle(desk, change("hanako@example.jp")) == (200, {"ok": True, "new": False})
    assert table_counts(desk) == before


def test_a_hard_bounce_and_a_spam_complaint_deactivate(desk: Desk):
    add_subscriber(desk, "gone@example.jp")
    add_subscriber(desk, "angry@example.jp")
    assert webhooks.handle(desk, bounce("gone@example.jp"))[0] == 200
    complaint = {
        "RecordType": "SpamComplaint",
        "Email": "angry@example.jp",
        "Type": "SpamComplaint",
    }
    assert webhooks.handle(desk, complaint)[0] == 200
    assert statuses(desk, "gone@example.jp") == ["inactive"]
    assert statuses(desk, "angry@example.jp") == ["inactive"]
    assert [r[1] for r in rows(desk)] == ["hard_bounce", "spam_complaint"]


def test_a_soft_bounce_and_other_record_types_change_nothing(desk: Desk):
    add_subscriber(desk, "busy@example.jp")
    before = table_counts(desk)
    for payload in (
        bounce("busy@example.jp", kind="SoftBounce", inactive=False),
        {"RecordType": "Delivery", "Recipient": "busy@example.jp"},
        {"RecordType": "Open"},
        change("busy@example.jp", stream="outbound"),  # manual, another stream
    ):
        status, body = webhooks.handle(desk, payload)
        assert status == 200 and "ignored" in body
    assert table_counts(desk) == before
    assert statuses(desk, "busy@example.jp") == ["active"]


def test_a_hard_bounce_on_the_transactional_stream_is_pushed_to_broadcast(desk: Desk):
    payload = bounce("gone@example.jp") | {"MessageStream": "outbound"}
    assert webhooks.handle(desk, payload)[0] == 200
    assert rows(desk) == [("gone@example.jp", "hard_bounce", "postmark_webhook", "pending")]


def test_postmark_lifting_a_suppression_does_not_resubscribe_but_repushes(
    desk: Desk, postmark: PostmarkStandIn
):
    add_subscriber(desk, "hanako@example.jp")
    unsubscribe.process(desk, unsubscribe.Request(email="hanako@example.jp"), actor=EDITOR)
    assert rows(desk)[0][3] == PushState.PUSHED
    status, body = webhooks.handle(desk, change("hanako@example.jp", suppress=False))
    assert (status, body) == (200, {"ok": True, "repushed": True})
    assert statuses(desk, "hanako@example.jp") == ["unsubscribed"]
    assert rows(desk)[0][3] == PushState.PENDING


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        "SubscriptionChange",
        {},
        {"RecordType": 3},
        {"RecordType": "SubscriptionChange"},
        {"RecordType": "SubscriptionChange", "Recipient": "a@example.jp"},
        {"RecordType": "SubscriptionChange", "Recipient": "a@example.jp", "SuppressSending": "1"},
        {"RecordType": "SubscriptionChange", "Recipient": "nobody", "SuppressSending": True},
        {
            "RecordType": "SubscriptionChange",
            "Recipient": ["a@example.jp"],
            "SuppressSending": True,
        },
        {"RecordType": "Bounce", "Email": "a@example.jp"},
        {"RecordType": "Bounce", "Type": "HardBounce", "Email": "a@example.jp", "Inactive": "yes"},
        {"RecordType": "SpamComplaint", "Email": ""},
        {
            "RecordType": "SubscriptionChange",
            "Recipient": "a@example.jp",
            "SuppressSending": True,
            "MessageStream": 5,
        },
    ],
)
def test_malformed_payloads_are_refused_and_change_nothing(desk: Desk, payload: Any):
    add_subscriber(desk, "a@example.jp")
    before = table_counts(desk)
    status, body = webhooks.handle(desk, payload)
    assert status == 400 and body["error"]
    assert table_counts(desk) == before
    assert statuses(desk, "a@example.jp") == ["active"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)
payloads = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {
            "RecordType": st.sampled_from(["Bounce", "SpamComplaint", "SubscriptionChange", "X"]),
        },
        optional={
            "Recipient": st.one_of(st.text(max_size=30), st.just("r@example.jp"), json_values),
            "Email": st.one_of(st.text(max_size=30), st.just("r@example.jp"), json_values),
            "SuppressSending": st.one_of(st.booleans(), json_values),
            "Type": st.one_of(st.sampled_from(["HardBounce", "SoftBounce"]), json_values),
            "Inactive": st.one_of(st.booleans(), json_values),
            "MessageStream": st.one_of(st.sampled_from(["broadcast", "outbound"]), json_values),
            "SuppressionReason": st.one_of(
                st.sampled_from(["HardBounce", "ManualSuppression", "SpamComplaint"]), json_values
            ),
        },
    ),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=payloads)
def test_any_payload_is_parsed_to_an_event_or_refused(payload: Any):
    """parse() is total: it returns an event or raises Malformed, nothing else;
    and an event names a normalised address."""
    try:
        event = webhooks.parse(payload)
    except webhooks.Malformed:
        return
    if isinstance(event, webhooks.Suppress | webhooks.Reactivated):
        assert event.email == event.email.strip().lower() and "@" in event.email
