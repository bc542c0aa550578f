"""Hybrid (dense + sparse) retrieval for LangChain over Pinecone: one alpha-weighted index, or two fused by RRF.

Two patterns, both Pinecone's (https://docs.pinecone.io/guides/search/hybrid-search):

- **One index** (sparse-dense records in a dense ``dotproduct`` index): one query carries the dense vector times
  ``alpha`` and the sparse vector times ``1 - alpha``; Pinecone's score is their dot products' sum
  (:meth:`hf_pinecone.PineconeStore.hybrid_search_with_score`).
- **Two indexes** (a dense index and a sparse index, records under the same ids): each is queried for
  ``fetch_k`` candidates and the two rankings are merged by reciprocal rank fusion (Cormack, Clarke and
  Büttcher, SIGIR 2009): ``score(d) = sum over rankings of w / (rrf_k + rank(d))``, rank from 1, ``rrf_k = 60``,
  with weight ``w = alpha`` for the dense ranking and ``1 - alpha`` for the sparse one (``alpha = 0.5`` is plain
  RRF up to a factor). This is a dozen lines (:func:`reciprocal_rank_fusion`) rather than ``ranx.fuse``: ranx
  compiles its kernels with numba on first use, seconds of latency on a query path, and has no per-run weights;
  the tests check this function against ``ranx.fuse(method="rrf")``.

:class:`HybridRetriever` is a LangChain ``BaseRetriever`` (sync and async; filters, namespaces; each ``Document``
carries its record id). :func:`dense_retriever`, :func:`sparse_retriever` and :func:`hybrid_retriever` return
the ``retriever(query, k)`` callables that :mod:`hf_pinecone.evaluation` takes as modes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from hf_pinecone._pinecone.sparse import check_alpha
from hf_pinecone.errors import ConfigurationError

__all__ = [
    "DEFAULT_RRF_K",
    "HybridRetriever",
    "dense_retriever",
    "hybrid_retriever",
    "reciprocal_rank_fusion",
    "sparse_retriever",
]

DEFAULT_RRF_K = 60
"""RRF's rank constant (Cormack et al. 2009; also ranx's and Pinecone's examples' default)."""

SearchType = Literal["hybrid", "sparse", "dense"]
Retriever = Callable[[str, int], Sequence[Document]]
"""``retriever(query, k)``: at most ``k`` Documents, best first (:mod:`hf_pinecone.evaluation`'s modes)."""


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[tuple[Document, float]]],
    *,
    weights: Sequence[float] | None = None,
    k: int = DEFAULT_RRF_K,
    limit: int | None = None,
) -> list[tuple[Document, float]]:
    """Fuse rankings by (weighted) reciprocal rank fusion; documents are matched by ``Document.id``.

    Args:
        rankings: Each a list of ``(document, score)``, best first (the scores are not used).
        weights: One weight per ranking (default 1 each).
        k: The rank constant.
        limit: Keep the best ``limit``.

    Returns:
        ``(document, fused score)`` best first; ties broken by the best single rank, then by id. The document
        is the first ranking's copy.
    """
    weights = [1.0] * len(rankings) if weights is None else list(weights)
    if len(weights) != len(rankings):
        raise ValueError(f"got {len(weights)} weights for {len(rankings)} rankings")
    fused: dict[str, float] = {}
    best: dict[str, int] = {}
    docs: dict[str, Document] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, (doc, _) in enumerate(ranking, start=1):
            key = doc.id if doc.id is not None else f"text:{doc.page_content}"
            fused[key] = fused.get(key, 0.0) + weight / (k + rank)
            best[key] = min(best.get(key, rank), rank)
            docs.setdefault(key, doc)
    order = sorted(fused, key=lambda key: (-fused[key], best[key], key))
    if limit is not None:
        order = order[:limit]
    return [(docs[key], fused[key]) for key in order]


