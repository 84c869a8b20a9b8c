"""CSV files in and out: what a file's bytes mean, and what a spreadsheet would run.

In: `open_text()` decides how a file's bytes are read — UTF-8 with or without
a byte-order mark, or CP932 (Shift_JIS as Excel writes it on Japanese
Windows) — from the file's beginning, or as the person said with
`--encoding`. A file that is neither is refused before anything is read, with
what to do about it.

Out: `writer()` is the one CSV writer of every export. A cell that a
spreadsheet would run as a formula — one beginning with `=`, `+`, `-`, `@`,
tab, carriage return or line feed — is neutralised the way OWASP recommends
(https://owasp.org/www-community/attacks/CSV_Injection): a single quote is
put in front, so Excel, LibreOffice and Google Sheets show the text instead
of running it; the csv module quotes separators and quotes, so no cell can
start a new one. `restore()` takes that quote off again when Countersign reads
its own export back, so an export imports as it was.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, NamedTuple

# OWASP's list of characters a cell must not begin with.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
HEAD_BYTES = 64 * 1024  # how much of a file decides its encoding
BOM = codecs.BOM_UTF8
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
# What people call the encoding Excel writes on Japanese Windows. Python's
# strict "shift_jis" lacks the characters Microsoft added (①, ～, ㈱), which
# such files contain, so every one of these names means CP932.
CP932_NAMES = frozenset(
    {"cp932", "ms932", "windows-31j", "shift_jis", "shift-jis", "sjis", "s-jis"}
)
UTF8_NAMES = frozenset({"utf-8", "utf8", "utf-8-sig", "utf_8"})
# The bytes of the characters `bot.typed.storable` removes (all but tab, line
# feed and carriage return below 0x20, and DEL), and the codecs in which only
# these bytes decode to them (`may_hold_controls`).
CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
SCANNED_ENCODINGS = frozenset({"utf-8", "utf-8-sig", "cp932"})
SCAN_BLOCK = 1024 * 1024


class UnreadableFile(Exception):
    """The file as a whole cannot be imported; nothing was changed."""


def neutralise(cell: str) -> str:
    """`cell` as a spreadsheet may safely show it (OWASP: a leading `'`)."""
    return "'" + cell if cell.startswith(FORMULA_START) else cell


def restore(cell: str) -> str:
    """The inverse of `neutralise`, for reading an export back."""
    if cell.startswith("'") and cell[1:2] in FORMULA_START and len(cell) > 1:
        return cell[1:]
    return cell


class SafeWriter:
    """`csv.writer` with every cell neutralised; a row holding a bare
    carriage return is quoted whole (the csv module quotes only the line
    terminator's characters, so such a row would split when read back)."""

    def __init__(self, out: IO[str]) -> None:
        self._plain = csv.writer(out, lineterminator="\n")
        self._quoted = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)

    def writerow(self, row: Iterable[Any]) -> None:
        cells = ["" if v is None else neutralise(str(v)) for v in row]
        (self._quoted if any("\r" in c for c in cells) else self._plain).writerow(cells)


def writer(out: IO[str]) -> SafeWriter:
    return SafeWriter(out)


def encoding_named(name: str) -> str:
    """The codec for a name given with `--encoding`; UnreadableFile if unknown."""
    key = name.strip().lower().replace("_", "-")
    if key in CP932_NAMES:
        return "cp932"
    if key in UTF8_NAMES:
        return "utf-8-sig"  # a byte-order mark, if there is one, is not a character
    try:
        return codecs.lookup(key).name
    except LookupError:
        raise UnreadableFile(
            f"unknown encoding {name[:40]!r}: use utf-8 or cp932 (Shift_JIS from Excel)"
        ) from None


def display_name(encoding: str) -> str:
    """How people call an encoding: UTF-8, CP932."""
    return "UTF-8" if encoding.startswith("utf-8") or encoding == "utf-8-sig" else encoding.upper()


