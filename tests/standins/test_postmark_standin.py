"""The Postmark stand-in speaks Postmark's API to the real postmarker client.

Every test drives it over real HTTP: through postmarker's PostmarkClient
(pointed at it with ``root_api_url``) or plain `requests` for wire checks.
"""

from __future__ import annotations

import base64
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from postmarker.core import PostmarkClient
from postmarker.exceptions import ClientError

from bot.standins.postmark import DEFAULT_SERVER_TOKEN, Outcomes, PostmarkStandIn
from bot.standins.server import Reply, Request, StandIn

ROOT = Path(__file__).resolve().parents[2]
FROM = "Navigate <news@example.com>"
INACTIVE_PREFIX = "You tried to send to recipient(s) that have been marked as inactive."


def headers(token: str = DEFAULT_SERVER_TOKEN) -> dict[str, str]:
    return {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "X-Postmark-Server-Token": token,
    }


def post(standin: PostmarkStandIn, path: str, payload: Any, **kwargs: Any) -> requests.Response:
    return requests.post(
        standin.url + path.lstrip("/"),
        data=json.dumps(payload).encode("utf-8"),
        headers=kwargs.pop("headers", headers()),
        timeout=kwargs.pop("timeout", 5),
        **kwargs,
    )


def get(standin: PostmarkStandIn, path: str, **params: Any) -> requests.Response:
    return requests.get(standin.url + path.lstrip("/"), params=params, headers=headers(), timeout=5)


def email(to: str, stream: str = "outbound", **extra: Any) -> dict[str, Any]:
    message = {
        "From": FROM,
        "To": to,
        "Subject": "Hello",
        "TextBody": "Hello dear Postmark user.",
        "HtmlBody": "<html><body><strong>Hello</strong> dear Postmark user.</body></html>",
        "MessageStream": stream,
    }
    message.update(extra)
    return message


class Receiver(StandIn):
    """A webhook endpoint that checks HTTP basic auth and records requests."""

    def __init__(self, user: str, password: str) -> None:
        super().__init__()
        self.expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.requests: list[Request] = []

    def handle(self, request: Request) -> Reply:
        self.requests.append(request)
        if request.headers.get("authorization") != self.expected:
            return Reply(status=401)
        return Reply.json({"ok": True})

    def start(self, port: int = 0, host: str = "127.0.0.1") -> Receiver:
        super().start(port, host)
        return self


@pytest.fixture
def receiver() -> Any:
    server = Receiver("hook", "s3cret").start()
    yield server
    server.stop()


# ---------------------------------------------------------------------------- sending


def test_postmarker_sends_one_email_and_the_standin_stores_it(postmark, postmark_client):
    reply = postmark_client.emails.send(
        From=FROM,
        To="Reader One <reader1@example.com>",
        Cc="cc@example.com",
        Subject="Issue 42",
        HtmlBody="<p>Hi</p>",
        TextBody="Hi",
        Tag="issue-42",
        Metadata={"issue": "42"},
        Headers={"X-Issue": "42"},
        MessageStream="outbound",
    )
    assert reply["ErrorCode"] == 0
    assert reply["Message"] == "OK"
    assert reply["To"] == "Reader One <reader1@example.com>"
    assert datetime.fromisoformat(reply["SubmittedAt"]) <= datetime.now(UTC)
    [stored] = postmark.messages()
    assert stored.MessageID == reply["MessageID"]
    assert stored.Recipients == ("reader1@example.com", "cc@example.com")
    assert (stored.From, stored.Subject, stored.Tag) == (FROM, "Issue 42", "issue-42")
    assert (stored.HtmlBody, stored.TextBody) == ("<p>Hi</p>", "Hi")
    assert stored.Metadata == {"issue": "42"}
    assert stored.Headers == [{"Name": "X-Issue", "Value": "42"}]
    assert stored.MessageStream == "outbound"
    assert postmark.messages_to("READER1@example.com") == [stored]
    assert postmark.messages_to("cc@example.com") == [stored]
    assert postmark.messages_to("nobody@example.com") == []
    assert postmark.faults.calls("/email") == 1


def test_documented_single_send_on_the_wire(postmark):
    response = post(postmark, "/email", email("receiver@example.com"))
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"ErrorCode", "Message", "MessageID", "SubmittedAt", "To"}
    assert body["ErrorCode"] == 0 and body["To"] == "receiver@example.com"
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", body["MessageID"]
    )


def test_message_stream_defaults_to_outbound(postmark):
    message = email("r@example.com")
    del message["MessageStream"]
    assert post(postmark, "/email", message).status_code == 200
    assert [m.MessageStream for m in postmark.messages()] == ["outbound"]


def test_batch_reports_300_and_406_per_message_inside_http_200(postmark, postmark_client):
    postmark.suppress("gone@example.com", stream="broadcast")
    results = postmark_client.emails.send_batch(
        email("ok@example.com", "broadcast"),
        email("not-an-address", "broadcast"),
        email("Gone <GONE@example.com>", "broadcast"),
        email("gone@example.com", "outbound"),  # suppressed on the other stream only
    )
    assert [r["ErrorCode"] for r in results] == [0, 300, 406, 0]
    assert results[1] == {"ErrorCode": 300, "Message": results[1]["Message"]}
    assert "not-an-address" in results[1]["Message"]
    assert results[2]["Message"].startswith(INACTIVE_PREFIX)
    assert "gone@example.com" in results[2]["Message"]
    stored = postmark.messages()
    assert [m.MessageID for m in stored] == [results[0]["MessageID"], results[3]["MessageID"]]
    assert postmark.messages_to("gone@example.com", stream="broadcast") == []


def test_batch_wire_format_is_a_json_array_in_order(postmark):
    response = post(postmark, "/email/batch", [email(f"r{i}@example.com") for i in range(3)])
    assert response.status_code == 200
    body = response.json()
    assert [r["To"] for r in body] == ["r0@example.com", "r1@example.com", "r2@example.com"]
    assert len({r["MessageID"] for r in body}) == 3


