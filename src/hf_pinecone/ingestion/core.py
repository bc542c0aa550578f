"""The engine-neutral chunk core: existence check -> embed -> upsert for one chunk of prepared records.

:func:`aprocess_chunk` (and its sync twin :func:`process_chunk`) is the only place where records meet the
endpoint and the index. The local runner (:func:`hf_pinecone.ingestion.ingest`), Ray actors and Spark
partitions all call it; it keeps no state between calls and returns what it did as a :class:`ChunkResult`,
which the caller merges. Deduplication within a chunk is the caller's job (first occurrence wins): ids are
content ids, so duplicates would only overwrite each other.

Contracts are :class:`typing.Protocol` s: :class:`DetailedEmbeddings` (``InferenceEndpointEmbeddings``
implements it; any other LangChain ``Embeddings`` is adapted by bisecting rejected batches) and
:class:`VectorWriter` (``PineconeStore`` implements it). A LangChain ``VectorStore`` that is no
``VectorWriter`` is written through its own ``add_texts`` (with its own embeddings).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from hf_pinecone._pinecone.protocol import namespace_count
from hf_pinecone.errors import (
    ChunkError,
    ConfigurationError,
    EndpointRequestError,
    HfPineconeError,
    InvalidRecordError,
    MetadataTooLargeError,
    PineconeStoreError,
    redact,
)
from hf_pinecone.ingestion.records import TEXT_KEY, Record
from hf_pinecone.ingestion.report import ChunkResult, RejectedRecord

if TYPE_CHECKING:  # LangChain is imported only by the code that uses it (about 0.7 s of CPU)
    from langchain_core.embeddings import Embeddings
    from langchain_core.vectorstores import VectorStore

__all__ = [
    "DetailedEmbeddings",
    "EncodedEmbeddings",
    "VectorWriter",
    "aprocess_chunk",
    "as_detailed",
    "namespace_is_empty",
    "process_chunk",
]

EmbedResult = list[float] | EndpointRequestError


@runtime_checkable
class DetailedEmbeddings(Protocol):
    """Embeddings that return a rejected text's error in its place instead of failing the whole batch."""

    def embed_documents_detailed(self, texts: Sequence[str]) -> list[EmbedResult]:
        """One vector or :class:`~hf_pinecone.errors.EndpointRequestError` per text."""
        ...

    async def aembed_documents_detailed(self, texts: Sequence[str]) -> list[EmbedResult]:
        """Async :meth:`embed_documents_detailed`."""
        ...


@runtime_checkable
class VectorWriter(Protocol):
    """A store that takes already-embedded records and says which ids it holds."""

    def existing_ids(self, ids: Sequence[str], *, namespace: str | None = None) -> set[str]:
        """The subset of ``ids`` stored in ``namespace``."""
        ...

    async def aexisting_ids(self, ids: Sequence[str], *, namespace: str | None = None) -> set[str]:
        """Async :meth:`existing_ids`."""
        ...

    def upsert_vectors(
        self, records: Sequence[tuple[str, Sequence[float], dict[str, Any] | None]], *, namespace: str | None = None
    ) -> int:
        """Write ``(id, vector, metadata)`` records; the number acknowledged."""
        ...

    async def aupsert_vectors(
        self, records: Sequence[tuple[str, Sequence[float], dict[str, Any] | None]], *, namespace: str | None = None
    ) -> int:
        """Async :meth:`upsert_vectors`."""
        ...


class _Bisecting:
    """Any LangChain ``Embeddings`` as :class:`DetailedEmbeddings`: a rejected batch is bisected to its bad texts."""

    def __init__(self, embeddings: Embeddings) -> None:
        self.embeddings = embeddings

    def embed_documents_detailed(self, texts: Sequence[str]) -> list[EmbedResult]:
        try:
            return list(self.embeddings.embed_documents(list(texts)))
        except EndpointRequestError as exc:
            if len(texts) == 1:
                return [exc]
            mid = len(texts) // 2
            return [*self.embed_documents_detailed(texts[:mid]), *self.embed_documents_detailed(texts[mid:])]

    async def aembed_documents_detailed(self, texts: Sequence[str]) -> list[EmbedResult]:
        try:
            return list(await self.embeddings.aembed_documents(list(texts)))
        except EndpointRequestError as exc:
            if len(texts) == 1:
                return [exc]
            mid = len(texts) // 2
            first = await self.aembed_documents_detailed(texts[:mid])
            return [*first, *await self.aembed_documents_detailed(texts[mid:])]


