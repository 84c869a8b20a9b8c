"""The one escaping rule (`handlers.mrkdwn`), tried with hostile typed text on
every Block Kit builder: no typed `<!channel>`, mention, link or `&` reaches
Slack as a control sequence, what was typed is still shown as typed, and no
address or phone number is in any payload bound for the channel."""

from __future__ import annotations

import importlib
import pkgutil
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import handlers
from bot import schedule as bot_schedule
from bot import unsubscribe as bot_unsubscribe
from bot.approvals import Card
from bot.issues import IssueLine, Preview, ReaderCopy
from bot.preflight import Finding, Severity
from bot.rendering import RenderedMessage
from handlers import blocks, home, schedule, sending, texts, unsubscribe
from handlers import preview as preview_view
from handlers.mrkdwn import Mrkdwn, clip, escape, mention, plain
from tests.fixtures.slack_text import (
    HOSTILE_PIECES,
    PERSONAL_PIECES,
    assert_safe,
    mrkdwn_texts,
    personal_data,
    shown,
    unescaped_sequences,
)

for _module in pkgutil.iter_modules(handlers.__path__):
    importlib.import_module(f"handlers.{_module.name}")

TZ = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
AUTHOR, REQUESTER, APPROVER = "U0EDITOR1", "U0APPROV2", "U0APPROV1"

hostile = st.lists(
    st.sampled_from(HOSTILE_PIECES)
    | st.sampled_from(PERSONAL_PIECES)
    | st.text(alphabet="<>&@!|*_~`#^: abc山田", max_size=8),
    min_size=1,
    max_size=5,
).map(" ".join)
FIXED = " ".join(HOSTILE_PIECES + PERSONAL_PIECES) + " 山田花子"


def make_card(text: str, state: str = "open", kind: str = "send") -> Card:
    return Card(
        request_id=4,
        issue_id=3,
        kind=kind,
        state=state,
        list_name=text,
        recipients=3000,
        subject=text,
        content_hash="ab" * 32,
        version_number=2,
        author=AUTHOR,
        requester=REQUESTER,
        scheduled_at=NOW + timedelta(days=1),
        expires_at=NOW + timedelta(hours=24),
        start_by=NOW + timedelta(hours=25),
        override_reason=text,
        overridden=("personal_email",),
        decided_by=APPROVER,
        decided_at=NOW,
        decision_note=text,
        card_channel="C0NEWS0001",
        card_ts="1.2",
    )


def channel_builders(text: str) -> dict[str, Any]:
    """Everything that goes into the newsletter channel, built with `text` typed."""
    out: dict[str, Any] = {
        f"card {state} {kind}": blocks.approval_card(make_card(text, state, kind), TZ)
        for state in ("open", "approved", "rejected", "cancelled", "expired", "void")
        for kind in ("send", "resume")
    }
    out["card fallback"] = {"text": blocks.card_fallback(make_card(text))}
    out["progress halted"] = sending.progress_blocks(
        {"issue": 3, "state": "halted", "halt_reason": f"postmark_refused:{text}", "remaining": 5}
    )
    out["progress running"] = sending.progress_blocks({"issue": 3, "send": 1, "rate": 3.5})
    for reason in ("postmark_refused", "circuit_breaker", "postmark_unavailable"):
        out[f"halt reason {reason}"] = {
            "text": sending._reason_text({"reason": reason, "detail": text})
        }
    out["reminder status"] = {
        "text": schedule.status_text(
            bot_schedule.Stage.SCHEDULED,
            issue=3,
            subject=blocks.channel_typed(text),
            scheduled_at=NOW,
            approvers=[APPROVER],
            tz=TZ,
        )
    }
    return out


