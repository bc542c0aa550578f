"""Run every benchmark scenario and write BENCHMARKS.md.

Usage::

    python -m benchmarks.run [--quick] [--only ingest,model,query,memory,pinecone,http,cpu,hybrid] [--out BENCHMARKS.md]

``--quick`` uses small sizes and one repetition (a smoke run, not for publishing). Raw numbers also go to
``benchmarks/results.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks._common import ROOT, log, machine, table


@dataclass(frozen=True)
class Scale:
    ingest_records: int
    ingest_repetitions: int
    adapt_records: int
    model_records: int
    model_repetitions: int
    query_vectors: int
    queries: int
    memory_sizes: tuple[int, ...]
    pinecone_sizes: tuple[int, ...]
    pinecone_queries: int
    pinecone_sdk_records: int
    http_requests: int = 2_000
    http_repetitions: int = 2
    cpu_sizes: tuple[int, int] = (10_000, 40_000)
    rerank_calls: int = 30
    rerank_rows: int | None = None  # SNLI rows for the quality table (None: the whole file)


FULL = Scale(
    ingest_records=20_000,
    ingest_repetitions=2,
    adapt_records=5_000,
    model_records=2_000,
    model_repetitions=5,
    query_vectors=50_000,
    queries=200,
    memory_sizes=(100_000, 500_000),
    pinecone_sizes=(100_000, 500_000),
    pinecone_queries=200,
    pinecone_sdk_records=5_000,
)
QUICK = Scale(
    ingest_records=1_000,
    ingest_repetitions=1,
    adapt_records=1_000,
    model_records=200,
    model_repetitions=1,
    query_vectors=2_000,
    queries=20,
    memory_sizes=(2_000, 10_000),
    pinecone_sizes=(5_000,),
    pinecone_queries=20,
    pinecone_sdk_records=500,
    http_requests=200,
    http_repetitions=1,
    cpu_sizes=(300, 1_000),
    rerank_calls=5,
    rerank_rows=150,
)
SCENARIOS = ("ingest", "model", "query", "memory", "pinecone", "http", "cpu", "rerank", "hybrid")


def run_pinecone(scale: Scale) -> tuple[str, dict[str, Any]]:
    """Scenario 5, from the Pinecone server's own benchmark (benchmarks/bench_pinecone_server.py)."""
    from benchmarks import bench_pinecone_server as bench

    rows = []
    for size in scale.pinecone_sizes:
        log(f"scenario 5: {size:,} vectors")
        rows.append(bench.run(size, scale.pinecone_queries, min(scale.pinecone_sdk_records, size), None))
    body = (
        f"Dimension {bench.DIM}, cosine, in memory, top_k=10, {scale.pinecone_queries} sequential queries through "
        "the `pinecone` SDK on a warm connection; the filtered query matches 10% of the records. SDK upsert: "
        f"`Index.upsert` in batches of {bench.SDK_BATCH}, sequential; bulk upsert: raw HTTP bodies just under "
        "2 MB.\n\n"
        + table(
            [
                "vectors",
                "query p50 (ms)",
                "query p95 (ms)",
                "filtered p50 (ms)",
                "filtered p95 (ms)",
                "SDK upsert (rec/s)",
                "bulk HTTP upsert (rec/s)",
            ],
            [
                [
                    f"{r['size']:,}",
                    f"{r['p50']:.1f}",
                    f"{r['p95']:.1f}",
                    f"{r['fp50']:.1f}",
                    f"{r['fp95']:.1f}",
                    f"{r['sdk_rate']:,.0f}",
                    f"{r['http_rate']:,.0f}",
                ]
                for r in rows
            ],
        )
        + "\n"
    )
    return body, {"rows": rows}


