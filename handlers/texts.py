"""Every sentence the Slack front end shows, in one catalogue.

Whole sentences with named placeholders, never assembled from fragments, so
that a translation (the first users read Japanese) replaces this table and
nothing else. `t(key, **params)` fills one, in the language chosen with
`use_language()` (the LANGUAGE setting; `handlers.app.build` calls it), as
`Mrkdwn`: the sentence is the app's own markup, and every parameter that is not
`Mrkdwn` itself is typed text or data, escaped (`handlers.mrkdwn`). The
sentences live in gettext files, `handlers/locale/` (see `handlers.catalogue`
and the README's part for translators); a key a language lacks falls back to
English rather than showing the bare key. A sentence that counts something has
a form per plural of its language, chosen by its count parameter.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from handlers import catalogue
from handlers.mrkdwn import Mrkdwn, escape

# Catalogues by language code, read once from handlers/locale/ (English is the
# template, messages.pot). As mappings they give each sentence's last form.
CATALOGUES: dict[str, catalogue.Catalogue] = catalogue.load()
EN = CATALOGUES["en"]
JA = CATALOGUES["ja"]

# The team's language (LANGUAGE, set once at start-up): channel posts, and
# people whose Slack locale has no catalogue. A request from a person whose
# locale has one answers in it: `speaking()` sets it for the request (the access
# middleware does, and Bolt's listener threads inherit it; see handlers.app).
_default = "en"
_speaking: ContextVar[str | None] = ContextVar("speaking", default=None)


def use_language(code: str) -> None:
    """Make `code` ("en" or "ja") the team's language."""
    global _default
    if code not in CATALOGUES:
        raise ValueError(f"no catalogue for language {code!r}")
    _default = code


def default_language() -> str:
    return _default


def language() -> str:
    """The language `t()` currently answers in."""
    return _speaking.get() or _default


def language_of_locale(locale: str | None) -> str | None:
    """The catalogue for a Slack locale (`ja-JP` -> "ja", `en-GB` -> "en"), or None."""
    code = (locale or "").split("-")[0].split("_")[0].lower()
    return code if code in CATALOGUES else None


def answer_request_in(code: str | None) -> None:
    """Answer the request being handled in `code` (None: the team's language).

    Bolt runs its global middleware one after another and the listener after all of
    them, so a block around `next()` would end before the listener runs. The access
    middleware calls this first thing for every request instead, so no request
    inherits the previous one's language from a reused thread.
    """
    _speaking.set(code if code in CATALOGUES else None)


@contextmanager
def speaking(code: str | None) -> Iterator[None]:
    """Answer in `code` within the block (None: the team's language)."""
    token = _speaking.set(code if code in CATALOGUES else None)
    try:
        yield
    finally:
        _speaking.reset(token)


def t(key: str, **params: Any) -> Mrkdwn:
    """The sentence `key`, filled with `params` (missing ones stay visible as {name}).

    Text parameters that are not `Mrkdwn` are escaped; numbers keep their format specs.
    A counted sentence takes the form its count parameter (`count`, or the one its
    entry names) calls for in the language, e.g. `t("halt.done.sending", count=1, …)`.
    """
    template = CATALOGUES[language()].template(key, params) or EN.template(key, params)
    if template is None:  # keys are built from data too (codes, states): never markup
        return escape(key)
    safe = {
        name: value if isinstance(value, int | float) else escape(value)
        for name, value in params.items()
    }
    return Mrkdwn(template.format_map(_Keep(safe)))


def state_name(value: str) -> Mrkdwn:
    """The shown name of a stored state (`awaiting_approval` -> "awaiting approval")."""
    key = f"state.{value}"
    return t(key) if key in EN else escape(value)


class _Keep(dict[str, Any]):
    def __missing__(self, name: str) -> str:
        return "{" + name + "}"
