"""Shared pieces of the benchmarks: corpus, server processes, fresh indexes, statistics, machine facts."""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
DIM = 384


def log(message: str) -> None:
    """Progress goes to stderr; results go to BENCHMARKS.md."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------- corpus
_SUBJECTS = (
    "A man",
    "A woman",
    "Two children",
    "The dog",
    "An old couple",
    "A group of friends",
    "The chef",
    "A cyclist",
    "The teacher",
    "A small girl",
    "Several workers",
    "A musician",
    "The pilot",
    "A tourist",
)
_VERBS = (
    "is walking",
    "is playing",
    "is cooking",
    "is reading",
    "is painting",
    "is running",
    "is sleeping",
    "is waiting",
    "is dancing",
    "is talking",
    "is repairing a bike",
    "is eating lunch",
    "is taking photos",
)
_PLACES = (
    "in the park",
    "near the river",
    "at the market",
    "on a crowded street",
    "inside a small cafe",
    "on the beach",
    "in the kitchen",
    "at the train station",
    "in a quiet library",
    "under a tree",
    "on the roof",
    "by the lake",
    "in the snow",
    "at a concert",
)
_TAILS = (
    "while it rains",
    "after work",
    "with a friend",
    "before sunrise",
    "on a sunny afternoon",
    "during the holidays",
    "for the first time",
    "without shoes",
    "with a red umbrella",
    "late at night",
)


def sentence(i: int, rng: random.Random) -> str:
    """One generated sentence; the number makes every sentence unique (SNLI-hypothesis-like length)."""
    return f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_PLACES)} {rng.choice(_TAILS)} (scene {i})."


def sentences(n: int, *, seed: int = 6, start: int = 0) -> Iterator[str]:
    """``n`` unique generated sentences, streamed (deterministic for a seed)."""
    rng = random.Random(seed)
    for i in range(start, start + n):
        yield sentence(i, rng)


def corpus(n: int, *, seed: int = 6) -> list[str]:
    """``n`` unique generated sentences as a list."""
    return list(sentences(n, seed=seed))


# ------------------------------------------------------------------------------------------ servers
def _env() -> dict[str, str]:
    env = dict(os.environ)
    # Tokenizer parallelism left at its default, as in the benchmark's own process (scenario 2's baseline)
    # and in ``hf-pinecone serve endpoint``: the servers never fork after tokenizing.
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return env


@contextlib.contextmanager
def _process(cmd: list[str]) -> Iterator[str]:
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_env(), cwd=ROOT)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("listening on "):
            raise RuntimeError(f"server did not start ({' '.join(cmd[2:])}): {line!r}")
        yield line.split()[-1]
    finally:
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(timeout=30)


@dataclass(frozen=True)
class EndpointSpec:
    """A local endpoint's parameters (``serve_endpoint`` arguments) and the capacity they imply."""

    delay: float = 0.0
    per_item_delay: float = 0.0
    replicas: int | None = None
    max_concurrent: int = 512
    max_batch_size: int = 32
    model: bool = False
    # Benchmark-only gateway in front of the endpoint: 429 to a request arriving while this many are in flight
    # (benchmarks/_serve.py --reject-past; TEI itself queues batches instead).
    reject_past: int | None = None

    def capacity(self, batch: int | None = None) -> float:
        """Records/s when every replica is busy all the time with batches of ``batch`` (default: the max)."""
        b = batch or self.max_batch_size
        if self.replicas is None:
            return float("inf")
        return self.replicas * b / (self.delay + self.per_item_delay * b)

    def describe(self) -> str:
        """The ``serve_endpoint(...)`` call, for the report."""
        embedder = "all-MiniLM-L6-v2 (bundled)" if self.model else f"HashEmbedder({DIM})"
        parts = [f"embedder={embedder}"]
        if not self.model:
            parts += [f"delay={self.delay:g}", f"per_item_delay={self.per_item_delay:g}"]
        if self.replicas is not None:
            parts.append(f"replicas={self.replicas}")
        if self.max_concurrent != 512:
            parts.append(f"max_concurrent_requests={self.max_concurrent}")
        parts.append(f"max_batch_size={self.max_batch_size}")
        call = "serve_endpoint(" + ", ".join(parts) + ")"
        if self.reject_past is not None:
            call += f" behind _serve.py --reject-past {self.reject_past}"
        return call