class HybridRetriever(BaseRetriever):
    """Dense + sparse retrieval from Pinecone: one dotproduct index weighted by ``alpha``, or two fused by RRF.

    Example:
        .. code-block:: python

            store = PineconeStore(host=host, embedding=dense, sparse_embedding=sparse)   # dotproduct index
            retriever = store.as_retriever(search_type="hybrid", search_kwargs={"alpha": 0.5, "k": 5})
            # two indexes: HybridRetriever(store=dense_store, sparse_store=sparse_store, k=5)
            docs = retriever.invoke("invoice ID-4471")

    Attributes:
        store: The dense store (a dotproduct index holding sparse-dense records, or any dense index with
            ``sparse_store``). Its ``sparse_embedding`` embeds the query sparsely unless ``sparse_store`` has one.
        sparse_store: A store over a sparse index: the two-index pattern (RRF). ``None``: one index.
        search_type: ``hybrid``, ``sparse`` (sparse vectors only) or ``dense`` (dense only, for comparison).
        k: Documents returned.
        alpha: Dense weight, 0 (sparse only) to 1 (dense only).
        fetch_k: Candidates fetched from each index before fusion (two indexes); default ``max(20, 2 * k)``.
        rrf_k: RRF's rank constant.
        filter: Pinecone metadata filter, applied to every query.
        namespace: Namespace searched (default: each store's).
        score_key: When set, each document's score is put into ``metadata[score_key]`` (a copy).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: Any
    sparse_store: Any | None = None
    search_type: SearchType = "hybrid"
    k: int = Field(default=4, ge=1)
    alpha: float = 0.5
    fetch_k: int | None = Field(default=None, ge=1)
    rrf_k: int = Field(default=DEFAULT_RRF_K, ge=1)
    filter: dict[str, Any] | None = None
    namespace: str | None = None
    score_key: str | None = None

    def __init__(self, **kwargs: Any) -> None:
        """Checked before pydantic's validation, so that a bad setting is one ``ConfigurationError``.

        Raises:
            ConfigurationError: ``alpha`` outside [0, 1], or no sparse embeddings for a sparse or hybrid search.
        """
        if "alpha" in kwargs:
            kwargs["alpha"] = check_alpha(kwargs["alpha"])
        super().__init__(**kwargs)
        if self.search_type != "dense" and self._sparse_owner() is None:
            raise ConfigurationError(
                f"search_type={self.search_type!r} needs sparse embeddings: give the store (or sparse_store) "
                "sparse_embedding=InferenceEndpointSparseEmbeddings(...)"
            )

    @classmethod
    def from_store(
        cls, store: Any, *, search_type: str = "hybrid", search_kwargs: dict[str, Any] | None = None, **kwargs: Any
    ) -> HybridRetriever:
        """Build from ``store.as_retriever(search_type=..., search_kwargs=...)``'s arguments.

        ``search_kwargs`` may hold ``k``, ``alpha``, ``fetch_k``, ``rrf_k``, ``filter``, ``namespace``,
        ``sparse_store`` and ``score_key``.

        Raises:
            ConfigurationError: An unknown ``search_kwargs`` key, ``alpha`` outside [0, 1], or no sparse embeddings.
        """
        options = dict(search_kwargs or {})
        allowed = {"k", "alpha", "fetch_k", "rrf_k", "filter", "namespace", "sparse_store", "score_key"}
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise ConfigurationError(
                f"unknown search_kwargs for a {search_type} retriever: {', '.join(unknown)}; "
                f"use {', '.join(sorted(allowed))}"
            )
        return cls(store=store, search_type=search_type, **options, **kwargs)

    def _sparse_owner(self) -> Any | None:
        for store in (self.sparse_store, self.store):
            if store is not None and getattr(store, "sparse_embedding", None) is not None:
                return store
        return None

    def _options(self, kwargs: dict[str, Any]) -> tuple[int, float, dict[str, Any] | None, str | None]:
        k = int(kwargs.get("k", self.k))
        alpha = check_alpha(kwargs.get("alpha", self.alpha))
        return k, alpha, kwargs.get("filter", self.filter), kwargs.get("namespace", self.namespace)

    def _fetch(self, k: int) -> int:
        return self.fetch_k if self.fetch_k is not None else max(20, 2 * k)

    def _finish(self, pairs: Sequence[tuple[Document, float]]) -> list[Document]:
        if self.score_key is None:
            return [doc for doc, _ in pairs]
        key = self.score_key
        return [doc.model_copy(update={"metadata": {**doc.metadata, key: score}}) for doc, score in pairs]

    # -- sync ---
    def search_with_score(self, query: str, **kwargs: Any) -> list[tuple[Document, float]]:
        """``(document, score)`` pairs, best first (the score: Pinecone's, or the fused RRF score)."""
        k, alpha, filter, namespace = self._options(kwargs)
        where = {"filter": filter, "namespace": namespace}
        if self.search_type == "dense":
            pairs: list[tuple[Document, float]] = self.store.similarity_search_with_score(query, k=k, **where)
            return pairs
        if self.sparse_store is None:
            if self.search_type == "sparse":
                return list(self.store.sparse_search_with_score(query, k=k, **where))
            return list(self.store.hybrid_search_with_score(query, k=k, alpha=alpha, **where))
        sparse_owner = self._sparse_owner()
        if self.search_type == "sparse":
            return _sparse_search(self.sparse_store, sparse_owner, query, k, filter, namespace)
        fetch = self._fetch(k)
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="hf-pinecone-hybrid") as pool:
            dense_job = pool.submit(self.store.similarity_search_with_score, query, k=fetch, **where)
            sparse_job = pool.submit(
                _sparse_search, self.sparse_store, sparse_owner, query, fetch, filter, namespace
            )
            rankings = [dense_job.result(), sparse_job.result()]
        return reciprocal_rank_fusion(rankings, weights=[alpha, 1.0 - alpha], k=self.rrf_k, limit=k)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        return self._finish(self.search_with_score(query, **kwargs))

    # -- async ---
    async def asearch_with_score(self, query: str, **kwargs: Any) -> list[tuple[Document, float]]:
        """Async :meth:`search_with_score` (the two indexes are queried concurrently)."""
        k, alpha, filter, namespace = self._options(kwargs)
        where = {"filter": filter, "namespace": namespace}
        if self.search_type == "dense":
            pairs: list[tuple[Document, float]] = await self.store.asimilarity_search_with_score(query, k=k, **where)
            return pairs
        if self.sparse_store is None:
            if self.search_type == "sparse":
                return list(await self.store.asparse_search_with_score(query, k=k, **where))
            return list(await self.store.ahybrid_search_with_score(query, k=k, alpha=alpha, **where))
        sparse_owner = self._sparse_owner()
        if self.search_type == "sparse":
            return await _asparse_search(self.sparse_store, sparse_owner, query, k, filter, namespace)
        fetch = self._fetch(k)
        dense, sparse = await asyncio.gather(
            self.store.asimilarity_search_with_score(query, k=fetch, **where),
            _asparse_search(self.sparse_store, sparse_owner, query, fetch, filter, namespace),
        )
        return reciprocal_rank_fusion([dense, sparse], weights=[alpha, 1.0 - alpha], k=self.rrf_k, limit=k)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        return self._finish(await self.asearch_with_score(query, **kwargs))


