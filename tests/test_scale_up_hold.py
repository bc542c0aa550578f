"""Cold starts over real loopback HTTP against the Inference Endpoints stand-in (``hf_api_server``).

Covers the stand-in's ``X-Scale-Up-Timeout`` hold (``protocols.md`` 1d), the client's second ``GET /info``
probe after a cold start, and the difference between a cold start (503: waited out) and a paused or failed
endpoint (400 "Invalid state": a typed error at once). The replica's start is driven by the tests themselves
(``scale_up_seconds=None``: only a fetch or :meth:`HfApiStandIn.set_state` brings it up), and the tests wait on
the stand-in's own record of held requests, so no test sleeps or asserts on timing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx2
import numpy as np
import pytest

from hf_pinecone import InferenceEndpointEmbeddings, RetryPolicy
from hf_pinecone.endpoint import AsyncEndpointClient, EndpointClient
from hf_pinecone.lifecycle import EndpointStateError
from hf_pinecone.local.endpoint_server import HashEmbedder, create_endpoint_app
from hf_pinecone.local.hf_api_server import HfApiStandIn, create_hf_api_app, serve_hf_api

NS = "acme"
DIM = 16
HASH = HashEmbedder(dimension=DIM)
FAST = RetryPolicy(max_retries=3, backoff_base=0.005, backoff_max=0.02)


@dataclass
class StandIn:
    base: str
    stand_in: HfApiStandIn
    app: Any  # the endpoint app behind the gate (its ``state.stats`` count embedding requests)

    def create_scaled_to_zero(self, name: str) -> str:
        """Create an endpoint through the management API, scale it to zero, and return its URL."""
        payload = {
            "name": name,
            "model": {"repository": "sentence-transformers/all-MiniLM-L6-v2", "framework": "pytorch"},
            "compute": {"accelerator": "cpu", "instanceSize": "x2", "instanceType": "intel-icl"},
            "provider": {"vendor": "aws", "region": "us-east-1"},
            "type": "protected",
        }
        created = httpx2.post(f"{self.base}/v2/endpoint/{NS}", json=payload, timeout=10)
        assert created.status_code == 200, created.text
        self.stand_in.set_state(NS, name, "scaledToZero")
        return f"{self.base}/endpoints/{NS}/{name}"

    def fetch(self, name: str) -> str:
        """``GET`` the endpoint from the management API (an observation: a starting replica comes up)."""
        response = httpx2.get(f"{self.base}/v2/endpoint/{NS}/{name}", timeout=10)
        state: str = response.json()["status"]["state"]
        return state


def _serve(**kwargs: Any) -> Iterator[StandIn]:
    endpoint_app: Any = create_endpoint_app(embedder=HASH, max_batch_size=64)
    app: Any = create_hf_api_app(endpoint_app=endpoint_app, **kwargs)
    with serve_hf_api(app=app) as base:
        yield StandIn(base=base, stand_in=app.stand_in, app=endpoint_app)


@pytest.fixture
def manual() -> Iterator[StandIn]:
    """The stand-in where a replica starts only when the test calls ``set_state``."""
    yield from _serve(scale_up_seconds=None, steps_per_state=1_000_000)


@pytest.fixture
def stepped() -> Iterator[StandIn]:
    """The stand-in where a starting replica is up after one more observation (a fetch or a request)."""
    yield from _serve(scale_up_seconds=None)


@pytest.fixture
def instant() -> Iterator[StandIn]:
    """The stand-in with its default: a replica a request is held for is up at once."""
    yield from _serve()


def expected(texts: list[str]) -> np.ndarray:
    return np.array([HASH.vector(t) for t in texts], dtype=float)


def post(url: str, texts: list[str], hold: str | None = None) -> httpx2.Response:
    headers = {} if hold is None else {"X-Scale-Up-Timeout": hold}
    return httpx2.post(url, json={"inputs": texts}, headers=headers, timeout=30)


# ------------------------------------------------------------------ the stand-in's hold
def test_a_held_request_is_served_once_the_replica_is_up(stepped: StandIn) -> None:
    manual = stepped
    url = manual.create_scaled_to_zero("held")
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(post, url, ["wake up"], "30")
        assert manual.stand_in.wait_for_holds(1)
        assert manual.stand_in.held == [("held", "/")]
        assert manual.stand_in.state_of(NS, "held") == "initializing"  # the request started a replica
        assert not future.done() and manual.stand_in.holds_finished == 0  # ... and waits for it
        assert manual.fetch("held") == "running"  # an observation finishes the start: the hold wakes up
        response = future.result(timeout=30)
    assert response.status_code == 200, response.text
    np.testing.assert_allclose(response.json()["embeddings"], expected(["wake up"]), rtol=1e-5, atol=1e-6)
    assert manual.stand_in.holds_finished == 1


def test_several_held_requests_all_wake_on_set_state(manual: StandIn) -> None:
    url = manual.create_scaled_to_zero("many")
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(post, url, [f"t{i}"], "30") for i in range(3)]
        assert manual.stand_in.wait_for_holds(3)
        manual.stand_in.set_state(NS, "many", "running")
        responses = [f.result(timeout=30) for f in futures]
    assert [r.status_code for r in responses] == [200, 200, 200]


def test_without_the_header_a_scaled_to_zero_endpoint_answers_503(stepped: StandIn) -> None:
    manual = stepped
    url = manual.create_scaled_to_zero("plain")
    response = post(url, ["x"])
    assert response.status_code == 503 and "scaled to zero" in response.json()["error"]
    assert manual.stand_in.held == []
    assert manual.stand_in.state_of(NS, "plain") == "initializing"  # a replica is starting
    assert manual.fetch("plain") == "running"
    assert post(url, ["x"]).status_code == 200


@pytest.mark.parametrize("value", ["abc", "0", "-5", "nan", "inf", ""])
def test_an_invalid_header_is_ignored(manual: StandIn, value: str) -> None:
    url = manual.create_scaled_to_zero("invalid")
    response = post(url, ["x"], value)
    assert response.status_code == 503 and "scaled to zero" in response.json()["error"]
    assert manual.stand_in.held == []


def test_a_too_short_hold_answers_the_same_503(manual: StandIn) -> None:
    url = manual.create_scaled_to_zero("short")
    response = post(url, ["x"], "0.05")  # nothing brings the replica up in the meantime
    assert response.status_code == 503 and "scaled to zero" in response.json()["error"]
    assert manual.stand_in.held == [("short", "/")] and manual.stand_in.holds_finished == 1
    assert manual.stand_in.state_of(NS, "short") == "initializing"


def test_a_hold_ends_with_the_paused_answer_when_the_endpoint_is_paused_meanwhile(manual: StandIn) -> None:
    """A paused endpoint answers 400 "Bad Request: Invalid state", as Hugging Face's proxy does (no 503)."""
    url = manual.create_scaled_to_zero("paused")
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(post, url, ["x"], "30")
        assert manual.stand_in.wait_for_holds(1)
        manual.stand_in.set_state(NS, "paused", "paused")
        response = future.result(timeout=30)
    assert response.status_code == 400 and response.json() == {"error": "Bad Request: Invalid state"}


