"""Streaming readers for CSV and JSON-lines files.

Files are read line by line, so memory stays flat however large the file is. Each line is
decoded as UTF-8 (a byte-order mark is dropped) and, when that fails, as Windows-1252/Latin-1,
so a file exported in a legacy encoding loads instead of failing. A line that cannot be parsed
becomes a `SourceRow` with an error and its raw text, so the caller can keep it as a reject.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

MAX_LINE_BYTES = 1_000_000
csv.field_size_limit(MAX_LINE_BYTES)


@dataclass(slots=True)
class SourceRow:
    """One row of a source file: its position, parsed data or an error, and its raw text."""

    position: int
    data: dict[str, Any] | None
    raw: str
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


FALLBACKS = ("utf-8", "cp1252", "latin-1")


def decode_line(line: bytes, declared: str = "utf-8") -> tuple[str, str | None]:
    """Decode one line in the declared encoding, else UTF-8, Windows-1252 or Latin-1.

    Returns the text and, when the declared encoding did not fit, the encoding used.

    >>> decode_line("Müller".encode("latin-1"))
    ('Müller', 'cp1252')
    >>> decode_line("Müller".encode("latin-1"), "latin-1")
    ('Müller', None)
    >>> decode_line(b"plain")
    ('plain', None)
    """
    for encoding in (declared, *FALLBACKS):
        try:
            text = line.decode(encoding)
        except UnicodeDecodeError:
            continue
        return text, None if encoding == declared else encoding
    # Unreachable: Latin-1 decodes every byte.
    return line.decode("latin-1"), "latin-1"  # pragma: no cover


def _lines(handle: BinaryIO, declared: str = "utf-8") -> Iterator[tuple[int, str, str | None]]:
    for number, line in enumerate(handle, start=1):
        chunk = line[3:] if number == 1 and line.startswith(b"\xef\xbb\xbf") else line
        text, fallback = decode_line(chunk, declared)
        yield number, text, fallback


def read_jsonl(handle: BinaryIO, encoding: str = "utf-8") -> Iterator[SourceRow]:
    r"""Rows of a JSON-lines file; blank lines are skipped.

    >>> import io
    >>> rows = list(read_jsonl(io.BytesIO(b'{"id": 1}\n\n{oops\n[1]\n')))
    >>> [(r.position, r.data, r.error is None) for r in rows]
    [(1, {'id': 1}, True), (3, None, False), (4, None, False)]
    """
    yield from _jsonl_rows(_lines(handle, encoding))


def _jsonl_rows(lines: Iterable[tuple[int, str, str | None]]) -> Iterator[SourceRow]:
    for number, text, fallback in lines:
        stripped = text.strip()
        if not stripped:
            continue
        if len(stripped) > MAX_LINE_BYTES:
            yield SourceRow(number, None, stripped[:2000], f"line {number} is too long")
            continue
        try:
            data = orjson.loads(stripped)
        except orjson.JSONDecodeError as exc:
            yield SourceRow(number, None, stripped, f"line {number}: malformed JSON: {exc}")
            continue
        if not isinstance(data, dict):
            yield SourceRow(number, None, stripped, f"line {number}: expected a JSON object")
            continue
        warnings = [f"line {number} decoded as {fallback}"] if fallback else []
        yield SourceRow(number, data, stripped, warnings=warnings)


class _LineFeed:
    """Feeds decoded lines to the csv module and remembers the raw text of the current row."""

    def __init__(self, lines: Iterator[tuple[int, str, str | None]]) -> None:
        self._lines = lines
        self.buffer: list[str] = []
        self.fallback: str | None = None
        self.first_line = 1
        self.line = 0

    def __iter__(self) -> Iterator[str]:
        for number, text, fallback in self._lines:
            if not self.buffer:
                self.first_line = number
            self.line = number
            self.buffer.append(text)
            self.fallback = self.fallback or fallback
            yield text

    def take(self) -> tuple[int, str, str | None]:
        raw = "".join(self.buffer).rstrip("\r\n")
        taken = (self.first_line, raw, self.fallback)
        self.buffer = []
        self.fallback = None
        return taken


def _csv_rows(
    lines: Iterator[tuple[int, str, str | None]], header: list[str] | None, delimiter: str
) -> Iterator[SourceRow]:
    """Rows of CSV lines; without a ``header``, the first record is the header."""
    feed = _LineFeed(lines)
    reader = csv.reader(feed, delimiter=delimiter)
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            position, raw, _ = feed.take()
            yield SourceRow(position, None, raw[:2000], f"line {position}: malformed CSV: {exc}")
            continue
        position, raw, fallback = feed.take()
        if header is None:
            header = [h.strip() for h in values]
            continue
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            message = f"line {position}: expected {len(header)} fields, found {len(values)}"
            yield SourceRow(position, None, raw, message)
            continue
        warnings = [f"line {position} decoded as {fallback}"] if fallback else []
        yield SourceRow(position, dict(zip(header, values, strict=True)), raw, warnings=warnings)


def read_csv(
    handle: BinaryIO, delimiter: str = ",", encoding: str = "utf-8"
) -> Iterator[SourceRow]:
    r"""Rows of a CSV file with a header line, as mappings of column name to text.

    >>> import io
    >>> data = b"id,name\n1,Acme\n2,Foo,extra\n"
    >>> [(r.position, r.data, r.error) for r in read_csv(io.BytesIO(data))]
    [(2, {'id': '1', 'name': 'Acme'}, None), (3, None, 'line 3: expected 2 fields, found 3')]
    """
    yield from _csv_rows(_lines(handle, encoding), None, delimiter)


@dataclass(slots=True)
class RowBlock:
    """Consecutive whole records of a file, undecoded, for a worker process to parse.

    ``first_line`` is the number of the block's first line in the file; ``header`` the CSV
    header (None for JSON lines). A block never ends inside a record.
    """

    fmt: str
    first_line: int
    lines: list[bytes]
    header: list[str] | None = None


def parse_block(block: RowBlock, delimiter: str = ",", encoding: str = "utf-8") -> list[SourceRow]:
    """The rows of a block, exactly as reading the whole file gives them."""
    numbered = (
        (number, *decode_line(line, encoding))
        for number, line in enumerate(block.lines, start=block.first_line)
    )
    if block.fmt == "jsonl":
        return list(_jsonl_rows(numbered))
    return list(_csv_rows(numbered, block.header, delimiter))


def read_blocks(
    handle: BinaryIO,
    fmt: str,
    delimiter: str = ",",
    encoding: str = "utf-8",
    lines_per_block: int = 1000,
) -> Iterator[RowBlock]:
    r"""Cut a file into blocks of whole records, reading as little as possible here.

    JSON lines are records; CSV records can span lines (a quoted field with a line break), so
    the csv module finds where each ends: over the lines decoded as Latin-1, which keeps every
    ASCII character (quote, delimiter, line break) where it is whatever the real encoding, and
    never fails. The parsing proper, with the file's encoding, is `parse_block`'s.

    >>> import io
    >>> data = b'id,note\n1,"two\nlines"\n2,x\n'
    >>> blocks = read_blocks(io.BytesIO(data), "csv", lines_per_block=1)
    >>> [(b.first_line, b.lines, b.header) for b in blocks]
    [(2, [b'1,"two\n', b'lines"\n'], ['id', 'note']), (4, [b'2,x\n'], ['id', 'note'])]
    """
    first = handle.readline()
    if not first:
        return
    if first.startswith(b"\xef\xbb\xbf"):
        first = first[3:]
    if fmt == "jsonl":
        lines = [first]
        number = 1
        for line in handle:
            lines.append(line)
            if len(lines) >= lines_per_block:
                yield RowBlock(fmt, number, lines)
                number += len(lines)
                lines = []
        if lines:
            yield RowBlock(fmt, number, lines)
        return
    block: list[bytes] = []

    def feed() -> Iterator[str]:
        block.append(first)
        yield first.decode("latin-1")
        for line in handle:
            block.append(line)
            yield line.decode("latin-1")

    reader = csv.reader(feed(), delimiter=delimiter)
    header: list[str] | None = None
    number = 1
    while True:
        try:
            next(reader)
        except StopIteration:
            break
        except csv.Error:
            if header is None:
                # Before the header: the worker reports it, and the next record is the header.
                yield RowBlock(fmt, number, list(block), None)
                number += len(block)
                block.clear()
                continue
        else:
            if header is None:
                header = _header_of(block, delimiter, encoding)
                number += len(block)
                block.clear()
                continue
        if len(block) >= lines_per_block:
            yield RowBlock(fmt, number, list(block), header)
            number += len(block)
            block.clear()
    if block:
        yield RowBlock(fmt, number, list(block), header)


def _header_of(lines: list[bytes], delimiter: str, encoding: str) -> list[str]:
    """The column names of a CSV header record, decoded as its data lines are."""
    texts = [decode_line(line, encoding)[0] for line in lines]
    try:
        values = next(csv.reader(texts, delimiter=delimiter), [])
    except csv.Error:  # pragma: no cover - the Latin-1 pass read it; only a size limit differs
        values = []
    return [h.strip() for h in values]


def detect_format(path: Path, declared: str | None) -> str:
    """The file format: what the mapping declares, else the file's extension."""
    if declared:
        return declared
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".ndjson", ".json"}:
        return "jsonl"
    return "csv"


def read_file(
    path: Path, fmt: str, delimiter: str = ",", encoding: str = "utf-8"
) -> Iterator[SourceRow]:
    """Stream the rows of a CSV or JSON-lines file, in its declared encoding when it fits."""
    with path.open("rb") as handle:
        if fmt == "jsonl":
            yield from read_jsonl(handle, encoding)
        else:
            yield from read_csv(handle, delimiter, encoding)