def private_builders(text: str) -> dict[str, Any]:
    """What only the person who asked sees (ephemeral replies, modals, App Home)."""
    finding = Finding("personal_email", Severity.BLOCKING, {"count": 1}, text)
    preview = Preview(
        issue_id=3,
        state="draft",
        version_number=1,
        author=AUTHOR,
        subject=text,
        body=text * 3,
        content_hash="cd" * 32,
        list_name=text,
        recipients=10,
        findings=[finding, Finding("subscriber_data", Severity.BLOCKING, {"kinds": "name"})],
    )
    summary = home.HomeSummary(
        viewer=AUTHOR,
        now=NOW,
        next_due=NOW,
        schedule=text,
        issues_by_state={"draft": 1, text: 2},
        waiting=[home.WaitingApproval(make_card(text), f"unknown:{text}")],
        list_name=text,
        list_counts={"active": 1},
    )
    outlook = bot_schedule.Outlook(
        now=NOW,
        next_due=NOW,
        status=None,
        reminders=[],
        scheduled=[],
        approvers=[APPROVER],
    )
    return {
        "help with intro": blocks.help_blocks(texts.t("usage.unknown", word=text)),
        **{
            f"preview part {n}": part
            for n, (_, part) in enumerate(
                preview_view.preview_messages(
                    preview,
                    ReaderCopy(text, text, RenderedMessage(text, text, text * 3)),
                ),
                start=1,
            )
        },
        **{
            f"source part {n}": part
            for n, (_, part) in enumerate(preview_view.source_messages(preview), start=1)
        },
        "list": blocks.list_blocks(
            [IssueLine(issue_id=1, state=text, subject=text, version_number=1, updated_at=NOW)]
        ),
        "draft modal": blocks.draft_modal(
            issue_id=3,
            subject=text,
            sections=[text, text],
            notice=texts.t("draft.problem_notice", problem=text),
        ),
        "home": home.home_view(summary, TZ),
        "outlook": schedule.outlook_blocks(outlook, TZ, "C0NEWS0001")[1],
        "status line": {"text": texts.t("status.line", subject=text, issue=1)},
        "unsubscribe outcome": {"text": unsubscribe.outcome_text(outcome(text))},
    }


def outcome(text: str) -> bot_unsubscribe.Outcome:
    recorded = bot_unsubscribe.Recorded(
        request_id=1,
        suppression_id=1,
        email=text,
        scope=text,
        subscriptions=1,
        unsubscribed_now=1,
        newly_suppressed=True,
        confirm=True,
    )
    return bot_unsubscribe.Outcome(
        recorded=recorded,
        push_state="pending",
        confirmation=bot_unsubscribe.ConfirmationState.FAILED,
        confirmation_error=text,
    )


def test_the_fixed_hostile_text_is_harmless_everywhere():
    for name, payload in channel_builders(FIXED).items():
        assert_safe(payload, channel=True, where=name)
    for name, payload in private_builders(FIXED).items():
        assert_safe(payload, channel=False, where=name)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=hostile)
def test_any_hostile_text_is_harmless_everywhere(text: str):
    for name, payload in channel_builders(text).items():
        assert_safe(payload, channel=True, where=name)
    for name, payload in private_builders(text).items():
        assert_safe(payload, channel=False, where=name)


def test_the_card_shows_typed_text_as_typed_without_personal_data():
    typed = "<!channel> Sale: A<B & C>D <https://evil.example|Approve here> 山田花子"
    text = "\n".join(mrkdwn_texts(blocks.approval_card(make_card(typed + " taro@example.com"), TZ)))
    assert typed in shown(text)  # what Slack shows is what was typed ...
    assert "<!channel>" not in text and "<https://evil" not in text  # ... and nothing parses
    assert "taro@example.com" not in text
    assert texts.t("redacted.address") in text
    # The card's own mentions still work.
    assert f"<@{AUTHOR}>" in text and f"<@{REQUESTER}>" in text


def test_reject_and_override_reasons_lose_addresses_and_phone_numbers_in_the_channel():
    for state in ("rejected", "open"):
        card = make_card("Call 03-1234-5678 or mail ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ", state)
        payload = blocks.approval_card(card, TZ)
        assert_safe(payload, channel=True)
        text = "\n".join(mrkdwn_texts(payload))
        assert texts.t("redacted.phone") in text and texts.t("redacted.address") in text


