"""Steps shared by end-to-end tests: a team member drafting, submitting,
approving — each through signed HTTP requests into the bot."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from bot.standins.slack import NEWSLETTER_CHANNEL
from bot.standins.slack_driver import SlackActor
from bot.suppressions import PushDuty
from handlers.ids import Action, Block
from storage.models import ApprovalRequest, Issue
from tests.fixtures.bot import Harness


def open_draft_modal(harness: Harness, actor: SlackActor, text: str = "new") -> dict[str, Any]:
    """Type the command that opens the modal; return the view Slack opened."""
    before = len(harness.slack.calls("views.open"))
    actor.command("/newsletter", text)
    calls = harness.slack.wait_for(lambda: harness.slack.calls("views.open")[before:] or None)
    assert calls[0].ok, calls[0].response
    return dict(calls[0].response["view"])


def draft(
    harness: Harness, actor: SlackActor, subject: str, body: str, issue_id: int | None = None
) -> Any:
    """Open the modal (new or edit) and submit it; return the HTTP response."""
    view = open_draft_modal(harness, actor, f"edit {issue_id}" if issue_id else "new")
    return actor.submit_view(
        view, {Block.SUBJECT: {Action.VALUE: subject}, Block.BODY: {Action.VALUE: body}}
    )


def modal_outcome(harness: Harness, response: Any, view_id: str, timeout: float = 30) -> str:
    """A file or a long body is answered with "Saving…" at once; then the same
    modal shows the outcome. Its text, once it is there."""
    assert response.status_code == 200 and modal_errors(response) == {}

    def shown() -> str | None:
        view = harness.slack.get_view(view_id)
        text = str(view["blocks"]) if view else ""
        return None if "Saving" in text else text

    return harness.slack.wait_for(shown, timeout=timeout)


def modal_errors(response: Any) -> dict[str, str]:
    if not response.content:
        return {}
    body = json.loads(response.content)
    return dict(body.get("errors") or {}) if body.get("response_action") == "errors" else {}


def latest_issue_id(harness: Harness) -> int:
    with harness.desk.db.sessions() as session:
        return int(
            session.execute(select(Issue.id).order_by(Issue.id.desc()).limit(1)).scalar_one()
        )


def create_issue(
    harness: Harness, actor: SlackActor, subject: str = "12月号", body: str = "今月のお知らせです。"
) -> int:
    response = draft(harness, actor, subject, body)
    assert response.status_code == 200 and modal_errors(response) == {}
    return latest_issue_id(harness)


def cards(harness: Harness) -> list[Any]:
    """Approval cards in the channel, oldest first."""
    return [
        m
        for m in harness.slack.channel_messages(NEWSLETTER_CHANNEL)
        if any(e.get("action_id") == Action.APPROVE for _, e in _elements(m))
        or "Approval needed" in (m.text or "")
    ]


def _elements(message: Any) -> list[tuple[Any, dict[str, Any]]]:
    out = []
    for block in message.blocks or []:
        for element in block.get("elements", []) or []:
            if isinstance(element, dict):
                out.append((block.get("block_id"), element))
    return out


def submit(harness: Harness, actor: SlackActor, issue_id: int, extra: str = "") -> Any:
    """`/newsletter submit ID`; wait for the card; return the card message."""
    before = len(cards(harness))
    actor.command("/newsletter", f"submit {issue_id} {extra}".strip())
    return harness.slack.wait_for(
        lambda: cards(harness)[-1] if len(cards(harness)) > before else None
    )


def request_id_of(harness: Harness, card: Any) -> int:
    for _, element in _elements(card):
        if element.get("action_id") == Action.APPROVE:
            return int(element["value"])
    with harness.desk.db.sessions() as session:
        found = session.execute(
            select(ApprovalRequest.id).where(ApprovalRequest.card_ts == card.ts)
        ).scalar_one()
        return int(found)


def current_card(harness: Harness, card: Any) -> Any:
    for message in harness.slack.channel_messages(NEWSLETTER_CHANNEL):
        if message.ts == card.ts:
            return message
    raise LookupError(card.ts)


def issue_state(harness: Harness, issue_id: int) -> str:
    with harness.desk.db.sessions() as session:
        issue = session.get(Issue, issue_id)
        assert issue is not None
        return issue.state


def request_state(harness: Harness, request_id: int) -> str:
    with harness.desk.db.sessions() as session:
        request = session.get(ApprovalRequest, request_id)
        assert request is not None
        return request.state


def push_duty(bot: Any) -> PushDuty:
    """The bot's suppression push duty (`handlers.app.Bot.background`), so that a test
    can start its next round now rather than wait out its 30 s idle."""
    duties = [getattr(start, "__self__", None) for start, _ in bot.background]
    return next(d for d in duties if isinstance(d, PushDuty))
