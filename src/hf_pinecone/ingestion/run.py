"""The local runner: ``ingest`` / ``aingest`` = a reader thread + a bounded loop over :func:`aprocess_chunk`.

Records flow through four stages, a chunk at a time::

    read (thread) -> existence check (fetch) -> embed (endpoint) -> upsert

Several chunks are in flight at once, so embedding requests and upserts overlap; the endpoint client's own
limiter bounds HTTP concurrency and ``max_chunks_in_flight * chunk_size`` bounds the records held in memory.
Ids are derived from the content (:func:`hf_pinecone.ids.content_id`), so a re-run skips what is already
stored and a run killed at any point can simply be started again.

Sync/async: the async runner is the implementation; :func:`ingest` runs it on a private event loop (in a worker
thread when the caller already runs a loop), and closes what it opened on that loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from hf_pinecone._pinecone.limits import MAX_METADATA_BYTES
from hf_pinecone.embeddings import InferenceEndpointEmbeddings
from hf_pinecone.errors import (
    ChunkError,
    ConfigurationError,
    EndpointAuthError,
    EndpointError,
    EndpointUnavailableError,
    HfPineconeError,
    IngestError,
    IngestInterrupted,
    redact,
)
from hf_pinecone.ingestion.chunking import DocumentChunker, aprocess_documents
from hf_pinecone.ingestion.core import VectorWriter, aprocess_chunk, namespace_is_empty
from hf_pinecone.ingestion.records import RecordPreparer
from hf_pinecone.ingestion.report import REJECTED_SAMPLE, ChunkResult, IngestReport, RejectedRecord
from hf_pinecone.ingestion.sources import Chunk, Reader, Source, open_source
from hf_pinecone.writer import IndexWriter

if TYPE_CHECKING:  # LangChain is imported only when the caller brings a LangChain store (about 0.7 s of CPU)
    from langchain_core.embeddings import Embeddings
    from langchain_core.vectorstores import VectorStore

__all__ = ["aingest", "ingest"]

logger = logging.getLogger("hf_pinecone")


class ErrorSink:
    """Writes rejected records to a JSONL file (opened on the first rejection) and keeps a small sample."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._file: IO[str] | None = None
        self.sample: list[RejectedRecord] = []
        self.count = 0

    def add(self, rejected: RejectedRecord) -> None:
        """Record one rejection."""
        self.count += 1
        if len(self.sample) < REJECTED_SAMPLE:
            self.sample.append(rejected)
        if self.path is None:
            return
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("w", encoding="utf-8")
        # ensure_ascii keeps lone surrogates representable.
        self._file.write(json.dumps(rejected.to_dict()) + "\n")

    def close(self) -> None:
        """Close the file."""
        if self._file is not None:
            self._file.close()
            self._file = None

    @property
    def written_to(self) -> Path | None:
        """The file, when something was written to it."""
        return self.path if self.count and self.path is not None else None


class _Totals:
    """The run's counts, merged from the reader's chunks and the chunk results (one event loop: no locks)."""

    def __init__(self, sink: ErrorSink, bar: Any) -> None:
        self.sink = sink
        self.bar = bar
        self.read = self.duplicates = self.already_present = self.embedded = self.upserted = 0

    def read_chunk(self, chunk: Chunk) -> None:
        self.read += chunk.read
        self.duplicates += chunk.duplicates
        for rejected in chunk.rejected:
            self.sink.add(rejected)
        self.bar.update(chunk.duplicates + len(chunk.rejected))

    def add(self, result: ChunkResult) -> None:
        self.already_present += result.already_present
        self.embedded += result.embedded
        self.upserted += result.upserted
        for rejected in result.rejected:
            self.sink.add(rejected)
        self.bar.update(result.done)

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


def _writes_to_pinecone(store: Any) -> bool:
    """Whether ``store`` writes to a Pinecone index: an :class:`IndexWriter` or a langchain-pinecone store.

    langchain-pinecone is looked up in ``sys.modules`` rather than imported: if it was never imported, ``store``
    cannot be one of its classes, and a run through an :class:`IndexWriter` never pays for importing it.
    """
    if isinstance(store, IndexWriter):
        return True
    langchain_pinecone = sys.modules.get("langchain_pinecone")
    return langchain_pinecone is not None and isinstance(store, langchain_pinecone.PineconeVectorStore)


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