def test_wrong_or_missing_token_is_401_with_error_code_10(postmark):
    for bad in ({**headers(), "X-Postmark-Server-Token": "wrong"}, {"Accept": "application/json"}):
        response = post(postmark, "/email", email("r@example.com"), headers=bad)
        assert response.status_code == 401
        assert response.json()["ErrorCode"] == 10
    client = PostmarkClient(server_token="wrong", root_api_url=postmark.url, timeout=5)
    with pytest.raises(ClientError) as raised:
        client.emails.send(From=FROM, To="r@example.com", TextBody="x")
    assert raised.value.error_code == 10
    assert postmark.messages() == []


def test_another_server_token_and_the_old_one_deleted(postmark):
    old = postmark.server_token
    new = postmark.generate_server_token()
    assert postmark.server_tokens == [old, new]
    for token in (old, new):  # both work until the old one is deleted
        sent = post(postmark, "/email", email("r@example.com"), headers=headers(token))
        assert sent.status_code == 200, sent.text
    postmark.delete_server_token(old)
    refused = post(postmark, "/email", email("r@example.com"), headers=headers(old))
    assert refused.status_code == 401 and refused.json()["ErrorCode"] == 10
    assert post(postmark, "/email", email("r@example.com"), headers=headers(new)).ok
    with pytest.raises(ValueError, match="no such token"):
        postmark.delete_server_token(old)
    with pytest.raises(ValueError, match="last token"):
        postmark.delete_server_token(new)
    assert len(postmark.messages()) == 3
    postmark.reset()
    assert postmark.server_tokens == [old]


def test_token_none_accepts_any_token():
    standin = PostmarkStandIn(server_token=None).start()
    try:
        client = PostmarkClient(server_token="anything", root_api_url=standin.url, timeout=5)
        assert client.emails.send(From=FROM, To="r@example.com", TextBody="x")["ErrorCode"] == 0
        missing = post(standin, "/email", email("r@example.com"), headers={})
        assert missing.status_code == 401
    finally:
        standin.stop()


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"{not json", 402),
        (email("no-at-sign"), 300),
        (email(""), 300),
        (email("r@example.com", HtmlBody=None, TextBody=None), 300),
        (email("r@example.com", "no-such-stream"), 1235),
        (email("r@example.com", Metadata={"k" * 21: "v"}), 300),
        (email("r@example.com", Metadata={"k": "v" * 81}), 300),
        ({**email("r@example.com"), "From": ""}, 300),
    ],
)
def test_whole_request_errors_are_422_with_error_code(postmark, payload, code):
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    response = requests.post(postmark.url + "email", data=data, headers=headers(), timeout=5)
    assert response.status_code == 422
    body = response.json()
    assert set(body) == {"ErrorCode", "Message"}
    assert body["ErrorCode"] == code
    assert postmark.messages() == []


def test_postmarker_raises_client_error_for_unknown_stream(postmark, postmark_client):
    with pytest.raises(ClientError) as raised:
        postmark_client.emails.send(From=FROM, To="r@example.com", TextBody="x", MessageStream="x")
    assert raised.value.error_code == 1235
    assert "does not exist" in str(raised.value)


def test_more_than_500_messages_are_refused_whole(postmark):
    response = post(postmark, "/email/batch", [email(f"r{i}@example.com") for i in range(501)])
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == 410
    assert postmark.messages() == []
    response = post(postmark, "/email/batch", [email(f"r{i}@example.com") for i in range(500)])
    assert response.status_code == 200
    assert len(postmark.messages()) == 500


def test_batch_over_50_mb_is_refused(postmark):
    big = "x" * (26 * 1024 * 1024)
    response = post(postmark, "/email/batch", [email("a@example.com", TextBody=big)] * 2)
    assert response.status_code == 413
    assert postmark.messages() == []


def test_at_most_50_recipients_across_to_cc_bcc(postmark):
    def addresses(start: int, count: int) -> str:
        return ",".join(f"r{i}@example.com" for i in range(start, start + count))

    fifty = email(addresses(0, 20), Cc=addresses(20, 20), Bcc=addresses(40, 10))
    assert post(postmark, "/email", fifty).status_code == 200
    fifty_one = email(addresses(0, 20), Cc=addresses(20, 20), Bcc=addresses(40, 11))
    response = post(postmark, "/email", fifty_one)
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == 300
    assert "50" in response.json()["Message"]
    batch = post(postmark, "/email/batch", [fifty_one, fifty]).json()
    assert [r["ErrorCode"] for r in batch] == [300, 0]
    assert len(postmark.messages()) == 2


def test_single_send_to_a_suppressed_recipient(postmark, postmark_client):
    postmark.suppress(
        "gone@example.com", stream="outbound", reason="HardBounce", origin="Recipient"
    )
    with pytest.raises(ClientError) as raised:
        postmark_client.emails.send(From=FROM, To="gone@example.com", TextBody="x")
    assert raised.value.error_code == 406
    assert INACTIVE_PREFIX in str(raised.value)
    assert postmark.messages() == []
    # Only some inactive: Postmark delivers to the others and says so.
    reply = postmark_client.emails.send(
        From=FROM, To="gone@example.com,ok@example.com", TextBody="x"
    )
    assert reply["ErrorCode"] == 0
    assert "will not deliver to these inactive addresses: gone@example.com" in reply["Message"]
    [stored] = postmark.messages()
    assert stored.Recipients == ("ok@example.com",)


