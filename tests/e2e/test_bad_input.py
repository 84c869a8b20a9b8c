"""No 500 for bad input (the attacks of issue #15, run again): malformed or
missing timestamps and signatures, non-UTF-8 bodies, wrong content types, a
private_metadata the bot never wrote, a listener that fails — each gets a 4xx
or a clear answer, and nothing changes."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import pytest
import requests

from bot import approvals, issues
from bot.standins.slack import APPROVER_1, EDITOR
from handlers import blocks
from handlers.ids import Action, Block, Callback
from tests.e2e.test_fuzz_entry_points import database_state, settle
from tests.fixtures.bot import SIGNING_SECRET, Harness

FORM = "application/x-www-form-urlencoded"
COMMAND = b"command=%2Fnewsletter&text=help&user_id=U0EDITOR1&team_id=T1"


def send(harness: Harness, body: bytes, content_type: str = FORM, **headers: str) -> Any:
    request = harness.driver.build(body, content_type, headers=headers)
    return harness.driver.send(request)


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Slack-Request-Timestamp": "not-a-number"},
        {"X-Slack-Request-Timestamp": "1.7e9"},
        {"X-Slack-Request-Timestamp": ""},
        {"X-Slack-Request-Timestamp": "9" * 40},
        {"X-Slack-Signature": ""},
        {"X-Slack-Signature": "v0=" + "0" * 64},
        {"X-Slack-Signature": "garbage"},
    ],
)
def test_malformed_timestamps_and_signatures_get_401(harness: Harness, headers: dict[str, str]):
    before = database_state(harness)
    response = send(harness, COMMAND, **headers)
    assert response.status_code == 401
    assert database_state(harness) == before


def test_a_non_utf8_body_gets_400_even_signed(harness: Harness):
    body = b"command=%2Fnewsletter&text=\xff\xfe"
    ts = str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256)
    request = harness.driver.build(
        body,
        FORM,
        headers={"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest.hexdigest()}"},
        signature="",
    )
    before = database_state(harness)
    assert harness.driver.send(request).status_code == 400
    assert database_state(harness) == before


@pytest.mark.parametrize("content_type", ["text/plain", "multipart/form-data; boundary=x", ""])
def test_a_wrong_content_type_gets_415(harness: Harness, content_type: str):
    assert send(harness, COMMAND, content_type).status_code == 415


def test_a_get_or_an_empty_length_gets_a_4xx(harness: Harness):
    assert requests.get(f"{harness.url}/slack/events", timeout=10).status_code == 405
    assert (
        requests.post(
            f"{harness.url}/postmark/webhook",
            data=b"",
            auth=("postmark", "webhook-password-for-tests"),
            timeout=10,
        ).status_code
        == 400
    )


def test_a_signed_but_malformed_payload_gets_400(harness: Harness):
    response = harness.driver.post_form({"payload": "{not json"}, "block_actions")
    assert response.status_code == 400


def test_a_reject_modal_with_foreign_metadata_changes_nothing(harness: Harness):
    view = {
        **blocks.reject_modal(request_id=1, issue_id=1, channel="C1", ts="1.1"),
        "id": "V0BAD00001",
        "hash": "1.0",
        "private_metadata": "x|<!channel>|y",
    }
    before = database_state(harness)
    response = harness.approver.submit_view(
        view, {Block.REASON: {Action.VALUE: "no"}}, apply_ack=False
    )
    assert response.status_code == 200
    answer = json.loads(response.content)
    assert answer["response_action"] == "errors" and Block.REASON in answer["errors"]
    assert database_state(harness) == before


def test_a_draft_modal_with_foreign_metadata_saves_nothing(harness: Harness):
    for metadata in ("abc", "1|2", "²", "9" * 40):
        view = {**blocks.draft_modal(), "id": "V0BAD00002", "hash": "1.0"}
        view["private_metadata"] = metadata
        before = database_state(harness)
        response = harness.editor.submit_view(
            view,
            {Block.SUBJECT: {Action.VALUE: "x"}, Block.BODY: {Action.VALUE: "y"}},
            apply_ack=False,
        )
        assert response.status_code == 200, metadata
        assert json.loads(response.content)["response_action"] == "errors"
        assert database_state(harness) == before


def test_a_failing_listener_answers_the_person_not_500(harness: Harness, monkeypatch):
    saved = issues.create(harness.desk, actor=EDITOR, subject="S", body="B")
    card = approvals.submit(harness.desk, saved.issue_id, actor=EDITOR)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the database went away")

    # The reject modal's submission saves before its ack: a failure there used to be a 500.
    monkeypatch.setattr(approvals, "reject", broken)
    view = {
        **blocks.reject_modal(request_id=card.request_id, issue_id=1, channel="C1", ts="1.1"),
        "id": "V0BAD00003",
        "hash": "1.0",
    }
    response = harness.as_user(APPROVER_1).submit_view(
        view, {Block.REASON: {Action.VALUE: "no"}}, apply_ack=False
    )
    assert response.status_code == 200
    answer = json.loads(response.content)
    assert answer["response_action"] == "errors"
    assert "RuntimeError" in answer["errors"][Block.REASON]
    assert approvals.card(harness.desk, card.request_id).state == "open"
    settle(harness)


def test_an_unknown_callback_gets_404_and_changes_nothing(harness: Harness):
    view = {**blocks.draft_modal(), "id": "V0BAD00004", "hash": "1.0", "callback_id": "nope"}
    before = database_state(harness)
    response = harness.editor.submit_view(view, {}, apply_ack=False)
    assert response.status_code == 404
    assert database_state(harness) == before
    assert Callback.DRAFT != "nope"
