"""Turning an author's Markdown into the templates of an issue version, and
those templates into one recipient's message.

Two stages, so that the expensive work happens once per version:

1. `compile_issue()` (at save time): the Markdown body becomes an HTML
   template (markdown-it-py, CommonMark plus tables, wrapped in the layout,
   CSS inlined by css-inline) and a plain-text template. Jinja expressions are
   set aside before Markdown sees them and put back afterwards, so Markdown
   never rewrites them. The templates are checked here: only the documented
   variables, no syntax errors, a bounded size. Problems are `TemplateProblem`s
   naming the variable or line, shown in the draft modal.
2. `render_message()` (per recipient): the templates run in Jinja2's
   `ImmutableSandboxedEnvironment` with autoescape (HTML) and `StrictUndefined`.
   The context holds that recipient's own row and the frozen version's facts,
   nothing else (invariant 4): see `RecipientContext`.
"""

from __future__ import annotations

import ctypes
import dataclasses
import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from json.encoder import encode_basestring
from typing import ClassVar

import css_inline
from jinja2 import StrictUndefined, Template, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markdown_it import MarkdownIt
from markupsafe import Markup, escape

# What an author may print, and nothing else (see `_check_template`).
PRINTABLE = ("subscriber.name", "subscriber.company", "list_name", "issue_date", "unsubscribe_url")
VARIABLES = ("subscriber", "list_name", "issue_date", "unsubscribe_url")
SUBSCRIBER_FIELDS = ("name", "company")
# Filters the renderer still knows, for versions stored before the language was
# narrowed to printing (an author can no longer write them: `_check_template`).
FILTERS = frozenset(
    {"default", "d", "upper", "lower", "title", "capitalize", "trim", "e", "escape"}
)
UNSUBSCRIBE_PLACEHOLDER = "{{{ pm:unsubscribe }}}"
# A test copy's unsubscribe link goes nowhere: .invalid never resolves (RFC 2606).
TEST_COPY_UNSUBSCRIBE = "https://unsubscribe.invalid/this-is-a-test-copy"
MAX_BODY_CHARS = 100_000
MAX_SUBJECT_CHARS = 250
MAX_HTML_BYTES = 400_000
# The widest a subscriber's name or company can be (the columns' width): a version's
# size is measured with fields this wide, so no recipient's message is larger.
MAX_FIELD_CHARS = 200
# No rendered part may exceed this, whatever the template (a backstop: a version
# that passed `compile_issue` stays far below it).
MAX_RENDERED_CHARS = 2_000_000
# Jinja's compile time grows with the number of tags (and Python's compiler holds the
# interpreter lock while it works): a bound on them bounds every save.
MAX_TAGS = 100
_FINISHED_TAGS = MAX_TAGS + 10  # the layout and footer add a few of their own
# Markdown's cost is not linear in every input (100,000 "[" take markdown-it-py
# seconds; 5,000 take 0.1 s): a body holds a bounded number of the marks that
# cost it most, and building a version has a hard budget of the saving thread's
# processor time besides (a busy machine makes it slower, never refused), with a
# backstop in wall-clock time.
MAX_MARKS = 5_000
_MARKS_COSTLY = "[*_`<~"
COMPILE_CPU_SECONDS = 1.0
COMPILE_WALL_SECONDS = 10.0

_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
_inliner = css_inline.CSSInliner(keep_style_tags=False, load_remote_stylesheets=False)


@dataclass
class TemplateProblem(Exception):
    """Why a draft cannot be saved (or a version rendered). `field` is "subject" or
    "body"; `code` names the sentence the front end shows (its catalogue's
    `template.<code>`, one of `CODES`), filled with `line` (where the template
    language's rules are broken) and `params` (what was found, what is allowed, a
    limit). No sentence here: the reader's language is the front end's."""

    field: str
    code: str
    line: int | None = None
    params: dict[str, str | int] = dataclasses.field(default_factory=dict)

    CODES: ClassVar[frozenset[str]] = frozenset(
        {
            "too_many_tags",
            "comment_unclosed",
            "control_structure",
            "not_printable",
            "subject_empty",
            "subject_too_long",
            "body_too_long",
            "too_many_marks",
            "too_large",
            "tag_unclosed",
            "render_failed",
            "rendered_too_long",
            "too_slow",
            "unsubscribe_conditional",
        }
    )

    def __post_init__(self) -> None:
        if self.code not in self.CODES:
            raise ValueError(f"unknown template problem {self.code!r}")

    def __str__(self) -> str:  # for logs; people read the catalogue's sentence
        where = f" at line {self.line}" if self.line else ""
        return f"template problem {self.code} in the {self.field}{where} {self.params}"


