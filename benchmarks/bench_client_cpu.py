"""Scenario 7: client CPU per record, the ingesting process's own cost, against fast local servers.

Every contender ingests the same generated sentences, once for a small and once for a large corpus, each in a
fresh process on a fresh index of the same local Pinecone server, against a fast loopback endpoint
(``HashEmbedder(384)``, no delay, batches of up to 64). The ingesting process's user+sys CPU comes from
``os.wait4`` (all its threads). The marginal cost per record is

    (CPU(large) - CPU(small)) / (large - small),

so start-up (imports, index creation, first requests) is left out; the fixed cost is what the small run cost
beyond ``small x marginal``. Contenders:

- the tutorial's loop: ``requests.post`` per 64 texts + the SDK's ``index.upsert`` (one request in flight);
- the LangChain peer path: ``OpenAIEmbeddings`` against the endpoint's OpenAI route +
  ``PineconeVectorStore.add_texts`` (one request in flight);
- ``hf-pinecone ingest --file corpus.txt`` (the CLI, whatever ingest path it has) at ``--concurrency`` 1, 8, 32,
  64, and adaptive (the default);
- ``hf-pinecone ingest`` of one record: the CLI's whole fixed cost (imports, index creation, first requests).

A PNG (CPU per record against concurrency, one line per contender) is written next to BENCHMARKS.md.

Run alone: ``python -m benchmarks.bench_client_cpu [--sizes 10000,40000] [--plot PATH]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks._common import (
    ROOT,
    EndpointSpec,
    fresh_index,
    index_count,
    log,
    pinecone_server,
    sentences,
    table,
)

TUTORIAL_BATCH = 64
SPEC = EndpointSpec(max_batch_size=TUTORIAL_BATCH)  # fast: no delay, no replica limit
CONCURRENCIES: tuple[int | None, ...] = (1, 8, 32, 64, None)  # None: adaptive (the default)
PLOT = ROOT / "BENCHMARKS-client-cpu.png"  # next to BENCHMARKS.md, which shows it


# ------------------------------------------------------------------------------ in the child process
def _tutorial(url: str, pinecone_url: str, host: str, path: str) -> None:
    """The tutorial's loop, verbatim apart from names (as in scenario 1)."""
    import requests
    from pinecone import Pinecone

    texts = Path(path).read_text().splitlines()
    index = Pinecone(api_key="local", host=pinecone_url).Index(host=host)
    headers = {"Authorization": "Bearer hf_xxx", "Content-Type": "application/json"}
    for i in range(0, len(texts), TUTORIAL_BATCH):
        i_end = min(i + TUTORIAL_BATCH, len(texts))
        batch = texts[i:i_end]
        res = requests.post(url, headers=headers, json={"inputs": batch})
        emb = res.json()["embeddings"]
        meta = [{"text": text} for text in batch]
        ids = [str(x) for x in range(i, i_end)]
        index.upsert(vectors=list(zip(ids, emb, meta, strict=True)))


def _langchain(url: str, pinecone_url: str, host: str, path: str) -> None:
    """OpenAIEmbeddings against the OpenAI route + PineconeVectorStore.add_texts (as in scenario 1)."""
    from langchain_openai import OpenAIEmbeddings
    from langchain_pinecone import PineconeVectorStore
    from pinecone import Pinecone

    texts = Path(path).read_text().splitlines()
    embeddings = OpenAIEmbeddings(  # type: ignore[call-arg]
        model="hf-pinecone/hash-embedder",
        base_url=f"{url}/v1",
        api_key="x",
        check_embedding_ctx_length=False,
        chunk_size=TUTORIAL_BATCH,
    )
    index = Pinecone(api_key="local", host=pinecone_url).Index(host=host)
    store = PineconeVectorStore(index=index, embedding=embeddings)
    store.add_texts(texts)


# ----------------------------------------------------------------------------- in the parent process
def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "PINECONE_", "HUGGINGFACE"))}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return env


