"""`/newsletter subscribers import`: a CSV from Slack, applied by a second person.

1. The command opens a modal with a `file_input` (one CSV file, the list).
2. On submit the modal closes at once; the file is fetched (`handlers.files`),
   dry-run by `bot.import_requests.request` (nothing changes) and the
   summary — counts and the first rows of each kind, addresses included —
   goes to the person alone, as an ephemeral message.
3. A card in the newsletter channel shows counts only (never an address,
   never the file's name, which a person typed) with Confirm and Cancel.
   Only another team member's Confirm applies the import; the requester's
   own click is refused. The card is redrawn with what was done.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot import import_requests
from bot.csvfile import UnreadableFile, display_name
from bot.desk import Desk
from bot.import_requests import ImportCard
from bot.refusal import Refusal
from bot.subscribers import ImportReport
from bot.typed import storable
from handlers import blocks, files, texts
from handlers.drafts import field_value
from handlers.ids import Action, Block, Callback
from handlers.mrkdwn import Mrkdwn, plain
from handlers.replies import ephemeral, refusal_text
from handlers.texts import t
from handlers.unsubscribe import tell_operator

log = logging.getLogger(__name__)


SKIPPED = ("skipped_suppressed", "passed")


def import_modal(*, channel: str, list_name: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": Callback.SUBSCRIBERS_IMPORT,
        "private_metadata": channel,
        "title": blocks.plain_text(t("import.title"), 24),
        "submit": blocks.plain_text(t("import.submit"), 24),
        "close": blocks.plain_text(t("draft.cancel"), 24),
        "blocks": [
            {
                "type": "input",
                "block_id": Block.IMPORT_FILE,
                "label": blocks.plain_text(t("import.file_label"), 2000),
                "hint": blocks.plain_text(t("import.file_hint"), 2000),
                "element": {
                    "type": "file_input",
                    "action_id": Action.VALUE,
                    "filetypes": ["csv", "txt"],
                    "max_files": 1,
                },
            },
            {
                "type": "input",
                "block_id": Block.IMPORT_LIST,
                "label": blocks.plain_text(t("import.list_label"), 2000),
                "element": {
                    "type": "plain_text_input",
                    "action_id": Action.VALUE,
                    "initial_value": list_name,
                    "max_length": 200,
                },
            },
        ],
    }


def _numbers(counts: dict[str, Any]) -> dict[str, Any]:
    return {
        "rows": int(counts.get("rows", 0)),
        "added": int(counts.get("added", 0)),
        "updated": int(counts.get("updated", 0)),
        "suppressed": int(counts.get("suppressed", 0)),
        "stopped": int(counts.get("stopped", 0)),
        "skipped": sum(int(counts.get(k, 0)) for k in SKIPPED),
        "rejected": int(counts.get("rejected_count", 0)),
        "file_format": str(counts.get("file_format", "")),
    }


def card_text(card: ImportCard, desk: Desk) -> Mrkdwn:
    """The channel card: counts, the list, who asked and who decided. The list's
    name was typed by a person: it is escaped by `t()` and loses any address."""
    shown = {
        "list_name": blocks.channel_typed(card.list_name),
        "requester": card.requester,
        "decided_by": card.decided_by or "",
        "expires": blocks.when(card.expires_at, desk.settings.tz),
    }
    if card.state == "applied":
        return t("import.card_applied", **shown, **_numbers(card.result))
    key = {
        "open": "import.card_open",
        "cancelled": "import.card_cancelled",
        "expired": "import.card_expired",
        "applying": "import.card_applying",
    }[card.state]
    return t(key, **shown, **_numbers(card.dry_run))


def card_blocks(card: ImportCard, desk: Desk) -> blocks.Blocks:
    out = [blocks.section(card_text(card, desk))]
    if card.state == "open":
        numbers = _numbers(card.dry_run)
        out.append(
            {
                "type": "actions",
                "block_id": Block.IMPORT_ACTIONS,
                "elements": [
                    {
                        "type": "button",
                        "action_id": Action.IMPORT_CONFIRM,
                        "text": blocks.plain_text(t("import.confirm"), 75),
                        "style": "primary",
                        "value": str(card.id),
                        "confirm": blocks.confirm(
                            t("import.confirm_title"),
                            t("import.confirm_text", **numbers),
                            t("import.confirm_yes"),
                            t("import.confirm_no"),
                        ),
                    },
                    {
                        "type": "button",
                        "action_id": Action.IMPORT_CANCEL,
                        "text": blocks.plain_text(t("import.cancel"), 75),
                        "value": str(card.id),
                    },
                ],
            }
        )
    return out


def for_the_channel(card: ImportCard, desk: Desk) -> tuple[Mrkdwn, blocks.Blocks]:
    """The card as the channel gets it: in the team's language, addresses removed."""
    with texts.speaking(None):
        return blocks.for_the_channel(card_text(card, desk), card_blocks(card, desk))


