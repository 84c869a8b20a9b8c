"""`/newsletter audit [ID]`: the audit trail as sentences a person reads, paged.

Each recorded action has one sentence in the catalogue (`audit.event.<action>`),
filled from the event: who (a Slack mention Slack renders as the person's name;
"Countersign" for the bot itself), which issue, when (in the team's time zone),
and the event's own details (versions, short hashes, reasons, counts). An action
without a sentence of its own is still shown, by its words and details, so the
trail never hides an event. Pages of `PAGE` events, newest first, end with an
"Older" button that carries where the next page starts; nothing is cut mid-line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from slack_bolt import Ack, App, Respond

from bot import audit
from bot.desk import Desk
from handlers import blocks
from handlers.ids import Action, Block
from handlers.mrkdwn import Mrkdwn, escape, mention
from handlers.replies import ephemeral
from handlers.texts import EN, state_name, t
from storage.models import AuditEvent

PAGE = 15
DETAIL_CHARS = 120
_HASH = re.compile(r"^[0-9a-f]{64}$")
_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")


# Details a sentence already says, so the "Details" line does not repeat them.
_STATES = {"before", "after", "state"}
_SAID = {"version", "hash", "before", "after", "reason", "recipients", "rows", "added", "updated"}


def actor_text(actor: str) -> Mrkdwn:
    """Who did it, as Slack should show them: a mention for a Slack user, the bot's
    name for the bot; anything else (a CLI user name) as typed, escaped."""
    if actor == audit.SYSTEM:
        return t("audit.system")
    return mention(actor) if _USER.match(actor) else escape(actor)


def _value(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_value(v) for v in value)
    if isinstance(value, dict):  # e.g. one seed copy: its address ref, outcome, MessageID
        return " ".join(_value(v) for v in value.values() if v not in (None, ""))
    text = str(value)
    return text[:12] + "…" if _HASH.match(text) else text


def event_blocks(event: AuditEvent, desk: Desk) -> list[dict[str, Any]]:
    """One event: its sentence, and a line of the details the sentence does not say."""
    detail = {k: v for k, v in (event.detail or {}).items() if v not in (None, "", [])}
    params: dict[str, Any] = {
        name: "—" for name in ("version", "hash", "before", "after", "reason", "recipients")
    }
    params.update({k: _value(v) for k, v in detail.items()})
    for name in _STATES & detail.keys():
        params[name] = state_name(str(detail[name]))
    params.update(
        when=blocks.when(event.at, desk.settings.tz),
        actor=actor_text(event.actor),
        issue=event.issue_id if event.issue_id is not None else "—",
        subject=event.subject,
        action=event.action.replace(".", " ").replace("_", " "),
    )
    key = f"audit.event.{event.action}"
    has_sentence = key in EN
    shown = [blocks.section(t(key if has_sentence else "audit.event.other", **params))]
    said = _SAID if has_sentence else set()
    rest = {k: v for k, v in detail.items() if k not in said}
    if rest:
        details = ", ".join(f"{k.replace('_', ' ')} {_value(v)}" for k, v in rest.items())
        if len(details) > DETAIL_CHARS:
            details = details[: DETAIL_CHARS - 1] + "…"
        shown.append(blocks.context(t("audit.details", details=details)))
    return shown


def page_blocks(
    desk: Desk, events: Sequence[AuditEvent], issue_id: int | None, has_more: bool
) -> list[dict[str, Any]]:
    title = t("audit.title_issue", issue=issue_id) if issue_id else t("audit.title")
    block_list = [blocks.header(title)]
    for event in events:
        block_list += event_blocks(event, desk)
    if has_more and events:
        block_list.append(blocks.context(t("audit.page_end", count=len(events))))
        block_list.append(
            {
                "type": "actions",
                "block_id": Block.AUDIT_ACTIONS,
                "elements": [
                    {
                        "type": "button",
                        "action_id": Action.AUDIT_OLDER,
                        "text": {"type": "plain_text", "text": t("audit.older")},
                        "value": f"{issue_id or 0}:{events[-1].id}",
                    }
                ],
            }
        )
    else:
        block_list.append(blocks.context(t("audit.no_more")))
    return block_list


def show(desk: Desk, respond: Respond, issue_id: int | None, before: int | None = None) -> None:
    with desk.db.sessions() as session:
        events = list(audit.trail(session, issue_id=issue_id, limit=PAGE + 1, before_id=before))
        has_more = len(events) > PAGE
        events = events[:PAGE]
        if not events and before is None:
            ephemeral(respond, t("audit.empty"))
            return
        title = t("audit.title_issue", issue=issue_id) if issue_id else t("audit.title")
        ephemeral(respond, title, page_blocks(desk, events, issue_id, has_more))


def _cursor(value: str) -> tuple[int | None, int] | None:
    try:
        issue, before = (int(part) for part in value.split(":"))
    except (ValueError, AttributeError):
        return None
    return (issue or None), before


def register(app: App, desk: Desk) -> None:
    @app.action(Action.AUDIT_OLDER)
    def older(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        actions = body.get("actions") or [{}]
        cursor = _cursor(str(actions[0].get("value", "")))
        if cursor is None:
            ephemeral(respond, t("audit.no_more"))
            return
        show(desk, respond, cursor[0], before=cursor[1])
