"""`/newsletter subscribers import` end to end: a CSV uploaded into the modal,
the dry run to the person, a card in the channel, and a second team member's
confirmation — signed requests into the running bot, files from the Slack stand-in."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from bot.standins.slack import APPROVER_1, EDITOR, NEWSLETTER_CHANNEL
from handlers.ids import Action, Block, Callback
from storage.models import AuditEvent, ImportRequest, Subscriber, Suppression
from tests.e2e.helpers import modal_errors
from tests.e2e.test_approval import wait_reply
from tests.fixtures.bot import Harness

SUBSCRIBED = (
    "Email Address,First Name,Last Name,Company,MEMBER_RATING,OPTIN_TIME,LEID,EUID\n"
    "hanako@example.com,花子,山田,株式会社サンプル,2,2024-01-01 10:00:00,1,a\n"
    "taro@example.com,Taro,Suzuki,,2,2024-01-01 10:00:00,2,b\n"
    "not-an-address,,,,2,,3,c\n"
)
UNSUBSCRIBED = (
    "Email Address,First Name,Last Name,UNSUB_TIME,UNSUB_REASON,LEID,EUID\n"
    "taro@example.com,Taro,Suzuki,2024-05-01 12:00:00,NORMAL,2,b\n"
)


def counts(harness: Harness) -> tuple[int, int, int]:
    with harness.desk.db.sessions() as session:
        return (
            session.execute(select(func.count()).select_from(Subscriber)).scalar_one(),
            session.execute(select(func.count()).select_from(Suppression)).scalar_one(),
            session.execute(select(func.count()).select_from(ImportRequest)).scalar_one(),
        )


def open_import_modal(harness: Harness) -> dict[str, Any]:
    before = len(harness.slack.calls("views.open"))
    harness.editor.command("/newsletter", "subscribers import")
    calls = harness.slack.wait_for(lambda: harness.slack.calls("views.open")[before:] or None)
    assert calls[0].ok, calls[0].response
    view = dict(calls[0].response["view"])
    assert view["callback_id"] == Callback.SUBSCRIBERS_IMPORT
    return view


def upload_and_submit(harness: Harness, name: str, content: bytes) -> Any:
    view = open_import_modal(harness)
    uploaded = harness.slack.add_file(EDITOR, name, content)
    return harness.editor.submit_view(view, {Block.IMPORT_FILE: {Action.VALUE: [uploaded]}})


def import_cards(harness: Harness) -> list[Any]:
    return [
        m
        for m in harness.slack.channel_messages(NEWSLETTER_CHANNEL)
        if any(
            e.get("action_id") == Action.IMPORT_CONFIRM
            for b in m.blocks or []
            for e in b.get("elements", []) or []
            if isinstance(e, dict)
        )
        or "import" in (m.text or "")
    ]


def test_a_slack_import_is_dry_run_for_the_person_and_needs_a_second_member(harness: Harness):
    name = "hanako@example.com <!channel> list.csv"  # a file name is typed text
    response = upload_and_submit(harness, name, SUBSCRIBED.encode("cp932"))
    assert response.status_code == 200 and modal_errors(response) == {}
    summary = wait_reply(harness, EDITOR, "Dry run of the import")
    assert "Mailchimp (subscribed), CP932" in summary
    assert "It would add 2" in summary and "1 rejected" in summary
    assert "line 2: added, hanako@example.com" in summary
    assert counts(harness)[:2] == (0, 0)  # the dry run changed nothing

    [card] = harness.slack.wait_for(lambda: import_cards(harness) or None)
    text = "\n".join([card.text] + [b["text"]["text"] for b in card.blocks if "text" in b])
    assert "it would add 2" in text and "1 rejected" in text
    for secret in ("hanako", "taro", "example.com", "<!channel>", "list.csv"):
        assert secret not in text, secret  # counts only: no address, no file name

    # The requester cannot confirm their own import.
    harness.editor.click(Action.IMPORT_CONFIRM, message=card)
    wait_reply(harness, EDITOR, "Another team member must confirm")
    assert counts(harness)[0] == 0

    harness.approver.click(Action.IMPORT_CONFIRM, message=card)
    harness.slack.wait_for(lambda: counts(harness)[0] == 2 or None)
    [updated] = harness.slack.wait_for(
        lambda: [m for m in import_cards(harness) if "was confirmed by" in m.text] or None
    )
    assert f"<@{APPROVER_1}>" in updated.text and "2 added" in updated.text
    assert not any(b.get("type") == "actions" for b in updated.blocks)
    wait_reply(harness, APPROVER_1, "The import is applied: 2 added")
    # A second click (or a replayed one) applies nothing twice.
    harness.approver.click(Action.IMPORT_CONFIRM, message=card)
    wait_reply(harness, APPROVER_1, "already confirmed")
    with harness.desk.db.sessions() as session:
        names = dict(session.execute(select(Subscriber.email, Subscriber.name)).all())
        actions = list(session.execute(select(AuditEvent.action, AuditEvent.actor)).all())
        kept = session.execute(select(ImportRequest.content)).scalar_one()
    assert names == {"hanako@example.com": "山田花子", "taro@example.com": "Taro Suzuki"}
    assert ("subscribers.import_requested", EDITOR) in actions
    assert ("subscribers.import_confirmed", APPROVER_1) in actions
    assert ("subscribers.imported", APPROVER_1) in actions
    assert kept is None  # the file's bytes are not kept once decided


def test_an_unsubscribed_export_from_slack_takes_people_out_once_confirmed(harness: Harness):
    upload_and_submit(harness, "subscribed.csv", SUBSCRIBED.encode())
    [card] = harness.slack.wait_for(lambda: import_cards(harness) or None)
    harness.approver.click(Action.IMPORT_CONFIRM, message=card)
    harness.slack.wait_for(lambda: counts(harness)[0] == 2 or None)
    upload_and_submit(harness, "unsubscribed.csv", UNSUBSCRIBED.encode())
    cards = harness.slack.wait_for(lambda: import_cards(harness)[1:] or None)
    assert "record 1 new suppressions and take 1 subscribers out" in cards[0].text
    harness.approver.click(Action.IMPORT_CONFIRM, message=cards[0])
    harness.slack.wait_for(lambda: counts(harness)[1] == 1 or None)
    with harness.desk.db.sessions() as session:
        status = session.execute(
            select(Subscriber.status).where(Subscriber.email == "taro@example.com")
        ).scalar_one()
    assert status == "unsubscribed"


def test_cancel_changes_nothing_and_an_unreadable_file_is_explained(harness: Harness):
    upload_and_submit(harness, "list.csv", SUBSCRIBED.encode())
    [card] = harness.slack.wait_for(lambda: import_cards(harness) or None)
    harness.approver.click(Action.IMPORT_CANCEL, message=card)
    harness.slack.wait_for(
        lambda: [m for m in import_cards(harness) if "was cancelled by" in m.text] or None
    )
    harness.approver.click(Action.IMPORT_CONFIRM, message=card)
    wait_reply(harness, APPROVER_1, "already confirmed, cancelled or expired")
    assert counts(harness)[:2] == (0, 0)

    upload_and_submit(harness, "photo.csv", b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00" * 50)
    wait_reply(harness, EDITOR, "cannot be imported, and nothing was changed")
    assert counts(harness)[2] == 1  # no request for an unreadable file


def test_submitting_without_a_file_or_with_an_address_as_list_keeps_the_modal_open(
    harness: Harness,
):
    view = open_import_modal(harness)
    response = harness.editor.submit_view(view, {Block.IMPORT_FILE: {Action.VALUE: []}})
    assert Block.IMPORT_FILE in modal_errors(response)
    uploaded = harness.slack.add_file(EDITOR, "list.csv", SUBSCRIBED.encode())
    response = harness.editor.submit_view(
        view,
        {
            Block.IMPORT_FILE: {Action.VALUE: [uploaded]},
            Block.IMPORT_LIST: {Action.VALUE: "hanako@example.com"},
        },
    )
    assert Block.IMPORT_LIST in modal_errors(response)
    assert counts(harness) == (0, 0, 0)


@pytest.mark.parametrize("host", ["https://evil.example.com/f.csv", "http://files.slack.com/f"])
def test_the_token_never_goes_to_a_url_that_is_not_slack(
    harness: Harness, host: str, monkeypatch: pytest.MonkeyPatch
):
    from handlers import files

    uploaded = harness.slack.add_file(EDITOR, "list.csv", SUBSCRIBED.encode())
    fetched: list[str] = []
    monkeypatch.setattr(files.requests, "get", lambda url, **kw: fetched.append(url))
    original = harness.slack._file_object

    def pointing_elsewhere(file: Any) -> dict[str, Any]:
        return {**original(file), "url_private_download": host}

    monkeypatch.setattr(harness.slack, "_file_object", pointing_elsewhere)
    view = open_import_modal(harness)
    harness.editor.submit_view(view, {Block.IMPORT_FILE: {Action.VALUE: [uploaded]}})
    wait_reply(harness, EDITOR, "not_a_slack_url")
    assert fetched == []


def test_a_hostile_list_name_is_shown_as_typed_on_the_card(harness: Harness):
    view = open_import_modal(harness)
    uploaded = harness.slack.add_file(EDITOR, "list.csv", SUBSCRIBED.encode())
    typed = "<!channel> 読者 <https://evil.example.com|Confirm here> 03-1234-5678"
    harness.editor.submit_view(
        view,
        {Block.IMPORT_FILE: {Action.VALUE: [uploaded]}, Block.IMPORT_LIST: {Action.VALUE: typed}},
    )
    [card] = harness.slack.wait_for(lambda: import_cards(harness) or None)
    shown = [card.text] + [b["text"]["text"] for b in card.blocks if "text" in b]
    for text in shown:
        assert "&lt;!channel&gt; 読者 &lt;https://evil.example.com|Confirm here&gt;" in text
        assert "<!channel>" not in text and "<https://" not in text
        assert "1234-5678" not in text  # a phone number typed into the list's name
    summary = wait_reply(harness, EDITOR, "Dry run of the import")
    assert "&lt;!channel&gt; 読者" in summary and "<!channel>" not in summary