@dataclass(frozen=True)
class CompiledIssue:
    subject: str
    html: str
    text: str
    sender: str
    stream: str

    @property
    def content_hash(self) -> str:
        return content_hash(self.subject, self.html, self.text, self.sender, self.stream)


@dataclass(frozen=True)
class RecipientContext:
    """Everything a recipient's message may be built from (invariant 4)."""

    name: str
    company: str
    list_name: str
    issue_date: str
    unsubscribe_url: str = UNSUBSCRIBE_PLACEHOLDER


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    html: str
    text: str


def content_hash(subject: str, html: str, text: str, sender: str, stream: str) -> str:
    """SHA-256 over the exact content an approval is bound to."""
    canonical = json.dumps(
        {"subject": subject, "html": html, "text": text, "sender": sender, "stream": stream},
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _environment(autoescape: bool) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        autoescape=autoescape, undefined=StrictUndefined, keep_trailing_newline=True
    )
    env.filters = {name: f for name, f in env.filters.items() if name in FILTERS}
    env.tests = {}
    env.globals = {}
    return env


_HTML_ENV = _environment(autoescape=True)
_TEXT_ENV = _environment(autoescape=False)


_TAG = re.compile(r"\{[{%#]")
_PRINT = re.compile(r"\{\{[ \t]*([a-z_]+(?:\.[a-z_]+)?)[ \t]*\}\}")
_ALLOWED = ", ".join(f"{{{{ {name} }}}}" for name in PRINTABLE)


def _check_template(source: str, field: str, max_tags: int = MAX_TAGS) -> None:
    """Refuse anything but text, comments and printing one of `PRINTABLE`.

    The scan is a single linear pass that runs before Jinja sees the source, so
    no literal, operator, filter, call, test or control structure ever reaches
    Jinja's parser or its constant folding (which would compute `9 ** 99999999`
    while holding the interpreter lock). What is left renders in time linear in
    its length, and a reader can only ever be shown the author's own text and
    their own row.
    """
    pos = tags = 0
    while (found := _TAG.search(source, pos)) is not None:
        start = found.start()
        line = source.count("\n", 0, start) + 1
        opener = found.group(0)
        tags += 1
        if tags > max_tags:
            raise TemplateProblem(
                field, "too_many_tags", line, {"limit": max_tags, "tags": "{{ … }}, {# … #}"}
            )
        if opener == "{#":
            end = source.find("#}", start + 2)
            if end < 0:
                raise TemplateProblem(field, "comment_unclosed", line, {"opener": "{#"})
            pos = end + 2
            continue
        printed = _PRINT.match(source, start) if opener == "{{" else None
        if printed is None or printed.group(1) not in PRINTABLE:
            shown = source[start : start + 40].split("\n", 1)[0]
            code = "control_structure" if opener == "{%" else "not_printable"
            raise TemplateProblem(field, code, line, {"found": shown, "allowed": _ALLOWED})
        pos = printed.end()


def check_stored(compiled: CompiledIssue) -> None:
    """Raise TemplateProblem if a stored version holds more than the template
    language allows today (a version saved before it was narrowed)."""
    _check_template(compiled.subject, "subject")
    _check_template(compiled.html, "body", _FINISHED_TAGS)
    _check_template(compiled.text, "body", _FINISHED_TAGS)