@runtime_checkable
class EncodedEmbeddings(Protocol):
    """Embeddings that can hand vectors over as the endpoint's JSON text (:class:`~hf_pinecone.encoded.EncodedVector`).

    ``InferenceEndpointEmbeddings`` is one: a :class:`VectorWriter` writes those vectors into the upsert body as
    they are, so ingestion never decodes and re-encodes the floats.
    """

    def embed_documents_encoded(self, texts: Sequence[str]) -> list[Any]:
        """Like ``embed_documents_detailed``; vectors may be ``EncodedVector``."""
        ...

    async def aembed_documents_encoded(self, texts: Sequence[str]) -> list[Any]:
        """Async :meth:`embed_documents_encoded`."""
        ...


def _embed_for_writer(embeddings: Embeddings | DetailedEmbeddings, texts: list[str]) -> list[Any]:
    """One result per text, as a :class:`VectorWriter` takes them (encoded vectors when the embeddings can)."""
    if isinstance(embeddings, EncodedEmbeddings):
        return embeddings.embed_documents_encoded(texts)
    return as_detailed(embeddings).embed_documents_detailed(texts)


async def _aembed_for_writer(embeddings: Embeddings | DetailedEmbeddings, texts: list[str]) -> list[Any]:
    if isinstance(embeddings, EncodedEmbeddings):
        return await embeddings.aembed_documents_encoded(texts)
    return await as_detailed(embeddings).aembed_documents_detailed(texts)


def as_detailed(embeddings: Embeddings | DetailedEmbeddings) -> DetailedEmbeddings:
    """``embeddings`` itself when it is :class:`DetailedEmbeddings`, else a bisecting adapter around it."""
    if isinstance(embeddings, DetailedEmbeddings):
        return embeddings
    return _Bisecting(embeddings)


def _chunk_error(exc: HfPineconeError, partial: ChunkResult) -> ChunkError | ConfigurationError:
    if isinstance(exc, ConfigurationError):  # not a failure of this chunk: of the whole configuration
        return exc
    return ChunkError(str(exc), result=partial)


def reason(exc: BaseException) -> str:
    """A rejection reason: the error's message, scrubbed of secrets."""
    return redact(str(exc)) or type(exc).__name__


# ---------------------------------------------------------------------------------------------- pure steps
def _split(
    records: Sequence[Record], results: Sequence[EmbedResult]
) -> tuple[list[Record], list[Any], list[RejectedRecord]]:
    ok: list[Record] = []
    vectors: list[Any] = []
    rejected: list[RejectedRecord] = []
    for record, result in zip(records, results, strict=True):
        if isinstance(result, BaseException):
            rejected.append(RejectedRecord(record.row, record.id, record.text, reason(result)))
        else:
            ok.append(record)
            vectors.append(result)
    return ok, vectors, rejected


def _split_both(
    records: Sequence[Record], dense: Sequence[Any], sparse: Sequence[Any] | None
) -> tuple[list[Record], list[Any], list[Any] | None, list[RejectedRecord]]:
    """Records both embeddings accepted (with their vectors); the others rejected with the first error."""
    if sparse is None:
        ok, dense_ok, refused = _split(records, dense)
        return ok, dense_ok, None, refused
    merged = [d if isinstance(d, BaseException) else s for d, s in zip(dense, sparse, strict=True)]
    ok_records: list[Record] = []
    vectors: list[Any] = []
    sparse_ok: list[Any] = []
    rejected: list[RejectedRecord] = []
    for record, d, s, outcome in zip(records, dense, sparse, merged, strict=True):
        if isinstance(outcome, BaseException):
            rejected.append(RejectedRecord(record.row, record.id, record.text, reason(outcome)))
        else:
            ok_records.append(record)
            vectors.append(d)
            sparse_ok.append(s)
    return ok_records, vectors, sparse_ok, rejected


