"""The fault-injection middleware (a TESTING TOOL, in-process by nature) seen by real clients over loopback.

Each fault kind is served by uvicorn in front of a real app and checked from the client side: the status,
body or transport error a retrying client must handle. Plan logic (script, seeded rate, filters, switch,
cold start) is checked over HTTP and directly through ``FaultPlan.decide`` with an injected clock (no sleep).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
import requests
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from hf_pinecone.local import run_in_background
from hf_pinecone.local.endpoint_server import HashEmbedder, serve_endpoint
from hf_pinecone.local.faults import DEFAULT_KINDS, Fault, FaultInjector, FaultPlan


class _CountingApp:
    """A tiny real app that counts how many requests reached it (to tell 'rejected before' from 'after')."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

        async def echo(request: Request) -> JSONResponse:
            body = await request.json()
            with self._lock:
                self.calls += 1
            return JSONResponse({"echo": body, "padding": "p" * 200})

        async def ping(request: Request) -> PlainTextResponse:
            return PlainTextResponse("pong")

        self.app = Starlette(routes=[Route("/echo", echo, methods=["POST"]), Route("/ping", ping)])


@pytest.fixture
def served() -> Iterator[tuple[str, _CountingApp, FaultPlan]]:
    """A counting app behind a FaultInjector whose plan starts empty (tests schedule faults)."""
    target = _CountingApp()
    plan = FaultPlan()
    with run_in_background(FaultInjector(target.app, plan)) as url:
        yield url, target, plan


def _post(url: str, **kwargs: Any) -> httpx2.Response:
    return httpx2.post(url + "/echo", json={"x": 1}, **kwargs)


# --------------------------------------------------------------------------------- each kind, as seen


@pytest.mark.parametrize(
    ("fault", "status", "content_type"),
    [
        (Fault.RATE_LIMIT, 429, "application/json"),
        (Fault.SERVER_ERROR, 500, "application/json"),
        (Fault.BAD_GATEWAY, 502, "text/html"),
        (Fault.UNAVAILABLE, 503, "application/json"),
        (Fault.GATEWAY_TIMEOUT, 504, "text/html"),
        (Fault.NON_JSON, 200, "text/html"),
    ],
)
def test_canned_responses_never_reach_the_app(
    served: tuple[str, _CountingApp, FaultPlan], fault: Fault, status: int, content_type: str
) -> None:
    url, target, plan = served
    plan.schedule(fault)
    r = _post(url)
    assert r.status_code == status
    assert r.headers["content-type"].startswith(content_type)
    if content_type == "text/html":
        assert r.text.lstrip().startswith("<")
        with pytest.raises(json.JSONDecodeError):
            json.loads(r.text)
    assert target.calls == 0
    assert _post(url).status_code == 200 and target.calls == 1
    assert plan.stats.injected == {fault.value: 1}


def test_429_carries_retry_after(served: tuple[str, _CountingApp, FaultPlan]) -> None:
    url, _, plan = served
    plan.schedule(Fault.RATE_LIMIT)
    r = _post(url)
    assert r.headers["retry-after"] == "1"
    assert r.json() == {"error": "Model is overloaded", "error_type": "Overloaded"}
    plan.retry_after = 0.25
    plan.schedule("429")
    assert _post(url).headers["retry-after"] == "0.25"
    plan.retry_after = None
    plan.schedule("429")
    assert "retry-after" not in _post(url).headers


def test_reset_breaks_the_connection_mid_response_after_the_app_ran(
    served: tuple[str, _CountingApp, FaultPlan],
) -> None:
    url, target, plan = served
    plan.schedule(Fault.RESET, Fault.RESET)
    with pytest.raises(httpx2.RemoteProtocolError, match=r"without sending complete message body"):
        _post(url)
    assert target.calls == 1  # the server did the work; only the answer was lost

    # The same through a pooled client (keep-alive) and through the async client and requests.
    with httpx2.Client() as client:
        with pytest.raises(httpx2.RemoteProtocolError):
            client.post(url + "/echo", json={"x": 2})
        assert client.post(url + "/echo", json={"x": 3}).status_code == 200
    plan.schedule(Fault.RESET)
    with pytest.raises(requests.exceptions.RequestException):
        requests.post(url + "/echo", json={"x": 4}, timeout=10)
    assert plan.stats.injected == {"reset": 3}
    assert _post(url).status_code == 200


