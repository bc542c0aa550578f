"""Scenario 8: reranking. Latency of one rerank call for 20 and 50 candidates, and dense vs rerank quality on SNLI.

Latency: ``EndpointReranker.rerank(query, candidates)`` against the local endpoint serving the bundled
all-MiniLM-L6-v2 in its own process (``POST /rerank``, ``max_client_batch_size`` 32, so 50 candidates are two
requests sent concurrently), warm connection, sequential calls; and the same through
``InferenceEndpointReranker.compress_documents``. The stand-in scores with the bi-encoder (see
``hf_pinecone/local/_rerank_route.py``): the figures are the client's overhead plus a CPU model call, not a
cross-encoder's cost.

Quality: the SNLI sample (``../shared/data/snli_validation_partial.parquet`` when present, premises as queries,
their entailed hypotheses as the relevant texts; else the built-in sample of ``hf_pinecone.testing``) ingested
into the local Pinecone server, measured by ``hf_pinecone.evaluation`` (ranx) for modes dense and rerank.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._common import ROOT, EndpointSpec, endpoint_server, log, percentile, pinecone_server, table

# ../shared/data beside the checkout (worktrees: two levels up), when present.
SNLI = (
    next(
        (p for p in (ROOT.parent / "shared", ROOT.parent.parent / "shared") if (p / "data").is_dir()),
        ROOT.parent / "shared",
    )
    / "data"
    / "snli_validation_partial.parquet"
)
CANDIDATES = (20, 50)
K = 5


def latency(url: str, calls: int) -> list[dict[str, Any]]:
    """p50/p95 of a rerank call per candidate count."""
    from langchain_core.documents import Document

    from benchmarks._common import corpus
    from hf_pinecone.rerank import EndpointReranker, InferenceEndpointReranker

    texts = corpus(max(CANDIDATES))
    rows = []
    with EndpointReranker(url) as reranker:
        compressor = InferenceEndpointReranker(endpoint_url=url, top_n=K)
        for n in CANDIDATES:
            candidates = texts[:n]
            docs = [Document(page_content=t) for t in candidates]
            reranker.rerank("a dog runs on the beach", candidates)  # warm: connection, /info
            compressor.compress_documents(docs, "a dog runs on the beach")
            direct, via = [], []
            for i in range(calls):
                query = f"{texts[i % len(texts)]} ({i})"
                t0 = time.perf_counter()
                reranker.rerank(query, candidates, top_n=K)
                t1 = time.perf_counter()
                compressor.compress_documents(docs, query)
                via.append(time.perf_counter() - t1)
                direct.append(t1 - t0)
            rows.append(
                {
                    "candidates": n,
                    "requests": -(-n // reranker.batch_size),
                    "p50": percentile(direct, 50) * 1000,
                    "p95": percentile(direct, 95) * 1000,
                    "lc_p50": percentile(via, 50) * 1000,
                    "lc_p95": percentile(via, 95) * 1000,
                }
            )
        compressor.close()
    return rows


def quality(url: str, pinecone_url: str, rows: int | None) -> dict[str, Any]:
    """Dense vs rerank recall/MRR/nDCG@5 on the SNLI sample."""
    from hf_pinecone.embeddings import InferenceEndpointEmbeddings
    from hf_pinecone.evaluation import build_retrievers, evaluate, load_queries
    from hf_pinecone.ingestion import ingest
    from hf_pinecone.rerank import InferenceEndpointReranker
    from hf_pinecone.store import PineconeStore, ensure_index
    from hf_pinecone.testing import load_retrieval_sample

    sample = load_retrieval_sample(SNLI if SNLI.exists() else None, rows=rows or 10**9)
    emb = InferenceEndpointEmbeddings(endpoint_url=url)
    host = ensure_index(f"bench-rerank-{int(time.time())}", embeddings=emb, api_key="local", host=pinecone_url)
    store = PineconeStore(embedding=emb, pinecone_api_key="local", host=host)
    ingest(sample.corpus, store=store, progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "queries.jsonl"
        path.write_text(
            "".join(json.dumps({"query": q, "relevant_texts": sorted(rel)}) + "\n" for q, rel in sample.queries)
        )
        queries = load_queries(path)
    reranker = InferenceEndpointReranker(endpoint_url=url, top_n=K)
    report = evaluate(queries, build_retrievers(["dense", "rerank"], store=store, reranker=reranker), k=K)
    reranker.close()
    return {"source": sample.source, "corpus": len(sample.corpus), **report.to_dict(), "table": report.table()}


def run(calls: int, rows: int | None = None) -> tuple[str, dict[str, Any]]:
    """Both measurements; returns the BENCHMARKS.md section and the raw numbers."""
    spec = EndpointSpec(model=True, max_batch_size=32)
    with endpoint_server(spec) as url, pinecone_server() as pinecone_url:
        log(f"scenario 8: rerank latency, {calls} calls per size")
        lat = latency(url, calls)
        log("scenario 8: dense vs rerank quality")
        qual = quality(url, pinecone_url, rows)
    body = (
        f"`{spec.describe()}` in its own process; {calls} sequential calls per size on a warm connection, "
        "`top_n=5`. The stand-in scores pairs with the bi-encoder's cosine (not a cross-encoder), so this is "
        "the client's overhead plus one CPU model call per request.\n\n"
        + table(
            [
                "candidates",
                "requests",
                "rerank p50 (ms)",
                "rerank p95 (ms)",
                "compressor p50 (ms)",
                "compressor p95 (ms)",
            ],
            [
                [
                    str(r["candidates"]),
                    str(r["requests"]),
                    f"{r['p50']:.1f}",
                    f"{r['p95']:.1f}",
                    f"{r['lc_p50']:.1f}",
                    f"{r['lc_p95']:.1f}",
                ]
                for r in lat
            ],
        )
        + f"\n\nRetrieval quality on the {qual['source']} sample ({qual['queries']} queries, corpus "
        f"{qual['corpus']} texts; rerank = {4 * K} dense candidates reranked), `hf_pinecone.evaluation` (ranx):\n\n"
        + table(
            ["metric", *qual["scores"]],
            [
                [name, *(f"{qual['scores'][m][name]:.4f}" for m in qual["scores"])]
                for name in next(iter(qual["scores"].values()))
            ],
        )
        + "\n\nRerank equals dense here by construction: the stand-in's scorer is the same model's cosine. "
        "A real cross-encoder behind TEI's `/rerank` is what would change the ranking.\n"
    )
    return body, {"latency": lat, "quality": {k: v for k, v in qual.items() if k != "table"}}


if __name__ == "__main__":
    section, numbers = run(calls=30)
    print(section)
    print(json.dumps(numbers, indent=2))
