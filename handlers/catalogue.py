"""Where the Slack front end's sentences live: the `messages` domain in
`handlers/locale/`, read by `bot.catalogue` (which says how the files work)."""

from __future__ import annotations

from pathlib import Path

from bot.catalogue import Catalogue, Sentence, read_catalog
from bot.catalogue import load as load_domain

LOCALE_DIR = Path(__file__).with_name("locale")

__all__ = ["LOCALE_DIR", "Catalogue", "Sentence", "load", "read_catalog"]


def load(directory: Path = LOCALE_DIR) -> dict[str, Catalogue]:
    """The front end's catalogues: English and every translation in `directory`."""
    return load_domain(directory, "messages")
