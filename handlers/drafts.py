"""The draft modal: its sections, its file, and its submission.

Slack's text input holds at most 3,000 characters, so the body comes in
sections — inputs `body`, `body_2`, `body_3`, … (`blocks.body_block_id`),
each `action_id` `value` — joined in order with a blank line. The sections
are read from the submission's state values, so the body is exactly what was
submitted; "Add a section" redraws the modal with one more (up to
`blocks.MAX_SECTIONS`), keeping what was typed. Instead of sections, a
Markdown or text file may be attached (`body_file`): fetched with
`files.info` and the bot token (scope `files:read`), refused unless it is
UTF-8 text of at most `rendering.MAX_BODY_CHARS` characters. Editing opens an
issue in sections again (`sections_of`), or says why it cannot.

Problems are answered inside the modal (`response_action: errors`) under the
field they concern — a template problem under the section holding its line —
so the author fixes them where they typed; nothing is saved then. Saving a
short body is quick, so it happens before the ack, as Slack requires for
modal errors. A file or a body over `QUICK_CHARS` may take longer than the
3 seconds Slack waits, so the modal turns to "Saving…" at once and then shows
the outcome: "Saved", or the form again with the problem at its top.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import issues
from bot.desk import Desk
from bot.refusal import Refusal
from bot.rendering import MAX_BODY_CHARS, TemplateProblem
from handlers import blocks
from handlers.files import download
from handlers.ids import Action, Block, Callback
from handlers.mrkdwn import Mrkdwn, plain
from handlers.replies import refusal_text
from handlers.texts import t

log = logging.getLogger(__name__)

JOIN = "\n\n"  # between sections: a blank line
_SECTION = re.compile(rf"^{Block.BODY}(?:_([1-9][0-9]{{0,2}}))?$")
MAX_FILE_BYTES = 4 * MAX_BODY_CHARS  # UTF-8 takes at most 4 bytes a character
# Up to this many typed characters are saved before the answer (errors under the
# field); a file or a longer body is answered at once and saved after (see save_draft).
QUICK_CHARS = 20_000


class FileProblem(Exception):
    """Why an attached file cannot be the body: a catalogue key and its params."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key, self.params = key, params


# The draft form remembers where it was asked for: `private_metadata` ends with
# "|" and the channel of the `/newsletter new|edit|correct` command (Slack hands
# private_metadata back with the submission), so the confirmation appears there.
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,20}")


def with_origin(view: dict[str, Any], channel: str | None) -> dict[str, Any]:
    """The draft form `view`, remembering `channel` (a Slack channel id) for its answer."""
    if not _CHANNEL_ID.fullmatch(channel or ""):
        return view
    return {**view, "private_metadata": f"{view.get('private_metadata') or ''}|{channel}"}


def split_origin(view: dict[str, Any]) -> tuple[str, str | None]:
    """(the form's own metadata, the channel it was asked for in, or None)."""
    raw = str(view.get("private_metadata") or "").strip()
    own, bar, channel = raw.rpartition("|")
    if bar and _CHANNEL_ID.fullmatch(channel):
        return own.strip(), channel
    return raw, None


def tell_author(client: WebClient, user: str, channel: str | None, text: Mrkdwn) -> None:
    """The confirmation, to the author alone: an ephemeral in the channel where they
    asked for the form, or a DM from the bot when that channel is unknown or refuses
    (the author left it, say)."""
    if channel:
        try:
            client.chat_postEphemeral(
                channel=channel, user=user, text=text, blocks=blocks.message(text)
            )
            return
        except SlackApiError as exc:
            log.info("draft confirmation as a DM: %s", exc.response.get("error"))
    client.chat_postMessage(channel=user, text=text)


def field_value(view: dict[str, Any], block_id: str) -> str:
    state = view.get("state", {}).get("values", {})
    value = (state.get(block_id) or {}).get(Action.VALUE) or {}
    return str(value.get("value") or "")


def submitted_sections(view: dict[str, Any]) -> list[tuple[str, str]]:
    """(block id, text) of every body section in the view's state, in order."""
    numbered: list[tuple[int, str, str]] = []
    for block_id, actions in (view.get("state", {}).get("values") or {}).items():
        match = _SECTION.match(str(block_id))
        value = (actions or {}).get(Action.VALUE) or {}
        if match and value.get("type") == "plain_text_input":
            number = int(match.group(1) or 1)
            numbered.append((number, str(block_id), str(value.get("value") or "")))
    return [(block_id, text) for _, block_id, text in sorted(numbered)]


