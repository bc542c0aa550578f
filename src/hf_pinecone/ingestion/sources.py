"""Where records come from: local files (streamed through ``datasets``), Hugging Face datasets, iterables.

:class:`Reader` turns a source into chunks of prepared, deduplicated records (first occurrence wins) with the
rows it rejected; it runs in a worker thread, one call at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from hf_pinecone.errors import ConfigurationError, redact
from hf_pinecone.ingestion._dedup import DigestSet, id_digest
from hf_pinecone.ingestion.records import TEXT_KEY, Record, RecordPreparer
from hf_pinecone.ingestion.report import RejectedRecord

__all__ = ["Chunk", "Reader", "Source", "open_source"]

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


def _load_file(path: Path) -> Any:
    """Open a local file as a streaming ``datasets.IterableDataset`` (bounded memory whatever its size)."""
    if not any(ch in str(path) for ch in "*?[") and not path.exists():
        raise ConfigurationError(f"file not found: {path}")
    builder, kwargs = _file_builder(path)
    import datasets

    try:
        return datasets.load_dataset(builder, data_files=str(path), split="train", streaming=True, **kwargs)
    except Exception as exc:  # datasets raises many unrelated types for unreadable files
        raise ConfigurationError(f"cannot read {path} as {builder}: {redact(str(exc))}") from exc


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
    source: Source, column: str | None, dataset_split: str | None
) -> tuple[Iterator[Any], int | None, str | None]:
    """Return (row iterator, row count if known, effective text column)."""
    if isinstance(source, (str, Path)):
        path = Path(source).expanduser()
        dataset = _load_file(path)
        if dataset_split is not None:
            raise ConfigurationError("split applies to Hugging Face datasets, not to local files")
        names = _column_names(dataset)
        if column is None and names is not None and _TEXT_KEY not in names:
            raise ConfigurationError(
                f"{path} has no 'text' column; choose the text column with column= (one of: {', '.join(names)})"
            )
        if column is not None and names is not None and column not in names:
            raise ConfigurationError(f"column {column!r} not found in {path}; it has: {', '.join(names)}")
        rows = _iter_rows(dataset, 1024)
        if _file_builder(path)[0] == "text":
            # Blank lines separate paragraphs in text files; they are not records.
            rows = (row for row in rows if str(row.get(_TEXT_KEY) or "").strip())
        return rows, _row_count(dataset, path), column
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
