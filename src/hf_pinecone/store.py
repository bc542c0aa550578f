"""``PineconeStore``: a safer drop-in for langchain-pinecone's ``PineconeVectorStore``.

``PineconeStore`` keeps langchain-pinecone's constructor (swap the class name, nothing else) and fixes what
users hit with the upstream store:

- construction never touches the network: an ``index_name`` is resolved to its host at the first call;
- the caller's texts, metadata dicts and documents are never mutated;
- records without an id get a deterministic one (:func:`hf_pinecone.ids.content_id`), so re-adding the same
  text overwrites instead of duplicating;
- ``get_by_ids`` / ``aget_by_ids`` exist and every search result (MMR included) carries ``Document.id``;
- upserts are planned in batches bounded by Pinecone's 1,000 records AND 2 MB per request; metadata is checked
  against Pinecone's rules (40 KB, no null, no nested objects) for the whole call before anything is written;
- every data-plane request goes through one transport with one retry layer (429, 5xx, broken connections),
  and only :mod:`hf_pinecone.errors` types escape (never an SDK, urllib3 or httpx2 exception);
- the index dimension is compared with the vectors once, before the first write.

The pure parts live in :mod:`hf_pinecone._pinecone` (limits, record planning, the sans-IO protocol); this
module is the LangChain face. Sync and async methods are twins over the same planning code and the same
bounded fan-out (:mod:`hf_pinecone._pinecone.data_plane`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar, overload

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_pinecone import PineconeVectorStore
from langchain_pinecone._utilities import DistanceStrategy, maximal_marginal_relevance
from pydantic import SecretStr

from hf_pinecone._pinecone.control import (
    IndexDescription,
    embedding_dimension,
    ensure_index,
)
from hf_pinecone._pinecone.data_plane import DataPlane
from hf_pinecone._pinecone.limits import (
    MAX_FETCH_IDS,
    MAX_METADATA_BYTES,
    MAX_REQUEST_BYTES,
    MAX_UPSERT_RECORDS,
)
from hf_pinecone._pinecone.records import (
    UpsertRecord,
    check_id,
    dedupe_last_wins,
    metadata_size,
    plan_fetch_chunks,
    plan_upsert_batches,
    prepare_metadata,
    prepare_records,
)
from hf_pinecone._pinecone.sparse import SparseVector, check_alpha, check_sparse, hybrid_scale
from hf_pinecone._protocol import check_texts
from hf_pinecone._retry import RetryPolicy
from hf_pinecone.errors import ConfigurationError, IndexMismatchError, InvalidRecordError
from hf_pinecone.ids import content_id
from hf_pinecone.writer import DEFAULT_UPSERT_CONCURRENCY, IndexWriter, VectorRecord

__all__ = [
    "MAX_FETCH_IDS",
    "MAX_METADATA_BYTES",
    "MAX_REQUEST_BYTES",
    "MAX_UPSERT_RECORDS",
    "IndexDescription",
    "InvalidRecordError",
    "PineconeStore",
    "UpsertRecord",
    "dedupe_last_wins",
    "embedding_dimension",
    "ensure_index",
    "metadata_size",
    "plan_fetch_chunks",
    "plan_upsert_batches",
    "prepare_metadata",
    "prepare_records",
]

_UNRESOLVED = "hf-pinecone://unresolved"  # handed to the base class so that it does not look the host up
T = TypeVar("T")
# Options of the SDK's Index.upsert that mean nothing here: requests are always sent concurrently and bounded.
_IGNORED_UPSERT_OPTIONS = frozenset({"async_req", "pool_threads", "show_progress"})


def _to_document(record_id: str | None, metadata: dict[str, Any] | None, text_key: str) -> Document:
    stored = dict(metadata or {})
    text = stored.pop(text_key, "")
    return Document(id=record_id, page_content=text if isinstance(text, str) else str(text), metadata=stored)


def _rounds(
    texts: list[str], ids: list[str], metadatas: list[dict[str, Any]], size: int
) -> Iterable[tuple[list[str], list[str], list[dict[str, Any]]]]:
    """``add_texts``' embedding rounds: slices of ``size`` (at least 1) texts with their ids and metadata."""
    step = max(1, size)
    for start in range(0, len(texts), step):
        end = start + step
        yield texts[start:end], ids[start:end], metadatas[start:end]


def _check_upsert_options(options: dict[str, Any]) -> None:
    unknown = sorted(set(options) - _IGNORED_UPSERT_OPTIONS)
    if unknown:
        raise ConfigurationError(
            f"unsupported upsert option(s) {', '.join(unknown)}: PineconeStore sends its own upsert requests "
            "(batch_size= and upsert_concurrency= control them)"
        )


