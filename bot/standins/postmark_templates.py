"""The Postmark stand-in's templates and bulk requests, and the Mustachio they speak.

Owns `render_mustachio()` (Postmark's template language, as its source shows),
`TemplateStore` (the server's templates: create, get, edit, delete, list, the
100-per-server limit) and `BulkJobs` (accepted `/email/bulk` requests and their
status). The HTTP routes that use them live in `postmark.py`.

Mustachio, from Postmark's documentation
(https://postmarkapp.com/support/article/1077-template-syntax) and its source
(https://github.com/ActiveCampaign/mustachio, `Mustachio/Tokenizer.cs` and
`Mustachio/Parser.cs`):

- a tag is `{{` + one or more characters that are not braces + `}}`, or the
  same with three braces (the tokenizer's regular expression
  `([{]{2}[^{}]+?[}]{2})|([{]{3}[^{}]+?[}]{3})`); anything else is content;
- `{{ name }}` prints a value HTML-encoded (`HttpUtility.HtmlEncode`: `& < > " '`
  and the characters U+00A0–U+00FF as `&#NNN;`) in the HtmlBody; Postmark does
  not escape in the Subject or the TextBody; `{{{ name }}}` and `{{& name }}` print it raw;
- `{{#name}}…{{/name}}` renders its inside when the value is "truthy" (scoped to
  it), `{{^name}}…{{/name}}` when it is not, `{{#each name}}…{{/each}}` once per
  element, `{{! … }}` is a comment; paths are dotted, `.` is the current scope,
  `../` reaches up; a missing value prints nothing;
- Postmark's own tags (`{{{ pm:unsubscribe }}}`) are kept in the output for the
  stand-in's sending code to replace, as Postmark replaces them after rendering.
"""

from __future__ import annotations

import itertools
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MAX_TEMPLATES = 100  # "A Server may have up to 100 Templates" (ErrorCode 1105)
TEMPLATE_NOT_FOUND = 1101
TEMPLATE_LIMIT = 1105
TEMPLATE_FIELD_MISSING = 1120
TEMPLATE_INVALID = 1122

_TAG = re.compile(r"([{]{2}[^{}]+?[}]{2})|([{]{3}[^{}]+?[}]{3})")
_PATH = re.compile(r"^(\.\./)*([\w]+(\.[\w]+)*|\.)$")
_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9._-]*$")


class MustachioError(ValueError):
    """The template does not parse (an unclosed or mismatched section, a bad path)."""


def html_encode(value: str) -> str:
    """.NET's `HttpUtility.HtmlEncode`, which Mustachio calls for `{{ }}`."""
    out = []
    for ch in value:
        code = ord(ch)
        if ch == "&":
            out.append("&amp;")
        elif ch == "<":
            out.append("&lt;")
        elif ch == ">":
            out.append("&gt;")
        elif ch == '"':
            out.append("&quot;")
        elif ch == "'":
            out.append("&#39;")
        elif 160 <= code <= 255:
            out.append(f"&#{code};")
        else:
            out.append(ch)
    return "".join(out)


@dataclass
class _Node:
    kind: str  # "text", "value", "raw", "section", "inverted", "each", "keep"
    value: str = ""
    children: list[_Node] = field(default_factory=list)


def _parse(template: str) -> list[_Node]:
    root: list[_Node] = []
    stack: list[tuple[str, list[_Node]]] = [("", root)]
    position = 0
    for match in _TAG.finditer(template):
        if match.start() > position:
            stack[-1][1].append(_Node("text", template[position : match.start()]))
        position = match.end()
        tag = match.group(0)
        inner = tag.strip("{}").strip()
        if tag.startswith("{{{") or tag.startswith("{{&"):
            name = inner.lstrip("&").strip()
            if name.startswith("pm:"):
                stack[-1][1].append(_Node("keep", tag))
                continue
            stack[-1][1].append(_Node("raw", _path(name)))
        elif inner.startswith("!"):
            continue
        elif inner.startswith("#each"):
            name = inner[len("#each") :]
            if not name.startswith(" ") or not name.strip():
                raise MustachioError("the 'each' block needs a path: {{#each <name>}}")
            node = _Node("each", _path(name.strip()))
            stack[-1][1].append(node)
            stack.append(("each", node.children))
        elif inner.startswith("/each"):
            if inner != "/each" or stack[-1][0] != "each":
                raise MustachioError("an 'each' block is closed that was not opened")
            stack.pop()
        elif inner.startswith("#") or inner.startswith("^"):
            name = _path(inner[1:].strip())
            node = _Node("section" if inner[0] == "#" else "inverted", name)
            stack[-1][1].append(node)
            stack.append((name, node.children))
        elif inner.startswith("/"):
            if stack[-1][0] != inner[1:].strip() or len(stack) == 1:
                raise MustachioError("open and closing elements are mismatched")
            stack.pop()
        elif inner.startswith("pm:"):
            stack[-1][1].append(_Node("keep", tag))
        else:
            stack[-1][1].append(_Node("value", _path(inner)))
    if position < len(template):
        stack[-1][1].append(_Node("text", template[position:]))
    if len(stack) > 1:
        raise MustachioError(f"a block was opened but not closed: {stack[-1][0]!r}")
    return root


