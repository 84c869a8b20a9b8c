"""Block Kit builders: pure functions from service results to Slack payloads.

Nothing here talks to Slack or the database, so tests can inspect the blocks.
Every sentence comes from `handlers.texts`. Text goes in by the one rule of
`handlers.mrkdwn`: `section`, `context` and `message` take `Mrkdwn` only (what
`t()` returns, with every typed parameter escaped), `lines()` joins it, and
plain_text objects (`header`, labels, buttons) get the text back as typed.
Channel-bound builders (the approval card, notices) pass typed text through
`channel_typed()` first, which removes addresses and phone numbers (invariant 9).
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.approvals import Card
from bot.issues import IssueLine, Preview
from bot.preflight import Finding
from bot.typed import EMAIL
from handlers.ids import Action, Block, Callback
from handlers.mrkdwn import Mrkdwn, clip, escape, for_channel, plain
from handlers.texts import state_name, t

log = logging.getLogger(__name__)

Blocks = list[dict[str, Any]]
PREVIEW_CHARS = 600
TEXT_LIMIT = 3000  # a section's or context element's text (Block Kit reference)


def _mrkdwn(text: Mrkdwn) -> dict[str, Any]:
    if not isinstance(text, Mrkdwn):
        raise TypeError(
            f"Slack text must be Mrkdwn (from t(), escape() or lines()), not {type(text).__name__}"
        )
    return {"type": "mrkdwn", "text": clip(text, TEXT_LIMIT)}


def _plain(text: str, limit: int = 150) -> dict[str, Any]:
    shown = plain(text)
    return {
        "type": "plain_text",
        "text": shown if len(shown) <= limit else shown[: limit - 1] + "…",
        "emoji": True,
    }


def section(text: Mrkdwn) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}


def context(text: Mrkdwn) -> dict[str, Any]:
    return {"type": "context", "elements": [_mrkdwn(text)]}


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": _plain(text)}


def divider() -> dict[str, Any]:
    return {"type": "divider"}


def message(text: Mrkdwn) -> Blocks:
    return [section(text)]


def lines(items: Sequence[Mrkdwn]) -> Mrkdwn:
    """Sentences one per line (anything not `Mrkdwn` among them is escaped)."""
    return Mrkdwn("\n").join(items)


def channel_typed(text: str | None) -> str:
    """Typed text for a channel message: addresses and phone numbers removed."""
    return for_channel(text, address=t("redacted.address"), phone=t("redacted.phone"))


def for_the_channel(text: Mrkdwn, block_list: Blocks) -> tuple[Mrkdwn, Blocks]:
    """The last look at a channel message before it is posted: any address still
    in it (a builder that forgot `channel_typed()`) is replaced and logged.
    Addresses only: a phone pattern would also hit the app's dates and hashes."""
    found: list[str] = []

    def clean(node: Any) -> Any:
        if isinstance(node, Mrkdwn | str):
            visible = unicodedata.normalize("NFKC", node)
            if not EMAIL.search(visible):
                return node
            found.append(type(node).__name__)
            replaced = EMAIL.sub(lambda _: str(t("redacted.address")), visible)
            return Mrkdwn(replaced) if isinstance(node, Mrkdwn) else replaced
        if isinstance(node, dict):
            return {k: clean(v) for k, v in node.items()}
        if isinstance(node, list):
            return [clean(v) for v in node]
        return node

    cleaned_text, cleaned_blocks = clean(text), clean(block_list)
    if found:
        log.error("an address reached a channel message; it was removed (%d texts)", len(found))
    return cleaned_text, cleaned_blocks