def join_sections(sections: list[tuple[str, str]]) -> str:
    return JOIN.join(text for _, text in sections if text.strip())


def sections_of(body: str) -> list[str] | None:
    """`body` in sections that `join_sections` gives back exactly (split at blank
    lines, packed up to the section limit), or None when that cannot be done:
    a paragraph longer than a section, or more sections than the modal holds."""
    if not body:
        return []
    sections: list[str] = []
    for paragraph in body.split(JOIN):
        if len(paragraph) > blocks.SECTION_CHARS:
            return None
        if sections and len(sections[-1]) + len(JOIN) + len(paragraph) <= blocks.SECTION_CHARS:
            sections[-1] += JOIN + paragraph
        else:
            sections.append(paragraph)
    if len(sections) > blocks.MAX_SECTIONS or not all(s.strip() for s in sections):
        return None  # an empty section would be dropped when joined
    return sections


def edit_modal(issue_id: int, subject: str, body: str) -> dict[str, Any]:
    """The draft modal for editing: the body in its sections, or, when it cannot be
    split without a change or would make the modal larger than Slack takes, empty
    sections and a notice to attach the whole body again as a file."""
    sections = sections_of(body)
    if sections is not None:
        view = blocks.draft_modal(issue_id=issue_id, subject=subject, sections=sections)
        if blocks.fits(view):
            return view
    return blocks.draft_modal(
        issue_id=issue_id,
        subject=subject,
        notice=t("draft.too_long_for_sections", chars=f"{len(body):,}"),
    )


def attached_files(view: dict[str, Any]) -> list[dict[str, Any]]:
    state = view.get("state", {}).get("values", {})
    value = (state.get(Block.BODY_FILE) or {}).get(Action.VALUE) or {}
    return [f for f in value.get("files") or [] if isinstance(f, dict)]


def read_attached(client: WebClient, api_url: str, file: dict[str, Any]) -> str:
    """The text of an attached file. Raises FileProblem.

    The bytes come through `handlers.files.download`, the one way the bot fetches
    an upload (its token only to Slack's own hosts, no redirects, size bounded).
    """
    try:
        upload = download(client, str(file.get("id") or ""), api_url=api_url, limit=MAX_FILE_BYTES)
    except Refusal as refusal:
        if refusal.code == "file_too_large":
            raise FileProblem(
                "draft.file_too_large",
                size=refusal.params.get("size", "?"),
                body_chars=f"{MAX_BODY_CHARS:,}",
            ) from None
        error = str(refusal.params.get("error") or refusal.code)
        raise FileProblem("draft.file_unreadable", error=error) from None
    name = upload.name
    if "." not in name or name.rsplit(".", 1)[-1].lower() not in blocks.BODY_FILE_TYPES:
        raise FileProblem("draft.file_type", name=name)
    try:
        text = upload.content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileProblem("draft.file_not_utf8", position=f"{exc.start + 1:,}") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if len(text) > MAX_BODY_CHARS:
        raise FileProblem(
            "draft.file_too_long", chars=f"{len(text):,}", body_chars=f"{MAX_BODY_CHARS:,}"
        )
    return text


def _block_of_line(sections: list[tuple[str, str]], line: int | None) -> str:
    """The section that holds `line` of the joined body (the first one by default)."""
    kept = [(b, s) for b, s in sections if s.strip()]
    if line is None or not kept:
        return Block.BODY
    start = 1
    for block_id, text in kept:
        end = start + text.count("\n")
        if line <= end:
            return block_id
        start = end + 2  # the blank line between sections
    return kept[-1][0]


