"""Pipelined, idempotent, resumable ingestion of texts into a vector store.

Records flow through four stages, a chunk at a time::

    read (thread) -> existence check (fetch) -> embed (endpoint) -> upsert

Several chunks are in flight at once, so embedding requests and upserts overlap; the endpoint client's own
limiter bounds HTTP concurrency and ``max_chunks_in_flight * chunk_size`` bounds the records held in memory.
Ids are derived from the content (:func:`hf_pinecone.ids.content_id`), so a re-run skips what is already
stored and a run killed at any point can simply be started again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import logging
import math
import sys
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Union

import numpy as np
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore

from hf_pinecone.errors import (
    ConfigurationError,
    EndpointAuthError,
    EndpointError,
    EndpointRequestError,
    EndpointUnavailableError,
    HfPineconeError,
    IngestError,
    MetadataTooLargeError,
    PineconeStoreError,
    redact,
)
from hf_pinecone.ids import content_id

__all__ = ["IngestReport", "RejectedRecord", "aingest", "ingest"]

logger = logging.getLogger("hf_pinecone")

#: Pinecone's per-record metadata limit (the stored text counts towards it).
PINECONE_MAX_METADATA_BYTES = 40_960
#: Pinecone's record id length limit.
_MAX_ID_LENGTH = 512
_TEXT_KEY = "text"
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
_REJECTED_SAMPLE = 100

Source = Union[str, Path, Iterable[Any]]  # noqa: UP007 - a runtime alias on Python 3.10


# --------------------------------------------------------------------------------------------------- report
@dataclass(frozen=True)
class RejectedRecord:
    """A record that was not stored, and why.

    Attributes:
        row: 0-based position of the record in the source.
        id: The record's id, when one could be computed.
        text: The record's text, when it was a string.
        reason: Why it was rejected (the endpoint's or the store's own message when they rejected it).
    """

    row: int
    id: str | None
    text: str | None
    reason: str


@dataclass(frozen=True)
class IngestReport:
    """What an ingestion run did.

    ``read == duplicates + already_present + upserted + failed`` when the run completed; after a run-level
    failure the difference is what was left unprocessed.

    Attributes:
        read: Records read from the source (after ``limit``).
        duplicates: Records dropped because an earlier record had the same id (first occurrence wins).
        already_present: Records skipped because their id was already in the index (never with ``force``).
        embedded: Records embedded in this run.
        upserted: Records written to the store in this run.
        failed: Records rejected (bad input, or refused by the endpoint or the store); see ``errors_file``.
        seconds: Wall-clock duration of the run.
        records_per_second: ``read / seconds``: how fast the source was worked through.
        errors_file: JSONL file listing each rejected record (``id``, ``text``, ``reason``, ``row``), or
            ``None`` when nothing was rejected or no file was requested.
        rejected: The first rejected records (at most 100), also when no errors file was requested.
    """

    read: int = 0
    duplicates: int = 0
    already_present: int = 0
    embedded: int = 0
    upserted: int = 0
    failed: int = 0
    seconds: float = 0.0
    records_per_second: float = 0.0
    errors_file: Path | None = None
    rejected: tuple[RejectedRecord, ...] = field(default=(), repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (``rejected`` left out: it is in the errors file)."""
        out = asdict(self)
        out.pop("rejected")
        out["errors_file"] = str(self.errors_file) if self.errors_file else None
        out["seconds"] = round(self.seconds, 3)
        out["records_per_second"] = round(self.records_per_second, 1)
        return out

    def __str__(self) -> str:
        text = (
            f"read {self.read}, duplicates {self.duplicates}, already present {self.already_present}, "
            f"embedded {self.embedded}, upserted {self.upserted}, failed {self.failed} "
            f"in {self.seconds:.1f} s ({self.records_per_second:.0f} records/s)"
        )
        if self.errors_file is not None:
            text += f"; rejected records in {self.errors_file}"
        return text


# --------------------------------------------------------------------------------------------------- reading
@dataclass(slots=True)
class _Record:
    row: int
    id: str
    text: str
    metadata: dict[str, Any]


@dataclass(slots=True)
class _Chunk:
    records: list[_Record]
    rejected: list[RejectedRecord]
    read: int
    duplicates: int


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


