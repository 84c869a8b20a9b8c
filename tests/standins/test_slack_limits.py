"""The Slack stand-in refuses what Slack refuses (issue 13, item 6), so that no
test passes where Slack would not: block counts, the markdown block's 12,000
characters, plain_text_input's max_length, confirmation dialogs' fields.
Limits as bot/standins/slack_blocks.py cites them from docs.slack.dev."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.standins.slack import EDITOR, NEWSLETTER_CHANNEL, SlackStandIn
from handlers import blocks
from handlers.preview import MARKDOWN_LIMIT, split


@pytest.fixture
def client(slack: SlackStandIn) -> WebClient:
    return WebClient(token=slack.bot_token, base_url=slack.url)


def post(client: WebClient, message_blocks: list[dict[str, Any]]) -> Any:
    return client.chat_postMessage(channel=NEWSLETTER_CHANNEL, text="t", blocks=message_blocks)


def refused(call: Any) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as caught:
        call()
    return dict(caught.value.response.data)


def modal(*inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "T"},
        "submit": {"type": "plain_text", "text": "Save"},
        "blocks": list(inputs),
    }


def text_input(**element: Any) -> dict[str, Any]:
    return {
        "type": "input",
        "label": {"type": "plain_text", "text": "Body"},
        "element": {"type": "plain_text_input", "action_id": "value", **element},
    }


def button(**extra: Any) -> dict[str, Any]:
    return {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "action_id": "a",
                "text": {"type": "plain_text", "text": "Go"},
                **extra,
            }
        ],
    }


def good_confirm(**override: Any) -> dict[str, Any]:
    return {
        "title": {"type": "plain_text", "text": "Sure?"},
        "text": {"type": "plain_text", "text": "It goes to 3 readers."},
        "confirm": {"type": "plain_text", "text": "Yes"},
        "deny": {"type": "plain_text", "text": "No"},
        **override,
    }


def test_markdown_blocks_hold_12000_characters_a_message_together(client: WebClient):
    assert post(client, [{"type": "markdown", "text": "あ" * 12_000}])["ok"]
    answer = refused(
        lambda: post(
            client,
            [
                {"type": "markdown", "text": "あ" * 6_000},
                {"type": "markdown", "text": "い" * 6_001},
            ],
        )
    )
    assert answer["error"] == "invalid_blocks"
    assert any("12000" in e for e in answer["errors"])


def test_a_message_holds_50_blocks_a_modal_100(client: WebClient, slack: SlackStandIn):
    divider = {"type": "divider"}
    assert post(client, [divider] * 50)["ok"]
    assert refused(lambda: post(client, [divider] * 51))["error"] == "invalid_blocks"
    trigger = slack.new_trigger_id(EDITOR)
    answer = refused(lambda: client.views_open(trigger_id=trigger, view=modal(*[divider] * 101)))
    assert answer["error"] == "invalid_arguments"


@pytest.mark.parametrize(
    ("element", "ok"),
    [
        ({"max_length": 3000}, True),
        ({"max_length": 3001}, False),
        ({"max_length": 0}, False),
        ({"min_length": 3001}, False),
        ({"min_length": 10, "max_length": 5}, False),
        ({"placeholder": {"type": "plain_text", "text": "x" * 151}}, False),
    ],
)
def test_plain_text_input_lengths(client: WebClient, slack: SlackStandIn, element, ok):
    trigger = slack.new_trigger_id(EDITOR)
    call = lambda: client.views_open(trigger_id=trigger, view=modal(text_input(**element)))  # noqa: E731
    if ok:
        assert call()["ok"]
    else:
        assert refused(call)["error"] == "invalid_arguments"


@pytest.mark.parametrize(
    ("override", "ok"),
    [
        ({}, True),
        ({"title": {"type": "plain_text", "text": "x" * 100}}, True),
        ({"title": {"type": "plain_text", "text": "x" * 101}}, False),
        ({"title": {"type": "mrkdwn", "text": "*x*"}}, False),
        ({"text": {"type": "mrkdwn", "text": "x" * 300}}, True),
        ({"text": {"type": "plain_text", "text": "x" * 301}}, False),
        ({"confirm": {"type": "plain_text", "text": "x" * 31}}, False),
        ({"deny": {"type": "plain_text", "text": "x" * 31}}, False),
        ({"deny": None}, False),
        ({"style": "warning"}, False),
    ],
)
def test_confirmation_dialog_fields(client: WebClient, override, ok):
    dialog = {k: v for k, v in good_confirm(**override).items() if v is not None}
    call = lambda: post(client, [button(confirm=dialog)])  # noqa: E731
    if ok:
        assert call()["ok"]
    else:
        assert refused(call)["error"] == "invalid_blocks"


def test_file_input_max_files(client: WebClient, slack: SlackStandIn):
    file_input = {
        "type": "input",
        "label": {"type": "plain_text", "text": "File"},
        "element": {"type": "file_input", "action_id": "value", "max_files": 11},
    }
    trigger = slack.new_trigger_id(EDITOR)
    answer = refused(lambda: client.views_open(trigger_id=trigger, view=modal(file_input)))
    assert answer["error"] == "invalid_arguments"


def test_the_draft_modal_at_its_largest_passes(client: WebClient, slack: SlackStandIn):
    view = blocks.draft_modal(
        issue_id=12, subject="件" * 250, sections=["a" * 3000] * blocks.MAX_SECTIONS
    )
    assert client.views_open(trigger_id=slack.new_trigger_id(EDITOR), view=view)["ok"]
    assert len(view["blocks"]) <= 100


def test_a_view_over_250_kb_is_refused(client: WebClient, slack: SlackStandIn):
    """30 full sections of Japanese (3 bytes a character) are 270 KB: Slack says
    view_too_large, and so does the stand-in; the app's own measure agrees."""
    view = blocks.draft_modal(issue_id=12, sections=["あ" * 3000] * blocks.MAX_SECTIONS)
    assert not blocks.fits(view)
    answer = refused(lambda: client.views_open(trigger_id=slack.new_trigger_id(EDITOR), view=view))
    assert answer["error"] == "view_too_large"
    smaller = blocks.draft_modal(issue_id=12, sections=["あ" * 3000] * 20)
    assert blocks.fits(smaller)
    assert client.views_open(trigger_id=slack.new_trigger_id(EDITOR), view=smaller)["ok"]


def test_split_pieces_join_back_and_keep_to_the_limit():
    text = ("段落です。" * 700 + "\n\n") * 9 + "x" * 25_000 + "&amp;" * 3000
    pieces = split(text, MARKDOWN_LIMIT)
    assert "".join(pieces) == text
    assert all(len(p) <= MARKDOWN_LIMIT for p in pieces)
    assert not any(p.endswith("&am") or p.endswith("&") for p in pieces[:-1])


def test_markdown_text_escapes_slacks_control_characters_but_keeps_block_quotes():
    from handlers.preview import markdown_text

    assert markdown_text("> 引用 <!channel> & x\n>> b > c") == (
        "> 引用 &lt;!channel&gt; &amp; x\n>> b &gt; c"
    )
