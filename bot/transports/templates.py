"""The `templates` transport: the approved content once, as a Postmark template.

When a send starts (in each process, and again after each resume) `prepare()`
makes sure Postmark holds a template with exactly the send's approved content
— created if it is not there, then **read back and hashed** — and refuses the
send (`TransportRefused("postmark_template_changed")`, invariant 3) when what
Postmark holds differs from what Countersign derives from the approved,
hash-checked version (someone edited it in Postmark's web editor, a layout
was attached). Batches then go through `/email/batchWithTemplates`
(https://postmarkapp.com/developer/api/templates-api#send-batch-with-templates)
whose `TemplateModel` holds only that recipient's own fields (invariant 4).

The template is derived from the send's `SendRenderer`: the issue's templates
run once (sandbox, preflight and content hash stay on Countersign's side),
the recipient's fields become Mustachio variables. Everything else is text:
Mustachio sees a tag in `{{…}}` / `{{{…}}}` (ActiveCampaign/mustachio,
`Tokenizer.cs`), so every `{` of the author's text becomes `{{{b}}}` with
`"b": "{"` in the model — no brace of the issue is left for Mustachio to read,
and `{{ subscriber.name }}` typed as text can never become a tag. The fields
are printed raw (`{{{n}}}`), the HTML's already HTML-escaped exactly as Jinja's
autoescape does (`{{{nh}}}`), so each reader's message is byte for byte what
`render_message` gives — not Mustachio's own escaping, which differs
(`HttpUtility.HtmlEncode`). The unsubscribe link stays Postmark's
`{{{ pm:unsubscribe }}}`. A template that reads the recipient other than by
printing a field (a filter, a condition) is rendered per recipient and goes
in the model whole, split around the unsubscribe link: correct, not smaller.

Postmark allows 100 templates per server: a send's template is deleted when
the send is finished or cancelled (`remove_send_templates`), templates of
sends that are over are deleted before a new one is created (`tidy`), and the
limit reached is `TransportRefused("postmark_template_limit")` — never a
silent fallback to another transport. Aliases are
`countersign-send-<send id>-<first 12 hex of the template's hash>`; one
Postmark server serves one Countersign database.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from markupsafe import escape
from sqlalchemy import select

from bot import delivery_ledger as ledger
from bot.delivery_ledger import Recipient
from bot.postmark import (
    FateUnknown,
    MessageResult,
    PostmarkGateway,
    Refused,
    batch_count,
    json_string,
)
from bot.rendering import RecipientContext, SendRenderer, TemplateProblem, render_message
from bot.transports import SendContent, TransportRefused, largest_message
from storage.models import Issue, IssueState, Send, SendState

if TYPE_CHECKING:
    from bot.desk import Desk

log = logging.getLogger(__name__)

ALIAS_PREFIX = "countersign-send-"
_ALIAS = re.compile(r"^countersign-send-(\d+)-[0-9a-f]{12}$")
TEMPLATE_NOT_FOUND = 1101  # Postmark's ErrorCode for an unknown template
TEMPLATE_LIMIT = 1105  # "Template limit would be exceeded" (100 per server)
PM_UNSUBSCRIBE = "{{{ pm:unsubscribe }}}"
# Stands for the unsubscribe link while the send's templates run once (NUL never
# survives into a compiled version, as SendRenderer's own marks).
_UNSUBSCRIBE = "\x00countersign:unsubscribe\x00"
_BRACE = "{{{b}}}"
_FIELD_KEYS = {("name", False): "n", ("company", False): "c", ("name", True): "nh"}
_FIELD_KEYS[("company", True)] = "ch"
_PIECES = (("subject", False, "s"), ("html", True, "h"), ("text", False, "t"))


def template_digest(subject: str | None, html: str | None, text: str | None, layout: Any) -> str:
    canonical = json.dumps(
        {"Subject": subject, "HtmlBody": html, "TextBody": text, "LayoutTemplate": layout},
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _escaped(part: str) -> str:
    return part.replace("{", _BRACE).replace(_UNSUBSCRIBE, PM_UNSUBSCRIBE)


@dataclass(frozen=True)
class Design:
    """A send's Postmark template and how each recipient's model is made."""

    subject: str
    html: str
    text: str
    model: Callable[[str, str], str]  # (name, company) -> the TemplateModel's JSON

    @property
    def digest(self) -> str:
        return template_digest(self.subject, self.html, self.text, None)


def design(content: SendContent) -> Design:
    renderer = SendRenderer(
        content.compiled, content.list_name, content.issue_date, unsubscribe_url=_UNSUBSCRIBE
    )
    sample = render_message(
        content.compiled,
        RecipientContext("", "", content.list_name, content.issue_date, _UNSUBSCRIBE),
    )
    sources: dict[str, str] = {}
    fields: set[tuple[str, bool]] = set()
    whole: list[tuple[str, str, int]] = []  # (piece, key prefix, segments)
    braces = False
    for (piece, html, prefix), segments in zip(_PIECES, renderer.segments(), strict=True):
        if segments is None:
            count = getattr(sample, piece).count(_UNSUBSCRIBE) + 1
            whole.append((piece, prefix, count))
            sources[piece] = PM_UNSUBSCRIBE.join(
                "{{{" + f"{prefix}{i}" + "}}}" for i in range(count)
            )
            continue
        parts, names = segments
        braces = braces or any("{" in part for part in parts)
        out = [_escaped(parts[0])]
        for name, part in zip(names, parts[1:], strict=True):
            fields.add((name, html))
            out.append("{{{" + _FIELD_KEYS[(name, html)] + "}}}")
            out.append(_escaped(part))
        sources[piece] = "".join(out)
    return Design(
        subject=sources["subject"],
        html=sources["html"],
        text=sources["text"],
        model=_model_builder(renderer, fields, whole, braces),
    )


def _model_builder(
    renderer: SendRenderer,
    fields: set[tuple[str, bool]],
    whole: list[tuple[str, str, int]],
    braces: bool,
) -> Callable[[str, str], str]:
    wanted = [
        (key, name, html) for (name, html), key in _FIELD_KEYS.items() if (name, html) in fields
    ]
    tail = ',"b":"{"}' if braces else "}"

    def model(name: str, company: str) -> str:
        values = {"name": name, "company": company}
        items = [
            f'"{key}":' + json_string(str(escape(values[field])) if html else values[field])
            for key, field, html in wanted
        ]
        if whole:
            rendered = renderer.render(name, company)
            for piece, prefix, count in whole:
                segments = getattr(rendered, piece).split(_UNSUBSCRIBE)
                if len(segments) != count:
                    raise TemplateProblem("body", "unsubscribe_conditional")
                items.extend(f'"{prefix}{i}":' + json_string(s) for i, s in enumerate(segments))
        return "{" + ",".join(items) + tail

    return model


@dataclass(frozen=True)
class Template:
    """The verified template of a send at Postmark."""

    template_id: int
    alias: str
    design: Design


def _find(gateway: PostmarkGateway, alias: str) -> dict[str, Any] | None:
    try:
        return gateway.get_template(alias)
    except Refused as exc:
        if exc.code == TEMPLATE_NOT_FOUND or exc.status == 404:
            return None
        raise


def prepare(desk: Desk, content: SendContent) -> Template:
    """The send's template at Postmark, created if needed, read back and checked."""
    wanted = design(content)
    alias = f"{ALIAS_PREFIX}{content.send_id}-{wanted.digest[:12]}"
    gateway = desk.postmark
    found = _find(gateway, alias)
    if found is None:
        tidy(desk)
        try:
            gateway.create_template(
                name=f"Countersign issue {content.issue_id}, send {content.send_id}",
                alias=alias,
                subject=wanted.subject,
                html=wanted.html,
                text=wanted.text,
            )
        except Refused as exc:
            if exc.code == TEMPLATE_LIMIT:
                raise TransportRefused(
                    "postmark_template_limit",
                    "the Postmark server already has its 100 templates; delete some in "
                    "Postmark, or set POSTMARK_TRANSPORT=batch, then resume",
                ) from None
            if _find(gateway, alias) is None:  # not a second process creating it first
                raise TransportRefused(
                    "postmark_template_refused", f"[{exc.code}] {exc.message}"
                ) from None
        found = _find(gateway, alias)  # read back what Postmark holds
        if found is None:
            raise FateUnknown("the template just created cannot be read back")
    held = template_digest(
        found.get("Subject"),
        found.get("HtmlBody"),
        found.get("TextBody"),
        found.get("LayoutTemplate"),
    )
    if held != wanted.digest or found.get("TemplateType", "Standard") != "Standard":
        raise TransportRefused(
            "postmark_template_changed",
            f"template {alias} at Postmark is not the approved content (hash {held[:12]})",
        )
    return Template(int(found["TemplateId"]), alias, wanted)


