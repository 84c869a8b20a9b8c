"""Invariant 9 for logs: whatever level the operator sets, the logs of a full
workflow contain no token, no secret, no address and no message body."""

from __future__ import annotations

import logging

import pytest

from bot.standins.slack import EDITOR
from tests.e2e.helpers import create_issue, submit
from tests.fixtures.bot import SIGNING_SECRET, Harness

BODY_LINE = "年末年始の営業日についてお知らせいたします"


def test_debug_logs_hold_no_secrets_addresses_or_bodies(
    harness: Harness, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    issue_id = create_issue(harness, harness.editor, "12月号", BODY_LINE)
    harness.editor.command("/newsletter", f"test {issue_id}")
    harness.slack.wait_for(lambda: harness.postmark.messages())
    harness.editor.command("/unsubscribe", "reader.private@example.com 電話で依頼あり")
    harness.wait_for_ephemeral(EDITOR, count=2)
    submit(harness, harness.editor, issue_id, extra="at 2030-01-01 10:00")
    logged = caplog.text
    assert logged  # something was logged at all, or this test proves nothing
    settings = harness.desk.settings
    for secret in (
        settings.SLACK_BOT_TOKEN,
        SIGNING_SECRET,
        settings.POSTMARK_SERVER_TOKEN,
        settings.POSTMARK_WEBHOOK_PASSWORD,
    ):
        assert secret not in logged
    for private in (
        "hanako@example.com",
        "reader.private@example.com",
        BODY_LINE,
        "電話で依頼あり",
    ):
        assert private not in logged
