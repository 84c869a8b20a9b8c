"""The preview that is the email: an issue as a reader will get it, in Slack.

`preview_messages()` turns an issue's preview (facts, preflight findings) and
one message rendered for a made-up sample reader (`bot.issues.reader_copy`)
into as many Slack messages as it takes: the subject as sent, then the whole
text part (the author's Markdown with the variables filled in, and the
footer) in Slack's `markdown` block, which renders standard Markdown the way
the email's HTML does (headings, bold and italics, lists, links, tables).
Slack takes at most 12,000 characters of markdown blocks in one message
(https://docs.slack.dev/reference/block-kit/blocks/markdown-block), so a long
issue is split at paragraph breaks into messages labelled "part 2 of 3".
Nothing is cut.

`source_messages()` shows the template source exactly as written
(preformatted rich text, nothing interpreted), for reviewers who want to see
what was typed. `post_privately()` delivers either to the one person who
asked: ephemeral in the channel, or in their DM with the bot when the bot
cannot post there.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.issues import Preview, ReaderCopy
from handlers import blocks
from handlers.mrkdwn import escape
from handlers.texts import state_name, t

log = logging.getLogger(__name__)

# Slack takes 12,000 characters of markdown blocks a message, but has been seen
# refusing messages whose blocks hold ~13,200 characters in all with
# msg_blocks_too_long (https://github.com/slackapi/bolt-js/issues/2509): a part
# keeps well under both, leaving room for the header, facts and findings.
MARKDOWN_LIMIT = 10_000
SOURCE_CHARS = 3_000  # one preformatted block of the source
SOURCE_BLOCKS = 12  # of them in a message: 36,000 characters, under the 40,000 of a message

Message = tuple[str, blocks.Blocks]  # (notification text, blocks)

# Slack reads `&`, `<` and `>` as control characters in message text; a `>` that
# opens a line is Markdown's block quote and stays (it cannot start a `<…>` sequence).
_QUOTE = re.compile(r"^( {0,3}(?:&gt; ?)+)", re.MULTILINE)  # found after escaping


def markdown_text(text: str) -> str:
    """`text` for a markdown block: shown as written, never a mention or a link
    Slack would build from `<…>`; Markdown's block quotes kept."""
    escaped = str(escape(text))  # the one escaping rule (handlers.mrkdwn)
    return _QUOTE.sub(lambda m: m.group(1).replace("&gt;", ">"), escaped)


def _cut(text: str, limit: int) -> int:
    """Where to end a piece of at most `limit` characters of `text`: after a
    blank line if one is in reach, else after a line break, else at `limit`
    (never inside an `&…;` entity)."""
    if len(text) <= limit:
        return len(text)
    for sep in ("\n\n", "\n"):
        at = text.rfind(sep, 0, limit - len(sep) + 1)
        if at > 0:
            return at + len(sep)
    amp = text.rfind("&", max(0, limit - 6), limit)
    return amp if amp > 0 and ";" not in text[amp:limit] else limit


def split(text: str, limit: int) -> list[str]:
    """`text` in pieces of at most `limit` characters that join back to it."""
    pieces: list[str] = []
    while text:
        at = _cut(text, limit)
        pieces.append(text[:at])
        text = text[at:]
    return pieces or [""]


def preview_messages(preview: Preview, copy: ReaderCopy | None) -> list[Message]:
    """The whole issue as the sample reader gets it, in as many messages as it
    takes; with `copy` None (the version cannot be rendered) the facts and the
    findings, which say why."""
    if copy is None:
        parts = [""]
        reader = [blocks.section(t("preview.not_rendered"))]
    else:
        parts = split(markdown_text(copy.message.text), MARKDOWN_LIMIT)
        reader = [
            blocks.context(t("preview.sample_reader", name=copy.name, company=copy.company)),
            blocks.section(t("preview.subject", subject=copy.message.subject)),
        ]
    count = len(parts)
    first: blocks.Blocks = [
        blocks.header(t("preview.title", issue=preview.issue_id)),
        *reader,
        blocks.context(
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
        *blocks.correction_line(preview.correction_of, preview.recipients),
        # Findings may quote personal data: a preview only ever goes to the asker.
        *blocks.findings_blocks(preview.findings, with_detail=True),
        blocks.divider(),
    ]
    messages: list[Message] = []
    for number, part in enumerate(parts, start=1):
        label = t("preview.part", issue=preview.issue_id, part=number, parts=count)
        head = first if number == 1 else [blocks.context(label)]
        if number == 1 and count > 1:
            head = [*head, blocks.context(label)]
        body: blocks.Blocks = [{"type": "markdown", "text": part}] if part.strip() else []
        tail = [blocks.context(t("preview.source_hint", issue=preview.issue_id))]
        messages.append((label, [*head, *body, *(tail if number == count else [])]))
    return messages


def source_messages(preview: Preview) -> list[Message]:
    """The subject and body exactly as written, preformatted, nothing interpreted."""
    chunks = split(preview.body, SOURCE_CHARS)
    groups = [chunks[i : i + SOURCE_BLOCKS] for i in range(0, len(chunks), SOURCE_BLOCKS)]
    messages: list[Message] = []
    for number, group in enumerate(groups, start=1):
        label = t("preview.source_part", issue=preview.issue_id, part=number, parts=len(groups))
        head: blocks.Blocks = [blocks.context(label)]
        if number == 1:
            head = [
                blocks.header(t("preview.source_title", issue=preview.issue_id)),
                _preformatted(preview.subject),
                *head,
            ]
        messages.append((label, [*head, *(_preformatted(c) for c in group if c)]))
    return messages


def _preformatted(text: str) -> dict[str, Any]:
    return {
        "type": "rich_text",
        "elements": [
            {"type": "rich_text_preformatted", "elements": [{"type": "text", "text": text}]}
        ],
    }


def post_privately(client: WebClient, channel: str, user: str, messages: Sequence[Message]) -> None:
    """Each message to `user` alone, in order: ephemeral in `channel`, or in the
    user's DM with the bot when the bot cannot post in that channel. (A slash
    command's response_url takes only five posts; a long preview needs more.)"""
    target: str | None = channel or None
    for text, message_blocks in messages:
        if target is not None:
            try:
                client.chat_postEphemeral(
                    channel=target, user=user, text=text, blocks=message_blocks
                )
                continue
            except SlackApiError as exc:
                error = exc.response.get("error")
                if error not in ("channel_not_found", "not_in_channel", "user_not_in_channel"):
                    raise
                log.info("preview: cannot post in %s (%s); sending it as a DM", target, error)
                target = None
        client.chat_postMessage(channel=user, text=text, blocks=message_blocks)