async def test_reset_seen_by_async_client(served: tuple[str, _CountingApp, FaultPlan]) -> None:
    url, _, plan = served
    plan.schedule("reset")
    async with httpx2.AsyncClient() as client:
        with pytest.raises(httpx2.RemoteProtocolError):
            await client.post(url + "/echo", json={"x": 1})
        assert (await client.post(url + "/echo", json={"x": 1})).status_code == 200


def test_truncated_body_is_a_complete_response_with_invalid_json(
    served: tuple[str, _CountingApp, FaultPlan],
) -> None:
    url, target, plan = served
    plan.schedule(Fault.TRUNCATED)
    r = _post(url)
    assert r.status_code == 200
    assert int(r.headers["content-length"]) == len(r.content) > 0
    with pytest.raises(json.JSONDecodeError):
        r.json()
    assert target.calls == 1


def test_slow_response_makes_the_client_time_out_and_the_server_keeps_serving(
    served: tuple[str, _CountingApp, FaultPlan],
) -> None:
    url, target, plan = served
    plan.schedule(Fault.SLOW)  # holds 30 s by default, far beyond the client's timeout
    with pytest.raises(httpx2.ReadTimeout):
        _post(url, timeout=0.5)
    assert _post(url, timeout=10).status_code == 200
    assert target.calls == 1  # only the second request reached the app
    assert plan.stats.injected == {"slow": 1}


def test_slow_response_is_delivered_when_the_client_waits(
    served: tuple[str, _CountingApp, FaultPlan],
) -> None:
    url, target, plan = served
    plan.slow_seconds = 0.2
    plan.schedule(Fault.SLOW)
    r = _post(url, timeout=30)
    assert r.status_code == 200 and r.json()["echo"] == {"x": 1}
    assert target.calls == 1


# ------------------------------------------------------------------------------------------ plan modes


def test_script_applies_in_order_then_passes_through() -> None:
    target = _CountingApp()
    plan = FaultPlan(["503", None, "429", Fault.SERVER_ERROR])
    with run_in_background(FaultInjector(target.app, plan)) as url2:
        assert [_post(url2).status_code for _ in range(6)] == [503, 200, 429, 500, 200, 200]
    stats = plan.stats
    assert (stats.requests, stats.matched, stats.total_injected, stats.passed) == (6, 6, 3, 3)
    assert stats.injected == {"503": 1, "429": 1, "500": 1}


def test_seeded_random_rate_is_reproducible_and_close_to_the_rate() -> None:
    def sequence(seed: int) -> list[Fault | None]:
        plan = FaultPlan(rate=0.1, seed=seed)
        return [plan.decide("POST", "/") for _ in range(2000)]

    first, again, other = sequence(7), sequence(7), sequence(8)
    assert first == again
    assert first != other
    faults = [f for f in first if f is not None]
    assert 140 <= len(faults) <= 260
    assert set(faults) == set(DEFAULT_KINDS)


def test_random_mix_with_weights_over_http() -> None:
    target = _CountingApp()
    plan = FaultPlan(rate=1.0, kinds={"429": 1.0, "503": 0.0})
    with run_in_background(FaultInjector(target.app, plan)) as url:
        assert {_post(url).status_code for _ in range(5)} == {429}
    assert target.calls == 0 and plan.stats.injected == {"429": 5}
    plan.set_rate(0.0)
    assert plan.decide("POST", "/echo") is None


def test_method_and_path_filters() -> None:
    target = _CountingApp()
    plan = FaultPlan(rate=1.0, kinds=["503"], methods={"post"}, paths=["/echo"])
    with run_in_background(FaultInjector(target.app, plan)) as url:
        assert httpx2.get(url + "/ping").status_code == 200
        assert _post(url).status_code == 503
    assert (plan.stats.requests, plan.stats.matched) == (2, 1)

    regex = FaultPlan(rate=1.0, kinds=["500"], path_regex=r"/vectors/(upsert|delete)$")
    assert regex.decide("POST", "/indexes/a/vectors/upsert") is Fault.SERVER_ERROR
    assert regex.decide("POST", "/indexes/a/query") is None