def when(at: datetime | None, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") if at else "—"


# --- help ------------------------------------------------------------------------------


# Where the written procedures live (README.md links them too).
RUNBOOKS = "`docs/runbooks/README.md`"


def help_blocks(intro: Mrkdwn | None = None) -> Blocks:
    blocks: Blocks = []
    if intro:
        blocks.append(section(intro))
    blocks += [header(t("help.title")), section(t("help.body", runbooks=RUNBOOKS))]
    return blocks


# --- the draft modal -------------------------------------------------------------------


# The draft form's private_metadata for a correction: this prefix and the earlier issue's id.
CORRECTION_PREFIX = "correction_of="


def draft_modal(
    *,
    issue_id: int | None = None,
    subject: str = "",
    body: str = "",
    correction_of: int | None = None,
) -> dict[str, Any]:
    """The draft form: new, editing `issue_id`, or a new correction of `correction_of`."""
    if correction_of is not None:
        title = t("draft.title_correction", issue=correction_of)
        metadata = f"{CORRECTION_PREFIX}{correction_of}"
    else:
        title = t("draft.title_edit", issue=issue_id) if issue_id else t("draft.title_new")
        metadata = str(issue_id or "")
    subject_input: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": Action.VALUE,
        "max_length": 250,
    }
    body_input: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": Action.VALUE,
        "multiline": True,
        "max_length": 3000,
    }
    if subject:
        subject_input["initial_value"] = subject
    if body:
        body_input["initial_value"] = body
    return {
        "type": "modal",
        "callback_id": Callback.DRAFT,
        "private_metadata": metadata,
        "title": _plain(title[:24]),
        "submit": _plain(t("draft.submit")),
        "close": _plain(t("draft.cancel")),
        "blocks": [
            {
                "type": "input",
                "block_id": Block.SUBJECT,
                "label": _plain(t("draft.subject_label")),
                "element": subject_input,
            },
            {
                "type": "input",
                "block_id": Block.BODY,
                "label": _plain(t("draft.body_label")),
                "element": body_input,
                "hint": _plain(t("draft.body_hint"), 2000),
            },
        ],
    }


def reject_modal(*, request_id: int, issue_id: int, channel: str, ts: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": Callback.REJECT,
        "private_metadata": f"{request_id}|{channel}|{ts}",
        "title": _plain(t("reject.title", issue=issue_id)[:24]),
        "submit": _plain(t("reject.submit")),
        "close": _plain(t("draft.cancel")),
        "blocks": [
            {
                "type": "input",
                "block_id": Block.REASON,
                "label": _plain(t("reject.label")),
                "element": {
                    "type": "plain_text_input",
                    "action_id": Action.VALUE,
                    "multiline": True,
                    "max_length": 1000,
                },
            },
        ],
    }


# --- preview, list ---------------------------------------------------------------------


def finding_text(finding: Finding) -> Mrkdwn:
    params = dict(finding.params)
    if "kinds" in params:  # names, companies, addresses: each shown in the reader's language
        kinds = str(params["kinds"]).split(",")
        params["kinds"] = Mrkdwn(", ").join(t(f"finding.kind.{k}") for k in kinds)
    return t(f"finding.{finding.code}", **params)


def findings_blocks(findings: Sequence[Finding], *, with_detail: bool) -> Blocks:
    if not findings:
        return [context(t("preview.no_findings"))]
    out = [t("preview.findings_title")]
    for finding in findings:
        key = "preview.blocking" if finding.blocking else "preview.warning"
        out.append(t(key, message=finding_text(finding)))
        if with_detail and finding.detail:
            out.append(Mrkdwn("      ") + t("preview.detail", detail=finding.detail))
    return [section(lines(out))]


def preview_blocks(preview: Preview) -> Blocks:
    body = (
        preview.body if len(preview.body) <= PREVIEW_CHARS else preview.body[:PREVIEW_CHARS] + "…"
    )
    return [
        header(t("preview.header", issue=preview.issue_id, subject=preview.subject)),
        context(
            t(
                "preview.facts",
                state=state_name(preview.state),
                version=preview.version_number,
                author=preview.author,
                hash12=preview.content_hash[:12],
                list_name=preview.list_name,
                recipients=preview.recipients,
            )
        ),
        *_correction_line(preview.correction_of, preview.recipients),
        section(escape(body or " ")),
        divider(),
        # Findings may quote personal data: this preview is only ever ephemeral.
        *findings_blocks(preview.findings, with_detail=True),
    ]


def list_blocks(issue_lines: Sequence[IssueLine]) -> Blocks:
    if not issue_lines:
        return message(t("list.empty"))
    return [
        section(t("list.title")),
        section(
            lines(
                [
                    t(
                        "list.line",
                        issue=x.issue_id,
                        state=state_name(x.state),
                        subject=x.subject,
                        version=x.version_number,
                    )
                    for x in issue_lines
                ]
            )
        ),
    ]


