"""Shared by the Ray and Spark ingestion tests: local services over loopback HTTP and in-process observers.

The data path is real (the engines' worker processes talk HTTP to the local endpoint and the local Pinecone
server running in this test process). What is in-process here only watches or holds requests:

- :class:`RecordingEmbedder`: a ``HashEmbedder`` that remembers every text it embedded (observer).
- :class:`Gate`: ASGI middleware that holds the first embedding request containing a trap text until the test
  has killed the worker that sent it (so the kill lands mid-batch by construction, no timing).
- :class:`UpsertSignal`: ASGI middleware counting finished upserts (to know when the index is quiet).
- :func:`pid_of_client`: which local process owns the client end of a TCP connection (``/proc``; Linux).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pinecone import Pinecone
from starlette.types import Message, Receive, Scope, Send

from hf_pinecone.local import create_endpoint_app, create_pinecone_app, run_in_background
from hf_pinecone.local.endpoint_server import HashEmbedder
from hf_pinecone.local.faults import FaultInjector, FaultPlan

DIM = 16


class RecordingEmbedder(HashEmbedder):
    """HashEmbedder that remembers every text it was asked to embed (an observer, not a fake)."""

    def __init__(self, dimension: int = DIM) -> None:
        super().__init__(dimension)
        self.seen: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str], *, normalize: bool, truncate: bool, prompt_name: str | None) -> np.ndarray:
        with self._lock:
            self.seen.update(texts)
        return super().embed(texts, normalize=normalize, truncate=truncate, prompt_name=prompt_name)

    def take(self, corpus: set[str]) -> collections.Counter[str]:
        with self._lock:
            seen, self.seen = self.seen, collections.Counter()
        return collections.Counter({t: n for t, n in seen.items() if t in corpus})


class Gate:
    """Holds the first request whose body contains ``trap`` until :meth:`release`; records its client port."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.trap: bytes | None = None
        self.caught = threading.Event()
        self._released = threading.Event()
        self.client_port: int | None = None

    def arm(self, trap: str) -> None:
        self.trap = trap.encode()

    def release(self) -> None:
        self._released.set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.trap is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        body = b""
        while True:
            message = await receive()
            messages.append(message)
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if self.trap is not None and self.trap in body and not self.caught.is_set():
            self.client_port = int(scope["client"][1])
            self.caught.set()
            await asyncio.to_thread(self._released.wait, 120)
        replay = iter(messages)

        async def replay_receive() -> Message:
            try:
                return next(replay)
            except StopIteration:
                return await receive()

        await self.app(scope, replay_receive, send)


