"""Wrong input gets an answer that names what was wrong and what works instead,
end to end through signed requests: unknown issues, issues that can no longer
change, times written another way."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from bot.standins.slack import EDITOR
from storage.models import Issue
from tests.e2e.helpers import create_issue
from tests.fixtures.bot import Harness


@pytest.mark.parametrize(
    "text", ["show 999", "edit 999", "status 999", "audit 999", "submit 999", "resume 999"]
)
def test_an_unknown_issue_is_named_with_the_command_that_lists_them(harness: Harness, text: str):
    harness.editor.command("/newsletter", text)
    reply = harness.wait_for_ephemeral(EDITOR)[-1]
    assert reply.startswith("There is no issue #999.")
    assert "`/newsletter list`" in reply
    assert not harness.slack.calls("views.open")  # nothing opened for `edit`


def test_edit_of_a_sent_issue_is_refused_before_the_form_opens(harness: Harness):
    issue_id = create_issue(harness, harness.editor)
    with harness.desk.db.transaction() as session:
        session.execute(update(Issue).where(Issue.id == issue_id).values(state="sent"))
    opened = len(harness.slack.calls("views.open"))
    harness.editor.command("/newsletter", f"edit {issue_id}")
    reply = harness.slack.wait_for(
        lambda: (
            [r for r in harness.ephemeral_texts(EDITOR) if "can no longer be edited" in r] or None
        )
    )[-1]
    assert f"Issue #{issue_id} is sent" in reply and "`/newsletter new`" in reply
    assert len(harness.slack.calls("views.open")) == opened


@pytest.mark.parametrize("when", ["tomorrow", "10:00", "2026/12/01 10:00"])
def test_a_time_written_another_way_is_answered_with_the_accepted_form(harness: Harness, when: str):
    issue_id = create_issue(harness, harness.editor)
    harness.editor.command("/newsletter", f"submit {issue_id} at {when}")
    reply = harness.slack.wait_for(
        lambda: (
            [r for r in harness.ephemeral_texts(EDITOR) if "could not read the time" in r] or None
        )
    )[-1]
    assert "YYYY-MM-DD HH:MM in Asia/Tokyo" in reply and "`at 2026-12-01 10:00`" in reply
    assert "issue number" not in reply