def test_japanese_subject_and_body_round_trip_byte_for_byte(postmark, postmark_client):
    subject = "今月のお知らせ 🌸 — 第17年"
    text = "こんにちは、山田太郎さん。\n配信停止はこちら：\u3000全角スペース"
    html_body = "<p>株式会社テスト「ニュース」</p>"
    reply = postmark_client.emails.send(
        From="広報 <news@example.com>",
        To="山田 <taro@example.com>",
        Subject=subject,
        TextBody=text,
        HtmlBody=html_body,
        Metadata={"名前": "値"},
    )
    stored = postmark.message(reply["MessageID"])
    assert stored is not None
    assert stored.Subject.encode("utf-8") == subject.encode("utf-8")
    assert stored.TextBody.encode("utf-8") == text.encode("utf-8")
    assert stored.HtmlBody.encode("utf-8") == html_body.encode("utf-8")
    assert stored.From == "広報 <news@example.com>"
    raw = get(postmark, f"/messages/outbound/{reply['MessageID']}/details")
    assert raw.headers["Content-Type"] == "application/json; charset=utf-8"
    assert subject.encode("utf-8") in raw.content  # sent as UTF-8, not \\u escapes
    details = raw.json()
    assert (details["Subject"], details["TextBody"], details["HtmlBody"]) == (
        subject,
        text,
        html_body,
    )
    assert details["To"] == [{"Email": "taro@example.com", "Name": "山田"}]
    assert details["Metadata"] == {"名前": "値"}


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    subject=st.text(st.characters(blacklist_categories=("Cs",)), max_size=60),
    body=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=200),
)
def test_any_unicode_text_round_trips(postmark_server, subject, body):
    response = post(
        postmark_server, "/email", email("r@example.com", Subject=subject, TextBody=body)
    )
    assert response.status_code == 200, response.text
    stored = postmark_server.message(response.json()["MessageID"])
    assert stored is not None
    assert (stored.Subject, stored.TextBody) == (subject, body)


# ---------------------------------------------------------------------------- streams


def test_get_message_stream(postmark, postmark_client):
    stream = postmark_client.call("GET", "/message-streams/broadcast")
    assert stream["ID"] == "broadcast"
    assert stream["MessageStreamType"] == "Broadcasts"
    assert stream["ServerID"] == postmark.server_id
    assert {"Name", "Description", "CreatedAt", "UpdatedAt", "ArchivedAt"} <= set(stream)
    assert stream["SubscriptionManagementConfiguration"] == {"UnsubscribeHandlingType": "Postmark"}
    outbound = postmark_client.call("GET", "/message-streams/outbound")
    assert outbound["MessageStreamType"] == "Transactional"
    response = get(postmark, "/message-streams/nope")
    assert (response.status_code, response.json()["ErrorCode"]) == (422, 1226)


def test_list_message_streams_with_type_filter(postmark, postmark_client):
    listing = postmark_client.call("GET", "/message-streams")
    assert listing["TotalCount"] == 2
    assert {s["ID"] for s in listing["MessageStreams"]} == {"outbound", "broadcast"}
    only = postmark_client.call("GET", "/message-streams", MessageStreamType="Broadcasts")
    assert [s["ID"] for s in only["MessageStreams"]] == ["broadcast"]


def test_streams_are_configurable_and_inbound_cannot_send():
    standin = PostmarkStandIn(
        streams={"tx": "Transactional", "news": "Broadcasts", "inbound": "Inbound"}
    ).start()
    try:
        client = PostmarkClient(server_token=standin.server_token, root_api_url=standin.url)
        ids = {s["ID"] for s in client.call("GET", "/message-streams")["MessageStreams"]}
        assert ids == {"tx", "news", "inbound"}
        assert post(standin, "/email", email("r@example.com", "news")).status_code == 200
        refused = post(standin, "/email", email("r@example.com", "inbound"))
        assert refused.json()["ErrorCode"] == 1236
        # "outbound" is not configured here, so the default stream is unknown.
        default = email("r@example.com")
        del default["MessageStream"]
        assert post(standin, "/email", default).json()["ErrorCode"] == 1235
    finally:
        standin.stop()
    with pytest.raises(ValueError):
        PostmarkStandIn(streams={"x": "Marketing"})


# ---------------------------------------------------------------------------- suppressions


def test_suppressions_create_dump_and_delete(postmark, postmark_client):
    base = "/message-streams/broadcast/suppressions"
    created = postmark_client.call(
        "POST",
        base,
        data={"Suppressions": [{"EmailAddress": "a@example.com"}, {"EmailAddress": "bad"}]},
    )
    assert created == {
        "Suppressions": [
            {"EmailAddress": "a@example.com", "Status": "Suppressed", "Message": None},
            {
                "EmailAddress": "bad",
                "Status": "Failed",
                "Message": "An invalid email address was provided.",
            },
        ]
    }
    postmark.suppress("b@example.com", "broadcast", reason="HardBounce", origin="Recipient")
    dump = postmark_client.call("GET", base + "/dump")["Suppressions"]
    assert {d["EmailAddress"]: (d["SuppressionReason"], d["Origin"]) for d in dump} == {
        "a@example.com": ("ManualSuppression", "Customer"),
        "b@example.com": ("HardBounce", "Recipient"),
    }
    assert datetime.fromisoformat(dump[0]["CreatedAt"]).tzinfo is not None

    def dump_of(**filters: str) -> list[str]:
        rows = postmark_client.call("GET", base + "/dump", **filters)["Suppressions"]
        return sorted(r["EmailAddress"] for r in rows)

    assert dump_of(Origin="Recipient") == ["b@example.com"]
    assert dump_of(origin="customer") == ["a@example.com"]
    assert dump_of(SuppressionReason="HardBounce") == ["b@example.com"]
    assert dump_of(EmailAddress="A@example.com") == ["a@example.com"]
    today = datetime.now(UTC).date()
    assert dump_of(fromdate=str(today), todate=str(today)) == ["a@example.com", "b@example.com"]
    assert dump_of(fromdate=str(today + timedelta(days=1))) == []
    assert dump_of(todate=str(today - timedelta(days=1))) == []
    assert postmark_client.call("GET", "/message-streams/outbound/suppressions/dump") == {
        "Suppressions": []
    }
    bad = get(postmark, base + "/dump", SuppressionReason="Bored")
    assert (bad.status_code, bad.json()["ErrorCode"]) == (422, 1404)

    deleted = postmark_client.call(
        "POST", base + "/delete", data={"Suppressions": [{"EmailAddress": "a@example.com"}]}
    )
    assert deleted == {
        "Suppressions": [{"EmailAddress": "a@example.com", "Status": "Deleted", "Message": None}]
    }
    assert dump_of() == ["b@example.com"]
    # Sending to a deleted suppression works again; to the remaining one does not.
    results = postmark_client.emails.send_batch(
        email("a@example.com", "broadcast"), email("b@example.com", "broadcast")
    )
    assert [r["ErrorCode"] for r in results] == [0, 406]


