"""An import file's rows as the import needs them: the CSV read, control
characters taken out, each row understood by its format (`bot.import_formats`),
its address normalised (`bot.addresses`), and every row that cannot be imported
turned into a rejection with its line number. `bot.subscribers` hashes the
addresses and stages the rows. (Normalising here and hashing there is what
balances the two processes' work best: measured, see bench/README.md.)

`Source.rows()` does this in the importing process. For a large file,
`pipelined()` does the same in a second process, started with the `spawn`
method (never `fork`: the bot runs threads), and hands the rows over in
batches, so that reading the file (a process's own interpreter) and writing
the database (the importing process) run on two cores at once. Both paths run
the same `Source.rows()`, so a file gives the same rows, rejections and line
numbers either way. Memory stays flat: the worker blocks on the pipe when the
importer has not taken its last batch yet. A worker that stops for any
reason — its file unreadable, an error, killed — makes the import fail with
nothing changed (`bot.subscribers` stages rows inside its one transaction).
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import multiprocessing
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from bot import csvfile
from bot.addresses import InvalidAddress, normalise
from bot.csvfile import UnreadableFile, restore
from bot.import_formats import Format, RowRejected, address_list, recognise
from bot.typed import is_storable, storable

FIELD_LIMIT = 200
REJECTED = "rejected"
# line, kind (import_formats' SUBSCRIBE, DO_NOT_MAIL, PASS, or REJECTED), the normalised
# address (a rejected row: why it was rejected), name, company, suppression reason, note
Row = tuple[int, str, str, str, str, str, str]
PIPELINE_BYTES = 8 * 1024 * 1024  # files this large are read in a second process
BATCH = 1_000  # rows handed over at a time
PIPE_BYTES = 1024 * 1024  # the pipe's buffer, where the system lets it be set
_JOIN_SECONDS = 10.0


def worth_a_second_process(size: int) -> bool:
    """Whether a file of `size` bytes is read faster by a second process: only when
    it is large and this process may run on two cores at once. The second process
    costs CPU of its own (another interpreter, every row pickled), which a single
    core pays for without the overlap that earns it back (bench/README.md)."""
    return size >= PIPELINE_BYTES and _usable_cores() >= 2


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # Linux: the cores this process may use
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


class ImportFailed(Exception):
    """The import stopped for a reason that is not the file's; nothing was changed."""


def _marked(text: IO[str], marks: list[bool]) -> Iterator[str]:
    """The file's lines, marking in `marks` whether the row the csv reader
    makes of them holds control characters (`marks[0]`) and a NUL among them
    (`marks[1]`: PostgreSQL refuses NUL in text, so such a row is rejected).
    One look per line; only for a file that may hold any (`Opened.controls`)."""
    clean = is_storable
    for line in text:
        if not clean(line):
            marks[0] = True
            if "\x00" in line:
                marks[1] = True
        yield line


class Source:
    """An opened file's rows: `header()` first, then `rows()`."""

    def __init__(self, opened: csvfile.Opened, label: str) -> None:
        self.opened = opened
        self.label = label
        self.marks = [False, False]  # stay False when the file holds no control character
        text = opened.text
        self.reader = csv.reader(
            _marked(text, self.marks) if opened.controls else text, strict=True
        )
        self.first: list[str] | None = None
        self.form: Format | None = None

    def header(self, columns: dict[str, list[str]] | None, do_not_mail: bool) -> Format:
        """The file's format, from its first line (UnreadableFile if none fits)."""
        form, self.first = _read_header(self.reader, self.label, columns, do_not_mail)
        if self.first is None:
            if self.marks[1]:
                raise UnreadableFile(f"{self.label} is a binary file, not a CSV text file")
            self.marks[0] = False  # the header's cells were made storable by `recognise`
        # else the first line is already data (a do-not-mail list without a header):
        # its marks stay, and `rows()` cleans it, or rejects it for a NUL, like any row.
        self.form = form
        return form

    def rows(self) -> Iterator[Row]:
        """Every row after the header, in the file's order; blank lines left out."""
        assert self.form is not None, "header() first"
        reader, marks = self.reader, self.marks
        width, read = self.form.width, self.form.read
        cells_of = reader if self.first is None else itertools.chain((self.first,), reader)
        for cells in cells_of:
            line = reader.line_num
            if marks[0]:
                # Every field loses its control characters, through the same
                # storable() as Slack input; a NUL rejects the row.
                marks[0] = False
                if marks[1]:
                    marks[1] = False
                    yield _rejected(line, "holds a NUL character (a binary or damaged line)")
                    continue
                cells = [storable(cell) for cell in cells]
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue  # blank line
            if len(cells) != width:
                yield _rejected(line, f"expected {width} fields, found {len(cells)}")
                continue
            try:
                kind, raw, name, company, reason, note = read(cells)
                email = normalise(raw)
            except RowRejected as exc:
                yield _rejected(line, str(exc))
                continue
            except InvalidAddress as exc:
                yield _rejected(line, f"invalid address: {exc.reason}")
                continue
            if len(name) > FIELD_LIMIT or len(company) > FIELD_LIMIT:
                yield _rejected(line, f"name or company longer than {FIELD_LIMIT} characters")
                continue
            yield line, kind, email, name, company, reason, note

    def unreadable(self, exc: UnicodeDecodeError | csv.Error) -> UnreadableFile:
        """What to tell the person about a file that stopped decoding or parsing."""
        encoding = self.opened.encoding
        if isinstance(exc, UnicodeDecodeError):
            hint = (
                "it may be CP932 (Shift_JIS) from Excel: import it again with --encoding cp932, "
                "or save it as CSV UTF-8"
                if encoding.startswith("utf")
                else "save it as CSV UTF-8 and import it again"
            )
            line = csvfile.first_undecodable_line(self.opened.text, encoding)
            return UnreadableFile(
                f"{self.label} is not {csvfile.display_name(encoding)} text (line {line}): {hint}"
            )
        return UnreadableFile(
            f"{self.label} is malformed or truncated at line {self.reader.line_num}: {exc}"
        )


