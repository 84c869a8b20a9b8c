"""What a reader of a rendered message can read, as plain texts to scan.

A mail client shows the HTML part as text (entities decoded, markup gone,
inline elements running into each other: `Lea<strong>kwell</strong>` reads
"Leakwell"), and shows link targets, image alt and title texts on hover or when
images are off; a reader of the text part reads Markdown as its words
(`Lea**kwell**` reads "Leakwell" too: `disguise` looks through the marks).
`texts()` returns each of these.
"""

from __future__ import annotations

import re
from functools import lru_cache
from html.parser import HTMLParser
from urllib.parse import unquote

from bot.rendering import RenderedMessage

# Elements after which text does not run on (a line break, a new block or cell).
_BREAKS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "title",
        "tr",
        "ul",
    ]
)
_HIDDEN = frozenset({"style", "script"})
_SHOWN_ATTRIBUTES = ("href", "src", "alt", "title")


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.visible: list[str] = []
        self.attributes: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        if tag in _BREAKS:
            self.visible.append("\n")
        for name, value in attrs:
            if name in _SHOWN_ATTRIBUTES and value:
                self.attributes.append(unquote(value) if name in ("href", "src") else value)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in _HIDDEN:
            self._hidden -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN and self._hidden:
            self._hidden -= 1
        if tag in _BREAKS:
            self.visible.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.visible.append(data)


@lru_cache(maxsize=8)
def read_html(html: str) -> tuple[str, str]:
    """(the visible text, the shown attributes one per line) of an HTML document."""
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return "".join(reader.visible), "\n".join(reader.attributes)


def texts(message: RenderedMessage) -> list[str]:
    """Every text a reader of `message` can read. The text part is the body's
    Markdown as written; how its Markdown reads is what the HTML part shows."""
    visible, attributes = read_html(message.html)
    return [message.subject, visible, attributes, message.text]


# A link to the unsubscribe page, in Markdown's inline or autolink form, and the rest
# of what prints nothing of the author's own: the other variables, comments.
_UNSUBSCRIBE_LINK = re.compile(
    r"\[[^\[\]]*\]\(\s*\{\{[ \t]*unsubscribe_url[ \t]*\}\}[^)]*\)"
    r"|<\{\{[ \t]*unsubscribe_url[ \t]*\}\}>"
)
_NOT_SAID = re.compile(r"\{\{.*?\}\}|\{#.*?#\}", re.DOTALL)


def says_something(body: str) -> bool:
    """Whether a body's reader gets anything besides the unsubscribe link and
    their own row: some letter or digit of the author's own text (read from the
    source in one linear pass; no Markdown needed to know that)."""
    said = _NOT_SAID.sub(" ", _UNSUBSCRIBE_LINK.sub(" ", body))
    return re.search(r"[^\W_]", said) is not None
