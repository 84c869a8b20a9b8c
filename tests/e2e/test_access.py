"""Who may use the bot (TEAM) and who may approve (APPROVERS), when they are
Slack user groups: checked on every request, cached briefly, and Slack's
refusals explained instead of crashing."""

from __future__ import annotations

from bot.standins.slack import APPROVER_1, APPROVERS_GROUP, EDITOR
from handlers.ids import Action, Block
from tests.e2e.helpers import create_issue, request_id_of, request_state, submit


def test_team_as_a_user_group_admits_members_and_refuses_others(harness_factory):
    harness = harness_factory(TEAM=APPROVERS_GROUP)  # only the two approvers are on the team
    harness.approver.command("/newsletter", "list")
    harness.editor.command("/newsletter", "list")
    assert "No issues yet" in harness.wait_for_ephemeral(APPROVER_1)[-1]
    assert "only members of the newsletter team" in harness.wait_for_ephemeral(EDITOR)[-1]


def test_group_membership_is_cached_briefly(harness_factory):
    harness = harness_factory(TEAM=APPROVERS_GROUP)
    for count in (1, 2, 3):
        harness.approver.command("/newsletter", "list")
        harness.wait_for_ephemeral(APPROVER_1, count=count)
    assert len(harness.slack.calls("usergroups.users.list")) == 1


def test_a_free_slack_plan_is_explained_not_crashed_on(harness_factory):
    harness = harness_factory(TEAM=APPROVERS_GROUP)
    harness.slack.plan_paid = False
    response = harness.approver.command("/newsletter", "list")
    assert response.status_code == 200
    text = harness.wait_for_ephemeral(APPROVER_1)[-1]
    assert "paid Slack plan" in text and "user ids" in text


def test_a_slack_error_while_checking_an_approver_is_explained_and_changes_nothing(harness):
    issue_id = create_issue(harness, harness.editor)
    card = submit(harness, harness.editor, issue_id, extra="at 2030-01-01 10:00")
    request_id = request_id_of(harness, card)
    harness.slack.fail_next("usergroups.users.list", "internal_error", times=5)
    harness.approver.click(
        Action.APPROVE, value=str(request_id), block_id=Block.APPROVAL_ACTIONS, channel=card.channel
    )
    text = harness.wait_for_ephemeral(APPROVER_1)[-1]
    assert "internal_error" in text and "try again" in text
    assert request_state(harness, request_id) == "open"