def _cpu_of(cmd: list[str], cwd: Path) -> tuple[float, float, str]:
    """Run ``cmd``; its user+sys CPU seconds (from ``os.wait4``: every thread), wall seconds and stdout."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=_env(), stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # reaps the child, with its rusage
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[3:])} exited {proc.returncode}: {(stdout + stderr)[-2000:]}")
    return usage.ru_utime + usage.ru_stime, wall, stdout


def _cli(url: str, pinecone_url: str, path: Path, concurrency: int | None) -> list[str]:
    cmd = [sys.executable, "-c", "from hf_pinecone.cli import main; main()", "ingest", "--file", str(path)]
    cmd += ["--index", f"cpu-{uuid.uuid4().hex[:10]}", "--endpoint-url", url, "--controller-host", pinecone_url]
    cmd += ["--no-progress", "--json"]
    if concurrency is not None:
        cmd += ["--concurrency", str(concurrency)]
    return cmd


def _delete_index(pinecone_url: str, name: str) -> None:
    from pinecone import Pinecone

    with contextlib.suppress(Exception):
        Pinecone(api_key="local", host=pinecone_url).delete_index(name)


def run_contender(name: str, url: str, pinecone_url: str, path: Path, records: int, tmp: Path) -> tuple[float, float]:
    """CPU and wall seconds of one contender ingesting ``path`` (``records`` lines); checks what was stored."""
    if name.startswith("hf-pinecone"):
        concurrency = None if name.endswith("adaptive") else int(name.rsplit("x", 1)[1])
        cmd = _cli(url, pinecone_url, path, concurrency)
        try:
            cpu, wall, stdout = _cpu_of(cmd, tmp)
        finally:
            _delete_index(pinecone_url, cmd[cmd.index("--index") + 1])
        report = json.loads(stdout)
        stored = report["upserted"] if report.get("status") == "ok" else -1
    else:
        with fresh_index(pinecone_url) as host:
            cmd = [sys.executable, "-m", "benchmarks.bench_client_cpu", "--child", name, url, pinecone_url, host]
            cpu, wall, _ = _cpu_of([*cmd, str(path)], tmp)
            stored = index_count(pinecone_url, host)
    if stored != records:
        raise AssertionError(f"{name}: {stored} vectors stored, expected {records}")
    return cpu, wall


def contenders() -> list[str]:
    names = ["tutorial", "langchain"]
    names += [f"hf-pinecone x{c}" if c is not None else "hf-pinecone adaptive" for c in CONCURRENCIES]
    return names


LABELS = {
    "tutorial": "tutorial loop (requests.post per 64 + index.upsert)",
    "langchain": "LangChain (OpenAIEmbeddings + PineconeVectorStore.add_texts)",
}


def run(*, sizes: tuple[int, int] = (10_000, 40_000), plot: Path | None = PLOT) -> tuple[str, dict[str, Any]]:
    """Every contender at both sizes (alternating contenders within a size); returns (markdown, numbers)."""
    from benchmarks._common import endpoint_server

    small, large = sizes
    cpu: dict[str, dict[int, float]] = {name: {} for name in contenders()}
    wall: dict[str, dict[int, float]] = {name: {} for name in contenders()}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        files = {}
        for size in (1, small, large):
            files[size] = tmp / f"corpus-{size}.txt"
            files[size].write_text("\n".join(sentences(size)) + "\n")
        with pinecone_server() as pinecone_url, endpoint_server(SPEC) as url:
            log(f"scenario 7: client CPU per record, {small:,} and {large:,} records, {SPEC.describe()}")
            one_record, one_wall = run_contender("hf-pinecone adaptive", url, pinecone_url, files[1], 1, tmp)
            log(f"  hf-pinecone ingest of 1 record: {one_record:.2f} s CPU, {one_wall:.2f} s wall")
            for size in (small, large):
                for name in contenders():
                    cpu[name][size], wall[name][size] = run_contender(name, url, pinecone_url, files[size], size, tmp)
                    log(f"  {name} {size:,}: {cpu[name][size]:.2f} s CPU, {size / wall[name][size]:,.0f} records/s")
    marginal = {name: (cpu[name][large] - cpu[name][small]) / (large - small) * 1e6 for name in cpu}
    fixed = {name: cpu[name][small] - small * marginal[name] / 1e6 for name in cpu}
    rate = {name: large / wall[name][large] for name in cpu}
    tutorial = marginal["tutorial"]
    rows = [
        [
            LABELS[name] if name in LABELS else f"`hf-pinecone ingest`{_setting(name)}",
            f"{marginal[name]:,.0f}",
            f"{tutorial / marginal[name]:.1f}" if marginal[name] > 0 else "-",
            f"{fixed[name]:.2f}",
            f"{rate[name]:,.0f}",
        ]
        for name in cpu
    ]
    ours = [marginal[f"hf-pinecone x{c}"] for c in (8, 32, 64)]
    flat = max(ours) / min(ours) - 1 if min(ours) > 0 else float("inf")
    worst = max(marginal[n] for n in cpu if n.startswith("hf-pinecone"))
    body = (
        f"`{SPEC.describe()}` (a fast loopback endpoint: the client is the bottleneck) and the local Pinecone "
        f"server, each in its own process. Each contender ingests {small:,} and then {large:,} generated sentences "
        "in a fresh process on a fresh index; CPU = user+sys of the ingesting process (`os.wait4`). "
        f"Marginal = (CPU at {large:,} - CPU at {small:,}) / {large - small:,} records; fixed = what the "
        f"{small:,}-record run cost beyond that.\n\n"
        + table(
            ["contender", "CPU per record (us)", "tutorial / this", "fixed CPU (s)", f"records/s at {large:,}"],
            rows,
        )
        + f"\n\n`hf-pinecone ingest` of one record: **{one_record:.2f} s CPU** ({one_wall:.2f} s wall; goal <= 1 s). "
        f"hf-pinecone's worst marginal cost: {worst:,.0f} us per record (goal <= 60); spread across 8/32/64: "
        f"{flat * 100:.0f}% (goal <= 20%); tutorial / worst: {tutorial / worst:.1f}x (goal >= 10x).\n"
    )
    if plot is not None:
        _plot(marginal, plot)
        where = plot.relative_to(ROOT).as_posix() if plot.is_relative_to(ROOT) else plot.as_posix()
        body += f"\n![client CPU per record against concurrency]({where})\n"
    return body, {
        "sizes": [small, large],
        "cpu_s": cpu,
        "wall_s": wall,
        "marginal_us": marginal,
        "fixed_s": fixed,
        "one_record_cpu_s": one_record,
    }


def _setting(name: str) -> str:
    return " (adaptive, default)" if name.endswith("adaptive") else f" `--concurrency {name.rsplit('x', 1)[1]}`"


def _plot(marginal: dict[str, float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [c for c in CONCURRENCIES if c is not None]
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    ax.plot(xs, [marginal[f"hf-pinecone x{c}"] for c in xs], marker="o", label="hf-pinecone ingest --concurrency N")
    ax.axhline(marginal["hf-pinecone adaptive"], color="C0", linestyle=":", label="hf-pinecone ingest (adaptive)")
    # The tutorial and LangChain keep one request in flight: one point each, drawn across as a reference.
    ax.plot([1], [marginal["tutorial"]], marker="s", color="C3")
    ax.axhline(marginal["tutorial"], color="C3", linestyle="--", label=LABELS["tutorial"])
    ax.plot([1], [marginal["langchain"]], marker="^", color="C2")
    ax.axhline(marginal["langchain"], color="C2", linestyle="--", label=LABELS["langchain"])
    ax.axhline(60, color="grey", linewidth=0.8, label="goal: 60 us")
    ax.set_xscale("log", base=2)
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.set_yscale("log")
    ax.set_xlabel("embedding requests in flight")
    ax.set_ylabel("client CPU per record (us, marginal)")
    ax.set_title("Client CPU per record (lower is better)")
    ax.legend(fontsize=7, loc="best")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description="Client CPU per record (scenario 7).")
    parser.add_argument("--child", nargs=5, metavar=("CONTENDER", "URL", "PINECONE", "HOST", "FILE"))
    parser.add_argument("--sizes", default="10000,40000")
    parser.add_argument("--plot", type=Path, default=PLOT)
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    if args.child:
        name, url, pinecone_url, host, path = args.child
        {"tutorial": _tutorial, "langchain": _langchain}[name](url, pinecone_url, host, path)
        return
    small, large = (int(x) for x in args.sizes.split(","))
    markdown, numbers = run(sizes=(small, large), plot=args.plot)
    if args.json:
        args.json.write_text(json.dumps(numbers, indent=1))
    print(markdown)


if __name__ == "__main__":
    main()
