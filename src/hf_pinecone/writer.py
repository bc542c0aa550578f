"""``IndexWriter``: the write and read-by-id side of one Pinecone index, without LangChain.

An :class:`IndexWriter` takes already-embedded records and says which ids an index holds: upsert (dense,
sparse-dense or sparse-only), existence checks, id listing, deletes and stats over Pinecone's data plane
(:mod:`hf_pinecone._pinecone.data_plane`). It is what :func:`hf_pinecone.ingestion.ingest` needs from a store
(a :class:`~hf_pinecone.ingestion.VectorWriter`, with ``list_ids``/``delete`` for chunked documents), and what
:class:`~hf_pinecone.store.PineconeStore` delegates its writes to. Importing it imports neither
``langchain_core`` nor ``langchain_pinecone`` (about 0.7 s of CPU), so a command-line ingest does not pay for
LangChain.

Nothing is sent at construction: with ``index_name`` only, the host is looked up on the control plane at the
first call; the index's dimension and vector type are read once (``describe_index_stats``) before the first
write, and every record is checked before any request goes out.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import numpy as np
from pydantic import SecretStr

from hf_pinecone._pinecone.control import adescribe_index, describe_index
from hf_pinecone._pinecone.data_plane import DataPlane
from hf_pinecone._pinecone.limits import MAX_UPSERT_RECORDS
from hf_pinecone._pinecone.records import (
    UpsertRecord,
    check_dimension,
    check_id,
    dedupe_last_wins,
    plan_upsert_batches,
    prepare_metadata,
    prepare_records,
    sparse_only_records,
    with_sparse,
)
from hf_pinecone._pinecone.sparse import SparseVector
from hf_pinecone._retry import RetryPolicy
from hf_pinecone.errors import ConfigurationError, InvalidRecordError

__all__ = ["DEFAULT_UPSERT_CONCURRENCY", "IndexWriter", "VectorRecord"]

DEFAULT_UPSERT_CONCURRENCY = 4
VectorRecord = tuple[str, "Sequence[float] | None", "dict[str, Any] | None"]
"""``(id, vector, metadata)``: the vector is ``None`` on a sparse index, the metadata may be ``None``."""


class IndexWriter:
    """Upsert, check, list and delete records of one Pinecone index; no LangChain involved.

    Implements :class:`~hf_pinecone.ingestion.VectorWriter`, so ``ingest(source, store=writer,
    embeddings=...)`` writes through it (``list_ids`` and ``delete`` serve chunked documents). Sync and async
    methods are twins; requests go out ``upsert_concurrency`` at a time, each retried on 429/5xx and broken
    connections, and only :mod:`hf_pinecone.errors` types escape.

    Example:
        ```python
        from hf_pinecone import IndexWriter

        with IndexWriter(index_name="docs") as writer:   # PINECONE_API_KEY from the environment
            writer.upsert_vectors([("a", [0.1] * 384, {"text": "hello"})])
            writer.existing_ids(["a", "b"])              # {"a"}
        ```

    Args:
        host: Index host (else ``PINECONE_HOST``); skips the control plane.
        index_name: Index name (else ``PINECONE_INDEX_NAME``), resolved to its host at first use.
        pinecone_api_key: API key (else ``PINECONE_API_KEY``).
        controller_host: Control-plane URL used to resolve ``index_name`` (else ``PINECONE_CONTROLLER_HOST``).
        namespace: Default namespace (``None`` is Pinecone's default namespace).
        text_key: Metadata key holding the document text (the text shortened by ``truncate_text``).
        truncate_text: When a record's metadata is over 40 KB, shorten its stored text to fit (logged)
            instead of raising :class:`~hf_pinecone.errors.MetadataTooLargeError`.
        retry: Retry policy for 429/5xx and connection failures (default: ``RetryPolicy()``).
        upsert_concurrency: Requests in flight at once within one call (upsert batches, fetch and delete chunks).

    Raises:
        ConfigurationError: No API key (``PINECONE_API_KEY``), neither a host nor an index name, or
            ``upsert_concurrency`` < 1.
    """

    def __init__(
        self,
        *,
        host: str | None = None,
        index_name: str | None = None,
        pinecone_api_key: str | SecretStr | None = None,
        controller_host: str | None = None,
        namespace: str | None = None,
        text_key: str = "text",
        truncate_text: bool = False,
        retry: RetryPolicy | None = None,
        upsert_concurrency: int = DEFAULT_UPSERT_CONCURRENCY,
    ) -> None:
        if upsert_concurrency < 1:
            raise ConfigurationError(f"upsert_concurrency must be >= 1, got {upsert_concurrency}")
        key = pinecone_api_key or os.environ.get("PINECONE_API_KEY")
        if isinstance(key, SecretStr):
            key = key if key.get_secret_value() else None
        if not key:
            raise ConfigurationError("no Pinecone API key: pass pinecone_api_key= or set PINECONE_API_KEY")
        self._pinecone_api_key = key if isinstance(key, SecretStr) else SecretStr(key)
        self._index_name = index_name or os.environ.get("PINECONE_INDEX_NAME") or None
        self._resolved_host: str | None = host or os.environ.get("PINECONE_HOST") or None
        if self._resolved_host is None and self._index_name is None:
            raise ConfigurationError(
                "no index: pass host= or index_name= (or set PINECONE_HOST or PINECONE_INDEX_NAME)"
            )
        self._controller_host = controller_host
        self._namespace = namespace
        self.text_key = text_key
        """Metadata key holding the document text."""
        self.truncate_text = truncate_text
        """Shorten over-long stored text instead of raising MetadataTooLargeError."""
        self.retry = retry or RetryPolicy()
        """Retry policy for 429/5xx and connection failures on every request."""
        self.upsert_concurrency = upsert_concurrency
        """Requests in flight at once within one call."""
        self._host_lock = threading.Lock()
        # What describe_index_stats said, read once before the first write (see _remember_dimension).
        self._index_dimension: int | None = None
        self._index_metric: str | None = None
        self._vector_type = "dense"
        self._dimension_known = False
        self._dimension_lock = threading.Lock()
        self._data_plane: DataPlane | None = None
        self._data_plane_lock = threading.Lock()

    # -- the index host, resolved lazily ---

    def _api_key(self) -> str:
        return self._pinecone_api_key.get_secret_value()

    def _set_host(self, host: str) -> None:
        with self._host_lock:
            self._resolved_host = host

    @property
    def _where(self) -> str:
        """The index as error messages name it: its host once known, else its name."""
        return repr(self._resolved_host or self._index_name)

    @property
    def host(self) -> str:
        """The index host (resolved through the control plane on first use when built from ``index_name``)."""
        if self._resolved_host is None:
            with self._host_lock:
                if self._resolved_host is None:
                    assert self._index_name is not None  # the constructor requires one of the two
                    self._resolved_host = describe_index(
                        self._index_name, api_key=self._api_key(), host=self._controller_host, retry=self.retry
                    ).host
        return self._resolved_host

    async def _aplane(self) -> DataPlane:
        if self._data_plane is None and self._resolved_host is None:
            assert self._index_name is not None
            description = await adescribe_index(
                self._index_name, api_key=self._api_key(), host=self._controller_host, retry=self.retry
            )
            with self._host_lock:
                if self._resolved_host is None:
                    self._resolved_host = description.host
        return self._plane()

    def _plane(self) -> DataPlane:
        if self._data_plane is None:
            host = self.host  # may resolve: outside the lock
            with self._data_plane_lock:
                if self._data_plane is None:
                    self._data_plane = DataPlane(
                        host, self._api_key(), retry=self.retry, concurrency=self.upsert_concurrency
                    )
        return self._data_plane

    def __repr__(self) -> str:
        where = self._resolved_host if self._resolved_host is not None else self._index_name
        return f"{type(self).__name__}(host={where!r}, namespace={self._namespace!r})"

    @property
    def index_dimension(self) -> int | None:
        """The index's dimension as learned from ``describe_index_stats`` (read once, at the first write)."""
        return self._index_dimension if self._dimension_known else None

    @property
    def namespace(self) -> str | None:
        """The default namespace of this writer (``None``: Pinecone's default namespace)."""
        return self._namespace

    def _ns(self, namespace: str | None) -> str | None:
        return self._namespace if namespace is None else namespace

    # -- lifetime ---

    def close(self) -> None:
        """Close the sync connection pool (a later call opens a new one)."""
        if self._data_plane is not None:
            self._data_plane.close()

    async def aclose(self) -> None:
        """Close the connection pools of the running event loop (a later call opens new ones)."""
        if self._data_plane is not None:
            await self._data_plane.aclose()

    def __enter__(self) -> IndexWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> IndexWriter:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- the index's dimension and vector type, read once ---

    def _remember_dimension(self, stats: dict[str, Any]) -> int | None:
        dimension = stats.get("dimension")
        with self._dimension_lock:
            self._index_dimension = int(dimension) if dimension else None
            # describe_index_stats answers carry "metric" and "vectorType" (API 2025-04).
            metric, vector_type = stats.get("metric"), stats.get("vectorType")
            self._index_metric = str(metric) if metric else None
            self._vector_type = str(vector_type) if vector_type else "dense"
            self._dimension_known = True
            return self._index_dimension

    def _index_dim(self) -> int | None:
        if not self._dimension_known:
            self.describe_index_stats()
        return self._index_dimension

    async def _aindex_dim(self) -> int | None:
        if not self._dimension_known:
            await self.adescribe_index_stats()
        return self._index_dimension

    def index_vector_type(self) -> str:
        """``"dense"`` or ``"sparse"``: the index's vector type (from its stats, read once)."""
        self._index_dim()
        return self._vector_type

    async def aindex_vector_type(self) -> str:
        """Async :meth:`index_vector_type`."""
        await self._aindex_dim()
        return self._vector_type

    def describe_index_stats(self) -> dict[str, Any]:
        """The index's stats as Pinecone answers them (``dimension``, ``namespaces``, ``totalVectorCount``)."""
        stats = self._plane().describe_index_stats()
        self._remember_dimension(stats)
        return stats

    async def adescribe_index_stats(self) -> dict[str, Any]:
        """Async :meth:`describe_index_stats`."""
        stats = await (await self._aplane()).adescribe_index_stats()
        self._remember_dimension(stats)
        return stats

    # -- planning (no I/O) ---

    def _prepare_vectors(
        self, records: Sequence[VectorRecord]
    ) -> tuple[list[str], list[Sequence[float] | None], list[dict[str, Any]]]:
        ids = [check_id(record[0]) for record in records]
        metadatas = [
            prepare_metadata(rid, record[2], text_key=self.text_key, truncate_text=self.truncate_text)
            for rid, record in zip(ids, records, strict=True)
        ]
        return ids, [record[1] for record in records], metadatas

    def _build_batches(
        self,
        ids: Sequence[str],
        vectors: Sequence[Sequence[float] | None] | np.ndarray,
        metadatas: Sequence[dict[str, Any]],
        namespace: str | None,
        index_dimension: int | None,
        batch_size: int | None,
        sparse: Sequence[SparseVector | None] | None = None,
    ) -> list[list[UpsertRecord]]:
        """The upsert requests for checked records: <= 1,000 records (or ``batch_size``) and < 2 MB each."""
        where = self._where
        if self._vector_type == "sparse":
            if any(v is not None and len(v) for v in vectors):
                raise InvalidRecordError(
                    f"index {where} is a sparse index: it stores no dense values (pass None as the vector)",
                    record_id=None,
                    field="values",
                )
            if sparse is None:
                raise ConfigurationError(f"index {where} is a sparse index: pass sparse_values= (or sparse_embedding=)")
            records = sparse_only_records(ids, sparse, metadatas)
        else:
            if any(v is None for v in vectors):
                raise InvalidRecordError(
                    f"index {where} is a dense index: every record needs a dense vector", record_id=None, field="values"
                )
            if len(vectors):
                check_dimension(index_dimension, len(vectors[0]), where)  # type: ignore[arg-type]
            records = prepare_records(ids, vectors, metadatas)  # type: ignore[arg-type]
            if sparse is not None:
                records = with_sparse(records, sparse)
        records = dedupe_last_wins(records)
        max_records = MAX_UPSERT_RECORDS if batch_size is None else max(1, min(batch_size, MAX_UPSERT_RECORDS))
        return plan_upsert_batches(records, namespace=namespace, max_records=max_records)

    # -- vectors in, ids out ---

    def upsert_vectors(
        self,
        records: Sequence[VectorRecord],
        *,
        namespace: str | None = None,
        sparse_values: Sequence[SparseVector | None] | None = None,
    ) -> int:
        """Upsert already-embedded records ``(id, vector, metadata)``; returns the number Pinecone acknowledged.

        With ``sparse_values`` (one ``{"indices", "values"}`` or ``None`` per record) the sparse values are
        written with the dense ones under the same id (sparse-dense records; an empty one is left out). On a
        sparse index the vectors are ``None`` and ``sparse_values`` is required.

        Everything is validated before the first request; records go out in requests of <= 1,000 records and
        < 2 MB, ``upsert_concurrency`` at a time, each retried on 429/5xx. Metadata is sent as given: put the
        text under ``text_key`` yourself.

        Args:
            records: ``(id, vector, metadata)`` tuples; metadata may be ``None`` (the vector too, on a sparse
                index).
            namespace: Target namespace (default: the writer's).
            sparse_values: One sparse vector (or ``None``) per record, written under the record's id.

        Returns:
            The number of records Pinecone acknowledged (a repeated id counts once).

        Raises:
            InvalidRecordError: A record Pinecone would reject; nothing was written.
            MetadataTooLargeError: Metadata over 40 KB (without ``truncate_text``); nothing was written.
            IndexMismatchError: The vectors' dimension differs from the index's; nothing was written.
            InvalidSparseVectorError: Sparse values Pinecone would refuse (lengths differ, negative or repeated
                indices, ...); nothing was written.
            PineconeRequestError: Pinecone refused a request or stayed unavailable (a subclass says which).
        """
        if not records:
            return 0
        namespace = self._ns(namespace)
        ids, vectors, metadatas = self._prepare_vectors(records)
        dimension = self._index_dim()
        batches = self._build_batches(ids, vectors, metadatas, namespace, dimension, None, sparse_values)
        return self._plane().upsert(batches, namespace)

    async def aupsert_vectors(
        self,
        records: Sequence[VectorRecord],
        *,
        namespace: str | None = None,
        sparse_values: Sequence[SparseVector | None] | None = None,
    ) -> int:
        """Async :meth:`upsert_vectors`."""
        if not records:
            return 0
        namespace = self._ns(namespace)
        ids, vectors, metadatas = self._prepare_vectors(records)
        dimension = await self._aindex_dim()
        batches = self._build_batches(ids, vectors, metadatas, namespace, dimension, None, sparse_values)
        return await (await self._aplane()).aupsert(batches, namespace)

    def existing_ids(self, ids: Sequence[str], *, namespace: str | None = None) -> set[str]:
        """Return which of ``ids`` are stored in the namespace (fetched <= 1,000 at a time).

        Args:
            ids: Candidate ids.
            namespace: Namespace to check (default: the writer's).

        Returns:
            The subset of ``ids`` that exist.
        """
        if not ids:
            return set()
        return self._plane().existing(ids, self._ns(namespace))

    async def aexisting_ids(self, ids: Sequence[str], *, namespace: str | None = None) -> set[str]:
        """Async :meth:`existing_ids`."""
        if not ids:
            return set()
        return await (await self._aplane()).aexisting(ids, self._ns(namespace))

    # -- list ---

    def list_ids(self, *, prefix: str | None = None, namespace: str | None = None) -> list[str]:
        """Every id in the namespace that starts with ``prefix`` (Pinecone ``GET /vectors/list``, all pages).

        Pinecone lists serverless indexes only (pod-based ones answer an error). Chunked ingestion uses it to
        find a document's stale chunks (ids ``PARENT#...``).

        Args:
            prefix: Id prefix; ``None`` lists every id (mind the size).
            namespace: Namespace (default: the writer's).

        Returns:
            The ids, in the order Pinecone pages them.
        """
        plane = self._plane()
        ids: list[str] = []
        token: str | None = None
        while True:
            page, token = plane.list_page(self._ns(namespace), prefix=prefix, token=token)
            ids.extend(page)
            if not token:
                return ids

    async def alist_ids(self, *, prefix: str | None = None, namespace: str | None = None) -> list[str]:
        """Async :meth:`list_ids`."""
        plane = await self._aplane()
        ids: list[str] = []
        token: str | None = None
        while True:
            page, token = await plane.alist_page(self._ns(namespace), prefix=prefix, token=token)
            ids.extend(page)
            if not token:
                return ids

    # -- delete ---

    def delete(
        self,
        ids: Sequence[str] | None = None,
        delete_all: bool | None = None,
        namespace: str | None = None,
        filter: dict[str, Any] | None = None,
    ) -> None:
        """Delete by ids (<= 1,000 per request), by filter, or the whole namespace; retries 429/5xx.

        An empty ``ids`` without ``delete_all`` or ``filter`` sends nothing.

        Args:
            ids: Ids to delete (missing ids are fine).
            delete_all: Delete every record in the namespace.
            namespace: Namespace (default: the writer's).
            filter: Pinecone metadata filter.
        """
        if ids is not None and not ids and not delete_all and filter is None:
            return
        self._plane().delete(self._ns(namespace), ids=ids, delete_all=bool(delete_all), filter=filter)

    async def adelete(
        self,
        ids: Sequence[str] | None = None,
        delete_all: bool | None = None,
        namespace: str | None = None,
        filter: dict[str, Any] | None = None,
    ) -> None:
        """Async :meth:`delete`."""
        if ids is not None and not ids and not delete_all and filter is None:
            return
        plane = await self._aplane()
        await plane.adelete(self._ns(namespace), ids=ids, delete_all=bool(delete_all), filter=filter)
