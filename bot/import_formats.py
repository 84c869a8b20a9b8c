"""The CSV files people bring, recognised by their header.

- Countersign's own: `email,name,company` (name and company optional), and
  the export's `status` column; also a plain `unsubscribed` yes/no column.
- Mailchimp's audience export, three files with the same columns
  (`Email Address`, `First Name`, `Last Name`, an optional `Company` merge
  field): subscribed; unsubscribed (`UNSUB_TIME`, `UNSUB_REASON`,
  `UNSUB_REASON_OTHER`); cleaned (`CLEAN_TIME`).
- listmonk's subscriber export: `uuid,email,name,attributes,status,
  created_at,updated_at`, status `enabled`, `disabled` or `blocklisted`,
  attributes as JSON (a `company` attribute is taken).
- Any other CSV, with `--columns email=E-mail,name=姓+名,company=会社名`
  (a name may be composed of several columns, joined with `+`).
- A do-not-mail list (`suppressions import`): one address a line, or any CSV
  with an email column (Countersign's suppressions export included).

Each format turns a row's cells into a `Parsed` tuple: what the row means
(`SUBSCRIBE`, `DO_NOT_MAIL` with a reason and a note, or `PASS`: not mailed
in the old system, not taken over) and the fields. Cells arrive already
storable (`bot.subscribers` passes a row with control characters through
`bot.typed.storable` first); only what a format decodes itself (listmonk's
JSON, whose escapes can spell any character) is made storable here. A name
in two parts is composed family name first, without a space, when it is
Japanese (山田花子), else given name first (Alice Smith). A row that cannot
be understood raises `RowRejected`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.csvfile import UnreadableFile, restore
from bot.typed import storable
from storage.vocabulary import SuppressionReason

SUBSCRIBE, DO_NOT_MAIL, PASS = "subscribe", "do_not_mail", "pass"
NOTE_LIMIT = 500

# kind, email (as written), name, company, suppression reason, note
Parsed = tuple[str, str, str, str, str, str]


class RowRejected(Exception):
    """This row cannot be imported; the reason is reported with its line."""


@dataclass(frozen=True)
class Format:
    label: str  # shown in reports: "Mailchimp (unsubscribed)"
    width: int  # cells a row must have
    read: Callable[[list[str]], Parsed]


# Hiragana, katakana (full and half width), CJK ideographs.
_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f]")


def compose(given: str, family: str) -> str:
    """One name from its parts: 山田花子 (Japanese: family first), Alice Smith."""
    if not family:
        return given
    if not given:
        return family
    if (given.isascii() and family.isascii()) or not (
        _JAPANESE.search(family) or _JAPANESE.search(given)
    ):
        return f"{given} {family}"
    return family + given


def _note(*parts: str) -> str:
    return " ".join(p for p in parts if p)[:NOTE_LIMIT]


# --- Countersign's own format -----------------------------------------------------------

NATIVE_COLUMNS = ("email", "name", "company", "status", "unsubscribed")
STATUS_MEANS = {
    "": (SUBSCRIBE, ""),
    "active": (SUBSCRIBE, ""),
    "unsubscribed": (DO_NOT_MAIL, SuppressionReason.UNSUBSCRIBED.value),
    "inactive": (DO_NOT_MAIL, SuppressionReason.HARD_BOUNCE.value),
    "invalid": (DO_NOT_MAIL, SuppressionReason.INVALID.value),
}
YES = frozenset({"1", "true", "yes", "y", "x", "unsubscribed"})
NO = frozenset({"", "0", "false", "no", "n"})


def _native(at: dict[str, int], label: str, source: str) -> Format:
    email_at = at["email"]
    name_at, company_at = at.get("name"), at.get("company")
    status_at, unsub_at = at.get("status"), at.get("unsubscribed")

    def read(cells: list[str]) -> Parsed:
        kind, reason, note = SUBSCRIBE, "", ""
        if status_at is not None:
            status = cells[status_at].strip().lower()
            if status not in STATUS_MEANS:
                raise RowRejected(f"unknown status {status[:20]!r}")
            kind, reason = STATUS_MEANS[status]
            note = f"{source}: status {status}" if reason else ""
        if unsub_at is not None and kind == SUBSCRIBE:
            flag = cells[unsub_at].strip().lower()
            if flag in YES:
                kind, reason, note = DO_NOT_MAIL, SuppressionReason.UNSUBSCRIBED.value, source
            elif flag not in NO:
                raise RowRejected(f"unsubscribed must be yes or no, found {flag[:20]!r}")
        name = restore(cells[name_at]).strip() if name_at is not None else ""
        company = restore(cells[company_at]).strip() if company_at is not None else ""
        return kind, restore(cells[email_at]), name, company, reason, note

    return Format(label, len(at), read)


# --- Mailchimp ------------------------------------------------------------------------------


def _mailchimp(at: dict[str, int], width: int) -> Format:
    email_at = at["email address"]
    given_at, family_at, company_at = at.get("first name"), at.get("last name"), at.get("company")
    unsub_at, clean_at = at.get("unsub_time"), at.get("clean_time")
    why_at, other_at = at.get("unsub_reason"), at.get("unsub_reason_other")
    if unsub_at is not None:
        kind, reason, label = (
            DO_NOT_MAIL,
            SuppressionReason.UNSUBSCRIBED.value,
            "Mailchimp (unsubscribed)",
        )
    elif clean_at is not None:
        kind, reason, label = (
            DO_NOT_MAIL,
            SuppressionReason.HARD_BOUNCE.value,
            "Mailchimp (cleaned)",
        )
    else:
        kind, reason, label = SUBSCRIBE, "", "Mailchimp (subscribed)"

    def read(cells: list[str]) -> Parsed:
        given = cells[given_at].strip() if given_at is not None else ""
        family = cells[family_at].strip() if family_at is not None else ""
        company = cells[company_at].strip() if company_at is not None else ""
        note = ""
        if unsub_at is not None:
            why = cells[why_at].strip() if why_at is not None else ""
            other = cells[other_at].strip() if other_at is not None else ""
            note = _note("Mailchimp: unsubscribed", cells[unsub_at].strip(), why, other)
        elif clean_at is not None:
            note = _note("Mailchimp: cleaned", cells[clean_at].strip())
        return kind, cells[email_at], compose(given, family), company, reason, note

    return Format(label, width, read)


# --- listmonk -------------------------------------------------------------------------------

LISTMONK_STATUS = {
    "enabled": (SUBSCRIBE, ""),
    "blocklisted": (DO_NOT_MAIL, SuppressionReason.UNSUBSCRIBED.value),
    "disabled": (PASS, ""),
}


def _listmonk(at: dict[str, int], width: int) -> Format:
    email_at, name_at, attributes_at, status_at = (
        at["email"],
        at.get("name"),
        at["attributes"],
        at["status"],
    )
    updated_at = at.get("updated_at")

    def read(cells: list[str]) -> Parsed:
        status = cells[status_at].strip().lower()
        if status not in LISTMONK_STATUS:
            raise RowRejected(f"unknown listmonk status {status[:20]!r}")
        kind, reason = LISTMONK_STATUS[status]
        company = ""
        raw = cells[attributes_at]
        if '"company"' in raw:
            try:
                attributes = json.loads(raw)
            except ValueError:
                raise RowRejected("attributes are not valid JSON") from None
            value = attributes.get("company") if isinstance(attributes, dict) else None
            company = storable(value).strip() if isinstance(value, str) else ""
        name = cells[name_at].strip() if name_at is not None else ""
        when = cells[updated_at].strip() if updated_at is not None else ""
        note = _note("listmonk: blocklisted", when) if reason else ""
        return kind, cells[email_at], name, company, reason, note

    return Format("listmonk", width, read)


# --- --columns ------------------------------------------------------------------------------


def parse_columns(spec: str) -> dict[str, list[str]]:
    """`email=E-mail,name=姓+名,company=会社名` → {"email": ["E-mail"], "name": ["姓", "名"], …}."""
    mapping: dict[str, list[str]] = {}
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        names = [n.strip() for n in value.split("+") if n.strip()]
        if not sep or key not in ("email", "name", "company", "status") or not names:
            raise UnreadableFile(
                f"--columns takes email=COLUMN,name=COLUMN[+COLUMN],company=COLUMN, found {part!r}"
            )
        if key in mapping:
            raise UnreadableFile(f"--columns names {key} twice")
        mapping[key] = names
    if "email" not in mapping or len(mapping["email"]) != 1:
        raise UnreadableFile("--columns must say which one column holds the address: email=COLUMN")
    return mapping


def _custom(header: list[str], columns: dict[str, list[str]], label: str) -> Format:
    where = {cell.strip().lower(): i for i, cell in reversed(list(enumerate(header)))}
    missing = [n for names in columns.values() for n in names if n.strip().lower() not in where]
    if missing:
        raise UnreadableFile(
            f"{label} has no column {', '.join(repr(m) for m in missing)} named in --columns "
            f"(its header: {','.join(header)[:120]!r})"
        )

    def index(names: list[str]) -> list[int]:
        return [where[n.strip().lower()] for n in names]

    email_at = index(columns["email"])[0]
    name_at = index(columns.get("name", []))
    company_at = index(columns.get("company", []))
    status_at = index(columns.get("status", []))

    def read(cells: list[str]) -> Parsed:
        # Several name columns are joined in the order given: 姓+名 → 山田花子.
        parts = [p for p in (cells[i].strip() for i in name_at) if p]
        name = ("" if any(_JAPANESE.search(p) for p in parts) else " ").join(parts)
        company = " ".join(p for p in (cells[i].strip() for i in company_at) if p)
        kind, reason, note = SUBSCRIBE, "", ""
        if status_at:
            status = cells[status_at[0]].strip().lower()
            if status not in STATUS_MEANS:
                raise RowRejected(f"unknown status {status[:20]!r}")
            kind, reason = STATUS_MEANS[status]
            note = f"{label}: status {status}" if reason else ""
        return kind, cells[email_at], name, company, reason, note

    return Format("custom columns", len(header), read)


# --- do-not-mail lists ------------------------------------------------------------------------

EMAIL_HEADERS = ("email", "email address", "e-mail", "e-mail address", "mail", "メールアドレス")
REASONS = frozenset(r.value for r in SuppressionReason)


def _do_not_mail(at: dict[str, int], width: int, label: str) -> Format:
    email_at = next(at[h] for h in EMAIL_HEADERS if h in at)
    reason_at, note_at = at.get("reason"), at.get("note")

    def read(cells: list[str]) -> Parsed:
        reason = cells[reason_at].strip().lower() if reason_at is not None else ""
        if reason not in REASONS:
            reason = SuppressionReason.MANUAL.value
        note = _note(restore(cells[note_at])) if note_at is not None else ""
        return DO_NOT_MAIL, restore(cells[email_at]), "", "", reason, note or label

    return Format(label, width, read)


def address_list(label: str) -> Format:
    """One address a line, no header."""

    def read(cells: list[str]) -> Parsed:
        return DO_NOT_MAIL, restore(cells[0]), "", "", "manual", label

    return Format("address list", 1, read)


# --- recognising a header -------------------------------------------------------------------

KNOWN = (
    "email,name,company (Countersign); Email Address,First Name,Last Name (Mailchimp); "
    "uuid,email,name,attributes,status (listmonk)"
)


def recognise(
    header: Sequence[str],
    label: str,
    *,
    columns: dict[str, list[str]] | None = None,
    do_not_mail: bool = False,
) -> Format:
    """The format of a file whose first row is `header`. UnreadableFile if none fits."""
    cells = [restore(storable(c)).strip() for c in header]
    names = [c.lower() for c in cells]
    at: dict[str, int] = {}
    for index, name in enumerate(names):
        at.setdefault(name, index)  # a column named twice: the first counts
    if do_not_mail:
        found = [h for h in EMAIL_HEADERS if h in at]
        if not found:
            raise UnreadableFile(
                f"{label} has no email column (one of {', '.join(EMAIL_HEADERS)}) and its "
                "first line is not an address: give one address a line, or a CSV with an "
                "email column"
            )
        return _do_not_mail(at, len(names), f"do-not-mail list {label}")
    if columns is not None:
        return _custom(cells, columns, label)
    if "email address" in at:
        return _mailchimp(at, len(names))
    if {"uuid", "email", "attributes", "status"} <= set(at):
        return _listmonk(at, len(names))
    unknown = [n for n in names if n not in NATIVE_COLUMNS]
    if "email" not in at or unknown:
        raise UnreadableFile(
            f"{label} does not start with the expected header: one of {KNOWN}; for any other "
            f"CSV say which columns to use with --columns email=…,name=…,company=…; "
            f"found {','.join(cells)[:80]!r}"
        )
    if len(at) != len(names):
        raise UnreadableFile(f"{label} names a column twice in its header")
    return _native(at, "Countersign", "Countersign export")
