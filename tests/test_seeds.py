"""Seed copies (SEED_ADDRESSES, bot.seeds) through the delivery engine and the
Postmark stand-in, on the real database: they go first, through the broadcast
stream, with every transport; they count for nothing (audience, canary,
report); a seed that unsubscribed or is a reader is skipped; each send
records them; they go at most once per send across restarts, two engines, a
halt and a resume; a failed request is recorded and the send goes on."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot import approvals, audit, canary, delivery, outcomes, seeds, suppressions, webhooks
from bot.standins.postmark import PostmarkStandIn, StoredMessage
from storage.models import (
    AuditEvent,
    Send,
    SendStage,
    SuppressionOrigin,
    SuppressionReason,
)
from tests.fixtures.delivery import (
    add_subscribers,
    approved_request,
    assert_exactly_once,
    make_desk,
    running,
    send_state,
    wait_until,
)
from tests.fixtures.desk import APPROVER, EDITOR
from tests.fixtures.postmark import SEND_ENDPOINTS

SEEDS = "Team@Example.com, desk@example.com"
CANARY = {"CANARY_PERCENT": 10, "CANARY_HOLD_MINUTES": 30}


@pytest.fixture(autouse=True)
def _quick_bulk(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.transports.bulk import BulkChannel

    monkeypatch.setattr(BulkChannel, "poll_seconds", 0.05)
    monkeypatch.setattr(BulkChannel, "settle_seconds", 0.2)
    monkeypatch.setattr(BulkChannel, "quiet_seconds", 0.5)


def _seed_copies(postmark: PostmarkStandIn) -> list[StoredMessage]:
    return [
        m for m in postmark.messages(stream="broadcast") if (m.Metadata or {}).get("copy") == "seed"
    ]


def _recorded(desk: Any, send_id: int) -> list[dict[str, Any]]:
    """The audit's `send.seed_copies` events of the send (their details)."""
    with desk.db.sessions() as session:
        events = session.execute(
            select(AuditEvent).where(
                AuditEvent.action == "send.seed_copies", AuditEvent.subject == f"send:{send_id}"
            )
        ).scalars()
        found = list(events)
        assert all(e.actor == audit.SYSTEM for e in found)
        return [dict(e.detail) for e in found]


def _stage(desk: Any, send_id: int) -> str:
    with desk.db.sessions() as session:
        send = session.get(Send, send_id)
        assert send is not None
        return send.stage


def _started(db: Any, postmark: PostmarkStandIn, clock: Any, readers: int, **settings: Any):  # type: ignore[no-untyped-def]
    desk = make_desk(db, postmark.url, clock, **settings)
    add_subscribers(desk, readers)
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    return desk, send_id


@pytest.mark.parametrize("transport", ["batch", "templates", "bulk"])
def test_seed_copies_go_first_through_the_broadcast_stream_and_count_for_nothing(
    db, postmark, clock, transport
):
    desk, send_id = _started(
        db, postmark, clock, 100, SEED_ADDRESSES=SEEDS, POSTMARK_TRANSPORT=transport, **CANARY
    )
    with running(desk):
        wait_until(lambda: _stage(desk, send_id) == SendStage.HOLD)
        stored = postmark.messages(stream="broadcast")
        # The two seed copies first, then the canary (10 of the 100 readers), nothing else.
        assert [m.Recipients for m in stored[:2]] == [("team@example.com",), ("desk@example.com",)]
        assert len(stored) == 12
        assert all((m.Metadata or {}).get("copy") != "seed" for m in stored[2:])
        reader = stored[2]
        for copy in stored[:2]:
            assert copy.MessageStream == "broadcast"
            assert copy.Metadata == {
                "send_id": str(send_id),
                "batch_id": str(-send_id),
                "delivery_id": copy.Metadata["delivery_id"],  # type: ignore[index]
                "copy": "seed",
            }
            assert int(copy.Metadata["delivery_id"]) < 0  # type: ignore[index]
            # The readers' own message, rendered for nobody in particular.
            assert copy.Subject == reader.Subject == "Monthly news"
            assert "Hello  of ." in (copy.TextBody or "")
            assert "Reader" not in (copy.TextBody or "") + (copy.HtmlBody or "")
        with desk.db.sessions() as session:
            send = session.get(Send, send_id)
            assert send is not None and (send.total, send.canary_size) == (100, 10)
        canary.release_now(desk, send_id, actor=APPROVER)
        wait_until(lambda: send_state(desk, send_id) == "finished", timeout=60)
    assert assert_exactly_once(desk, postmark, send_id) == {"sent": 100}
    assert sorted(m.Recipients[0] for m in _seed_copies(postmark)) == [
        "desk@example.com",
        "team@example.com",
    ]
    [recorded] = _recorded(desk, send_id)
    assert (recorded["seeds"], recorded["sent"], recorded["skipped"], recorded["failed"]) == (
        2,
        2,
        0,
        0,
    )
    ids = {m.MessageID for m in _seed_copies(postmark)}
    assert {c["message_id"] for c in recorded["copies"]} == ids
    assert all(c["to"].startswith("addr:") and "@" not in c["to"] for c in recorded["copies"])
    [figures] = outcomes.figures(desk, send_id=send_id)
    assert (figures.total, figures.sent) == (100, 100)
    kinds = desk.notifier.kinds()  # type: ignore[attr-defined]
    assert kinds.index("send.seed_copies") < kinds.index("send.canary_hold")
    notice = next(n for n in desk.notifier.notices if n.kind == "send.seed_copies")  # type: ignore[attr-defined]
    assert notice.params == {"seeds": 2, "sent": 2, "skipped": 0, "failed": 0}


