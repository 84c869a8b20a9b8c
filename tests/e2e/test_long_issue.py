"""A real monthly issue, written and reviewed in Slack (issue 13), end to end:
signed requests into the bot, Slack and Postmark answered by the stand-ins.

- a 22,000-character Japanese issue typed into 8 sections of the draft modal
  reaches every recipient whole, in its HTML and its text;
- the preview shows all of it, for a made-up reader whose name is filled in;
- the card's test-copy button sends to the clicker only, with their own name;
- the Approve button's confirm names the count (or the time);
- a file may stand in for the sections; what is not UTF-8 text is refused.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.issues import SAMPLE_READER
from bot.standins.slack import APPROVER_1, DEFAULT_SCOPES, EDITOR, NEWSLETTER_CHANNEL
from bot.standins.slack_driver import NotTypable, SlackActor
from handlers.blocks import SECTION_CHARS, body_block_id
from handlers.drafts import QUICK_CHARS
from handlers.ids import Action, Block
from handlers.preview import MARKDOWN_LIMIT, markdown_text
from storage.models import Issue, IssueVersion, Send
from tests.e2e.helpers import (
    current_card,
    latest_issue_id,
    modal_errors,
    modal_outcome,
    open_draft_modal,
    submit,
)
from tests.fixtures.bot import Harness
from tests.fixtures.delivery import (
    FAST,
    add_subscribers,
    assert_exactly_once,
    running,
    send_state,
    wait_until,
)

LINE = "今月は新しい倉庫の稼働と年末年始の営業日程についてお知らせします。配送の締め切りにご注意ください。"


def japanese_sections(count: int, chars: int) -> list[str]:
    """`count` sections of exactly `chars` characters each, every paragraph numbered
    (so a lost or doubled piece shows), the first addressing the reader by name."""
    sections = []
    for number in range(1, count + 1):
        head = "{{ subscriber.name }} 様\n\n" if number == 1 else f"## 第{number}章\n\n"
        paragraphs = [head]
        k = 0
        while sum(map(len, paragraphs)) < chars:
            k += 1
            paragraphs.append(f"【{number}-{k}】{LINE}\n\n")
        sections.append("".join(paragraphs)[:chars].rstrip("\n") + "。")
        sections[-1] = sections[-1][: chars - 1] + "。"
    return sections


def write_in_sections(harness: Harness, actor: SlackActor, subject: str, sections: list[str]):
    """Open the modal, press "Add a section" until there are enough, type, save."""
    view = open_draft_modal(harness, actor)
    typed: dict[str, dict[str, Any]] = {Block.SUBJECT: {Action.VALUE: subject}}
    for number in range(2, len(sections) + 1):
        typed[body_block_id(number - 1)] = {Action.VALUE: sections[number - 2]}
        actor.click(Action.ADD_SECTION, view=view, typed=typed)
        view_id = view["id"]
        view = harness.slack.wait_for(
            lambda n=number, v=view_id: (
                harness.slack.get_view(v)
                if any(
                    b.get("block_id") == body_block_id(n)
                    for b in harness.slack.get_view(v)["blocks"]
                )
                else None
            )
        )
        # What was typed comes back in the redrawn modal (Slack keeps it too).
        kept = {
            b["block_id"]: b["element"].get("initial_value")
            for b in view["blocks"]
            if b["type"] == "input"
        }
        assert kept[body_block_id(number - 1)] == sections[number - 2]
    typed[body_block_id(len(sections))] = {Action.VALUE: sections[-1]}

    def confirmations() -> int:
        return sum("`/newsletter submit " in r for r in harness.ephemeral_texts(actor.user_id))

    before = confirmations()
    response = actor.submit_view(view, typed)
    if sum(map(len, sections)) > QUICK_CHARS:  # answered with "Saving…", saved after
        assert "Saved." in modal_outcome(harness, response, view["id"])
    # Saved: the author is told where she asked for the form, with the next step.
    harness.slack.wait_for(lambda: confirmations() > before)
    harness.wait_reply(actor.user_id, f"`/newsletter submit {latest_issue_id(harness)}`")
    return response


def stored_body(harness: Harness, issue_id: int) -> str:
    with harness.desk.db.sessions() as session:
        version = (
            session.query(IssueVersion)
            .filter(IssueVersion.issue_id == issue_id)
            .order_by(IssueVersion.number.desc())
            .first()
        )
        assert version is not None
        return version.body_markdown


def _send_id(harness: Harness, issue_id: int) -> int | None:
    with harness.desk.db.sessions() as session:
        send = session.query(Send).filter(Send.issue_id == issue_id).one_or_none()
        return send.id if send else None


def _button(message: Any, action_id: str) -> dict[str, Any]:
    for block in message.blocks:
        for element in block.get("elements", []) or []:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return element
    raise LookupError(action_id)


def test_a_22000_character_japanese_issue_in_8_sections_reaches_every_recipient_whole(
    harness: Harness,
):
    sections = japanese_sections(8, 2_750)
    assert sum(map(len, sections)) == 22_000 and all(len(s) <= SECTION_CHARS for s in sections)
    response = write_in_sections(harness, harness.editor, "12月号：年末のお知らせ", sections)
    assert response.status_code == 200 and modal_errors(response) == {}
    issue_id = latest_issue_id(harness)
    assert stored_body(harness, issue_id) == "\n\n".join(sections)

    readers = 120
    add_subscribers(harness.desk, readers, names=lambda i: (f"読者{i}", "株式会社サンプル"))
    card = submit(harness, harness.editor, issue_id)
    with running(harness.desk, FAST):
        harness.approver.click(Action.APPROVE, message=current_card(harness, card))
        wait_until(lambda: _send_id(harness, issue_id) is not None)
        send_id = _send_id(harness, issue_id)
        assert send_id is not None
        wait_until(lambda: send_state(harness.desk, send_id) == "finished", timeout=60)
    assert_exactly_once(harness.desk, harness.postmark, send_id)
    paragraphs = [p for s in sections for p in s.split("\n\n") if "{{" not in p]
    whole: dict[str, str] = {}
    for i in range(readers):
        (message,) = harness.postmark.messages_to(f"reader{i}@example.com")
        assert message.TextBody is not None and message.HtmlBody is not None
        assert message.TextBody.startswith(f"読者{i} 様\n\n")
        assert f"読者{i} 様" in message.HtmlBody
        url = harness.postmark.unsubscribe_url(message.MessageID)
        # Each reader's message is the same but for their name and link: all of it.
        for part, content in (("text", message.TextBody), ("html", message.HtmlBody)):
            same = content.replace(f"読者{i} 様", "NAME").replace(url, "URL")
            assert whole.setdefault(part, same) == same
    for paragraph in paragraphs:  # and that one message holds every paragraph
        assert paragraph in whole["text"]
        assert paragraph.removeprefix("## ") in whole["html"]


def test_a_section_cannot_hold_more_than_slack_lets_a_member_type(harness: Harness):
    view = open_draft_modal(harness, harness.editor)
    with pytest.raises(NotTypable, match="max_length is 3000"):
        harness.editor.submit_view(
            view, {Block.SUBJECT: {Action.VALUE: "件名"}, Block.BODY: {Action.VALUE: "あ" * 3001}}
        )


def test_the_preview_shows_the_whole_issue_for_a_sample_reader(harness: Harness):
    sections = japanese_sections(8, 2_750)
    write_in_sections(harness, harness.editor, "12月号：年末のお知らせ", sections)
    issue_id = latest_issue_id(harness)
    harness.approver.command("/newsletter", f"show {issue_id}")
    messages = harness.slack.wait_for(
        lambda: (
            found
            if (found := harness.slack.ephemeral_messages(APPROVER_1))
            and any("source" in str(m.blocks) for m in found)
            else None
        ),
        timeout=15,
    )
    parts = [m for m in messages if "preview, part" in m.text]
    assert len(parts) >= 3  # 22,000 characters do not fit one message
    for number, message in enumerate(parts, start=1):
        assert f"part {number} of {len(parts)}" in message.text
        markdown = [b["text"] for b in message.blocks if b["type"] == "markdown"]
        assert sum(map(len, markdown)) <= MARKDOWN_LIMIT
    shown = "".join(b["text"] for m in parts for b in m.blocks if b["type"] == "markdown")
    name, company = SAMPLE_READER
    # All of it, the sample name filled in, the footer included: nothing cut.
    expected_body = "\n\n".join(sections).replace("{{ subscriber.name }}", name)
    assert markdown_text(expected_body) in shown
    assert shown.startswith(f"{name} 様")
    assert "配信停止 / Unsubscribe: https://unsubscribe.invalid/" in shown
    first = str(parts[0].blocks)
    assert "made-up sample reader" in first and company in first
    assert "12月号：年末のお知らせ" in first
    # Only the asker sees it (the editor has only her save's confirmation).
    assert not [m for m in harness.slack.ephemeral_messages(EDITOR) if "preview, part" in m.text]


def test_show_source_gives_the_template_exactly_as_written(harness: Harness):
    sections = ["{{ subscriber.name }} 様 <b>&amp;</b> *強調* `code`", "二つ目の段落です。"]
    write_in_sections(harness, harness.editor, "件名 {{ list_name }}", sections)
    issue_id = latest_issue_id(harness)
    harness.editor.command("/newsletter", f"show {issue_id} source")
    messages = harness.slack.wait_for(
        lambda: (
            [
                m
                for m in harness.slack.ephemeral_messages(EDITOR)
                if any(b["type"] == "rich_text" for b in m.blocks)
            ]
            or None
        )
    )
    texts = [
        element["text"]
        for m in messages
        for b in m.blocks
        if b["type"] == "rich_text"
        for pre in b["elements"]
        for element in pre["elements"]
    ]
    assert texts[0] == "件名 {{ list_name }}"
    assert "".join(texts[1:]) == "\n\n".join(sections)


def test_the_card_offers_a_preview_to_whoever_clicks(harness: Harness):
    write_in_sections(harness, harness.editor, "12月号", ["{{ subscriber.name }} 様、こんにちは。"])
    issue_id = latest_issue_id(harness)
    card = submit(harness, harness.editor, issue_id, extra="at 2030-01-01 10:00")
    harness.approver.click(Action.PREVIEW, message=current_card(harness, card))
    shown = harness.slack.wait_for(
        lambda: (
            [
                b["text"]
                for m in harness.slack.ephemeral_messages(APPROVER_1, NEWSLETTER_CHANNEL)
                for b in m.blocks
                if b["type"] == "markdown"
            ]
            or None
        )
    )
    assert shown[0].startswith(f"{SAMPLE_READER[0]} 様、こんにちは。")


def test_the_test_copy_button_sends_to_the_clicker_only_with_their_name(harness: Harness):
    write_in_sections(
        harness,
        harness.editor,
        "{{ subscriber.name }} 様へ",
        ["{{ subscriber.name }} 様、こんにちは。"],
    )
    issue_id = latest_issue_id(harness)
    add_subscribers(harness.desk, 5)
    card = submit(harness, harness.editor, issue_id, extra="at 2030-01-01 10:00")
    harness.approver.click(Action.TEST_COPY, message=current_card(harness, card))
    harness.slack.wait_for(lambda: harness.postmark.messages() or None)
    (message,) = harness.postmark.messages()
    assert message.Recipients == ("alice@example.com",)
    assert message.MessageStream == "outbound"  # the transactional pipe
    assert message.Subject == "[TEST] Alice Example 様へ"
    assert message.TextBody is not None and message.TextBody.startswith("Alice Example 様、")
    replies = harness.wait_for_ephemeral(APPROVER_1)
    assert any("alice@example.com" in text for text in replies)


def test_test_command_is_personalised_with_the_callers_name(harness: Harness):
    write_in_sections(harness, harness.editor, "件名", ["{{ subscriber.name }} 様"])
    issue_id = latest_issue_id(harness)
    harness.editor.command("/newsletter", f"test {issue_id}")
    harness.slack.wait_for(lambda: harness.postmark.messages() or None)
    (message,) = harness.postmark.messages()
    assert message.Recipients == ("hanako@example.com",)
    assert message.TextBody is not None and message.TextBody.startswith("山田花子 様")


def test_the_approve_button_says_what_it_will_do(harness: Harness):
    write_in_sections(harness, harness.editor, "12月号", ["本文です。"])
    issue_id = latest_issue_id(harness)
    add_subscribers(harness.desk, 2_997)
    later = submit(harness, harness.editor, issue_id, extra="at 2030-01-01 10:00")
    confirm = _button(later, Action.APPROVE)["confirm"]
    assert confirm["text"]["text"] == (
        f"Send issue #{issue_id} to 2,997 readers at 2030-01-01 10:00 JST?"
    )
    now = submit(harness, harness.editor, issue_id)
    confirm = _button(now, Action.APPROVE)["confirm"]
    assert confirm["title"]["text"] == f"Send issue #{issue_id}?"
    assert confirm["text"]["text"] == f"Send issue #{issue_id} to 2,997 readers now?"
    assert confirm["confirm"]["text"] == "Approve and send"
    # With a canary the click sends to a share first: the dialog says so too.
    canary = submit(harness, harness.editor, issue_id, extra="canary 5%")
    confirm = _button(canary, Action.APPROVE)["confirm"]
    assert confirm["text"]["text"] == (
        f"Send issue #{issue_id} to 2,997 readers now? "
        "150 of them get it first, the rest after 30 minutes."
    )


def test_a_file_may_stand_in_for_the_sections(harness: Harness):
    body = "{{ subscriber.name }} 様\n\n" + "\n\n".join(f"段落{i}。{LINE}" for i in range(1700))
    assert 90_000 < len(body) <= 100_000  # more than 30 sections could hold
    upload = harness.slack.add_file(
        EDITOR,
        "12月号.md",
        ("\ufeff" + body.replace("\n", "\r\n")).encode(),
        mimetype="text/markdown",
    )
    view = open_draft_modal(harness, harness.editor)
    response = harness.editor.submit_view(
        view, {Block.SUBJECT: {Action.VALUE: "12月号"}, Block.BODY_FILE: {Action.VALUE: [upload]}}
    )
    assert "Saved." in modal_outcome(harness, response, view["id"])
    issue_id = latest_issue_id(harness)
    assert stored_body(harness, issue_id) == body  # BOM and CRLF gone, nothing else
    # Too long for the sections: editing says so instead of cutting it.
    edit = open_draft_modal(harness, harness.editor, f"edit {issue_id}")
    assert "attach the whole body again as a file" in str(edit["blocks"][0])
    (first,) = [b for b in edit["blocks"] if b.get("block_id") == Block.BODY]
    assert "initial_value" not in first["element"]


def test_a_file_that_is_not_utf8_text_is_refused_in_the_modal(harness: Harness):
    cases = [
        (("12月号.md", "本文です。".encode("shift_jis")), "not UTF-8 text"),
        (("photo.png", b"\x89PNG"), "photo.png is not a Markdown"),
    ]
    for (name, content), said in cases:
        upload = harness.slack.add_file(EDITOR, name, content)
        view = open_draft_modal(harness, harness.editor)
        response = harness.editor.submit_view(
            view,
            {Block.SUBJECT: {Action.VALUE: "12月号"}, Block.BODY_FILE: {Action.VALUE: [upload]}},
        )
        shown = modal_outcome(harness, response, view["id"])
        assert "Not saved" in shown and said in shown
        # The form is back, the subject as typed, ready to attach another file.
        again = harness.slack.get_view(view["id"])
        assert again is not None and again["callback_id"] == "draft"
    both = harness.slack.add_file(EDITOR, "a.md", "本文".encode())
    view = open_draft_modal(harness, harness.editor)
    response = harness.editor.submit_view(
        view,
        {
            Block.SUBJECT: {Action.VALUE: "12月号"},
            Block.BODY: {Action.VALUE: "入力した本文"},
            Block.BODY_FILE: {Action.VALUE: [both]},
        },
    )
    assert "not both" in modal_errors(response)[Block.BODY_FILE]
    with harness.desk.db.sessions() as session:
        assert session.query(IssueVersion).count() == 0


def test_without_files_read_an_attached_file_is_refused(harness_factory, slack):
    token = slack.issue_token([s for s in DEFAULT_SCOPES if s != "files:read"])
    harness = harness_factory(SLACK_BOT_TOKEN=token)
    upload = slack.add_file(EDITOR, "12月号.md", "本文です。".encode())
    view = open_draft_modal(harness, harness.editor)
    response = harness.editor.submit_view(
        view, {Block.SUBJECT: {Action.VALUE: "12月号"}, Block.BODY_FILE: {Action.VALUE: [upload]}}
    )
    assert "could not read the attached file" in modal_outcome(harness, response, view["id"])
    with harness.desk.db.sessions() as session:
        assert session.query(IssueVersion).count() == 0


def test_a_version_that_cannot_be_rendered_is_previewed_with_the_reason(harness: Harness):
    """A version stored before the template language was narrowed: the preview
    says it cannot be rendered and shows preflight's finding, never a traceback."""
    write_in_sections(harness, harness.editor, "12月号", ["本文です。"])
    issue_id = latest_issue_id(harness)
    with harness.desk.db.transaction() as session:  # a version as an old one might be
        first = session.query(IssueVersion).filter(IssueVersion.issue_id == issue_id).one()
        old = IssueVersion(
            issue_id=issue_id,
            number=2,
            subject=first.subject,
            body_markdown=first.body_markdown,
            html_template=first.html_template,
            text_template=first.text_template + "{{ nowhere.name }}",
            sender=first.sender,
            stream=first.stream,
            content_hash=first.content_hash,
            author=first.author,
            created_at=first.created_at,
        )
        session.add(old)
        session.flush()
        session.get(Issue, issue_id).current_version_id = old.id  # type: ignore[union-attr]
    harness.approver.command("/newsletter", f"show {issue_id}")
    (message,) = harness.slack.wait_for(
        lambda: harness.slack.ephemeral_messages(APPROVER_1) or None, timeout=15
    )
    shown = str(message.blocks)
    assert "cannot be rendered for a reader" in shown
    assert "nowhere" in shown  # preflight's finding names the template's problem
    assert not [b for b in message.blocks if b["type"] == "markdown"]


