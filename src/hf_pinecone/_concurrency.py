"""Client-wide concurrency limiting that adapts to what the endpoint can serve.

Endpoints differ by orders of magnitude in how many requests they serve at once: a single small replica
serves one or two, a TEI deployment admits up to 512 (``max_concurrent_requests``) and answers
``429 Overloaded`` past that. A fixed number of requests in flight is therefore too low for some endpoints
and too high for others, so by default the client adapts it.

Two layers, so that the decisions are testable without threads, sockets or clocks:

- :class:`AdaptivePolicy` / :class:`FixedPolicy`: pure decision logic. They see one :class:`Sample` per
  finished request (when it started and finished, whether the endpoint was overloaded) and how much demand
  there was, and set :attr:`limit`.
- :class:`ConcurrencyLimiter`: the waiting primitive, shared by threads (``with limiter.slot()``) and asyncio
  tasks (``async with limiter.aslot()``) of one client. It measures each request and feeds the policy.

The adaptive policy is a throughput hill-climber with AIMD back-off, in the spirit of TCP congestion control
and Netflix's concurrency-limits:

- slow start: while requests queue up in the client, double the limit each measurement window as long as
  throughput grows with it;
- then additive probing: step the limit up by about 1/8 and keep the step only if throughput grew with it
  (so a limit above the endpoint's parallelism, where extra requests just wait in its queue and latency
  rises, is given back); when latency shows queueing, probe downwards and keep the lower limit if throughput
  holds;
- multiplicative decrease (x0.7) on ``429`` or a timeout, once per congestion episode;
- always within ``[minimum, maximum]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "DEFAULT_INITIAL_CONCURRENCY",
    "DEFAULT_MAX_CONCURRENCY",
    "AdaptivePolicy",
    "ConcurrencyLimiter",
    "FixedPolicy",
    "LimitPolicy",
    "Permit",
    "Sample",
]

#: Requests in flight when an adaptive client starts (the old fixed default).
DEFAULT_INITIAL_CONCURRENCY = 8
#: Ceiling of the adaptive limit by default.
DEFAULT_MAX_CONCURRENCY = 64


@dataclass(frozen=True)
class Sample:
    """One finished request, as the limiter saw it.

    Attributes:
        started: Clock time the request got its slot.
        finished: Clock time it released the slot.
        overloaded: The endpoint said it was overloaded (HTTP 429) or the request timed out.
    """

    started: float
    finished: float
    overloaded: bool = False

    @property
    def latency(self) -> float:
        """Seconds the request held its slot."""
        return self.finished - self.started


class LimitPolicy(Protocol):
    """Decides how many requests may be in flight; called under the limiter's lock."""

    @property
    def limit(self) -> int:
        """Requests allowed in flight now."""
        ...

    def on_acquire(self, *, in_flight: int, waiting: int, now: float) -> None:
        """A request took a slot; ``in_flight`` includes it, ``waiting`` requests still queue for one."""
        ...

    def on_sample(self, sample: Sample) -> None:
        """A request released its slot."""
        ...