def _metadata_value(name: str, value: Any) -> tuple[bool, Any, str | None]:
    """Normalise one metadata value to Pinecone's types: (keep, value, reason_if_rejected)."""
    if value is None:
        return False, None, None  # Pinecone has no null: the field is simply left out
    if isinstance(value, (bool, str)):
        return True, value, None
    if isinstance(value, int):
        return True, value, None
    if isinstance(value, float):
        if math.isfinite(value):
            return True, value, None
        return False, None, f"metadata field {name!r} is {value!r}; Pinecone accepts only finite numbers"
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return True, list(value), None
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _metadata_value(name, value.item())
    kind = type(value).__name__
    return (
        False,
        None,
        f"metadata field {name!r} has unsupported type {kind}; Pinecone accepts string, number, boolean "
        "and list of strings (leave the column out with metadata_columns)",
    )


class _DigestSet:
    """An exact set of 16-byte digests in two flat numpy arrays (open addressing, linear probing).

    A Python ``set`` of ``bytes`` costs ~100 bytes per entry in as many small objects (which also keep heap
    arenas from being returned); here an entry costs 17 bytes at 50% load, in two allocations that are
    released whole when the table doubles.
    """

    def __init__(self, capacity: int = 1024) -> None:
        self._allocate(capacity)

    def _allocate(self, capacity: int) -> None:
        self._keys = np.zeros((capacity, 2), dtype=np.uint64)
        self._used = np.zeros(capacity, dtype=np.bool_)
        self._mask = capacity - 1
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, digest: bytes) -> bool:
        """Add a 16-byte ``digest``; ``False`` when it was already present."""
        hi = int.from_bytes(digest[:8], "little")
        lo = int.from_bytes(digest[8:16], "little")
        keys, used, mask = self._keys, self._used, self._mask
        i = hi & mask
        while used[i]:
            if keys[i, 0] == hi and keys[i, 1] == lo:
                return False
            i = (i + 1) & mask
        keys[i, 0] = hi
        keys[i, 1] = lo
        used[i] = True
        self._size += 1
        if 2 * self._size > mask + 1:
            self._grow()
        return True

    def _grow(self) -> None:
        old_keys, slots = self._keys, np.flatnonzero(self._used)
        self._allocate(2 * (self._mask + 1))
        # Re-insert a slice at a time: one Python object per entry at once would cost ~100 bytes each, the very
        # peak this class exists to avoid.
        for start in range(0, len(slots), self._REHASH_SLICE):
            for hi, lo in old_keys[slots[start : start + self._REHASH_SLICE]].tolist():
                self.add(int(hi).to_bytes(8, "little") + int(lo).to_bytes(8, "little"))

    _REHASH_SLICE = 4096


