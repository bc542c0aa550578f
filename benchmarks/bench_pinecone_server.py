"""Benchmark the local Pinecone server: query latency (p50/p95) and upsert throughput.

The server runs as a separate process (``hf-pinecone serve pinecone --port 0``), so client and server do not
share a GIL. Vectors are random unit vectors of dimension 384; queries are stored vectors plus noise.

- bulk load: raw HTTP upserts (orjson bodies just under 2 MB), the fastest way to fill the index;
- SDK upsert: the real ``pinecone`` SDK (``Index.upsert``, sync, batches of 200), what applications see;
- query: the real SDK, one warm connection, ``top_k=10``, sequential requests; also with a metadata filter
  that matches 10% of the records.

Usage::

    python benchmarks/bench_pinecone_server.py [--sizes 100000 500000] [--queries 200] [--data-dir DIR]

Prints a markdown table on stdout (progress goes to stderr). The last column is the 1-minute load average while the
queries ran: on a shared machine, latency scales with it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import orjson
from pinecone import Pinecone, ServerlessSpec

DIM = 384
MAX_BODY = 2_000_000
SDK_BATCH = 200


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def server(data_dir: Path | None) -> Iterator[str]:
    """Run ``hf-pinecone serve pinecone`` in a subprocess and yield its base URL."""
    cmd = [
        sys.executable,
        "-c",
        "from hf_pinecone.cli import main; main()",
        "serve",
        "pinecone",
        "--port",
        "0",
    ]
    if data_dir is not None:
        cmd += ["--data-dir", str(data_dir)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("listening on "):
            raise RuntimeError(f"server did not start: {line!r}")
        yield line.split()[-1]
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    data = rng.standard_normal((n, DIM), dtype=np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    return data


def bulk_load(data_url: str, vectors: np.ndarray, offset: int) -> float:
    """Upsert with raw HTTP in bodies just under 2 MB; returns records/s."""
    start = time.perf_counter()
    headers = {"Api-Key": "local", "Content-Type": "application/json"}
    with httpx.Client(timeout=120) as client:

        def send(parts: list[bytes]) -> None:
            body = b'{"vectors":[' + b",".join(parts) + b"]}"
            client.post(f"{data_url}/vectors/upsert", content=body, headers=headers).raise_for_status()

        parts: list[bytes] = []
        size = 0
        for i, row in enumerate(vectors):
            record_id = offset + i
            part = orjson.dumps({"id": f"v{record_id}", "values": row.tolist(), "metadata": {"bucket": record_id % 10}})
            if size + len(part) + 64 > MAX_BODY or len(parts) == 1000:
                send(parts)
                parts, size = [], 0
            parts.append(part)
            size += len(part) + 1
        if parts:
            send(parts)
    return len(vectors) / (time.perf_counter() - start)


def sdk_upsert(index: object, vectors: np.ndarray, offset: int) -> float:
    """Upsert with the SDK (sync, sequential batches); returns records/s."""
    start = time.perf_counter()
    for lo in range(0, len(vectors), SDK_BATCH):
        chunk = vectors[lo : lo + SDK_BATCH]
        batch = [
            (f"v{offset + lo + i}", row.tolist(), {"bucket": (offset + lo + i) % 10}) for i, row in enumerate(chunk)
        ]
        index.upsert(vectors=batch, show_progress=False)  # type: ignore[attr-defined]
    return len(vectors) / (time.perf_counter() - start)


def query_latencies(index: object, queries: np.ndarray, **kwargs: object) -> np.ndarray:
    index.query(vector=queries[0].tolist(), top_k=10, **kwargs)  # type: ignore[attr-defined]  # warm up
    timings = []
    for q in queries:
        vector = q.tolist()
        start = time.perf_counter()
        result = index.query(vector=vector, top_k=10, **kwargs)  # type: ignore[attr-defined]
        timings.append(time.perf_counter() - start)
        assert len(result.matches) == 10
    return np.asarray(timings) * 1000


def run(size: int, n_queries: int, sdk_records: int, data_dir: Path | None) -> dict[str, float]:
    rng = np.random.default_rng(size)
    with server(data_dir) as url:
        pc = Pinecone(api_key="local", host=url)
        name = f"bench-{size}"
        pc.create_index(name=name, dimension=DIM, metric="cosine", spec=ServerlessSpec(cloud="aws", region="us-east-1"))
        host = pc.describe_index(name).host
        index = pc.Index(host=host)
        log(f"size {size}: SDK upsert of {sdk_records} records")
        sdk_vectors = unit_vectors(rng, sdk_records)
        sdk_rate = sdk_upsert(index, sdk_vectors, 0)
        log(f"size {size}: bulk load")
        rest = size - sdk_records
        rates = []
        for lo in range(0, rest, 50_000):
            part = unit_vectors(rng, min(50_000, rest - lo))
            rates.append((len(part), bulk_load(host, part, sdk_records + lo)))
        http_rate = sum(n for n, _ in rates) / sum(n / r for n, r in rates) if rates else float("nan")
        assert index.describe_index_stats().total_vector_count == size
        queries = sdk_vectors[rng.integers(0, len(sdk_vectors), n_queries)] + 0.05 * unit_vectors(rng, n_queries)
        log(f"size {size}: {n_queries} queries")
        load_before = os.getloadavg()[0]
        plain = query_latencies(index, queries)
        load_after = os.getloadavg()[0]
        filtered = query_latencies(index, queries[: max(20, n_queries // 4)], filter={"bucket": 3})
    return {
        "size": size,
        "p50": float(np.percentile(plain, 50)),
        "p95": float(np.percentile(plain, 95)),
        "fp50": float(np.percentile(filtered, 50)),
        "fp95": float(np.percentile(filtered, 95)),
        "sdk_rate": sdk_rate,
        "http_rate": http_rate,
        "load": (load_before + load_after) / 2,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 500_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--sdk-records", type=int, default=5_000)
    parser.add_argument("--data-dir", type=Path, default=None, help="persist (WAL + fsync) instead of in-memory")
    args = parser.parse_args()
    rows = []
    for size in args.sizes:
        data_dir = None if args.data_dir is None else args.data_dir / f"n{size}"
        rows.append(run(size, args.queries, min(args.sdk_records, size), data_dir))
    mode = "persisted (--data-dir, fsync per request)" if args.data_dir else "in memory"
    print(f"Local Pinecone server, dimension {DIM}, cosine, top_k=10, {mode}, {args.queries} sequential SDK queries")
    print()
    columns = [
        "vectors",
        "query p50 (ms)",
        "query p95 (ms)",
        "filtered 10% p50 (ms)",
        "filtered p95 (ms)",
        "SDK upsert (rec/s)",
        "HTTP bulk upsert (rec/s)",
        "machine load avg",
    ]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---:|" * len(columns))
    for r in rows:
        print(
            f"| {r['size']:,} | {r['p50']:.1f} | {r['p95']:.1f} | {r['fp50']:.1f} | {r['fp95']:.1f} "
            f"| {r['sdk_rate']:,.0f} | {r['http_rate']:,.0f} | {r['load']:.1f} |"
        )


if __name__ == "__main__":
    main()