def test_ephemeral_replies_may_show_the_address_escaped():
    text = unsubscribe.outcome_text(outcome("a&b@example.com"))
    assert "a&amp;b@example.com" in text
    assert personal_data(text)  # private: the operator sees the address they typed


def test_builders_refuse_plain_strings():
    with pytest.raises(TypeError):
        blocks.section("<!channel>")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        blocks.context("typed")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        blocks.message(texts.t("list.title")[:5])  # type: ignore[arg-type]
    # What would slip past: a format, an f-string, a slice, all give plain str.
    assert type(texts.t("list.title").upper()) is str
    assert type(f"{texts.t('list.title')}") is str


def test_joining_and_adding_escape_what_is_not_mrkdwn():
    joined = blocks.lines([texts.t("list.title"), "<!here>"])  # type: ignore[list-item]
    assert joined.endswith("&lt;!here&gt;")
    assert Mrkdwn("*a*") + "<b>" == "*a*&lt;b&gt;"
    assert "<c>" + Mrkdwn("*a*") == "&lt;c&gt;*a*"
    assert isinstance("x" + Mrkdwn("y"), Mrkdwn)


@given(st.text(max_size=60))
def test_escape_round_trips_and_plain_text_shows_what_was_typed(value: str):
    escaped = escape(value)
    assert unescaped_sequences(escaped) == []
    assert plain(escaped) == value
    assert shown(escaped) == value


@given(st.text(alphabet="<>&a@U1", max_size=40), st.integers(min_value=2, max_value=40))
def test_clip_never_cuts_an_entity_or_a_mention(value: str, limit: int):
    text = Mrkdwn(" ").join([mention("U0EDITOR1"), value, mention("U0APPROV1")])
    clipped = clip(text, limit)
    assert len(clipped) <= max(limit, len(text) if len(text) <= limit else limit)
    assert unescaped_sequences(clipped) == []
    assert re.search(r"&(?!amp;|lt;|gt;)", clipped) is None
    assert clipped.count("<") == clipped.count(">")


@given(hostile)
def test_an_unknown_key_built_from_data_is_shown_escaped(text: str):
    # Keys are built from codes and states (`refusal.{code}`, `card.state.{state}`).
    assert unescaped_sequences(texts.t(f"send.halt_reason.{text}")) == []
    assert unescaped_sequences(sending._reason_text({"reason": text})) == []


def test_mentions_are_made_only_of_real_ids():
    assert mention("U0EDITOR1") == "<@U0EDITOR1>"
    assert mention("U1>|<!channel") == "U1&gt;|&lt;!channel"


def test_headers_and_labels_carry_the_text_as_typed():
    header = blocks.header(texts.t("card.title", issue="A<B & C"))
    assert header["text"]["text"] == "Approval needed: issue #A<B & C"
    dialog = blocks.confirm(
        texts.t("card.confirm_title", issue="<!channel>"),
        texts.t("card.confirm_now", issue="A<B & C", recipients="1"),
        texts.t("card.confirm_yes"),
        texts.t("card.confirm_no"),
    )
    assert dialog["title"]["text"] == "Send issue #<!channel>?"
    assert dialog["text"]["text"] == "Send issue #A<B & C to 1 readers now?"
    modal = blocks.draft_modal(issue_id=3, subject="<!channel> & co", sections=["x"])
    assert modal["blocks"][0]["element"]["initial_value"] == "<!channel> & co"


@pytest.mark.parametrize("language", ["en", "ja"])
def test_the_catalogue_uses_no_control_sequence_but_mentions(language: str):
    for key, sentence in texts.CATALOGUES[language].items():
        rest = re.sub(r"<[@#]\{\w+\}>", "", sentence)
        assert not re.search(r"[<>&]", rest), key
