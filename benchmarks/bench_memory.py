"""Scenario 4: peak memory of ingesting a large corpus, streamed.

Each size runs in a fresh subprocess: it imports everything and builds its clients, records its RSS (the
baseline), ingests ``N`` generated sentences from a generator (never a list) through ``hf_pinecone.ingest``
with default settings, then reports its peak RSS (``VmHWM``). The endpoint is the fast one (HashEmbedder, no
delay) so that only the pipeline's own memory is measured, in its own process.

``python -m benchmarks.bench_memory --child N ENDPOINT_URL PINECONE_URL`` is the child's entry point.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks._common import (
    ROOT,
    EndpointSpec,
    _env,
    endpoint_server,
    fresh_index,
    goal,
    log,
    pinecone_server,
    sentences,
    table,
)

LIMIT_MB = 400


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(records: int, url: str, host: str) -> None:
    """Ingest ``records`` streamed sentences; print a JSON line with baseline and peak RSS."""
    from hf_pinecone import InferenceEndpointEmbeddings, PineconeStore, ingest

    embeddings = InferenceEndpointEmbeddings(endpoint_url=url)
    store = PineconeStore(embedding=embeddings, pinecone_api_key="local", host=host)
    _ = embeddings.client, embeddings.async_client  # built before the baseline: fixed, not per-record, cost
    baseline = _status_kb("VmRSS")
    start = time.perf_counter()
    report = ingest(sentences(records, seed=5), store=store, progress=False)
    seconds = time.perf_counter() - start
    peak = _status_kb("VmHWM")
    assert report.upserted == records, report
    print(json.dumps({"records": records, "baseline_kb": baseline, "peak_kb": peak, "seconds": seconds}))


def measure(records: int, url: str, pinecone_url: str) -> dict[str, Any]:
    with fresh_index(pinecone_url) as host:
        cmd = [sys.executable, "-m", "benchmarks.bench_memory", "--child", str(records), url, host]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=_env(), cwd=ROOT).stdout
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["over_mb"] = (result["peak_kb"] - result["baseline_kb"]) / 1024
    log(f"  {records:,} records: +{result['over_mb']:.0f} MB over baseline, {result['seconds']:.0f} s")
    return result


def run(*, sizes: list[int]) -> tuple[str, dict[str, Any]]:
    """Returns (markdown, numbers)."""
    spec = EndpointSpec()
    results = []
    with pinecone_server() as pinecone_url, endpoint_server(spec) as url:
        for records in sizes:
            log(f"scenario 4: {records:,} records")
            results.append(measure(records, url, pinecone_url))
    return render(spec, results), {"runs": results}


def render(spec: EndpointSpec, results: list[dict[str, Any]]) -> str:
    rows = [
        [
            f"{r['records']:,}",
            f"{r['baseline_kb'] / 1024:,.0f}",
            f"{r['peak_kb'] / 1024:,.0f}",
            f"{r['over_mb']:,.0f}",
            f"{r['records'] / r['seconds']:,.0f}",
        ]
        for r in results
    ]
    worst = max(r["over_mb"] for r in results)
    growth = results[-1]["over_mb"] - results[0]["over_mb"] if len(results) > 1 else 0.0
    sizes = " vs ".join(f"{r['records']:,}" for r in results)
    return (
        f"`hf_pinecone.ingest` of generated sentences from a generator, each size in a fresh process, endpoint "
        f"`{spec.describe()}`. Peak RSS is the process's VmHWM; the baseline is its RSS after imports and client "
        "construction.\n\n"
        + table(["records", "baseline RSS (MB)", "peak RSS (MB)", "peak over baseline (MB)", "records/s"], rows)
        + f"\n\nWorst peak over baseline: {worst:,.0f} MB (goal <= {LIMIT_MB} MB: {goal(worst <= LIMIT_MB)}); "
        f"difference {sizes}: {growth:+,.0f} MB (goal: independent of size: {goal(abs(growth) <= 50)}).\n"
    )


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        sys.exit("usage: python -m benchmarks.bench_memory --child N ENDPOINT_URL INDEX_HOST")