class FixedPolicy:
    """A constant limit (``max_concurrency=<int>``)."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {limit}")
        self._limit = limit

    @property
    def limit(self) -> int:
        """Requests allowed in flight."""
        return self._limit

    def on_acquire(self, *, in_flight: int, waiting: int, now: float) -> None:
        """Nothing to learn."""

    def on_sample(self, sample: Sample) -> None:
        """Nothing to learn."""

    def __repr__(self) -> str:
        return f"FixedPolicy(limit={self._limit})"


@dataclass
class _Level:
    limit: int
    throughput: float
    latency: float


class AdaptivePolicy:
    """Adapt the limit to the endpoint: grow while throughput grows, back off on overload or queueing.

    Measurements are taken over windows of at least ``window_rounds * limit`` (and ``min_window_samples``)
    finished requests. Only windows in which the client had more requests to send than the limit allowed
    ("saturated") change the limit: when callers send little, nothing is learned and nothing changes.

    Args:
        initial: Starting limit.
        minimum: Lowest limit.
        maximum: Highest limit.
        backoff: Factor applied to the limit on overload (429 or timeout).
        window_rounds: Window length in multiples of the limit.
        min_window_samples: Shortest window, in finished requests.
        growth_threshold: Throughput gain that counts as "it grew" after the limit doubled (slow start).
        queueing_ratio: Mean latency over the lowest seen above which the endpoint is considered to be
            queueing requests (then the next probe goes down rather than up).
        max_hold: Longest pause, in windows, between two probes after probes kept failing.
    """

    def __init__(
        self,
        *,
        initial: int = DEFAULT_INITIAL_CONCURRENCY,
        minimum: int = 1,
        maximum: int = DEFAULT_MAX_CONCURRENCY,
        backoff: float = 0.7,
        window_rounds: int = 2,
        min_window_samples: int = 8,
        growth_threshold: float = 1.2,
        queueing_ratio: float = 1.5,
        max_hold: int = 8,
    ) -> None:
        if minimum < 1 or maximum < minimum:
            raise ValueError(f"need 1 <= minimum <= maximum, got minimum={minimum}, maximum={maximum}")
        if not 0 < backoff < 1:
            raise ValueError(f"backoff must be in (0, 1), got {backoff}")
        if window_rounds < 1 or min_window_samples < 1 or max_hold < 1:
            raise ValueError("window_rounds, min_window_samples and max_hold must be >= 1")
        self.minimum = minimum
        self.maximum = maximum
        self.backoff = backoff
        self.window_rounds = window_rounds
        self.min_window_samples = min_window_samples
        self.growth_threshold = growth_threshold
        self.queueing_ratio = queueing_ratio
        self.max_hold = max_hold
        self._limit = self._clamp(initial)
        self.slow_start = True
        # The level (limit, throughput, latency) currently believed best, and the probe under way, if any.
        self._baseline: _Level | None = None
        self._probe_from: int | None = None
        self._hold = 0
        self._next_hold = 1
        self._probe_down_next = False
        self._min_latency = math.inf
        # Overloads of requests that started before the last decrease belong to the episode already handled.
        self._last_decrease = -math.inf
        # The limit at which the endpoint last said it was overloaded: probing up to it again waits longer.
        self._ceiling: int | None = None
        self._window_start: float | None = None
        self._settle = 0
        self._count = 0
        self._latency_sum = 0.0
        self._saturated = False
        #: Every limit change as ``(time, new_limit, reason)`` (the last 256), for reports and debugging.
        self.history: deque[tuple[float, int, str]] = deque(maxlen=256)

    # ---- public
    @property
    def limit(self) -> int:
        """Requests allowed in flight now."""
        return self._limit

    def on_acquire(self, *, in_flight: int, waiting: int, now: float) -> None:
        """Note demand: the window is saturated when requests wait or every slot is taken."""
        if self._window_start is None and self._settle == 0 and self._count == 0:
            self._window_start = now
        if waiting > 0 or in_flight >= self._limit:
            self._saturated = True

    def on_sample(self, sample: Sample) -> None:
        """Learn from one finished request; may change :attr:`limit`."""
        if sample.overloaded:
            if sample.started >= self._last_decrease:
                self._decrease(sample.finished)
            return
        if self._settle > 0:
            # Requests admitted under the previous limit are still finishing: the window starts after them.
            self._settle -= 1
            if self._settle == 0:
                self._window_start = sample.finished
            return
        if self._window_start is None:
            self._window_start = sample.started
        self._count += 1
        self._latency_sum += sample.latency
        # Slow start only asks "did doubling help?", which one round answers; later steps are finer.
        rounds = 1 if self.slow_start else self.window_rounds
        if self._count < max(self.min_window_samples, rounds * self._limit):
            return
        elapsed = sample.finished - self._window_start
        saturated = self._saturated
        count, latency = self._count, self._latency_sum / self._count
        self._reset_window(sample.finished)
        if elapsed <= 0 or not saturated:
            return
        self._decide(count / elapsed, latency, sample.finished)

    def __repr__(self) -> str:
        return f"AdaptivePolicy(limit={self._limit}, minimum={self.minimum}, maximum={self.maximum})"

    # ---- decisions
    def _clamp(self, value: float) -> int:
        return max(self.minimum, min(self.maximum, int(value)))

    def _reset_window(self, now: float | None, settle: int = 0) -> None:
        self._window_start = None if settle else now
        self._settle = settle
        self._count = 0
        self._latency_sum = 0.0
        self._saturated = False

    def _set(self, value: float, now: float, reason: str) -> None:
        new = self._clamp(value)
        old = self._limit
        if new != old:
            self._limit = new
            self.history.append((now, new, reason))
        # The next window measures the new limit only, once what the old one admitted has finished.
        self._reset_window(now, settle=old if new != old else 0)

    def _step(self) -> int:
        return max(1, round(self._limit / 8))

    def _decrease(self, now: float) -> None:
        self._last_decrease = now
        self.slow_start = False
        self._baseline = None
        self._probe_from = None
        self._hold = self._next_hold
        self._next_hold = min(self.max_hold, self._next_hold * 2)
        self._probe_down_next = False
        self._ceiling = self._limit
        # ceil, and at least one less: small limits must not collapse (5 -> 4, not 3).
        self._set(min(self._limit - 1, math.ceil(self._limit * self.backoff)), now, "overloaded")

    def _decide(self, throughput: float, latency: float, now: float) -> None:
        self._min_latency = min(self._min_latency, latency)
        current = _Level(self._limit, throughput, latency)
        base = self._baseline
        if base is None:
            self._baseline = current
            if self.slow_start and self._limit < self.maximum:
                self._probe_from = self._limit
                self._set(self._limit * 2, now, "slow start")
            return
        if self.slow_start:
            if throughput >= base.throughput * self.growth_threshold and self._probe_from is not None:
                self._baseline = current
                if self._limit < self.maximum:
                    self._probe_from = self._limit
                    self._set(self._limit * 2, now, "slow start")
                else:
                    self.slow_start = False
                    self._probe_from = None
                return
            # Doubling did not pay: the endpoint's parallelism is below this limit.
            self.slow_start = False
            back_to = self._probe_from if self._probe_from is not None else self._limit
            self._probe_from = None
            self._hold = 1
            self._probe_down_next = latency > self._min_latency * self.queueing_ratio
            self._set(back_to, now, "throughput stopped growing")
            return
        if self._probe_from is not None:
            self._finish_probe(current, base, now)
            return
        # Holding at the baseline level: refresh its figures, then probe when the hold is over.
        base.throughput = (base.throughput + throughput) / 2
        base.latency = (base.latency + latency) / 2
        self._hold -= 1
        if self._hold > 0:
            return
        queueing = latency > self._min_latency * self.queueing_ratio
        if (self._probe_down_next or queueing) and self._limit > self.minimum:
            self._probe_from = self._limit
            self._set(self._limit - self._step(), now, "probe down")
        elif self._limit < self.maximum:
            self._probe_from = self._limit
            self._set(self._limit + self._step(), now, "probe up")
        else:
            self._hold = self._next_hold

    def _finish_probe(self, current: _Level, base: _Level, now: float) -> None:
        start = self._probe_from
        assert start is not None
        self._probe_from = None
        if current.limit > start:
            # Worth keeping when throughput grew by at least a third of the relative limit increase.
            wanted = 1 + (current.limit / start - 1) / 3
            if current.throughput >= base.throughput * wanted:
                self._baseline = current
                if self._ceiling is not None and self._limit >= self._ceiling:
                    self._ceiling = None  # the overload is behind us
                if self._ceiling is None:
                    self._next_hold = 1
                if self._limit >= self.maximum or (
                    self._ceiling is not None and self._limit + self._step() >= self._ceiling
                ):
                    self._hold = self._next_hold
                    self._reset_window(now)
                else:
                    self._probe_from = self._limit
                    self._set(self._limit + self._step(), now, "probe up")
                return
            self._probe_down_next = True
        else:
            # A lower limit that serves (nearly) as much is better: less queueing, lower latency.
            if current.throughput >= base.throughput * 0.97:
                self._baseline = current
                self._hold = 1
                self._probe_down_next = True
                self._reset_window(now)
                return
            self._probe_down_next = False
        self._hold = self._next_hold
        self._next_hold = min(self.max_hold, self._next_hold * 2)
        self._set(start, now, "probe did not pay")


# ------------------------------------------------------------------------------------------ waiting
class Permit:
    """One request slot; set :attr:`overloaded` before leaving the block when the endpoint said so.

    Attributes:
        started: Clock time the slot was granted.
        overloaded: Report the request as a sign of overload (HTTP 429, timeout).
        ignore: Leave this request out of the measurements (e.g. a ``GET /info``).
    """

    __slots__ = ("ignore", "overloaded", "started")

    def __init__(self, started: float) -> None:
        self.started = started
        self.overloaded = False
        self.ignore = False


class _Waiter:
    __slots__ = ("event", "future", "granted", "loop")

    def __init__(
        self,
        event: threading.Event | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        future: asyncio.Future[None] | None = None,
    ) -> None:
        self.event = event
        self.loop = loop
        self.future = future
        self.granted = False


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class ConcurrencyLimiter:
    """At most ``policy.limit`` requests in flight, across threads and asyncio tasks, first come first served.

    Example:
        >>> limiter = ConcurrencyLimiter(AdaptivePolicy())
        >>> with limiter.slot() as permit:  # doctest: +SKIP
        ...     response = http.post(...)
        ...     permit.overloaded = response.status_code == 429

    Args:
        policy: Decides the limit (:class:`AdaptivePolicy` or :class:`FixedPolicy`).
        clock: Monotonic clock.
    """

    def __init__(self, policy: LimitPolicy, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        self._in_flight = 0
        self._waiters: deque[_Waiter] = deque()

    @property
    def limit(self) -> int:
        """Requests allowed in flight now."""
        return self.policy.limit

    @property
    def in_flight(self) -> int:
        """Requests holding a slot now."""
        return self._in_flight

    def __repr__(self) -> str:
        return f"ConcurrencyLimiter(limit={self.limit}, in_flight={self._in_flight})"

    # ---- sync
    def slot(self) -> contextlib.AbstractContextManager[Permit]:
        """Hold one request slot (blocking the thread until one is free)."""
        return _Slot(self)

    def _acquire(self) -> Permit:
        waiter: _Waiter | None = None
        with self._lock:
            if not self._waiters and self._in_flight < self.policy.limit:
                self._take()
            else:
                waiter = _Waiter(event=threading.Event())
                self._waiters.append(waiter)
        if waiter is not None:
            assert waiter.event is not None
            try:
                waiter.event.wait()
            except BaseException:
                self._abandon(waiter)
                raise
        return Permit(self._clock())

    # ---- async
    def aslot(self) -> contextlib.AbstractAsyncContextManager[Permit]:
        """Hold one request slot (suspending the task until one is free)."""
        return _Slot(self)

    async def _aacquire(self) -> Permit:
        waiter: _Waiter | None = None
        with self._lock:
            if not self._waiters and self._in_flight < self.policy.limit:
                self._take()
            else:
                loop = asyncio.get_running_loop()
                waiter = _Waiter(loop=loop, future=loop.create_future())
                self._waiters.append(waiter)
        if waiter is not None:
            assert waiter.future is not None
            try:
                await waiter.future
            except BaseException:  # cancelled while waiting: give the slot back if it was granted
                self._abandon(waiter)
                raise
        return Permit(self._clock())

    # ---- shared
    def _release(self, permit: Permit, *, failed: bool) -> None:
        finished = self._clock()
        with self._lock:
            self._in_flight -= 1
            if not (failed or permit.ignore):
                self.policy.on_sample(Sample(permit.started, finished, permit.overloaded))
            wake = self._grant_locked()
        self._wake(wake)

    def _take(self) -> None:
        self._in_flight += 1
        self.policy.on_acquire(in_flight=self._in_flight, waiting=len(self._waiters), now=self._clock())

    def _grant_locked(self) -> list[_Waiter]:
        granted: list[_Waiter] = []
        while self._waiters and self._in_flight < self.policy.limit:
            waiter = self._waiters.popleft()
            waiter.granted = True
            self._take()
            granted.append(waiter)
        return granted

    def _wake(self, waiters: list[_Waiter]) -> None:
        for waiter in waiters:
            if waiter.event is not None:
                waiter.event.set()
                continue
            assert waiter.loop is not None and waiter.future is not None
            try:
                waiter.loop.call_soon_threadsafe(_resolve, waiter.future)
            except RuntimeError:  # its loop is closed: nobody will use the slot
                self._abandon(waiter)

    def _abandon(self, waiter: _Waiter) -> None:
        with self._lock:
            if waiter.granted:
                waiter.granted = False
                self._in_flight -= 1
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            wake = self._grant_locked()
        self._wake(wake)


class _Slot:
    """One request slot: ``with limiter.slot()`` / ``async with limiter.aslot()``.

    A plain object rather than a generator-based context manager, which would cost a generator (async: an async
    generator registered with the loop) per request.
    """

    __slots__ = ("_limiter", "_permit")

    def __init__(self, limiter: ConcurrencyLimiter) -> None:
        self._limiter = limiter
        self._permit: Permit | None = None

    def __enter__(self) -> Permit:
        self._permit = self._limiter._acquire()
        return self._permit

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        assert self._permit is not None
        self._limiter._release(self._permit, failed=exc_type is not None)

    async def __aenter__(self) -> Permit:
        self._permit = await self._limiter._aacquire()
        return self._permit

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        assert self._permit is not None
        self._limiter._release(self._permit, failed=exc_type is not None)
