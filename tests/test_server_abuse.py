"""The local servers under abuse: oversized bodies, lying headers, malformed JSON, deeply nested and huge
filters, many concurrent clients. Each gets the right 4xx (never a 5xx or a dropped connection), the server
keeps serving, and its memory stays bounded.

Both servers run as real ``hf-pinecone serve ...`` subprocesses so that their resident memory (RSS, from
``/proc``) can be measured before and after; the requests are raw HTTP (httpx), since the SDKs would refuse
to send most of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

CLI = [sys.executable, "-c", "from hf_pinecone.cli import main; main()"]
DIM = 8
#: Generous: the point is "does not grow with the abuse" (hundreds of MB were sent), not a tight budget.
RSS_GROWTH_LIMIT_MB = 150


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@contextlib.contextmanager
def server(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen([*CLI, "serve", *args, "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until it listens (or dies)
        assert line.startswith("listening on http://"), line
        yield proc, line.split()[-1]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def pinecone_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[subprocess.Popen[str], str]]:
    data_dir = tmp_path_factory.mktemp("abuse") / "data"
    with server("pinecone", "--data-dir", str(data_dir)) as (proc, url):
        created = httpx.post(
            f"{url}/indexes",
            json={
                "name": "abuse",
                "dimension": DIM,
                "metric": "cosine",
                "spec": {"serverless": {"cloud": "aws", "region": "us-east-1"}},
            },
        )
        assert created.status_code == 201, created.text
        yield proc, url


def healthy_pinecone(url: str) -> None:
    """The server still answers correctly: an upsert, a query and the stats."""
    base = f"{url}/indexes/abuse"
    up = httpx.post(f"{base}/vectors/upsert", json={"vectors": [{"id": "alive", "values": [1.0] * DIM}]})
    assert up.status_code == 200 and up.json() == {"upsertedCount": 1}
    q = httpx.post(f"{base}/query", json={"vector": [1.0] * DIM, "topK": 1})
    assert q.status_code == 200 and q.json()["matches"][0]["id"] == "alive"


def raw_status(url: str, head: bytes, body: bytes = b"") -> int | None:
    """Send a hand-written request (httpx refuses to send a body shorter than its Content-Length); return
    the status code, or None when the server closed the connection without answering."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head + b"\r\n\r\n" + body)
        try:
            first = sock.recv(4096).split(b"\r\n", 1)[0]
        except ConnectionError:
            return None
    return int(first.split()[1]) if first.startswith(b"HTTP/1.1 ") else None


def error_message(response: httpx.Response) -> str:
    body = response.json()
    return str(body.get("message") or body.get("error", {}).get("message") or body)


# ------------------------------------------------------------------------------------- Pinecone server
ROUTES = ["/vectors/upsert", "/query", "/vectors/delete", "/vectors/update", "/describe_index_stats"]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"vectors": [', b"\xff\xfe\x00", b"[1, 2, 3]", b'"a string"', b"null", b"1e999999"],
    ids=["broken", "truncated", "binary", "array", "string", "null", "overflow"],
)
def test_malformed_json_is_400_never_500(pinecone_server: Any, route: str, body: bytes) -> None:
    _, url = pinecone_server
    response = httpx.post(f"{url}/indexes/abuse{route}", content=body, headers={"content-type": "application/json"})
    if route == "/describe_index_stats" and body in (b"null",):
        assert response.status_code in (200, 400)  # an empty stats request is valid
    else:
        assert response.status_code == 400, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")


def test_malformed_control_plane_requests(pinecone_server: Any) -> None:
    _, url = pinecone_server
    for body in (b"{oops", b"[]", b'{"name": 5}', b'{"name": "ok-name", "dimension": "big"}'):
        response = httpx.post(f"{url}/indexes", content=body)
        assert response.status_code in (400, 422), (body, response.status_code, response.text)
        assert "error" in response.json()
    healthy_pinecone(url)


