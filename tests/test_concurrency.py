"""Adaptive concurrency: the pure policy (driven by a deterministic simulated endpoint) and the limiter.

The policy tests use a discrete-event simulation of an endpoint (``replicas`` requests served at once, the
rest queued, ``429`` past ``max_concurrent``) instead of a server: it is the only way to run the policy for
tens of simulated seconds, deterministically, in milliseconds. The limiter tests use real threads and a
real event loop, synchronised with events (no sleeps).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
from collections import deque
from dataclasses import dataclass

import pytest

from hf_pinecone._concurrency import (
    DEFAULT_INITIAL_CONCURRENCY,
    DEFAULT_MAX_CONCURRENCY,
    AdaptivePolicy,
    ConcurrencyLimiter,
    FixedPolicy,
    LimitPolicy,
    Sample,
)


# --------------------------------------------------------------------------------------- simulation
@dataclass
class SimResult:
    throughput: float  # requests/s served in the second half
    mean_limit: float  # time-weighted by events, second half
    max_limit: int
    rejected: int
    served: int


def simulate(
    policy: LimitPolicy,
    *,
    replicas: int,
    service: float = 0.06,
    max_concurrent: int = 10**9,
    duration: float = 20.0,
    jitter: float = 0.3,
) -> SimResult:
    """A client with unbounded demand against an endpoint with ``replicas`` servers and a FIFO queue."""
    events: list[tuple[float, int, str, float]] = []
    seq = itertools.count()
    queue: deque[float] = deque()
    state = {"client": 0, "server": 0, "active": 0}
    counter = itertools.count()
    rejected = served_late = 0
    limits: list[int] = []

    def service_time() -> float:  # deterministic pseudo-jitter in [1 - jitter, 1 + jitter]
        return service * (1 + jitter * ((next(counter) * 7919) % 11 - 5) / 5)

    def fill(now: float) -> None:
        while state["client"] < policy.limit:
            state["client"] += 1
            policy.on_acquire(in_flight=state["client"], waiting=1, now=now)
            if state["server"] >= max_concurrent:
                heapq.heappush(events, (now + 0.001, next(seq), "reject", now))
                continue
            state["server"] += 1
            if state["active"] < replicas:
                state["active"] += 1
                heapq.heappush(events, (now + service_time(), next(seq), "done", now))
            else:
                queue.append(now)

    fill(0.0)
    while events:
        now, _, kind, started = heapq.heappop(events)
        if now > duration:
            break
        if now > duration / 2:
            limits.append(policy.limit)
        state["client"] -= 1
        if kind == "done":
            state["server"] -= 1
            state["active"] -= 1
            if queue:
                state["active"] += 1
                heapq.heappush(events, (now + service_time(), next(seq), "done", queue.popleft()))
            policy.on_sample(Sample(started, now))
            served_late += now > duration / 2
        else:
            rejected += 1
            policy.on_sample(Sample(started, now, overloaded=True))
        fill(now)
    return SimResult(
        throughput=served_late / (duration / 2),
        mean_limit=sum(limits) / len(limits),
        max_limit=max(limits),
        rejected=rejected,
        served=served_late,
    )


# ------------------------------------------------------------------------------------------- policy
def test_grows_to_the_ceiling_on_an_endpoint_that_serves_64_at_once() -> None:
    policy = AdaptivePolicy()
    fixed = simulate(FixedPolicy(DEFAULT_INITIAL_CONCURRENCY), replicas=64)
    result = simulate(policy, replicas=64)
    capacity = 64 / 0.06
    assert policy.limit == DEFAULT_MAX_CONCURRENCY
    assert result.throughput >= 0.95 * capacity
    assert result.throughput >= 6 * fixed.throughput  # the old fixed 8 leaves most replicas idle
    assert [reason for _, _, reason in policy.history][:3] == ["slow start"] * 3


def test_does_not_pile_up_requests_on_an_endpoint_that_serves_4_at_once() -> None:
    result = simulate(AdaptivePolicy(), replicas=4)
    assert result.throughput >= 0.95 * 4 / 0.06
    # Extra requests would only wait in the endpoint's queue: the limit stays near its parallelism.
    assert result.mean_limit <= 8
    assert result.max_limit < 16


def test_backs_off_on_429_and_stays_below_the_overload_point() -> None:
    adaptive = simulate(AdaptivePolicy(), replicas=4, max_concurrent=4)
    fixed = simulate(FixedPolicy(8), replicas=4, max_concurrent=4)
    assert adaptive.throughput >= 0.95 * 4 / 0.06
    assert adaptive.mean_limit <= 5
    # Probing past the overload point is rare (backed-off exponentially), unlike a fixed limit of 8.
    assert adaptive.rejected < 0.05 * adaptive.served
    assert fixed.rejected > 10 * fixed.served


def test_one_decrease_per_overload_episode() -> None:
    policy = AdaptivePolicy(initial=20)
    # Ten requests sent at t=0..0.9 all come back 429 at t=1.0..1.9: one episode, one cut.
    for i in range(10):
        policy.on_sample(Sample(started=i / 10, finished=1 + i / 10, overloaded=True))
    assert policy.limit == 14  # ceil(20 * 0.7)
    # A request sent after the cut and refused again is a new episode.
    policy.on_sample(Sample(started=2.5, finished=2.6, overloaded=True))
    assert policy.limit == 10


def test_small_limits_decrease_by_at_least_one_and_never_below_the_minimum() -> None:
    policy = AdaptivePolicy(initial=2, minimum=1)
    policy.on_sample(Sample(0.0, 0.1, overloaded=True))
    assert policy.limit == 1
    policy.on_sample(Sample(0.2, 0.3, overloaded=True))
    assert policy.limit == 1


def test_windows_without_queued_demand_do_not_change_the_limit() -> None:
    policy = AdaptivePolicy(initial=8)
    now = 0.0
    for _ in range(500):  # one request at a time: the client never has more to send than the limit allows
        policy.on_acquire(in_flight=1, waiting=0, now=now)
        policy.on_sample(Sample(now, now + 0.05))
        now += 0.05
    assert policy.limit == 8
    assert not policy.history


def test_limit_stays_within_bounds_and_arguments_are_validated() -> None:
    policy = AdaptivePolicy(initial=100, minimum=2, maximum=10)
    assert policy.limit == 10
    simulate(policy, replicas=64, duration=5)
    assert policy.limit == 10
    assert 2 <= simulate(AdaptivePolicy(minimum=2, maximum=3), replicas=1, duration=5).mean_limit <= 3
    with pytest.raises(ValueError, match="minimum"):
        AdaptivePolicy(minimum=0)
    with pytest.raises(ValueError, match="minimum"):
        AdaptivePolicy(minimum=5, maximum=4)
    with pytest.raises(ValueError, match="backoff"):
        AdaptivePolicy(backoff=1.0)
    with pytest.raises(ValueError, match="max_concurrency"):
        FixedPolicy(0)


# ------------------------------------------------------------------------------------------ limiter
class StubPolicy:
    """A policy whose limit the test sets, recording what the limiter tells it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.samples: list[Sample] = []
        self.acquires: list[tuple[int, int]] = []

    def on_acquire(self, *, in_flight: int, waiting: int, now: float) -> None:
        self.acquires.append((in_flight, waiting))

    def on_sample(self, sample: Sample) -> None:
        self.samples.append(sample)