def test_enabled_switch_stops_and_resumes_faults(served: tuple[str, _CountingApp, FaultPlan]) -> None:
    url, _, plan = served
    plan.set_rate(1.0, ["502"])
    assert _post(url).status_code == 502
    plan.enabled = False
    assert [_post(url).status_code for _ in range(3)] == [200, 200, 200]
    plan.enabled = True
    assert _post(url).status_code == 502
    assert plan.stats.requests == 5 and plan.stats.injected == {"502": 2}
    plan.reset_stats()
    assert plan.stats.requests == 0 and plan.stats.injected == {}


def test_cold_start_for_the_first_n_requests() -> None:
    target = _CountingApp()
    plan = FaultPlan(cold_start_requests=3)
    with run_in_background(FaultInjector(target.app, plan)) as url:
        statuses = [_post(url).status_code for _ in range(5)]
    assert statuses == [503, 503, 503, 200, 200]
    assert target.calls == 2 and plan.stats.injected == {"cold_start": 3}


def test_cold_start_window_in_seconds_opens_at_the_first_request() -> None:
    now = [100.0]
    plan = FaultPlan(cold_start_seconds=20, clock=lambda: now[0])
    now[0] = 500.0  # time before the first request does not count
    assert plan.decide("POST", "/") is Fault.COLD_START
    assert plan.cold_start_remaining() == 20
    now[0] = 519.9
    assert plan.decide("POST", "/") is Fault.COLD_START
    now[0] = 520.0
    assert plan.decide("POST", "/") is None
    plan.start_cold_start(seconds=5)  # scaled to zero again
    now[0] = 1000.0
    assert plan.decide("POST", "/") is Fault.COLD_START
    now[0] = 1005.0
    assert plan.decide("POST", "/") is None
    assert plan.stats.injected == {"cold_start": 3}


def test_cold_start_body_over_http() -> None:
    target = _CountingApp()
    plan = FaultPlan(cold_start_seconds=3600)
    with run_in_background(FaultInjector(target.app, plan)) as url:
        r = _post(url)
    assert r.status_code == 503
    assert "starting" in r.json()["error"] and 0 < r.json()["estimated_time"] <= 3600


def test_wait_for_requests_and_thread_safety() -> None:
    plan = FaultPlan(rate=0.5, seed=1)
    threads = [
        threading.Thread(target=lambda: [plan.decide("POST", "/") for _ in range(500)]) for _ in range(8)
    ]
    for t in threads:
        t.start()
    assert plan.wait_for_requests(4000, timeout=30)
    for t in threads:
        t.join()
    stats = plan.stats
    assert stats.requests == stats.matched == 4000
    assert stats.total_injected + stats.passed == 4000
    assert not FaultPlan().wait_for_requests(1, timeout=0)


def test_invalid_plans_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        FaultPlan(["418"])
    with pytest.raises(ValueError, match="rate"):
        FaultPlan(rate=1.5)
    with pytest.raises(ValueError, match="positive weight"):
        FaultPlan(rate=0.1, kinds={"429": 0})


# --------------------------------------------------------------------------- in front of the real servers


def test_in_front_of_the_endpoint_server() -> None:
    plan = FaultPlan(["503", "reset"], methods={"POST"})
    with serve_endpoint(embedder=HashEmbedder(8), faults=plan) as url:
        assert httpx2.get(url + "/health").text == "Ok"  # GET is not filtered
        assert httpx2.post(url, json={"inputs": ["a"]}).status_code == 503
        with pytest.raises(httpx2.RemoteProtocolError):
            httpx2.post(url, json={"inputs": ["a"]})
        r = httpx2.post(url, json={"inputs": ["a", "b"]})
        assert r.status_code == 200 and len(r.json()["embeddings"]) == 2
    assert plan.stats.requests == 4 and plan.stats.injected == {"503": 1, "reset": 1}


def test_in_front_of_the_pinecone_server() -> None:
    pinecone_server = pytest.importorskip("hf_pinecone.local.pinecone_server")
    plan = FaultPlan(["504"])
    with pinecone_server.serve_pinecone(faults=plan) as url:
        assert httpx2.get(url + "/indexes").status_code == 504
        assert httpx2.get(url + "/indexes").status_code == 200
    assert plan.stats.injected == {"504": 1}