def run_scenario(name: str, scale: Scale) -> tuple[str, dict[str, Any]]:
    if name == "ingest":
        from benchmarks import bench_ingest

        return bench_ingest.run(
            records=scale.ingest_records, repetitions=scale.ingest_repetitions, adapt_records=scale.adapt_records
        )
    if name == "model":
        from benchmarks import bench_model

        return bench_model.run(records=scale.model_records, repetitions=scale.model_repetitions)
    if name == "query":
        from benchmarks import bench_query

        return bench_query.run(vectors=scale.query_vectors, queries=scale.queries)
    if name == "memory":
        from benchmarks import bench_memory

        return bench_memory.run(sizes=list(scale.memory_sizes))
    if name == "pinecone":
        return run_pinecone(scale)
    if name == "http":
        from benchmarks import bench_http_stack

        return bench_http_stack.run(requests=scale.http_requests, repetitions=scale.http_repetitions)
    if name == "cpu":
        from benchmarks import bench_client_cpu

        return bench_client_cpu.run(sizes=scale.cpu_sizes)
    if name == "rerank":
        from benchmarks import bench_rerank

        return bench_rerank.run(calls=scale.rerank_calls, rows=scale.rerank_rows)
    if name == "hybrid":
        from benchmarks import bench_hybrid

        # SPLADE vectors for the corpus come from the CPU model: a fifth of scenario 3's corpus.
        return bench_hybrid.run(vectors=max(1_000, scale.query_vectors // 5), queries=scale.queries)
    raise ValueError(name)


TITLES = {
    "ingest": "1. Ingestion against a remote-like endpoint",
    "model": "2. Ingestion with the real model on CPU",
    "query": "3. Query latency",
    "memory": "4. Memory",
    "pinecone": "5. Local Pinecone server",
    "http": "6. HTTP stack: client CPU per request",
    "cpu": "7. Client CPU per record",
    "rerank": "8. Reranking",
    "hybrid": "9. Hybrid query latency",
}


def render(
    info: dict[str, str],
    sections: dict[str, str],
    quick: bool,
    seconds: float,
    merged_from: dict[str, str] | None = None,
) -> str:
    head = [
        "# Benchmarks",
        "",
        "Generated by `python -m benchmarks.run` (do not edit by hand). Every contender runs against the same local "
        "servers, in the same run, alternately; servers run in their own processes. Every hf-pinecone figure "
        "uses the library's default settings.",
        "",
        "## Machine",
        "",
        f"- Date: {info['date']}",
        f"- CPU: {info['cpu']}, {info['cores']} cores; RAM {info['ram']}; {info['os']}",
        f"- Load average at start: {info['load']} (the machine is shared: absolute figures are noisy, ratios "
        "measured side by side are the point)",
        f"- Python {info['python']}; {info['packages']}",
        f"- Total benchmark time: {seconds / 60:.1f} min"
        + (" (**--quick**: small sizes, not for publishing)" if quick else ""),
    ]
    if merged_from:
        head.append(
            "- Scenarios kept from an earlier run (`--merge`): "
            + ", ".join(f"{TITLES[name]} ({date})" for name, date in merged_from.items())
        )
    head.append("")
    body = []
    for name in SCENARIOS:
        if name in sections:
            body += [f"## {TITLES[name]}", "", sections[name].rstrip(), ""]
    notes = Path(__file__).with_name("NOTES.md")
    if notes.exists():
        body += [notes.read_text().rstrip(), ""]
    return "\n".join(head + body)


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the benchmarks and write BENCHMARKS.md.")
    parser.add_argument("--quick", action="store_true", help="small sizes, one repetition")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated: " + ",".join(SCENARIOS))
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument(
        "--merge", action="store_true", help="keep the other scenarios' sections from benchmarks/results.json"
    )
    args = parser.parse_args()
    scale = QUICK if args.quick else FULL
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(wanted) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    info = machine()
    started = time.perf_counter()
    sections: dict[str, str] = {}
    numbers: dict[str, Any] = {"machine": info, "quick": args.quick}
    for name in SCENARIOS:
        if name not in wanted:
            continue
        t0 = time.perf_counter()
        log(f"=== {TITLES[name]}")
        sections[name], numbers[name] = run_scenario(name, scale)
        log(f"=== done in {time.perf_counter() - t0:.0f} s")
        numbers[name + "_minutes"] = (time.perf_counter() - t0) / 60
    seconds = time.perf_counter() - started
    results = ROOT / "benchmarks" / "results.json"
    if args.merge and results.exists():
        # Keep the other scenarios of the previous run (e.g. after re-running one with --only).
        previous = json.loads(results.read_text())
        for name in SCENARIOS:
            if name not in sections and name in previous.get("sections", {}):
                sections[name] = previous["sections"][name]
                numbers[name] = previous.get(name)
                numbers[name + "_minutes"] = previous.get(name + "_minutes", 0)
                earlier = previous.get("merged_from", {}).get(name, previous["machine"]["date"])
                numbers.setdefault("merged_from", {})[name] = earlier
        seconds = sum(numbers.get(name + "_minutes", 0) for name in SCENARIOS) * 60
        if not wanted:  # only re-rendering (e.g. after editing NOTES.md): keep the last run's facts
            info = numbers["machine"] = previous["machine"]
            numbers["merged_from"] = previous.get("merged_from", {})
    numbers["sections"] = sections
    args.out.write_text(render(info, sections, args.quick, seconds, numbers.get("merged_from", {})))
    results.write_text(json.dumps(numbers, indent=1, default=str))
    log(f"wrote {args.out} in {(time.perf_counter() - started) / 60:.1f} min")


if __name__ == "__main__":
    main()
