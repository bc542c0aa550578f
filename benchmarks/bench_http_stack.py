"""Scenario 6: client CPU per request of the HTTP stacks the endpoint client could be written on.

The endpoint client's hot path is one POST of a batch of texts answered by a batch of vectors. This scenario
measures, side by side in one run, what each candidate HTTP library costs the *client process* per such request
(user+sys CPU from ``time.process_time`` inside a client subprocess, after a warm-up), at 1, 8, 32 and 64
requests in flight, sync (threads sharing one client) and async (tasks on one event loop) where the library has
the mode:

- ``httpx`` 0.28 (the last release, December 2024);
- ``httpx2`` (the maintained continuation, same API; what huggingface_hub 2.x, openai and langsmith use);
- ``aiohttp`` (async only; already installed with ``pinecone[asyncio]``).

The server is a minimal asyncio HTTP/1.1 keep-alive server in its own process that answers every POST with the
same precomputed body: 32 vectors of 384 float32 values in the inference toolkit's shape, serialised as the
local endpoint does (orjson). It does no work per request beyond reading the body, so the client is measured, not
the server. The request body is 32 generated sentences as ``{"inputs": [...]}``. Bodies are read in full
(``response.content`` / ``await response.read()``) but not parsed: parsing is the same for every stack.

Run alone: ``python -m benchmarks.bench_http_stack [--requests 2000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from benchmarks._common import DIM, ROOT, corpus, log, table

BATCH = 32
CONCURRENCY = (1, 8, 32, 64)
# (library, mode); aiohttp has no sync client.
CONTENDERS: tuple[tuple[str, str], ...] = (
    ("httpx", "sync"),
    ("httpx2", "sync"),
    ("httpx", "async"),
    ("httpx2", "async"),
    ("aiohttp", "async"),
)


# ------------------------------------------------------------------------------------------- server
def response_body() -> bytes:
    """32 x 384 float32 vectors as ``{"embeddings": [...]}``, serialised the way the local endpoint does."""
    import numpy as np
    import orjson

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((BATCH, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return orjson.dumps({"embeddings": vectors}, option=orjson.OPT_SERIALIZE_NUMPY)


def request_body() -> bytes:
    return json.dumps({"inputs": corpus(BATCH)}, separators=(",", ":")).encode()


class _Http(asyncio.Protocol):
    """Just enough HTTP/1.1: keep-alive, Content-Length bodies, one canned answer to every request."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).lower()
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line.startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            del self.buffer[:total]
            assert self.transport is not None
            self.transport.write(self.answer)


def serve() -> None:
    """Serve until stdin closes; prints ``listening on URL``."""
    body = response_body()
    answer = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        + f"content-length: {len(body)}\r\n\r\n".encode()
        + body
    )

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Http(answer), "127.0.0.1", 0, backlog=1024)
        port = server.sockets[0].getsockname()[1]
        print(f"listening on http://127.0.0.1:{port}/", flush=True)
        await loop.run_in_executor(None, sys.stdin.read)
        server.close()

    asyncio.run(main())


@contextlib.contextmanager
def canned_server() -> Iterator[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_http_stack", "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("listening on "):
            raise RuntimeError(f"canned server did not start: {line!r}")
        yield line.split()[-1]
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(timeout=10)


# ------------------------------------------------------------------------------------------- client
def _sync_client(library: str, concurrency: int) -> Any:
    module: Any = __import__(library)
    return module.Client(
        limits=module.Limits(max_connections=max(100, concurrency), max_keepalive_connections=concurrency),
        timeout=60.0,
        headers={"Content-Type": "application/json"},
    )


def _run_sync(library: str, url: str, body: bytes, concurrency: int, requests: int) -> tuple[float, float]:
    client = _sync_client(library, concurrency)
    expected = len(response_body())

    def worker(count: int) -> None:
        for _ in range(count):
            response = client.post(url, content=body)
            assert response.status_code == 200 and len(response.content) == expected

    def run(total: int) -> tuple[float, float]:
        per = [total // concurrency + (1 if i < total % concurrency else 0) for i in range(concurrency)]
        threads = [threading.Thread(target=worker, args=(n,)) for n in per]
        cpu, wall = time.process_time(), time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.process_time() - cpu, time.perf_counter() - wall

    run(max(2 * concurrency, 50))  # warm-up: open the connections, fill caches
    result = run(requests)
    client.close()
    return result


async def _run_async(library: str, url: str, body: bytes, concurrency: int, requests: int) -> tuple[float, float]:
    expected = len(response_body())
    if library == "aiohttp":
        import aiohttp

        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max(100, concurrency)),
            timeout=aiohttp.ClientTimeout(total=60.0),
            headers={"Content-Type": "application/json"},
        )

        async def one() -> None:
            async with session.post(url, data=body) as response:
                data = await response.read()
                assert response.status == 200 and len(data) == expected

        async def close() -> None:
            await session.close()

    else:
        module: Any = __import__(library)
        client = module.AsyncClient(
            limits=module.Limits(max_connections=max(100, concurrency), max_keepalive_connections=concurrency),
            timeout=60.0,
            headers={"Content-Type": "application/json"},
        )

        async def one() -> None:
            response = await client.post(url, content=body)
            assert response.status_code == 200 and len(response.content) == expected

        async def close() -> None:
            await client.aclose()

    async def worker(count: int) -> None:
        for _ in range(count):
            await one()

    async def run(total: int) -> tuple[float, float]:
        per = [total // concurrency + (1 if i < total % concurrency else 0) for i in range(concurrency)]
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker(n) for n in per))
        return time.process_time() - cpu, time.perf_counter() - wall

    await run(max(2 * concurrency, 50))
    result = await run(requests)
    await close()
    return result


