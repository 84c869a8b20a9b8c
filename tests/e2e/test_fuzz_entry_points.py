"""Every way in, fuzzed over HTTP (hypothesis): slash commands, block actions,
view submissions, App Home events, Postmark webhooks — signed or not, from
team members and outsiders, with hostile text everywhere.

For every request: no 5xx; a refused request (bad signature, an outsider, a
malformed webhook) changes nothing in the database; and in everything the
bot sent to the Slack stand-in — channel messages, ephemerals, views — no
typed text is left unescaped and no channel payload holds an address or a
phone number.

The CLI import's fuzzing belongs to the CSV import (issue #16).
"""

from __future__ import annotations

import json
import time
from typing import Any

import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.standins.slack import APPROVER_1, EDITOR, NEWSLETTER_CHANNEL, OUTSIDER
from handlers import blocks, unsubscribe
from handlers.ids import Action, Block, Callback
from storage.models import Base
from tests.fixtures.bot import Harness
from tests.fixtures.slack_text import HOSTILE_PIECES, PERSONAL_PIECES, assert_safe

FUZZ = settings(
    max_examples=25,
    deadline=None,
    # Each example is a few HTTP round trips: no shrinking (it could take minutes).
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Background tables that change by themselves are left out of "nothing changed".
VOLATILE = frozenset({"apscheduler_jobs", "leases"})

typed = st.lists(
    st.sampled_from(HOSTILE_PIECES + PERSONAL_PIECES)
    | st.text(max_size=12)
    | st.sampled_from(["1", "#1", "999999999", "-1", "0", "１"]),
    max_size=4,
).map(" ".join)
people = st.sampled_from([EDITOR, APPROVER_1, OUTSIDER, "U0NOBODY99"])
signatures = st.sampled_from([None, None, None, "bad", "", "v0=zz", "v1=abc"])
SUBCOMMANDS = [
    "help", "new", "list", "show", "edit", "test", "submit", "cancel", "status", "halt",
    "resume", "audit", "schedule", "subscribers", "subscribers find", "report", "nonsense",
]  # fmt: skip


def database_state(harness: Harness) -> dict[str, int]:
    with harness.desk.db.sessions() as session:
        return {
            table.name: int(session.execute(select(func.count()).select_from(table)).scalar_one())
            for table in Base.metadata.sorted_tables
            if table.name not in VOLATILE
        }


def settle(harness: Harness, timeout: float = 1.5) -> None:
    """Wait until the bot stops calling Slack (its answers come after the ack)."""
    deadline = time.monotonic() + timeout
    last, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = len(harness.slack.calls()) + len(harness.slack.response_url_posts())
        if now != last:
            last, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since > 0.15:
            return
        time.sleep(0.03)


def everything_sent_is_safe(harness: Harness) -> None:
    slack = harness.slack
    for message in slack.all_messages():
        payload = {"text": message.text, "blocks": message.blocks}
        channel = message.channel == NEWSLETTER_CHANNEL and not message.ephemeral
        assert_safe(payload, channel=channel, where=f"{message.channel} {message.ts}")
    for call in slack.calls("views.open") + slack.calls("views.publish"):
        assert_safe(call.response.get("view") if call.ok else {}, channel=False, where=call.method)


def answers(harness: Harness) -> int:
    """How many answers the bot has given so far (replies through response_url,
    messages, views opened)."""
    slack = harness.slack
    return (
        len(slack.response_url_posts())
        + len(slack.calls("chat.postMessage"))
        + len(slack.calls("chat.postEphemeral"))
        + len(slack.calls("views.open"))
    )


def refused_changes_nothing(harness: Harness, before: dict[str, int]) -> None:
    settle(harness)
    assert database_state(harness) == before


@FUZZ
@given(user=people, sub=st.sampled_from(SUBCOMMANDS), text=typed, signature=signatures)
def test_slash_commands(harness: Harness, user: str, sub: str, text: str, signature: str | None):
    before, answered = database_state(harness), answers(harness)
    actor = harness.as_user(user)
    response = actor.command("/newsletter", f"{sub} {text}", signature=signature)
    assert response.status_code < 500
    if signature is not None:
        assert response.status_code == 401
    if signature is not None or user not in (EDITOR, APPROVER_1):
        refused_changes_nothing(harness, before)
    settle(harness)
    if signature is None and user in (EDITOR, APPROVER_1):
        # Every command gets an answer: a reply, a form, or (unknown) the help.
        harness.slack.wait_for(lambda: answers(harness) > answered or None, timeout=10)
    everything_sent_is_safe(harness)


@FUZZ
@given(user=people, text=typed, signature=signatures)
def test_unsubscribe_commands(harness: Harness, user: str, text: str, signature: str | None):
    before = database_state(harness)
    response = harness.as_user(user).command("/unsubscribe", text, signature=signature)
    assert response.status_code < 500
    if signature is not None or user not in (EDITOR, APPROVER_1):
        refused_changes_nothing(harness, before)
    settle(harness)
    everything_sent_is_safe(harness)


@FUZZ
@given(
    user=people,
    action=st.sampled_from([Action.APPROVE, Action.REJECT, Action.HALT, "unknown_action", ""]),
    value=typed,
    signature=signatures,
)
def test_block_actions(harness: Harness, user: str, action: str, value: str, signature: str | None):
    before, answered = database_state(harness), answers(harness)
    response = harness.as_user(user).click(action, value, signature=signature)
    assert response.status_code < 500
    team = user in (EDITOR, APPROVER_1)
    if signature is None and team and action not in (Action.APPROVE, Action.REJECT, Action.HALT):
        assert response.status_code == 404  # Bolt: no listener for that action
    if signature is None and team and response.status_code == 200:
        # A refusal, the reject form, or what the halt stopped: the clicker is told.
        harness.slack.wait_for(lambda: answers(harness) > answered or None, timeout=10)
    if signature is not None or user not in (EDITOR, APPROVER_1) or action != Action.HALT:
        # Approve/reject of a request that is not there, or a refused click: nothing changes.
        # (Halt from a team member is allowed and may record its audit event.)
        refused_changes_nothing(harness, before)
    settle(harness)
    everything_sent_is_safe(harness)


def _modal(callback: str) -> dict[str, Any]:
    if callback == Callback.DRAFT:
        view = blocks.draft_modal()
    elif callback == Callback.REJECT:
        view = blocks.reject_modal(request_id=1, issue_id=1, channel="C1", ts="1.1")
    else:
        view = unsubscribe.modal(NEWSLETTER_CHANNEL)
    return {**view, "id": "V0FUZZ0001", "hash": "1.0", "app_id": "A0FUZZ", "bot_id": "B0FUZZ"}


@FUZZ
@given(
    user=people,
    callback=st.sampled_from([Callback.DRAFT, Callback.REJECT, Callback.UNSUBSCRIBE, "nope"]),
    metadata=typed,
    subject=typed,
    body=typed,
    signature=signatures,
)
def test_view_submissions(
    harness: Harness,
    user: str,
    callback: str,
    metadata: str,
    subject: str,
    body: str,
    signature: str | None,
):
    view = _modal(callback if callback != "nope" else Callback.DRAFT)
    view["callback_id"] = callback
    view["private_metadata"] = metadata
    values = {
        Block.SUBJECT: {Action.VALUE: subject},
        Block.BODY: {Action.VALUE: body},
        Block.REASON: {Action.VALUE: subject},
        Block.EMAIL: {Action.VALUE: subject},
        Block.NOTE: {Action.VALUE: body},
    }
    values = {
        k: v for k, v in values.items() if any(b.get("block_id") == k for b in view["blocks"])
    }
    before = database_state(harness)
    response = harness.as_user(user).submit_view(view, values, signature=signature, apply_ack=False)
    assert response.status_code < 500
    refused = (
        signature is not None
        or user not in (EDITOR, APPROVER_1)
        or callback == "nope"
        or callback == Callback.REJECT  # request 1 does not exist: refused in the modal
        or (callback == Callback.DRAFT and metadata.strip() != "")  # no such issue
    )
    if refused:
        refused_changes_nothing(harness, before)
    if response.status_code == 200 and response.content:
        answer = json.loads(response.content)
        assert_safe(answer, channel=False, where="view ack")
    settle(harness)
    everything_sent_is_safe(harness)


@FUZZ
@given(
    user=people,
    tab=st.sampled_from(["home", "messages", "", "<!channel>"]),
    signature=signatures,
)
def test_app_home_events(harness: Harness, user: str, tab: str, signature: str | None):
    before = database_state(harness)
    response = harness.as_user(user).open_app_home(tab=tab, signature=signature)
    assert response.status_code < 500
    refused_changes_nothing(harness, before)  # drawing the Home tab changes nothing
    everything_sent_is_safe(harness)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20) | typed,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
