"""The rehearsal room's sample list: about 3,000 made-up subscribers.

Owns `sample_subscribers()` (deterministic: the same seed gives the same
people, in the same order, on every machine), `write_csv()` (the
`email,name,company` file `countersign subscribers import` reads) and
`import_sample()` (the same rows through the ordinary importer, so the
rehearsal list is built exactly as a real one would be).

Everyone here is invented. Addresses are only ever at example.com or
example.jp (reserved for documentation, RFC 2606 / JPRS), so no message sent
during a rehearsal could reach a real person even if it escaped the stand-in.
Names are Japanese and English, as the newsletter's real readers are;
roughly one reader in five gives no company and one in twenty no name, which
exercises the templates' fallbacks.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from bot.clock import Clock
from bot.subscribers import ImportReport, import_csv
from storage.db import Database

SAMPLE_SIZE = 3_000
SEED = 20240601
DOMAINS = ("example.com", "example.jp")

# (kanji, romaji) so that each reader's address looks like their name.
_JA_FAMILY = (
    ("佐藤", "sato"), ("鈴木", "suzuki"), ("高橋", "takahashi"), ("田中", "tanaka"),
    ("伊藤", "ito"), ("渡辺", "watanabe"), ("山本", "yamamoto"), ("中村", "nakamura"),
    ("小林", "kobayashi"), ("加藤", "kato"), ("吉田", "yoshida"), ("山田", "yamada"),
    ("佐々木", "sasaki"), ("山口", "yamaguchi"), ("松本", "matsumoto"), ("井上", "inoue"),
    ("木村", "kimura"), ("林", "hayashi"), ("清水", "shimizu"), ("森", "mori"),
)  # fmt: skip
_JA_GIVEN = (
    ("陽菜", "hina"), ("結衣", "yui"), ("葵", "aoi"), ("美咲", "misaki"), ("さくら", "sakura"),
    ("翔太", "shota"), ("大輝", "daiki"), ("蓮", "ren"), ("健太", "kenta"), ("拓海", "takumi"),
    ("由美", "yumi"), ("直樹", "naoki"), ("恵子", "keiko"), ("誠", "makoto"), ("明美", "akemi"),
)  # fmt: skip
_EN_GIVEN = (
    "Olivia", "Liam", "Emma", "Noah", "Amelia", "Oliver", "Grace", "James", "Chloe", "Henry",
    "Isla", "Jack", "Ruby", "Thomas", "Ella", "George", "Alice", "Samuel", "Mia", "Daniel",
)  # fmt: skip
_EN_FAMILY = (
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
    "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall",
)  # fmt: skip
_COMPANIES = (
    "青空印刷株式会社", "有限会社みどり商店", "港北ロジスティクス", "さくら設計事務所",
    "Harbourline Trading", "Northwind Studio", "Kestrel Analytics", "Maple & Finch Ltd",
    "株式会社ひかり出版", "Bluefield Consulting", "東雲テクノロジー", "Riverside Print Works",
)  # fmt: skip


@dataclass(frozen=True)
class SampleSubscriber:
    email: str
    name: str
    company: str


def sample_subscribers(count: int = SAMPLE_SIZE, seed: int = SEED) -> Iterator[SampleSubscriber]:
    """`count` made-up readers; the same `seed` always yields the same ones."""
    rng = random.Random(seed)
    for n in range(1, count + 1):
        if rng.random() < 0.55:
            family, family_latin = rng.choice(_JA_FAMILY)
            given, given_latin = rng.choice(_JA_GIVEN)
            name = f"{family} {given}"
            local = f"{given_latin}.{family_latin}"
            domain = DOMAINS[1] if rng.random() < 0.7 else DOMAINS[0]
        else:
            given_latin = rng.choice(_EN_GIVEN)
            family_latin = rng.choice(_EN_FAMILY)
            name = f"{given_latin} {family_latin}"
            local = f"{given_latin}.{family_latin}".lower()
            domain = DOMAINS[0] if rng.random() < 0.8 else DOMAINS[1]
        company = rng.choice(_COMPANIES) if rng.random() < 0.8 else ""
        if rng.random() < 0.05:
            name = ""  # some readers never told us their name
        # The running number keeps every address unique however the names fall.
        yield SampleSubscriber(email=f"{local}{n}@{domain}", name=name, company=company)


def write_csv(out: IO[str], count: int = SAMPLE_SIZE, seed: int = SEED) -> int:
    """Write the sample as `email,name,company` CSV; return the number of rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("email", "name", "company"))
    written = 0
    for person in sample_subscribers(count, seed):
        writer.writerow((person.email, person.name, person.company))
        written += 1
    return written


def import_sample(
    db: Database,
    path: Path,
    *,
    list_name: str,
    clock: Clock,
    count: int = SAMPLE_SIZE,
    actor: str = "rehearsal",
) -> ImportReport:
    """Write the sample to `path` and import it into `list_name` with the real importer."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        write_csv(handle, count)
    return import_csv(db, path, list_name=list_name, actor=actor, clock=clock)
