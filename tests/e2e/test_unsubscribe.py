"""`/unsubscribe`, its modal, `/newsletter subscribers …` and Postmark's webhook,
end to end: signed Slack requests into the running bot, Postmark over HTTP."""

from __future__ import annotations

import requests
from sqlalchemy import select

from bot.standins.slack import APPROVER_1, EDITOR, NEWSLETTER_CHANNEL, OUTSIDER
from handlers.ids import Action, Block, Callback
from storage.models import Subscriber, Suppression, UnsubscribeRequest
from tests.e2e.helpers import modal_errors
from tests.fixtures.bot import Harness
from tests.test_unsubscribe import add_subscriber, statuses

WEBHOOK_USER, WEBHOOK_PASSWORD = "postmark", "webhook-password-for-tests"


def open_modal(harness: Harness) -> dict:
    before = len(harness.slack.calls("views.open"))
    harness.editor.command("/unsubscribe", "")
    calls = harness.slack.wait_for(lambda: harness.slack.calls("views.open")[before:] or None)
    assert calls[0].ok, calls[0].response
    view = dict(calls[0].response["view"])
    assert view["callback_id"] == Callback.UNSUBSCRIBE
    return view


def modal_values(
    email: str, name: str = "", company: str = "", note: str = "", confirm: bool = False
) -> dict:
    return {
        Block.EMAIL: {Action.VALUE: email},
        Block.NAME: {Action.VALUE: name},
        Block.COMPANY: {Action.VALUE: company},
        Block.NOTE: {Action.VALUE: note},
        Block.CONFIRM: {Action.VALUE: ["confirm"] if confirm else []},
    }


def test_the_command_unsubscribes_and_tells_only_the_operator(harness: Harness):
    add_subscriber(harness.desk, "hanako@example.jp", name="山田花子", company="山田商事")
    response = harness.editor.command("/unsubscribe", "Hanako@example.jp 電話で依頼あり")
    assert response.status_code == 200
    [reply] = harness.wait_for_ephemeral(EDITOR)
    assert "hanako@example.jp is unsubscribed" in reply
    assert "Postmark's suppression list has it too" in reply
    assert "山田" not in reply and "電話" not in reply
    assert statuses(harness.desk, "hanako@example.jp") == ["unsubscribed"]
    assert harness.postmark.is_suppressed("hanako@example.jp", "broadcast")
    with harness.desk.db.sessions() as session:
        row = harness.desk.db and session.execute(select(Suppression)).scalar_one()
        assert (row.origin, row.actor, row.note) == ("slack", EDITOR, "電話で依頼あり")
    assert harness.channel_texts() == []  # nothing in any channel
    assert harness.slack.ephemeral_messages(APPROVER_1) == []
    assert harness.postmark.messages() == []


def test_an_invalid_address_gets_a_clear_error_and_changes_nothing(harness: Harness):
    harness.editor.command("/unsubscribe", "hanako-at-example.jp")
    [reply] = harness.wait_for_ephemeral(EDITOR)
    assert "is not an email address" in reply and "Nothing was changed" in reply
    with harness.desk.db.sessions() as session:
        assert session.execute(select(Suppression)).first() is None


def test_an_address_on_no_list_is_recorded_and_the_reply_says_so(harness: Harness):
    harness.editor.command("/unsubscribe", "stranger@example.jp")
    [reply] = harness.wait_for_ephemeral(EDITOR)
    assert "is not on any list" in reply and "recorded as suppressed" in reply
    harness.editor.command("/unsubscribe", "stranger@example.jp")
    replies = harness.wait_for_ephemeral(EDITOR, count=2)
    assert "already unsubscribed" in replies[1]


def test_the_modal_keeps_typed_details_internal_and_confirms_to_that_address(
    harness: Harness,
):
    add_subscriber(harness.desk, "hanako@example.jp")
    add_subscriber(harness.desk, "taro@example.jp", name="鈴木太郎")
    view = open_modal(harness)
    response = harness.editor.submit_view(
        view,
        modal_values(
            "hanako@example.jp",
            name="山田花子",
            company="山田商事",
            note="{{ subscriber.name }} 電話",
            confirm=True,
        ),
    )
    assert response.status_code == 200 and modal_errors(response) == {}
    assert statuses(harness.desk, "hanako@example.jp") == ["unsubscribed"]  # before the reply
    [reply] = harness.wait_for_ephemeral(EDITOR)
    assert "A confirmation was sent to hanako@example.jp" in reply
    assert "山田" not in reply
    [message] = harness.postmark.messages()
    assert message.MessageStream == "outbound" and message.Recipients == ("hanako@example.jp",)
    body = f"{message.Subject}{message.TextBody}{message.HtmlBody}"
    for typed in ("山田花子", "山田商事", "電話", "subscriber.name", "鈴木"):
        assert typed not in body
    with harness.desk.db.sessions() as session:
        kept = session.execute(select(UnsubscribeRequest)).scalar_one()
        assert (kept.given_name, kept.given_company, kept.confirmation_requested) == (
            "山田花子",
            "山田商事",
            True,
        )
        assert kept.confirmation_message_id == message.MessageID
    assert harness.channel_texts() == []


def test_the_modal_refuses_an_invalid_address_under_the_field(harness: Harness):
    view = open_modal(harness)
    response = harness.editor.submit_view(view, modal_values("山田花子", name="山田花子"))
    errors = modal_errors(response)
    assert list(errors) == [Block.EMAIL] and "not an email address" in errors[Block.EMAIL]
    with harness.desk.db.sessions() as session:
        assert session.execute(select(UnsubscribeRequest)).first() is None