def test_suppressions_request_limits_and_unknown_stream(postmark):
    too_many = {"Suppressions": [{"EmailAddress": f"r{i}@example.com"} for i in range(51)]}
    response = post(postmark, "/message-streams/broadcast/suppressions", too_many)
    assert (response.status_code, response.json()["ErrorCode"]) == (422, 1410)
    response = post(postmark, "/message-streams/broadcast/suppressions", {"nope": 1})
    assert response.json()["ErrorCode"] == 1409
    response = post(postmark, "/message-streams/nope/suppressions", {"Suppressions": []})
    assert response.json()["ErrorCode"] == 1226
    assert postmark.suppressions("broadcast") == []


# ---------------------------------------------------------------------------- outbound search


def test_outbound_search_by_metadata_finds_a_batch(postmark, postmark_client):
    for batch_id in ("b1", "b2"):
        postmark_client.emails.send_batch(
            *[
                email(f"{batch_id}-{i}@example.com", "broadcast", Metadata={"batch_id": batch_id})
                for i in range(7)
            ],
            Tag="issue-1",
        )
    postmark_client.emails.send(From=FROM, To="tx@example.com", TextBody="x")
    found = postmark_client.call(
        "GET",
        "/messages/outbound",
        count=5,
        offset=0,
        messagestream="broadcast",
        metadata_batch_id="b2",
    )
    assert found["TotalCount"] == 7
    assert len(found["Messages"]) == 5
    first = found["Messages"][0]
    assert first["Recipients"] == ["b2-6@example.com"]  # newest first
    assert first["To"] == [{"Email": "b2-6@example.com", "Name": ""}]
    assert first["Metadata"] == {"batch_id": "b2"}
    assert (first["Status"], first["Sandboxed"], first["Tag"]) == ("Sent", False, "issue-1")
    assert first["MessageStream"] == "broadcast"
    expected = {
        "Tag", "MessageID", "MessageStream", "To", "Cc", "Bcc", "Recipients", "ReceivedAt",
        "From", "Subject", "Attachments", "Status", "TrackOpens", "TrackLinks", "Metadata",
        "Sandboxed",
    }  # fmt: skip
    assert set(first) == expected
    rest = postmark_client.call(
        "GET",
        "/messages/outbound",
        count=5,
        offset=5,
        messagestream="broadcast",
        metadata_batch_id="b2",
    )
    ids = {m["MessageID"] for m in found["Messages"] + rest["Messages"]}
    stored = {
        m.MessageID for m in postmark.messages("broadcast") if m.Metadata == {"batch_id": "b2"}
    }
    assert ids == stored
    # Without messagestream Postmark searches the default transactional stream only.
    default = postmark_client.call("GET", "/messages/outbound", count=50, offset=0)
    assert [m["Recipients"] for m in default["Messages"]] == [["tx@example.com"]]
    by_recipient = postmark_client.call(
        "GET",
        "/messages/outbound",
        count=50,
        offset=0,
        messagestream="broadcast",
        recipient="B1-3@example.com",
    )
    assert by_recipient["TotalCount"] == 1
    none = postmark_client.call(
        "GET",
        "/messages/outbound",
        count=50,
        offset=0,
        messagestream="broadcast",
        metadata_batch_id="b3",
    )
    assert none == {"TotalCount": 0, "Messages": []}


def test_outbound_search_through_postmarker_and_parameter_errors(postmark, postmark_client):
    postmark_client.emails.send(From=FROM, To="r@example.com", TextBody="x", Tag="t1")
    found = postmark_client.messages.outbound.all(count=10, tag="t1")
    assert [m.MessageID for m in found] == [postmark.messages()[0].MessageID]
    assert postmark_client.messages.outbound.all(count=10, tag="other") == []
    for params in ({}, {"count": 501}, {"count": 0}, {"count": "x"}, {"count": 1, "offset": -1}):
        response = get(postmark, "/messages/outbound", **params)
        assert (response.status_code, response.json()["ErrorCode"]) == (422, 700), params
    missing = get(postmark, "/messages/outbound/nope/details")
    assert missing.json()["ErrorCode"] == 701


# ------------------------------------------------------------------------ unsubscribe & webhooks


def test_unsubscribe_link_round_trip_posts_a_subscription_change(
    postmark, postmark_client, receiver
):
    postmark.configure_webhook(receiver.url + "postmark/webhook", "hook", "s3cret")
    results = postmark_client.emails.send_batch(
        email(
            "reader@example.com",
            "broadcast",
            HtmlBody='<a href="{{{ pm:unsubscribe }}}">Unsubscribe</a>',
            TextBody="Stop: {{{pm:unsubscribe}}}",
            Metadata={"batch_id": "b9"},
            Tag="issue-9",
        ),
        email("other@example.com", "broadcast", TextBody="{{{ pm:unsubscribe }}}", HtmlBody=None),
    )
    mine = postmark.message(results[0]["MessageID"])
    other = postmark.message(results[1]["MessageID"])
    assert mine is not None and other is not None
    link = postmark.unsubscribe_url(mine.MessageID)
    assert mine.TextBody == f"Stop: {link}"
    assert mine.HtmlBody == f'<a href="{link}">Unsubscribe</a>'
    assert other.TextBody == postmark.unsubscribe_url(other.MessageID) != link
    assert "pm:unsubscribe" not in (mine.HtmlBody + mine.TextBody + other.TextBody)

    page = requests.get(link, timeout=5)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert "reader@example.com" in page.text and "<form" in page.text
    assert not postmark.is_suppressed("reader@example.com", "broadcast")

    done = requests.post(link, timeout=5)
    assert done.status_code == 200 and "unsubscribed" in done.text
    assert postmark.is_suppressed("reader@example.com", "broadcast")
    assert not postmark.is_suppressed("other@example.com", "broadcast")
    assert not postmark.is_suppressed("reader@example.com", "outbound")
    dump = postmark_client.call("GET", "/message-streams/broadcast/suppressions/dump")
    [row] = dump["Suppressions"]
    assert (row["EmailAddress"], row["SuppressionReason"], row["Origin"]) == (
        "reader@example.com",
        "ManualSuppression",
        "Recipient",
    )

    assert postmark.wait_for_webhooks(timeout=5)
    [event] = postmark.webhook_events
    assert (event.status, event.delivered, event.error) == (200, True, None)
    [delivered] = receiver.requests
    assert delivered.method == "POST" and delivered.path == "/postmark/webhook"
    assert delivered.headers["content-type"].startswith("application/json")
    payload = delivered.json()
    assert payload == event.payload
    assert set(payload) == {
        "RecordType", "MessageID", "ServerID", "MessageStream", "ChangedAt", "Recipient",
        "Origin", "SuppressSending", "SuppressionReason", "Tag", "Metadata",
    }  # fmt: skip
    assert payload["RecordType"] == "SubscriptionChange"
    assert payload["MessageID"] == mine.MessageID
    assert payload["MessageStream"] == "broadcast"
    assert payload["Recipient"] == "reader@example.com"
    assert (payload["Origin"], payload["SuppressionReason"]) == ("Recipient", "ManualSuppression")
    assert payload["SuppressSending"] is True
    assert (payload["Tag"], payload["Metadata"]) == ("issue-9", {"batch_id": "b9"})
    assert datetime.fromisoformat(payload["ChangedAt"]).tzinfo is not None

    # Unsubscribing twice changes nothing and emits nothing; the address now bounces as 406.
    assert requests.get(link, params={"confirm": "1"}, timeout=5).status_code == 200
    assert len(postmark.webhook_events) == 1
    again = postmark_client.emails.send_batch(email("reader@example.com", "broadcast"))
    assert again[0]["ErrorCode"] == 406