def register(app: App, desk: Desk) -> None:
    @app.action(Action.ADD_SECTION)
    def add_section(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        view = body.get("view") or {}
        typed = [text for _, text in submitted_sections(view)]
        try:
            issue_id, correction_of = _metadata(view)
        except ForeignMetadata:
            log.warning("add_section on a view this bot did not open: ignored")
            return
        subject = field_value(view, Block.SUBJECT)
        redrawn = blocks.draft_modal(
            issue_id=issue_id,
            correction_of=correction_of,
            subject=subject,
            sections=typed,
            count=len(typed) + 1,
        )
        if not blocks.fits(redrawn):
            # Slack keeps what was typed into inputs whose block and action ids stay
            # the same ("Preserving input entry":
            # https://api.slack.com/reference/block-kit/views), so the same form
            # without the typed text as initial values says the same, and fits.
            redrawn = blocks.draft_modal(
                issue_id=issue_id,
                correction_of=correction_of,
                subject=subject,
                count=len(typed) + 1,
            )
        client.views_update(
            view_id=view.get("id"),
            hash=view.get("hash"),
            view=with_origin(redrawn, split_origin(view)[1]),
        )

    @app.view(Callback.DRAFT)
    def save_draft(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        user = body["user"]["id"]
        try:
            issue_id, correction_of = _metadata(view)
        except ForeignMetadata as foreign:
            ack(
                response_action="errors",
                errors={Block.SUBJECT: plain(t("draft.no_such_issue", issue=str(foreign)[:20]))},
            )
            return
        sections = submitted_sections(view)
        files = attached_files(view)
        if files and any(text.strip() for _, text in sections):
            ack(
                response_action="errors",
                errors={Block.BODY_FILE: plain(t("draft.file_and_sections"))},
            )
            return
        if not files and sum(len(text) for _, text in sections) <= QUICK_CHARS:
            problem = _save(desk, client, user, view, sections, files)
            if problem is None:
                ack()
            else:
                ack(response_action="errors", errors={problem[0]: plain(problem[1])})
            return
        # A file, or a long body: fetching and compiling may take longer than the 3 s
        # Slack waits for this answer. Answer at once with a "Saving…" view, then
        # show the outcome in the same modal.
        ack(response_action="update", view=blocks.saving_modal(issue_id))
        problem = _save(desk, client, user, view, sections, files)
        if problem is None:
            outcome = blocks.saved_modal(issue_id)
        else:
            notice = t("draft.problem_notice", problem=problem[1])
            outcome = blocks.draft_modal(
                issue_id=issue_id,
                correction_of=correction_of,
                subject=field_value(view, Block.SUBJECT),
                sections=[text for _, text in sections],
                notice=notice,
            )
            if not blocks.fits(outcome):  # too large to show the form again
                outcome = blocks.draft_note(issue_id, notice)
            outcome = with_origin(outcome, split_origin(view)[1])
        client.views_update(view_id=view["id"], view=outcome)


class ForeignMetadata(ValueError):
    """private_metadata this bot did not write (it writes an issue number, a
    correction's, or nothing)."""


def _metadata(view: dict[str, Any]) -> tuple[int | None, int | None]:
    """(the issue being edited, the issue being corrected) from private_metadata.
    Raises ForeignMetadata for anything else."""
    raw = split_origin(view)[0]
    number = raw.removeprefix(blocks.CORRECTION_PREFIX)
    if not raw:
        return None, None
    if not (number.isascii() and number.isdigit() and len(number) <= 12):
        raise ForeignMetadata(raw)
    if raw.startswith(blocks.CORRECTION_PREFIX):
        return None, int(number)
    return int(raw), None


def _save(
    desk: Desk,
    client: WebClient,
    user: str,
    view: dict[str, Any],
    sections: list[tuple[str, str]],
    files: list[dict[str, Any]],
) -> tuple[str, str] | None:
    """Save the submission; (block id, problem) when it cannot be saved."""
    subject = field_value(view, Block.SUBJECT)
    if files:
        try:
            text = read_attached(client, desk.settings.SLACK_API_URL, files[0])
        except FileProblem as problem:
            return Block.BODY_FILE, t(problem.key, **problem.params)
    else:
        text = join_sections(sections)
    if not text.strip():
        return Block.BODY, t("draft.body_empty")
    issue_id, correction_of = _metadata(view)
    try:
        if correction_of is not None:
            saved = issues.create(
                desk, actor=user, subject=subject, body=text, correction=correction_of
            )
        elif issue_id is not None:
            saved = issues.save_version(desk, issue_id, actor=user, subject=subject, body=text)
        else:
            saved = issues.create(desk, actor=user, subject=subject, body=text)
    except TemplateProblem as problem:
        block: str
        if problem.field == "subject":
            block = Block.SUBJECT
        elif files:
            block = Block.BODY_FILE
        else:
            block = _block_of_line(sections, problem.line)
        return block, blocks.template_problem_text(problem)
    except (Refusal, ValueError) as exc:
        message = refusal_text(exc) if isinstance(exc, Refusal) else t("generic.error", error="id")
        return Block.SUBJECT, message
    key = "draft.edit_voided" if saved.voided_request_ids else "draft.saved"
    text_out = t(
        key, issue=saved.issue_id, version=saved.version_number, hash12=saved.content_hash[:12]
    )
    tell_author(client, user, split_origin(view)[1], text_out)
    return None
