"""bot.outcomes and the webhooks that feed it: every event the Postmark stand-in
emits for a real send is attributed to its ledger row through the message's
metadata, exactly once; forged, stale or hostile metadata counts nothing."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from io import BytesIO
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy import func, select, update

from bot import delivery, outcomes, report_chart, webhooks
from bot.clock import FrozenClock
from bot.desk import CollectingNotifier, Desk
from bot.standins.postmark import Outcomes, PostmarkStandIn
from storage.db import Database
from storage.models import Delivery, SendEvent
from tests.fixtures.delivery import (
    add_subscribers,
    approved_request,
    assert_exactly_once,
    ledger_rows,
    make_desk,
    running,
    send_state,
    wait_until,
)


def _sent(
    db: Database, postmark: PostmarkStandIn, clock: FrozenClock, count: int
) -> tuple[Desk, int]:
    desk = make_desk(db, postmark.url, clock)
    add_subscribers(desk, count)
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    with running(desk):
        wait_until(lambda: send_state(desk, send_id) == "finished")
    return desk, send_id


def _feed(desk: Desk, postmark: PostmarkStandIn) -> list[tuple[int, dict[str, Any]]]:
    """What the bot answers to every webhook the stand-in emitted (recorded, no URL)."""
    return [webhooks.handle(desk, event.payload) for event in postmark.webhook_events]


def _events(desk: Desk) -> int:
    with desk.db.sessions() as session:
        return int(session.execute(select(func.count(SendEvent.id))).scalar_one())


def test_every_webhook_of_a_send_is_counted_once_against_its_ledger_row(db, postmark, clock):
    postmark.set_outcomes(
        Outcomes(hard_bounce=0.06, soft_bounce=0.03, complaint=0.02, unsubscribe=0.05)
    )
    desk, send_id = _sent(db, postmark, clock, 300)
    assert assert_exactly_once(desk, postmark, send_id) == {"sent": 300}
    answers = _feed(desk, postmark)
    assert all(status == 200 for status, _ in answers)
    [figures] = outcomes.figures(desk, send_id=send_id)
    assert (figures.total, figures.sent, figures.failed, figures.suppressed) == (300, 300, 0, 0)
    # What the stand-in said, by kind, against what the report counts.
    said = Counter(
        (e.record_type, e.payload.get("Type") or e.payload.get("SuppressionReason"))
        for e in postmark.webhook_events
    )
    assert said[("Bounce", "HardBounce")] == figures.hard_bounces == 18
    assert said[("Bounce", "SoftBounce")] == figures.soft_bounces == 9
    assert said[("SubscriptionChange", "SpamComplaint")] == figures.complaints == 6
    assert said[("SubscriptionChange", "ManualSuppression")] == figures.unsubscribes == 15
    assert said[("Delivery", None)] == figures.delivered == 300 - 18 - 9
    assert figures.bounced == 27
    # A hard bounce arrives twice (Bounce, then SubscriptionChange) and counts once.
    assert said[("SubscriptionChange", "HardBounce")] == 18
    # Each counted event names the ledger row whose message it was.
    by_row = {row[0]: row for row in ledger_rows(desk, send_id)}
    with desk.db.sessions() as session:
        for event in session.execute(select(SendEvent)).scalars():
            assert event.send_id == send_id
            assert by_row[event.delivery_id][2] == event.message_id
    # Postmark retries: everything again changes nothing.
    before = _events(desk)
    _feed(desk, postmark)
    assert _events(desk) == before
    assert outcomes.figures(desk, send_id=send_id) == [figures]


def test_metadata_that_names_another_row_or_message_counts_nothing(db, postmark, clock):
    desk, send_id = _sent(db, postmark, clock, 3)
    rows = ledger_rows(desk, send_id)
    (first, _, first_message, _), (second, _, _, _) = rows[0], rows[1]

    def delivered(metadata: Any, message_id: Any = first_message) -> dict[str, Any]:
        return {"RecordType": "Delivery", "MessageID": message_id, "Metadata": metadata}

    forged = [
        delivered({"send_id": str(send_id + 1), "delivery_id": str(first)}),  # another send
        delivered({"send_id": str(send_id), "delivery_id": "999999"}),  # no such row
        delivered({"send_id": str(send_id), "delivery_id": str(second)}),  # another's message
        delivered({"send_id": str(send_id), "delivery_id": f"{first}.0"}),
        delivered({"send_id": str(send_id), "delivery_id": "-1"}),
        delivered({"send_id": str(send_id), "delivery_id": "１"}),  # full-width digit
        delivered({"send_id": True, "delivery_id": True}),
        delivered([str(send_id), str(first)]),
        delivered(None),
        delivered({"send_id": str(send_id), "delivery_id": "9" * 40}),
    ]
    for payload in forged:
        status, body = webhooks.handle(desk, payload)
        assert (status == 200 and "counted" not in body) or body["counted"] is False
    assert _events(desk) == 0
    genuine = delivered({"send_id": str(send_id), "delivery_id": str(first)})
    assert webhooks.handle(desk, genuine) == (200, {"ok": True, "counted": True})
    assert webhooks.handle(desk, genuine) == (200, {"ok": True, "counted": False})
    assert _events(desk) == 1


def test_a_webhook_before_the_batch_is_recorded_still_counts(db, postmark, clock):
    """Postmark can tell of a bounce before the bot has written the batch's answer:
    a row still `batched` (no MessageID known yet) is counted."""
    desk, send_id = _sent(db, postmark, clock, 2)
    delivery_id = ledger_rows(desk, send_id)[0][0]
    with desk.db.transaction() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id)
            .values(status="batched", message_id=None)
        )
    payload = {
        "RecordType": "Bounce",
        "Type": "HardBounce",
        "Email": "reader0@example.com",
        "MessageID": "m-early",
        "MessageStream": "broadcast",
        "Inactive": True,
        "Metadata": {"send_id": str(send_id), "delivery_id": str(delivery_id)},
    }
    assert webhooks.handle(desk, payload) == (200, {"ok": True, "new": True, "counted": True})
    assert outcomes.figures(desk, send_id=send_id)[0].hard_bounces == 1


@given(
    metadata=st.one_of(
        st.none(),
        st.dictionaries(
            st.sampled_from(["send_id", "delivery_id", "batch_id", "x"]),
            st.one_of(st.text(max_size=25), st.integers(), st.floats(), st.booleans(), st.none()),
        ),
        st.lists(st.text(max_size=5)),
        st.text(max_size=10),
    ),
    message_id=st.one_of(st.none(), st.text(max_size=120), st.integers()),
)
def test_attribution_is_total_and_only_ever_names_positive_ids(metadata: Any, message_id: Any):
    found = outcomes.attribution({"Metadata": metadata, "MessageID": message_id})
    if found is None:
        return
    assert found.send_id > 0 and found.delivery_id > 0
    assert str(found.send_id) == str(metadata["send_id"]).strip()
    assert found.message_id is None or (isinstance(found.message_id, str) and found.message_id)


def test_the_timeline_counts_bounces_and_unsubscribes_per_hour(db, postmark, clock):
    postmark.set_outcomes(Outcomes(hard_bounce=0.5))
    desk, send_id = _sent(db, postmark, clock, 4)
    events = postmark.webhook_events
    bounces = [e.payload for e in events if e.record_type == "Bounce"]
    assert len(bounces) == 2
    webhooks.handle(desk, bounces[0])
    clock.advance(timedelta(hours=5, minutes=10))
    webhooks.handle(desk, bounces[1])
    clock.advance(timedelta(hours=50))
    late = {"RecordType": "Delivery", "MessageID": None, "Metadata": bounces[1]["Metadata"]}
    webhooks.handle(desk, late)  # delivered: not on the chart
    timeline = outcomes.timeline(desk, send_id)
    assert timeline is not None
    assert len(timeline.bounces) == len(timeline.unsubscribes) == 48
    assert timeline.bounces[0] == 1 and timeline.bounces[5] == 1 and sum(timeline.bounces) == 2
    assert sum(timeline.unsubscribes) == 0
    png = report_chart.draw(
        timeline, report_chart.ChartLabels("Issue #1", "hours", "count", "bounces", "unsubs")
    )
    assert png.startswith(report_chart.PNG_SIGNATURE)
    with Image.open(BytesIO(png)) as image:
        assert image.size == (800, 320)


def test_the_day_after_report_is_due_once_a_day_after_the_send_finished(db, postmark, clock):
    desk, send_id = _sent(db, postmark, clock, 2)
    notifier = desk.notifier
    assert isinstance(notifier, CollectingNotifier)
    before = len(notifier.notices)
    clock.advance(timedelta(hours=23, minutes=59))
    assert outcomes.post_day_after_reports(desk) == []
    clock.advance(timedelta(minutes=2))
    assert outcomes.post_day_after_reports(desk) == [send_id]
    assert outcomes.post_day_after_reports(desk) == []
    assert [n.kind for n in notifier.notices[before:]] == ["report.day_after"]


@pytest.mark.parametrize("days", [8])
def test_no_day_after_report_for_a_send_long_past(db, postmark, clock, days):
    desk, _ = _sent(db, postmark, clock, 1)
    clock.advance(timedelta(days=days))
    assert outcomes.post_day_after_reports(desk) == []