def save_as_file(harness: Harness, body: str) -> int:
    """A new issue whose body the editor attached as a file; its id."""
    upload = harness.slack.add_file(EDITOR, "12月号.md", body.encode(), mimetype="text/markdown")
    view = open_draft_modal(harness, harness.editor)
    response = harness.editor.submit_view(
        view, {Block.SUBJECT: {Action.VALUE: "12月号"}, Block.BODY_FILE: {Action.VALUE: [upload]}}
    )
    assert "Saved." in modal_outcome(harness, response, view["id"])
    return latest_issue_id(harness)


def test_editing_a_body_too_large_for_slacks_form_asks_for_the_file(harness: Harness):
    """29 paragraphs of 2,990 Japanese characters fit 29 sections, but as initial
    values they make the modal larger than the 250 KB Slack takes: editing says so
    (and opens) instead of failing."""
    issue_id = save_as_file(harness, "\n\n".join(f"【{i}】" + "あ" * 2_985 for i in range(29)))
    edit = open_draft_modal(harness, harness.editor, f"edit {issue_id}")
    assert "attach the whole body again as a file" in str(edit["blocks"][0])


def test_add_a_section_keeps_a_large_typed_body_within_what_slack_takes(harness: Harness):
    """29 sections retyped in full Japanese: a redraw holding them as initial values
    would be over 250 KB, so the new section comes without them (Slack keeps what
    was typed into unchanged inputs), and the whole body is saved."""
    issue_id = save_as_file(
        harness, "\n\n".join(f"[{n}]" + "a" * (SECTION_CHARS - 5) for n in range(1, 30))
    )
    view = open_draft_modal(harness, harness.editor, f"edit {issue_id}")  # 29 sections
    sections = [f"【{n}】" + "い" * (SECTION_CHARS - 5) for n in range(1, 30)]
    typed: dict[str, dict[str, Any]] = {
        body_block_id(n): {Action.VALUE: text} for n, text in enumerate(sections, start=1)
    }
    clicked = harness.editor.click(Action.ADD_SECTION, view=view, typed=typed)
    assert clicked.status_code == 200  # a payload of about a megabyte, as Slack sends it
    view = harness.slack.wait_for(
        lambda v=view["id"]: (
            found
            if (found := harness.slack.get_view(v))
            and any(b.get("block_id") == body_block_id(30) for b in found["blocks"])
            else None
        )
    )
    inputs = [b for b in view["blocks"] if b["type"] == "input"]
    assert not any("initial_value" in b["element"] for b in inputs[1:])
    response = harness.editor.submit_view(view, {Block.SUBJECT: {Action.VALUE: "12月号"}, **typed})
    assert "Saved." in modal_outcome(harness, response, view["id"])
    assert stored_body(harness, issue_id) == "\n\n".join(sections)