def test_a_seed_that_unsubscribed_or_is_a_reader_is_skipped(db, postmark, clock):
    desk = make_desk(
        db,
        postmark.url,
        clock,
        SEED_ADDRESSES="reader3@example.com, gone@example.com, team@example.com",
    )
    add_subscribers(desk, 20)
    with desk.db.transaction() as session:
        suppressions.add(
            session,
            email="gone@example.com",
            reason=SuppressionReason.UNSUBSCRIBED,
            origin=SuppressionOrigin.SLACK,
            actor=EDITOR,
            at=clock.now(),
        )
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    with running(desk):
        wait_until(lambda: send_state(desk, send_id) == "finished")
    assert assert_exactly_once(desk, postmark, send_id) == {"sent": 20}
    # The reader got the issue once, as a reader; the unsubscribed seed not at all.
    [as_reader] = postmark.messages_to("reader3@example.com")
    assert (as_reader.Metadata or {}).get("copy") != "seed"
    assert postmark.messages_to("gone@example.com") == []
    assert [m.Recipients[0] for m in _seed_copies(postmark)] == ["team@example.com"]
    [recorded] = _recorded(desk, send_id)
    assert [c["outcome"] for c in recorded["copies"]] == ["in_audience", "suppressed", "sent"]
    assert (recorded["sent"], recorded["skipped"], recorded["failed"]) == (1, 2, 0)


def test_webhooks_about_seed_copies_count_for_nothing(db, postmark, clock):
    desk, send_id = _started(db, postmark, clock, 100, SEED_ADDRESSES=SEEDS, **CANARY)
    with running(desk):
        wait_until(lambda: _stage(desk, send_id) == SendStage.HOLD)
        # Both seed copies bounce and one complains: 2 of a 10-reader canary would be
        # 20 % (the limit is 5 %), so counted they would halt the send.
        events = [postmark.trigger_bounce(m.MessageID) for m in _seed_copies(postmark)]
        for event in events:
            webhooks.handle(desk, event.payload)
        for event in list(postmark.webhook_events):
            webhooks.handle(desk, event.payload)
        time.sleep(0.3)
        assert send_state(desk, send_id) == "sending"
        with desk.db.sessions() as session:
            assert canary.health(session, send_id).bounced == 0
            assert outcomes.event_counts(session, send_id) == dict.fromkeys(
                outcomes.event_counts(session, send_id), 0
            )
        clock.advance(timedelta(minutes=31))
        wait_until(lambda: send_state(desk, send_id) == "finished", timeout=60)
    [figures] = outcomes.figures(desk, send_id=send_id)
    assert (figures.bounced, figures.sent, figures.total) == (0, 100, 100)
    # A bounced address is suppressed (it is one, wherever it came from).
    with desk.db.sessions() as session:
        assert suppressions.is_suppressed(session, "team@example.com", "Newsletter")


