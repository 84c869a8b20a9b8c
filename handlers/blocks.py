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

import json
import logging
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.approvals import Card
from bot.contacts import EMAIL
from bot.issues import IssueLine
from bot.preflight import Finding
from bot.rendering import MAX_BODY_CHARS, MAX_SUBJECT_CHARS, TemplateProblem
from handlers.ids import Action, Block, Callback
from handlers.mrkdwn import Mrkdwn, clip, for_channel, plain
from handlers.texts import state_name, t

log = logging.getLogger(__name__)

Blocks = list[dict[str, Any]]
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


def plain_text(text: str, limit: int = 150) -> dict[str, Any]:
    """A plain_text object (titles, labels, buttons) of at most `limit` characters,
    the limit of the field it fills in Block Kit's reference; shown as typed."""
    return _plain(text, limit)


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
MAX_SECTIONS = 30
SECTION_CHARS = 3_000  # Slack: a plain_text_input holds at most 3,000 characters
BODY_FILE_TYPES = ("md", "markdown", "txt")


# views.open / views.update refuse a view "greater than 250kb" (view_too_large:
# https://docs.slack.dev/reference/methods/views.open, Errors). A draft modal's sections
# hold typed text as initial values: a long Japanese body (3 bytes a character) reaches
# that before it reaches 30 sections. Measured as the Slack stand-in measures it.
VIEW_MAX_BYTES = 250 * 1024


def view_bytes(view: dict[str, Any]) -> int:
    """The size of `view` as compact UTF-8 JSON."""
    return len(json.dumps(view, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def fits(view: dict[str, Any]) -> bool:
    """Whether Slack takes `view` in views.open / views.update."""
    return view_bytes(view) <= VIEW_MAX_BYTES


def body_block_id(number: int) -> str:
    """The block id of the body's `number`-th section: body, body_2, body_3, …"""
    return Block.BODY if number == 1 else f"{Block.BODY}_{number}"


def draft_modal(
    *,
    issue_id: int | None = None,
    subject: str = "",
    sections: Sequence[str] = (),
    count: int | None = None,
    notice: Mrkdwn | None = None,
    correction_of: int | None = None,
) -> dict[str, Any]:
    """The draft modal — new, editing `issue_id`, or a new correction of
    `correction_of` — with the subject, the body in `count` sections (at least
    as many as `sections` prefill, at most MAX_SECTIONS), an "Add a section"
    button, and a file input for a Markdown or text file instead."""
    count = min(MAX_SECTIONS, max(1, len(sections), count or 0))
    if correction_of is not None:
        title = t("draft.title_correction", issue=correction_of)
        metadata = f"{CORRECTION_PREFIX}{correction_of}"
    else:
        title = t("draft.title_edit", issue=issue_id) if issue_id else t("draft.title_new")
        metadata = str(issue_id or "")
    subject_input: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": Action.VALUE,
        "max_length": MAX_SUBJECT_CHARS,
    }
    if subject:
        subject_input["initial_value"] = subject
    body_blocks: Blocks = []
    for number in range(1, count + 1):
        element: dict[str, Any] = {
            "type": "plain_text_input",
            "action_id": Action.VALUE,
            "multiline": True,
            "max_length": SECTION_CHARS,
        }
        if number <= len(sections) and sections[number - 1]:
            element["initial_value"] = sections[number - 1]
        label = (
            t("draft.body_label")
            if count == 1
            else t("draft.section_label", number=number, count=count)
        )
        block: dict[str, Any] = {
            "type": "input",
            "block_id": body_block_id(number),
            "optional": True,  # a file may stand in for the whole body
            "label": _plain(label),
            "element": element,
        }
        if number == 1:
            block["hint"] = _plain(
                t(
                    "draft.body_hint",
                    section_chars=f"{SECTION_CHARS:,}",
                    sections=MAX_SECTIONS,
                    body_chars=f"{MAX_BODY_CHARS:,}",
                ),
                2000,
            )
        body_blocks.append(block)
    if count < MAX_SECTIONS:
        body_blocks.append(
            {
                "type": "actions",
                "block_id": Block.BODY_ACTIONS,
                "elements": [
                    {
                        "type": "button",
                        "action_id": Action.ADD_SECTION,
                        "text": _plain(t("draft.add_section"), 75),
                        "value": str(count),
                    }
                ],
            }
        )
    body_blocks.append(
        {
            "type": "input",
            "block_id": Block.BODY_FILE,
            "optional": True,
            "label": _plain(t("draft.file_label")),
            "element": {
                "type": "file_input",
                "action_id": Action.VALUE,
                "filetypes": list(BODY_FILE_TYPES),
                "max_files": 1,
            },
            "hint": _plain(t("draft.file_hint", body_chars=f"{MAX_BODY_CHARS:,}"), 2000),
        }
    )
    head: Blocks = [section(notice)] if notice else []
    return {
        "type": "modal",
        "callback_id": Callback.DRAFT,
        "private_metadata": metadata,
        "title": _plain(title, 24),
        "submit": _plain(t("draft.submit")),
        "close": _plain(t("draft.cancel")),
        "blocks": [
            *head,
            {
                "type": "input",
                "block_id": Block.SUBJECT,
                "label": _plain(t("draft.subject_label")),
                "element": subject_input,
            },
            *body_blocks,
        ],
    }


def saving_modal(issue_id: int | None) -> dict[str, Any]:
    """What the draft modal shows while a long body or a file is being saved."""
    return draft_note(issue_id, t("draft.saving"))


def saved_modal(issue_id: int | None) -> dict[str, Any]:
    """The draft modal once a long body or a file is saved (the DM has the details)."""
    return draft_note(issue_id, t("draft.saved_modal"))


def draft_note(issue_id: int | None, note: Mrkdwn) -> dict[str, Any]:
    """The draft modal showing only `note` (no form)."""
    title = t("draft.title_edit", issue=issue_id) if issue_id else t("draft.title_new")
    return {
        "type": "modal",
        "title": _plain(title, 24),
        "close": _plain(t("draft.close")),
        "blocks": [section(note)],
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


def template_problem_text(problem: TemplateProblem) -> Mrkdwn:
    """Why a template cannot be saved or rendered, as a whole sentence of the catalogue."""
    params = {k: f"{v:,}" if isinstance(v, int) else v for k, v in problem.params.items()}
    return t(f"template.{problem.code}", line=problem.line or 0, **params)


def findings_blocks(findings: Sequence[Finding], *, with_detail: bool) -> Blocks:
    if not findings:
        return [context(t("preview.no_findings"))]
    out = [t("preview.findings_title")]
    for finding in findings:
        key = "preview.blocking" if finding.blocking else "preview.warning"
        out.append(t(key, message=finding_text(finding)))
        if with_detail and finding.problem is not None:
            out.append(Mrkdwn("      ") + template_problem_text(finding.problem))
        elif with_detail and finding.detail:
            out.append(Mrkdwn("      ") + t("preview.detail", detail=finding.detail))
    return [section(lines(out))]


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
        *correction_line(card.correction_of, card.recipients),
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
                        "confirm": approve_confirm(card, tz),
                    },
                    {
                        "type": "button",
                        "action_id": Action.REJECT,
                        "style": "danger",
                        "text": _plain(t("card.reject")),
                        "value": str(card.request_id),
                    },
                    {
                        "type": "button",
                        "action_id": Action.PREVIEW,
                        "text": _plain(t("card.preview")),
                        "value": str(card.request_id),
                    },
                    {
                        "type": "button",
                        "action_id": Action.TEST_COPY,
                        "text": _plain(t("card.test_copy")),
                        "value": str(card.request_id),
                    },
                ],
            }
        )
    else:
        blocks.append(section(card_state_text(card, tz)))
    return blocks