def test_bodies_over_the_limit(pinecone_server: Any) -> None:
    _, url = pinecone_server
    base = f"{url}/indexes/abuse"
    # Over Pinecone's 2 MB per upsert: 400 naming the limit, nothing stored.
    big = {"vectors": [{"id": f"big-{i}", "values": [0.5] * DIM, "metadata": {"pad": "x" * 3000}} for i in range(800)]}
    response = httpx.post(f"{base}/vectors/upsert", json=big)
    assert response.status_code == 400 and "2MB" in error_message(response)
    # Over the server's 64 MB body cap: refused while reading, not buffered whole.
    huge = b'{"vectors": [' + b" " * (65 * 1024 * 1024) + b"]}"
    response = httpx.post(f"{base}/vectors/upsert", content=huge)
    assert response.status_code == 413
    # A Content-Length that announces too much is refused up front, without waiting for the body.
    head = f"POST /indexes/abuse/query HTTP/1.1\r\nHost: x\r\nContent-Length: {10**12}".encode()
    assert raw_status(url, head, b"{}") == 413
    stats = httpx.post(f"{base}/describe_index_stats", json={}).json()
    listed = httpx.get(f"{base}/vectors/list", params={"prefix": "big-"}).json()["vectors"]
    assert listed == []  # nothing of the refused upsert was stored
    assert stats["dimension"] == DIM
    healthy_pinecone(url)


def _nested(depth: int) -> str:
    """JSON text of an ``$and`` nested ``depth`` levels (built as text: json.dumps itself would recurse)."""
    return '{"$and": [' * depth + '{"genre": "x"}' + ', {"n": {"$gt": 0}}]}' * depth


@pytest.mark.parametrize("depth", [17, 200, 5000])
def test_deeply_nested_filters_are_400(pinecone_server: Any, depth: int) -> None:
    _, url = pinecone_server
    body = '{"vector": [1, 1, 1, 1, 1, 1, 1, 1], "topK": 3, "filter": ' + _nested(depth) + "}"
    response = httpx.post(f"{url}/indexes/abuse/query", content=body)
    assert response.status_code == 400
    assert "nested" in error_message(response) or "JSON" in error_message(response)
    for route in ("/vectors/delete", "/describe_index_stats"):
        response = httpx.post(f"{url}/indexes/abuse{route}", content='{"filter": ' + _nested(depth) + "}")
        assert response.status_code == 400
    healthy_pinecone(url)


def test_huge_filters_are_400_or_answered(pinecone_server: Any) -> None:
    _, url = pinecone_server
    query = f"{url}/indexes/abuse/query"
    too_many = {"vector": [1.0] * DIM, "topK": 3, "filter": {"tag": {"$in": [f"v{i}" for i in range(200_000)]}}}
    response = httpx.post(query, json=too_many)
    assert response.status_code == 400 and "too large" in error_message(response)
    wide_or = {"vector": [1.0] * DIM, "topK": 3, "filter": {"$or": [{"tag": f"v{i}"} for i in range(20_000)]}}
    assert httpx.post(query, json=wide_or).status_code == 400
    fine = {"vector": [1.0] * DIM, "topK": 3, "filter": {"tag": {"$in": [f"v{i}" for i in range(5_000)]}}}
    assert httpx.post(query, json=fine).status_code == 200
    bad_ops = [{"tag": {"$regex": "v.*"}}, {"$not": {"tag": "x"}}, {"tag": {"$in": "not-a-list"}}, {"n": {"$gt": "a"}}]
    for flt in bad_ops:
        response = httpx.post(query, json={"vector": [1.0] * DIM, "topK": 3, "filter": flt})
        assert response.status_code == 400, flt
    healthy_pinecone(url)


async def _pinecone_client(base: str, i: int, garbage: bytes) -> list[int]:
    ns = f"ns{i % 7}"
    async with httpx.AsyncClient(timeout=120) as client:
        statuses = []
        vectors = [
            {"id": f"c{i}-{k}", "values": [float(i + 1), float(k + 1)] + [0.5] * (DIM - 2)} for k in range(20)
        ]
        r = await client.post(f"{base}/vectors/upsert", json={"vectors": vectors, "namespace": ns})
        statuses.append(r.status_code)
        r = await client.post(f"{base}/query", json={"vector": [1.0] * DIM, "topK": 5, "namespace": ns})
        statuses.append(r.status_code)
        r = await client.get(f"{base}/vectors/fetch", params={"ids": [f"c{i}-0", f"c{i}-1"], "namespace": ns})
        statuses.append(r.status_code if len(r.json()["vectors"]) == 2 else -1)
        r = await client.post(f"{base}/query", content=b"{garbage")
        statuses.append(r.status_code)
        r = await client.post(f"{base}/vectors/upsert", content=garbage)
        statuses.append(r.status_code)
        return statuses