webhook = st.fixed_dictionaries(
    {},
    optional={
        "RecordType": st.sampled_from(
            ["Bounce", "SpamComplaint", "SubscriptionChange", "Delivery", "Open", "x", ""]
        ),
        "Email": typed,
        "Recipient": typed,
        "MessageStream": st.sampled_from(["broadcast", "outbound", "nope", ""]),
        "Type": st.sampled_from(["HardBounce", "SoftBounce", "SpamComplaint", "x"]),
        "SuppressSending": json_values,
        "SuppressionReason": st.sampled_from(["HardBounce", "SpamComplaint", "ManualSuppression"]),
        "MessageID": typed,
        "Metadata": json_values,
        "ChangedAt": typed,
        "BouncedAt": typed,
    },
)


@FUZZ
@given(
    payload=webhook | json_values,
    auth=st.sampled_from(["right", "right", "wrong", "none"]),
    raw=st.none() | st.binary(max_size=40),
)
def test_postmark_webhooks(harness: Harness, payload: Any, auth: str, raw: bytes | None):
    settings_ = harness.desk.settings
    credentials = {
        "right": (settings_.POSTMARK_WEBHOOK_USER, settings_.POSTMARK_WEBHOOK_PASSWORD),
        "wrong": ("postmark", "not-the-password"),
        "none": None,
    }[auth]
    before = database_state(harness)
    data = raw if raw is not None else json.dumps(payload).encode()
    response = requests.post(
        f"{harness.url}/postmark/webhook",
        data=data,
        auth=credentials,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code < 500, response.text
    if auth != "right" or response.status_code >= 400:
        assert database_state(harness) == before
    everything_sent_is_safe(harness)