class _Reader:
    """Turns source rows into deduplicated, validated chunks. Runs in a worker thread, one call at a time."""

    def __init__(
        self,
        rows: Iterator[Any],
        *,
        column: str | None,
        id_column: str | None,
        metadata_columns: Sequence[str] | None,
        namespace: str | None,
        limit: int | None,
        chunk_size: int,
        max_metadata_bytes: int | None,
    ) -> None:
        self._rows = rows
        self._column = column
        self._id_column = id_column
        self._metadata_columns = list(metadata_columns) if metadata_columns is not None else None
        self._namespace = namespace
        self._limit = limit
        self._chunk_size = chunk_size
        self._max_metadata_bytes = max_metadata_bytes
        # 16-byte digests, not texts, in flat arrays: memory stays small even for millions of records.
        self._seen = _DigestSet()
        self._row = 0
        self._done = False
        self._warned_text_column = False

    def close(self) -> None:
        close = getattr(self._rows, "close", None)
        if callable(close):
            close()

    def next_chunk(self) -> _Chunk | None:
        if self._done:
            return None
        chunk = _Chunk(records=[], rejected=[], read=0, duplicates=0)
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
            self._take(index, row, chunk)
        if self._done:
            self.close()
        if chunk.read == 0:
            return None
        return chunk

    def _take(self, index: int, row: Any, chunk: _Chunk) -> None:
        text, metadata, record_id, problem = self._parse(row)
        if problem is not None:
            chunk.rejected.append(RejectedRecord(index, record_id, text, problem))
            return
        assert text is not None and record_id is not None  # guaranteed when problem is None
        digest = hashlib.blake2b(record_id.encode("utf-8"), digest_size=16).digest()
        if not self._seen.add(digest):
            chunk.duplicates += 1
            return
        chunk.records.append(_Record(index, record_id, text, metadata))

    def _parse(self, row: Any) -> tuple[str | None, dict[str, Any], str | None, str | None]:
        """Return (text, metadata, id, problem)."""
        if isinstance(row, Mapping):
            column = self._column or _TEXT_KEY
            if column not in row:
                raise ConfigurationError(
                    f"text column {column!r} not found; the records have: {', '.join(map(str, row)) or '(nothing)'}"
                )
            raw_text = row[column]
            extra = self._extra_columns(row, column)
        else:
            if self._column is not None or self._id_column is not None:
                raise ConfigurationError(
                    f"column/id_column given but the source yields {type(row).__name__}, not records (mappings)"
                )
            raw_text, extra = row, {}
        if not isinstance(raw_text, str):
            return None, {}, None, f"text is {type(raw_text).__name__}, not a string"
        text = raw_text
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            return None, {}, None, f"text is not valid Unicode ({exc.reason} at position {exc.start})"
        if self._id_column is not None:
            if self._id_column not in row:
                raise ConfigurationError(f"id column {self._id_column!r} not found; the records have: {', '.join(row)}")
            raw_id = row[self._id_column]
            record_id = "" if raw_id is None else str(raw_id)
            if not 1 <= len(record_id) <= _MAX_ID_LENGTH:
                return text, {}, None, f"id must be 1-{_MAX_ID_LENGTH} characters, got {len(record_id)}"
        else:
            record_id = content_id(text, self._namespace)
        if not text.strip():
            return text, {}, record_id, "empty or whitespace-only text"
        metadata: dict[str, Any] = {}
        for name, value in extra.items():
            keep, clean, problem = _metadata_value(name, value)
            if problem is not None:
                return text, {}, record_id, problem
            if keep:
                metadata[name] = clean
        metadata[_TEXT_KEY] = text
        if self._max_metadata_bytes is not None:
            size = len(json.dumps(metadata, ensure_ascii=False).encode("utf-8"))
            if size > self._max_metadata_bytes:
                return (
                    text,
                    {},
                    record_id,
                    f"metadata (including the text) is {size} bytes, over Pinecone's limit of "
                    f"{self._max_metadata_bytes} bytes per record",
                )
        return text, metadata, record_id, None

    def _extra_columns(self, row: Mapping[str, Any], column: str) -> dict[str, Any]:
        skip = {column, self._id_column}
        if self._metadata_columns is None:
            names = [name for name in row if name not in skip]
        else:
            missing = [name for name in self._metadata_columns if name not in row]
            if missing:
                raise ConfigurationError(
                    f"metadata column(s) {', '.join(map(repr, missing))} not found; the records have: {', '.join(row)}"
                )
            names = [name for name in self._metadata_columns if name not in skip]
        if _TEXT_KEY in names:
            if self._metadata_columns is not None:
                raise ConfigurationError(
                    f"metadata column {_TEXT_KEY!r} would overwrite the stored text (column {column!r})"
                )
            names.remove(_TEXT_KEY)
            if not self._warned_text_column:
                self._warned_text_column = True
                logger.warning(
                    "column %r is not stored: metadata %r holds the text of column %r",
                    _TEXT_KEY,
                    _TEXT_KEY,
                    column,
                )
        return {name: row[name] for name in names}


