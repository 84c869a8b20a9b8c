"""`/newsletter audit` reads as sentences, pages with an "Older" button, and cuts
nothing — end to end through signed requests."""

from __future__ import annotations

import re

from bot import issues
from bot.standins.slack import APPROVER_1, EDITOR
from handlers.audit_view import PAGE
from handlers.ids import Action
from tests.e2e.helpers import create_issue, current_card, submit
from tests.fixtures.bot import Harness

LATER = "at 2030-01-01 10:00"


def _last_ephemeral(harness: Harness, user: str, count: int):
    harness.slack.wait_for(lambda: len(harness.slack.ephemeral_messages(user)) >= count)
    return harness.slack.ephemeral_messages(user)[-1]


def _texts(message) -> list[str]:
    out = []
    for block in message.blocks or []:
        if block.get("type") == "section":
            out.append(block["text"]["text"])
        elif block.get("type") == "context":
            out += [e["text"] for e in block["elements"]]
    return out


def test_the_audit_of_an_issue_reads_as_sentences(harness: Harness):
    issue_id = create_issue(harness, harness.editor, "12月号", "本文")
    card = submit(harness, harness.editor, issue_id, extra=LATER)
    harness.approver.click(Action.APPROVE, message=current_card(harness, card))
    harness.slack.wait_for(lambda: any("Approved by" in t for t in harness.channel_texts()) or None)
    before = len(harness.slack.ephemeral_messages(EDITOR))
    harness.editor.command("/newsletter", f"audit {issue_id}")
    message = _last_ephemeral(harness, EDITOR, before + 1)
    text = "\n".join(_texts(message))
    assert f"<@{APPROVER_1}> approved issue #{issue_id} (version 1, hash `" in text
    assert f"<@{EDITOR}> created issue #{issue_id} (version 1" in text
    assert "awaiting approval" in text  # states by name, not stored value
    # No developer log: no raw event names, no full hashes, no key=value, no bot mention.
    assert not re.search(r"[0-9a-f]{64}", text)
    assert "approval.approved" not in text and "=" not in text
    assert "<@countersign>" not in text
    assert any("whole trail" in t for t in _texts(message))


def test_a_long_trail_pages_with_an_older_button_and_loses_nothing(harness: Harness):
    issue_id = create_issue(harness, harness.editor, "v1", "本文 1")
    for number in range(2, PAGE + 6):
        issues.save_version(
            harness.desk, issue_id, actor=EDITOR, subject=f"v{number}", body=f"本文 {number}"
        )
    count = len(harness.slack.ephemeral_messages(EDITOR))
    harness.editor.command("/newsletter", f"audit {issue_id}")
    first = _last_ephemeral(harness, EDITOR, count + 1)
    sentences = [t for t in _texts(first) if "issue #" in t]
    assert len(sentences) == PAGE
    assert f"now version {PAGE + 5}" in sentences[0]  # newest first
    older = [
        e
        for b in first.blocks
        if b.get("type") == "actions"
        for e in b["elements"]
        if e["action_id"] == Action.AUDIT_OLDER
    ]
    assert len(older) == 1
    count = len(harness.slack.ephemeral_messages(EDITOR))
    harness.editor.click(Action.AUDIT_OLDER, message=first)
    second = _last_ephemeral(harness, EDITOR, count + 1)
    rest = [t for t in _texts(second) if "issue #" in t]
    # Every version's edit appears exactly once across the pages, and creation last.
    everything = sentences + rest
    for number in range(2, PAGE + 6):
        assert sum(f"now version {number} " in t for t in everything) == 1, number
    assert f"created issue #{issue_id}" in rest[-1]
    assert any("whole trail" in t for t in _texts(second))
