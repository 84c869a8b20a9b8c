"""Who got what, end to end: `/newsletter recipients ID` through signed Slack
requests, the CSV uploaded into the asker's DM through files_upload_v2 (the
Slack stand-in's upload steps), approvers only, audited, no address in any
channel; and `countersign sends export ID`, the same rows on standard output."""

from __future__ import annotations

import csv
import io
import re

from sqlalchemy import select

from bot import recipients
from bot.standins.slack import APPROVER_1, EDITOR, NEWSLETTER_CHANNEL
from storage.models import AuditEvent, IssueVersion, Send
from tests.fixtures.bot import Harness, _text_of
from tests.fixtures.delivery import halted_part_way, ledger_rows

ADDRESS = re.compile(r"[\w.+=-]+@[\w-]+\.[\w.]+")
FORMULA = "=HYPERLINK(1)@example.com"  # a valid address (RFC 5322 atext has =, +)


def _emails(i: int) -> str:
    return FORMULA if i == 0 else f"reader{i}@example.com"


def _send_of(harness: Harness, request_id: int) -> tuple[int, int]:
    with harness.desk.db.sessions() as session:
        send = session.execute(select(Send).where(Send.approval_id == request_id)).scalar_one()
        return send.id, send.issue_id


def _exports(harness: Harness) -> list[AuditEvent]:
    with harness.desk.db.sessions() as session:
        return list(
            session.execute(
                select(AuditEvent).where(AuditEvent.action == "recipients.exported")
            ).scalars()
        )


def test_an_approver_gets_the_csv_in_their_dm_and_the_channel_no_address(harness: Harness):
    send_id, issue_id = halted_part_way(harness.desk, harness.postmark, 400, emails=_emails)
    ledger = {
        address: (status, mid) for _, status, mid, address in ledger_rows(harness.desk, send_id)
    }
    sent = sum(1 for status, _ in ledger.values() if status == "sent")
    assert 0 < sent < 400
    channel_before = len(harness.slack.channel_messages(NEWSLETTER_CHANNEL))

    harness.approver.command("/newsletter", f"recipients {issue_id}")
    [reply] = harness.wait_for_ephemeral(APPROVER_1)
    assert f"Issue #{issue_id} has 400 recipient rows" in reply
    assert f"• sent: {sent:,}" in reply and f"• not sent yet: {400 - sent:,}" in reply
    assert not ADDRESS.search(reply)

    [dm] = harness.slack.wait_for(lambda: harness.slack.dm_messages(APPROVER_1) or None)
    [shared] = dm.files
    assert shared["name"] == f"recipients-issue-{issue_id}.csv"
    content = harness.slack.file_content(shared["id"]).decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(content)))
    assert table[0] == list(recipients.COLUMNS)
    rows = table[1:]
    assert len(rows) == 400
    with harness.desk.db.sessions() as session:
        version_hash = session.execute(
            select(IssueVersion.content_hash)
            .join(Send, Send.version_id == IssueVersion.id)
            .where(Send.id == send_id)
        ).scalar_one()
    by_address = {row[0]: row for row in rows}
    # The address that would run as a formula is shown as text, not run.
    assert "'" + FORMULA in by_address and FORMULA not in by_address
    for address, (status, message_id) in ledger.items():
        row = by_address["'" + address if address == FORMULA else address]
        assert row[2] == status and row[3] == (message_id or "")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row[1])
    assert {row[4] for row in rows} == {version_hash}
    # Postmark's own record agrees: each sent row's MessageID went to that address.
    for row in rows:
        if row[2] == "sent":
            stored = harness.postmark.message(row[3])
            assert stored is not None and stored.To.lstrip("'") == row[0].lstrip("'")

    # Nothing new in the channel, and not one address anywhere in it.
    channel = harness.slack.channel_messages(NEWSLETTER_CHANNEL)
    assert len(channel) == channel_before
    assert not any(ADDRESS.search(_text_of(m)) for m in channel)
    assert [f.name for f in harness.slack.files.values()] == [shared["name"]]
    assert all(f.channels == [dm.channel] for f in harness.slack.files.values())

    [event] = _exports(harness)
    assert (event.actor, event.issue_id, event.detail) == (
        APPROVER_1,
        issue_id,
        {"via": "slack", "rows": 400},
    )


def test_a_team_member_who_is_no_approver_gets_nothing(harness: Harness):
    _send_id, issue_id = halted_part_way(harness.desk, harness.postmark, 400, emails=_emails)
    harness.editor.command("/newsletter", f"recipients {issue_id}")
    [reply] = harness.wait_for_ephemeral(EDITOR)
    assert "Only approvers may see who received" in reply
    assert harness.slack.files == {} and harness.slack.calls("files.getUploadURLExternal") == []
    assert _exports(harness) == []


def test_an_issue_never_sent_and_a_missing_issue(harness: Harness):
    harness.approver.command("/newsletter", "recipients 99")
    [missing] = harness.wait_for_ephemeral(APPROVER_1)
    assert "There is no issue #99." in missing
    harness.approver.command("/newsletter", "recipients 99999999999")
    replies = harness.wait_for_ephemeral(APPROVER_1, count=2)
    assert "needs an issue number" in replies[1]
    assert harness.slack.files == {} and _exports(harness) == []


def test_recipients_export_writes_every_row_and_audits_who(harness: Harness):
    send_id, issue_id = halted_part_way(harness.desk, harness.postmark, 400, emails=_emails)
    out = io.StringIO()
    done = recipients.export(
        harness.desk.db, harness.desk.clock, issue_id, out, actor="cli", via="cli"
    )
    table = list(csv.reader(io.StringIO(out.getvalue())))
    assert done.rows == len(table) - 1 == 400
    assert sum(done.counts.values()) == 400
    [event] = _exports(harness)
    assert (event.actor, event.detail) == ("cli", {"via": "cli", "rows": 400})
    assert {row[0] for row in table[1:]} == {
        ("'" + a if a == FORMULA else a) for *_, a in ledger_rows(harness.desk, send_id)
    }
