"""The incident's own tools in Slack: who got an issue, and a correction to exactly them.

`/newsletter recipients ID` (approvers only): counts by outcome as an ephemeral
reply, and the CSV of every recipient (address, time, outcome, Postmark
MessageID, version hash) uploaded into the asker's direct messages with the
bot — a file only they can open, never in a channel (invariant 9). The export
is audited before the file leaves (`bot.recipients.export`).

`/newsletter correct ID` (anyone on the team): the draft form for a new issue
addressed to exactly the readers who received issue ID, less anyone suppressed
since (`bot.audience`); it goes through preflight and two people like any issue.
"""

from __future__ import annotations

import io

from slack_bolt import App

from bot import issues, recipients
from bot.desk import Desk
from bot.refusal import Refusal
from handlers import blocks
from handlers.mrkdwn import plain
from handlers.newsletter import Invocation, subcommand
from handlers.texts import state_name, t


def register(app: App, desk: Desk) -> None:
    """Nothing to wire beyond the subcommands below (registered on import)."""


def _count(n: int) -> str:
    return f"{n:,}"


@subcommand("recipients")
def recipients_(inv: Invocation) -> None:
    issue_id = inv.parsed.issue_id
    assert issue_id is not None
    if not inv.desk.directory.is_approver(inv.user):
        raise Refusal("recipients_approvers_only", issue=issue_id)
    out = io.StringIO()
    done = recipients.export(
        inv.desk.db, inv.desk.clock, issue_id, out, actor=inv.user, via="slack"
    )
    rows = _count(done.rows)
    # utf-8-sig: Excel (Japanese Windows included) opens it as UTF-8 with the mark.
    inv.client.files_upload_v2(
        channels=[inv.user],
        content=out.getvalue().encode("utf-8-sig"),
        filename=f"recipients-issue-{issue_id}.csv",
        title=plain(t("recipients.file_title", issue=issue_id)),
        initial_comment=t("recipients.file_comment", issue=issue_id, rows=rows),
    )
    lines = [
        t("recipients.outcome", outcome=state_name(outcome), count=_count(n))
        for outcome, n in sorted(done.counts.items(), key=lambda item: -item[1])
    ]
    inv.reply(blocks.lines([t("recipients.summary", issue=issue_id, rows=rows), *lines]))


@subcommand("correct")
def correct(inv: Invocation) -> None:
    issue_id = inv.parsed.issue_id
    assert issue_id is not None
    with inv.desk.db.sessions() as session:
        original = issues.correction_of(session, issue_id)
    inv.open_draft(
        blocks.draft_modal(
            correction_of=original.issue_id,
            # A form field holds plain text: the sentence as typed, not escaped.
            subject=plain(t("correct.subject", subject=original.subject))[:250],
        )
    )
