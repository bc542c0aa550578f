"""Distributed ingestion: the Ray path against the single-process path, CPU per record (issue 15).

Same data (generated sentences written to a parquet file), same endpoint (HashEmbedder in its own process,
no simulated delay: the client side is what is measured) and the same local Pinecone server (its own process).
Each contender runs in a fresh subprocess that makes itself a child subreaper, so that every process it starts
(Ray's raylet, GCS, workers and actors) is reaped by it and their CPU time lands in its ``RUSAGE_CHILDREN``:

- ``single``: ``hf_pinecone.ingest(parquet, ...)``.
- ``ray``: ``ray.init(num_cpus=N)``, ``hf_pinecone.ray.ingest(ray.data.read_parquet(...), workers=W)``.
- ``ray idle``: ``ray.init`` and ``ray.shutdown`` with no work: Ray's fixed start-up cost, for reference.

Each path runs at two sizes; the CPU difference per extra record is the *marginal* CPU per record (fixed costs:
start-up, imports, Ray's daemons, cancel out), what matters at 10^7+ records.

Usage: ``python -m benchmarks.bench_distributed [--records 20000] [--workers 2]`` prints the markdown section
and writes ``benchmarks/results_distributed.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from benchmarks._common import ROOT, EndpointSpec, corpus, endpoint_server, log, pinecone_server, table

CHILD = textwrap.dedent(
    """
    import ctypes, json, os, resource, sys, time
    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphaned descendants are reaped here
    mode, parquet, endpoint, pinecone, index, workers, cpus = sys.argv[1:8]
    started = time.perf_counter()
    report = None
    if mode == "single":
        from hf_pinecone.embeddings import InferenceEndpointEmbeddings
        from hf_pinecone.ingestion import ingest
        from hf_pinecone.store import PineconeStore, ensure_index
        emb = InferenceEndpointEmbeddings(endpoint_url=endpoint, hf_token=None)
        host = ensure_index(index, embeddings=emb, api_key="local", host=pinecone)
        store = PineconeStore(embedding=emb, pinecone_api_key="local", host=host)
        report = ingest(parquet, store=store, embeddings=emb, progress=False)
    else:
        import ray, ray.data
        ray.init(num_cpus=int(cpus), include_dashboard=False, log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        if mode == "ray":
            import hf_pinecone.ray as hr
            report = hr.ingest(ray.data.read_parquet(parquet), endpoint_url=endpoint, controller_host=pinecone,
                               index_name=index, workers=int(workers))
        ray.shutdown()
    wall = time.perf_counter() - started
    while True:  # reap every descendant (Ray's daemons and workers), so their CPU time is counted
        try:
            os.wait()
        except ChildProcessError:
            break
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({
        "wall": wall,
        "cpu": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
        "upserted": report.upserted if report else 0,
        "read": report.read if report else 0,
    }))
    """
)


def _child(
    mode: str, parquet: Path, endpoint: str, pinecone: str, index: str, workers: int, cpus: int
) -> dict[str, Any]:
    cmd = [sys.executable, "-c", CHILD, mode, str(parquet), endpoint, pinecone, index, str(workers), str(cpus)]
    env = {"PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"{mode} run failed: {out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run(
    records: int = 20_000, workers: int = 2, cpus: int = 2, repetitions: int = 2, small: int | None = None
) -> tuple[str, dict[str, Any]]:
    """Both paths at ``small`` and ``records`` records; the slope between the two is the marginal CPU/record."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    small = small or max(1, records // 5)
    spec = EndpointSpec(max_batch_size=32)
    numbers: dict[str, dict[int, list[dict[str, Any]]]] = {"single": {}, "ray": {}, "ray_idle": {}}
    with tempfile.TemporaryDirectory() as tmp, endpoint_server(spec) as endpoint, pinecone_server() as pinecone:
        files = {}
        for n in (small, records):
            files[n] = Path(tmp) / f"corpus-{n}.parquet"
            pq.write_table(pa.table({"text": corpus(n)}), files[n])
        for rep in range(repetitions):
            for n in (small, records):
                for mode in ("single", "ray", "ray_idle"):
                    if mode == "ray_idle" and n != records:
                        continue
                    index = f"dist-{mode.replace('_', '-')}-{n}-{rep}"
                    result = _child(mode, files[n], endpoint, pinecone, index, workers, cpus)
                    if mode != "ray_idle":
                        assert result["upserted"] == n, result
                    numbers[mode].setdefault(n, []).append(result)
                    log(f"{mode} n={n} #{rep}: {result}")

    def best(mode: str, n: int, key: str) -> float:
        return min(r[key] for r in numbers[mode][n])

    def slope(mode: str) -> float:
        return (best(mode, records, "cpu") - best(mode, small, "cpu")) / (records - small) * 1e6

    single_us, ray_us = slope("single"), slope("ray")
    gross = {mode: best(mode, records, "cpu") / records * 1e6 for mode in ("single", "ray")}
    rows = [
        [
            "single process (`hf_pinecone.ingest`)",
            f"{best('single', records, 'wall'):.1f}",
            f"{best('single', records, 'cpu'):.1f}",
            f"{gross['single']:.0f}",
            f"{single_us:.0f}",
            "1.00",
        ],
        [
            f"Ray Data, {workers} workers",
            f"{best('ray', records, 'wall'):.1f}",
            f"{best('ray', records, 'cpu'):.1f}",
            f"{gross['ray']:.0f}",
            f"{ray_us:.0f}",
            f"{ray_us / single_us:.2f}",
        ],
        [
            "Ray start-up and shutdown alone",
            f"{best('ray_idle', records, 'wall'):.1f}",
            f"{best('ray_idle', records, 'cpu'):.1f}",
            "",
            "",
            "",
        ],
    ]
    markdown = "\n".join(
        [
            f"{small:,} and {records:,} records from a parquet file; endpoint {spec.describe()} in its own process;",
            f"local Pinecone server in its own process; `ray.init(num_cpus={cpus})`; best of {repetitions} runs. CPU",
            "is user+system time of every process of a contender (driver, Ray's daemons, tasks and actors, all",
            f"reaped by the contender). *Marginal* = CPU({records:,}) - CPU({small:,}) per extra record: start-up,",
            "imports and Ray's daemons cancel out, leaving what each record costs on a long run.",
            "",
            table(
                [
                    "path",
                    f"wall s ({records:,})",
                    f"CPU s ({records:,})",
                    "CPU µs/record (gross)",
                    "CPU µs/record (marginal)",
                    "marginal x single",
                ],
                rows,
                "lrrrrr",
            ),
        ]
    )
    return markdown, {"records": records, "small": small, "workers": workers, "runs": numbers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--repetitions", type=int, default=2)
    parser.add_argument("--small", type=int, default=None)
    args = parser.parse_args()
    markdown, numbers = run(args.records, args.workers, args.cpus, args.repetitions, args.small)
    (ROOT / "benchmarks" / "results_distributed.json").write_text(json.dumps(numbers, indent=2))
    print(markdown)


if __name__ == "__main__":
    main()