def test_a_held_request_to_a_starting_endpoint_is_also_held(manual: StandIn) -> None:
    url = manual.create_scaled_to_zero("starting")
    assert post(url, ["x"]).status_code == 503  # wakes it: initializing
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(post, url, ["y"], "30")
        assert manual.stand_in.wait_for_holds(1)
        manual.stand_in.set_state(NS, "starting", "running")
        assert future.result(timeout=30).status_code == 200


def test_by_default_a_held_replica_is_up_at_once(instant: StandIn) -> None:
    url = instant.create_scaled_to_zero("quick")
    response = post(url, ["x"], "600")
    assert response.status_code == 200
    assert instant.stand_in.held == [("quick", "/")] and instant.stand_in.state_of(NS, "quick") == "running"


# ------------------------------------------------------------------ clients against a cold endpoint
def test_embeddings_against_a_scaled_to_zero_endpoint(instant: StandIn) -> None:
    url = instant.create_scaled_to_zero("lc")
    emb = InferenceEndpointEmbeddings(endpoint_url=url, retry_policy=FAST)
    texts = [f"document {i}" for i in range(50)]
    vectors = emb.embed_documents(texts)
    np.testing.assert_allclose(np.array(vectors), expected(texts), rtol=1e-5, atol=1e-6)
    assert instant.stand_in.held  # our client asked the proxy to hold its first request
    assert instant.stand_in.state_of(NS, "lc") == "running"


def test_embeddings_wait_out_a_slow_replica_start(manual: StandIn) -> None:
    """The client's own hold is 1 s (timeout=2): it gets 503s and retries until the test starts the replica."""
    url = manual.create_scaled_to_zero("slow")
    emb = InferenceEndpointEmbeddings(endpoint_url=url, retry_policy=FAST, timeout=2, batch_size=8)
    texts = [f"slow {i}" for i in range(20)]
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(emb.embed_documents, texts)
        assert manual.stand_in.wait_for_holds(2, finished=True)  # two 1-second holds answered 503
        manual.stand_in.set_state(NS, "slow", "running")
        vectors = future.result(timeout=60)
    np.testing.assert_allclose(np.array(vectors), expected(texts), rtol=1e-5, atol=1e-6)