def _rejected(line: int, why: str) -> Row:
    return line, REJECTED, why, "", "", "", ""


def _read_header(
    reader: Any, label: str, columns: dict[str, list[str]] | None, do_not_mail: bool
) -> tuple[Format, list[str] | None]:
    """The file's format, and its first row if that is already data (a
    do-not-mail list of one address a line has no header)."""
    first = next(reader, None)
    if first is None:
        raise UnreadableFile(f"{label} is empty: expected a header line such as email,name,company")
    if do_not_mail and len(first) == 1:
        try:
            normalise(restore(storable(first[0])))
        except InvalidAddress:
            pass
        else:
            return address_list(label), first
    return recognise(first, label, columns=columns, do_not_mail=do_not_mail), None


# --- the second process --------------------------------------------------------------------


def pipelined(
    path: Path,
    opened: csvfile.Opened,
    label: str,
    columns: dict[str, list[str]] | None,
    do_not_mail: bool,
) -> Iterator[Row]:
    """`Source(opened, label).rows()`, read by a second process from `path`
    (which `opened` has open). Raises what `rows()` would (UnreadableFile
    for an undecodable or malformed file, with the same line), or
    ImportFailed if the worker stopped otherwise; the worker is gone when
    this generator ends, however it ends."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    _widen(send)
    job = (
        str(path),
        opened.encoding,
        opened.controls,
        opened.identity,
        label,
        columns,
        do_not_mail,
    )
    worker = context.Process(
        target=_work, args=(send, job), name="countersign-import-reader", daemon=True
    )
    worker.start()
    send.close()  # the worker holds the only writing end: its end is our EOFError
    finished = False
    try:
        while True:
            try:
                kind, payload = receive.recv()
            except (EOFError, OSError):  # OSError: it ended in the middle of a batch
                worker.join(_JOIN_SECONDS)
                raise ImportFailed(
                    f"the process reading {label} stopped before the end of the file "
                    f"(exit code {worker.exitcode})"
                ) from None
            if kind == "rows":
                yield from payload
            elif kind == "done":
                finished = True
                return
            elif kind == "unreadable":
                raise UnreadableFile(payload)
            else:
                raise ImportFailed(f"the process reading {label} failed: {payload}")
    finally:
        receive.close()
        if finished:
            worker.join(_JOIN_SECONDS)
        if worker.is_alive():
            worker.kill()
            worker.join()
        worker.close()


def _widen(connection: Any) -> None:
    """A pipe that holds several batches, so that the worker reads on while the
    importer writes the last one to the database (Linux's default pipe holds
    64 KB, about one batch: the two processes would mostly take turns)."""
    try:
        import fcntl
    except ImportError:  # not a POSIX system
        return
    setsize = getattr(fcntl, "F_SETPIPE_SZ", None)  # Linux only
    if setsize is None:
        return
    with contextlib.suppress(OSError):  # the system's limit is lower: the default pipe works
        fcntl.fcntl(connection.fileno(), setsize, PIPE_BYTES)


def _work(send: Any, job: tuple[Any, ...]) -> None:
    """The worker: read the file, send its rows in batches, then ("done", None)."""
    path, encoding, controls, identity, label, columns, do_not_mail = job
    try:
        with Path(path).open("rb") as handle:
            # The worker reads the file again: it must be the one whose
            # encoding and control characters were decided.
            if identity is None or csvfile.identity(handle) != tuple(identity):
                raise UnreadableFile(f"{label} changed while it was being imported")
            text = csvfile.text_of(handle, encoding)
            opened = csvfile.Opened(text, encoding, controls, csvfile.identity(handle))
            source = Source(opened, label)
            try:
                source.header(columns, do_not_mail)
                rows = source.rows()
                while batch := list(itertools.islice(rows, BATCH)):
                    send.send(("rows", batch))
            except (UnicodeDecodeError, csv.Error) as exc:
                raise source.unreadable(exc) from exc
        send.send(("done", None))
    except UnreadableFile as exc:
        send.send(("unreadable", str(exc)))
    except Exception as exc:  # anything else is told to the importer
        send.send(("failed", f"{type(exc).__name__}: {exc}"))
    finally:
        send.close()