def test_an_outsider_cannot_unsubscribe_anyone(harness: Harness):
    add_subscriber(harness.desk, "hanako@example.jp")
    harness.outsider.command("/unsubscribe", "hanako@example.jp")
    harness.wait_for_ephemeral(OUTSIDER)
    assert statuses(harness.desk, "hanako@example.jp") == ["active"]


def test_subscribers_shows_counts_and_the_push_state(harness: Harness):
    add_subscriber(harness.desk, "a@example.jp")
    add_subscriber(harness.desk, "b@example.jp")
    harness.postmark.faults.script(["503"], endpoint="/message-streams/{stream}/suppressions")
    harness.editor.command("/unsubscribe", "a@example.jp")
    [reply] = harness.wait_for_ephemeral(EDITOR)
    assert "Postmark could not be reached" in reply
    harness.editor.command("/newsletter", "subscribers")
    texts = harness.wait_for_ephemeral(EDITOR, count=2)
    assert "*Newsletter*: 1 active, 1 unsubscribed" in texts[1]
    assert "1 waiting to be pushed" in texts[1] and "FateUnknown" in texts[1]
    assert "a@example.jp" not in texts[1]  # counts only


def test_find_forget_and_resubscribe_from_slack(harness: Harness):
    add_subscriber(harness.desk, "hanako@example.jp", name="山田花子", company="山田商事")
    harness.editor.command("/newsletter", "subscribers find 山田")
    [found] = harness.wait_for_ephemeral(EDITOR)
    assert "hanako@example.jp" in found and "山田商事" in found
    # Resubscribe is for approvers only.
    harness.editor.command("/unsubscribe", "hanako@example.jp")
    harness.wait_for_ephemeral(EDITOR, count=2)
    harness.editor.command("/newsletter", "subscribers resubscribe hanako@example.jp 本人の希望")
    texts = harness.wait_for_ephemeral(EDITOR, count=3)
    assert "Only approvers may resubscribe" in texts[2]
    harness.approver.command("/newsletter", "subscribers resubscribe hanako@example.jp 本人の希望")
    [done] = harness.wait_for_ephemeral(APPROVER_1)
    assert "is subscribed again (lists: 1;" in done
    assert statuses(harness.desk, "hanako@example.jp") == ["active"]
    assert not harness.postmark.is_suppressed("hanako@example.jp", "broadcast")
    harness.editor.command("/newsletter", "subscribers forget hanako@example.jp")
    texts = harness.wait_for_ephemeral(EDITOR, count=4)
    assert "cannot be undone" in texts[3]  # it only asks: nothing is erased yet
    with harness.desk.db.sessions() as session:
        assert session.execute(select(Subscriber.email)).scalar_one() == "hanako@example.jp"
    ask = harness.slack.ephemeral_messages(EDITOR)[3]
    (button,) = [e for b in ask.blocks for e in b.get("elements", []) if e.get("action_id")]
    assert "cannot be undone" in button["confirm"]["text"]["text"]
    assert button["style"] == "danger"
    harness.editor.click("forget", message=ask)
    texts = harness.wait_for_ephemeral(EDITOR, count=5)
    assert "is forgotten" in texts[4]
    with harness.desk.db.sessions() as session:
        assert session.execute(select(Subscriber.email, Subscriber.name)).one() == (None, "")
    assert harness.postmark.is_suppressed("hanako@example.jp", "broadcast")
    assert all("hanako" not in text for text in harness.channel_texts())


def test_postmarks_own_unsubscribe_link_updates_local_state_by_webhook(harness: Harness):
    add_subscriber(harness.desk, "hanako@example.jp")
    harness.postmark.configure_webhook(
        f"{harness.url}/postmark/webhook", WEBHOOK_USER, WEBHOOK_PASSWORD
    )
    assert harness.postmark.unsubscribe("hanako@example.jp")
    assert harness.postmark.wait_for_webhooks()
    [event] = harness.postmark.webhook_events
    assert event.status == 200 and event.delivered
    assert statuses(harness.desk, "hanako@example.jp") == ["unsubscribed"]
    with harness.desk.db.sessions() as session:
        row = session.execute(select(Suppression)).scalar_one()
        assert (row.origin, row.push_state) == ("postmark_webhook", "not_needed")


def test_the_webhook_needs_basic_auth_and_refuses_malformed_bodies(harness: Harness):
    add_subscriber(harness.desk, "hanako@example.jp")
    url = f"{harness.url}/postmark/webhook"
    payload = {
        "RecordType": "SubscriptionChange",
        "Recipient": "hanako@example.jp",
        "SuppressSending": True,
        "MessageStream": "broadcast",
    }
    assert (
        requests.post(url, json=payload, auth=("postmark", "wrong"), timeout=5).status_code == 401
    )
    bad = requests.post(
        url, json={"RecordType": "Bounce"}, auth=(WEBHOOK_USER, WEBHOOK_PASSWORD), timeout=5
    )
    assert bad.status_code == 400
    assert statuses(harness.desk, "hanako@example.jp") == ["active"]
    good = requests.post(url, json=payload, auth=(WEBHOOK_USER, WEBHOOK_PASSWORD), timeout=5)
    assert good.status_code == 200
    assert statuses(harness.desk, "hanako@example.jp") == ["unsubscribed"]
    assert NEWSLETTER_CHANNEL not in [m.channel for m in harness.slack.all_messages()]