def _decodes(head: bytes, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        decoder.decode(head, final=False)  # the head may end inside a character
    except UnicodeDecodeError:
        return False
    return True


def detect(head: bytes, label: str) -> str:
    """The encoding of a file that begins with `head`."""
    if head.startswith(BOM):
        return "utf-8-sig"
    if head.startswith(UTF16_BOMS) or head.count(b"\x00") > max(2, len(head) // 100):
        raise UnreadableFile(
            f"{label} is a binary or UTF-16 file, not CSV text: save it as CSV UTF-8 "
            "(comma delimited) and import it again"
        )
    if _decodes(head, "utf-8"):
        return "utf-8"
    if _decodes(head, "cp932"):
        return "cp932"
    line = _bad_line(head)
    raise UnreadableFile(
        f"{label} is neither UTF-8 nor CP932 (Shift_JIS) text (line {line}): save it as "
        "CSV UTF-8, or give its encoding with --encoding"
    )


def _bad_line(head: bytes) -> int:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return head.count(b"\n", 0, exc.start) + 1
    return 1


def first_undecodable_line(text: IO[str], encoding: str) -> int:
    """The line where `text` (opened by `open_text` or `open_bytes`) stops
    decoding; text is read ahead in blocks, so the csv reader's line count
    does not say."""
    raw = text.buffer  # type: ignore[attr-defined]
    raw.seek(0)
    decoder = codecs.getincrementaldecoder(encoding)()
    number = 0
    for number, line in enumerate(raw, 1):
        try:
            decoder.decode(line)
        except UnicodeDecodeError:
            return number
    return number


def _choose(head: bytes, label: str, encoding: str | None) -> str:
    if not head.strip(BOM + b" \r\n\t"):
        raise UnreadableFile(f"{label} is empty: expected a header line such as email,name,company")
    return encoding_named(encoding) if encoding else detect(head, label)


class Opened(NamedTuple):
    """A file opened for `csv.reader`: its text, the encoding it is read in,
    whether it may hold control characters (False: it holds none, for certain),
    and for a file on disk what it was when that was decided (`identity`)."""

    text: IO[str]
    encoding: str
    controls: bool
    identity: tuple[int, int, int, int] | None = None


def identity(handle: IO[Any]) -> tuple[int, int, int, int]:
    """Which file `handle` is, and as it is now: device, inode, size, change time."""
    status = os.fstat(handle.fileno())
    return status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns


def may_hold_controls(raw: IO[bytes], encoding: str) -> bool:
    """Whether the text decoded from `raw` may hold a character that
    `bot.typed.storable` removes. False only when it holds none for certain:
    the encoding is one where such a character is always its own byte and no
    other byte sequence decodes to one — UTF-8 (every byte of a multi-byte
    sequence is 0x80 or above; strict decoding refuses encoded surrogates) and
    CP932 (its second bytes are 0x40-0x7E and 0x80-0xFC) — and no such byte is
    in the file. One pass over the bytes at memory speed, so a clean file (nearly
    every file) skips the per-line look; `raw` is put back at its start."""
    if encoding not in SCANNED_ENCODINGS:
        return True
    try:
        while block := raw.read(SCAN_BLOCK):
            if len(block.translate(None, CONTROL_BYTES)) != len(block):
                return True
        return False
    finally:
        raw.seek(0)


def open_text(path: Path, encoding: str | None = None) -> Opened:
    """`path` opened as text for `csv.reader`.

    Raises UnreadableFile for a missing, empty, binary or undecodable file.
    """
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise UnreadableFile(f"cannot open {path}: {exc.strerror}") from None
    try:
        chosen = _choose(handle.read(HEAD_BYTES), str(path), encoding)
        handle.seek(0)
        controls = may_hold_controls(handle, chosen)
        known = identity(handle)
    except BaseException:
        handle.close()
        raise
    return Opened(text_of(handle, chosen), chosen, controls, known)


def open_bytes(content: bytes, label: str, encoding: str | None = None) -> Opened:
    """The same for a file that arrived as bytes (a Slack upload)."""
    chosen = _choose(content[:HEAD_BYTES], label, encoding)
    raw = io.BytesIO(content)
    controls = may_hold_controls(raw, chosen)
    return Opened(text_of(raw, chosen), chosen, controls)


def text_of(raw: IO[bytes], encoding: str) -> IO[str]:
    """`raw` as text in `encoding`, line endings kept for `csv.reader`."""
    return io.TextIOWrapper(raw, encoding=encoding, newline="")