def test_threads_never_exceed_the_limit_and_are_served_first_come_first_served() -> None:
    policy = StubPolicy(1)
    limiter = ConcurrencyLimiter(policy)
    release = threading.Event()
    holding = threading.Event()
    entered: list[int] = []
    peak = 0

    def work(i: int) -> None:
        nonlocal peak
        with limiter.slot():
            entered.append(i)
            peak = max(peak, limiter.in_flight)
            if i == 0:
                holding.set()
                release.wait(10)

    threads = [threading.Thread(target=work, args=(0,))]
    threads[0].start()
    assert holding.wait(10)
    for i in range(1, 5):  # queued in this order: each is started once the previous one waits
        thread = threading.Thread(target=work, args=(i,))
        thread.start()
        threads.append(thread)
        while len(limiter._waiters) < i:
            threading.Event().wait(0.001)
    release.set()
    for thread in threads:
        thread.join(10)
    assert entered == [0, 1, 2, 3, 4]
    assert peak == 1
    assert limiter.in_flight == 0
    assert len(policy.samples) == 5


async def test_tasks_never_exceed_the_limit_and_a_raised_limit_wakes_waiters() -> None:
    policy = StubPolicy(1)
    limiter = ConcurrencyLimiter(policy)
    first_done, rest_done = asyncio.Event(), asyncio.Event()
    inside: set[int] = set()
    peak = 0

    async def work(i: int) -> None:
        nonlocal peak
        async with limiter.aslot():
            inside.add(i)
            peak = max(peak, len(inside))
            await (first_done if i == 0 else rest_done).wait()
            inside.discard(i)

    tasks = [asyncio.create_task(work(i)) for i in range(5)]
    while not inside:
        await asyncio.sleep(0)
    assert inside == {0} and len(limiter._waiters) == 4
    policy.limit = 3  # takes effect at the next release
    first_done.set()
    while len(inside) < 3:
        await asyncio.sleep(0)
    assert inside == {1, 2, 3} and len(limiter._waiters) == 1 and limiter.in_flight == 3
    rest_done.set()
    await asyncio.gather(*tasks)
    assert peak == 3
    assert limiter.in_flight == 0