def test_unsubscribe_link_is_bound_to_its_message(postmark, postmark_client):
    reply = postmark_client.emails.send(
        From=FROM, To="r@example.com", TextBody="{{{ pm:unsubscribe }}}", MessageStream="broadcast"
    )
    link = postmark.unsubscribe_url(reply["MessageID"])
    forged = link[:-1] + ("0" if link[-1] != "0" else "1")
    assert requests.post(forged, timeout=5).status_code == 404
    assert requests.get(postmark.url + "unsubscribe/nothing", timeout=5).status_code == 404
    assert postmark.suppressions("broadcast") == []


def test_placeholder_is_left_alone_on_a_transactional_stream(postmark, postmark_client):
    reply = postmark_client.emails.send(
        From=FROM, To="r@example.com", TextBody="{{{ pm:unsubscribe }}}"
    )
    assert postmark.message(reply["MessageID"]).TextBody == "{{{ pm:unsubscribe }}}"


def test_webhook_with_wrong_credentials_records_the_401(postmark, postmark_client, receiver):
    postmark.configure_webhook(receiver.url, "hook", "wrong")
    postmark.unsubscribe("someone@example.com", "broadcast")
    assert postmark.wait_for_webhooks(timeout=5)
    [event] = postmark.webhook_events
    assert (event.status, event.delivered) == (401, False)
    assert "wrong" not in repr(event)


def test_webhook_to_an_unreachable_url_records_the_error(postmark):
    dead = StandIn()
    dead.start()
    url = dead.url
    dead.stop()
    postmark.configure_webhook(url, "u", "p")
    postmark.unsubscribe("someone@example.com")
    assert postmark.wait_for_webhooks(timeout=5)
    [event] = postmark.webhook_events
    assert event.status is None and event.error and "ConnectionError" in event.error


def test_trigger_bounce_and_spam_complaint(postmark, postmark_client, receiver):
    postmark.configure_webhook(receiver.url, "hook", "s3cret")
    results = postmark_client.emails.send_batch(
        email("bounce@example.com", "broadcast", Metadata={"batch_id": "b1"}, Tag="t"),
        email("spam@example.com", "broadcast"),
    )
    bounce = postmark.trigger_bounce(results[0]["MessageID"])
    spam = postmark.trigger_spam_complaint(results[1]["MessageID"])
    assert postmark.wait_for_webhooks(timeout=5)
    kinds = [
        (e.record_type, e.payload.get("Email") or e.payload.get("Recipient"))
        for e in postmark.webhook_events
    ]
    # On a broadcast stream a complaint is a SubscriptionChange only: Postmark's
    # SpamComplaint webhook is for transactional streams.
    assert kinds == [
        ("Bounce", "bounce@example.com"),
        ("SubscriptionChange", "bounce@example.com"),
        ("SubscriptionChange", "spam@example.com"),
    ]
    assert all(e.status == 200 for e in postmark.webhook_events)
    assert [r.json()["RecordType"] for r in receiver.requests] == [k for k, _ in kinds]
    b = bounce.payload
    assert (b["Type"], b["TypeCode"], b["MessageID"], b["MessageStream"]) == (
        "HardBounce",
        1,
        results[0]["MessageID"],
        "broadcast",
    )
    assert (b["Inactive"], b["Metadata"], b["Tag"], b["ServerID"]) == (
        True,
        {"batch_id": "b1"},
        "t",
        1,
    )
    assert {"ID", "Name", "Description", "Details", "From", "BouncedAt", "Subject"} <= set(b)
    assert spam is not None
    assert (spam.record_type, spam.payload["SuppressionReason"], spam.payload["Origin"]) == (
        "SubscriptionChange",
        "SpamComplaint",
        "Recipient",
    )
    assert spam.payload["MessageID"] == results[1]["MessageID"]
    reasons = {
        s.EmailAddress: (s.SuppressionReason, s.Origin) for s in postmark.suppressions("broadcast")
    }
    assert reasons == {
        "bounce@example.com": ("HardBounce", "Recipient"),
        "spam@example.com": ("SpamComplaint", "Recipient"),
    }
    change = postmark.webhook_events[1].payload
    assert (change["SuppressionReason"], change["MessageID"]) == (
        "HardBounce",
        results[0]["MessageID"],
    )
    # A spam complaint cannot be reactivated through the API; a hard bounce can.
    deleted = postmark_client.call(
        "POST",
        "/message-streams/broadcast/suppressions/delete",
        data={
            "Suppressions": [
                {"EmailAddress": "spam@example.com"},
                {"EmailAddress": "bounce@example.com"},
            ]
        },
    )
    assert [d["Status"] for d in deleted["Suppressions"]] == ["Failed", "Deleted"]
    assert postmark.wait_for_webhooks(timeout=5)
    reactivated = postmark.webhook_events[-1].payload
    assert (reactivated["Recipient"], reactivated["SuppressSending"]) == (
        "bounce@example.com",
        False,
    )
    with pytest.raises(KeyError):
        postmark.trigger_bounce("no-such-message")


