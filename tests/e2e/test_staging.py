"""Staging an issue in Slack, end to end through signed requests and the stand-ins."""

from __future__ import annotations

import time

import requests
from sqlalchemy import func, select

from bot.standins.slack import EDITOR, NEWSLETTER_CHANNEL, OUTSIDER
from handlers.ids import Block
from storage.models import AuditEvent, Issue, IssueVersion
from tests.e2e.helpers import (
    create_issue,
    draft,
    issue_state,
    modal_errors,
    open_draft_modal,
    submit,
)
from tests.fixtures.bot import Harness

JP_SUBJECT = "【12月号】年末のご挨拶と新サービスのお知らせ"
JP_BODY = "# ご挨拶\n\n{{ subscriber.name }}様\n\n本年も大変お世話になりました。来年もよろしくお願いいたします。\n\n- 営業日のご案内\n- 新サービス「カウンターサイン」"


def versions(harness: Harness, issue_id: int) -> list[IssueVersion]:
    with harness.desk.db.sessions() as session:
        return list(
            session.execute(
                select(IssueVersion)
                .where(IssueVersion.issue_id == issue_id)
                .order_by(IssueVersion.number)
            ).scalars()
        )


def test_create_by_modal_saves_version_one_and_tells_the_author(harness: Harness):
    issue_id = create_issue(harness, harness.editor, JP_SUBJECT, JP_BODY)
    saved = versions(harness, issue_id)
    assert [v.number for v in saved] == [1]
    assert saved[0].subject == JP_SUBJECT and saved[0].body_markdown == JP_BODY
    assert saved[0].author == EDITOR and len(saved[0].content_hash) == 64
    # The answer comes where she typed the command, to her alone, with the next step.
    reply = harness.wait_reply(EDITOR, f"Saved issue #{issue_id}")
    assert saved[0].content_hash[:12] in reply
    assert f"`/newsletter show {issue_id}`" in reply
    assert f"`/newsletter submit {issue_id}`" in reply
    [shown] = [
        m for m in harness.slack.ephemeral_messages(EDITOR) if "Saved issue" in (m.text or "")
    ]
    assert shown.channel == NEWSLETTER_CHANNEL and shown.recipient == EDITOR
    assert harness.slack.dm_messages(EDITOR) == []


def test_the_confirmation_comes_as_a_dm_when_the_channel_refuses_it(harness: Harness):
    view = open_draft_modal(harness, harness.editor)
    # She leaves #newsletter while the form is open: Slack refuses an ephemeral to her there.
    channel = harness.slack.channels[NEWSLETTER_CHANNEL]
    channel.members.remove(EDITOR)
    response = harness.editor.submit_view(
        view, {Block.SUBJECT: {"value": "件名"}, Block.BODY: {"value": "本文"}}
    )
    assert modal_errors(response) == {}
    dm = harness.slack.wait_for(lambda: harness.slack.dm_messages(EDITOR))
    assert "Saved issue #1" in dm[-1].text and "`/newsletter submit 1`" in dm[-1].text
    assert harness.slack.ephemeral_messages(EDITOR) == []


def test_edit_by_modal_is_prefilled_and_makes_a_new_version(harness: Harness):
    issue_id = create_issue(harness, harness.editor, "初版", "本文その一")
    view = open_draft_modal(harness, harness.editor, f"edit {issue_id}")
    initial = {
        b["block_id"]: b["element"].get("initial_value")
        for b in view["blocks"]
        if b["type"] == "input" and b["element"]["type"] == "plain_text_input"
    }
    assert initial == {Block.SUBJECT: "初版", Block.BODY: "本文その一"}
    # The form carries the issue and where it was asked for (its answer goes there).
    assert view["private_metadata"] == f"{issue_id}|{NEWSLETTER_CHANNEL}"
    response = harness.editor.submit_view(
        view, {Block.SUBJECT: {"value": "第二版"}, Block.BODY: {"value": "本文その二"}}
    )
    assert modal_errors(response) == {}
    saved = versions(harness, issue_id)
    assert [(v.number, v.subject) for v in saved] == [(1, "初版"), (2, "第二版")]
    assert saved[0].content_hash != saved[1].content_hash


def test_unknown_variable_is_refused_in_the_modal_and_nothing_is_saved(harness: Harness):
    response = draft(harness, harness.editor, "件名", "こんにちは {{ subscriber.email }}")
    errors = modal_errors(response)
    assert Block.BODY in errors and "subscriber.email" in errors[Block.BODY]
    with harness.desk.db.sessions() as session:
        assert session.execute(select(func.count(Issue.id))).scalar_one() == 0


def test_sandbox_escape_attempt_is_refused(harness: Harness):
    for attempt in (
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ self._TemplateReference__context }}",
        "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    ):
        errors = modal_errors(draft(harness, harness.editor, "件名", attempt))
        assert Block.BODY in errors, attempt
    with harness.desk.db.sessions() as session:
        assert session.execute(select(func.count(Issue.id))).scalar_one() == 0


def test_syntax_error_names_the_line_in_the_modal(harness: Harness):
    errors = modal_errors(
        draft(harness, harness.editor, "件名", "一行目\n{% if subscriber.name %}\n三行目")
    )
    assert "line 2" in errors[Block.BODY].lower()  # "Line 2: …" (the catalogue's sentence)


def test_show_gives_an_ephemeral_preview_with_hash_audience_and_findings(harness: Harness):
    issue_id = create_issue(harness, harness.editor, "12月号", "ご連絡は 03-1234-5678 まで")
    harness.editor.command("/newsletter", f"show {issue_id}")
    text = harness.wait_reply(EDITOR, "recipients")
    version = versions(harness, issue_id)[0]
    assert version.content_hash[:12] in text
    assert "0 recipients" in text
    assert "phone number" in text and "03-1234-5678" in text  # detail only in the ephemeral reply
    assert all("03-1234-5678" not in t for t in harness.channel_texts())