class _NoDenseEmbeddings(Embeddings):
    """Stands in for the dense embeddings of a store over a sparse index (langchain-pinecone requires one)."""

    def _refuse(self) -> Any:
        raise ConfigurationError(
            "this store has sparse embeddings only (a sparse index): use sparse_search_with_score or a "
            "HybridRetriever, or give it embedding= for dense search"
        )

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._refuse()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        return self._refuse()  # type: ignore[no-any-return]


class _WriterSetting(Generic[T]):
    """A store attribute kept on its :class:`IndexWriter` (read and set there), so the two never disagree."""

    def __init__(self, doc: str) -> None:
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, store: None, owner: type) -> _WriterSetting[T]: ...

    @overload
    def __get__(self, store: PineconeStore, owner: type) -> T: ...

    def __get__(self, store: PineconeStore | None, owner: type) -> T | _WriterSetting[T]:
        if store is None:
            return self
        value: T = getattr(store.writer, self.name)
        return value

    def __set__(self, store: PineconeStore, value: T) -> None:
        setattr(store.writer, self.name, value)


class PineconeStore(PineconeVectorStore):
    """langchain-pinecone's ``PineconeVectorStore`` with deterministic ids, limits, retries, ``get_by_ids``.

    Same constructor as ``PineconeVectorStore`` (a one-line swap), plus keyword-only options. Nothing is sent
    at construction: with ``index_name`` only, the host is looked up on the control plane at the first call.

    Example:
        ```python
        from hf_pinecone import PineconeStore, ensure_index

        host = ensure_index("docs", embeddings=embeddings)
        store = PineconeStore(embedding=embeddings, host=host)
        store.add_texts(["hello"])          # id = content_id("hello", namespace)
        store.get_by_ids(store.add_texts(["hello"]))
        ```

    Args:
        index: A ``pinecone`` Index (or IndexAsyncio); its host and API key are used.
        embedding: The LangChain embeddings used for texts and queries.
        text_key: Metadata key holding the document text.
        namespace: Default namespace (``None`` is Pinecone's default namespace).
        distance_strategy: How scores are turned into relevance (match the index metric).
        pinecone_api_key: API key (else ``PINECONE_API_KEY``).
        index_name: Index name (else ``PINECONE_INDEX_NAME``), resolved to its host at first use.
        host: Index host (else ``PINECONE_HOST``); skips the control plane.
        controller_host: Control-plane URL used to resolve ``index_name`` (else ``PINECONE_CONTROLLER_HOST``).
        truncate_text: When a record's metadata is over 40 KB, shorten its stored text to fit (logged)
            instead of raising :class:`~hf_pinecone.errors.MetadataTooLargeError`.
        retry: Retry policy for 429/5xx and connection failures (default: ``RetryPolicy()``).
        upsert_concurrency: Requests in flight at once within one call (upsert batches, fetch and delete chunks).
        sparse_embedding: Sparse embeddings (e.g. :class:`~hf_pinecone.InferenceEndpointSparseEmbeddings`:
            ``embed_documents`` / ``embed_query`` returning ``{"indices", "values"}``). With it, ``add_texts``
            writes sparse values with the dense ones under the same ids, and :meth:`hybrid_search_with_score`
            and :meth:`sparse_search_with_score` embed the query with it.
    """

    def __init__(
        self,
        index: Any | None = None,
        embedding: Embeddings | None = None,
        text_key: str | None = "text",
        namespace: str | None = None,
        distance_strategy: DistanceStrategy | None = DistanceStrategy.COSINE,
        *,
        pinecone_api_key: str | None = None,
        index_name: str | None = None,
        host: str | None = None,
        controller_host: str | None = None,
        truncate_text: bool = False,
        retry: RetryPolicy | None = None,
        upsert_concurrency: int = DEFAULT_UPSERT_CONCURRENCY,
        sparse_embedding: Any | None = None,
    ) -> None:
        if upsert_concurrency < 1:
            raise ConfigurationError(f"upsert_concurrency must be >= 1, got {upsert_concurrency}")
        self._writer: IndexWriter | None = None
        self._initial_host: str | None = None  # what the base class sets as _index_host, before the writer exists
        index_name = index_name or os.environ.get("PINECONE_INDEX_NAME") or None
        explicit_host = host or os.environ.get("PINECONE_HOST")
        lazy = index is None and not explicit_host and index_name is not None
        if embedding is None and sparse_embedding is not None:
            embedding = _NoDenseEmbeddings()
        super().__init__(
            index,
            embedding,
            text_key,
            namespace,
            distance_strategy,
            pinecone_api_key=pinecone_api_key,
            index_name=index_name,
            host=_UNRESOLVED if lazy else host,
        )
        # The writes, fetches by id, lists, deletes and stats: one IndexWriter on the host the base class settled
        # on (the index object's, the given one, or none yet: then index_name is looked up at the first call).
        self._writer = IndexWriter(
            host=None if self._initial_host in (None, _UNRESOLVED) else self._initial_host,
            index_name=index_name,
            pinecone_api_key=self._api_key(),
            controller_host=controller_host,
            namespace=self._namespace,
            text_key=self._text_key,
            truncate_text=truncate_text,
            retry=retry,
            upsert_concurrency=upsert_concurrency,
        )
        self.sparse_embedding = sparse_embedding
        """Sparse embeddings for hybrid writes and queries (``None``: dense only)."""

    @classmethod
    def _on_writer(cls, writer: IndexWriter, embedding: Embeddings) -> PineconeStore:
        """A store that writes through ``writer`` (its pools, its dimension cache): how a Stack builds its store."""
        store = cls(
            embedding=embedding,
            text_key=writer.text_key,
            namespace=writer.namespace,
            pinecone_api_key=writer._api_key(),
            host=writer.host,
            truncate_text=writer.truncate_text,
            retry=writer.retry,
            upsert_concurrency=writer.upsert_concurrency,
        )
        store._writer = writer
        return store

    @property
    def writer(self) -> IndexWriter:
        """The :class:`~hf_pinecone.writer.IndexWriter` this store writes, fetches and deletes through."""
        assert self._writer is not None  # set at the end of __init__
        return self._writer

    truncate_text = _WriterSetting[bool]("Shorten over-long stored text instead of raising MetadataTooLargeError.")
    retry = _WriterSetting[RetryPolicy]("Retry policy for 429/5xx and connection failures on every request.")
    upsert_concurrency = _WriterSetting[int]("Requests in flight at once within one call.")

    # -- the index host, resolved lazily (by the writer) ---

    @property
    def _index_host(self) -> str:
        """The index host; an ``index_name`` is looked up on the control plane on first read."""
        if self._writer is None:  # only while the base class constructs
            return self._initial_host or _UNRESOLVED
        return self._writer.host

    @_index_host.setter
    def _index_host(self, value: str) -> None:
        if self._writer is None:
            self._initial_host = value
        else:
            self._writer._set_host(value)

    def _api_key(self) -> str:
        key: Any = self._pinecone_api_key
        return str(key.get_secret_value() if isinstance(key, SecretStr) else key)

    async def _aplane(self) -> DataPlane:
        return await self.writer._aplane()

    def _plane(self) -> DataPlane:
        return self.writer._plane()

    def __repr__(self) -> str:
        return f"{type(self).__name__}{repr(self.writer).removeprefix('IndexWriter')}"

    @property
    def host(self) -> str:
        """The index host (resolved through the control plane on first use when built from ``index_name``)."""
        return self.writer.host

    @property
    def index_dimension(self) -> int | None:
        """The index's dimension as learned from ``describe_index_stats`` (read once, at the first write)."""
        return self.writer.index_dimension

    @property
    def namespace(self) -> str | None:
        """The default namespace of this store (``None``: Pinecone's default namespace)."""
        return self._namespace

    # -- async lifetime: the store needs no open session; these close the running loop's pool ---

    async def __aenter__(self) -> PineconeStore:
        return self

    async def aclose(self, *args: Any, **kwargs: Any) -> None:
        """Close the connection pools of the running event loop (a later call opens new ones)."""
        await self.writer.aclose()

    def close(self) -> None:
        """Close the sync connection pool."""
        self.writer.close()

    # -- shared planning ---

    def _ns(self, namespace: str | None) -> str | None:
        return self._namespace if namespace is None else namespace

    def _resolve_ids(self, texts: Sequence[str], ids: Sequence[str | None] | None, namespace: str | None) -> list[str]:
        if ids is None:
            return [content_id(text, namespace) for text in texts]
        if len(ids) != len(texts):
            raise ValueError(f"got {len(ids)} ids for {len(texts)} texts")
        return [
            content_id(text, namespace) if record_id is None or record_id == "" else check_id(record_id)
            for text, record_id in zip(texts, ids, strict=True)
        ]

    def _prepare_texts(
        self,
        texts: Iterable[str],
        metadatas: Sequence[dict[str, Any] | None] | None,
        ids: Sequence[str | None] | None,
        namespace: str | None,
        id_prefix: str | None,
        truncate_text: bool | None,
    ) -> tuple[list[str], list[str], list[dict[str, Any]]]:
        """Everything add_texts can check without I/O, for the whole call, before anything is embedded."""
        texts = check_texts(list(texts))  # non-strings and lone surrogates, named by position
        if metadatas is not None and len(metadatas) != len(texts):
            raise ValueError(f"got {len(metadatas)} metadata dicts for {len(texts)} texts")
        record_ids = self._resolve_ids(texts, ids, namespace)
        if id_prefix:
            record_ids = [rid if rid.startswith(id_prefix + "#") else f"{id_prefix}#{rid}" for rid in record_ids]
        truncate = self.truncate_text if truncate_text is None else truncate_text
        stored = [
            prepare_metadata(
                check_id(rid),
                metadatas[i] if metadatas is not None else None,
                text=texts[i],
                text_key=self._text_key,
                truncate_text=truncate,
            )
            for i, rid in enumerate(record_ids)
        ]
        return texts, record_ids, stored

    def _index_dim(self) -> int | None:
        return self.writer._index_dim()

    async def _aindex_dim(self) -> int | None:
        return await self.writer._aindex_dim()

    def index_vector_type(self) -> str:
        """``"dense"`` or ``"sparse"``: the index's vector type (from its stats, read once)."""
        return self.writer.index_vector_type()

    async def aindex_vector_type(self) -> str:
        """Async :meth:`index_vector_type`."""
        return await self.writer.aindex_vector_type()

    # -- vectors in, ids out ---

    def upsert_vectors(
        self,
        records: Sequence[VectorRecord],
        *,
        namespace: str | None = None,
        sparse_values: Sequence[SparseVector | None] | None = None,
    ) -> int:
        """Upsert already-embedded records ``(id, vector, metadata)``; returns the number Pinecone acknowledged.

        The store's :class:`~hf_pinecone.writer.IndexWriter` does the work: see
        :meth:`IndexWriter.upsert_vectors <hf_pinecone.writer.IndexWriter.upsert_vectors>` for the arguments,
        the batching and the errors. ``namespace`` defaults to the store's.
        """
        return self.writer.upsert_vectors(records, namespace=self._ns(namespace), sparse_values=sparse_values)

    async def aupsert_vectors(
        self,
        records: Sequence[VectorRecord],
        *,
        namespace: str | None = None,
        sparse_values: Sequence[SparseVector | None] | None = None,
    ) -> int:
        """Async :meth:`upsert_vectors`."""
        return await self.writer.aupsert_vectors(records, namespace=self._ns(namespace), sparse_values=sparse_values)

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        ids: list[str] | None = None,
        namespace: str | None = None,
        batch_size: int | None = None,
        embedding_chunk_size: int = 1000,
        *,
        async_req: bool = True,
        id_prefix: str | None = None,
        truncate_text: bool | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Embed texts and upsert them; the caller's texts and metadata dicts are left unchanged.

        Args:
            texts: Texts to add.
            metadatas: One metadata dict per text (copied, never modified).
            ids: One id per text; ``None`` (or a ``None`` entry) means ``content_id(text, namespace)``, so
                adding the same text again overwrites it.
            namespace: Target namespace (default: the store's).
            batch_size: Records per upsert request (capped at 1,000; requests also stay under 2 MB). ``None``
                sends as many as the limits allow.
            embedding_chunk_size: Texts embedded (and then upserted) per round.
            async_req: Send a round's upsert requests concurrently (``upsert_concurrency`` at a time).
            id_prefix: Prefix ids with ``"{id_prefix}#"`` (as upstream).
            truncate_text: Override the store's ``truncate_text`` for this call.
            **kwargs: Accepted for signature compatibility (``pool_threads``, ``show_progress``); any other
                SDK upsert option is refused with :class:`~hf_pinecone.errors.ConfigurationError`.

        Returns:
            The ids, one per text, in order.

        Raises:
            InvalidRecordError: Bad id, metadata type or vector (metadata is checked for all texts before any
                embedding or write).
            MetadataTooLargeError: Metadata over 40 KB; nothing was written.
            IndexMismatchError: The embeddings' dimension differs from the index's; nothing was written.
            PineconeRequestError: Pinecone refused a request or stayed unavailable.
        """
        _check_upsert_options(kwargs)
        namespace = self._ns(namespace)
        texts, record_ids, stored = self._prepare_texts(texts, metadatas, ids, namespace, id_prefix, truncate_text)
        plane = self._plane() if texts else None
        for round_texts, round_ids, round_stored in _rounds(texts, record_ids, stored, embedding_chunk_size):
            assert plane is not None
            dimension = self._index_dim()
            sparse = self.sparse_embedding.embed_documents(round_texts) if self.sparse_embedding is not None else None
            vectors: Any = (
                [None] * len(round_texts)
                if self.writer._vector_type == "sparse"
                else self._embedding.embed_documents(round_texts)
            )
            batches = self.writer._build_batches(
                round_ids, vectors, round_stored, namespace, dimension, batch_size, sparse
            )
            plane.upsert(batches, namespace, concurrent=async_req)
        return record_ids

    async def aadd_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        ids: list[str] | None = None,
        namespace: str | None = None,
        batch_size: int | None = None,
        embedding_chunk_size: int = 1000,
        *,
        id_prefix: str | None = None,
        truncate_text: bool | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Async :meth:`add_texts`."""
        _check_upsert_options(kwargs)
        namespace = self._ns(namespace)
        texts, record_ids, stored = self._prepare_texts(texts, metadatas, ids, namespace, id_prefix, truncate_text)
        if not texts:
            return record_ids
        index_dimension = await self._aindex_dim()
        plane = await self._aplane()
        for round_texts, round_ids, round_stored in _rounds(texts, record_ids, stored, embedding_chunk_size):
            sparse = (
                await self.sparse_embedding.aembed_documents(round_texts) if self.sparse_embedding is not None else None
            )
            vectors: Any = (
                [None] * len(round_texts)
                if self.writer._vector_type == "sparse"
                else await self._embedding.aembed_documents(round_texts)
            )
            batches = self.writer._build_batches(
                round_ids, vectors, round_stored, namespace, index_dimension, batch_size, sparse
            )
            await plane.aupsert(batches, namespace)
        return record_ids

    # -- fetch ---

    def _documents(self, ids: Sequence[str], found: dict[str, Any]) -> list[Document]:
        return [
            _to_document(record_id, found[record_id].get("metadata"), self._text_key)
            for record_id in dict.fromkeys(ids)
            if record_id in found
        ]

    def get_by_ids(self, ids: Sequence[str], /, *, namespace: str | None = None) -> list[Document]:
        """Fetch documents by id in the order of ``ids``; missing ids are skipped (<= 1,000 per request).

        Args:
            ids: Ids to fetch (a repeated id is returned once).
            namespace: Namespace to read (default: the store's).

        Returns:
            One ``Document`` (with ``id``) per id found.
        """
        if not ids:
            return []
        return self._documents(ids, self._plane().fetch(ids, self._ns(namespace)))

    async def aget_by_ids(self, ids: Sequence[str], /, *, namespace: str | None = None) -> list[Document]:
        """Async :meth:`get_by_ids`."""
        if not ids:
            return []
        return self._documents(ids, await (await self._aplane()).afetch(ids, self._ns(namespace)))

    def existing_ids(self, ids: Sequence[str], *, namespace: str | None = None) -> set[str]:
        """The subset of ``ids`` stored in ``namespace`` (default: the store's).

        See :meth:`IndexWriter.existing_ids <hf_pinecone.writer.IndexWriter.existing_ids>`.
        """
        return self.writer.existing_ids(ids, namespace=self._ns(namespace))

    async def aexisting_ids(self, ids: Sequence[str], *, namespace: str | None = None) -> set[str]:
        """Async :meth:`existing_ids`."""
        return await self.writer.aexisting_ids(ids, namespace=self._ns(namespace))

    # -- search ---

    def _matches_to_docs(self, matches: list[dict[str, Any]]) -> list[tuple[Document, float]]:
        return [
            (_to_document(match.get("id"), match.get("metadata"), self._text_key), float(match.get("score", 0.0)))
            for match in matches
        ]

    def similarity_search_by_vector_with_score(
        self, embedding: list[float], *, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Documents most similar to ``embedding`` with their scores; each ``Document`` has its ``id``.

        Args:
            embedding: Query vector.
            k: Number of results.
            **kwargs: ``filter`` (Pinecone metadata filter) and ``namespace``.
        """
        namespace = self._ns(kwargs.get("namespace"))
        matches = self._plane().query(embedding, top_k=k, namespace=namespace, filter=kwargs.get("filter"))
        return self._matches_to_docs(matches)

    async def asimilarity_search_by_vector_with_score(
        self, embedding: list[float], *, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Async :meth:`similarity_search_by_vector_with_score`."""
        namespace = self._ns(kwargs.get("namespace"))
        plane = await self._aplane()
        matches = await plane.aquery(embedding, top_k=k, namespace=namespace, filter=kwargs.get("filter"))
        return self._matches_to_docs(matches)

    # -- sparse and hybrid search ---

    def _sparse_embedding(self) -> Any:
        if self.sparse_embedding is None:
            raise ConfigurationError(
                "this store has no sparse embeddings: PineconeStore(..., sparse_embedding="
                "InferenceEndpointSparseEmbeddings(endpoint_url=...))"
            )
        return self.sparse_embedding

    def _hybrid_request(
        self, dense: Sequence[float] | None, sparse: Any, alpha: float
    ) -> tuple[list[float] | None, SparseVector | None]:
        """The query's (dense, sparse) vectors for this index, checked before anything is sent.

        ``dense`` ``None`` asks for a sparse-only search. Pinecone answers sparse-dense queries only on dotproduct
        indexes ("querying will return an error" otherwise: docs.pinecone.io/reference/known-limitations); a
        dense index needs a dense vector, so a sparse-only search there sends a zero one.
        """
        alpha = check_alpha(alpha)
        clean = check_sparse(sparse)
        where = self.writer._where
        if self.writer._vector_type == "sparse":
            if dense is not None and alpha > 0:
                raise IndexMismatchError(
                    f"index {where} is a sparse index: it has no dense values to weight by alpha={alpha:g}; search it "
                    "with sparse_search_with_score, or fuse it with a dense index (HybridRetriever(sparse_store=...))"
                )
            return None, clean
        metric = self.writer._index_metric
        if metric not in (None, "dotproduct"):
            raise IndexMismatchError(
                f"index {where} uses the {metric} metric: Pinecone answers sparse (and sparse-dense) "
                "queries only on dotproduct indexes; create one with ensure_index(..., metric='dotproduct'), or "
                "keep the sparse vectors in a sparse index and fuse (HybridRetriever(sparse_store=...))"
            )
        if dense is None:
            dimension = self.writer._index_dimension
            if dimension is None:
                raise IndexMismatchError(f"index {where} reports no dimension; cannot send a sparse-only query")
            return [0.0] * dimension, clean
        if alpha >= 1.0:
            return [float(v) for v in dense], None
        scaled_dense, scaled_sparse = hybrid_scale(dense, clean, alpha)
        return scaled_dense, scaled_sparse if scaled_sparse["indices"] else None

    def hybrid_search_by_vectors_with_score(
        self,
        dense: Sequence[float] | None,
        sparse: Any,
        *,
        k: int = 4,
        alpha: float = 0.5,
        filter: dict[str, Any] | None = None,
        namespace: str | None = None,
    ) -> list[tuple[Document, float]]:
        """One query with a dense and a sparse vector, weighted as Pinecone documents (``hybrid_score_norm``).

        The dense vector is multiplied by ``alpha`` and the sparse one by ``1 - alpha``; the score is their
        dot products' sum (dotproduct indexes only). ``dense`` ``None`` searches with the sparse vector only.

        Args:
            dense: Dense query vector (``None``: sparse only).
            sparse: Sparse query vector ``{"indices", "values"}``.
            k: Number of results.
            alpha: Weight of the dense part, from 0 (sparse only) to 1 (dense only).
            filter: Pinecone metadata filter.
            namespace: Namespace (default: the store's).

        Raises:
            ConfigurationError: ``alpha`` outside [0, 1].
            InvalidSparseVectorError: The sparse vector is invalid (lengths differ, negative or repeated indices).
            IndexMismatchError: The index cannot answer the query (a cosine or euclidean dense index; a dense
                part on a sparse index).
        """
        self._index_dim()
        vector, sparse_vector = self._hybrid_request(dense, sparse, alpha)
        matches = self._plane().query(
            vector, top_k=k, namespace=self._ns(namespace), filter=filter, sparse_vector=sparse_vector
        )
        return self._matches_to_docs(matches)

    async def ahybrid_search_by_vectors_with_score(
        self,
        dense: Sequence[float] | None,
        sparse: Any,
        *,
        k: int = 4,
        alpha: float = 0.5,
        filter: dict[str, Any] | None = None,
        namespace: str | None = None,
    ) -> list[tuple[Document, float]]:
        """Async :meth:`hybrid_search_by_vectors_with_score`."""
        await self._aindex_dim()
        vector, sparse_vector = self._hybrid_request(dense, sparse, alpha)
        plane = await self._aplane()
        matches = await plane.aquery(
            vector, top_k=k, namespace=self._ns(namespace), filter=filter, sparse_vector=sparse_vector
        )
        return self._matches_to_docs(matches)

    def hybrid_search_with_score(
        self,
        query: str,
        *,
        k: int = 4,
        alpha: float = 0.5,
        filter: dict[str, Any] | None = None,
        namespace: str | None = None,
    ) -> list[tuple[Document, float]]:
        """Embed ``query`` densely and sparsely and run one alpha-weighted hybrid query.

        See :meth:`hybrid_search_by_vectors_with_score`; on a sparse index this is a sparse search.
        """
        check_alpha(alpha)
        sparse_embedding = self._sparse_embedding()
        self._index_dim()
        if self.writer._vector_type == "sparse" or alpha == 0:
            sparse, dense = sparse_embedding.embed_query(query), None
        else:  # the two embedding requests go out at once: a hybrid query costs one round trip, not two
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hf-pinecone-sparse") as pool:
                pending = pool.submit(sparse_embedding.embed_query, query)
                dense = self._embedding.embed_query(query)
                sparse = pending.result()
        return self.hybrid_search_by_vectors_with_score(
            dense, sparse, k=k, alpha=alpha, filter=filter, namespace=namespace
        )

    async def ahybrid_search_with_score(
        self,
        query: str,
        *,
        k: int = 4,
        alpha: float = 0.5,
        filter: dict[str, Any] | None = None,
        namespace: str | None = None,
    ) -> list[tuple[Document, float]]:
        """Async :meth:`hybrid_search_with_score` (the two embeddings are computed concurrently)."""
        check_alpha(alpha)
        await self._aindex_dim()
        sparse_task = self._sparse_embedding().aembed_query(query)
        if self.writer._vector_type == "sparse" or alpha == 0:
            sparse, dense = await sparse_task, None
        else:
            sparse, dense = await asyncio.gather(sparse_task, self._embedding.aembed_query(query))
        return await self.ahybrid_search_by_vectors_with_score(
            dense, sparse, k=k, alpha=alpha, filter=filter, namespace=namespace
        )

    def sparse_search_with_score(
        self, query: str, *, k: int = 4, filter: dict[str, Any] | None = None, namespace: str | None = None
    ) -> list[tuple[Document, float]]:
        """Search with the query's sparse vector only (a sparse index, or a dotproduct index's sparse values)."""
        sparse = self._sparse_embedding().embed_query(query)
        return self.hybrid_search_by_vectors_with_score(
            None, sparse, k=k, alpha=0.0, filter=filter, namespace=namespace
        )

    async def asparse_search_with_score(
        self, query: str, *, k: int = 4, filter: dict[str, Any] | None = None, namespace: str | None = None
    ) -> list[tuple[Document, float]]:
        """Async :meth:`sparse_search_with_score`."""
        sparse = await self._sparse_embedding().aembed_query(query)
        return await self.ahybrid_search_by_vectors_with_score(
            None, sparse, k=k, alpha=0.0, filter=filter, namespace=namespace
        )

    def as_retriever(self, **kwargs: Any) -> Any:
        """A retriever; ``search_type="hybrid"`` or ``"sparse"`` gives a :class:`~hf_pinecone.hybrid.HybridRetriever`.

        ``search_kwargs`` of a hybrid retriever: ``k``, ``alpha``, ``filter``, ``namespace``, and ``sparse_store``
        (a second store, a sparse index, fused with this one by reciprocal rank fusion instead of alpha
        weighting). Any other ``search_type`` is langchain's ``VectorStoreRetriever``.
        """
        if kwargs.get("search_type") in ("hybrid", "sparse"):
            from hf_pinecone.hybrid import HybridRetriever

            return HybridRetriever.from_store(self, **kwargs)
        return super().as_retriever(**kwargs)

    def _mmr_select(
        self, embedding: list[float], matches: list[dict[str, Any]], k: int, lambda_mult: float
    ) -> list[Document]:
        if not matches:
            return []
        selected = maximal_marginal_relevance(
            np.array([embedding], dtype=np.float32),
            [m.get("values") or [] for m in matches],
            k=k,
            lambda_mult=lambda_mult,
        )
        return [_to_document(matches[i].get("id"), matches[i].get("metadata"), self._text_key) for i in selected]

    def max_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: dict[str, Any] | None = None,
        namespace: str | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """Maximal-marginal-relevance search; each ``Document`` has its ``id``.

        Args:
            embedding: Query vector.
            k: Number of results.
            fetch_k: Candidates fetched before re-ranking.
            lambda_mult: 1 favours similarity, 0 diversity.
            filter: Pinecone metadata filter.
            namespace: Namespace to search (default: the store's).
            **kwargs: Ignored (accepted for interface compatibility).
        """
        matches = self._plane().query(
            embedding, top_k=fetch_k, namespace=self._ns(namespace), filter=filter, include_values=True
        )
        return self._mmr_select(embedding, matches, k, lambda_mult)

    async def amax_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: dict[str, Any] | None = None,
        namespace: str | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """Async :meth:`max_marginal_relevance_search_by_vector`."""
        plane = await self._aplane()
        matches = await plane.aquery(
            embedding, top_k=fetch_k, namespace=self._ns(namespace), filter=filter, include_values=True
        )
        return self._mmr_select(embedding, matches, k, lambda_mult)

    # -- delete ---

    def delete(
        self,
        ids: list[str] | None = None,
        delete_all: bool | None = None,
        namespace: str | None = None,
        filter: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Delete by ids (<= 1,000 per request), by filter, or the whole namespace; retries 429/5xx.

        Args:
            ids: Ids to delete (missing ids are fine).
            delete_all: Delete every record in the namespace.
            namespace: Namespace (default: the store's).
            filter: Pinecone metadata filter.
            **kwargs: Accepted for interface compatibility.
        """
        self.writer.delete(ids, delete_all, self._ns(namespace), filter)

    async def adelete(
        self,
        ids: list[str] | None = None,
        delete_all: bool | None = None,
        namespace: str | None = None,
        filter: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Async :meth:`delete`."""
        await self.writer.adelete(ids, delete_all, self._ns(namespace), filter)

    # -- constructors of the base class, without the SDK's control-plane lookup ---

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict[str, Any]] | None = None,
        ids: list[str] | None = None,
        batch_size: int = 32,
        text_key: str = "text",
        namespace: str | None = None,
        index_name: str | None = None,
        upsert_kwargs: dict[str, Any] | None = None,
        pool_threads: int = 4,
        embeddings_chunk_size: int = 1000,
        async_req: bool = True,
        *,
        id_prefix: str | None = None,
        **kwargs: Any,
    ) -> PineconeStore:
        """Build a store on ``index_name`` (resolved at first use) and add ``texts``; upstream's signature.

        ``pool_threads`` is accepted for compatibility (``upsert_concurrency=`` sets the requests in flight).
        """
        store = cls(index_name=index_name, embedding=embedding, text_key=text_key, namespace=namespace, **kwargs)
        store.add_texts(
            texts,
            metadatas=metadatas,
            ids=ids,
            namespace=namespace,
            batch_size=batch_size,
            embedding_chunk_size=embeddings_chunk_size,
            async_req=async_req,
            id_prefix=id_prefix,
            **(upsert_kwargs or {}),
        )
        return store

    @classmethod
    async def afrom_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict[str, Any]] | None = None,
        ids: list[str] | None = None,
        batch_size: int = 32,
        text_key: str = "text",
        namespace: str | None = None,
        index_name: str | None = None,
        upsert_kwargs: dict[str, Any] | None = None,
        embeddings_chunk_size: int = 1000,
        *,
        id_prefix: str | None = None,
        **kwargs: Any,
    ) -> PineconeStore:
        """Async :meth:`from_texts`."""
        store = cls(index_name=index_name, embedding=embedding, text_key=text_key, namespace=namespace, **kwargs)
        await store.aadd_texts(
            texts,
            metadatas=metadatas,
            ids=ids,
            namespace=namespace,
            batch_size=batch_size,
            embedding_chunk_size=embeddings_chunk_size,
            id_prefix=id_prefix,
            **(upsert_kwargs or {}),
        )
        return store

    @classmethod
    def from_existing_index(
        cls,
        index_name: str,
        embedding: Embeddings,
        text_key: str = "text",
        namespace: str | None = None,
        pool_threads: int = 4,
        **kwargs: Any,
    ) -> PineconeStore:
        """A store on an existing index, looked up at first use (``pool_threads`` accepted for compatibility)."""
        return cls(index_name=index_name, embedding=embedding, text_key=text_key, namespace=namespace, **kwargs)

    # -- list ---

    def list_ids(self, *, prefix: str | None = None, namespace: str | None = None) -> list[str]:
        """Every id in ``namespace`` (default: the store's) that starts with ``prefix``, all pages.

        See :meth:`IndexWriter.list_ids <hf_pinecone.writer.IndexWriter.list_ids>`.
        """
        return self.writer.list_ids(prefix=prefix, namespace=self._ns(namespace))

    async def alist_ids(self, *, prefix: str | None = None, namespace: str | None = None) -> list[str]:
        """Async :meth:`list_ids`."""
        return await self.writer.alist_ids(prefix=prefix, namespace=self._ns(namespace))

    # -- stats ---

    def describe_index_stats(self) -> dict[str, Any]:
        """The index's stats as Pinecone answers them (``dimension``, ``namespaces``, ``totalVectorCount``)."""
        return self.writer.describe_index_stats()

    async def adescribe_index_stats(self) -> dict[str, Any]:
        """Async :meth:`describe_index_stats`."""
        return await self.writer.adescribe_index_stats()
