"""A tiny run of every benchmark scenario, so that ``python -m benchmarks.run`` stays runnable.

Real servers in subprocesses, the real SDKs and model, tiny sizes. No timing assertions: each scenario must
complete, store exactly what it was given (checked inside the scenarios) and render its table.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `benchmarks` is a top-level folder, not part of the installed package
    sys.path.insert(0, str(ROOT))

from benchmarks import (  # noqa: E402
    bench_client_cpu,
    bench_http_stack,
    bench_ingest,
    bench_memory,
    bench_model,
    bench_query,
    run,
)


def _numbers_in_rows(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("| ") and any(c.isdigit() for c in line)]


@pytest.mark.slow
def test_ingest_scenario_and_adaptation() -> None:
    markdown, numbers = bench_ingest.run(records=200, repetitions=1, adapt_records=200)
    for replicas in ("replicas_4", "replicas_64"):
        assert set(numbers[replicas]) == {"a", "b", "c"}
        assert all(v[0] > 0 for v in numbers[replicas].values())
    assert "c/a" in markdown and "c/capacity" in markdown
    assert len(numbers["adaptation"]) == 3  # queueing endpoint, 429-past-4 gateway, 64 slow replicas
    for rows in numbers["adaptation"].values():
        assert [row[0] for row in rows][-1] == "adaptive (default)"
        assert all(rate > 0 for _, rate, *_ in rows)
    assert len(_numbers_in_rows(markdown)) >= 2 * 3 + 2 + 3 * 3


@pytest.mark.slow
def test_model_scenario() -> None:
    markdown, numbers = bench_model.run(records=64, repetitions=1)
    assert set(numbers) == {"sentences", "passages"}
    assert all(values["encode"][0] > 0 and values["ingest"][0] > 0 for values in numbers.values())
    assert "Ratio ingest/encode" in markdown and "passages of 1-3" in markdown


def test_query_scenario() -> None:
    markdown, latencies = bench_query.run(vectors=300, queries=5)
    assert set(latencies) == {"retriever", "tutorial", "bare"}
    assert all(len(v) == 5 and min(v) > 0 for v in latencies.values())
    assert "p50" in markdown and "retriever / bare minimum" in markdown


@pytest.mark.slow
def test_memory_scenario() -> None:
    markdown, numbers = bench_memory.run(sizes=[200, 400])
    assert [r["records"] for r in numbers["runs"]] == [200, 400]
    assert all(r["peak_kb"] >= r["baseline_kb"] > 0 for r in numbers["runs"])
    assert "peak over baseline" in markdown


def test_pinecone_server_scenario() -> None:
    scale = run.Scale(
        ingest_records=0,
        ingest_repetitions=0,
        adapt_records=0,
        model_records=0,
        model_repetitions=0,
        query_vectors=0,
        queries=0,
        memory_sizes=(),
        pinecone_sizes=(600,),
        pinecone_queries=20,
        pinecone_sdk_records=100,
    )
    markdown, numbers = run.run_pinecone(scale)
    assert numbers["rows"][0]["size"] == 600
    assert "| 600 |" in markdown


def test_http_stack_scenario() -> None:
    markdown, numbers = bench_http_stack.run(requests=20)
    assert set(numbers["cpu_ms"]) == {"httpx sync", "httpx2 sync", "httpx async", "httpx2 async", "aiohttp async"}
    for per_concurrency in numbers["cpu_ms"].values():
        assert set(per_concurrency) == set(bench_http_stack.CONCURRENCY)
        assert all(values and values[0] > 0 for values in per_concurrency.values())
    assert "| aiohttp async |" in markdown and "64 in flight" in markdown


@pytest.mark.slow
def test_client_cpu_scenario(tmp_path: Path) -> None:
    plot = tmp_path / "cpu.png"
    markdown, numbers = bench_client_cpu.run(sizes=(64, 192), plot=plot)
    assert set(numbers["cpu_s"]) == set(bench_client_cpu.contenders())
    assert all(cpu[64] > 0 and cpu[192] > 0 for cpu in numbers["cpu_s"].values())
    assert numbers["one_record_cpu_s"] > 0
    assert plot.read_bytes().startswith(b"\x89PNG")
    assert "CPU per record (us)" in markdown and "of one record" in markdown


@pytest.mark.slow
def test_rerank_scenario() -> None:
    """Scenario 8: rerank latency for 20 and 50 candidates, and the dense/rerank quality table."""
    from benchmarks import bench_rerank

    markdown, numbers = bench_rerank.run(calls=2, rows=30)
    assert [r["candidates"] for r in numbers["latency"]] == [20, 50]
    assert [r["requests"] for r in numbers["latency"]] == [1, 2]  # max_client_batch_size 32
    assert list(numbers["quality"]["scores"]) == ["dense", "rerank"]
    assert "| recall@5 |" in markdown and "| 50 | 2 |" in markdown


def test_report_renders_machine_and_sections() -> None:
    info = run.machine()
    assert info["cores"] and info["python"] and "hf-pinecone" in info["packages"]
    text = run.render(info, {"query": "QUERY TABLE", "ingest": "INGEST TABLE"}, quick=True, seconds=60)
    assert text.index("INGEST TABLE") < text.index("QUERY TABLE")  # scenario order, not insertion order
    assert "## Machine" in text and "--quick" in text