def _sparse_search(
    store: Any, owner: Any, query: str, k: int, filter: dict[str, Any] | None, namespace: str | None
) -> list[tuple[Document, float]]:
    sparse = owner.sparse_embedding.embed_query(query)
    pairs = store.hybrid_search_by_vectors_with_score(None, sparse, k=k, alpha=0.0, filter=filter, namespace=namespace)
    return list(pairs)


async def _asparse_search(
    store: Any, owner: Any, query: str, k: int, filter: dict[str, Any] | None, namespace: str | None
) -> list[tuple[Document, float]]:
    sparse = await owner.sparse_embedding.aembed_query(query)
    pairs = await store.ahybrid_search_by_vectors_with_score(
        None, sparse, k=k, alpha=0.0, filter=filter, namespace=namespace
    )
    return list(pairs)


# ------------------------------------------------------------------------------ evaluation modes
def _as_callable(retriever: HybridRetriever) -> Retriever:
    def run(query: str, k: int) -> Sequence[Document]:
        return [doc for doc, _ in retriever.search_with_score(query, k=k)]

    return run


def dense_retriever(store: Any, *, namespace: str | None = None, filter: dict[str, Any] | None = None) -> Retriever:
    """``retriever(query, k)`` over ``store``'s dense vectors (mode ``dense``)."""
    return _as_callable(HybridRetriever(store=store, search_type="dense", namespace=namespace, filter=filter))


def sparse_retriever(
    store: Any,
    *,
    sparse_store: Any | None = None,
    namespace: str | None = None,
    filter: dict[str, Any] | None = None,
) -> Retriever:
    """``retriever(query, k)`` over sparse vectors only (mode ``sparse``): ``sparse_store``'s, else ``store``'s."""
    retriever = HybridRetriever(
        store=store, sparse_store=sparse_store, search_type="sparse", namespace=namespace, filter=filter
    )
    return _as_callable(retriever)


def hybrid_retriever(
    store: Any,
    *,
    sparse_store: Any | None = None,
    alpha: float = 0.5,
    namespace: str | None = None,
    filter: dict[str, Any] | None = None,
    fetch_k: int | None = None,
) -> Retriever:
    """``retriever(query, k)`` for mode ``hybrid``: alpha-weighted on one index, RRF with ``sparse_store``."""
    retriever = HybridRetriever(
        store=store,
        sparse_store=sparse_store,
        search_type="hybrid",
        alpha=alpha,
        namespace=namespace,
        filter=filter,
        fetch_k=fetch_k,
    )
    return _as_callable(retriever)
