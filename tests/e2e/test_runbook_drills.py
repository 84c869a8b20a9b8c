"""Drills of the runbooks whose steps are a Slack admin's, an operator's or
Postmark's dashboard's rather than the room's page: each test performs the
runbook's steps against the stand-ins (signed Slack requests into the bot, the
Slack and Postmark stand-ins as those consoles, the real `countersign` commands)
and checks the outcome the runbook promises.

- docs/runbooks/team-change: the approvers group changes mid-approval;
- docs/runbooks/rotate-tokens: the Slack and Postmark tokens are rotated;
- docs/runbooks/suppressions-out-of-step: Countersign and Postmark disagree;
- docs/runbooks/migration: a list moves in from the old system.
"""

from __future__ import annotations

import time

from bot.standins.slack import APPROVER_1, APPROVER_2, APPROVERS_GROUP, EDITOR
from handlers.ids import Action, Block
from storage.models import ApprovalRequest, ApprovalState
from tests.e2e.helpers import create_issue, current_card, request_id_of, request_state, submit
from tests.fixtures.bot import Harness
from tests.fixtures.delivery import FAST, add_subscribers, running, send_state, wait_until


def _requests_of(harness: Harness, issue_id: int) -> list[ApprovalRequest]:
    with harness.desk.db.sessions() as session:
        return list(
            session.query(ApprovalRequest)
            .filter(ApprovalRequest.issue_id == issue_id)
            .order_by(ApprovalRequest.id)
        )


def _reply(harness: Harness, user: str, containing: str) -> str:
    """The first reply to `user` that says `containing` (by content, never by count)."""
    return str(
        harness.slack.wait_for(
            lambda: next((r for r in harness.ephemeral_texts(user) if containing in r), None),
            timeout=30,
        )
    )


def test_team_change_an_approver_leaves_mid_approval(harness: Harness):
    """team-change, "Leaves": Taro is taken out of the approvers group while one
    issue waits on its card and another, scheduled, holds his approval."""
    add_subscribers(harness.desk, 30)
    # The directory caches a group for a minute ("effective within minutes"); the
    # test shortens that minute to a second rather than wait it out.
    harness.desk.directory.ttl = 1.0  # type: ignore[attr-defined]
    waiting = create_issue(harness, harness.editor, "12月号", "今月号です。")
    waiting_card = submit(harness, harness.editor, waiting)
    scheduled = create_issue(harness, harness.editor, "号外", "号外です。")
    scheduled_card = submit(harness, harness.editor, scheduled, "at 2026-11-03 10:00")
    harness.approver2.click(Action.APPROVE, message=current_card(harness, scheduled_card))
    taros = request_id_of(harness, scheduled_card)
    harness.slack.wait_for(lambda: request_state(harness, taros) == "approved" or None)

    # 1. The Slack admin removes Taro from the approvers group. No restart.
    harness.slack.usergroups[APPROVERS_GROUP].users = [APPROVER_1]
    time.sleep(1.1)
    harness.approver2.click(Action.APPROVE, message=current_card(harness, waiting_card))
    assert _reply(harness, APPROVER_2, "Only approvers may approve or reject")
    assert request_state(harness, request_id_of(harness, waiting_card)) == ApprovalState.OPEN

    # 2. `/newsletter list`, then what he approved and has not gone yet: submitted
    # again (same time), which voids his approval; a remaining approver decides.
    harness.editor.command("/newsletter", "list")
    listed = _reply(harness, EDITOR, "Issues, newest first")
    assert f"#{scheduled} · *scheduled* · 号外" in listed
    # The list does not say who approved; the card does (and `/newsletter audit ID`).
    assert f"<@{APPROVER_2}>" in str(current_card(harness, scheduled_card).blocks)
    # A scheduled issue cannot simply be submitted again ("it cannot become awaiting
    # approval"); an edit, even one that changes nothing, voids the approval.
    harness.editor.command("/newsletter", f"submit {scheduled} at 2026-11-03 10:00")
    assert _reply(harness, EDITOR, "cannot become awaiting approval")
    before = len(harness.slack.calls("views.open"))
    harness.editor.command("/newsletter", f"edit {scheduled}")
    opened = harness.slack.wait_for(lambda: harness.slack.calls("views.open")[before:] or None)
    view = opened[0].response["view"]
    harness.editor.submit_view(
        view, {Block.SUBJECT: {Action.VALUE: "号外"}, Block.BODY: {Action.VALUE: "号外です。"}}
    )
    harness.slack.wait_for(lambda: request_state(harness, taros) == ApprovalState.VOID or None)
    again = submit(harness, harness.editor, scheduled, "at 2026-11-03 10:00")
    harness.approver.click(Action.APPROVE, message=current_card(harness, again))
    # The waiting one: Alice, still an approver, approves; the send goes.
    harness.approver.click(Action.APPROVE, message=current_card(harness, waiting_card))
    with running(harness.desk, FAST):
        wait_until(
            lambda: request_state(harness, request_id_of(harness, waiting_card)) == "approved"
        )
        wait_until(lambda: _requests_of(harness, waiting)[-1].send_id is not None)
        send_id = _requests_of(harness, waiting)[-1].send_id
        assert send_id is not None
        wait_until(lambda: send_state(harness.desk, send_id) == "finished")
    live = [r for r in _requests_of(harness, scheduled) if r.state == ApprovalState.APPROVED]
    assert [r.decided_by for r in live] == [APPROVER_1]
    # One approver left, and yet an editor's issue went out: "at least two approvers, or
    # nothing can be sent" is not so (the runbook now says what one approver cannot do).
    assert harness.desk.directory.approvers() == frozenset({APPROVER_1})
