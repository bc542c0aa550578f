"""Scenario 3: query latency of ``retriever.invoke`` versus the tutorial's code and the bare minimum.

An index of generated sentences (HashEmbedder vectors, bulk-loaded over raw HTTP) behind the remote-like
endpoint of scenario 1. Each query goes through every contender in turn (round-robin), so drift hits all:

- ``retriever.invoke(q)``: ``PineconeStore(...).as_retriever(search_kwargs={"k": 5})`` with
  ``InferenceEndpointEmbeddings`` (defaults);
- the tutorial: ``requests.post(url, json={"inputs": q}).json()["embeddings"]`` then
  ``index.query(vector=xq, top_k=5, include_metadata=True)``;
- the bare minimum: one embed request and one query request, raw JSON over two warm httpx connections.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from benchmarks._common import (
    DIM,
    EndpointSpec,
    corpus,
    endpoint_server,
    fresh_index,
    goal,
    log,
    percentile,
    pinecone_server,
    table,
)

TOP_K = 5
# The remote-like endpoint of scenario 1: a 40 ms round trip per request.
SPEC = EndpointSpec(delay=0.04, per_item_delay=0.0005, replicas=4, max_batch_size=64)


def bulk_load(host: str, texts: list[str]) -> None:
    """Fill the index fast (raw HTTP, ~2 MB bodies) with the vectors the endpoint gives these texts."""
    from hf_pinecone.ids import content_id
    from hf_pinecone.local.endpoint_server import HashEmbedder

    embedder = HashEmbedder(DIM)
    headers = {"Api-Key": "local", "Content-Type": "application/json", "X-Pinecone-API-Version": "2025-04"}
    with httpx.Client(timeout=120) as client:
        for lo in range(0, len(texts), 1000):
            chunk = texts[lo : lo + 1000]
            vectors = embedder.embed(chunk, normalize=True, truncate=True, prompt_name=None)
            records = [
                {"id": content_id(t), "values": v.tolist(), "metadata": {"text": t}}
                for t, v in zip(chunk, vectors, strict=True)
            ]
            for lo2 in range(0, len(records), 200):  # ~1.6 MB bodies: under the 2 MB limit
                body = orjson.dumps({"vectors": records[lo2 : lo2 + 200]})
                client.post(f"{host}/vectors/upsert", content=body, headers=headers).raise_for_status()


def contenders(url: str, pinecone_url: str, host: str) -> tuple[dict[str, Callable[[str], int]], Callable[[], None]]:
    """name -> run one query (returns the number of matches); and a closer."""
    import requests
    from pinecone import Pinecone

    from hf_pinecone import InferenceEndpointEmbeddings, PineconeStore

    embeddings = InferenceEndpointEmbeddings(endpoint_url=url)
    store = PineconeStore(embedding=embeddings, pinecone_api_key="local", host=host)
    retriever = store.as_retriever(search_kwargs={"k": TOP_K})
    index = Pinecone(api_key="local", host=pinecone_url).Index(host=host)
    headers = {"Authorization": "Bearer hf_xxx", "Content-Type": "application/json"}
    endpoint_http = httpx.Client(timeout=30)
    pinecone_http = httpx.Client(
        timeout=30,
        headers={"Api-Key": "local", "Content-Type": "application/json", "X-Pinecone-API-Version": "2025-04"},
    )

    def library(q: str) -> int:
        return len(retriever.invoke(q))

    def tutorial(q: str) -> int:
        xq = requests.post(url, headers=headers, json={"inputs": q}).json()["embeddings"]
        res = index.query(vector=xq, top_k=TOP_K, include_metadata=True)
        return len(res["matches"])

    def bare(q: str) -> int:
        vector = orjson.loads(endpoint_http.post(url, content=orjson.dumps({"inputs": [q]})).content)["embeddings"][0]
        body = orjson.dumps({"vector": vector, "topK": TOP_K, "includeMetadata": True})
        return len(orjson.loads(pinecone_http.post(f"{host}/query", content=body).content)["matches"])

    def close() -> None:
        endpoint_http.close()
        pinecone_http.close()
        embeddings.close()

    return {"retriever": library, "tutorial": tutorial, "bare": bare}, close


def run(*, vectors: int, queries: int) -> tuple[str, dict[str, Any]]:
    """Returns (markdown, numbers)."""
    texts = corpus(vectors, seed=3)
    questions = corpus(queries + 10, seed=4)
    with pinecone_server() as pinecone_url, endpoint_server(SPEC) as url, fresh_index(pinecone_url) as host:
        log(f"scenario 3: loading {vectors:,} vectors")
        bulk_load(host, texts)
        runs, close = contenders(url, pinecone_url, host)
        latencies: dict[str, list[float]] = {name: [] for name in runs}
        try:
            for q in questions[:10]:  # warm-up: connections, lazy clients
                for run_one in runs.values():
                    run_one(q)
            log(f"scenario 3: {queries} queries x {len(runs)} contenders")
            for q in questions[10:]:
                for name, run_one in runs.items():
                    start = time.perf_counter()
                    found = run_one(q)
                    latencies[name].append((time.perf_counter() - start) * 1000)
                    assert found == TOP_K, (name, found)
        finally:
            close()
    return render(vectors, queries, latencies), latencies


def render(vectors: int, queries: int, latencies: dict[str, list[float]]) -> str:
    names = {
        "retriever": "`retriever.invoke(q)` (hf_pinecone defaults)",
        "tutorial": "tutorial: `requests.post` + `index.query`",
        "bare": "bare minimum: 1 embed + 1 query, raw HTTP, warm connections",
    }
    p = {name: (percentile(v, 50), percentile(v, 95)) for name, v in latencies.items()}
    rows = [[names[n], f"{p[n][0]:.1f}", f"{p[n][1]:.1f}"] for n in ("retriever", "tutorial", "bare")]
    over50 = p["retriever"][0] / p["bare"][0]
    over95 = p["retriever"][1] / p["bare"][1]
    faster = p["retriever"][0] < p["tutorial"][0]
    return (
        f"{vectors:,} vectors (dimension {DIM}), top_k={TOP_K} with metadata, {queries} queries, each sent through "
        f"every contender in turn; endpoint `{SPEC.describe()}` (40 ms per request).\n\n"
        + table(["", "p50 (ms)", "p95 (ms)"], rows)
        + f"\n\nretriever / bare minimum: p50 x{over50:.3f}, p95 x{over95:.3f} (goal <= 1.10: "
        f"{goal(over50 <= 1.10)}); faster than the tutorial at p50: {goal(faster)}.\n"
    )
