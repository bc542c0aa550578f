"""Line-oriented local files (``.txt``, ``.csv``/``.tsv``, ``.jsonl``): read in binary, one line at a time.

Each line is decoded on its own, so one bad line (not UTF-8, not JSON, a CSV row with too many fields) becomes
one :class:`BadRow`, which the reader turns into a rejected record with the line number and the reason, and the
rest of the file is still read. (``datasets``' text/csv/json builders decode whole blocks: one bad byte stops
the run with ``UnicodeDecodeError``, and an empty file raises pandas' ``EmptyDataError``.) Memory stays bounded:
nothing but the current line (or CSV record) is held.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import json
import lzma
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from hf_pinecone.errors import ConfigurationError

__all__ = [
    "LINE_FORMATS",
    "BadRow",
    "compression_suffix",
    "count_lines",
    "header_of_csv",
    "is_blank_file",
    "looks_like_json_lines",
    "read_lines_file",
]

LINE_FORMATS = {".txt": "text", ".text": "text", ".csv": "csv", ".tsv": "csv", ".jsonl": "json", ".ndjson": "json"}
"""Suffixes read here (``.json`` too when it holds JSON lines); other formats go through ``datasets``."""

_OPENERS: dict[str, Callable[[Path], IO[bytes]]] = {
    ".gz": lambda p: cast(IO[bytes], gzip.open(p, "rb")),  # noqa: SIM115 - the caller closes it
    ".bz2": lambda p: bz2.open(p, "rb"),  # noqa: SIM115
    ".xz": lambda p: lzma.open(p, "rb"),  # noqa: SIM115
}
_BLOCK = 1 << 20
_FIX_ENCODING = "re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
# csv's default limit is 128 KiB per field; a long document in one cell is legitimate.
_FIELD_LIMIT = 2**31 - 1


@dataclass(frozen=True, slots=True)
class BadRow:
    """A line that could not be read as a record: it is rejected with ``reason``, and reading goes on.

    Attributes:
        reason: What is wrong, with the line number and a fix.
        text: The raw line, decoded with backslash escapes for bytes that are not UTF-8 (for the errors file).
    """

    reason: str
    text: str | None


def compression_suffix(path: Path) -> str | None:
    """The compression suffix of ``path`` that is read here (``.gz``, ``.bz2``, ``.xz``), else ``None``."""
    suffix = path.suffix.lower()
    return suffix if suffix in _OPENERS else None


def _open(path: Path) -> IO[bytes]:
    opener = _OPENERS.get(compression_suffix(path) or "")
    return opener(path) if opener is not None else path.open("rb")


def is_blank_file(path: Path) -> bool:
    """True when the file holds nothing but whitespace (or nothing at all)."""
    with _open(path) as fh:
        while block := fh.read(_BLOCK):
            if block.strip():
                return False
    return True


def count_lines(path: Path, stop_after: int | None = None) -> int | None:
    """Number of lines of an uncompressed file (newline bytes, plus an unterminated last line), for progress.

    Counting reads blocks at disk speed (no decoding); it stops once ``stop_after`` lines are counted.
    Compressed files are not counted (``None``): that would mean decompressing them twice.
    """
    if compression_suffix(path) is not None:
        return None
    count = 0
    last = b"\n"
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK):
            count += block.count(b"\n")
            last = block[-1:]
            if stop_after is not None and count >= stop_after:
                return count
    return count + (0 if last == b"\n" else 1)


def _decoded(fh: IO[bytes], name: str) -> Iterator[tuple[int, str | BadRow]]:
    """(1-based line number, the line without its line break, or a :class:`BadRow` when it is not UTF-8)."""
    for number, raw in enumerate(fh, start=1):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]  # a UTF-8 byte-order mark (Excel writes one) is not part of the first value
        raw = raw.rstrip(b"\r\n")
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield number, BadRow(
                f"line {number} of {name} is not valid UTF-8 ({exc.reason} at byte {exc.start}); the line was "
                f"skipped and the rest of the file read; {_FIX_ENCODING}",
                raw.decode("utf-8", "backslashreplace"),
            )


def _text_rows(fh: IO[bytes], name: str) -> Iterator[Any]:
    for _, line in _decoded(fh, name):
        if isinstance(line, BadRow) or line.strip():  # blank lines separate paragraphs: not records
            yield line if isinstance(line, BadRow) else {"text": line}


def _json_rows(fh: IO[bytes], name: str) -> Iterator[Any]:
    for number, line in _decoded(fh, name):
        if isinstance(line, BadRow):
            yield line
            continue
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            yield BadRow(f"line {number} of {name} is not valid JSON ({exc}); write one JSON object per line", line)
            continue
        if not isinstance(value, dict):
            yield BadRow(
                f"line {number} of {name} is a JSON {type(value).__name__}, not an object; write one "
                'JSON object per line, e.g. {"text": "..."}',
                line,
            )
            continue
        yield value


def _cell(value: str) -> Any:
    """A CSV cell as pandas' reader types it: empty -> None, integers, floats and booleans parsed."""
    if value == "":
        return None
    if value in ("True", "true", "TRUE", "False", "false", "FALSE"):
        return value.lower() == "true"
    try:
        return int(value)
    except ValueError:
        pass
    try:
        number = float(value)
    except ValueError:
        return value
    return number if number == number else value  # "nan" stays a string: Pinecone stores no NaN