def summary(report: ImportReport) -> Mrkdwn:
    """The dry run, for the person who asked alone (addresses shown, escaped)."""
    counts = import_requests.counts_of(report)
    lines = [
        t(
            "import.summary",
            list_name=report.list_name,
            file_format=report.file_format,
            encoding=display_name(report.encoding),
            unchanged=report.unchanged,
            merged=report.merged,
            already_suppressed=report.already_suppressed,
            **{k: v for k, v in _numbers(counts).items() if k != "file_format"},
        )
    ]
    for kind in ("added", "updated", "suppressed", "skipped"):
        for line, email in report.samples.get(kind, []):
            lines.append(
                t("import.sample_line", line=line, kind=t(f"import.kind.{kind}"), address=email)
            )
    for rejected in report.rejected[:5]:
        lines.append(t("import.rejected_line", line=rejected.line, reason=rejected.reason))
    return blocks.lines(lines)


def redraw(desk: Desk, client: WebClient, card: ImportCard) -> None:
    if card.card_channel and card.card_ts:
        text, card_blocks_ = for_the_channel(card, desk)
        client.chat_update(
            channel=card.card_channel, ts=card.card_ts, text=text, blocks=card_blocks_
        )


def register(app: App, desk: Desk) -> None:
    @app.view(Callback.SUBSCRIBERS_IMPORT)
    def submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        uploads = files.uploaded_files(view, Block.IMPORT_FILE, Action.VALUE)
        if len(uploads) != 1:
            ack(
                response_action="errors",
                errors={Block.IMPORT_FILE: plain(t("import.need_one_file"))},
            )
            return
        typed = field_value(view, Block.IMPORT_LIST)
        list_name = storable(typed).strip()[:200] or desk.settings.NEWSLETTER_NAME
        if "@" in list_name:  # the card shows the list's name in the channel
            ack(
                response_action="errors",
                errors={Block.IMPORT_LIST: plain(t("import.list_address"))},
            )
            return
        ack()  # fetching and the dry run may take longer than Slack waits
        user = body["user"]["id"]
        channel = str(view.get("private_metadata") or "")
        try:
            upload = files.download(client, uploads[0]["id"], api_url=desk.settings.SLACK_API_URL)
            report, card = import_requests.request(
                desk,
                actor=user,
                file_name=upload.name,
                content=upload.content,
                list_name=list_name,
            )
        except UnreadableFile as exc:
            tell_operator(client, user, channel, t("import.unreadable", error=str(exc)))
            return
        except Refusal as exc:
            tell_operator(client, user, channel, refusal_text(exc))
            return
        tell_operator(client, user, channel, summary(report))
        text, card_blocks_ = for_the_channel(card, desk)
        posted = client.chat_postMessage(
            channel=desk.settings.NEWSLETTER_CHANNEL, text=text, blocks=card_blocks_
        )
        import_requests.set_card(
            desk, card.id, channel=str(posted["channel"]), ts=str(posted["ts"])
        )

    def _request_id(body: dict[str, Any]) -> int | None:
        try:
            return int(body["actions"][0]["value"])
        except (KeyError, IndexError, ValueError, TypeError):
            return None

    @app.action(Action.IMPORT_CONFIRM)
    def confirm(ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        ack()
        request_id = _request_id(body)
        try:
            if request_id is None:
                raise Refusal("import_not_found")
            report, card = import_requests.confirm(desk, request_id, actor=body["user"]["id"])
        except Refusal as exc:
            ephemeral(respond, refusal_text(exc))
            if request_id is not None and exc.code == "import_expired":
                redraw(desk, client, import_requests.card(desk, request_id))
            return
        redraw(desk, client, card)
        ephemeral(
            respond,
            t(
                "import.done",
                added=report.added,
                updated=report.updated,
                suppressed=report.suppressed,
            ),
        )

    @app.action(Action.IMPORT_CANCEL)
    def cancel(ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        ack()
        request_id = _request_id(body)
        try:
            if request_id is None:
                raise Refusal("import_not_found")
            card = import_requests.cancel(desk, request_id, actor=body["user"]["id"])
        except Refusal as exc:
            ephemeral(respond, refusal_text(exc))
            return
        redraw(desk, client, card)