def _storm(base: str, clients: int, garbage: bytes) -> list[list[int]]:
    async def run() -> list[list[int]]:
        return await asyncio.gather(*(_pinecone_client(base, i, garbage) for i in range(clients)))

    return asyncio.run(run())


@pytest.mark.slow
def test_many_concurrent_clients_are_answered_and_memory_does_not_grow(pinecone_server: Any) -> None:
    """200 clients at once (each its own connection) upsert, query, fetch and send malformed bodies, three
    rounds: every request gets the right status and RSS does not grow round after round."""
    proc, url = pinecone_server
    base = f"{url}/indexes/abuse"
    healthy_pinecone(url)
    before = rss_mb(proc.pid)
    garbage = b'{"vectors": [' + b"1," * 10_000 + b"1]}"
    rss = []
    for _ in range(3):
        results = _storm(base, 200, garbage)
        assert all(statuses == [200, 200, 200, 400, 400] for statuses in results), {tuple(s) for s in results}
        rss.append(rss_mb(proc.pid))
    stats = httpx.post(f"{base}/describe_index_stats", json={}).json()
    assert sum(ns["vectorCount"] for name, ns in stats["namespaces"].items() if name.startswith("ns")) == 200 * 20
    healthy_pinecone(url)
    print(f"pinecone server RSS {before:.0f} MB -> {[round(r) for r in rss]} MB over 3 rounds of 1,000 requests")
    assert rss[-1] - before < RSS_GROWTH_LIMIT_MB
    assert rss[-1] - rss[0] < 50  # no growth with more traffic


@pytest.mark.slow
def test_memory_stays_bounded_under_many_large_malformed_bodies(pinecone_server: Any) -> None:
    """300 clients at once send 600 KB bodies that parse but are invalid: each answered error must release its
    body at once. (Errors raised in worker threads used to sit in reference cycles with the body until a full
    garbage collection: ~1 GB.)"""
    proc, url = pinecone_server
    base = f"{url}/indexes/abuse"
    before = rss_mb(proc.pid)
    garbage = b'{"vectors": [' + b"1," * 300_000 + b"1]}"  # 600 KB, under the 2 MB upsert limit
    results = _storm(base, 300, garbage)
    assert all(statuses[-1] == 400 for statuses in results)
    in_flight_mb = 300 * len(garbage) / 2**20
    after = rss_mb(proc.pid)
    print(f"pinecone server RSS {before:.0f} MB -> {after:.0f} MB with {in_flight_mb:.0f} MB of bodies in flight")
    assert after - before < 2 * in_flight_mb + 100


# ------------------------------------------------------------------------------------- endpoint server
@pytest.fixture(scope="module")
def endpoint_server() -> Iterator[tuple[subprocess.Popen[str], str]]:
    with server("endpoint", "--max-batch-size", "8") as (proc, url):
        yield proc, url


def healthy_endpoint(url: str) -> None:
    response = httpx.post(url, json={"inputs": ["still alive", "yes"]})
    assert response.status_code == 200 and len(response.json()["embeddings"]) == 2
    assert httpx.get(f"{url}/health").status_code == 200