def correction_line(correction_of: int | None, recipients: int) -> Blocks:
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


def confirm(title: str, text: str, yes: str, no: str, *, danger: bool = False) -> dict[str, Any]:
    """A confirmation dialog (title <= 100, text <= 300, buttons <= 30 characters:
    https://docs.slack.dev/reference/block-kit/composition-objects/confirmation-dialog-object).
    Plain text throughout: nothing in it is parsed."""
    return {
        "title": _plain(title, 100),
        "text": _plain(text, 300),
        "confirm": _plain(yes, 30),
        "deny": _plain(no, 30),
        "style": "danger" if danger else "primary",
    }


def approve_confirm(card: Card, tz: ZoneInfo) -> dict[str, Any]:
    """What the Approve click does, said before it is done: to how many, and when."""
    recipients = f"{card.recipients:,}"
    if card.kind == "resume":
        text = t("card.confirm_resume", issue=card.issue_id, recipients=recipients)
    elif card.scheduled_at:
        text = t(
            "card.confirm_at",
            issue=card.issue_id,
            recipients=recipients,
            when=when(card.scheduled_at, tz),
        )
    else:
        text = t("card.confirm_now", issue=card.issue_id, recipients=recipients)
    if card.kind == "send" and card.canary_size:
        # The same plan as on the card: a canary first, the rest after its hold.
        text = (
            text
            + " "
            + t(
                "card.confirm_canary",
                size=f"{card.canary_size:,}",
                minutes=card.canary.hold_minutes,
            )
        )
    return confirm(
        t("card.confirm_title", issue=card.issue_id),
        text,
        t("card.confirm_yes"),
        t("card.confirm_no"),
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
