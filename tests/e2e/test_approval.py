"""Two-person approval, end to end: every check happens on the server at the
moment of the click, whatever the card shows and however the request is made."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func, select

from bot.standins.slack import APPROVER_1, APPROVER_2, EDITOR, NEWSLETTER_CHANNEL
from handlers.ids import Action, Block
from storage.models import ApprovalRequest, AuditEvent
from tests.e2e.helpers import (
    create_issue,
    current_card,
    draft,
    issue_state,
    request_id_of,
    request_state,
    submit,
)
from tests.fixtures.bot import Harness

LATER = "at 2030-01-01 10:00"  # scheduled far ahead: approval never starts a send here


def approve(harness: Harness, actor, card) -> None:
    actor.click(Action.APPROVE, message=current_card(harness, card))


def click_by_hand(actor, request_id: int, action: str = Action.APPROVE) -> None:
    """A validly signed block_actions payload built by hand, not from the card."""
    actor.click(
        action, value=str(request_id), block_id=Block.APPROVAL_ACTIONS, channel=NEWSLETTER_CHANNEL
    )


def wait_reply(harness: Harness, user: str, containing: str) -> str:
    """The first reply to `user` that says `containing` (see `Harness.wait_reply`)."""
    return harness.wait_reply(user, containing)


def test_card_shows_what_an_approver_needs(harness: Harness):
    issue_id = create_issue(harness, harness.editor, "12月号のお知らせ", "本文")
    card = submit(harness, harness.editor, issue_id, extra=LATER)
    text = "\n".join([card.text or ""] + [str(b) for b in card.blocks])
    with harness.desk.db.sessions() as session:
        request = session.execute(select(ApprovalRequest)).scalar_one()
    assert "12月号のお知らせ" in text
    assert request.content_hash[:12] in text
    assert "Newsletter" in text and "Recipients:* 0" in text
    assert f"<@{EDITOR}>" in text
    assert "2030-01-01 10:00 JST" in text
    actions = {
        e.get("action_id")
        for b in card.blocks
        for e in b.get("elements", [])
        if isinstance(e, dict)
    }
    assert {Action.APPROVE, Action.REJECT} <= actions


def test_approval_by_a_second_person_updates_the_card(harness: Harness):
    issue_id = create_issue(harness, harness.editor)
    card = submit(harness, harness.editor, issue_id, extra=LATER)
    request_id = request_id_of(harness, card)
    approve(harness, harness.approver, card)
    harness.slack.wait_for(lambda: request_state(harness, request_id) == "approved")
    updated = harness.slack.wait_for(
        lambda: (
            current_card(harness, card)
            if "Approved by" in str(current_card(harness, card).blocks)
            else None
        )
    )
    assert f"<@{APPROVER_1}>" in str(updated.blocks)
    buttons = [
        e
        for b in updated.blocks
        for e in b.get("elements", [])
        if isinstance(e, dict) and e.get("action_id") == Action.APPROVE
    ]
    assert buttons == []


def test_self_approval_is_refused_even_for_an_approver(harness: Harness):
    issue_id = create_issue(harness, harness.editor)
    card = submit(harness, harness.approver, issue_id, extra=LATER)  # an approver asks …
    approve(harness, harness.approver, card)  # … and tries to approve their own request
    assert "someone else must approve" in wait_reply(
        harness, APPROVER_1, "someone else must approve"
    )
    assert request_state(harness, request_id_of(harness, card)) == "open"


def test_self_approval_by_a_hand_crafted_click_is_refused(harness: Harness):
    issue_id = create_issue(harness, harness.approver)
    card = submit(harness, harness.approver2, issue_id, extra=LATER)
    request_id = request_id_of(harness, card)
    click_by_hand(harness.approver2, request_id)
    assert "someone else must approve" in wait_reply(
        harness, APPROVER_2, "someone else must approve"
    )
    assert request_state(harness, request_id) == "open"


def test_non_approver_is_refused(harness: Harness):
    issue_id = create_issue(harness, harness.approver)
    card = submit(harness, harness.approver, issue_id, extra=LATER)
    approve(harness, harness.editor, card)  # on the team, not an approver
    wait_reply(harness, EDITOR, "Only approvers")
    assert request_state(harness, request_id_of(harness, card)) == "open"


def test_author_of_the_version_is_refused_even_if_someone_else_submitted(harness: Harness):
    issue_id = create_issue(harness, harness.approver)  # approver 1 writes it
    card = submit(harness, harness.approver2, issue_id, extra=LATER)  # approver 2 asks
    approve(harness, harness.approver, card)  # the author may not approve
    wait_reply(harness, APPROVER_1, "You wrote version 1")
    assert request_state(harness, request_id_of(harness, card)) == "open"


def test_editing_after_approval_voids_it(harness: Harness):
    issue_id = create_issue(harness, harness.editor)
    card = submit(harness, harness.editor, issue_id, extra=LATER)
    request_id = request_id_of(harness, card)
    approve(harness, harness.approver, card)
    harness.slack.wait_for(lambda: request_state(harness, request_id) == "approved")
    assert issue_state(harness, issue_id) == "scheduled"
    draft(harness, harness.editor, "改訂", "直しました", issue_id=issue_id)
    assert request_state(harness, request_id) == "void"
    assert issue_state(harness, issue_id) == "draft"
    harness.slack.wait_for(lambda: "Void" in str(current_card(harness, card).blocks))


def test_expired_request_is_refused_without_any_sweep(harness: Harness):
    issue_id = create_issue(harness, harness.editor)
    card = submit(harness, harness.editor, issue_id, extra=LATER)
    harness.clock.advance(timedelta(hours=24, seconds=1))
    approve(harness, harness.approver, card)
    wait_reply(harness, APPROVER_1, "expired")
    assert request_state(harness, request_id_of(harness, card)) == "open"  # nothing changed
    assert issue_state(harness, issue_id) == "awaiting_approval"


def test_stale_card_cannot_approve_after_resubmission(harness: Harness):
    issue_id = create_issue(harness, harness.editor)
    old = submit(harness, harness.editor, issue_id, extra=LATER)
    new = submit(harness, harness.editor, issue_id, extra=LATER)
    old_id, new_id = request_id_of(harness, old), request_id_of(harness, new)
    assert old_id != new_id
    click_by_hand(harness.approver, old_id)
    wait_reply(harness, APPROVER_1, "already void")
    assert request_state(harness, new_id) == "open" and request_state(harness, old_id) == "void"


def test_reject_with_a_reason_through_the_modal(harness: Harness):
    issue_id = create_issue(harness, harness.editor)
    card = submit(harness, harness.editor, issue_id, extra=LATER)
    harness.approver.click(Action.REJECT, message=current_card(harness, card))
    view = harness.slack.wait_for(lambda: harness.slack.open_views(APPROVER_1))[-1]
    harness.approver.submit_view(view, {Block.REASON: {Action.VALUE: "件名に誤字があります"}})
    request_id = request_id_of(harness, card)
    harness.slack.wait_for(lambda: request_state(harness, request_id) == "rejected")
    assert issue_state(harness, issue_id) == "rejected"
    harness.slack.wait_for(
        lambda: "件名に誤字があります" in str(current_card(harness, card).blocks)
    )


def test_non_approver_cannot_reject(harness: Harness):
    issue_id = create_issue(harness, harness.approver)
    card = submit(harness, harness.approver, issue_id, extra=LATER)
    click_by_hand(harness.editor, request_id_of(harness, card), Action.REJECT)
    wait_reply(harness, EDITOR, "Only approvers")
    assert harness.slack.open_views(EDITOR) == []
    assert request_state(harness, request_id_of(harness, card)) == "open"


def test_cancel_withdraws_the_request(harness: Harness):
    issue_id = create_issue(harness, harness.editor)
    card = submit(harness, harness.editor, issue_id, extra=LATER)
    harness.editor.command("/newsletter", f"cancel {issue_id}")
    harness.slack.wait_for(lambda: issue_state(harness, issue_id) == "cancelled")
    assert request_state(harness, request_id_of(harness, card)) == "cancelled"
    click_by_hand(harness.approver, request_id_of(harness, card))
    wait_reply(harness, APPROVER_1, "already cancelled")


def test_blocking_preflight_stops_submit_unless_overridden_in_red(harness: Harness):
    issue_id = create_issue(harness, harness.editor, "12月号", "お問い合わせは 03-1234-5678 まで")
    harness.editor.command("/newsletter", f"submit {issue_id}")
    wait_reply(harness, EDITOR, "blocking problems")
    assert issue_state(harness, issue_id) == "draft"
    card = submit(
        harness, harness.editor, issue_id, extra=f'{LATER} override "代表番号なので掲載します"'
    )
    assert ":red_circle:" in str(card.blocks) and "代表番号なので掲載します" in str(card.blocks)
    assert "03-1234-5678" not in str(card.blocks)  # the card is public: no personal data
    with harness.desk.db.sessions() as session:
        overridden = session.execute(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "preflight.overridden")
        ).scalar_one()
    assert overridden == 1


def test_two_simultaneous_approvals_produce_exactly_one(harness: Harness):
    issue_id = create_issue(harness, harness.editor)
    card = submit(harness, harness.editor, issue_id, extra=LATER)
    request_id = request_id_of(harness, card)
    message = current_card(harness, card)
    actors = (harness.approver, harness.approver2, harness.approver, harness.approver2)
    barrier = threading.Barrier(len(actors))

    def click(actor) -> None:
        barrier.wait()
        actor.click(Action.APPROVE, message=message)

    threads = [threading.Thread(target=click, args=(a,)) for a in actors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Exactly three of the four clicks are told the request was already approved.
    harness.slack.wait_for(
        lambda: (
            len(harness.slack.ephemeral_messages(APPROVER_1))
            + len(harness.slack.ephemeral_messages(APPROVER_2))
            >= 3
        )
    )
    with harness.desk.db.sessions() as session:
        approvals = session.execute(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "approval.approved")
        ).scalar_one()
    assert approvals == 1
    assert request_state(harness, request_id) == "approved"
    assert issue_state(harness, issue_id) == "scheduled"


def test_audit_trail_is_ephemeral_and_newest_first(harness: Harness):
    issue_id = create_issue(harness, harness.editor)
    submit(harness, harness.editor, issue_id, extra=LATER)
    harness.editor.command("/newsletter", f"audit {issue_id}")
    asked, created = f"asked for approval of issue #{issue_id}", f"created issue #{issue_id}"
    text = wait_reply(harness, EDITOR, created)
    assert text.index(asked) < text.index(created)
    assert all(asked not in t and created not in t for t in harness.channel_texts())