# --------------------------------------------------------------------------------------------------- public
async def aingest(
    source: Source,
    *,
    store: VectorStore | VectorWriter,
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
    chunk_tokens: int | None = None,
    chunk_overlap: int | None = None,
    sparse_embeddings: Any | None = None,
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
    if chunk_overlap is not None and chunk_tokens is None:
        raise ConfigurationError("chunk_overlap applies to chunking: give chunk_tokens too")
    if embeddings is None:
        embeddings = getattr(store, "embeddings", None)  # an IndexWriter has none
    if sparse_embeddings is not None and not isinstance(store, VectorWriter):
        raise ConfigurationError(
            f"sparse_embeddings= needs a PineconeStore (it writes sparse values), not {type(store).__name__}"
        )
    if embeddings is None and isinstance(store, VectorWriter) and sparse_embeddings is None:
        raise ConfigurationError("no embeddings: pass embeddings= or give the store an embedding")
    if namespace is None and _writes_to_pinecone(store):
        namespace = getattr(store, "namespace", None)
    if max_metadata_bytes is None and _writes_to_pinecone(store):
        max_metadata_bytes = MAX_METADATA_BYTES
    if isinstance(embeddings, InferenceEndpointEmbeddings):
        # Resolved first: a missing endpoint URL fails here, before any file is opened.
        embeddings.async_client  # noqa: B018
    chunker: DocumentChunker | None = None
    if chunk_tokens is not None and sparse_embeddings is not None:
        raise ConfigurationError(
            "chunk_tokens= with sparse_embeddings= is not supported yet: chunk the documents first, or ingest "
            "them without sparse vectors"
        )
    if chunk_tokens is not None:
        # Documents are checked against the metadata limit chunk by chunk, not whole.
        chunker = DocumentChunker(
            embeddings,  # type: ignore[arg-type]  # refused with a clear message unless it can tokenize
            chunk_tokens=chunk_tokens,
            chunk_overlap=chunk_overlap,
            max_metadata_bytes=max_metadata_bytes,
        )

    started = time.perf_counter()
    # Nothing can be stored yet in a namespace that is empty when the run starts (and the run deduplicates its
    # own ids), so the per-chunk existence check would only cost a fetch per chunk: skip it for this run.
    check_existing = not force and not (chunker is None and await namespace_is_empty(store, namespace))
    rows, total, column = await asyncio.to_thread(open_source, source, column, None, limit)
    if limit is not None and total is not None:
        total = min(total, limit)
    preparer = RecordPreparer(
        column=column,
        id_column=id_column,
        metadata_columns=metadata_columns,
        namespace=namespace,
        max_metadata_bytes=None if chunker is not None else max_metadata_bytes,
    )
    reader = Reader(rows, preparer=preparer, limit=limit, chunk_size=chunk_size)
    sink = ErrorSink(Path(errors_file).expanduser() if errors_file is not None else None)
    # With chunking the bar counts chunks, whose total is not known in advance.
    bar = _progress_bar(None if chunker is not None else total, progress)
    totals = _Totals(sink, bar)
    slots = asyncio.Semaphore(max_chunks_in_flight)
    tasks: set[asyncio.Task[ChunkResult]] = set()
    failure: list[BaseException] = []
    completed = False

    def finished(task: asyncio.Task[ChunkResult]) -> None:
        tasks.discard(task)
        slots.release()
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, ChunkError):
            totals.add(exc.result)  # what the chunk did before it failed still counts
            exc = exc.__cause__ or exc
        if exc is not None:
            if not failure:
                failure.append(exc)
        else:
            totals.add(task.result())

    try:
        try:
            while not failure:
                await slots.acquire()
                if failure:
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
                totals.read_chunk(chunk)
                work = (
                    aprocess_chunk(
                        chunk.records,
                        embeddings=embeddings,
                        store=store,
                        namespace=namespace,
                        force=not check_existing,
                        sparse_embeddings=sparse_embeddings,
                    )
                    if chunker is None
                    else aprocess_documents(
                        chunk.records,
                        chunker=chunker,
                        embeddings=embeddings,
                        store=store,
                        namespace=namespace,
                        force=force,
                        batch_size=chunk_size,
                    )
                )
                task = asyncio.create_task(work)
                tasks.add(task)
                task.add_done_callback(finished)
            # Chunks already in flight still finish, so everything embedded is stored before we report.
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            completed = not failure
        except BaseException as exc:
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            if isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt)):
                # Ctrl-C / cancellation: what was stored so far travels with the exception (ingest() turns it
                # into IngestInterrupted.report); chunks cancelled mid-way may have stored a little more.
                exc.report = totals.report(time.perf_counter() - started)  # type: ignore[union-attr]
            raise
    finally:
        await asyncio.to_thread(reader.close)
        sink.close()
        if completed and not bar.disable and bar.total != bar.n:
            bar.total = bar.n  # a counted file's line total is an estimate (blank lines, multi-line cells)
            bar.refresh()
        bar.close()

    report = totals.report(time.perf_counter() - started)
    if failure:
        first = failure[0]
        if isinstance(first, ConfigurationError):
            raise first
        message = _failure_message(first, _credentials(store, embeddings))
        raise IngestError(f"{message} ({report})", report=report) from first
    if report.failed:
        logger.warning(
            "%d record(s) rejected%s",
            report.failed,
            f"; see {report.errors_file}" if report.errors_file else "",
            extra={"hf_pinecone_event": "ingest.rejected"},  # the CLI prints its own summary line instead
        )
    return report


async def _close_loop_clients(embeddings: Any, store: Any) -> None:
    """Close the connection pools opened on the private loop that ends with :func:`ingest`."""
    if isinstance(embeddings, InferenceEndpointEmbeddings):
        await embeddings.aclose()
    if _writes_to_pinecone(store):
        await store.aclose()