@contextlib.contextmanager
def endpoint_server(spec: EndpointSpec) -> Iterator[str]:
    """The local Inference Endpoint in its own process; yields its base URL."""
    cmd = [sys.executable, "-m", "benchmarks._serve", "--max-batch-size", str(spec.max_batch_size)]
    if spec.model:
        cmd.append("--model")
    else:
        cmd += ["--hash-dim", str(DIM)]
    cmd += ["--delay", str(spec.delay), "--per-item-delay", str(spec.per_item_delay)]
    cmd += ["--max-concurrent", str(spec.max_concurrent)]
    if spec.replicas is not None:
        cmd += ["--replicas", str(spec.replicas)]
    if spec.reject_past is not None:
        cmd += ["--reject-past", str(spec.reject_past)]
    with _process(cmd) as url:
        yield url


def endpoint_stats(url: str) -> dict[str, Any]:
    """The benchmark endpoint's counters (requests, 429s of the endpoint and of its gateway, peak concurrency)."""
    data: dict[str, Any] = httpx.get(f"{url}/_bench/stats", timeout=10).json()
    return data


@contextlib.contextmanager
def pinecone_server() -> Iterator[str]:
    """The local Pinecone server (in memory) in its own process, as ``hf-pinecone serve pinecone``."""
    cmd = [sys.executable, "-c", "from hf_pinecone.cli import main; main()", "serve", "pinecone", "--port", "0"]
    with _process(cmd) as url:
        yield url


@contextlib.contextmanager
def fresh_index(pinecone_url: str, *, dimension: int = DIM) -> Iterator[str]:
    """Create an empty index, yield its host, delete it afterwards (frees the server's memory)."""
    from pinecone import Pinecone

    from hf_pinecone.store import ensure_index

    name = f"bench-{uuid.uuid4().hex[:10]}"
    host = ensure_index(name, dimension=dimension, api_key="local", host=pinecone_url)
    try:
        yield host
    finally:
        Pinecone(api_key="local", host=pinecone_url).delete_index(name)


def index_count(pinecone_url: str, host: str) -> int:
    """Vectors stored in the index at ``host``."""
    from pinecone import Pinecone

    stats = Pinecone(api_key="local", host=pinecone_url).Index(host=host).describe_index_stats()
    return int(stats.total_vector_count)


# ------------------------------------------------------------------------------------------- numbers
@dataclass
class Runs:
    """Repeated measurements of one contender."""

    values: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    def spread(self) -> str:
        """min-max, for the report."""
        if len(self.values) < 2:
            return ""
        return f"{min(self.values):,.0f}-{max(self.values):,.0f}"


def alternate(contenders: dict[str, Callable[[], float]], repetitions: int) -> dict[str, Runs]:
    """Run each contender ``repetitions`` times, alternating (a b c a b c ...), so drift hits all alike."""
    results = {name: Runs() for name in contenders}
    for rep in range(repetitions):
        for name, run in contenders.items():
            value = run()
            results[name].values.append(value)
            log(f"  rep {rep + 1}/{repetitions} {name}: {value:,.1f}")
    return results


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (linear interpolation), q in [0, 100]."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def table(header: list[str], rows: list[list[str]], align: str | None = None) -> str:
    """A markdown table (first column left-aligned, the others right-aligned unless ``align`` says)."""
    align = align or "l" + "r" * (len(header) - 1)
    marks = [":---" if a == "l" else "---:" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def goal(ok: bool) -> str:
    return "met" if ok else "**missed**"


# ------------------------------------------------------------------------------------------ machine
def machine() -> dict[str, str]:
    """CPU model, cores, RAM, OS, Python and package versions, date."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = "?"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    try:
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    packages = [
        "hf-pinecone",
        "httpx",
        "httpx2",
        "aiohttp",
        "pinecone",
        "langchain-core",
        "langchain-pinecone",
        "langchain-openai",
        "openai",
        "requests",
        "sentence-transformers",
        "torch",
        "numpy",
        "starlette",
        "uvicorn",
    ]
    versions = []
    for name in packages:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions.append(f"{name} {metadata.version(name)}")
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "ram": ram,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "load": load,
        "packages": ", ".join(versions),
    }