def _path(name: str) -> str:
    if not _PATH.match(name):
        raise MustachioError(f"the path {name!r} is not valid")
    return name


def _lookup(scopes: list[Any], path: str) -> Any:
    depth = 0
    while path.startswith("../"):
        depth += 1
        path = path[3:]
    index = max(0, len(scopes) - 1 - depth)
    value = scopes[index]
    if path == ".":
        return value
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return None
    return value


def _truthy(value: Any) -> bool:
    return value not in (None, False, 0, "", [], {})


def _text(value: Any) -> str:
    if value is True:
        return "True"  # .NET's bool.ToString()
    if value is False:
        return "False"
    return str(value)


def _render(nodes: list[_Node], scopes: list[Any], html: bool, out: list[str]) -> None:
    for node in nodes:
        if node.kind == "text" or node.kind == "keep":
            out.append(node.value)
        elif node.kind in ("value", "raw"):
            value = _lookup(scopes, node.value)
            if value is not None:
                text = _text(value)
                out.append(html_encode(text) if node.kind == "value" and html else text)
        elif node.kind == "section":
            value = _lookup(scopes, node.value)
            if _truthy(value):
                _render(node.children, [*scopes, value], html, out)
        elif node.kind == "inverted":
            if not _truthy(_lookup(scopes, node.value)):
                _render(node.children, scopes, html, out)
        elif node.kind == "each":
            value = _lookup(scopes, node.value)
            if isinstance(value, list):
                for item in value:
                    _render(node.children, [*scopes, item], html, out)


def check_mustachio(template: str) -> None:
    """Raise MustachioError when Postmark would refuse the template."""
    _parse(template)


def render_mustachio(template: str, model: dict[str, Any], *, html: bool) -> str:
    """`template` with `model`: values HTML-encoded when `html` (the HtmlBody)."""
    out: list[str] = []
    _render(_parse(template), [model], html, out)
    return "".join(out)


# --- the server's templates ------------------------------------------------------------


class TemplateError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class StoredTemplate:
    TemplateId: int
    Name: str
    Alias: str | None
    Subject: str
    HtmlBody: str | None
    TextBody: str | None
    TemplateType: str = "Standard"
    LayoutTemplate: str | None = None
    Active: bool = True

    def as_json(self, server_id: int) -> dict[str, Any]:
        """`GET /templates/{id}` (the SDK's `Template`)."""
        return {
            "TemplateId": self.TemplateId,
            "Name": self.Name,
            "Subject": self.Subject,
            "HtmlBody": self.HtmlBody,
            "TextBody": self.TextBody,
            "AssociatedServerId": server_id,
            "Active": self.Active,
            "Alias": self.Alias,
            "TemplateType": self.TemplateType,
            "LayoutTemplate": self.LayoutTemplate,
        }

    def summary(self) -> dict[str, Any]:
        """An entry of `GET /templates` (`TemplateSummary`), also the upsert reply."""
        return {
            "Active": self.Active,
            "TemplateId": self.TemplateId,
            "Name": self.Name,
            "Alias": self.Alias,
            "TemplateType": self.TemplateType,
            "LayoutTemplate": self.LayoutTemplate,
        }


_FIELDS = ("Name", "Alias", "Subject", "HtmlBody", "TextBody", "LayoutTemplate")