def _sparse_kw(sparse: list[Any] | None) -> dict[str, Any]:
    return {} if sparse is None else {"sparse_values": sparse}


def _sparse_only(store: Any) -> bool:
    """Whether ``store`` writes to a sparse index (no dense vectors to embed)."""
    vector_type = getattr(store, "index_vector_type", None)
    return callable(vector_type) and vector_type() == "sparse"


async def _asparse_only(store: Any) -> bool:
    vector_type = getattr(store, "aindex_vector_type", None)
    return callable(vector_type) and await vector_type() == "sparse"


def _no_sparse_for(store: Any, sparse_embeddings: Any | None) -> None:
    if sparse_embeddings is not None:
        raise ConfigurationError(
            f"sparse_embeddings= needs a store that writes sparse values (a PineconeStore), not {type(store).__name__}"
        )


def _refused_record(exc: PineconeStoreError, records: list[Record]) -> int | None:
    """Position of the record a store refused by itself (metadata too large, invalid record), else ``None``."""
    if not isinstance(exc, (MetadataTooLargeError, InvalidRecordError)):
        return None
    return next((i for i, r in enumerate(records) if r.id == exc.record_id), None)


def _drop_refused(
    exc: PineconeStoreError,
    ok: list[Record],
    vectors: list[Any],
    sparse: list[Any] | None,
    rejected: list[RejectedRecord],
    partial: ChunkResult,
) -> None:
    """Both drivers' reaction to a store error during the upsert of a chunk.

    A record the store refused by itself (metadata too large, invalid record) leaves the batch as a rejection and
    the rest is retried; anything else stops the chunk with its partial result.
    """
    bad = _refused_record(exc, ok)
    if bad is None:
        raise _chunk_error(exc, partial) from exc
    record = ok.pop(bad)
    vectors.pop(bad)
    if sparse is not None:
        sparse.pop(bad)
    rejected.append(RejectedRecord(record.row, record.id, record.text, reason(exc)))


def _rows(records: Sequence[Record], vectors: Sequence[Any]) -> list[tuple[str, Any, dict[str, Any]]]:
    return [(r.id, v, r.metadata) for r, v in zip(records, vectors, strict=True)]


def _stored_metadata(record: Record) -> dict[str, Any]:
    return {k: v for k, v in record.metadata.items() if k != TEXT_KEY}