def _csv_rows(fh: IO[bytes], name: str, delimiter: str, text_column: str) -> Iterator[Any]:
    pending: list[BadRow] = []
    physical = [0]

    def good_lines() -> Iterator[str]:
        for number, line in _decoded(fh, name):
            physical[0] = number
            if isinstance(line, BadRow):
                if number == 1:
                    raise ConfigurationError(
                        f"the header line of {name} is not valid UTF-8; {_FIX_ENCODING}, then run again"
                    )
                pending.append(line)
                continue
            yield line + "\n"

    csv.field_size_limit(_FIELD_LIMIT)
    reader = csv.reader(good_lines(), delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        return
    header = [column.strip() for column in header]
    keep_as_text = {text_column} if text_column in header else set()
    for values in reader:
        yield from pending
        pending.clear()
        if not any(value.strip() for value in values):
            continue  # a blank line
        if len(values) > len(header):
            yield BadRow(
                f"line {physical[0]} of {name} has {len(values)} fields but the header has {len(header)}; "
                "quote values that contain the delimiter",
                delimiter.join(values),
            )
            continue
        row: dict[str, Any] = {}
        for column, value in zip(header, values + [""] * (len(header) - len(values)), strict=True):
            row[column] = value if column in keep_as_text else _cell(value)
        yield row
    yield from pending


def header_of_csv(path: Path, delimiter: str) -> list[str] | None:
    """The column names of a CSV file (its first line), ``None`` when it cannot be read as UTF-8."""
    with _open(path) as fh:
        first = fh.readline()
    if first.startswith(b"\xef\xbb\xbf"):
        first = first[3:]
    try:
        line = first.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return [column.strip() for column in next(csv.reader([line], delimiter=delimiter), [])]


def read_lines_file(
    path: Path, kind: str, *, delimiter: str = ",", text_column: str = "text"
) -> Generator[Any, None, None]:
    """Stream the rows of a line-oriented file: mappings, and :class:`BadRow` for lines that cannot be read.

    Args:
        path: The file (``.gz``, ``.bz2`` or ``.xz`` compressed too).
        kind: ``"text"`` (each non-blank line is ``{"text": line}``), ``"csv"`` or ``"json"`` (JSON lines).
        delimiter: The CSV delimiter.
        text_column: The CSV column kept as a string (other cells are typed: numbers, booleans, empty -> None).
    """
    name = path.name
    with _open(path) as fh:
        if kind == "text":
            yield from _text_rows(fh, name)
        elif kind == "json":
            yield from _json_rows(fh, name)
        else:
            yield from _csv_rows(fh, name, delimiter, text_column)


def looks_like_json_lines(path: Path) -> bool:
    """Whether a ``.json`` file holds JSON lines (its first non-blank line is a whole JSON object)."""
    with _open(path) as fh:
        for raw in fh:
            if raw.strip():
                try:
                    return isinstance(json.loads(raw), dict)
                except ValueError:
                    return False
    return False