def _live(desk: Desk, send_ids: set[int]) -> set[int]:
    """Of these sends, those whose template may still be needed."""
    if not send_ids:
        return set()
    with ledger.reading(desk.db) as session:
        rows = session.execute(
            select(Send.id, Send.state, Issue.state)
            .join(Issue, Issue.id == Send.issue_id)
            .where(Send.id.in_(send_ids))
        ).all()
    return {
        send_id
        for send_id, state, issue_state in rows
        if state == SendState.SENDING
        or (state == SendState.HALTED and issue_state != IssueState.CANCELLED)
    }


def tidy(desk: Desk) -> int:
    """Delete the templates of sends that are over; how many were deleted."""
    ours: dict[int, list[str]] = {}
    for summary in desk.postmark.list_templates():
        match = _ALIAS.match(str(summary.get("Alias") or ""))
        if match:
            ours.setdefault(int(match.group(1)), []).append(str(summary["Alias"]))
    live = _live(desk, set(ours))
    removed = 0
    for send_id, aliases in ours.items():
        if send_id in live:
            continue
        for alias in aliases:
            desk.postmark.delete_template(alias)
            removed += 1
    return removed


def remove_send_templates(desk: Desk, send_id: int) -> None:
    prefix = f"{ALIAS_PREFIX}{send_id}-"
    for summary in desk.postmark.list_templates():
        alias = str(summary.get("Alias") or "")
        if alias.startswith(prefix) and _ALIAS.match(alias):
            desk.postmark.delete_template(alias)


class TemplatesChannel:
    def __init__(self, gateway: PostmarkGateway, content: SendContent, template: Template) -> None:
        self._gateway = gateway
        self._model = template.design.model
        self._encode = gateway.templated_encoder(
            sender=content.compiled.sender, tag=content.tag, template_id=template.template_id
        ).encode

    def batch_size(self, limit: int) -> int:
        return batch_count(largest_message(self.encode), count=limit)

    def encode(self, recipient: Recipient, metadata_json: str) -> bytes:
        # Only this recipient's own row (invariant 4).
        return self._encode(
            recipient.email, self._model(recipient.name, recipient.company), metadata_json
        )

    def post(
        self, batch_id: int, bodies: Sequence[bytes], recipients: Sequence[Recipient]
    ) -> list[MessageResult]:
        return self._gateway.send_templated_encoded(bodies, [r.email for r in recipients])