# --- the approval card -----------------------------------------------------------------

# Why a request was voided, where the catalogue has a sentence for it (`card.void.*`).
VOID_NOTES = ("edited", "resubmitted", "halted")


def approval_card(card: Card, tz: ZoneInfo) -> Blocks:
    """The card in the channel: typed text (subject, reasons) without personal data."""
    title_key = "card.title_resume" if card.kind == "resume" else "card.title"
    blocks: Blocks = [
        header(t(title_key, issue=card.issue_id)),
        section(t("card.subject", subject=channel_typed(card.subject))),
        *_correction_line(card.correction_of, card.recipients),
        section(
            t(
                "card.facts",
                list_name=channel_typed(card.list_name),
                recipients=card.recipients,
                hash12=card.hash12,
                version=card.version_number,
                author=card.author,
            )
        ),
        section(
            t("card.scheduled", when=when(card.scheduled_at, tz), until=when(card.start_by, tz))
            if card.scheduled_at
            else t("card.now")
        ),
    ]
    if card.kind == "send":
        blocks.append(section(canary_plan_text(card)))
    if card.override_reason:
        blocks.append(
            section(
                t(
                    "card.override",
                    codes=", ".join(card.overridden),
                    reason=channel_typed(card.override_reason),
                )
            )
        )
    blocks.append(
        context(t("card.requested", requester=card.requester, expires=when(card.expires_at, tz)))
    )
    blocks.append(context(t("card.preview_hint", issue=card.issue_id)))
    if card.state == "open":
        blocks.append(
            {
                "type": "actions",
                "block_id": Block.APPROVAL_ACTIONS,
                "elements": [
                    {
                        "type": "button",
                        "action_id": Action.APPROVE,
                        "style": "primary",
                        "text": _plain(t("card.approve")),
                        "value": str(card.request_id),
                    },
                    {
                        "type": "button",
                        "action_id": Action.REJECT,
                        "style": "danger",
                        "text": _plain(t("card.reject")),
                        "value": str(card.request_id),
                    },
                ],
            }
        )
    else:
        blocks.append(section(card_state_text(card, tz)))
    return blocks


def _correction_line(correction_of: int | None, recipients: int) -> Blocks:
    if correction_of is None:
        return []
    return [section(t("card.correction", original=correction_of, recipients=f"{recipients:,}"))]


def canary_plan_text(card: Card) -> Mrkdwn:
    """The plan that is approved with the card: a canary and its hold, or all at once."""
    if not card.canary_size:
        return t("card.canary_off", recipients=card.recipients)
    return t(
        "card.canary",
        percent=f"{card.canary.percent:g}",
        size=card.canary_size,
        minutes=card.canary.hold_minutes,
        bounces=f"{card.bounce_limit:g}",
        complaints=f"{card.complaint_limit:g}",
    )


def card_state_text(card: Card, tz: ZoneInfo) -> Mrkdwn:
    if card.state == "void":
        note = (
            t(f"card.void.{card.decision_note}")
            if card.decision_note in VOID_NOTES
            else channel_typed(card.decision_note)
        )
        return t("card.state.void", note=note)
    if card.state == "expired":
        return t("card.state.expired", when=when(card.expires_at, tz))
    return t(
        f"card.state.{card.state}",
        who=card.decided_by or "",
        when=when(card.decided_at, tz),
        note=channel_typed(card.decision_note),
    )


def card_fallback(card: Card) -> Mrkdwn:
    return t("card.title", issue=card.issue_id)


BAR_WIDTH = 10


def progress_bar(done: int, total: int, width: int = BAR_WIDTH) -> tuple[str, int]:
    """`▓▓▓▓▓░░░░░` and the whole percent, both rounded down: 100 % (and a full bar)
    only when every recipient is handled."""
    if total <= 0:
        return "░" * width, 0
    done = max(0, min(done, total))
    filled = done * width // total
    return "▓" * filled + "░" * (width - filled), done * 100 // total