def test_the_client_learns_the_batch_size_once_the_endpoint_is_up(manual: StandIn) -> None:
    """GET /info finds the endpoint cold (held 1 s, then 503): after the first success it is probed again."""
    url = manual.create_scaled_to_zero("info")
    stats = manual.app.state.stats
    with EndpointClient(url, retry=FAST, timeout=2) as client:
        first = [f"first {i}" for i in range(40)]
        with ThreadPoolExecutor(1) as pool:
            future = pool.submit(client.embed, first)
            assert manual.stand_in.wait_for_holds(1, finished=True)
            assert manual.stand_in.held[0] == ("info", "/info")
            manual.stand_in.set_state(NS, "info", "running")
            np.testing.assert_allclose(np.array(future.result(timeout=60)), expected(first), rtol=1e-5, atol=1e-6)
        assert client.batch_size == 64  # the endpoint's max_client_batch_size, not the fallback 32
        before = stats.served
        second = [f"second {i}" for i in range(128)]
        np.testing.assert_allclose(np.array(client.embed(second)), expected(second), rtol=1e-5, atol=1e-6)
        assert stats.served - before == 2  # 64 + 64 (the fallback would have sent 4 requests)


async def test_the_async_client_learns_the_batch_size_once_the_endpoint_is_up(manual: StandIn) -> None:
    url = manual.create_scaled_to_zero("ainfo")
    stats = manual.app.state.stats
    woke = threading.Event()

    def start_replica_after_the_info_probe() -> None:
        assert manual.stand_in.wait_for_holds(1, finished=True)
        manual.stand_in.set_state(NS, "ainfo", "running")
        woke.set()

    thread = threading.Thread(target=start_replica_after_the_info_probe)
    thread.start()
    try:
        async with AsyncEndpointClient(url, retry=FAST, timeout=2) as client:
            first = [f"first {i}" for i in range(40)]
            got = await client.aembed(first)
            assert woke.is_set() and manual.stand_in.held[0] == ("ainfo", "/info")
            np.testing.assert_allclose(np.array(got), expected(first), rtol=1e-5, atol=1e-6)
            assert client.batch_size == 64
            before = stats.served
            second = [f"second {i}" for i in range(128)]
            np.testing.assert_allclose(np.array(await client.aembed(second)), expected(second), rtol=1e-5, atol=1e-6)
            assert stats.served - before == 2
    finally:
        thread.join(timeout=30)


# ------------------------------------------------------------------ paused / failed: no cold start to wait for
@pytest.mark.parametrize("state", ["paused", "failed"])
def test_embeddings_fail_at_once_on_a_paused_or_failed_endpoint(manual: StandIn, state: str) -> None:
    """The proxy's 400 "Invalid state" is a typed error with the resume hint: one request, no 600 s wait."""
    url = manual.create_scaled_to_zero(f"s-{state}")
    manual.stand_in.set_state(NS, f"s-{state}", state)
    emb = InferenceEndpointEmbeddings(endpoint_url=url, retry_policy=FAST, cold_start_timeout=600)
    with ThreadPoolExecutor(1) as pool:  # the result timeout is a safety net against a hang, not a timing check
        future = pool.submit(emb.embed_documents, ["a", "b", "c"])
        with pytest.raises(EndpointStateError, match="paused or failed") as caught:
            future.result(timeout=60)
    message = str(caught.value)
    assert "hf-pinecone endpoint resume NAME" in message and "lifecycle.resume_endpoint" in message
    assert caught.value.status_code == 400 and caught.value.server_message == "Bad Request: Invalid state"
    embeds = [r for r in manual.stand_in.requests if r == (f"s-{state}", "/")]
    assert len(embeds) == 1  # not retried, not waited out
    assert manual.stand_in.held == []  # the proxy holds nothing for a paused endpoint


async def test_the_async_client_fails_at_once_on_a_paused_endpoint(manual: StandIn) -> None:
    url = manual.create_scaled_to_zero("a-paused")
    manual.stand_in.set_state(NS, "a-paused", "paused")
    async with AsyncEndpointClient(url, retry=FAST, cold_start_timeout=600) as client:
        with pytest.raises(EndpointStateError, match="hf-pinecone endpoint resume NAME"):
            await client.aembed(["a"])
    assert manual.stand_in.requests.count(("a-paused", "/")) == 1


def test_a_scaled_to_zero_endpoint_still_gets_the_cold_start_wait(manual: StandIn) -> None:
    """Against the same stand-in, 503 (scaled to zero) is waited out: only paused/failed fail fast."""
    url = manual.create_scaled_to_zero("cold")
    emb = InferenceEndpointEmbeddings(endpoint_url=url, retry_policy=FAST, timeout=2)
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(emb.embed_query, "cold")
        assert manual.stand_in.wait_for_holds(2, finished=True)  # answered 503 twice, still waiting
        assert not future.done()
        manual.stand_in.set_state(NS, "cold", "running")
        np.testing.assert_allclose(future.result(timeout=60), expected(["cold"])[0], rtol=1e-5, atol=1e-6)