def test_unsubscribe_by_message_id_or_address(postmark, postmark_client):
    reply = postmark_client.emails.send(
        From=FROM, To="a@example.com", TextBody="x", MessageStream="broadcast"
    )
    assert postmark.unsubscribe(reply["MessageID"]) is True
    assert postmark.unsubscribe(reply["MessageID"]) is False
    assert postmark.unsubscribe("B@Example.com", "outbound") is True
    assert postmark.is_suppressed("a@example.com", "broadcast")
    assert postmark.is_suppressed("b@example.com", "outbound")
    assert [e.payload["Recipient"] for e in postmark.webhook_events] == [
        "a@example.com",
        "b@example.com",
    ]
    assert all(e.url is None and e.done.is_set() for e in postmark.webhook_events)


# ---------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    ("kind", "status", "code"), [("429", 429, 429), ("500", 500, 101), ("503", 503, 100)]
)
def test_http_faults_store_nothing_and_are_consumed(postmark, postmark_client, kind, status, code):
    postmark.faults.script([kind], endpoint="/email/batch")
    with pytest.raises(ClientError) as raised:
        postmark_client.emails.send_batch(email("r@example.com"))
    assert raised.value.error_code == code
    assert postmark.messages() == []
    # Only the batch endpoint was scripted; the single send is untouched.
    postmark.faults.script([kind], endpoint="/email/batch")
    raw = post(postmark, "/email/batch", [email("r@example.com")])
    assert raw.status_code == status
    assert raw.json()["ErrorCode"] == code
    assert postmark_client.emails.send_batch(email("r@example.com"))[0]["ErrorCode"] == 0
    assert len(postmark.messages()) == 1
    assert postmark.faults.calls("/email/batch") == 3
    assert [f.kind for f in postmark.faults.applied] == [kind, kind]


def test_reset_fault_drops_the_connection_before_anything_is_stored(postmark, postmark_client):
    postmark.faults.script(["reset"], endpoint="/email")
    with pytest.raises(requests.ConnectionError):
        postmark_client.emails.send(From=FROM, To="r@example.com", TextBody="x")
    assert postmark.messages() == []
    assert postmark.faults.calls("/email") == 1
    assert (
        postmark_client.emails.send(From=FROM, To="r@example.com", TextBody="x")["ErrorCode"] == 0
    )


def test_reply_lost_stores_the_batch_and_the_sender_can_find_it(postmark, postmark_client):
    postmark.faults.script(["reply_lost"], endpoint="/email/batch")
    batch = [
        email(f"r{i}@example.com", "broadcast", Metadata={"batch_id": "lost-1"}) for i in range(3)
    ]
    with pytest.raises(requests.ConnectionError):
        postmark_client.emails.send_batch(*batch)
    assert len(postmark.messages("broadcast")) == 3
    found = postmark_client.call(
        "GET",
        "/messages/outbound",
        count=500,
        offset=0,
        messagestream="broadcast",
        metadata_batch_id="lost-1",
    )
    assert found["TotalCount"] == 3


def test_reply_late_makes_the_client_time_out_after_storing(postmark):
    postmark.faults.late_reply_seconds = 1.0
    postmark.faults.script(["reply_late"])
    client = PostmarkClient(
        server_token=DEFAULT_SERVER_TOKEN, root_api_url=postmark.url, timeout=0.2
    )
    with pytest.raises(requests.Timeout):
        client.emails.send(From=FROM, To="r@example.com", TextBody="x")
    assert len(postmark.messages()) == 1


def _search_batch(client: PostmarkClient, batch_id: str) -> int:
    found = client.call(
        "GET",
        "/messages/outbound",
        count=500,
        offset=0,
        messagestream="broadcast",
        metadata_batch_id=batch_id,
    )
    return int(found["TotalCount"])


def test_index_lag_hides_accepted_messages_from_the_search_for_a_while(postmark, postmark_client):
    postmark.index_lag = 0.6
    batch = [
        email(f"r{i}@example.com", "broadcast", Metadata={"batch_id": "lag-1"}) for i in range(3)
    ]
    results = postmark_client.emails.send_batch(*batch)
    assert all(r["ErrorCode"] == 0 for r in results)
    assert len(postmark.messages("broadcast")) == 3  # taken at once
    assert _search_batch(postmark_client, "lag-1") == 0  # but not yet in the index
    with pytest.raises(ClientError):  # nor its details
        postmark_client.call("GET", f"/messages/outbound/{results[0]['MessageID']}/details")
    time.sleep(0.7)
    assert _search_batch(postmark_client, "lag-1") == 3


def test_process_late_drops_the_connection_and_processes_after_the_client_gave_up(
    postmark, postmark_client
):
    postmark.faults.late_process_seconds = 0.5
    postmark.faults.script(["process_late"], endpoint="/email/batch")
    batch = [
        email(f"r{i}@example.com", "broadcast", Metadata={"batch_id": "late-1"}) for i in range(4)
    ]
    with pytest.raises(requests.ConnectionError):
        postmark_client.emails.send_batch(*batch)
    assert postmark.messages("broadcast") == []  # nothing yet: the client sees a failure
    assert _search_batch(postmark_client, "late-1") == 0
    deadline = time.monotonic() + 5
    while len(postmark.messages("broadcast")) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(postmark.messages("broadcast")) == 4  # processed after all
    assert _search_batch(postmark_client, "late-1") == 4


def test_a_reset_forgets_late_processing_that_has_not_happened(postmark, postmark_client):
    postmark.faults.late_process_seconds = 0.3
    postmark.faults.script(["process_late"], endpoint="/email/batch")
    with pytest.raises(requests.ConnectionError):
        postmark_client.emails.send_batch(email("r@example.com", "broadcast"))
    postmark.reset()
    time.sleep(0.5)
    assert postmark.messages() == []