class TemplateStore:
    """A server's templates, by id and by alias (aliases are unique per server)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[int, StoredTemplate] = {}
        self._ids = itertools.count(1_000_001)

    def reset(self) -> None:
        with self._lock:
            self._by_id = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def all(self) -> list[StoredTemplate]:
        with self._lock:
            return list(self._by_id.values())

    def find(self, id_or_alias: Any) -> StoredTemplate | None:
        with self._lock:
            return self._find(id_or_alias)

    def _find(self, id_or_alias: Any) -> StoredTemplate | None:
        text = str(id_or_alias)
        if text.isdigit():
            return self._by_id.get(int(text))
        return next((t for t in self._by_id.values() if t.Alias == text), None)

    def get(self, id_or_alias: Any) -> StoredTemplate:
        found = self.find(id_or_alias)
        if found is None:
            raise TemplateError(TEMPLATE_NOT_FOUND, f"The template '{id_or_alias}' was not found.")
        return found

    def create(self, data: Any) -> StoredTemplate:
        if not isinstance(data, dict) or not data:
            raise TemplateError(1109, "No template data received.")
        kind = data.get("TemplateType") or "Standard"
        if kind != "Standard":
            raise TemplateError(TEMPLATE_INVALID, "The stand-in keeps Standard templates only.")
        self._validate(data, creating=True)
        with self._lock:
            if len(self._by_id) >= MAX_TEMPLATES:
                raise TemplateError(
                    TEMPLATE_LIMIT,
                    f"A server may have up to {MAX_TEMPLATES} templates; "
                    "this request would exceed that limit.",
                )
            alias = data.get("Alias") or None
            if alias is not None and self._find(alias) is not None:
                raise TemplateError(TEMPLATE_INVALID, f"The alias '{alias}' is already in use.")
            template = StoredTemplate(
                TemplateId=next(self._ids),
                Name=str(data["Name"]),
                Alias=alias,
                Subject=str(data.get("Subject") or ""),
                HtmlBody=data.get("HtmlBody"),
                TextBody=data.get("TextBody"),
                LayoutTemplate=data.get("LayoutTemplate"),
            )
            self._by_id[template.TemplateId] = template
            return template

    def edit(self, id_or_alias: Any, data: Any) -> StoredTemplate:
        """`PUT /templates/{id}` — also what a change in Postmark's web editor does."""
        if not isinstance(data, dict) or not data:
            raise TemplateError(1109, "No template data received.")
        self._validate(data, creating=False)
        with self._lock:
            template = self._find(id_or_alias)
            if template is None:
                raise TemplateError(
                    TEMPLATE_NOT_FOUND, f"The template '{id_or_alias}' was not found."
                )
            alias = data.get("Alias")
            if alias and alias != template.Alias and self._find(alias) is not None:
                raise TemplateError(TEMPLATE_INVALID, f"The alias '{alias}' is already in use.")
            for name in _FIELDS:
                if name in data and data[name] is not None:
                    setattr(template, name, data[name])
            return template

    def delete(self, id_or_alias: Any) -> StoredTemplate:
        with self._lock:
            template = self._find(id_or_alias)
            if template is None:
                raise TemplateError(
                    TEMPLATE_NOT_FOUND, f"The template '{id_or_alias}' was not found."
                )
            del self._by_id[template.TemplateId]
            return template

    @staticmethod
    def _validate(data: dict[str, Any], *, creating: bool) -> None:
        if creating and not data.get("Name"):
            raise TemplateError(TEMPLATE_FIELD_MISSING, "The template needs a Name.")
        if creating and not data.get("HtmlBody") and not data.get("TextBody"):
            raise TemplateError(TEMPLATE_FIELD_MISSING, "Provide an HtmlBody or a TextBody.")
        if creating and not data.get("Subject"):
            raise TemplateError(TEMPLATE_FIELD_MISSING, "A Standard template needs a Subject.")
        alias = data.get("Alias")
        if alias is not None and (not isinstance(alias, str) or not _ALIAS.match(alias)):
            raise TemplateError(
                TEMPLATE_INVALID,
                "An alias starts with a letter and holds letters, digits, '.', '-' and '_'.",
            )
        for name in ("Subject", "HtmlBody", "TextBody"):
            value = data.get(name)
            if value is None:
                continue
            if not isinstance(value, str):
                raise TemplateError(TEMPLATE_INVALID, f"'{name}' must be a string.")
            try:
                check_mustachio(value)
            except MustachioError as exc:
                raise TemplateError(TEMPLATE_INVALID, f"'{name}' is not valid: {exc}.") from None


# --- bulk requests -----------------------------------------------------------------------


@dataclass
class BulkJob:
    """One accepted `POST /email/bulk` (the SDK's `BulkSendResponse` / `BulkSendStatus`)."""

    id: str
    submitted_at: datetime
    total: int
    subject: str
    done: int = 0
    status: str = "Accepted"  # Accepted, Processing, Completed, Failed

    def status_json(self) -> dict[str, Any]:
        return {
            "Id": self.id,  # Postmark spells it "Id" here, "ID" in the send reply
            "SubmittedAt": self.submitted_at.isoformat(),
            "TotalMessages": self.total,
            "PercentageCompleted": round(100.0 * self.done / self.total, 1) if self.total else 100,
            "Status": self.status,
            "Subject": self.subject,
        }


class BulkJobs:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, BulkJob] = {}

    def reset(self) -> None:
        with self._lock:
            self._jobs = {}

    def add(self, total: int, subject: str) -> BulkJob:
        job = BulkJob(str(uuid.uuid4()), datetime.now(UTC), total, subject)
        with self._lock:
            self._jobs[job.id] = job
        return job

    def get(self, job_id: str) -> BulkJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def all(self) -> list[BulkJob]:
        with self._lock:
            return list(self._jobs.values())
