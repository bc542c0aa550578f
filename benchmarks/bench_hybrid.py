"""Scenario 8: hybrid query latency against dense, through LangChain retrievers.

One index of generated sentences with sparse-dense records (dotproduct; dense: HashEmbedder vectors; sparse:
the real SPLADE-tiny of the local ``/embed_sparse``), a second pair (a dense index and a sparse index) for the
two-index pattern, and one endpoint process serving both routes with the remote-like 40 ms per request of
scenario 3. Each query goes through every contender in turn (round-robin), so drift hits all:

- dense: ``store.as_retriever(search_kwargs={"k": 5})`` (1 embed request + 1 query);
- hybrid, one index: ``as_retriever(search_type="hybrid", search_kwargs={"alpha": 0.5, "k": 5})`` (dense and
  sparse embed requests at once + 1 query);
- hybrid, two indexes: ``HybridRetriever(store=dense, sparse_store=sparse)`` (2 embeds + 2 queries at once + RRF);
- sparse only: ``search_type="sparse"`` on the one index.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from benchmarks._common import DIM, EndpointSpec, corpus, endpoint_server, goal, log, percentile, pinecone_server, table

TOP_K = 5
SPEC = EndpointSpec(delay=0.04, per_item_delay=0.0005, replicas=4, max_batch_size=64)
_HEADERS = {"Api-Key": "local", "Content-Type": "application/json", "X-Pinecone-API-Version": "2025-04"}


def _load(host: str, texts: list[str], sparse: list[Any], *, dense: bool, with_sparse: bool) -> None:
    """Bulk-load records over raw HTTP (bodies under 2 MB)."""
    from hf_pinecone.ids import content_id
    from hf_pinecone.local.endpoint_server import HashEmbedder

    vectors = HashEmbedder(DIM).embed(texts, normalize=True, truncate=True, prompt_name=None) if dense else None
    records = []
    for i, text in enumerate(texts):
        record: dict[str, Any] = {"id": content_id(text), "metadata": {"text": text}}
        if vectors is not None:
            record["values"] = vectors[i].tolist()
        if with_sparse:
            record["sparseValues"] = sparse[i]
        records.append(record)
    with httpx.Client(timeout=120) as client:
        for lo in range(0, len(records), 200):
            body = orjson.dumps({"vectors": records[lo : lo + 200]})
            client.post(f"{host}/vectors/upsert", content=body, headers=_HEADERS).raise_for_status()


def _sparse_vectors(url: str, texts: list[str]) -> list[Any]:
    from hf_pinecone import InferenceEndpointSparseEmbeddings

    sparse = InferenceEndpointSparseEmbeddings(endpoint_url=url, timeout=300)
    try:
        return sparse.embed_documents(texts)
    finally:
        sparse.close()


def contenders(url: str, hosts: dict[str, str]) -> tuple[dict[str, Callable[[str], int]], Callable[[], None]]:
    """name -> run one query (returns the number of documents); and a closer."""
    from hf_pinecone import (
        HybridRetriever,
        InferenceEndpointEmbeddings,
        InferenceEndpointSparseEmbeddings,
        PineconeStore,
    )

    dense = InferenceEndpointEmbeddings(endpoint_url=url)
    sparse = InferenceEndpointSparseEmbeddings(endpoint_url=url)
    one = PineconeStore(host=hosts["one"], pinecone_api_key="local", embedding=dense, sparse_embedding=sparse)
    dense_store = PineconeStore(host=hosts["dense"], pinecone_api_key="local", embedding=dense)
    sparse_store = PineconeStore(host=hosts["sparse"], pinecone_api_key="local", sparse_embedding=sparse)
    retrievers = {
        "dense": one.as_retriever(search_kwargs={"k": TOP_K}),
        "hybrid": one.as_retriever(search_type="hybrid", search_kwargs={"alpha": 0.5, "k": TOP_K}),
        "rrf": HybridRetriever(store=dense_store, sparse_store=sparse_store, k=TOP_K),
        "sparse": one.as_retriever(search_type="sparse", search_kwargs={"k": TOP_K}),
    }

    def close() -> None:
        dense.close()
        sparse.close()

    def runner(retriever: Any) -> Callable[[str], int]:
        return lambda q: len(retriever.invoke(q))

    return {name: runner(r) for name, r in retrievers.items()}, close


def run(*, vectors: int, queries: int) -> tuple[str, dict[str, Any]]:
    """Returns (markdown, numbers)."""
    from pinecone import Pinecone

    from hf_pinecone import ensure_index

    texts = corpus(vectors, seed=3)
    questions = corpus(queries + 10, seed=4)
    with pinecone_server() as pinecone_url, endpoint_server(SPEC) as url:
        suffix = uuid.uuid4().hex[:8]
        names = {"one": f"hy-one-{suffix}", "dense": f"hy-dense-{suffix}", "sparse": f"hy-sparse-{suffix}"}
        hosts = {
            "one": ensure_index(names["one"], dimension=DIM, metric="dotproduct", api_key="local", host=pinecone_url),
            "dense": ensure_index(names["dense"], dimension=DIM, api_key="local", host=pinecone_url),
            "sparse": ensure_index(
                names["sparse"], vector_type="sparse", metric="dotproduct", api_key="local", host=pinecone_url
            ),
        }
        log(f"scenario 8: SPLADE vectors for {vectors:,} texts")
        started = time.perf_counter()
        sparse = _sparse_vectors(url, texts)
        sparse_seconds = time.perf_counter() - started
        _load(hosts["one"], texts, sparse, dense=True, with_sparse=True)
        _load(hosts["dense"], texts, sparse, dense=True, with_sparse=False)
        _load(hosts["sparse"], texts, sparse, dense=False, with_sparse=True)
        runs, close = contenders(url, hosts)
        latencies: dict[str, list[float]] = {name: [] for name in runs}
        try:
            for q in questions[:10]:  # warm-up: connections, lazy clients, the SPLADE model
                for run_one in runs.values():
                    run_one(q)
            log(f"scenario 8: {queries} queries x {len(runs)} contenders")
            for q in questions[10:]:
                for name, run_one in runs.items():
                    start = time.perf_counter()
                    found = run_one(q)
                    latencies[name].append((time.perf_counter() - start) * 1000)
                    assert found == TOP_K, (name, found)
        finally:
            close()
            control = Pinecone(api_key="local", host=pinecone_url)
            for name in names.values():
                control.delete_index(name)
    numbers = {"latencies": latencies, "sparse_records_per_s": vectors / sparse_seconds}
    return render(vectors, queries, latencies, vectors / sparse_seconds), numbers


def render(vectors: int, queries: int, latencies: dict[str, list[float]], sparse_rate: float) -> str:
    names = {
        "dense": "dense: `as_retriever(search_kwargs={'k': 5})`",
        "hybrid": "hybrid, one dotproduct index: `search_type='hybrid'`, alpha 0.5",
        "rrf": "hybrid, dense + sparse index, RRF: `HybridRetriever(sparse_store=...)`",
        "sparse": "sparse only: `search_type='sparse'`",
    }
    p = {name: (percentile(v, 50), percentile(v, 95)) for name, v in latencies.items()}
    rows = [[names[n], f"{p[n][0]:.1f}", f"{p[n][1]:.1f}", f"x{p[n][0] / p['dense'][0]:.2f}"] for n in names]
    hybrid_over = p["hybrid"][0] / p["dense"][0]
    # The dense and sparse embed requests of a hybrid query go out at once: it should cost the slower of the two
    # paths (here the sparse one, whose endpoint runs SPLADE on this CPU), not their sum.
    slower = max(p["dense"][0], p["sparse"][0])
    overlap = p["hybrid"][0] / slower
    return (
        f"{vectors:,} records (dense dimension {DIM} + SPLADE-tiny sparse values), top_k={TOP_K}, {queries} queries "
        f"through every contender in turn; one endpoint process serving `/embed` and `/embed_sparse`, "
        f"`{SPEC.describe()}` (40 ms per request, SPLADE-tiny on CPU behind `/embed_sparse`). Sparse vectors for "
        f"the corpus: {sparse_rate:,.0f} texts/s through `InferenceEndpointSparseEmbeddings`.\n\n"
        + table(["", "p50 (ms)", "p95 (ms)", "p50 / dense"], rows)
        + f"\n\nOne-index hybrid / dense at p50: x{hybrid_over:.2f}; hybrid / the slower single path (sparse only) at "
        f"p50: x{overlap:.2f} (goal <= 1.10, the dense and sparse embed requests overlap: {goal(overlap <= 1.10)}).\n"
    )