def ingest(
    source: Source,
    *,
    store: VectorStore | VectorWriter,
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
    chunk_tokens: int | None = None,
    chunk_overlap: int | None = None,
    sparse_embeddings: Any | None = None,
) -> IngestReport:
    """Embed and store texts, fast and safe to re-run.

    Embedding requests and upserts run concurrently and overlap; at most ``max_chunks_in_flight * chunk_size``
    records are held in memory whatever the size of the source. Each record gets a deterministic id
    (:func:`hf_pinecone.ids.content_id` of its text and namespace, unless ``id_column`` is given) and its text
    is stored as metadata ``"text"``. Ids already in the index are skipped (one fetch per chunk) unless
    ``force``, so an interrupted or killed run is resumed by running it again; when the namespace is empty at
    the start (a first load), there is nothing to skip and no chunk is checked.

    Each chunk goes through :func:`~hf_pinecone.ingestion.aprocess_chunk`: with a
    :class:`~hf_pinecone.store.PineconeStore` or an :class:`~hf_pinecone.writer.IndexWriter` (both are
    :class:`~hf_pinecone.ingestion.VectorWriter` s), records go through the embeddings' batching
    (``aembed_documents_encoded`` when the embeddings have it: the endpoint's JSON numbers go into the upsert
    body as they are; else ``aembed_documents_detailed``; with their prefixes and prompt) and the store's
    bounded upserts; an ``IndexWriter`` needs ``embeddings=`` and imports no LangChain. Any other LangChain
    ``VectorStore`` is written through ``add_texts(texts, metadatas, ids=...)`` with its own embeddings; its
    existence check uses ``get_by_ids`` when the store implements it.

    Args:
        source: An iterable of strings or of records (mappings); a ``datasets.Dataset`` / ``IterableDataset``;
            or the path of a local ``.parquet``, ``.jsonl``/``.json``, ``.csv``/``.tsv`` or ``.txt`` file
            (read streaming; for ``.txt`` each non-blank line is a record).
        store: Where to write: a ``PineconeStore``, an ``IndexWriter`` or any LangChain ``VectorStore``.
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
        chunk_tokens: Split each document into chunks of at most this many tokens, counted by the endpoint's
            own tokenizer (TEI ``POST /tokenize``; ``chunk_tokens`` plus the model's special tokens must fit its
            ``max_input_length``). Chunks end at paragraph, line, sentence or word boundaries and are stored
            with metadata ``parent_id``, ``chunk_index``, ``chunk_start``, ``chunk_end`` (character span in the
            document) under ids ``f"{parent_id}#{version}:{index}"``; re-ingesting a changed document (same
            ``id_column`` value) deletes its stale chunks. See :mod:`hf_pinecone.ingestion.chunking`.
            ``None`` (default): each record is embedded whole.
        chunk_overlap: Tokens shared by consecutive chunks (default ``chunk_tokens // 8``).
        sparse_embeddings: Sparse embeddings (``InferenceEndpointSparseEmbeddings``): every text is embedded
            densely and sparsely in the same pass and both are written under the same id, sparse-dense records
            for hybrid search on a dotproduct index (sparse values only on a sparse index). Needs a
            ``PineconeStore``.

    Returns:
        An :class:`IngestReport`; ``read == duplicates + already_present + upserted + failed``. With
        ``chunk_tokens``, ``read`` and ``duplicates`` count documents, the other counts chunks.

    Raises:
        ConfigurationError: The source or a column is invalid (raised before anything is written).
        IngestError: A run-level failure (auth, endpoint unavailable after retries, store failure) stopped the
            run; what was upserted stays stored and ``exc.report`` holds the partial :class:`IngestReport`.
        IngestInterrupted: Ctrl-C (a ``KeyboardInterrupt``); ``exc.report`` says what was stored before it.
            Running the same call again resumes: stored records are skipped.
    """
    chosen_embeddings = embeddings if embeddings is not None else getattr(store, "embeddings", None)

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
                chunk_tokens=chunk_tokens,
                chunk_overlap=chunk_overlap,
                sparse_embeddings=sparse_embeddings,
            )
        finally:
            await _close_loop_clients(chosen_embeddings, store)
            if sparse_embeddings is not None and hasattr(sparse_embeddings, "aclose"):
                await sparse_embeddings.aclose()

    partial: list[IngestReport] = []

    async def run_and_keep_partial() -> IngestReport:
        try:
            return await run_and_close()
        except (asyncio.CancelledError, KeyboardInterrupt) as exc:
            report = getattr(exc, "report", None)
            if isinstance(report, IngestReport):
                partial.append(report)
            raise

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        try:
            return asyncio.run(run_and_keep_partial())
        except KeyboardInterrupt:
            raise IngestInterrupted(partial[0] if partial else None) from None
    # Called from a running loop (a notebook, an async app): run on a private loop in a worker thread.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="hf-pinecone-ingest") as pool:
        return pool.submit(asyncio.run, run_and_close()).result()