def test_seed_copies_go_once_per_send_across_two_engines_a_halt_a_resume_and_a_restart(
    db, postmark, clock
):
    desk, send_id = _started(db, postmark, clock, 120, SEED_ADDRESSES=SEEDS, **CANARY)
    other = make_desk(db, postmark.url, clock, SEED_ADDRESSES=SEEDS, **CANARY)
    with running(desk), running(other):
        wait_until(lambda: _stage(desk, send_id) == SendStage.HOLD)
        halted = delivery.halt_all(desk, actor=EDITOR)
        assert halted.send_ids == [send_id]
    with desk.db.sessions() as session:
        send = session.get(Send, send_id)
        assert send is not None
        issue_id = send.issue_id
    card = approvals.request_resume(desk, issue_id, actor=EDITOR)
    approvals.approve(desk, card.request_id, actor=APPROVER)
    assert delivery.resume_approved(desk, card.request_id) == send_id
    again = make_desk(db, postmark.url, clock, SEED_ADDRESSES=SEEDS, **CANARY)
    with running(again):
        wait_until(lambda: send_state(again, send_id) == "finished", timeout=60)
    assert assert_exactly_once(again, postmark, send_id) == {"sent": 120}
    assert sorted(m.Recipients[0] for m in _seed_copies(postmark)) == [
        "desk@example.com",
        "team@example.com",
    ]
    assert len(_recorded(again, send_id)) == 1
    # And a second send of the same team gets its own seed copies, once.
    second = delivery.start_approved(again, approved_request(again, subject="Next month"))
    assert second is not None
    with running(again):
        wait_until(lambda: _stage(again, second) == SendStage.HOLD)
    assert len(_seed_copies(postmark)) == 4
    assert len(_recorded(again, second)) == 1


@pytest.mark.parametrize(
    ("fault", "outcome", "stored"),
    [("429", "not_sent", 0), ("500", "unknown", 0), ("reply_lost", "unknown", 2)],
)
def test_a_failed_seed_request_is_recorded_never_repeated_and_the_send_goes_on(
    db, postmark, clock, fault, outcome, stored
):
    desk, send_id = _started(db, postmark, clock, 60, SEED_ADDRESSES=SEEDS)
    # The first request to the batch endpoint (the tests' transport) is the seed copies'.
    postmark.faults.script([fault], endpoint=SEND_ENDPOINTS["batch"])
    with running(desk):
        wait_until(lambda: send_state(desk, send_id) == "finished", timeout=60)
    assert assert_exactly_once(desk, postmark, send_id) == {"sent": 60}
    assert len(_seed_copies(postmark)) == stored  # what Postmark took, once; never again
    [recorded] = _recorded(desk, send_id)
    assert [c["outcome"] for c in recorded["copies"]] == [outcome, outcome]
    assert (recorded["sent"], recorded["failed"]) == (0, 2)
    assert all(c["error"] for c in recorded["copies"])


def test_a_seed_postmark_has_as_inactive_is_recorded_as_such(db, postmark, clock):
    desk, send_id = _started(db, postmark, clock, 30, SEED_ADDRESSES=SEEDS)
    # After the start's sync: Postmark knows it, Countersign does not yet.
    postmark.suppress("desk@example.com", stream="broadcast", reason="HardBounce")
    with running(desk):
        wait_until(lambda: send_state(desk, send_id) == "finished")
    [recorded] = _recorded(desk, send_id)
    assert [c["outcome"] for c in recorded["copies"]] == ["sent", "inactive"]
    assert "[406]" in recorded["copies"][1]["error"]
    assert assert_exactly_once(desk, postmark, send_id) == {"sent": 30}


def test_no_seed_addresses_no_seed_copies(db, postmark, clock):
    desk, send_id = _started(db, postmark, clock, 10)
    with running(desk):
        wait_until(lambda: send_state(desk, send_id) == "finished")
    assert _seed_copies(postmark) == []
    assert _recorded(desk, send_id) == []
    assert "send.seed_copies" not in desk.notifier.kinds()  # type: ignore[attr-defined]


def test_seed_metadata_is_attributed_to_no_ledger_row():
    for index in range(seeds_limit()):
        metadata = json.loads(seeds.metadata(7, index))
        assert outcomes.attribution({"Metadata": metadata, "MessageID": "x"}) is None
        # Within Postmark's Metadata limits (10 fields, names <= 20, values <= 80).
        assert len(metadata) <= 10 and all(
            len(k) <= 20 and len(v) <= 80 for k, v in metadata.items()
        )


def seeds_limit() -> int:
    from bot.settings import MAX_SEEDS

    return MAX_SEEDS