# ---------------------------------------------------------------------------------------------- async driver
async def aprocess_chunk(
    records: Sequence[Record],
    *,
    embeddings: Embeddings | DetailedEmbeddings | None,
    store: VectorWriter | VectorStore,
    namespace: str | None = None,
    force: bool = False,
    sparse_embeddings: Any | None = None,
) -> ChunkResult:
    """Check, embed and upsert one chunk of prepared records (async).

    Args:
        records: Prepared, deduplicated records (see :class:`~hf_pinecone.ingestion.RecordPreparer`).
        embeddings: The embeddings (default: the store's ``embeddings``).
        store: A :class:`VectorWriter` (``PineconeStore``), or any LangChain ``VectorStore``.
        namespace: Target namespace.
        force: Re-embed and overwrite records whose ids are already stored.
        sparse_embeddings: Sparse embeddings (e.g. ``InferenceEndpointSparseEmbeddings``): each text is also
            embedded sparsely, concurrently with the dense embedding, and both are written under the record's id
            (on a sparse index, the sparse values only). A text either endpoint rejects is rejected.

    Returns:
        Counts and the rejected records (refused by the endpoint or the store), never dropped.

    Raises:
        ChunkError: A run-level failure (auth, unavailable after retries, a store failure) stopped the chunk;
            ``exc.__cause__`` is the endpoint's or store's error and ``exc.result`` what the chunk did before.
        ConfigurationError: The embeddings or the store are misconfigured.
    """
    if not records:
        return ChunkResult()
    if isinstance(store, VectorWriter):
        present: set[str] = set()
        if not force:
            try:
                present = await store.aexisting_ids([r.id for r in records], namespace=namespace)
            except HfPineconeError as exc:
                raise _chunk_error(exc, ChunkResult()) from exc
        todo = [r for r in records if r.id not in present]
        if not todo:
            return ChunkResult(already_present=len(records))
        skipped = len(records) - len(todo)
        texts = [r.text for r in todo]
        try:
            if sparse_embeddings is None:
                results: list[Any] = await _aembed_for_writer(_embeddings_of(embeddings, store), texts)
                sparse_results: list[Any] | None = None
            elif await _asparse_only(store):
                results = [None] * len(texts)
                sparse_results = await sparse_embeddings.aembed_documents_detailed(texts)
            else:
                results, sparse_results = await asyncio.gather(
                    _aembed_for_writer(_embeddings_of(embeddings, store), texts),
                    sparse_embeddings.aembed_documents_detailed(texts),
                )
        except HfPineconeError as exc:
            raise _chunk_error(exc, ChunkResult(already_present=skipped)) from exc
        ok, vectors, sparse, rejected = _split_both(todo, results, sparse_results)
        embedded = len(ok)
        upserted = 0
        while ok:
            try:
                upserted = await store.aupsert_vectors(_rows(ok, vectors), namespace=namespace, **_sparse_kw(sparse))
                break
            except PineconeStoreError as exc:
                partial = ChunkResult(embedded=embedded, already_present=skipped, rejected=tuple(rejected))
                _drop_refused(exc, ok, vectors, sparse, rejected, partial)
        return ChunkResult(embedded=embedded, upserted=upserted, already_present=skipped, rejected=tuple(rejected))
    _no_sparse_for(store, sparse_embeddings)
    present = set() if force else await _aexisting_via_get(store, [r.id for r in records])
    todo = [r for r in records if r.id not in present]
    failed = await _aadd_bisecting(store, todo, namespace)
    stored = len(todo) - len(failed)
    return ChunkResult(
        embedded=stored, upserted=stored, already_present=len(records) - len(todo), rejected=tuple(failed)
    )


async def namespace_is_empty(store: Any, namespace: str | None) -> bool:
    """Whether ``store`` (a :class:`VectorWriter` with ``adescribe_index_stats``) holds no record in ``namespace``.

    ``False`` whenever it cannot tell (another kind of store, no stats, an error): then ingestion checks which
    ids exist, chunk by chunk, as always. Pinecone's stats are eventually consistent: a namespace written a
    moment ago may still count 0, and a re-run then embeds again what it would have skipped (the upserts
    overwrite with the same values; nothing is lost or duplicated).
    """
    stats_of = getattr(store, "adescribe_index_stats", None)
    if not isinstance(store, VectorWriter) or not callable(stats_of):
        return False
    try:
        stats = await stats_of()
    except HfPineconeError:
        return False  # the real error, if it persists, comes from the first chunk's requests
    return isinstance(stats, dict) and namespace_count(stats, namespace) == 0


def _embeddings_of(embeddings: Embeddings | DetailedEmbeddings | None, store: Any) -> Embeddings | DetailedEmbeddings:
    chosen = embeddings if embeddings is not None else getattr(store, "embeddings", None)
    if chosen is None:
        raise ConfigurationError("no embeddings: pass embeddings= or give the store an embedding")
    return chosen


async def _aexisting_via_get(store: VectorStore, ids: list[str]) -> set[str]:
    try:
        docs = await store.aget_by_ids(ids)
    except NotImplementedError:
        return set()
    return {doc.id for doc in docs if doc.id is not None}