class UpsertSignal:
    """ASGI middleware counting finished upsert requests and those still running (observer only)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.done = 0
        self.running = 0
        self.cond = threading.Condition()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        upsert = scope["type"] == "http" and scope["path"].endswith("/vectors/upsert")
        if upsert:
            with self.cond:
                self.running += 1
        try:
            await self.app(scope, receive, send)
        finally:
            if upsert:
                with self.cond:
                    self.running -= 1
                    self.done += 1
                    self.cond.notify_all()

    def wait_done_beyond(self, seen: int, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: self.done > seen, timeout)

    def wait_idle(self, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: self.running == 0, timeout)


@dataclass
class Services:
    embedder: RecordingEmbedder
    endpoint_stats: Any
    endpoint_url: str
    pinecone_url: str
    gate: Gate
    upserts: UpsertSignal
    faults: FaultPlan
    pinecone_key: str = "local"
    extra: dict[str, Any] = field(default_factory=dict)

    def pc(self) -> Pinecone:
        return Pinecone(api_key=self.pinecone_key, host=self.pinecone_url)

    def index(self, name: str) -> Any:
        pc = self.pc()
        return pc.Index(host=pc.describe_index(name).host)

    def visible(self, name: str) -> int:
        return int(self.index(name).describe_index_stats().total_vector_count)

    def contents(self, name: str, namespace: str = "") -> dict[str, tuple[str, dict[str, Any]]]:
        """id -> (text, metadata without text) of every record."""
        index = self.index(name)
        ids = [i for page in index.list(namespace=namespace, limit=100) for i in page]
        assert len(ids) == len(set(ids))
        out: dict[str, tuple[str, dict[str, Any]]] = {}
        for start in range(0, len(ids), 500):
            for rid, vec in index.fetch(ids=ids[start : start + 500], namespace=namespace).vectors.items():
                meta = dict(vec.metadata)
                out[rid] = (meta.pop("text"), meta)
        return out


@contextlib.contextmanager
def services(
    *,
    endpoint_token: str | None = None,
    pinecone_key: str | None = None,
    per_item_delay: float = 0.0,
    replicas: int | None = None,
) -> Iterator[Services]:
    """Endpoint (HashEmbedder, recording) behind a fault plan (off) and a gate; Pinecone behind an upsert signal."""
    embedder = RecordingEmbedder()
    endpoint_app = create_endpoint_app(
        embedder=embedder, api_key=endpoint_token, per_item_delay=per_item_delay, replicas=replicas
    )
    plan = FaultPlan(methods={"POST"}, retry_after=None, enabled=False)
    gate = Gate(FaultInjector(endpoint_app, plan))
    upserts = UpsertSignal(create_pinecone_app(api_key=pinecone_key))
    with run_in_background(gate) as endpoint_url, run_in_background(upserts) as pinecone_url:
        yield Services(
            embedder, endpoint_app.state.stats, endpoint_url, pinecone_url, gate, upserts, plan, pinecone_key or "local"
        )


def pid_of_client(port: int) -> int:
    """PID of the local process whose TCP socket has local port ``port`` (the client end of a connection)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError), open(table) as fh:
            for line in fh.readlines()[1:]:
                parts = line.split()
                local_port = int(parts[1].rsplit(":", 1)[1], 16)
                if local_port == port:
                    inodes.add(parts[9])
    targets = {f"socket:[{inode}]" for inode in inodes}
    me = os.getpid()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) == me:
            continue  # this process holds the server end (same port as its remote)
        fd_dir = Path("/proc", pid, "fd")
        with contextlib.suppress(OSError):
            for fd in fd_dir.iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in targets:
                        return int(pid)
    raise LookupError(f"no process owns a socket on local port {port}")


def local_key() -> str:
    """The local Pinecone server's key (not a secret), as a key source."""
    return "local"


class FileSecret:
    """A secret source reading a file in the worker: what a cluster would read from a mounted secret."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __call__(self) -> str:
        return Path(self.path).read_text().strip()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FileSecret) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)


def corpus_rows(n: int, *, prefix: str = "record") -> list[dict[str, Any]]:
    """n distinct texts with metadata (a string and an int column)."""
    return [{"text": f"{prefix} {i}: a sentence about item {i}", "group": f"g{i % 7}", "n": i} for i in range(n)]


def pids_with_cmdline_prefix(prefix: str) -> set[int]:
    """Live processes whose command line (as ``ps`` shows it: Ray sets actor titles) starts with ``prefix``."""
    found: set[int] = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            cmdline = Path("/proc", pid, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if cmdline.startswith(prefix):
                found.add(int(pid))
    return found


def wait_exited(pids: set[int], timeout: float) -> bool:
    """Block until every process in ``pids`` has exited (pidfds: woken by the exit itself, no polling)."""
    import select

    fds = []
    for pid in pids:
        try:
            fds.append(os.pidfd_open(pid))
        except ProcessLookupError:
            continue  # already gone
    try:
        poller = select.poll()
        for fd in fds:
            poller.register(fd, select.POLLIN)
        remaining = set(fds)
        while remaining:
            events = poller.poll(timeout * 1000)
            if not events:
                return False
            for fd, _ in events:
                poller.unregister(fd)
                remaining.discard(fd)
        return True
    finally:
        for fd in fds:
            os.close(fd)


def descendants(pid: int) -> set[int]:
    """Every live descendant of ``pid`` (from ``/proc/*/stat`` parent links)."""
    parents: dict[int, int] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path("/proc", entry, "stat").read_text()
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found
