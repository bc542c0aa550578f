"""Retrieval quality of the configured index: recall@k, MRR@k and nDCG@k per retrieval mode, side by side.

Queries come from JSONL, one object a line: ``{"query": str, "relevant_texts": [str]}`` (a retrieved document
counts when its text equals one of them) or ``{"query": str, "relevant_ids": [str]}`` (when its record id
does). The measures are computed by `ranx <https://github.com/AmenRa/ranx>`_ (binary relevance), not by hand.

A *mode* is a name mapped to a :data:`Retriever` (``query, k -> ranked Documents``), so new retrieval styles
plug in without touching the measuring code. Built in: ``dense`` (the store's similarity search) and
``rerank`` (``candidates`` dense results, default ``4 * k``, reranked by an
:class:`~hf_pinecone.rerank.InferenceEndpointReranker`). ``sparse`` and ``hybrid`` are reserved names: pass
their retrievers to :func:`evaluate` once they exist; :func:`build_retrievers` refuses them with a clear error.

Example:
    >>> queries = load_queries("queries.jsonl")  # doctest: +SKIP
    >>> report = evaluate(queries, {"dense": dense_retriever(store)}, k=5)  # doctest: +SKIP
    >>> print(report.table())  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.documents import Document

from hf_pinecone.errors import ConfigurationError

__all__ = [
    "KNOWN_MODES",
    "METRICS",
    "EvalInputError",
    "EvalQuery",
    "EvalReport",
    "Retriever",
    "build_retrievers",
    "dense_retriever",
    "evaluate",
    "load_queries",
    "rerank_retriever",
]

Retriever = Callable[[str, int], Sequence[Document]]
"""``retriever(query, k)``: at most ``k`` Documents, best first."""

KNOWN_MODES: tuple[str, ...] = ("dense", "sparse", "hybrid", "rerank")
"""Mode names the CLI accepts; ``sparse`` and ``hybrid`` need retrievers not built in yet."""

METRICS: tuple[str, ...] = ("recall", "mrr", "ndcg")
"""Measured at ``k``: ranx's ``recall@k``, ``mrr@k`` and ``ndcg@k``."""


class EvalInputError(ConfigurationError):
    """The queries file or the evaluation's arguments are invalid (missing file, bad line, unknown mode, k < 1)."""


@dataclass(frozen=True)
class EvalQuery:
    """One labelled query.

    Attributes:
        query: The query text.
        relevant_texts: Texts that count as relevant (exact match on a document's text).
        relevant_ids: Record ids that count as relevant (match on a document's id).
    """

    query: str
    relevant_texts: frozenset[str] = field(default_factory=frozenset)
    relevant_ids: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class EvalReport:
    """What :func:`evaluate` measured.

    Attributes:
        k: The cut-off.
        queries: Number of queries.
        scores: ``{mode: {"recall@k": float, "mrr@k": float, "ndcg@k": float}}``, modes in the order given.
    """

    k: int
    queries: int
    scores: dict[str, dict[str, float]]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what ``hf-pinecone eval --json`` prints, plus the caller's context)."""
        return {"k": self.k, "queries": self.queries, "scores": self.scores}

    def table(self) -> str:
        """The measures as a text table, one column per mode."""
        modes = list(self.scores)
        names = [f"{m}@{self.k}" for m in METRICS]
        width = max(10, *(len(m) for m in modes))
        lines = ["metric".ljust(10) + "".join(m.rjust(width + 2) for m in modes)]
        for name in names:
            lines.append(name.ljust(10) + "".join(f"{self.scores[m][name]:.4f}".rjust(width + 2) for m in modes))
        return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- inputs
