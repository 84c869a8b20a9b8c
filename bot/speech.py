"""What the `countersign` command says, in the team's language.

The sentences are the `cli` domain of `bot/locale/` (gettext files, read by
`bot.catalogue`): `cli.pot` is English, `ja/LC_MESSAGES/cli.po` Japanese. The
command speaks `LANGUAGE` (the setting the Slack bot's channel posts use too);
a sentence a language lacks falls back to English. A terminal shows plain text,
so nothing is escaped; every parameter is put in by its name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot import catalogue

LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "cli"
CATALOGUES: dict[str, catalogue.Catalogue] = catalogue.load(LOCALE_DIR, DOMAIN)

_language = catalogue.SOURCE_LANGUAGE


def use_language(language: str) -> None:
    """Speak `language` from now on (English when there is no catalogue for it)."""
    global _language
    _language = language if language in CATALOGUES else catalogue.SOURCE_LANGUAGE


def say(key: str, **params: Any) -> str:
    """The sentence `key` in the language in use, its placeholders filled in (the
    form a counted sentence's number calls for)."""
    template = CATALOGUES[_language].template(key, params)
    if template is None:
        template = CATALOGUES[catalogue.SOURCE_LANGUAGE].template(key, params)
    if template is None:
        raise KeyError(f"no sentence {key!r} in the {DOMAIN} catalogue")
    return template.format(**params)
