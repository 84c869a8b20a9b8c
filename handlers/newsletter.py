"""`/newsletter`: parse, authorise (the access middleware ran already), call a
service, reply. Each subcommand is one small function registered with
`@subcommand(name)`; modules that own a subcommand (sending, subscribers,
schedule) register theirs the same way.

Listeners ack at once; the work happens after the ack (Bolt runs it on a
worker thread), and replies go through `respond` — ephemeral, so addresses
and findings are seen only by the person who asked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot import approvals, issues, testcopy
from bot.desk import Desk, Notice
from bot.refusal import Refusal
from bot.rendering import TemplateProblem
from handlers import audit_view, blocks, drafts, texts
from handlers import preview as preview_view
from handlers.ids import Command
from handlers.mrkdwn import Mrkdwn
from handlers.notifier import SlackNotifier, on_notice
from handlers.parsing import Parsed, UsageError, parse
from handlers.replies import ephemeral, refusal_text
from handlers.texts import t

log = logging.getLogger(__name__)


@dataclass
class Invocation:
    desk: Desk
    client: WebClient
    user: str
    channel: str
    trigger_id: str
    respond: Respond
    parsed: Parsed

    def reply(self, text: Mrkdwn, block_list: list[dict[str, Any]] | None = None) -> None:
        ephemeral(self.respond, text, block_list)

    def open_draft(self, view: dict[str, Any]) -> None:
        """Open the draft form; its confirmation will come back to this channel."""
        self.client.views_open(
            trigger_id=self.trigger_id, view=drafts.with_origin(view, self.channel)
        )


Subcommand = Callable[[Invocation], None]
SUBCOMMANDS: dict[str, Subcommand] = {}


def subcommand(name: str) -> Callable[[Subcommand], Subcommand]:
    def register(func: Subcommand) -> Subcommand:
        SUBCOMMANDS[name] = func
        return func

    return register


def register(app: App, desk: Desk) -> None:
    @app.command(Command.NEWSLETTER)
    def newsletter(ack: Ack, command: dict[str, Any], respond: Respond, client: WebClient) -> None:
        ack()
        text = command.get("text", "")
        try:
            parsed = parse(text, desk.settings.tz)
        except UsageError as exc:
            intro = t(exc.key, **exc.params)
            ephemeral(respond, intro, blocks.help_blocks(intro))
            return
        invocation = Invocation(
            desk=desk,
            client=client,
            user=command["user_id"],
            channel=command.get("channel_id", ""),
            trigger_id=command.get("trigger_id", ""),
            respond=respond,
            parsed=parsed,
        )
        run(invocation)


def run(invocation: Invocation) -> None:
    handler = SUBCOMMANDS.get(invocation.parsed.sub)
    try:
        if handler is None:
            raise Refusal("not_yet_available", sub=invocation.parsed.sub)
        issue_id = invocation.parsed.issue_id
        if issue_id is not None and not issues.exists(invocation.desk, issue_id):
            # One answer for every subcommand that names an issue (status, audit, … too).
            raise Refusal("issue_not_found", issue=issue_id)
        handler(invocation)
    except Refusal as refusal:
        invocation.reply(refusal_text(refusal))
    except Exception as exc:
        log.exception("/newsletter %s failed", invocation.parsed.sub)
        invocation.reply(t("generic.error", error=type(exc).__name__))


@subcommand("help")
def help_(inv: Invocation) -> None:
    inv.reply(t("help.title"), blocks.help_blocks())


@subcommand("new")
def new(inv: Invocation) -> None:
    inv.open_draft(blocks.draft_modal())


@subcommand("edit")
def edit(inv: Invocation) -> None:
    assert inv.parsed.issue_id is not None
    subject, body = issues.source_for_editing(inv.desk, inv.parsed.issue_id)
    inv.open_draft(drafts.edit_modal(inv.parsed.issue_id, subject, body))


@subcommand("show")
def show(inv: Invocation) -> None:
    assert inv.parsed.issue_id is not None
    show_preview(
        inv.desk,
        inv.client,
        inv.channel,
        inv.user,
        inv.parsed.issue_id,
        source="source" in inv.parsed.args,
    )


def show_preview(
    desk: Desk, client: WebClient, channel: str, user: str, issue_id: int, *, source: bool = False
) -> None:
    """The whole issue as a reader gets it (or its source), to `user` alone."""
    preview = issues.preview(desk, issue_id)
    if source:
        messages = preview_view.source_messages(preview)
    else:
        try:
            copy: issues.ReaderCopy | None = issues.reader_copy(
                desk, issue_id, version_number=preview.version_number
            )
        except TemplateProblem:
            copy = None  # preflight's findings say why (template_error)
        messages = preview_view.preview_messages(preview, copy)
    preview_view.post_privately(client, channel, user, messages)


@subcommand("list")
def list_(inv: Invocation) -> None:
    lines = issues.list_issues(inv.desk)
    inv.reply(t("list.title") if lines else t("list.empty"), blocks.list_blocks(lines))


@subcommand("test")
def test(inv: Invocation) -> None:
    assert inv.parsed.issue_id is not None
    inv.reply(send_test_copy(inv.desk, inv.user, inv.parsed.issue_id))


def send_test_copy(desk: Desk, user: str, issue_id: int) -> Mrkdwn:
    """A [TEST] copy to `user`'s own Slack address, personalised with their own
    Slack name (invariant 4: the clicker is its one recipient); what to tell them."""
    directory = desk.directory
    sent_to = testcopy.send_test_copy(
        desk, issue_id, actor=user, address=directory.email_of(user), name=directory.name_of(user)
    )
    return t("test.sent", issue=issue_id, address=sent_to)


@subcommand("submit")
def submit(inv: Invocation) -> None:
    assert inv.parsed.issue_id is not None
    card = approvals.submit(
        inv.desk,
        inv.parsed.issue_id,
        actor=inv.user,
        scheduled_at=inv.parsed.at,
        override_reason=inv.parsed.override,
        canary_percent=inv.parsed.canary,
    )
    reply_with_card_state(
        inv,
        card,
        t(
            "submit.posted",
            issue=card.issue_id,
            channel=inv.desk.settings.NEWSLETTER_CHANNEL,
            recipients=card.recipients,
        ),
    )


def reply_with_card_state(inv: Invocation, card: approvals.Card, said: Mrkdwn) -> None:
    """Answer a submit or resume: the request's card went out with it (through
    the outbox, bot.outbox); if Slack has not taken it yet, say so."""
    if approvals.card(inv.desk, card.request_id).card_ts:
        inv.reply(said)
        return
    pending = t("card.pending", channel=inv.desk.settings.NEWSLETTER_CHANNEL)
    inv.reply(said, [blocks.section(blocks.lines([said, pending]))])


@on_notice("approval.card")
def show_card(notifier: SlackNotifier, notice: Notice) -> None:
    """A new request's card (bot.approvals enqueues it with the request). Once
    it is in the channel, a retry of the same notice posts nothing again."""
    assert notifier.desk is not None and notice.request_id is not None
    card = approvals.card(notifier.desk, notice.request_id)
    if not card.card_ts:
        post_card(notifier.desk, notifier.client, card)


def post_card(desk: Desk, client: WebClient, card: approvals.Card) -> None:
    channel = desk.settings.NEWSLETTER_CHANNEL
    with texts.speaking(None):  # the channel reads the team's language
        text, card_blocks = blocks.for_the_channel(
            blocks.card_fallback(card), blocks.approval_card(card, desk.settings.tz)
        )
    reply = client.chat_postMessage(channel=channel, text=text, blocks=card_blocks)
    approvals.set_card_message(desk, card.request_id, str(reply["channel"]), str(reply["ts"]))


@subcommand("cancel")
def cancel(inv: Invocation) -> None:
    assert inv.parsed.issue_id is not None
    cancelled = approvals.cancel(inv.desk, inv.parsed.issue_id, actor=inv.user)
    for request_id in cancelled:
        refresh_card(inv.desk, inv.client, request_id)
    inv.reply(t("cancel.done", issue=inv.parsed.issue_id))


def refresh_card(desk: Desk, client: WebClient, request_id: int) -> None:
    """Redraw an approval card to show its current state."""
    card = approvals.card(desk, request_id)
    if card.card_channel and card.card_ts:
        with texts.speaking(None):  # the channel reads the team's language
            text, card_blocks = blocks.for_the_channel(
                blocks.card_fallback(card), blocks.approval_card(card, desk.settings.tz)
            )
        client.chat_update(
            channel=card.card_channel, ts=card.card_ts, text=text, blocks=card_blocks
        )


@subcommand("audit")
def audit_(inv: Invocation) -> None:
    audit_view.show(inv.desk, inv.respond, inv.parsed.issue_id)