@dataclass(frozen=True)
class Footer:
    """What the law requires in every broadcast besides the opt-out (Japan's Act on
    Regulation of Transmission of Specified Electronic Mail, art. 4; the US CAN-SPAM
    Act, 15 U.S.C. 7704(a)(5)): the sender's name, postal address and a contact.
    Configuration, never typed text; baked into the version, so its hash covers it."""

    sender_name: str = ""
    postal_address: str = ""
    contact: str = ""

    def html(self) -> str:
        lines = ['{{ list_name }} · <a href="{{ unsubscribe_url }}">配信停止 / Unsubscribe</a>']
        sender = " · ".join(_literal(p) for p in (self.sender_name, self.postal_address) if p)
        if sender:
            lines.append(f"発行 / Sender: {sender}")
        if self.contact:
            lines.append(f"お問い合わせ / Contact: {_literal(self.contact)}")
        return "<br>\n".join(lines)

    def text(self) -> str:
        lines = ["", "", "-- ", "{{ list_name }}"]
        sender = " · ".join(p for p in (self.sender_name, self.postal_address) if p)
        if sender:
            lines.append(f"発行 / Sender: {sender}")
        if self.contact:
            lines.append(f"お問い合わせ / Contact: {self.contact}")
        lines.append("配信停止 / Unsubscribe: {{ unsubscribe_url }}")
        return "\n".join(lines) + "\n"


def _literal(text: str) -> str:
    return str(Markup.escape(text))


class _OutOfTime(Exception):
    """Raised inside a thread whose time bound ran out (see `_time_bound`)."""


@contextmanager
def _time_bound(cpu_seconds: float, wall_seconds: float) -> Iterator[None]:
    """Interrupt the pure-Python work inside the block once this thread has used
    `cpu_seconds` of processor time, or `wall_seconds` have passed.

    A watchdog raises `_OutOfTime` in this thread at its next bytecode
    (CPython's PyThreadState_SetAsyncExc, the mechanism behind KeyboardInterrupt
    in threads). Use it only around work that holds no shared state.
    """
    target = threading.get_ident()
    clock = time.pthread_getcpuclockid(target)
    cpu_limit = time.clock_gettime(clock) + cpu_seconds
    wall_limit = time.monotonic() + wall_seconds
    lock = threading.Lock()
    state = {"active": True, "fired": False}
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.02):
            if time.clock_gettime(clock) < cpu_limit and time.monotonic() < wall_limit:
                continue
            with lock:
                if state["active"]:
                    state["fired"] = True
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(
                        ctypes.c_ulong(target), ctypes.py_object(_OutOfTime)
                    )
            return

    watchdog = threading.Thread(target=watch, name="render-time-bound", daemon=True)
    watchdog.start()
    try:
        yield
    finally:
        with lock:
            state["active"] = False
            if state["fired"]:  # not raised yet? then never: clear what is pending
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(target), None)
        done.set()


@lru_cache(maxsize=1)
def _layout() -> str:
    return resources.files("bot").joinpath("templates/layout.html").read_text(encoding="utf-8")


def _protect(source: str, kept: list[str]) -> str:
    """Swap Jinja constructs for inert tokens (kept in order in `kept`)."""

    def keep(match: re.Match[str]) -> str:
        kept.append(match.group(0))
        return f"CSJINJA{len(kept) - 1:05d}X"

    return _JINJA.sub(keep, source)


def _restore(text: str, kept: list[str]) -> str:
    return re.sub(r"CSJINJA(\d{5})X", lambda m: kept[int(m.group(1))], text)


def compile_issue(
    subject: str,
    body: str,
    *,
    sender: str,
    stream: str,
    list_name: str,
    lang: str = "ja",
    footer: Footer | None = None,
) -> CompiledIssue:
    """Build and check the templates of a version, within `COMPILE_CPU_SECONDS`.
    Raises TemplateProblem."""
    try:
        with _time_bound(COMPILE_CPU_SECONDS, COMPILE_WALL_SECONDS):
            return _compile_issue(subject, body, sender, stream, list_name, lang, footer)
    except _OutOfTime:
        raise TemplateProblem("body", "too_slow") from None