def test_latency_overlaps_across_concurrent_calls(postmark, postmark_client):
    postmark.latency = 0.3
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        replies = list(
            pool.map(
                lambda i: post(postmark, "/email", email(f"r{i}@example.com")).json(), range(4)
            )
        )
    elapsed = time.monotonic() - started
    assert [r["ErrorCode"] for r in replies] == [0, 0, 0, 0]
    assert 0.3 <= elapsed < 1.0  # four calls of 0.3 s ran side by side
    postmark.latency = 0.0
    postmark.faults.script(["latency:0.25"])
    started = time.monotonic()
    postmark_client.emails.send(From=FROM, To="r@example.com", TextBody="x")
    assert time.monotonic() - started >= 0.25
    assert len({m.MessageID for m in postmark.messages()}) == 5


def test_script_mixes_faults_and_successes_in_order(postmark):
    postmark.faults.script(["503", None, "429"], endpoint="/email/batch")
    statuses = [
        post(postmark, "/email/batch", [email("r@example.com")]).status_code for _ in range(4)
    ]
    assert statuses == [503, 200, 429, 200]
    assert postmark.faults.pending() == 0
    assert len(postmark.messages()) == 2
    with pytest.raises(ValueError):
        postmark.faults.script(["teapot"])


def _random_run(standin: PostmarkStandIn, seed: int) -> list[int | str]:
    standin.reset()
    standin.faults.randomly(rate=0.4, kinds=["429", "503", "reset"], seed=seed, endpoint="/email")
    outcome: list[int | str] = []
    for i in range(25):
        try:
            outcome.append(post(standin, "/email", email(f"r{i}@example.com")).status_code)
        except requests.ConnectionError:
            outcome.append("reset")
    return outcome


def test_seeded_random_faults_are_reproducible(postmark):
    first = _random_run(postmark, seed=7)
    stored_first = len(postmark.messages())
    second = _random_run(postmark, seed=7)
    assert first == second
    assert len(postmark.messages()) == stored_first == first.count(200)
    assert 200 in first and len(set(first)) >= 3  # successes and at least two fault kinds
    assert _random_run(postmark, seed=8) != first


@settings(max_examples=15, deadline=None)
@given(st.lists(st.sampled_from([None, "429", "500", "503"]), min_size=1, max_size=6))
def test_any_script_is_consumed_exactly_in_order(postmark_server, kinds):
    postmark_server.reset()
    postmark_server.faults.script(kinds, endpoint="/email/batch")
    expected = [{None: 200, "429": 429, "500": 500, "503": 503}[k] for k in kinds]
    got = [
        post(postmark_server, "/email/batch", [email("r@example.com")]).status_code for _ in kinds
    ]
    assert got == expected
    assert len(postmark_server.messages()) == kinds.count(None)
    postmark_server.reset()


# ---------------------------------------------------------------------------- store


def test_store_is_thread_safe_under_concurrent_batches(postmark):
    def send(n: int) -> list[str]:
        body = post(postmark, "/email/batch", [email(f"t{n}-{i}@example.com") for i in range(50)])
        return [r["MessageID"] for r in body.json()]

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = [i for chunk in pool.map(send, range(16)) for i in chunk]
    assert len(ids) == len(set(ids)) == 800
    assert {m.MessageID for m in postmark.messages()} == set(ids)
    assert all(postmark.message(i) is not None for i in ids)


def test_reset_clears_everything(postmark, postmark_client):
    postmark_client.emails.send(From=FROM, To="r@example.com", TextBody="x")
    postmark.suppress("s@example.com", "broadcast")
    postmark.unsubscribe("u@example.com")
    postmark.faults.script(["503"])
    postmark.latency = 1.0
    postmark.configure_webhook("http://127.0.0.1:9/")
    postmark.server_token = "changed"
    postmark.reset()
    assert postmark.messages() == []
    assert postmark.suppressions("broadcast") == []
    assert postmark.webhook_events == []
    assert postmark.faults.pending() == 0 and postmark.faults.calls() == 0
    assert postmark.latency == 0.0
    assert postmark.server_token == DEFAULT_SERVER_TOKEN
    postmark.unsubscribe("v@example.com")
    assert postmark.webhook_events[0].url is None


def test_keep_bodies_false_keeps_everything_but_the_bodies():
    standin = PostmarkStandIn(keep_bodies=False).start()
    try:
        response = post(
            standin,
            "/email/batch",
            [email("r@example.com", "broadcast", Metadata={"batch_id": "1"})],
        )
        assert response.json()[0]["ErrorCode"] == 0
        [stored] = standin.messages()
        assert (stored.HtmlBody, stored.TextBody, stored.Headers) == (None, None, None)
        assert stored.Metadata == {"batch_id": "1"}
        assert stored.Subject == "Hello"
    finally:
        standin.stop()


def test_main_prints_its_url_and_stops_on_ctrl_c():
    # Started the way a background job starts it (SIGINT inherited as ignored):
    # the stand-in installs its own handler, so Ctrl-C stops it all the same.
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from bot.standins.postmark import main; raise SystemExit(main(['--port', '0']))",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=ignore_sigint_like_a_background_job,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert url, line
        response = requests.get(url.group(0) + "message-streams", headers=headers(), timeout=5)
        assert response.json()["TotalCount"] == 2
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()


def ignore_sigint_like_a_background_job() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_webhook_delivery_happens_off_the_request_thread(postmark, postmark_client):
    """A slow webhook receiver must not slow the unsubscribe page."""

    class Slow(StandIn):
        def handle(self, request: Request) -> Reply:
            time.sleep(0.5)
            return Reply(status=200)

    slow = Slow()
    slow.start()
    try:
        postmark.configure_webhook(slow.url)
        reply = postmark_client.emails.send(
            From=FROM,
            To="r@example.com",
            TextBody="{{{ pm:unsubscribe }}}",
            MessageStream="broadcast",
        )
        started = time.monotonic()
        assert requests.post(postmark.unsubscribe_url(reply["MessageID"]), timeout=5).ok
        assert time.monotonic() - started < 0.4
        assert postmark.webhook_events[0].status is None
        assert postmark.wait_for_webhooks(timeout=5)
        assert postmark.webhook_events[0].status == 200
    finally:
        slow.stop()