def _open_source(
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


# --------------------------------------------------------------------------------------------------- stages
class _ErrorSink:
    """Writes rejected records to a JSONL file (opened on the first rejection) and keeps a small sample."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._file: IO[str] | None = None
        self.sample: list[RejectedRecord] = []
        self.count = 0

    def add(self, rejected: RejectedRecord) -> None:
        self.count += 1
        if len(self.sample) < _REJECTED_SAMPLE:
            self.sample.append(rejected)
        if self.path is None:
            return
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("w", encoding="utf-8")
        line = {"id": rejected.id, "text": rejected.text, "reason": rejected.reason, "row": rejected.row}
        # ensure_ascii keeps lone surrogates representable.
        self._file.write(json.dumps(line) + "\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    @property
    def written_to(self) -> Path | None:
        return self.path if self.count and self.path is not None else None


def _is_pinecone_store(store: Any) -> bool:
    try:
        from langchain_pinecone import PineconeVectorStore
    except ImportError:  # pragma: no cover - langchain-pinecone is a dependency
        return False
    return isinstance(store, PineconeVectorStore)


class _Pipeline:
    """One run's state: counters, the error sink, and the per-chunk stages."""

    def __init__(
        self,
        *,
        store: VectorStore,
        embeddings: Embeddings | None,
        namespace: str | None,
        force: bool,
        sink: _ErrorSink,
    ) -> None:
        self.store = store
        self.embeddings = embeddings
        self.namespace = namespace
        self.force = force
        self.sink = sink
        self.bar: Any = None
        self.read = 0
        self.duplicates = 0
        self.already_present = 0
        self.embedded = 0
        self.upserted = 0
        self.failure: BaseException | None = None
        self.fast = hasattr(store, "aupsert_vectors") and hasattr(store, "aexisting_ids")
        self._endpoint_client = self._resolve_endpoint_client(embeddings) if self.fast else None

    @staticmethod
    def _resolve_endpoint_client(embeddings: Embeddings | None) -> Any:
        client = getattr(embeddings, "async_client", None) if embeddings is not None else None
        return client if client is not None and hasattr(client, "aembed_detailed") else None

    # ---- stages
    async def existing(self, ids: list[str]) -> set[str]:
        if self.force or not ids:
            return set()
        store: Any = self.store
        if self.fast:
            found = await store.aexisting_ids(ids, namespace=self.namespace)
            return set(found)
        try:
            docs = await store.aget_by_ids(ids)
        except NotImplementedError:
            return set()
        return {doc.id for doc in docs if doc.id is not None}

    async def embed(self, records: list[_Record]) -> list[list[float] | EndpointRequestError]:
        texts = [r.text for r in records]
        if self._endpoint_client is not None:
            prefix = getattr(self.embeddings, "document_prefix", None)
            if prefix:
                texts = [prefix + t for t in texts]
            results: list[list[float] | EndpointRequestError] = await self._endpoint_client.aembed_detailed(
                texts, prompt_name=getattr(self.embeddings, "prompt_name", None)
            )
            return results
        assert self.embeddings is not None
        return await self._embed_bisecting(texts)

    async def _embed_bisecting(self, texts: list[str]) -> list[list[float] | EndpointRequestError]:
        """Embed through any LangChain ``Embeddings``; a rejected batch is bisected to find bad records."""
        assert self.embeddings is not None
        try:
            return list(await self.embeddings.aembed_documents(texts))
        except EndpointRequestError as exc:
            if len(texts) == 1:
                return [exc]
            mid = len(texts) // 2
            return [*await self._embed_bisecting(texts[:mid]), *await self._embed_bisecting(texts[mid:])]

    async def upsert(self, records: list[_Record], vectors: list[list[float]]) -> int:
        store: Any = self.store
        rows = [(r.id, v, r.metadata) for r, v in zip(records, vectors, strict=False)]
        return int(await store.aupsert_vectors(rows, namespace=self.namespace))

    async def add_generic(self, records: list[_Record]) -> list[tuple[_Record, str]]:
        """Embed and write through ``aadd_texts``; returns the records the endpoint rejected, with reasons."""
        if not records:
            return []
        kwargs: dict[str, Any] = {}
        if self.namespace is not None and _is_pinecone_store(self.store):
            kwargs["namespace"] = self.namespace
        try:
            await self.store.aadd_texts(
                [r.text for r in records],
                metadatas=[{k: v for k, v in r.metadata.items() if k != _TEXT_KEY} for r in records],
                ids=[r.id for r in records],
                **kwargs,
            )
        except (EndpointRequestError, MetadataTooLargeError) as exc:
            if len(records) == 1:
                return [(records[0], _reason(exc))]
            mid = len(records) // 2
            return [*await self.add_generic(records[:mid]), *await self.add_generic(records[mid:])]
        self.embedded += len(records)
        self.upserted += len(records)
        return []

    # ---- one chunk through every stage
    async def process(self, chunk: _Chunk) -> None:
        done = chunk.duplicates + len(chunk.rejected)
        self.read += chunk.read
        self.duplicates += chunk.duplicates
        for rejected in chunk.rejected:
            self.sink.add(rejected)
        try:
            present = await self.existing([r.id for r in chunk.records])
            todo = [r for r in chunk.records if r.id not in present]
            skipped = len(chunk.records) - len(todo)
            self.already_present += skipped
            done += skipped
            if self.fast:
                processed = await self._process_fast(todo)
                done += processed
            else:
                for record, reason in await self.add_generic(todo):
                    self.sink.add(RejectedRecord(record.row, record.id, record.text, reason))
                done += len(todo)
        finally:
            self.bar.update(done)

    async def _process_fast(self, todo: list[_Record]) -> int:
        if not todo:
            return 0
        results = await self.embed(todo)
        ok_records: list[_Record] = []
        vectors: list[list[float]] = []
        for record, result in zip(todo, results, strict=False):
            if isinstance(result, BaseException):
                self.sink.add(RejectedRecord(record.row, record.id, record.text, _reason(result)))
            else:
                ok_records.append(record)
                vectors.append(result)
        self.embedded += len(ok_records)
        await self._upsert_isolating(ok_records, vectors)
        return len(todo)

    async def _upsert_isolating(self, records: list[_Record], vectors: list[list[float]]) -> None:
        """Upsert; a record the store refuses by itself (metadata too large) is rejected, the rest retried."""
        while records:
            try:
                # Not `+= await`: that reads the counter before awaiting and loses concurrent updates.
                count = await self.upsert(records, vectors)
                self.upserted += count
                return
            except PineconeStoreError as exc:
                # Record-level refusals (metadata too large, invalid record) name the record: drop it, retry
                # the rest. Anything else is a run-level failure.
                record_id = getattr(exc, "record_id", None)
                bad = next((i for i, r in enumerate(records) if r.id == record_id), None)
                if record_id is None or bad is None:
                    raise
                record = records.pop(bad)
                vectors.pop(bad)
                self.sink.add(RejectedRecord(record.row, record.id, record.text, _reason(exc)))

    def report(self, seconds: float) -> IngestReport:
        return IngestReport(
            read=self.read,
            duplicates=self.duplicates,
            already_present=self.already_present,
            embedded=self.embedded,
            upserted=self.upserted,
            failed=self.sink.count,
            seconds=seconds,
            records_per_second=self.read / seconds if seconds > 0 else 0.0,
            errors_file=self.sink.written_to,
            rejected=tuple(self.sink.sample),
        )


def _reason(exc: BaseException) -> str:
    return redact(str(exc)) or type(exc).__name__


def _credentials(*holders: Any) -> list[str]:
    """Literal secrets held by the store and the embeddings, to scrub from messages.

    Pattern-based redaction only catches key-shaped values; a server that quotes the credentials it received
    (some proxies do) must not make them reach an exception.
    """
    found: list[str] = []
    for holder in holders:
        for name in ("_pinecone_api_key", "hf_token"):
            value: Any = getattr(holder, name, None)
            secret = value.get_secret_value() if hasattr(value, "get_secret_value") else value
            if isinstance(secret, str) and secret:
                found.append(secret)
    return found


def _failure_message(exc: BaseException, secrets: Sequence[str] = ()) -> str:
    if isinstance(exc, EndpointAuthError):
        what = "the endpoint refused the credentials (check HF_TOKEN)"
    elif isinstance(exc, EndpointUnavailableError):
        what = "the endpoint stayed unavailable after every retry"
    elif isinstance(exc, EndpointError):
        what = "the endpoint failed"
    elif isinstance(exc, HfPineconeError):
        what = "the store failed"
    else:
        what = f"the store failed ({type(exc).__name__})"
    return f"ingestion stopped: {what}: {redact(str(exc), secrets)}"


@asynccontextmanager
async def _store_session(store: Any) -> AsyncIterator[None]:
    """Keep one async Pinecone session open for the whole run instead of one per request.

    Not needed (nor opened: an aiohttp session and a TLS context) when the store talks to the data plane
    directly, as it does whenever it knows the index host and the API key.
    """
    if (
        _is_pinecone_store(store)
        and not getattr(store, "_async_index_context_open", True)
        and store._plane() is None
    ):
        async with store:
            yield
    else:
        yield


def _progress_bar(total: int | None, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        unit="rec",
        desc="ingest",
        file=sys.stderr,
        disable=not enabled,
        dynamic_ncols=True,
        smoothing=0.1,
    )


# --------------------------------------------------------------------------------------------------- public A
async def aingest(
    source: Source,
    *,
    store: VectorStore,
    embeddings: Embeddings | None = None,
    column: str | None = None,
    id_column: str | None = None,
    metadata_columns: Sequence[str] | None = None,
    namespace: str | None = None,
    limit: int | None = None,
    force: bool = False,
    errors_file: str | Path | None = None,
    progress: bool = True,
    chunk_size: int = 512,
    max_chunks_in_flight: int = 8,
    max_metadata_bytes: int | None = None,
) -> IngestReport:
    """Embed and store texts, fast and safe to re-run (async).

    See :func:`ingest` for the arguments.

    Raises:
        ConfigurationError: The source or a column is invalid (raised before anything is written).
        IngestError: A run-level failure (auth, endpoint unavailable after retries, store failure) stopped the
            run; what was upserted stays stored and ``exc.report`` holds the partial :class:`IngestReport`.
    """
    if chunk_size < 1:
        raise ConfigurationError(f"chunk_size must be >= 1, got {chunk_size}")
    if max_chunks_in_flight < 1:
        raise ConfigurationError(f"max_chunks_in_flight must be >= 1, got {max_chunks_in_flight}")
    if limit is not None and limit < 0:
        raise ConfigurationError(f"limit must be >= 0, got {limit}")
    if embeddings is None:
        embeddings = getattr(store, "embeddings", None)
    fast = hasattr(store, "aupsert_vectors") and hasattr(store, "aexisting_ids")
    if fast and embeddings is None:
        raise ConfigurationError("no embeddings: pass embeddings= or give the store an embedding")
    if namespace is None:
        namespace = getattr(store, "_namespace", None)
    if max_metadata_bytes is None and _is_pinecone_store(store):
        max_metadata_bytes = PINECONE_MAX_METADATA_BYTES

    started = time.perf_counter()
    # Resolved first: a missing endpoint URL fails here, before any file is opened.
    pipeline = _Pipeline(store=store, embeddings=embeddings, namespace=namespace, force=force, sink=_ErrorSink(None))
    rows, total, column = await asyncio.to_thread(_open_source, source, column, None)
    if limit is not None and total is not None:
        total = min(total, limit)
    reader = _Reader(
        rows,
        column=column,
        id_column=id_column,
        metadata_columns=metadata_columns,
        namespace=namespace,
        limit=limit,
        chunk_size=chunk_size,
        max_metadata_bytes=max_metadata_bytes,
    )
    sink = pipeline.sink = _ErrorSink(Path(errors_file).expanduser() if errors_file is not None else None)
    bar = pipeline.bar = _progress_bar(total, progress)
    slots = asyncio.Semaphore(max_chunks_in_flight)
    tasks: set[asyncio.Task[None]] = set()

    def _finished(task: asyncio.Task[None]) -> None:
        tasks.discard(task)
        slots.release()
        if not task.cancelled() and task.exception() is not None and pipeline.failure is None:
            pipeline.failure = task.exception()

    try:
        async with _store_session(store):
            try:
                while pipeline.failure is None:
                    await slots.acquire()
                    if pipeline.failure is not None:
                        slots.release()
                        break
                    try:
                        chunk = await asyncio.to_thread(reader.next_chunk)
                    except BaseException:
                        slots.release()
                        raise
                    if chunk is None:
                        slots.release()
                        break
                    task = asyncio.create_task(pipeline.process(chunk))
                    tasks.add(task)
                    task.add_done_callback(_finished)
                # Chunks already in flight still finish, so everything embedded is stored before we report.
                if tasks:
                    await asyncio.gather(*tasks, return_exceptions=True)
            except BaseException:
                for task in tasks:
                    task.cancel()
                if tasks:
                    await asyncio.gather(*tasks, return_exceptions=True)
                raise
    finally:
        await asyncio.to_thread(reader.close)
        sink.close()
        bar.close()

    report = pipeline.report(time.perf_counter() - started)
    if pipeline.failure is not None:
        failure = pipeline.failure
        if isinstance(failure, ConfigurationError):
            raise failure
        message = _failure_message(failure, _credentials(store, embeddings))
        raise IngestError(f"{message} ({report})", report=report) from failure
    if report.failed:
        logger.warning(
            "%d record(s) rejected%s",
            report.failed,
            f"; see {report.errors_file}" if report.errors_file else "",
        )
    return report


async def _close_loop_client(embeddings: Any) -> None:
    try:
        client = getattr(embeddings, "async_client", None)
    except HfPineconeError:  # misconfigured embeddings: nothing was opened
        return
    if client is not None and hasattr(client, "aclose"):
        await client.aclose()


def ingest(
    source: Source,
    *,
    store: VectorStore,
    embeddings: Embeddings | None = None,
    column: str | None = None,
    id_column: str | None = None,
    metadata_columns: Sequence[str] | None = None,
    namespace: str | None = None,
    limit: int | None = None,
    force: bool = False,
    errors_file: str | Path | None = None,
    progress: bool = True,
    chunk_size: int = 512,
    max_chunks_in_flight: int = 8,
    max_metadata_bytes: int | None = None,
) -> IngestReport:
    """Embed and store texts, fast and safe to re-run.

    Embedding requests and upserts run concurrently and overlap; at most ``max_chunks_in_flight * chunk_size``
    records are held in memory whatever the size of the source. Each record gets a deterministic id
    (:func:`hf_pinecone.ids.content_id` of its text and namespace, unless ``id_column`` is given) and its text
    is stored as metadata ``"text"``. Ids already in the index are skipped (one fetch per chunk) unless
    ``force``, so an interrupted or killed run is resumed by running it again.

    With a :class:`~hf_pinecone.store.PineconeStore` and
    :class:`~hf_pinecone.embeddings.InferenceEndpointEmbeddings`, records go through the endpoint client's
    batching and the store's bounded upserts (fast path). Any other LangChain ``VectorStore`` is written
    through ``add_texts(texts, metadatas, ids=...)`` with its own embeddings; its existence check uses
    ``get_by_ids`` when the store implements it.

    Args:
        source: An iterable of strings or of records (mappings); a ``datasets.Dataset`` / ``IterableDataset``;
            or the path of a local ``.parquet``, ``.jsonl``/``.json``, ``.csv``/``.tsv`` or ``.txt`` file
            (read streaming; for ``.txt`` each non-blank line is a record).
        store: Where to write.
        embeddings: The embeddings to use; defaults to ``store.embeddings``.
        column: The text column of records (default ``"text"``).
        id_column: Column holding record ids; by default ids are derived from the text and namespace.
        metadata_columns: Columns stored as metadata; by default every column other than the text and id
            columns. ``None`` values are left out (Pinecone has no null); other unsupported values reject the
            record.
        namespace: Pinecone namespace (default: the store's).
        limit: Read at most this many records from the source (before deduplication).
        force: Re-embed and overwrite records whose ids are already in the index.
        errors_file: JSONL file that receives each rejected record (``id``, ``text``, ``reason``, ``row``);
            created on the first rejection. Without it, rejected records are only counted, logged and sampled
            in :attr:`IngestReport.rejected`.
        progress: Show a tqdm progress bar (records/s) on stderr.
        chunk_size: Records per pipeline chunk (one existence check and one embed call each).
        max_chunks_in_flight: Chunks being checked, embedded or upserted at once (bounds memory).
        max_metadata_bytes: Reject records whose metadata (with the text) exceeds this many bytes before
            embedding them; defaults to Pinecone's 40,960 for Pinecone stores, no check for other stores.

    Returns:
        An :class:`IngestReport`; ``read == duplicates + already_present + upserted + failed``.

    Raises:
        ConfigurationError: The source or a column is invalid (raised before anything is written).
        IngestError: A run-level failure (auth, endpoint unavailable after retries, store failure) stopped the
            run; what was upserted stays stored and ``exc.report`` holds the partial :class:`IngestReport`.
    """

    async def run_and_close() -> IngestReport:
        try:
            return await aingest(
                source,
                store=store,
                embeddings=embeddings,
                column=column,
                id_column=id_column,
                metadata_columns=metadata_columns,
                namespace=namespace,
                limit=limit,
                force=force,
                errors_file=errors_file,
                progress=progress,
                chunk_size=chunk_size,
                max_chunks_in_flight=max_chunks_in_flight,
                max_metadata_bytes=max_metadata_bytes,
            )
        finally:
            # This private loop ends with the call: close the endpoint client bound to it.
            await _close_loop_client(embeddings if embeddings is not None else getattr(store, "embeddings", None))

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run_and_close())
    # Called from a running loop (a notebook, an async app): run on a private loop in a worker thread.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="hf-pinecone-ingest") as pool:
        return pool.submit(asyncio.run, run_and_close()).result()
