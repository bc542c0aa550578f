"""``kill -9`` at the worst moments: the ingest process, and the local Pinecone server.

1. The real ``hf-pinecone ingest`` command runs in a subprocess against a local endpoint (``HashEmbedder``,
   deterministic vectors) and a local Pinecone server, both served by this test process over loopback HTTP,
   and is SIGKILLed once the index visibly holds N records (the test waits for upsert answers and then asks
   the index for its stats: no timing). The endpoint's embedder records every text it is asked to embed, so
   the test knows exactly what was embedded before the kill, what a re-run embeds again, and what was in
   flight. (The recording embedder and the upsert-completion signal are in-process observers: they only
   watch; the data path is the real one.)
2. The real ``hf-pinecone serve pinecone --data-dir D`` runs in a subprocess; several writer threads each
   upsert and delete versioned records through the real ``pinecone`` SDK, one request at a time, and the
   server is SIGKILLed mid-stream, twice. After each restart every record is in the state of its last
   acknowledged write, or of the one write that was in flight for it (never older, never torn).
   ``tests/test_pinecone_persistence.py`` has the basic upsert-only version; this one adds overwrites,
   deletes, value/metadata consistency and repeated crashes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pinecone import Pinecone, ServerlessSpec

from distributed_support import RecordingEmbedder, UpsertSignal
from hf_pinecone.ids import content_id
from hf_pinecone.local import create_endpoint_app, create_pinecone_app, run_in_background

DIM = 16
INDEX = "crash-resume"
CLI = [sys.executable, "-c", "from hf_pinecone.cli import main; main()"]
# ingest's defaults: 8 chunks of 512 records in flight at most
MAX_IN_FLIGHT = 8 * 512


# ------------------------------------------------------------------------------------------ observers
# RecordingEmbedder and UpsertSignal are shared with the Ray and Spark tests (tests/distributed_support.py).


@dataclass
class Services:
    embedder: RecordingEmbedder
    endpoint_stats: Any
    endpoint_url: str
    pinecone_url: str
    upserts: UpsertSignal

    def index(self) -> Any:
        pc = Pinecone(api_key="local", host=self.pinecone_url)
        return pc.Index(host=pc.describe_index(INDEX).host)

    def has_index(self) -> bool:
        return bool(Pinecone(api_key="local", host=self.pinecone_url).has_index(INDEX))

    def visible(self) -> int:
        return int(self.index().describe_index_stats().total_vector_count)

    def contents(self) -> dict[str, str]:
        index = self.index()
        ids = [i for page in index.list(limit=100) for i in page]
        assert len(ids) == len(set(ids))
        out: dict[str, str] = {}
        for start in range(0, len(ids), 1000):
            for rid, vec in index.fetch(ids=ids[start : start + 1000]).vectors.items():
                out[rid] = vec.metadata["text"]
        return out


@pytest.fixture
def services() -> Iterator[Services]:
    embedder = RecordingEmbedder(DIM)
    # A little simulated GPU time per text, so that a run lasts long enough to be killed in its middle.
    endpoint_app = create_endpoint_app(embedder=embedder, per_item_delay=0.0003, replicas=4)
    upserts = UpsertSignal(create_pinecone_app())
    with run_in_background(endpoint_app) as endpoint_url, run_in_background(upserts) as pinecone_url:
        yield Services(embedder, endpoint_app.state.stats, endpoint_url, pinecone_url, upserts)


def cli_env(s: Services) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "PINECONE_API_KEY")}
    env.update(
        HF_ENDPOINT_URL=s.endpoint_url,
        PINECONE_CONTROLLER_HOST=s.pinecone_url,
        PINECONE_INDEX_NAME=INDEX,
    )
    return env


@dataclass
class Crash:
    """What one killed run left behind."""

    threshold: int
    embedded: set[str]
    stored: set[str]
    in_flight: set[str] = field(default_factory=set)


def kill_when_visible(s: Services, data: Path, corpus: set[str], threshold: int) -> Crash:
    """Start ``hf-pinecone ingest``; SIGKILL it once the index shows >= threshold records (0: once a few
    embedding requests were answered, usually before anything is stored). Returns what it embedded and what
    it stored."""
    proc = subprocess.Popen(
        [*CLI, "ingest", "--file", str(data), "--no-progress"],
        env=cli_env(s),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        if threshold == 0:  # a few embedding requests answered (the first is the CLI's dimension probe)
            assert s.endpoint_stats.wait_for(lambda st: st.served >= 4, timeout=120)
        else:
            while True:
                seen = s.upserts.done
                if seen and s.visible() >= threshold:
                    break
                assert proc.poll() is None, "ingest finished before the kill point"
                assert s.upserts.wait_done_beyond(seen, timeout=120)
        proc.send_signal(signal.SIGKILL)
    finally:
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, stderr.decode(errors="replace")[-2000:]
    # Requests the dead process had already sent still finish server-side; then the state is final.
    assert s.endpoint_stats.wait_for(lambda st: st.in_flight == 0, timeout=60)
    assert s.upserts.wait_idle(timeout=60)
    embedded = set(s.embedder.take(corpus))
    stored_texts = set(s.contents().values()) if s.has_index() else set()
    return Crash(threshold, embedded, stored_texts, embedded - stored_texts)


@pytest.mark.slow
@pytest.mark.parametrize(
    "kill_points",
    [pytest.param([0], id="while-embedding"), pytest.param([1500, 5000], id="twice-mid-run")],
)
def test_kill_9_ingest_then_rerun_is_exact_and_reembeds_at_most_what_was_in_flight(
    services: Services, tmp_path: Path, kill_points: list[int]
) -> None:
    texts = [f"resumable sentence {i} about topic {i % 97}" for i in range(8000)]
    data = tmp_path / "corpus.txt"
    data.write_text("\n".join(texts) + "\n")

    crashes: list[Crash] = []
    stored_before: set[str] = set()
    for threshold in kill_points:
        crash = kill_when_visible(services, data, set(texts), threshold)
        crashes.append(crash)
        # Nothing stored by an earlier run was embedded again, and nothing stored was lost.
        assert not crash.embedded & stored_before
        assert crash.stored >= stored_before
        assert len(crash.stored) >= threshold
        # The records embedded but not stored when the process died are bounded by the pipeline's window.
        assert len(crash.in_flight) <= MAX_IN_FLIGHT
        stored_before = crash.stored

    rerun = subprocess.run(
        [*CLI, "ingest", "--file", str(data), "--json", "--no-progress"],
        env=cli_env(services),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads(rerun.stdout)
    reembedded = services.embedder.take(set(texts))

    # The re-run embeds exactly what is missing, each text once; nothing already stored is embedded again.
    missing = set(texts) - stored_before
    assert set(reembedded) == missing and max(reembedded.values(), default=1) == 1
    assert report["already_present"] == len(stored_before)
    assert report["embedded"] == report["upserted"] == len(missing)
    assert (report["read"], report["failed"]) == (8000, 0)
    # Embedded again = embedded by a killed run and again now: at most what that run had in flight.
    last = crashes[-1]
    again = last.embedded & set(reembedded)
    assert again <= last.in_flight
    # Exactly the expected ids, each with its own text, nothing else.
    assert services.contents() == {content_id(t, None): t for t in texts}
    print(
        "crash figures:",
        [(c.threshold, len(c.embedded), len(c.stored), len(c.in_flight)) for c in crashes],
        "re-embedded:",
        len(reembedded),
        "embedded again:",
        len(again),
    )


# ------------------------------------------------------------------------------- kill -9 the server
def _values(record_id: str, version: int) -> list[float]:
    digest = hashlib.sha256(f"{record_id}/{version}".encode()).digest()
    return [float(b) + 1.0 for b in digest[:8]]


@dataclass
class Writer:
    """One writer thread's ledger: the state of each of its ids after its last acknowledged write, and the
    single write it had in flight when the server died (each writer sends one request at a time)."""

    number: int
    acked: dict[str, int | None] = field(default_factory=dict)  # id -> version (None: deleted)
    pending: dict[str, int | None] = field(default_factory=dict)
    round: int = 0
    acked_writes: int = 0

    def ids(self) -> list[str]:
        return [f"w{self.number}-{k}" for k in range(120)]

    def run(self, host: str, stop: threading.Event, acks: threading.Condition) -> None:
        index = Pinecone(api_key="local").Index(host=host)
        ids = self.ids()
        try:
            while not stop.is_set():
                self.round += 1
                r = self.round
                if r % 4 == 0:  # delete a slice
                    victims = ids[(r * 7) % 100 : (r * 7) % 100 + 20]
                    self.pending = {v: None for v in victims}
                    index.delete(ids=victims)
                else:  # upsert (and overwrite) a slice with a new version
                    chosen = ids[(r * 13) % 80 : (r * 13) % 80 + 40]
                    self.pending = {c: r for c in chosen}
                    index.upsert(
                        vectors=[
                            {"id": c, "values": _values(c, r), "metadata": {"v": r, "w": self.number}}
                            for c in chosen
                        ]
                    )
                self.acked.update(self.pending)  # only after the server answered
                self.pending = {}
                with acks:
                    self.acked_writes += 1
                    acks.notify_all()
        except Exception:  # the server died under us: the pending write may or may not have landed
            with acks:
                acks.notify_all()

    def check(self, index: Any) -> None:
        ids = self.ids()
        found = index.fetch(ids=ids).vectors
        for rid in ids:
            allowed = {self.acked.get(rid)}
            if rid in self.pending:
                allowed.add(self.pending[rid])
            record = found.get(rid)
            state = None if record is None else int(record.metadata["v"])
            assert state in allowed, f"{rid}: stored version {state}, acknowledged {self.acked.get(rid)}"
            if record is not None:
                assert list(record.values) == _values(rid, state), f"{rid}: values do not match version"
        # Whatever the pending write did, the ledger now knows the truth for the next cycle.
        for rid in ids:
            record = found.get(rid)
            self.acked[rid] = None if record is None else int(record.metadata["v"])
        self.pending = {}


@contextlib.contextmanager
def pinecone_process(data_dir: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen(
        [*CLI, "serve", "pinecone", "--port", "0", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the server listens (or dies)
        assert line.startswith("listening on http://"), line
        yield proc, line.split()[-1]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_kill_9_pinecone_server_twice_during_concurrent_upserts_and_deletes(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    writers = [Writer(n) for n in range(6)]
    name = "durable"
    for cycle in range(2):
        with pinecone_process(data_dir) as (proc, url):
            pc = Pinecone(api_key="local", host=url)
            if cycle == 0:
                pc.create_index(
                    name=name, dimension=8, metric="euclidean", spec=ServerlessSpec(cloud="aws", region="us-east-1")
                )
            host = pc.describe_index(name).host
            stop = threading.Event()
            acks = threading.Condition()
            target = sum(w.acked_writes for w in writers) + 150
            threads = [threading.Thread(target=w.run, args=(host, stop, acks), daemon=True) for w in writers]
            for thread in threads:
                thread.start()
            with acks:  # woken by each acknowledged write
                assert acks.wait_for(lambda t=target: sum(w.acked_writes for w in writers) >= t, timeout=120)
            os.kill(proc.pid, signal.SIGKILL)  # the writers are mid-request
            proc.wait(timeout=30)
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
                assert not thread.is_alive()

        with pinecone_process(data_dir) as (_, url):
            index = Pinecone(api_key="local").Index(host=f"{url}/indexes/{name}")
            for writer in writers:
                writer.check(index)
            expected_total = sum(1 for w in writers for v in w.acked.values() if v is not None)
            assert index.describe_index_stats().total_vector_count == expected_total
    assert sum(w.acked_writes for w in writers) >= 300