def _string_list(value: Any, key: str, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise EvalInputError(f"{where}: {key!r} must be a list of strings")
    return frozenset(value)


def load_queries(path: str | os.PathLike[str]) -> list[EvalQuery]:
    """Read a JSONL queries file (see the module docstring); blank lines are skipped.

    Raises:
        EvalInputError: The file is missing or unreadable, a line is not JSON or not a valid query object
            (the message names the line), or the file holds no query.
    """
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as handle:
            lines = handle.readlines()
    except FileNotFoundError:
        raise EvalInputError(f"queries file not found: {name}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalInputError(f"cannot read queries file {name}: {exc}") from None
    queries: list[EvalQuery] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{name}, line {number}"
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise EvalInputError(f"{where}: not valid JSON ({exc})") from None
        if not isinstance(item, dict):
            raise EvalInputError(f"{where}: expected a JSON object with 'query' and 'relevant_texts' or 'relevant_ids'")
        query = item.get("query")
        if not isinstance(query, str) or not query.strip():
            raise EvalInputError(f"{where}: 'query' must be a non-empty string")
        if "relevant_texts" not in item and "relevant_ids" not in item:
            raise EvalInputError(f"{where}: give 'relevant_texts' or 'relevant_ids' (a list of strings)")
        texts = _string_list(item["relevant_texts"], "relevant_texts", where) if "relevant_texts" in item else None
        ids = _string_list(item["relevant_ids"], "relevant_ids", where) if "relevant_ids" in item else None
        if not (texts or ids):
            raise EvalInputError(f"{where}: no relevant texts or ids: such a query cannot be scored")
        queries.append(EvalQuery(query, texts or frozenset(), ids or frozenset()))
    if not queries:
        raise EvalInputError(f"queries file {name} holds no query")
    return queries


# ------------------------------------------------------------------------------------------- retrievers
def dense_retriever(store: Any, *, namespace: str | None = None, filter: dict[str, Any] | None = None) -> Retriever:
    """Mode ``dense``: the store's similarity search (a LangChain ``VectorStore``, e.g. ``PineconeStore``)."""

    def retrieve(query: str, k: int) -> Sequence[Document]:
        kwargs: dict[str, Any] = {"k": k}
        if namespace is not None:
            kwargs["namespace"] = namespace
        if filter is not None:
            kwargs["filter"] = filter
        docs: Sequence[Document] = store.similarity_search(query, **kwargs)
        return docs

    return retrieve


def rerank_retriever(first_stage: Retriever, reranker: Any, *, candidates: int | None = None) -> Retriever:
    """Mode ``rerank``: ``candidates`` results of ``first_stage`` (default ``4 * k``), reranked, best ``k`` kept.

    Args:
        first_stage: The candidate retriever (e.g. :func:`dense_retriever`).
        reranker: An :class:`~hf_pinecone.rerank.InferenceEndpointReranker` (anything with
            ``rerank(documents, query, top_n=...)`` answering ``[{"index", "relevance_score"}]``).
        candidates: Candidates fetched per query; ``None``: ``4 * k``.
    """
    if candidates is not None and candidates < 1:
        raise EvalInputError(f"candidates must be >= 1, got {candidates}")

    def retrieve(query: str, k: int) -> Sequence[Document]:
        pool = list(first_stage(query, max(k, candidates or 4 * k)))
        if not pool:
            return []
        ranked = reranker.rerank(pool, query, top_n=k)
        return [pool[item["index"]] for item in ranked]

    return retrieve


def build_retrievers(
    modes: Sequence[str],
    *,
    store: Any,
    reranker: Any = None,
    namespace: str | None = None,
    candidates: int | None = None,
    extra: Mapping[str, Retriever] | None = None,
) -> dict[str, Retriever]:
    """Retrievers for ``modes`` over ``store``, in the order given.

    Args:
        modes: Mode names (:data:`KNOWN_MODES`, or keys of ``extra``); repeats are dropped.
        store: The vector store for ``dense`` (and ``rerank``'s candidates); ``sparse`` and ``hybrid`` need a
            ``PineconeStore`` with ``sparse_embedding`` on an index holding sparse values (hybrid: alpha 0.5).
        reranker: Needed for ``rerank``.
        namespace: Pinecone namespace searched.
        candidates: ``rerank``'s candidates per query (default ``4 * k``).
        extra: More modes, e.g. ``{"sparse": my_sparse_retriever}``; they take precedence over built-ins.

    Raises:
        EvalInputError: No mode, an unknown mode, or a mode not available (``sparse``/``hybrid`` without sparse
            embeddings or a retriever in ``extra``, ``rerank`` without a reranker).
    """
    if not modes:
        raise EvalInputError(f"no mode to evaluate; choose from {', '.join(KNOWN_MODES)}")
    extra = dict(extra or {})
    out: dict[str, Retriever] = {}
    for mode in dict.fromkeys(modes):
        if mode in extra:
            out[mode] = extra[mode]
        elif mode == "dense":
            out[mode] = dense_retriever(store, namespace=namespace)
        elif mode == "rerank":
            if reranker is None:
                raise EvalInputError("mode 'rerank' needs a reranker (an InferenceEndpointReranker)")
            out[mode] = rerank_retriever(dense_retriever(store, namespace=namespace), reranker, candidates=candidates)
        elif mode in ("sparse", "hybrid"):
            if getattr(store, "sparse_embedding", None) is None:
                raise EvalInputError(
                    f"mode {mode!r} needs sparse embeddings: a PineconeStore(sparse_embedding=...) on an index that "
                    "holds sparse values (CLI: --sparse-url or HF_SPARSE_ENDPOINT_URL), or "
                    "build_retrievers(..., extra={mode: retriever})"
                )
            from hf_pinecone import hybrid

            make = hybrid.sparse_retriever if mode == "sparse" else hybrid.hybrid_retriever
            out[mode] = make(store, namespace=namespace)
        else:
            raise EvalInputError(f"unknown mode {mode!r}; choose from {', '.join(KNOWN_MODES)}")
    return out


# ---------------------------------------------------------------------------------------------- measure
def _doc_key(doc: Document, by_id: bool) -> str | None:
    if by_id:
        return None if doc.id is None else f"id:{doc.id}"
    return f"text:{doc.page_content}"


def evaluate(queries: Sequence[EvalQuery], retrievers: Mapping[str, Retriever], *, k: int = 5) -> EvalReport:
    """Run every query through every retriever and measure recall@k, MRR@k and nDCG@k with ranx.

    A query labelled with ``relevant_ids`` is judged on document ids, one with ``relevant_texts`` on texts
    (with both, on both). A document retrieved twice counts once, at its best rank.

    Args:
        queries: Labelled queries (:func:`load_queries`).
        retrievers: ``{mode: retriever}`` (:func:`build_retrievers`).
        k: The cut-off (and how many results each retriever is asked for).

    Raises:
        EvalInputError: ``k`` < 1, or no queries or retrievers.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise EvalInputError(f"k must be an integer >= 1, got {k!r}")
    if not queries:
        raise EvalInputError("no queries to evaluate")
    if not retrievers:
        raise EvalInputError("no retrievers to evaluate")
    try:
        from ranx import Qrels, Run
        from ranx import evaluate as ranx_evaluate
    except ImportError as exc:
        raise ConfigurationError(f"evaluation needs ranx: pip install 'hf-pinecone[eval]' ({exc})") from None

    qrels_dict: dict[str, dict[str, int]] = {}
    for i, q in enumerate(queries):
        judged = {f"text:{t}": 1 for t in q.relevant_texts}
        judged.update({f"id:{d}": 1 for d in q.relevant_ids})
        qrels_dict[f"q{i}"] = judged
    qrels = Qrels(qrels_dict)
    metrics = [f"{m}@{k}" for m in METRICS]
    scores: dict[str, dict[str, float]] = {}
    for mode, retrieve in retrievers.items():
        run_dict: dict[str, dict[str, float]] = {}
        for i, q in enumerate(queries):
            ranked: dict[str, float] = {}
            for rank, doc in enumerate(list(retrieve(q.query, k))[:k]):
                keys = []
                if q.relevant_texts:
                    keys.append(_doc_key(doc, by_id=False))
                if q.relevant_ids:
                    keys.append(_doc_key(doc, by_id=True))
                for key in keys:
                    if key is not None and key not in ranked:
                        # Strictly decreasing scores keep the retriever's order whatever its own scores are.
                        ranked[key] = float(k - rank)
            run_dict[f"q{i}"] = ranked
        measured = ranx_evaluate(qrels, Run(run_dict, name=mode), metrics, make_comparable=True)
        scores[mode] = {name: float(measured[name]) for name in metrics}
    return EvalReport(k=k, queries=len(queries), scores=scores)