def _compile_issue(
    subject: str,
    body: str,
    sender: str,
    stream: str,
    list_name: str,
    lang: str,
    footer: Footer | None,
) -> CompiledIssue:
    footer = footer or Footer()
    subject = subject.strip()
    if not subject:
        raise TemplateProblem("subject", "subject_empty")
    if len(subject) > MAX_SUBJECT_CHARS:
        raise TemplateProblem("subject", "subject_too_long", params={"limit": MAX_SUBJECT_CHARS})
    if len(body) > MAX_BODY_CHARS:
        raise TemplateProblem("body", "body_too_long", params={"limit": MAX_BODY_CHARS})
    _check_template(subject, "subject")
    _check_template(body, "body")
    if sum(body.count(mark) for mark in _MARKS_COSTLY) > MAX_MARKS:
        raise TemplateProblem(
            "body", "too_many_marks", params={"limit": MAX_MARKS, "marks": " ".join(_MARKS_COSTLY)}
        )
    kept: list[str] = []
    html_body = _markdown.render(_protect(body, kept))
    if len(html_body) > MAX_HTML_BYTES:  # before the layout and CSS inlining, which cost more
        raise TemplateProblem("body", "too_large", params={"limit": MAX_HTML_BYTES // 1000})
    page = (
        _layout()
        .replace("{{ lang }}", lang)
        .replace("{{ title }}", str(Markup.escape(list_name)))
        .replace("{{ body }}", html_body)
        .replace("{{ footer }}", _protect(footer.html(), kept))
    )
    html = _restore(_inliner.inline(page), kept)
    text = body.rstrip() + footer.text()
    # What is valid alone may not be once wrapped: an unterminated `{#` at the end
    # of a body swallows the footer. Check the finished templates as well.
    for finished in (html, text):
        try:
            _check_template(finished, "body", _FINISHED_TAGS)
        except TemplateProblem:  # its line is the layout's, not the author's
            raise TemplateProblem("body", "tag_unclosed", params={"openers": "{{, {#"}) from None
    compiled = CompiledIssue(subject=subject, html=html, text=text, sender=sender, stream=stream)
    # Measured with the widest fields a row can hold, each character one that
    # HTML escaping lengthens most: no recipient's message can be larger.
    widest = "&" * MAX_FIELD_CHARS
    sample = RecipientContext(
        name=widest, company=widest, list_name=list_name, issue_date="2026-01-01"
    )
    rendered = render_message(compiled, sample)
    if len(rendered.html.encode("utf-8")) > MAX_HTML_BYTES:
        raise TemplateProblem("body", "too_large", params={"limit": MAX_HTML_BYTES // 1000})
    return compiled


@lru_cache(maxsize=64)
def _compiled(source: str, html: bool) -> Template:
    return (_HTML_ENV if html else _TEXT_ENV).from_string(source)


@lru_cache(maxsize=64)
def _reads_subscriber(source: str) -> bool:
    """Whether a template's output can depend on the recipient's own row."""
    return "subscriber" in meta.find_undeclared_variables(_TEXT_ENV.parse(source))


def _run(source: str, html: bool, context: dict[str, object]) -> str:
    # Template.render() minus its per-call dict copy; errors propagate unchanged.
    template = _compiled(source, html)
    return "".join(template.root_render_func(template.new_context(context, shared=True)))


@lru_cache(maxsize=256)
def _run_shared(source: str, html: bool, list_name: str, issue_date: str, url: str) -> str:
    """A template that reads nothing of the recipient renders alike for all of a
    send's recipients (a subject, usually): render it once."""
    context: dict[str, object] = {
        "subscriber": {"name": "", "company": ""},
        "list_name": list_name,
        "issue_date": issue_date,
        "unsubscribe_url": Markup(url),  # noqa: S704 - one of two fixed strings of ours
    }
    return _run(source, html, context)


def render_message(compiled: CompiledIssue, recipient: RecipientContext) -> RenderedMessage:
    """One recipient's message. Raises TemplateProblem if the templates fail."""
    context: dict[str, object] = {
        "subscriber": {"name": recipient.name, "company": recipient.company},
        "list_name": recipient.list_name,
        "issue_date": recipient.issue_date,
        # One of two fixed strings of ours, never input: safe to mark as markup.
        "unsubscribe_url": Markup(recipient.unsubscribe_url),  # noqa: S704
    }
    out: dict[str, str] = {}
    for field, source, html in (
        ("subject", compiled.subject, False),
        ("body", compiled.html, True),
        ("text", compiled.text, False),
    ):
        try:
            if _reads_subscriber(source):
                out[field] = _run(source, html, context)
            else:
                out[field] = _run_shared(
                    source,
                    html,
                    recipient.list_name,
                    recipient.issue_date,
                    recipient.unsubscribe_url,
                )
        except (UndefinedError, SecurityError, TypeError, TemplateSyntaxError) as exc:
            raise TemplateProblem(
                "subject" if field == "subject" else "body",
                "render_failed",
                params={"error": str(exc)},
            ) from None
        if len(out[field]) > MAX_RENDERED_CHARS:
            raise TemplateProblem(
                "subject" if field == "subject" else "body",
                "rendered_too_long",
                params={"limit": MAX_RENDERED_CHARS},
            )
    return RenderedMessage(subject=out["subject"], html=out["body"], text=out["text"])


# --- a send's renderer: the same output as render_message, most of it computed once -------

# Stand-ins for a recipient's name and company while a send's templates are rendered
# once: NUL never survives into a compiled version (Jinja and Markdown keep it, but no
# author types it), and a template containing the marker simply takes the slow path.
_MARK = "\x00countersign:{}\x00"
_MARKS = {"name": _MARK.format("name"), "company": _MARK.format("company")}
_SPLIT = re.compile("(" + "|".join(re.escape(m) for m in _MARKS.values()) + ")")


def _plain_uses(source: str) -> int | None:
    """How many times the template prints `subscriber.name`/`.company` bare, when
    that is the only way it reads the recipient; None for anything else (a filter,
    a condition, a loop, …), which must go through Jinja for each recipient."""
    tree = _TEXT_ENV.parse(source)
    plain: set[int] = set()
    for output in tree.body:
        if isinstance(output, nodes.Output):
            for node in output.nodes:
                if (
                    isinstance(node, nodes.Getattr)
                    and isinstance(node.node, nodes.Name)
                    and node.node.name == "subscriber"
                    and node.attr in SUBSCRIBER_FIELDS
                ):
                    plain.add(id(node.node))
    reads = [n for n in tree.find_all(nodes.Name) if n.name == "subscriber"]
    if any(id(n) not in plain for n in reads):
        return None
    return len(reads)


def _json(value: str) -> str:
    """`json.dumps(value, ensure_ascii=False)`: a JSON string literal, quotes
    included, non-ASCII characters kept (the request is UTF-8)."""
    return str(encode_basestring(value))


class _Piece:
    """One template of a send: constant text with the recipient's fields spliced in."""

    __slots__ = ("fields", "html", "json_parts", "parts")

    def __init__(self, parts: list[str], fields: list[str], html: bool) -> None:
        self.parts, self.fields, self.html = parts, fields, html
        # JSON escapes each character on its own, so the JSON of the whole is the
        # JSON of its parts joined: the constant parts are escaped once per send.
        # The opening and closing quotes ride on the first and last part.
        # (str.format with a template was measured slower: it parses the template
        # on every call.)
        inner = [_json(part)[1:-1] for part in parts]
        inner[0] = '"' + inner[0]
        inner[-1] = inner[-1] + '"'
        self.json_parts = inner

    def render_json(self, plain: dict[str, str], escaped: dict[str, str]) -> str:
        """`_json(self.render(values))`, given each field's JSON (without quotes)
        as printed raw (`plain`) and as HTML-escaped (`escaped`)."""
        parts, fields = self.json_parts, self.fields
        if not fields:
            return parts[0]
        values = escaped if self.html else plain
        out = [parts[0]]
        for field, part in zip(fields, parts[1:], strict=True):
            out.append(values[field])
            out.append(part)
        return "".join(out)

    def render(self, values: dict[str, str]) -> str:
        parts, fields = self.parts, self.fields
        if not fields:
            return parts[0]
        # Jinja prints a value as escape(value) with autoescape, str(value) without.
        if self.html:
            out = [parts[0]]
            for field, part in zip(fields, parts[1:], strict=True):
                out.append(escape(values[field]))
                out.append(part)
        else:
            out = [parts[0]]
            for field, part in zip(fields, parts[1:], strict=True):
                out.append(values[field])
                out.append(part)
        return "".join(out)


def _piece(source: str, html: bool, context: dict[str, object]) -> _Piece | None:
    if any(mark in source for mark in _MARKS.values()):
        return None
    uses = _plain_uses(source)
    if uses is None:
        return None
    try:
        whole = _run(source, html, context)
    except (UndefinedError, SecurityError, TypeError):
        return None  # the slow path raises the same TemplateProblem per recipient
    split = _SPLIT.split(whole)
    parts, marks = split[0::2], split[1::2]
    if len(marks) != uses:
        return None
    by_mark = {mark: field for field, mark in _MARKS.items()}
    return _Piece(parts, [by_mark[m] for m in marks], html)


class SendRenderer:
    """`render(name, company)` returns exactly what `render_message` returns for a
    `RecipientContext(name, company, list_name, issue_date, unsubscribe_url)`, but
    the templates run once per send: what does not depend on the recipient is kept,
    and the recipient's fields are spliced in (escaped as Jinja escapes them).
    Templates that read the recipient in any other way (filters, conditions) are
    rendered by Jinja for each recipient, as `render_message` does."""

    def __init__(
        self,
        compiled: CompiledIssue,
        list_name: str,
        issue_date: str,
        unsubscribe_url: str = UNSUBSCRIBE_PLACEHOLDER,
    ) -> None:
        self.compiled = compiled
        self.list_name, self.issue_date, self.unsubscribe_url = (
            list_name,
            issue_date,
            unsubscribe_url,
        )
        context: dict[str, object] = {
            "subscriber": dict(_MARKS),
            "list_name": list_name,
            "issue_date": issue_date,
            "unsubscribe_url": Markup(unsubscribe_url),  # noqa: S704 - as in render_message
        }
        self._pieces = [
            _piece(compiled.subject, False, context),
            _piece(compiled.html, True, context),
            _piece(compiled.text, False, context),
        ]
        self.fast = all(p is not None for p in self._pieces)

    def segments(self) -> list[tuple[list[str], list[str]] | None]:
        """The subject, HTML and text as (constant parts, the fields printed between
        them: "name" or "company"), the HTML's fields to be printed HTML-escaped; None
        for a template that reads the recipient in another way (render it per
        recipient). `render` joins exactly these."""
        return [(list(p.parts), list(p.fields)) if p else None for p in self._pieces]

    def render(self, name: str, company: str) -> RenderedMessage:
        """Raises TemplateProblem as render_message does."""
        subject, html, text = self._pieces
        if subject is None or html is None or text is None:
            return render_message(
                self.compiled,
                RecipientContext(
                    name, company, self.list_name, self.issue_date, self.unsubscribe_url
                ),
            )
        values = {"name": name, "company": company}
        return RenderedMessage(
            subject=subject.render(values), html=html.render(values), text=text.render(values)
        )

    def render_json(self, name: str, company: str) -> tuple[str, str, str]:
        """The subject, HTML and text of `render(name, company)`, each as a JSON
        string literal (exactly `json.dumps(…, ensure_ascii=False)` of it): the constant parts
        were escaped once; only the recipient's fields are escaped here.
        Raises TemplateProblem as render_message does."""
        subject, html, text = self._pieces
        if subject is None or html is None or text is None:
            rendered = self.render(name, company)
            return _json(rendered.subject), _json(rendered.html), _json(rendered.text)
        plain: dict[str, str] = {}
        escaped: dict[str, str] = {}
        if subject.fields or text.fields:
            plain = {
                "name": encode_basestring(name)[1:-1],
                "company": encode_basestring(company)[1:-1],
            }
        if html.fields:
            # Jinja's autoescape prints escape(value); its JSON is taken the same way.
            escaped = {
                "name": encode_basestring(escape(name))[1:-1],
                "company": encode_basestring(escape(company))[1:-1],
            }
        return (
            subject.render_json(plain, escaped),
            html.render_json(plain, escaped),
            text.render_json(plain, escaped),
        )
