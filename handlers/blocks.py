"""Block Kit builders: pure functions from service results to Slack payloads.

Nothing here talks to Slack or the database, so tests can inspect the blocks.
Every sentence comes from `handlers.texts`. Channel-bound builders (the
approval card, notices) never include addresses (invariant 9).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.approvals import Card
from bot.issues import IssueLine, Preview
from bot.preflight import Finding
from handlers.ids import Action, Block, Callback
from handlers.texts import state_name, t

Blocks = list[dict[str, Any]]
PREVIEW_CHARS = 600


def _plain(text: str, limit: int = 150) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:limit], "emoji": True}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:3000]}]}


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": _plain(text)}


def divider() -> dict[str, Any]:
    return {"type": "divider"}


def message(text: str) -> Blocks:
    return [section(text)]


def when(at: datetime | None, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") if at else "—"


# --- help ------------------------------------------------------------------------------


# Where the written procedures live (README.md links them too).
RUNBOOKS = "`docs/runbooks/README.md`"


def help_blocks(intro: str | None = None) -> Blocks:
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


def finding_text(finding: Finding) -> str:
    params = dict(finding.params)
    if "kinds" in params:  # names, companies, addresses: each shown in the reader's language
        params["kinds"] = ", ".join(t(f"finding.kind.{k}") for k in str(params["kinds"]).split(","))
    return t(f"finding.{finding.code}", **params)


def findings_blocks(findings: Sequence[Finding], *, with_detail: bool) -> Blocks:
    if not findings:
        return [context(t("preview.no_findings"))]
    lines = [t("preview.findings_title")]
    for finding in findings:
        key = "preview.blocking" if finding.blocking else "preview.warning"
        lines.append(t(key, message=finding_text(finding)))
        if with_detail and finding.detail:
            lines.append("      " + t("preview.detail", detail=finding.detail))
    return [section("\n".join(lines))]


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
        section(body or " "),
        divider(),
        # Findings may quote personal data: this preview is only ever ephemeral.
        *findings_blocks(preview.findings, with_detail=True),
    ]


def list_blocks(lines: Sequence[IssueLine]) -> Blocks:
    if not lines:
        return message(t("list.empty"))
    return [
        section(t("list.title")),
        section(
            "\n".join(
                t(
                    "list.line",
                    issue=x.issue_id,
                    state=state_name(x.state),
                    subject=x.subject,
                    version=x.version_number,
                )
                for x in lines
            )
        ),
    ]


# --- the approval card -----------------------------------------------------------------

# Why a request was voided, where the catalogue has a sentence for it (`card.void.*`).
VOID_NOTES = ("edited", "resubmitted", "halted")


def approval_card(card: Card, tz: ZoneInfo) -> Blocks:
    title_key = "card.title_resume" if card.kind == "resume" else "card.title"
    blocks: Blocks = [
        header(t(title_key, issue=card.issue_id)),
        section(t("card.subject", subject=card.subject)),
        *_correction_line(card.correction_of, card.recipients),
        section(
            t(
                "card.facts",
                list_name=card.list_name,
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
    if card.override_reason:
        blocks.append(
            section(
                t("card.override", codes=", ".join(card.overridden), reason=card.override_reason)
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


def card_state_text(card: Card, tz: ZoneInfo) -> str:
    if card.state == "void":
        note = (
            t(f"card.void.{card.decision_note}")
            if card.decision_note in VOID_NOTES
            else card.decision_note
        )
        return t("card.state.void", note=note)
    if card.state == "expired":
        return t("card.state.expired", when=when(card.expires_at, tz))
    return t(
        f"card.state.{card.state}",
        who=card.decided_by or "",
        when=when(card.decided_at, tz),
        note=card.decision_note,
    )


def card_fallback(card: Card) -> str:
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