async def _aadd_bisecting(store: VectorStore, records: list[Record], namespace: str | None) -> list[RejectedRecord]:
    if not records:
        return []
    kwargs: dict[str, Any] = {"namespace": namespace} if namespace is not None else {}
    try:
        await store.aadd_texts(
            [r.text for r in records],
            metadatas=[_stored_metadata(r) for r in records],
            ids=[r.id for r in records],
            **kwargs,
        )
    except (EndpointRequestError, MetadataTooLargeError, InvalidRecordError) as exc:
        if len(records) == 1:
            return [RejectedRecord(records[0].row, records[0].id, records[0].text, reason(exc))]
        mid = len(records) // 2
        return [
            *await _aadd_bisecting(store, records[:mid], namespace),
            *await _aadd_bisecting(store, records[mid:], namespace),
        ]
    return []


# ---------------------------------------------------------------------------------------------- sync driver
def process_chunk(
    records: Sequence[Record],
    *,
    embeddings: Embeddings | DetailedEmbeddings | None,
    store: VectorWriter | VectorStore,
    namespace: str | None = None,
    force: bool = False,
    sparse_embeddings: Any | None = None,
) -> ChunkResult:
    """Sync twin of :func:`aprocess_chunk`: the same steps and the same results, with blocking calls."""
    if not records:
        return ChunkResult()
    if isinstance(store, VectorWriter):
        present: set[str] = set()
        if not force:
            try:
                present = store.existing_ids([r.id for r in records], namespace=namespace)
            except HfPineconeError as exc:
                raise _chunk_error(exc, ChunkResult()) from exc
        todo = [r for r in records if r.id not in present]
        if not todo:
            return ChunkResult(already_present=len(records))
        skipped = len(records) - len(todo)
        texts = [r.text for r in todo]
        try:
            sparse_only = sparse_embeddings is not None and _sparse_only(store)
            results: list[Any] = (
                [None] * len(texts) if sparse_only else _embed_for_writer(_embeddings_of(embeddings, store), texts)
            )
            sparse_results = None if sparse_embeddings is None else sparse_embeddings.embed_documents_detailed(texts)
        except HfPineconeError as exc:
            raise _chunk_error(exc, ChunkResult(already_present=skipped)) from exc
        ok, vectors, sparse, rejected = _split_both(todo, results, sparse_results)
        embedded = len(ok)
        upserted = 0
        while ok:
            try:
                upserted = store.upsert_vectors(_rows(ok, vectors), namespace=namespace, **_sparse_kw(sparse))
                break
            except PineconeStoreError as exc:
                partial = ChunkResult(embedded=embedded, already_present=skipped, rejected=tuple(rejected))
                _drop_refused(exc, ok, vectors, sparse, rejected, partial)
        return ChunkResult(embedded=embedded, upserted=upserted, already_present=skipped, rejected=tuple(rejected))
    _no_sparse_for(store, sparse_embeddings)
    present = set() if force else _existing_via_get(store, [r.id for r in records])
    todo = [r for r in records if r.id not in present]
    failed = _add_bisecting(store, todo, namespace)
    stored = len(todo) - len(failed)
    return ChunkResult(
        embedded=stored, upserted=stored, already_present=len(records) - len(todo), rejected=tuple(failed)
    )


def _existing_via_get(store: VectorStore, ids: list[str]) -> set[str]:
    try:
        docs = store.get_by_ids(ids)
    except NotImplementedError:
        return set()
    return {doc.id for doc in docs if doc.id is not None}


def _add_bisecting(store: VectorStore, records: list[Record], namespace: str | None) -> list[RejectedRecord]:
    if not records:
        return []
    kwargs: dict[str, Any] = {"namespace": namespace} if namespace is not None else {}
    try:
        store.add_texts(
            [r.text for r in records],
            metadatas=[_stored_metadata(r) for r in records],
            ids=[r.id for r in records],
            **kwargs,
        )
    except (EndpointRequestError, MetadataTooLargeError, InvalidRecordError) as exc:
        if len(records) == 1:
            return [RejectedRecord(records[0].row, records[0].id, records[0].text, reason(exc))]
        mid = len(records) // 2
        return [*_add_bisecting(store, records[:mid], namespace), *_add_bisecting(store, records[mid:], namespace)]
    return []
