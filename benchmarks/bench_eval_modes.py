"""Retrieval quality per mode on the SNLI sample: dense, sparse, hybrid, rerank (``hf_pinecone.evaluation``).

``python -m benchmarks.bench_eval_modes`` serves the bundled all-MiniLM-L6-v2 (``/embed``, ``/rerank``) and the
bundled SPLADE-tiny (``/embed_sparse``) from one local endpoint, ingests the sample's hypotheses densely and
sparsely under the same ids into a dotproduct index of the local Pinecone server, and evaluates the sample's
premises as queries (relevant: their entailed hypotheses) at k=5 with ranx. Uses
``../shared/data/snli_validation_partial.parquet`` when present, else the sample bundled with the tests helpers.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.bench_rerank import SNLI

K = 5


def run(rows: int | None = None) -> dict[str, Any]:
    from hf_pinecone.embeddings import InferenceEndpointEmbeddings
    from hf_pinecone.evaluation import build_retrievers, evaluate, load_queries
    from hf_pinecone.ingestion import ingest
    from hf_pinecone.local import serve_endpoint, serve_pinecone
    from hf_pinecone.rerank import InferenceEndpointReranker
    from hf_pinecone.sparse_embeddings import InferenceEndpointSparseEmbeddings
    from hf_pinecone.store import PineconeStore, ensure_index
    from hf_pinecone.testing import load_retrieval_sample

    sample = load_retrieval_sample(SNLI if SNLI.exists() else None, rows=rows or 10**9)
    with serve_endpoint() as url, serve_pinecone() as pinecone_url:
        dense = InferenceEndpointEmbeddings(endpoint_url=url)
        sparse = InferenceEndpointSparseEmbeddings(endpoint_url=url)
        host = ensure_index("eval-modes", embeddings=dense, metric="dotproduct", api_key="local", host=pinecone_url)
        store = PineconeStore(embedding=dense, sparse_embedding=sparse, pinecone_api_key="local", host=host)
        ingest(sample.corpus, store=store, sparse_embeddings=sparse, progress=False)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "queries.jsonl"
            path.write_text(
                "".join(json.dumps({"query": q, "relevant_texts": sorted(rel)}) + "\n" for q, rel in sample.queries)
            )
            queries = load_queries(path)
        reranker = InferenceEndpointReranker(endpoint_url=url, top_n=K)
        modes = ["dense", "sparse", "hybrid", "rerank"]
        report = evaluate(queries, build_retrievers(modes, store=store, reranker=reranker), k=K)
        reranker.close()
    return {"source": sample.source, "corpus": len(sample.corpus), **report.to_dict(), "table": report.table()}


if __name__ == "__main__":
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else None
    result = run(rows)
    print(result["table"])
    print(json.dumps({k: v for k, v in result.items() if k != "table"}, default=str))