def test_list_shows_issues_and_states(harness: Harness):
    first = create_issue(harness, harness.editor, "一月号", "本文")
    second = create_issue(harness, harness.editor, "二月号", "本文")
    harness.editor.command("/newsletter", "list")
    text = harness.wait_reply(EDITOR, "二月号")
    assert f"#{first}" in text and f"#{second}" in text and "二月号" in text and "draft" in text


def test_test_copy_goes_to_the_callers_address_through_the_transactional_stream_byte_for_byte(
    harness: Harness,
):
    issue_id = create_issue(harness, harness.editor, JP_SUBJECT, JP_BODY)
    harness.editor.command("/newsletter", f"test {issue_id}")
    sent = harness.slack.wait_for(lambda: harness.postmark.messages())
    assert len(sent) == 1
    message = sent[0]
    assert message.To == "hanako@example.com"
    assert message.MessageStream == "outbound"
    assert message.Subject == f"[TEST] {JP_SUBJECT}"  # UTF-8 intact, byte for byte
    assert "本年も大変お世話になりました。来年もよろしくお願いいたします。" in message.TextBody
    assert "本年も大変お世話になりました。来年もよろしくお願いいたします。" in message.HtmlBody
    assert "pm:unsubscribe" not in message.HtmlBody  # a test copy's link leads nowhere harmful
    assert "unsubscribe.invalid" in message.HtmlBody
    assert harness.postmark.messages(stream="broadcast") == []

    def audited() -> list[str]:
        with harness.desk.db.sessions() as session:
            query = select(AuditEvent.action).where(
                AuditEvent.issue_id == issue_id, AuditEvent.action == "issue.test_copy"
            )
            return list(session.execute(query).scalars())

    assert harness.slack.wait_for(audited) == ["issue.test_copy"]
    harness.wait_reply(EDITOR, "Sent a [TEST] copy")


def test_test_copy_refused_outside_the_allowed_domains(harness_factory):
    harness = harness_factory(TEST_RECIPIENT_DOMAINS="example.jp")
    issue_id = create_issue(harness, harness.editor)
    harness.editor.command("/newsletter", f"test {issue_id}")
    text = harness.wait_reply(EDITOR, "won't send")
    assert "example.jp" in text
    time.sleep(0.2)
    assert harness.postmark.messages() == []


def test_non_team_member_is_refused_for_commands_and_changes_nothing(harness: Harness):
    issue_id = create_issue(harness, harness.editor)
    for text in ("new", f"test {issue_id}", f"submit {issue_id}", "list"):
        harness.outsider.command("/newsletter", text)
    replies = harness.wait_for_ephemeral(OUTSIDER, count=4)
    assert all("only members of the newsletter team" in r for r in replies)
    assert harness.slack.open_views(OUTSIDER) == []
    assert harness.postmark.messages() == []
    assert issue_state(harness, issue_id) == "draft"


def test_non_team_member_cannot_save_a_draft_even_with_a_crafted_submission(harness: Harness):
    view = open_draft_modal(harness, harness.editor)
    response = harness.outsider.submit_view(
        view, {Block.SUBJECT: {"value": "乗っ取り"}, Block.BODY: {"value": "x"}}
    )
    assert response.status_code == 200
    assert "only members" in " ".join(modal_errors(response).values())
    with harness.desk.db.sessions() as session:
        assert session.execute(select(func.count(Issue.id))).scalar_one() == 0


def test_forged_and_stale_requests_get_401_and_change_nothing(harness: Harness):
    forged = harness.editor.command("/newsletter", "new", signature="v0=" + "0" * 64)
    stale = harness.editor.command("/newsletter", "new", stale=True)
    missing = harness.editor.command("/newsletter", "new", signature="")
    assert [forged.status_code, stale.status_code, missing.status_code] == [401, 401, 401]
    view = open_draft_modal(harness, harness.editor)
    bad = harness.editor.submit_view(
        view, {Block.SUBJECT: {"value": "x"}, Block.BODY: {"value": "y"}}, stale=True
    )
    assert bad.status_code == 401
    with harness.desk.db.sessions() as session:
        assert session.execute(select(func.count(Issue.id))).scalar_one() == 0
    assert len(harness.slack.open_views(EDITOR)) == 1  # only the one opened by the genuine request


def test_unknown_subcommand_answers_with_usage(harness: Harness):
    harness.editor.command("/newsletter", "sned 3")
    text = harness.wait_for_ephemeral(EDITOR)[-1]
    assert "`sned`" in text and "/newsletter new" in text


def test_health_endpoint_and_unknown_paths(harness: Harness):
    assert requests.get(f"{harness.url}/healthz", timeout=5).json() == {"ok": True}
    assert requests.get(f"{harness.url}/nowhere", timeout=5).status_code == 404


def test_edit_of_an_issue_awaiting_approval_voids_the_request_and_says_so(harness: Harness):
    issue_id = create_issue(harness, harness.editor)
    submit(harness, harness.editor, issue_id)
    assert issue_state(harness, issue_id) == "awaiting_approval"
    draft(harness, harness.editor, "改訂版", "本文を直しました", issue_id=issue_id)
    assert issue_state(harness, issue_id) == "draft"
    notice = harness.slack.wait_for(lambda: [t for t in harness.channel_texts() if "is void" in t])
    assert f"issue #{issue_id}" in notice[0]
