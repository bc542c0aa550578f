"""A tiny run of benchmark scenario 8 (hybrid query latency), so that it stays runnable.

Real servers in subprocesses, the real SDK and SPLADE model, tiny sizes. No timing assertions: the scenario must
complete, every contender must return k documents (checked inside it) and the table must render.
"""

from __future__ import annotations

from benchmarks import bench_hybrid


def test_hybrid_scenario() -> None:
    markdown, numbers = bench_hybrid.run(vectors=200, queries=4)
    assert set(numbers["latencies"]) == {"dense", "hybrid", "rrf", "sparse"}
    assert all(len(v) == 4 and min(v) > 0 for v in numbers["latencies"].values())
    assert numbers["sparse_records_per_s"] > 0
    assert "One-index hybrid / dense" in markdown and "RRF" in markdown