@pytest.mark.parametrize("route", ["/", "/embed", "/v1/embeddings"])
def test_endpoint_malformed_requests_are_4xx(endpoint_server: Any, route: str) -> None:
    _, url = endpoint_server
    cases: list[tuple[bytes, set[int]]] = [
        (b"{not json", {400}),
        (b"", {400}),
        (b"\xff\xfe", {400}),
        (b"[1, 2]", {400, 422}),
        (b'{"inputs": 5, "input": 5}', {400, 422}),
        (b'{"inputs": [null], "input": [null]}', {400, 422}),
        (b'{"inputs": [["nested"]], "input": [["nested"]]}', {400, 422}),
        (b'{"inputs": [], "input": []}', {400}),
        (b'{"inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", {400, 422}),
        (json.dumps({"inputs": ["x"] * 9, "input": ["x"] * 9}).encode(), {413, 422}),
    ]
    for body, expected in cases:
        response = httpx.post(url + route, content=body, headers={"content-type": "application/json"})
        assert response.status_code in expected, (body[:40], response.status_code, response.text[:200])
    healthy_endpoint(url)


def test_endpoint_bodies_over_the_limit(endpoint_server: Any) -> None:
    _, url = endpoint_server
    response = httpx.post(url, json={"inputs": ["x" * 2_100_000]})
    assert response.status_code == 413
    head = f"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {10**12}".encode()
    assert raw_status(url, head, b"{}") == 413

    def chunks() -> Iterator[bytes]:  # chunked upload without Content-Length, 3 MB in all
        yield b'{"inputs": ["'
        for _ in range(30):
            yield b"y" * 100_000
        yield b'"]}'

    assert httpx.post(url, content=chunks()).status_code == 413
    healthy_endpoint(url)


@pytest.mark.slow
def test_endpoint_many_concurrent_clients_and_memory_stays_bounded(endpoint_server: Any) -> None:
    proc, url = endpoint_server
    healthy_endpoint(url)
    before = rss_mb(proc.pid)

    async def one_client(i: int) -> list[int]:
        async with httpx.AsyncClient(timeout=300) as client:
            ok = await client.post(url, json={"inputs": [f"client {i} text {k}" for k in range(8)]})
            vectors = ok.json()["embeddings"] if ok.status_code == 200 else []
            bad = await client.post(url, content=b"{garbage")
            too_big = await client.post(url, content=b'{"inputs": ["' + b"z" * 2_000_100 + b'"]}')
            return [ok.status_code if len(vectors) == 8 else -1, bad.status_code, too_big.status_code]

    async def storm() -> list[list[int]]:
        return await asyncio.gather(*(one_client(i) for i in range(100)))

    rss = []
    for _ in range(3):
        results = asyncio.run(storm())
        assert all(r == [200, 400, 413] for r in results), {tuple(r) for r in results}
        rss.append(rss_mb(proc.pid))
    healthy_endpoint(url)
    print(f"endpoint server RSS {before:.0f} MB -> {[round(r) for r in rss]} MB over 3 rounds of 300 requests")
    # The model's first big concurrent batch grows torch's caches once; more traffic must not add to it.
    assert rss[-1] - before < 2 * RSS_GROWTH_LIMIT_MB
    assert rss[-1] - rss[0] < 50


# ------------------------------------------------------------------------------------- reference cycles
def _cyclic_server_frames(send: Any) -> list[str]:
    """Names of local-server frames that only the cycle collector could free after ``send()`` was answered."""
    import gc
    import types

    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        send()
        gc.collect()
        frames = [o for o in gc.garbage if isinstance(o, types.FrameType)]
        return [f.f_code.co_name for f in frames if "hf_pinecone" in f.f_code.co_filename]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def test_answered_errors_do_not_keep_request_frames_alive() -> None:
    """An error raised in a worker thread (invalid upsert, input over the token limit) must not sit in a
    reference cycle with the request's frames, which hold its body: under load that was ~1 GB until a full GC."""
    from hf_pinecone.local import serve_endpoint, serve_pinecone

    with serve_pinecone() as url:
        spec = {"serverless": {"cloud": "aws", "region": "us-east-1"}}
        httpx.post(f"{url}/indexes", json={"name": "cycles", "dimension": DIM, "metric": "cosine", "spec": spec})
        upsert = f"{url}/indexes/cycles/vectors/upsert"
        bad = b'{"vectors": [' + b"1," * 1_000 + b"1]}"
        assert httpx.post(upsert, content=bad).status_code == 400  # warm-up: imports, thread pool
        assert _cyclic_server_frames(lambda: httpx.post(upsert, content=bad)) == []
    with serve_endpoint() as url:
        too_long = {"inputs": ["word " * 600], "truncate": False}
        # TEI answers a validation error (input over the token limit) with 413 (router/src/http/server.rs).
        assert httpx.post(url, json=too_long, timeout=120).status_code == 413
        assert _cyclic_server_frames(lambda: httpx.post(url, json=too_long, timeout=120)) == []