def client_main(library: str, mode: str, url: str, concurrency: int, requests: int) -> None:
    body = request_body()
    if mode == "sync":
        cpu, wall = _run_sync(library, url, body, concurrency, requests)
    else:
        cpu, wall = asyncio.run(_run_async(library, url, body, concurrency, requests))
    print(json.dumps({"cpu": cpu, "wall": wall, "requests": requests}), flush=True)


def measure(library: str, mode: str, url: str, concurrency: int, requests: int) -> tuple[float, float]:
    """(CPU ms per request, requests/s) of one client subprocess."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    cmd = [sys.executable, "-m", "benchmarks.bench_http_stack", "--client", library, "--mode", mode, "--url", url]
    cmd += ["--concurrency", str(concurrency), "--requests", str(requests)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=900, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{library} {mode} x{concurrency} failed: {out.stderr[-2000:]}")
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return data["cpu"] / data["requests"] * 1000, data["requests"] / data["wall"]


def versions() -> str:
    from importlib import metadata

    return ", ".join(f"{name} {metadata.version(name)}" for name in ("httpx", "httpx2", "aiohttp"))


# ------------------------------------------------------------------------------------------ scenario
def run(*, requests: int, repetitions: int = 1) -> tuple[str, dict[str, Any]]:
    """Every (library, mode) at every concurrency, alternating; returns (markdown, numbers)."""
    names = [f"{lib} {mode}" for lib, mode in CONTENDERS]
    cpu: dict[str, dict[int, list[float]]] = {name: {c: [] for c in CONCURRENCY} for name in names}
    rate: dict[str, dict[int, list[float]]] = {name: {c: [] for c in CONCURRENCY} for name in names}
    with canned_server() as url:
        for rep in range(repetitions):
            for concurrency in CONCURRENCY:
                for library, mode in CONTENDERS:
                    name = f"{library} {mode}"
                    ms, rps = measure(library, mode, url, concurrency, requests)
                    cpu[name][concurrency].append(ms)
                    rate[name][concurrency].append(rps)
                    log(f"  rep {rep + 1}/{repetitions} {name} x{concurrency}: {ms:.3f} ms CPU/request, {rps:,.0f}/s")

    def median(values: list[float]) -> float:
        ordered = sorted(values)
        mid = len(ordered) // 2
        return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2

    header = ["library, mode", *(f"{c} in flight" for c in CONCURRENCY)]
    cpu_rows = [[name, *(f"{median(cpu[name][c]):.2f}" for c in CONCURRENCY)] for name in cpu]
    rate_rows = [[name, *(f"{median(rate[name][c]):,.0f}" for c in CONCURRENCY)] for name in rate]
    body = (
        f"{versions()}. {requests:,} POSTs per measurement (after a warm-up), each of {BATCH} texts answered by "
        f"{BATCH} vectors of {DIM} float32 values ({len(response_body()) / 1024:.0f} KiB), from a canned asyncio "
        "server in its own process; client CPU = user+sys of the client process (`time.process_time`), "
        f"{repetitions} alternating repetition(s), medians. Sync: threads sharing one client; async: tasks on one "
        "event loop.\n\n"
        "Client CPU per request (ms; lower is better):\n\n"
        + table(header, cpu_rows)
        + "\n\nRequests/s (wall; the canned server and the client share the machine's cores):\n\n"
        + table(header, rate_rows)
        + "\n"
    )
    return body, {"cpu_ms": cpu, "requests_per_s": rate, "versions": versions()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="async", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=8, help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--repetitions", type=int, default=1)
    args = parser.parse_args()
    if args.serve:
        serve()
    elif args.client:
        client_main(args.client, args.mode, args.url, args.concurrency, args.requests)
    else:
        markdown, _ = run(requests=args.requests, repetitions=args.repetitions)
        print(markdown)


if __name__ == "__main__":
    main()
