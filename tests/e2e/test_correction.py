"""A correction to exactly the readers of an earlier issue, end to end:
`/newsletter correct ID` opens the draft form, the saved issue is addressed to
the readers whose message of ID left — less anyone suppressed since, and
nobody else — the card says so, two people approve, and the drift guard
applies to that set."""

from __future__ import annotations

from sqlalchemy import select

from bot import suppressions
from bot.standins.slack import EDITOR
from handlers.ids import Action, Block
from storage.models import AuditEvent, Issue, Send, SuppressionOrigin, SuppressionReason
from tests.e2e.helpers import (
    create_issue,
    current_card,
    latest_issue_id,
    modal_errors,
    open_draft_modal,
    submit,
)
from tests.fixtures.bot import Harness
from tests.fixtures.delivery import (
    FAST,
    add_subscribers,
    halted_part_way,
    ledger_rows,
    running,
    send_state,
    wait_until,
)


def _suppress(harness: Harness, *emails: str) -> None:
    desk = harness.desk
    with desk.db.transaction() as session:
        for email in emails:
            suppressions.add(
                session,
                email=email,
                reason=SuppressionReason.UNSUBSCRIBED,
                origin=SuppressionOrigin.SLACK,
                actor=EDITOR,
                at=desk.clock.now(),
            )


# Enough readers that a halt lands mid-send: with FAST's 3 batches of 50 in flight, the
# halt after the first 60 can still let the next 150 land (300 all went, even on a quiet
# machine).
READERS = 600


def _write_correction(harness: Harness, original: int) -> int:
    view = open_draft_modal(harness, harness.editor, f"correct {original}")
    assert view["title"]["text"] == f"Correction of #{original}"
    subject = view["blocks"][0]["element"]["initial_value"]
    assert subject.startswith("Correction: ")
    response = harness.editor.submit_view(
        view,
        {
            Block.SUBJECT: {Action.VALUE: subject},
            Block.BODY: {Action.VALUE: "{{ subscriber.name }} 様、先ほどの号に誤りがありました。"},
        },
    )
    assert response.status_code == 200 and modal_errors(response) == {}
    return latest_issue_id(harness)


def _received(harness: Harness, send_id: int) -> set[str]:
    return {a for _, status, _, a in ledger_rows(harness.desk, send_id) if status == "sent"}


def _send_of_issue(harness: Harness, issue_id: int) -> int | None:
    with harness.desk.db.sessions() as session:
        return session.execute(select(Send.id).where(Send.issue_id == issue_id)).scalar()


def test_the_correction_reaches_exactly_the_readers_who_got_the_issue(harness: Harness):
    desk = harness.desk
    send_id, original = halted_part_way(desk, harness.postmark, READERS)
    got_it = _received(harness, send_id)
    assert 0 < len(got_it) < READERS
    # Since then: one who got it unsubscribes, and a new reader joins the list.
    gone = sorted(got_it)[0]
    _suppress(harness, gone)
    add_subscribers(desk, 1, start=1000)

    correction = _write_correction(harness, original)
    with desk.db.sessions() as session:
        issue = session.get(Issue, correction)
        assert issue is not None and issue.correction_of == original
        created = session.execute(
            select(AuditEvent).where(
                AuditEvent.action == "issue.created", AuditEvent.issue_id == correction
            )
        ).scalar_one()
        assert created.detail["correction_of"] == original

    expected = got_it - {gone}
    card = submit(harness, harness.editor, correction)
    text = " ".join(b.get("text", {}).get("text", "") for b in card.blocks if b.get("text"))
    assert f"Correction of #{original} to its {len(expected):,} readers" in text
    with running(desk, FAST):
        harness.approver.click(Action.APPROVE, message=current_card(harness, card))
        wait_until(lambda: _send_of_issue(harness, correction) is not None)
        corrected = _send_of_issue(harness, correction)
        assert corrected is not None
        wait_until(lambda: send_state(desk, corrected) == "finished")
    rows = ledger_rows(desk, corrected)
    assert {a for *_, a in rows} == expected  # nobody else: not the new reader, not the rest
    assert all(status == "sent" for _, status, _, _ in rows)
    subjects = {
        m.Subject for m in harness.postmark.messages() if m.Subject.startswith("Correction")
    }
    assert len(subjects) == 1
    reached = {m.To for m in harness.postmark.messages() if m.Subject.startswith("Correction")}
    assert reached == expected


def test_the_drift_guard_refuses_a_correction_whose_readers_changed(harness: Harness):
    desk = harness.desk
    send_id, original = halted_part_way(desk, harness.postmark, READERS)
    got_it = sorted(_received(harness, send_id))
    correction = _write_correction(harness, original)
    card = submit(harness, harness.editor, correction)
    # After the approval was asked for, a tenth of those readers unsubscribe.
    _suppress(harness, *got_it[: max(2, len(got_it) // 10)])
    with running(desk, FAST):  # the approval's listener tries to start the send
        harness.approver.click(Action.APPROVE, message=current_card(harness, card))
        wait_until(lambda: bool(_refusals(harness, correction)))
    # Every attempt to start it (the listener's, the engine's retry) is refused the same way.
    assert {r.detail["code"] for r in _refusals(harness, correction)} == {"audience_drift"}
    assert _send_of_issue(harness, correction) is None
    assert not any(m.Subject.startswith("Correction") for m in harness.postmark.messages())


def _refusals(harness: Harness, issue_id: int) -> list[AuditEvent]:
    with harness.desk.db.sessions() as session:
        return list(
            session.execute(
                select(AuditEvent).where(
                    AuditEvent.action == "send.refused", AuditEvent.issue_id == issue_id
                )
            ).scalars()
        )


def test_no_correction_for_an_issue_nobody_received(harness: Harness):
    harness.editor.command("/newsletter", "correct 42")
    [reply] = harness.wait_for_ephemeral(EDITOR)
    assert "There is no issue #42." in reply
    assert harness.slack.calls("views.open") == []


def test_no_correction_for_an_issue_never_sent(harness: Harness):
    issue_id = create_issue(harness, harness.editor)
    harness.editor.command("/newsletter", f"correct {issue_id}")
    harness.wait_reply(EDITOR, f"Nobody received issue #{issue_id}")
    assert len(harness.slack.calls("views.open")) == 1  # the draft form of the issue itself
