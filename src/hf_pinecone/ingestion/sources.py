"""Where records come from: local files (streamed), Hugging Face datasets, iterables.

Line-oriented files (``.txt``, ``.csv``/``.tsv``, ``.jsonl``) are read by :mod:`~hf_pinecone.ingestion.files`
(a bad line is rejected, the rest read); ``.parquet`` and JSON arrays stream through ``datasets``.

:class:`Reader` turns a source into chunks of prepared, deduplicated records (first occurrence wins) with the
rows it rejected; it runs in a worker thread, one call at a time.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from hf_pinecone.errors import ConfigurationError, redact
from hf_pinecone.ingestion._dedup import DigestSet, id_digest
from hf_pinecone.ingestion.files import (
    LINE_FORMATS,
    BadRow,
    compression_suffix,
    count_lines,
    header_of_csv,
    is_blank_file,
    looks_like_json_lines,
    read_lines_file,
)
from hf_pinecone.ingestion.records import TEXT_KEY, Record, RecordPreparer
from hf_pinecone.ingestion.report import RejectedRecord

__all__ = ["Chunk", "Reader", "Source", "check_file", "open_source"]

_TEXT_KEY = TEXT_KEY
_FILE_BUILDERS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "json",
    ".json": "json",
    ".ndjson": "json",
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "text",
    ".text": "text",
}
_COMPRESSION_SUFFIXES = {".gz", ".bz2", ".xz", ".zst", ".zstd", ".lz4"}

Source = Union[str, Path, Iterable[Any]]  # noqa: UP007 - a runtime alias on Python 3.10


@dataclass(slots=True)
class Chunk:
    """Prepared records of one chunk, with what the reader itself rejected or dropped as duplicates."""

    records: list[Record] = field(default_factory=list)
    rejected: list[RejectedRecord] = field(default_factory=list)
    read: int = 0
    duplicates: int = 0


def _file_builder(path: Path) -> tuple[str, dict[str, Any]]:
    suffixes = [s.lower() for s in path.suffixes]
    while suffixes and suffixes[-1] in _COMPRESSION_SUFFIXES:
        suffixes.pop()
    ext = suffixes[-1] if suffixes else ""
    builder = _FILE_BUILDERS.get(ext)
    if builder is None:
        known = ", ".join(sorted(_FILE_BUILDERS))
        raise ConfigurationError(f"cannot read {path}: unknown file type {ext or '(none)'!r}; expected one of {known}")
    return builder, ({"sep": "\t"} if ext == ".tsv" else {})


def check_file(path: Path) -> str:
    """Check that ``path`` is an ingestible file before anything else is done; return its builder.

    Raises:
        ConfigurationError: The file is missing, of an unknown type, or empty (nothing to ingest).
    """
    if any(ch in str(path) for ch in "*?["):
        return _file_builder(path)[0]  # a glob: datasets expands it
    if not path.exists():
        raise ConfigurationError(f"file not found: {path}")
    if path.is_dir():
        raise ConfigurationError(
            f"{path} is a folder; give a file, or --dataset / a datasets.Dataset for a dataset folder"
        )
    builder = _file_builder(path)[0]
    if builder != "parquet" and is_blank_file(path):
        raise ConfigurationError(
            f"{path} is empty: nothing to ingest (check the path, or that the file was fully written)"
        )
    kind = _line_kind(path, builder)
    if kind is not None:
        rows = read_lines_file(path, kind, delimiter=_delimiter(path))
        try:
            first = next(rows, None)  # reads the header and one record at most
        finally:
            rows.close()
        if first is None:
            raise ConfigurationError(_no_records(path, kind))
    return builder


def _delimiter(path: Path) -> str:
    return "\t" if ".tsv" in [s.lower() for s in path.suffixes] else ","


def _no_records(path: Path, kind: str) -> str:
    what = "has a header but no rows" if kind == "csv" else "has no records (only blank lines)"
    return f"{path} {what}: nothing to ingest"


def _line_kind(path: Path, builder: str) -> str | None:
    """How :mod:`~hf_pinecone.ingestion.files` reads ``path`` (``text``/``csv``/``json``); ``None``: datasets."""
    if any(ch in str(path) for ch in "*?["):
        return None
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSION_SUFFIXES:
        if compression_suffix(path) is None:
            return None  # zstd/lz4: datasets (fsspec) decompresses them
        suffixes.pop()
    ext = suffixes[-1] if suffixes else ""
    if ext in LINE_FORMATS:
        return LINE_FORMATS[ext]
    if ext == ".json" and looks_like_json_lines(path):
        return "json"
    return None


def _load_file(path: Path) -> Any:
    """Open a local file as a streaming ``datasets.IterableDataset`` (bounded memory whatever its size)."""
    builder, kwargs = _file_builder(path)
    import datasets

    try:
        return datasets.load_dataset(builder, data_files=str(path), split="train", streaming=True, **kwargs)
    except Exception as exc:  # datasets raises many unrelated types for unreadable files
        detail = " ".join(redact(str(exc)).split()) or type(exc).__name__
        raise ConfigurationError(f"cannot read {path} as {builder}: {detail}") from exc


def _row_count(source: Any, path: Path | None) -> int | None:
    """Number of rows, when it is cheap to know (sized iterables, parquet footers); for the progress bar."""
    if path is not None:
        if path.suffix.lower() in (".parquet", ".pq") and path.exists():
            try:
                import pyarrow.parquet as pq

                return int(pq.ParquetFile(path).metadata.num_rows)
            except Exception:  # the count is cosmetic; reading will report real problems
                return None
        return None
    if hasattr(source, "__len__"):
        try:
            return len(source)
        except TypeError:
            return None
    return None


def _open_lines_file(
    path: Path, kind: str, column: str | None, limit: int | None
) -> tuple[Iterator[Any], int | None, str | None]:
    text_column = column or _TEXT_KEY
    delimiter = _delimiter(path)
    if kind == "csv":
        names = header_of_csv(path, delimiter)
        if names is not None:
            if column is None and _TEXT_KEY not in names:
                raise ConfigurationError(
                    f"{path} has no 'text' column; choose the text column with column= / --column "
                    f"(one of: {', '.join(names)})"
                )
            if column is not None and column not in names:
                raise ConfigurationError(f"column {column!r} not found in {path}; it has: {', '.join(names)}")
    elif kind == "text" and column is not None and column != _TEXT_KEY:
        raise ConfigurationError(f"{path} is a text file: each line is a record; leave out column= / --column")
    rows = read_lines_file(path, kind, delimiter=delimiter, text_column=text_column)
    first = next(rows, None)
    if first is None:
        raise ConfigurationError(_no_records(path, kind))
    if kind == "json" and not isinstance(first, BadRow):
        if column is None and _TEXT_KEY not in first:
            raise ConfigurationError(
                f"{path} has no 'text' column; choose the text column with column= / --column "
                f"(one of: {', '.join(map(str, first))})"
            )
        if column is not None and column not in first:
            raise ConfigurationError(f"column {column!r} not found in {path}; it has: {', '.join(map(str, first))}")
    lines = count_lines(path, limit)
    total = None if lines is None else max(0, lines - (1 if kind == "csv" else 0))
    return itertools.chain([first], rows), total, None if kind == "text" else column


def _column_names(source: Any) -> list[str] | None:
    names = getattr(source, "column_names", None)
    if isinstance(names, list) and all(isinstance(n, str) for n in names):
        return names
    return None


def _is_hf_dataset(source: Any) -> bool:
    module = type(source).__module__
    return module.startswith("datasets.") and hasattr(source, "iter")


def _iter_rows(source: Any, batch_size: int) -> Iterator[Any]:
    """Yield rows; Hugging Face datasets are read column-wise in batches (much cheaper than row by row)."""
    if _is_hf_dataset(source):
        for batch in source.iter(batch_size=batch_size):
            keys = list(batch)
            columns = [batch[k] for k in keys]
            for values in zip(*columns, strict=False):
                yield dict(zip(keys, values, strict=False))
    else:
        yield from source


def open_source(
    source: Source, column: str | None, dataset_split: str | None, limit: int | None = None
) -> tuple[Iterator[Any], int | None, str | None]:
    """Return (row iterator, row count if known, effective text column).

    Rows are mappings or strings, and :class:`~hf_pinecone.ingestion.files.BadRow` for lines of a local file
    that could not be read (the reader rejects them with their reason). ``limit`` only bounds the counting of
    a file's lines for the progress bar.
    """
    if isinstance(source, (str, Path)):
        path = Path(source).expanduser()
        if dataset_split is not None:
            raise ConfigurationError("split applies to Hugging Face datasets, not to local files")
        builder = check_file(path)
        kind = _line_kind(path, builder)
        if kind is not None:
            return _open_lines_file(path, kind, column, limit)
        dataset = _load_file(path)
        names = _column_names(dataset)
        if column is None and names is not None and _TEXT_KEY not in names:
            raise ConfigurationError(
                f"{path} has no 'text' column; choose the text column with column= (one of: {', '.join(names)})"
            )
        if column is not None and names is not None and column not in names:
            raise ConfigurationError(f"column {column!r} not found in {path}; it has: {', '.join(names)}")
        rows = _iter_rows(dataset, 1024)
        if builder == "text":
            # Blank lines separate paragraphs in text files; they are not records.
            rows = (row for row in rows if str(row.get(_TEXT_KEY) or "").strip())
        total = _row_count(dataset, path)
        if total == 0:
            raise ConfigurationError(f"{path} has no rows: nothing to ingest")
        return rows, total, column
    if isinstance(source, bytes):
        raise ConfigurationError("source must be a path, a dataset or an iterable of texts/records, not bytes")
    if _is_hf_dataset(source):
        names = _column_names(source)
        if names is not None:
            if column is None and _TEXT_KEY not in names:
                raise ConfigurationError(
                    f"the dataset has no 'text' column; choose one with column= (one of: {', '.join(names)})"
                )
            if column is not None and column not in names:
                raise ConfigurationError(f"column {column!r} not found in the dataset; it has: {', '.join(names)}")
        return _iter_rows(source, 1024), _row_count(source, None), column
    if isinstance(source, Iterable):
        return iter(source), _row_count(source, None), column
    raise ConfigurationError(
        f"cannot ingest from {type(source).__name__}: give a file path, a datasets.Dataset/IterableDataset "
        "or an iterable of strings or records"
    )


class Reader:
    """Turns source rows into deduplicated, validated chunks. Runs in a worker thread, one call at a time."""

    def __init__(self, rows: Iterator[Any], *, preparer: RecordPreparer, limit: int | None, chunk_size: int) -> None:
        self._rows = rows
        self._preparer = preparer
        self._limit = limit
        self._chunk_size = chunk_size
        # 16-byte digests, not texts, in flat arrays: memory stays small even for millions of records.
        self._seen = DigestSet()
        self._row = 0
        self._done = False

    def close(self) -> None:
        """Close the underlying row iterator (files)."""
        close = getattr(self._rows, "close", None)
        if callable(close):
            close()

    def next_chunk(self) -> Chunk | None:
        """The next chunk, or ``None`` at the end of the source (or of ``limit``)."""
        if self._done:
            return None
        chunk = Chunk()
        while len(chunk.records) < self._chunk_size and chunk.read < 4 * self._chunk_size:
            if self._limit is not None and self._row >= self._limit:
                self._done = True
                break
            try:
                row = next(self._rows)
            except StopIteration:
                self._done = True
                break
            index = self._row
            self._row += 1
            chunk.read += 1
            if isinstance(row, BadRow):
                chunk.rejected.append(RejectedRecord(index, None, row.text, row.reason))
                continue
            prepared = self._preparer.prepare(row, index)
            if isinstance(prepared, RejectedRecord):
                chunk.rejected.append(prepared)
            elif self._seen.add(id_digest(prepared.id)):
                chunk.records.append(prepared)
            else:
                chunk.duplicates += 1
        if self._done:
            self.close()
        if chunk.read == 0:
            return None
        return chunk