async def test_cancelled_waiter_gives_back_its_slot() -> None:
    policy = StubPolicy(1)
    limiter = ConcurrencyLimiter(policy)
    hold = asyncio.Event()
    got = asyncio.Event()

    async def holder() -> None:
        async with limiter.aslot():
            got.set()
            await hold.wait()

    async def waiter() -> None:
        async with limiter.aslot():
            raise AssertionError("a cancelled waiter must not run")

    first = asyncio.create_task(holder())
    await got.wait()
    second = asyncio.create_task(waiter())
    while not limiter._waiters:
        await asyncio.sleep(0)
    second.cancel()
    hold.set()
    await first
    with pytest.raises(asyncio.CancelledError):
        await second
    assert limiter.in_flight == 0 and not limiter._waiters
    async with limiter.aslot():  # the slot is free again
        assert limiter.in_flight == 1


async def test_granted_then_cancelled_waiter_releases_the_slot() -> None:
    """The slot is handed over while the waiting task is being cancelled: it must not leak."""
    policy = StubPolicy(1)
    limiter = ConcurrencyLimiter(policy)
    entered = asyncio.Event()

    async def waiter() -> None:
        async with limiter.aslot():
            entered.set()

    with limiter.slot():  # a thread-style holder on the loop's thread, released below
        task = asyncio.create_task(waiter())
        while not limiter._waiters:
            await asyncio.sleep(0)
    # Released: the slot was granted to the task, whose wake-up is scheduled; cancel before it runs.
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not entered.is_set()
    assert limiter.in_flight == 0


def test_permit_reports_overload_and_failed_requests_are_not_measured() -> None:
    policy = StubPolicy(4)
    limiter = ConcurrencyLimiter(policy)
    with limiter.slot() as permit:
        permit.overloaded = True
    with pytest.raises(RuntimeError), limiter.slot():
        raise RuntimeError("transport blew up")
    with limiter.slot() as permit:
        permit.ignore = True
    assert [s.overloaded for s in policy.samples] == [True]
    assert limiter.in_flight == 0
    assert policy.acquires[0] == (1, 0)