def test_concurrent_readers_do_not_block_writers(postmark):
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            postmark.messages_to("r1@example.com")

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(5):
            assert (
                post(postmark, "/email/batch", [email(f"r{i}@example.com")] * 20).status_code == 200
            )
    finally:
        stop.set()
        reader.join()
    assert len(postmark.messages()) == 100


def test_a_spam_complaint_on_a_transactional_stream_is_a_spam_complaint_record(
    postmark, postmark_client
):
    reply = postmark_client.emails.send(From=FROM, To="t@example.com", TextBody="x")
    spam = postmark.trigger_spam_complaint(reply["MessageID"])
    assert spam is not None
    assert (spam.record_type, spam.payload["Type"], spam.payload["TypeCode"]) == (
        "SpamComplaint",
        "SpamComplaint",
        512,
    )
    assert [e.record_type for e in postmark.webhook_events] == [
        "SpamComplaint",
        "SubscriptionChange",
    ]
    # A second complaint about an address already suppressed changes no list.
    broadcast = postmark_client.emails.send(
        From=FROM, To="b@example.com", TextBody="x", MessageStream="broadcast"
    )
    assert postmark.trigger_spam_complaint(broadcast["MessageID"]) is not None
    assert postmark.trigger_spam_complaint(broadcast["MessageID"]) is None


def test_delivery_and_soft_bounce_webhooks_carry_the_metadata(postmark, postmark_client):
    [result] = postmark_client.emails.send_batch(
        email("r@example.com", "broadcast", Metadata={"send_id": "3", "delivery_id": "9"}, Tag="t")
    )
    delivered = postmark.trigger_delivery(result["MessageID"]).payload
    assert set(delivered) == {
        "RecordType",
        "ServerID",
        "MessageStream",
        "MessageID",
        "Recipient",
        "Tag",
        "DeliveredAt",
        "Details",
        "Metadata",
    }
    assert (delivered["RecordType"], delivered["Recipient"], delivered["Metadata"]) == (
        "Delivery",
        "r@example.com",
        {"send_id": "3", "delivery_id": "9"},
    )
    soft = postmark.trigger_soft_bounce(result["MessageID"]).payload
    assert (soft["Type"], soft["TypeCode"], soft["Inactive"]) == ("SoftBounce", 4096, False)
    assert soft["Metadata"] == {"send_id": "3", "delivery_id": "9"}
    # A soft bounce suppresses nothing.
    assert not postmark.is_suppressed("r@example.com", "broadcast")


def test_outcomes_make_exact_shares_of_the_broadcasts_bounce(postmark, postmark_client, receiver):
    postmark.configure_webhook(receiver.url, "hook", "s3cret")
    postmark.set_outcomes(
        Outcomes(hard_bounce=0.1, soft_bounce=0.05, complaint=0.05, unsubscribe=0.1)
    )
    postmark_client.emails.send_batch(
        *[email(f"r{i}@example.com", "broadcast", Metadata={"n": str(i)}) for i in range(200)]
    )
    # Transactional mail is not part of the plan.
    postmark_client.emails.send(From=FROM, To="t@example.com", TextBody="x")
    assert postmark.wait_for_webhooks(timeout=20)
    events = postmark.webhook_events
    by_kind = Counter(
        (e.record_type, e.payload.get("Type") or e.payload.get("SuppressionReason")) for e in events
    )
    assert by_kind == {
        ("Bounce", "HardBounce"): 20,
        ("SubscriptionChange", "HardBounce"): 20,
        ("Bounce", "SoftBounce"): 10,
        # Complaints and unsubscribes follow a delivery; bounces have none.
        ("Delivery", None): 170,
        ("SubscriptionChange", "SpamComplaint"): 10,
        ("SubscriptionChange", "ManualSuppression"): 20,
    }
    assert all(e.delivered for e in events)
    assert all(e.payload["Metadata"] for e in events)
    bounced = {e.payload["Email"] for e in events if e.record_type == "Bounce"}
    delivered = {e.payload["Recipient"] for e in events if e.record_type == "Delivery"}
    assert not bounced & delivered and len(bounced | delivered) == 200
    assert len([s for s in postmark.suppressions("broadcast")]) == 20 + 10 + 20
    postmark.set_outcomes(None)
    postmark_client.emails.send_batch(email("quiet@example.com", "broadcast"))
    assert len(postmark.webhook_events) == len(events)


def test_outcome_shares_are_checked():
    with pytest.raises(ValueError):
        Outcomes(hard_bounce=0.7, unsubscribe=0.5)
    with pytest.raises(ValueError):
        Outcomes(complaint=-0.1)


@pytest.mark.parametrize("handling", ["None", "Custom"])
def test_without_postmarks_unsubscribe_handling_the_placeholder_stays_literal(
    postmark, postmark_client, handling
):
    postmark.configure_stream("broadcast", "Broadcasts", handling)
    stream = postmark_client.call("GET", "/message-streams/broadcast")
    assert stream["SubscriptionManagementConfiguration"] == {"UnsubscribeHandlingType": handling}
    postmark_client.emails.send(
        From=FROM,
        To="r@example.com",
        TextBody="Stop: {{{ pm:unsubscribe }}}",
        MessageStream="broadcast",
    )
    (message,) = postmark.messages("broadcast")
    assert message.TextBody == "Stop: {{{ pm:unsubscribe }}}"
    postmark.reset()  # back to Postmark's own handling
    assert postmark.stream_type("broadcast") == "Broadcasts"
    postmark_client.emails.send(
        From=FROM,
        To="r@example.com",
        TextBody="Stop: {{{ pm:unsubscribe }}}",
        MessageStream="broadcast",
    )
    (message,) = postmark.messages("broadcast")
    assert message.TextBody == f"Stop: {postmark.unsubscribe_url(message.MessageID)}"
