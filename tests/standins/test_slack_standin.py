"""The Slack stand-in answers slack_sdk like Slack; the driver's requests pass Bolt.

slack_sdk's WebClient runs unmodified against the stand-in over real HTTP;
a tiny Bolt app served by wsgiref receives the driver's signed requests.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import requests
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier

from bot.standins.slack import (
    APPROVER_1,
    APPROVER_2,
    APPROVERS_GROUP,
    EDITOR,
    METHOD_SCOPES,
    NEWSLETTER_CHANNEL,
    OUTSIDER,
    SlackError,
    SlackStandIn,
)
from bot.standins.slack_driver import SlackDriver

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TS = re.compile(r"^\d{10}\.\d{6}$")

DRAFT_VIEW: dict[str, Any] = {
    "type": "modal",
    "callback_id": "draft",
    "private_metadata": "issue=7",
    "title": {"type": "plain_text", "text": "下書き"},
    "submit": {"type": "plain_text", "text": "保存"},
    "blocks": [
        {
            "type": "input",
            "block_id": "subject",
            "label": {"type": "plain_text", "text": "件名"},
            "element": {"type": "plain_text_input", "action_id": "value"},
        },
        {
            "type": "input",
            "block_id": "body",
            "label": {"type": "plain_text", "text": "本文"},
            "element": {
                "type": "plain_text_input",
                "action_id": "value",
                "multiline": True,
                "initial_value": "初期値",
            },
        },
        {
            "type": "input",
            "block_id": "lists",
            "optional": True,
            "label": {"type": "plain_text", "text": "Lists"},
            "element": {
                "type": "checkboxes",
                "action_id": "value",
                "options": [
                    {"text": {"type": "plain_text", "text": "Main"}, "value": "main"},
                    {"text": {"type": "plain_text", "text": "Test"}, "value": "test"},
                ],
            },
        },
        {
            "type": "input",
            "block_id": "when",
            "optional": True,
            "label": {"type": "plain_text", "text": "Date"},
            "element": {"type": "datepicker", "action_id": "value"},
        },
        {
            "type": "input",
            "block_id": "kind",
            "optional": True,
            "label": {"type": "plain_text", "text": "Kind"},
            "element": {
                "type": "static_select",
                "action_id": "value",
                "options": [
                    {"text": {"type": "plain_text", "text": "Monthly"}, "value": "monthly"},
                ],
            },
        },
    ],
}
CARD_BLOCKS: list[dict[str, Any]] = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "*承認依頼* 3,120 recipients"}},
    {
        "type": "actions",
        "block_id": "decide",
        "elements": [
            {
                "type": "button",
                "action_id": "approve",
                "text": {"type": "plain_text", "text": "Approve"},
                "value": "req-42",
                "style": "primary",
            },
            {
                "type": "button",
                "action_id": "reject",
                "text": {"type": "plain_text", "text": "Reject"},
                "value": "req-42",
            },
        ],
    },
]


def client(slack: SlackStandIn, token: str | None = None, **kwargs: Any) -> WebClient:
    return WebClient(token=token or slack.bot_token, base_url=slack.url, **kwargs)


def error_of(call: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(SlackApiError) as info:
        call()
    return info.value.response.status_code, dict(info.value.response.data)


# --------------------------------------------------------------------------
# Auth, scopes, faults


def test_auth_test_answers_like_slack_with_scopes_header(slack: SlackStandIn) -> None:
    response = client(slack).auth_test()
    assert response["ok"] is True
    assert response["team_id"] == slack.team_id
    assert response["user_id"] == slack.bot_user_id
    assert response["bot_id"] == slack.bot_id
    assert response["url"] == "https://countersign-rehearsal.slack.com/"
    assert response["team"] == "Countersign Rehearsal"
    scopes = response.headers["x-oauth-scopes"].split(",")
    assert "chat:write" in scopes and "users:read.email" in scopes
    assert slack.calls("auth.test")[-1].ok


def test_unknown_token_missing_token_and_unknown_method(slack: SlackStandIn) -> None:
    assert error_of(client(slack, "xoxb-nope").auth_test) == (
        200,
        {"ok": False, "error": "invalid_auth"},
    )
    anonymous = WebClient(base_url=slack.url)
    assert error_of(anonymous.auth_test)[1]["error"] == "not_authed"
    status, body = error_of(lambda: client(slack).api_call("chat.fly"))
    assert (status, body["error"]) == (200, "unknown_method")


def test_every_method_is_answered_by_the_module_of_its_family() -> None:
    """The stand-in is split by API family: `chat.update` lives in slack_chat, and so on."""
    family_module = {
        "auth": "bot.standins.slack",
        "chat": "bot.standins.slack_chat",
        "views": "bot.standins.slack_views",
        "users": "bot.standins.slack_users",
        "usergroups": "bot.standins.slack_users",
        "conversations": "bot.standins.slack_conversations",
        "files": "bot.standins.slack_files",
    }
    for method in METHOD_SCOPES:
        if method == "api.test":
            continue
        handler = getattr(SlackStandIn, "_api_" + method.replace(".", "_"))
        assert handler.__module__ == family_module[method.split(".")[0]], method


def test_token_accepted_as_form_field(slack: SlackStandIn) -> None:
    answer = requests.post(
        slack.url + "auth.test", data={"token": slack.bot_token}, timeout=5
    ).json()
    assert answer["ok"] is True and answer["user_id"] == slack.bot_user_id


def test_missing_scope_names_needed_and_provided(slack: SlackStandIn) -> None:
    token = slack.issue_token(["chat:write", "users:read"])
    status, body = error_of(
        lambda: client(slack, token).users_lookupByEmail(email="alice@example.com")
    )
    assert status == 200
    assert body == {
        "ok": False,
        "error": "missing_scope",
        "needed": "users:read.email",
        "provided": "chat:write,users:read",
    }


def test_ratelimited_raises_429_without_retry_handler(slack: SlackStandIn) -> None:
    slack.rate_limit("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as info:
        client(slack).chat_postMessage(channel=NEWSLETTER_CHANNEL, text="hi")
    assert info.value.response.status_code == 429
    assert info.value.response["error"] == "ratelimited"
    assert info.value.response.headers["retry-after"] == "7"
    assert slack.channel_messages(NEWSLETTER_CHANNEL) == []
    # only once: the next call goes through
    assert client(slack).chat_postMessage(channel=NEWSLETTER_CHANNEL, text="hi")["ok"]


def test_ratelimited_is_retried_by_slack_sdk_retry_handler(slack: SlackStandIn) -> None:
    slack.rate_limit("chat.postMessage", retry_after=0)
    web = client(slack, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])
    assert web.chat_postMessage(channel=NEWSLETTER_CHANNEL, text="retry")["ok"]
    assert [c.status for c in slack.calls("chat.postMessage")] == [429, 200]


def test_fail_next_injects_an_error_once(slack: SlackStandIn) -> None:
    slack.fail_next("chat.postMessage", "channel_not_found")
    status, body = error_of(
        lambda: client(slack).chat_postMessage(channel=NEWSLETTER_CHANNEL, text="x")
    )
    assert (status, body["error"]) == (200, "channel_not_found")
    assert client(slack).chat_postMessage(channel=NEWSLETTER_CHANNEL, text="x")["ok"]
    assert len(slack.channel_messages(NEWSLETTER_CHANNEL)) == 1


def test_fail_next_can_drop_the_connection(slack: SlackStandIn) -> None:
    # slack_sdk retries a dropped connection once by default: drop it twice
    slack.fail_next("auth.test", "internal_error", reset=True, times=2)
    with pytest.raises(ConnectionError):
        client(slack).auth_test()
    assert len(slack.calls("auth.test")) == 2
    slack.fail_next("auth.test", "internal_error", reset=True)
    assert client(slack).auth_test()["ok"]  # the retry goes through


# --------------------------------------------------------------------------
# chat.*


def test_post_message_returns_channel_ts_message_and_is_recorded(slack: SlackStandIn) -> None:
    web = client(slack)
    first = web.chat_postMessage(
        channel=NEWSLETTER_CHANNEL, text="承認をお願いします", blocks=CARD_BLOCKS
    )
    second = web.chat_postMessage(channel="#newsletter", text="2", thread_ts=first["ts"])
    assert first["channel"] == second["channel"] == NEWSLETTER_CHANNEL
    assert TS.match(first["ts"]) and TS.match(second["ts"])
    assert float(second["ts"]) > float(first["ts"])
    message = first["message"]
    assert message["text"] == "承認をお願いします"
    assert message["user"] == slack.bot_user_id and message["bot_id"] == slack.bot_id
    assert all(block.get("block_id") for block in message["blocks"])
    stored = slack.channel_messages(NEWSLETTER_CHANNEL)
    assert [m.ts for m in stored] == [first["ts"], second["ts"]]
    assert stored[1].thread_ts == first["ts"]
    assert stored[0].action_ids() == ["approve", "reject"]
    call = slack.calls("chat.postMessage")[0]
    assert call.args["blocks"][0]["text"]["text"] == "*承認依頼* 3,120 recipients"
    assert "token" not in call.args


def test_post_message_to_a_user_goes_to_the_bots_dm(slack: SlackStandIn) -> None:
    answer = client(slack).chat_postMessage(channel=OUTSIDER, text="DM")
    assert answer["channel"] == "D0OUTSID1"
    assert [m.text for m in slack.dm_messages(OUTSIDER)] == ["DM"]


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
def test_post_message_errors(slack: SlackStandIn) -> None:
    web = client(slack)
    assert error_of(lambda: web.chat_postMessage(channel="C0MISSING", text="x"))[1]["error"] == (
        "channel_not_found"
    )
    slack.add_channel("C0RANDOM01", "random", [EDITOR], bot_member=False)
    slack.add_channel("C0SECRET01", "secret", [EDITOR], bot_member=False, is_private=True)
    # with chat:write.public the bot may post to a public channel it is not in
    assert web.chat_postMessage(channel="C0RANDOM01", text="x")["ok"]
    narrow = client(slack, slack.issue_token(["chat:write"]))
    assert error_of(lambda: narrow.chat_postMessage(channel="C0RANDOM01", text="x"))[1][
        "error"
    ] == ("not_in_channel")
    assert error_of(lambda: web.chat_postMessage(channel="C0SECRET01", text="x"))[1]["error"] == (
        "channel_not_found"
    )
    assert error_of(lambda: web.chat_postMessage(channel=NEWSLETTER_CHANNEL))[1]["error"] == (
        "no_text"
    )
    bad = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    _status, body = error_of(
        lambda: web.chat_postMessage(channel=NEWSLETTER_CHANNEL, text="x", blocks=bad)
    )
    assert body["error"] == "invalid_blocks"
    assert "/blocks/0/text/text" in body["errors"][0]
    assert slack.channel_messages(NEWSLETTER_CHANNEL) == []


def test_post_ephemeral(slack: SlackStandIn) -> None:
    web = client(slack)
    answer = web.chat_postEphemeral(channel=NEWSLETTER_CHANNEL, user=EDITOR, text="あなただけ")
    assert TS.match(answer["message_ts"])
    [shown] = slack.ephemeral_messages(EDITOR)
    assert (shown.text, shown.channel, shown.ts) == (
        "あなただけ",
        NEWSLETTER_CHANNEL,
        answer["message_ts"],
    )
    assert slack.ephemeral_messages(APPROVER_1) == []
    assert slack.channel_messages(NEWSLETTER_CHANNEL) == []
    _status, body = error_of(
        lambda: web.chat_postEphemeral(channel=NEWSLETTER_CHANNEL, user=OUTSIDER, text="x")
    )
    assert body["error"] == "user_not_in_channel"


def test_chat_update_changes_current_state(slack: SlackStandIn) -> None:
    web = client(slack)
    posted = web.chat_postMessage(channel=NEWSLETTER_CHANNEL, text="pending", blocks=CARD_BLOCKS)
    updated = web.chat_update(
        channel=NEWSLETTER_CHANNEL, ts=posted["ts"], text="approved", blocks=[]
    )
    assert (updated["channel"], updated["ts"], updated["text"]) == (
        NEWSLETTER_CHANNEL,
        posted["ts"],
        "approved",
    )
    [message] = slack.channel_messages(NEWSLETTER_CHANNEL)
    assert (message.text, message.blocks, message.edited) == ("approved", [], True)
    _status, body = error_of(
        lambda: web.chat_update(channel=NEWSLETTER_CHANNEL, ts="1.000001", text="x")
    )
    assert body["error"] == "message_not_found"
    human = slack.post_user_message(NEWSLETTER_CHANNEL, EDITOR, "人のメッセージ")
    _status, body = error_of(
        lambda: web.chat_update(channel=NEWSLETTER_CHANNEL, ts=human.ts, text="x")
    )
    assert body["error"] == "cant_update_message"


def test_get_permalink(slack: SlackStandIn) -> None:
    web = client(slack)
    posted = web.chat_postMessage(channel=NEWSLETTER_CHANNEL, text="x")
    answer = web.chat_getPermalink(channel=NEWSLETTER_CHANNEL, message_ts=posted["ts"])
    assert answer["channel"] == NEWSLETTER_CHANNEL
    assert answer["permalink"] == (
        f"https://countersign-rehearsal.slack.com/archives/{NEWSLETTER_CHANNEL}/"
        f"p{posted['ts'].replace('.', '')}"
    )
    _status, body = error_of(
        lambda: web.chat_getPermalink(channel=NEWSLETTER_CHANNEL, message_ts="1.000002")
    )
    assert body["error"] == "message_not_found"


def test_japanese_text_round_trips_form_json_and_response_url(slack: SlackStandIn) -> None:
    text = "日本語のテキスト「承認」🙂 & = + %"
    web = client(slack)
    web.api_call("chat.postMessage", data={"channel": NEWSLETTER_CHANNEL, "text": text})
    web.chat_postMessage(channel=NEWSLETTER_CHANNEL, text=text)  # JSON body
    url = slack.new_response_url(EDITOR, NEWSLETTER_CHANNEL)
    requests.post(url, json={"text": text}, timeout=5)
    assert [m.text for m in slack.channel_messages(NEWSLETTER_CHANNEL)] == [text, text]
    assert [m.text for m in slack.ephemeral_messages(EDITOR)] == [text]
    assert web.users_info(user=EDITOR)["user"]["real_name"] == "山田花子"


def test_concurrent_posts_get_unique_increasing_ts(slack: SlackStandIn) -> None:
    web = client(slack)
    results: list[str] = []
    lock = threading.Lock()

    def post(n: int) -> None:
        for i in range(10):
            ts = web.chat_postMessage(channel=NEWSLETTER_CHANNEL, text=f"{n}-{i}")["ts"]
            with lock:
                results.append(ts)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 80
    stored = [m.ts for m in slack.channel_messages(NEWSLETTER_CHANNEL)]
    assert stored == sorted(stored, key=float) and len(stored) == 80


# --------------------------------------------------------------------------
# views.*


def test_views_open_needs_a_registered_live_trigger(slack: SlackStandIn) -> None:
    web = client(slack)
    assert error_of(lambda: web.views_open(trigger_id="123.456.abc", view=DRAFT_VIEW))[1][
        "error"
    ] == ("invalid_trigger_id")
    trigger = slack.new_trigger_id(EDITOR)
    view = web.views_open(trigger_id=trigger, view=DRAFT_VIEW)["view"]
    assert view["id"].startswith("V") and view["callback_id"] == "draft"
    assert view["private_metadata"] == "issue=7" and view["state"] == {"values": {}}
    assert view["root_view_id"] == view["id"] and view["hash"]
    assert [v["id"] for v in slack.open_views(EDITOR)] == [view["id"]]
    assert error_of(lambda: web.views_open(trigger_id=trigger, view=DRAFT_VIEW))[1]["error"] == (
        "exchanged_trigger_id"
    )
    stale = slack.new_trigger_id(EDITOR, ttl=-1)
    assert error_of(lambda: web.views_open(trigger_id=stale, view=DRAFT_VIEW))[1]["error"] == (
        "expired_trigger_id"
    )


def test_views_open_rejects_an_invalid_view(slack: SlackStandIn) -> None:
    bad = {**DRAFT_VIEW, "title": {"type": "plain_text", "text": "x" * 25}}
    _status, body = error_of(
        lambda: client(slack).views_open(trigger_id=slack.new_trigger_id(EDITOR), view=bad)
    )
    assert body["error"] == "invalid_arguments"
    assert "/view/title/text" in body["response_metadata"]["messages"][0]
    assert slack.open_views(EDITOR) == []


def test_views_update_push_and_publish(slack: SlackStandIn) -> None:
    web = client(slack)
    spec = {**DRAFT_VIEW, "external_id": "draft-7"}
    opened = web.views_open(trigger_id=slack.new_trigger_id(EDITOR), view=spec)["view"]
    by_id = web.views_update(
        view_id=opened["id"], view={**DRAFT_VIEW, "private_metadata": "issue=8"}
    )["view"]
    assert by_id["id"] == opened["id"] and by_id["private_metadata"] == "issue=8"
    by_external = web.views_update(external_id="draft-7", view=DRAFT_VIEW, hash=by_id["hash"])
    assert by_external["view"]["id"] == opened["id"]
    assert error_of(lambda: web.views_update(view_id=opened["id"], view=DRAFT_VIEW, hash="stale"))[
        1
    ]["error"] == ("hash_conflict")
    assert error_of(lambda: web.views_update(view_id="V0NOPE", view=DRAFT_VIEW))[1]["error"] == (
        "not_found"
    )
    pushed = web.views_push(trigger_id=slack.new_trigger_id(EDITOR), view=DRAFT_VIEW)["view"]
    assert pushed["previous_view_id"] == opened["id"] and pushed["root_view_id"] == opened["id"]
    assert [v["id"] for v in slack.open_views(EDITOR)] == [opened["id"], pushed["id"]]
    home = {
        "type": "home",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "ホーム"}}],
    }
    published = web.views_publish(user_id=APPROVER_1, view=home)["view"]
    assert published["type"] == "home"
    stored = slack.home_view(APPROVER_1)
    assert stored is not None and stored["blocks"][0]["text"]["text"] == "ホーム"
    again = web.views_publish(user_id=APPROVER_1, view=home)["view"]
    assert again["id"] == published["id"]
    assert slack.home_view(EDITOR) is None


# --------------------------------------------------------------------------
# users, usergroups, conversations


def test_users_info_shows_email_only_with_the_email_scope(slack: SlackStandIn) -> None:
    user = client(slack).users_info(user=APPROVER_2)["user"]
    assert user["id"] == APPROVER_2 and user["real_name"] == "佐藤太郎"
    assert user["profile"]["email"] == "taro@example.com"
    assert user["tz"] == "Asia/Tokyo" and user["tz_offset"] == 9 * 3600
    assert user["is_bot"] is False and user["deleted"] is False
    narrow = client(slack, slack.issue_token(["users:read"]))
    assert "email" not in narrow.users_info(user=APPROVER_2)["user"]["profile"]
    assert error_of(lambda: client(slack).users_info(user="U0NOBODY"))[1]["error"] == (
        "user_not_found"
    )


def test_users_lookup_by_email(slack: SlackStandIn) -> None:
    web = client(slack)
    assert web.users_lookupByEmail(email="Alice@Example.com")["user"]["id"] == APPROVER_1
    assert error_of(lambda: web.users_lookupByEmail(email="nobody@example.com"))[1]["error"] == (
        "users_not_found"
    )


def test_usergroups(slack: SlackStandIn) -> None:
    web = client(slack)
    assert web.usergroups_users_list(usergroup=APPROVERS_GROUP)["users"] == [
        APPROVER_1,
        APPROVER_2,
    ]
    groups = web.usergroups_list(include_users=True)["usergroups"]
    assert [(g["id"], g["handle"], g["users"]) for g in groups] == [
        (APPROVERS_GROUP, "newsletter-approvers", [APPROVER_1, APPROVER_2])
    ]
    assert "users" not in web.usergroups_list()["usergroups"][0]
    assert error_of(lambda: web.usergroups_users_list(usergroup="S0NOPE"))[1]["error"] == (
        "no_such_subteam"
    )


def test_an_admins_group_change_is_told_to_the_app(slack: SlackStandIn) -> None:
    told: list[dict[str, Any]] = []
    slack.event_sink = told.append
    events = slack.set_usergroup_users(APPROVERS_GROUP, [APPROVER_1, EDITOR])
    assert told == events == slack.events
    changed, updated = events
    assert changed["type"] == "subteam_members_changed"
    assert changed["subteam_id"] == APPROVERS_GROUP
    assert (changed["added_users"], changed["removed_users"]) == ([EDITOR], [APPROVER_2])
    assert (changed["added_users_count"], changed["removed_users_count"]) == ("1", "1")
    assert updated["type"] == "subteam_updated"
    assert updated["subteam"]["id"] == APPROVERS_GROUP
    assert updated["subteam"]["users"] == [APPROVER_1, EDITOR]
    assert client(slack).usergroups_users_list(usergroup=APPROVERS_GROUP)["users"] == [
        APPROVER_1,
        EDITOR,
    ]
    assert slack.set_usergroup_users(APPROVERS_GROUP, [APPROVER_1, EDITOR]) == []  # no change
    with pytest.raises(SlackError):
        slack.set_usergroup_users("S0NOPE", [APPROVER_1])
    assert len(told) == 2


def test_usergroups_need_a_paid_plan(slack: SlackStandIn) -> None:
    slack.plan_paid = False
    web = client(slack)
    for call in (
        lambda: web.usergroups_users_list(usergroup=APPROVERS_GROUP),
        web.usergroups_list,
    ):
        assert error_of(call) == (200, {"ok": False, "error": "plan_upgrade_required"})


def test_conversations_info_and_members(slack: SlackStandIn) -> None:
    web = client(slack)
    channel = web.conversations_info(channel=NEWSLETTER_CHANNEL)["channel"]
    assert (channel["id"], channel["name"], channel["is_private"], channel["is_member"]) == (
        NEWSLETTER_CHANNEL,
        "newsletter",
        False,
        True,
    )
    members = web.conversations_members(channel=NEWSLETTER_CHANNEL)["members"]
    assert set(members) == {EDITOR, APPROVER_1, APPROVER_2, slack.bot_user_id}
    assert OUTSIDER not in members
    pages = [
        page["members"] for page in web.conversations_members(channel=NEWSLETTER_CHANNEL, limit=3)
    ]
    assert [len(p) for p in pages] == [3, 1] and [m for p in pages for m in p] == members
    slack.add_channel("C0SECRET01", "secret", [EDITOR], is_private=True, bot_member=False)
    assert error_of(lambda: web.conversations_info(channel="C0SECRET01"))[1]["error"] == (
        "channel_not_found"
    )
    assert error_of(lambda: web.conversations_members(channel="C0NOPE"))[1]["error"] == (
        "channel_not_found"
    )


# --------------------------------------------------------------------------
# response_url receiver


def test_response_url_ephemeral_in_channel_replace_and_delete(slack: SlackStandIn) -> None:
    url = slack.new_response_url(EDITOR, NEWSLETTER_CHANNEL)
    assert url.startswith(slack.url + "response/")
    reply = requests.post(url, json={"text": "見えるのはあなただけ"}, timeout=5)
    assert (reply.status_code, reply.json()) == (200, {"ok": True})
    assert [m.text for m in slack.ephemeral_messages(EDITOR)] == ["見えるのはあなただけ"]
    requests.post(url, json={"text": "全員へ", "response_type": "in_channel"}, timeout=5)
    assert [m.text for m in slack.channel_messages(NEWSLETTER_CHANNEL)] == ["全員へ"]

    card = client(slack).chat_postMessage(
        channel=NEWSLETTER_CHANNEL, text="card", blocks=CARD_BLOCKS
    )
    from_card = slack.new_response_url(APPROVER_1, NEWSLETTER_CHANNEL, origin_ts=card["ts"])
    requests.post(from_card, json={"replace_original": True, "text": "承認済み"}, timeout=5)
    replaced = [m for m in slack.channel_messages(NEWSLETTER_CHANNEL) if m.ts == card["ts"]]
    assert [(m.text, m.blocks) for m in replaced] == [("承認済み", [])]
    requests.post(from_card, json={"delete_original": True}, timeout=5)
    assert [m.ts for m in slack.channel_messages(NEWSLETTER_CHANNEL)] != [] and card["ts"] not in [
        m.ts for m in slack.channel_messages(NEWSLETTER_CHANNEL)
    ]


def test_response_url_unknown_expired_and_overused(slack: SlackStandIn) -> None:
    unknown = requests.post(slack.url + "response/T0/1/nope", json={"text": "x"}, timeout=5)
    assert (unknown.status_code, unknown.json()["error"]) == (404, "expired_url")
    slack.response_url_ttl = -1
    expired = slack.new_response_url(EDITOR, NEWSLETTER_CHANNEL)
    assert requests.post(expired, json={"text": "x"}, timeout=5).json()["error"] == "expired_url"
    slack.response_url_ttl = 60
    url = slack.new_response_url(EDITOR, NEWSLETTER_CHANNEL)
    answers = [requests.post(url, json={"text": str(i)}, timeout=5).status_code for i in range(6)]
    assert answers == [200] * 5 + [404]
    assert len(slack.ephemeral_messages(EDITOR)) == 5
    assert slack.response_url_posts()[-1].response["error"] == "used_url"


# --------------------------------------------------------------------------
# Signatures


def test_driver_signatures_verify_and_forgeries_do_not(slack: SlackStandIn) -> None:
    driver = SlackDriver("http://127.0.0.1:9/slack/events", SECRET, slack)
    verifier = SignatureVerifier(SECRET)
    body = b"token=x&text=%E6%89%BF%E8%AA%8D"

    def valid(request: Any) -> bool:
        return verifier.is_valid_request(request.body.decode(), request.headers)

    good = driver.build(body, "application/x-www-form-urlencoded")
    assert good.signature.startswith("v0=") and len(good.signature) == 67
    assert valid(good)
    assert not valid(driver.build(body, "application/x-www-form-urlencoded", signature="bad"))
    stale = driver.build(body, "application/x-www-form-urlencoded", stale=True)
    assert not valid(stale)
    assert verifier.is_valid(stale.body.decode(), stale.timestamp, stale.signature) is False
    # stale is signed correctly: only its age makes it invalid
    assert stale.signature == driver.sign(body, stale.timestamp)
    unsigned = driver.build(body, "application/x-www-form-urlencoded", signature="")
    assert "X-Slack-Signature" not in unsigned.headers and not valid(unsigned)


# --------------------------------------------------------------------------
# A tiny Bolt app receives the driver's requests


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


@dataclass
class Bolt:
    url: str
    driver: SlackDriver
    seen: dict[str, Any] = field(default_factory=dict)


@pytest.fixture
def bolt(slack: SlackStandIn, slack_driver_factory: Any) -> Iterator[Bolt]:
    app = App(signing_secret=SECRET, client=client(slack))
    seen: dict[str, Any] = {}

    @app.command("/newsletter")
    def newsletter(ack: Any, command: dict[str, Any], respond: Any, client: WebClient) -> None:
        if command["text"] == "new":
            ack()
            client.views_open(trigger_id=command["trigger_id"], view=DRAFT_VIEW)
            return
        ack(f"受け付けました: {command['text']}")
        seen["command"] = command
        respond(text="処理中…")
        client.chat_postMessage(channel=command["channel_id"], text="承認依頼", blocks=CARD_BLOCKS)

    @app.action("approve")
    def approve(ack: Any, body: dict[str, Any], respond: Any) -> None:
        ack()
        seen["approve"] = body
        respond(replace_original=True, text=f"承認済み {body['actions'][0]['value']}")

    @app.view("draft")
    def draft(ack: Any, view: dict[str, Any]) -> None:
        values = view["state"]["values"]
        seen["draft"] = view
        if not values["subject"]["value"]["value"]:
            ack(response_action="errors", errors={"subject": "件名は必須です"})
        else:
            ack()

    @app.event("app_home_opened")
    def home(event: dict[str, Any], client: WebClient) -> None:
        client.views_publish(
            user_id=event["user"],
            view={
                "type": "home",
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "ようこそ"}}],
            },
        )

    handler = SlackRequestHandler(app)
    server = make_server(
        "127.0.0.1", 0, handler, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/slack/events"
    try:
        yield Bolt(url=url, driver=slack_driver_factory(url, SECRET), seen=seen)
    finally:
        server.shutdown()
        server.server_close()


def test_bolt_accepts_a_slash_command_and_its_replies_land(slack: SlackStandIn, bolt: Bolt) -> None:
    response = bolt.driver.as_user(EDITOR).command("/newsletter", "show 3")
    assert response.status_code == 200
    command = bolt.seen["command"]
    assert (command["user_id"], command["channel_id"], command["text"]) == (
        EDITOR,
        NEWSLETTER_CHANNEL,
        "show 3",
    )
    assert command["channel_name"] == "newsletter" and command["user_name"] == "hanako"
    card = slack.wait_for(lambda: slack.channel_messages(NEWSLETTER_CHANNEL))
    assert card[0].text == "承認依頼"
    texts = slack.wait_for(
        lambda: (
            [m.text for m in slack.ephemeral_messages(EDITOR)]
            if len(slack.ephemeral_messages(EDITOR)) == 2
            else None
        )
    )
    assert sorted(texts) == sorted(["受け付けました: show 3", "処理中…"])


def test_bolt_accepts_a_click_and_respond_replaces_the_card(
    slack: SlackStandIn, bolt: Bolt
) -> None:
    client(slack).chat_postMessage(channel=NEWSLETTER_CHANNEL, text="承認依頼", blocks=CARD_BLOCKS)
    [card] = slack.channel_messages(NEWSLETTER_CHANNEL)
    response = bolt.driver.as_user(APPROVER_1).click("approve", message=card)
    assert response.status_code == 200
    body = slack.wait_for(lambda: bolt.seen.get("approve"))
    action = body["actions"][0]
    assert (action["action_id"], action["block_id"], action["value"], action["type"]) == (
        "approve",
        "decide",
        "req-42",
        "button",
    )
    assert body["container"] == {
        "type": "message",
        "message_ts": card.ts,
        "channel_id": NEWSLETTER_CHANNEL,
        "is_ephemeral": False,
    }
    assert body["message"]["ts"] == card.ts and body["channel"]["id"] == NEWSLETTER_CHANNEL
    assert body["user"]["id"] == APPROVER_1 and body["trigger_id"]
    updated = slack.wait_for(
        lambda: [
            m for m in slack.channel_messages(NEWSLETTER_CHANNEL) if m.text.startswith("承認済み")
        ]
    )
    assert updated[0].ts == card.ts and updated[0].text == "承認済み req-42"
    with pytest.raises(LookupError):
        bolt.driver.as_user(APPROVER_1).click("no-such-button", message=card)


def test_bolt_opens_a_modal_and_receives_its_submission(slack: SlackStandIn, bolt: Bolt) -> None:
    editor = bolt.driver.as_user(EDITOR)
    assert editor.command("/newsletter", "new").status_code == 200
    [view] = slack.wait_for(lambda: slack.open_views(EDITOR))
    assert view["callback_id"] == "draft"
    # an empty subject: the app answers with field errors and the modal stays open
    assert editor.submit_view(view, {"subject": {"value": ""}}).status_code == 200
    assert slack.view_errors(view["id"]) == {"subject": "件名は必須です"}
    assert [v["id"] for v in slack.open_views(EDITOR)] == [view["id"]]
    response = editor.submit_view(
        view,
        {
            "subject": {"value": "十月号"},
            "lists": {"value": ["main"]},
            "when": {"value": "2025-10-01"},
            "kind": {"value": "monthly"},
        },
    )
    assert response.status_code == 200
    submitted = bolt.seen["draft"]
    values = submitted["state"]["values"]
    assert values["subject"]["value"] == {"type": "plain_text_input", "value": "十月号"}
    assert values["body"]["value"] == {"type": "plain_text_input", "value": "初期値"}
    assert values["lists"]["value"]["selected_options"][0]["value"] == "main"
    assert values["when"]["value"] == {"type": "datepicker", "selected_date": "2025-10-01"}
    assert values["kind"]["value"]["selected_option"]["text"]["text"] == "Monthly"
    assert submitted["private_metadata"] == "issue=7" and submitted["id"] == view["id"]
    assert slack.open_views(EDITOR) == []  # an empty ack closes the modal


def test_bolt_gets_app_home_opened_and_publishes(slack: SlackStandIn, bolt: Bolt) -> None:
    response = bolt.driver.as_user(APPROVER_2).open_app_home()
    assert response.status_code == 200
    home = slack.wait_for(lambda: slack.home_view(APPROVER_2))
    assert home["blocks"][0]["text"]["text"] == "ようこそ"
    sent = json.loads(bolt.driver.sent[-1].body)
    assert sent["type"] == "event_callback" and sent["event"]["type"] == "app_home_opened"
    assert sent["event"]["channel"] == "D0APPROV2"


def test_bolt_refuses_forged_and_stale_requests(slack: SlackStandIn, bolt: Bolt) -> None:
    editor = bolt.driver.as_user(EDITOR)
    assert editor.command("/newsletter", "show 1", signature="bad").status_code == 401
    assert editor.command("/newsletter", "show 1", stale=True).status_code == 401
    assert editor.open_app_home(signature="").status_code == 401
    assert editor.click("approve", "req-1", block_id="decide", stale=True).status_code == 401
    assert "command" not in bolt.seen and "approve" not in bolt.seen
    # a replay within 5 minutes verifies: Slack's scheme alone does not stop it
    assert editor.command("/newsletter", "show 2").status_code == 200
    original = bolt.driver.last_request
    assert original is not None
    assert bolt.driver.replay(original).status_code == 200
    assert bolt.driver.sent[-1] == bolt.driver.sent[-2]


# --------------------------------------------------------------------------
# Misc


def test_reset_forgets_state_and_seed_restores_workspace(slack: SlackStandIn) -> None:
    client(slack).chat_postMessage(channel=NEWSLETTER_CHANNEL, text="x")
    slack.fail_next("auth.test", "invalid_auth")
    slack.reset()
    assert slack.calls() == [] and slack.all_messages() == []
    assert set(slack.users) == {slack.bot_user_id}
    assert client(slack).auth_test()["ok"]  # injected fault is gone too
    state = requests.get(slack.url + "_standin/state", timeout=5).json()
    assert state["bot"]["user_id"] == slack.bot_user_id and state["messages"] == []


def test_wait_for_times_out(slack: SlackStandIn) -> None:
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        slack.wait_for(lambda: slack.channel_messages(NEWSLETTER_CHANNEL), timeout=0.1)
    assert time.monotonic() - start < 1


def test_main_prints_its_url_and_stops_on_ctrl_c() -> None:
    code = "from bot.standins.slack import main; raise SystemExit(main(['--port', '0']))"
    # SIGINT inherited as ignored, as in a background job: the stand-in's own
    # handler still stops it.
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert re.match(r"^http://127\.0\.0\.1:\d+/$", url)
        answer = WebClient(token="xoxb-wrong", base_url=url).api_call("api.test")
        assert answer["ok"] is True
        users = requests.get(url + "_standin/state", timeout=5).json()["users"]
        assert EDITOR in [u["id"] for u in users]
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()


# --------------------------------------------------------------------------
# Files: a file_input upload, files.info, the private download URL


def test_an_uploaded_file_is_described_by_files_info_and_downloaded_with_the_token(
    slack: SlackStandIn,
) -> None:
    content = "Email Address,First Name\nhanako@example.com,花子\n".encode()
    uploaded = slack.add_file(EDITOR, "audience.csv", content)
    info = client(slack).files_info(file=uploaded["id"])
    assert info["file"] == uploaded
    assert (uploaded["name"], uploaded["size"], uploaded["filetype"]) == (
        "audience.csv",
        len(content),
        "csv",
    )
    url = uploaded["url_private_download"]
    assert url.startswith(slack.url)
    got = requests.get(url, headers={"Authorization": f"Bearer {slack.bot_token}"}, timeout=5)
    assert (got.status_code, got.content) == (200, content)
    assert got.headers["content-type"] == "text/csv"


@pytest.mark.parametrize("token", [None, "xoxb-not-a-token", "no-files-scope"])
def test_a_download_without_a_files_read_token_gets_the_sign_in_page(
    slack: SlackStandIn, token: str | None
) -> None:
    uploaded = slack.add_file(EDITOR, "audience.csv", b"email\nhanako@example.com\n")
    if token == "no-files-scope":
        token = slack.issue_token(["chat:write"])
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    got = requests.get(uploaded["url_private_download"], headers=headers, timeout=5)
    # Slack's answer is not an error status but its sign-in page.
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("text/html")
    assert b"hanako" not in got.content


def test_files_info_errors_and_scope(slack: SlackStandIn) -> None:
    uploaded = slack.add_file(EDITOR, "list.csv", b"email\n")
    assert error_of(lambda: client(slack).files_info(file="F000000000"))[1]["error"] == (
        "file_not_found"
    )
    slack.delete_file(uploaded["id"])
    assert error_of(lambda: client(slack).files_info(file=uploaded["id"]))[1]["error"] == (
        "file_deleted"
    )
    bare = slack.issue_token(["chat:write"])
    data = error_of(lambda: client(slack, bare).files_info(file=uploaded["id"]))[1]
    assert (data["error"], data["needed"]) == ("missing_scope", "files:read")
    got = requests.get(
        uploaded["url_private_download"],
        headers={"Authorization": f"Bearer {slack.bot_token}"},
        timeout=5,
    )
    assert got.status_code == 404


def test_file_input_refuses_files_over_ten_megabytes(slack: SlackStandIn) -> None:
    with pytest.raises(ValueError, match="10485760"):
        slack.add_file(EDITOR, "huge.csv", b"x" * (10 * 1024 * 1024 + 1))


def test_a_submitted_file_input_carries_the_file_objects(slack: SlackStandIn, bolt: Bolt) -> None:
    editor = bolt.driver.as_user(EDITOR)
    view = {
        **DRAFT_VIEW,
        "blocks": [
            *DRAFT_VIEW["blocks"],
            {
                "type": "input",
                "block_id": "body_file",
                "optional": True,
                "label": {"type": "plain_text", "text": "File"},
                "element": {"type": "file_input", "action_id": "value", "max_files": 1},
            },
        ],
    }
    assert editor.command("/newsletter", "new").status_code == 200
    [opened] = slack.wait_for(lambda: slack.open_views(EDITOR))
    uploaded = slack.add_file(EDITOR, "body.md", b"# Hello", mimetype="text/markdown")
    current = {**opened, "blocks": view["blocks"]}
    editor.submit_view(current, {"subject": {"value": "x"}, "body_file": {"value": [uploaded]}})
    values = bolt.seen["draft"]["state"]["values"]
    assert values["body_file"]["value"] == {"type": "file_input", "files": [uploaded]}