# ------------------------------------------------------------------------------------- in the client
def test_client_default_is_adaptive_and_an_int_fixes_it() -> None:
    from hf_pinecone.endpoint import EndpointClient

    with EndpointClient("http://127.0.0.1:9") as client:
        assert isinstance(client._limiter.policy, AdaptivePolicy)
        assert client.max_concurrency == DEFAULT_INITIAL_CONCURRENCY
    with EndpointClient("http://127.0.0.1:9", max_concurrency=3) as client:
        assert isinstance(client._limiter.policy, FixedPolicy)
        assert client.max_concurrency == 3


async def test_client_backs_off_on_an_endpoint_that_answers_429() -> None:
    """Real loopback endpoint whose answers are 429 Overloaded a third of the time (the project's fault
    injector: TEI itself queues a batch's inputs for permits rather than refusing them, router/src/http/
    server.rs ``embed``, so a steady 429 source has to be injected): every text still comes back right, and the
    client's limit ends below where it started."""
    from hf_pinecone import RetryPolicy
    from hf_pinecone.endpoint import AsyncEndpointClient
    from hf_pinecone.local import serve_endpoint
    from hf_pinecone.local.endpoint_server import HashEmbedder
    from hf_pinecone.local.faults import Fault, FaultPlan

    embedder = HashEmbedder(8)
    texts = [f"text {i}" for i in range(400)]
    retry = RetryPolicy(max_retries=50, backoff_base=0.01, backoff_max=0.05)
    plan = FaultPlan(rate=0.34, kinds=[Fault.RATE_LIMIT], seed=7, retry_after=None, methods={"POST"})
    with serve_endpoint(embedder=embedder, faults=plan, delay=0.002) as url:
        async with AsyncEndpointClient(url, batch_size=4, retry=retry) as client:
            vectors = await client.aembed(texts)
            assert client.max_concurrency < DEFAULT_INITIAL_CONCURRENCY
    assert plan.stats.injected.get("429", 0) > 0
    expected = embedder.embed(texts, normalize=True, truncate=True, prompt_name=None)
    assert len(vectors) == len(texts)
    assert all(abs(a - b) < 1e-6 for v, e in zip(vectors, expected, strict=True) for a, b in zip(v, e, strict=True))


def test_a_ceiling_bounds_the_adapted_limit_at_the_endpoint() -> None:
    """Real loopback endpoint (a small per-request delay so that requests overlap), 64 batches at once: with
    ``max_adaptive_concurrency=3`` the endpoint never sees more than 3 requests in flight, and the limit adapts
    below the ceiling (Ray/Spark workers use this for their share of a budget)."""
    from hf_pinecone import InferenceEndpointEmbeddings
    from hf_pinecone.endpoint import AsyncEndpointClient, EndpointConfig
    from hf_pinecone.errors import ConfigurationError
    from hf_pinecone.local import run_in_background
    from hf_pinecone.local.endpoint_server import HashEmbedder, create_endpoint_app

    app = create_endpoint_app(embedder=HashEmbedder(8), delay=0.005)
    texts = [f"text {i}" for i in range(256)]
    with run_in_background(app) as url:

        async def run() -> tuple[int, list[list[float]]]:
            async with AsyncEndpointClient(url, batch_size=4, max_adaptive_concurrency=3) as client:
                start = client.max_concurrency
                return start, await client.aembed(texts)

        start, vectors = asyncio.run(run())
    assert start == 3 and len(vectors) == len(texts)
    assert 1 <= app.state.stats.max_in_flight <= 3
    emb = InferenceEndpointEmbeddings(endpoint_url=url, hf_token=None, max_adaptive_concurrency=2)
    assert emb.async_client.max_concurrency == 2  # the field reaches the client; a fixed limit still wins
    assert InferenceEndpointEmbeddings(endpoint_url=url, max_concurrency=5).client.max_concurrency == 5
    with pytest.raises(ConfigurationError, match="max_adaptive_concurrency"):
        EndpointConfig(url, max_adaptive_concurrency=0)
