"""The local endpoint's state (``app.state.endpoint``): its configuration, counters, and admission rules.

Admission follows TEI (huggingface/text-embeddings-inference, core/src/infer.rs and router/src/http/server.rs):
one semaphore of ``max_concurrent_requests`` permits, **one permit per input**. A request with a single input
takes its permit with ``try_acquire_permit`` and is answered ``429 Overloaded`` when none is free; each input
of a batch waits for its permit (``acquire_permit().await``), so batches queue instead of failing. Inputs that
hold a permit are embedded while the rest of their batch waits, as TEI's per-input futures are.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.concurrency import run_in_threadpool

from hf_pinecone.local._endpoint_embedders import Embedder
from hf_pinecone.local._endpoint_wire import ApiError
from hf_pinecone.local._runner import drop_frames

__all__ = ["EndpointState", "EndpointStats", "Flavor", "Timings", "compute_error"]

Flavor = Literal["toolkit", "tei"]
"""``toolkit``: the inference toolkit's routes at ``/`` plus TEI's and OpenAI's; ``tei``: TEI's routes only."""


class EndpointStats:
    """Live counters of one endpoint app, at ``app.state.stats`` (thread-safe; read the attributes directly).

    Attributes:
        requests: Embedding requests received (every route that embeds, whatever the outcome).
        served: Embedding requests answered 200.
        inputs: Inputs embedded in served requests.
        overloaded: Requests answered ``429 Overloaded`` (a single input with no permit free).
        in_flight: Requests being served (their inputs holding or waiting for permits).
        active: Model calls holding a replica (simulated delay or model call).
        permits: Inputs holding one of the ``max_concurrent_requests`` permits.
        max_in_flight: Highest ``in_flight`` seen.
        max_active: Highest ``active`` seen (never above ``replicas``).
        max_permits: Highest ``permits`` seen (never above ``max_concurrent_requests``).
    """

    _FIELDS = (
        "requests",
        "served",
        "inputs",
        "overloaded",
        "in_flight",
        "active",
        "permits",
        "max_in_flight",
        "max_active",
        "max_permits",
    )

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.requests = 0
        self.served = 0
        self.inputs = 0
        self.overloaded = 0
        self.in_flight = 0
        self.active = 0
        self.permits = 0
        self.max_in_flight = 0
        self.max_active = 0
        self.max_permits = 0

    def _update(self, **deltas: int) -> None:
        with self._cond:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.max_active = max(self.max_active, self.active)
            self.max_permits = max(self.max_permits, self.permits)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[EndpointStats], bool], timeout: float | None = None) -> bool:
        """Block until ``predicate(self)`` holds; return whether it did within ``timeout`` seconds."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    def __repr__(self) -> str:
        return "EndpointStats(" + ", ".join(f"{f}={getattr(self, f)}" for f in self._FIELDS) + ")"


class _Permits:
    """TEI's ``limit_concurrent_requests`` semaphore, taken a few inputs at a time.

    No hold-and-wait deadlock: inputs that got a permit run and release it while the others wait. Only the
    event loop's thread uses it.
    """

    def __init__(self, total: int) -> None:
        self.free = total
        self._waiters: list[asyncio.Future[None]] = []

    def try_take(self) -> bool:
        if self.free < 1:
            return False
        self.free -= 1
        return True

    async def take_up_to(self, wanted: int) -> int:
        while self.free < 1:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        got = min(wanted, self.free)
        self.free -= got
        return got

    def give(self, count: int) -> None:
        """Return permits (synchronous: called from a task's done-callback, even for a task cancelled unstarted)."""
        self.free += count
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


@dataclass
class _LoopLimits:
    """asyncio primitives of one event loop (made lazily: the app may be served by several loops in turn)."""

    loop: asyncio.AbstractEventLoop
    permits: _Permits
    replicas: asyncio.Semaphore | None


@dataclass
class Timings:
    """Seconds spent waiting and computing, summed over a request's model calls (TEI's timing headers)."""

    queue: float = 0.0
    inference: float = 0.0


@dataclass
class EndpointState:
    """Everything the route handlers read (``request.app.state.endpoint``)."""

    embedder: Embedder
    stats: EndpointStats
    flavor: Flavor
    model_id: str
    max_batch_size: int
    max_concurrent_requests: int
    max_payload_bytes: int
    delay: float
    per_item_delay: float
    replicas: int | None
    owns_embedder: bool
    _limits: list[_LoopLimits] = field(default_factory=list)

    def limits(self) -> _LoopLimits:
        loop = asyncio.get_running_loop()
        if not self._limits or self._limits[0].loop is not loop:
            sem = None if self.replicas is None else asyncio.Semaphore(self.replicas)
            self._limits[:] = [_LoopLimits(loop, _Permits(self.max_concurrent_requests), sem)]
        return self._limits[0]

    async def compute(self, count: int, single: bool, work: Callable[[int, int], Any]) -> tuple[list[Any], Timings]:
        """Run ``work(start, stop)`` over the ``count`` inputs under TEI's permits; results in input order.

        Raises:
            ApiError: 429 Overloaded for a single input without a free permit; the mapped error of ``work``.
        """
        lim = self.limits()
        if single and not lim.permits.try_take():
            # server.rs `embed`, `Input::Single`: infer.try_acquire_permit() -> TextEmbeddingsError::Overloaded.
            self.stats._update(overloaded=1)
            raise ApiError("Overloaded", "Model is overloaded")
        self.stats._update(in_flight=1)
        timings = Timings()
        tasks: list[asyncio.Task[Any]] = []
        try:
            start = 0
            if single:
                tasks.append(self._start_chunk(lim, work, 0, 1, timings))
                start = 1
            while start < count:
                got = await lim.permits.take_up_to(count - start)
                tasks.append(self._start_chunk(lim, work, start, start + got, timings))
                start += got
            results = await asyncio.gather(*tasks, return_exceptions=True)
        except BaseException:
            for task in tasks:
                task.cancel()
            raise
        finally:
            self.stats._update(in_flight=-1)
        for result in results:  # TEI's join_all: the first error in input order
            if isinstance(result, BaseException):
                raise result
        return results, timings

    def _start_chunk(
        self, lim: _LoopLimits, work: Callable[[int, int], Any], start: int, stop: int, timings: Timings
    ) -> asyncio.Task[Any]:
        """Run inputs ``start:stop``, which hold permits already; the permits go back when the task ends."""
        n = stop - start
        self.stats._update(permits=n)
        task = asyncio.ensure_future(self._run_chunk(lim, work, start, stop, timings))

        def release(_: asyncio.Task[Any]) -> None:
            self.stats._update(permits=-n)
            lim.permits.give(n)

        task.add_done_callback(release)
        return task

    async def _run_chunk(
        self, lim: _LoopLimits, work: Callable[[int, int], Any], start: int, stop: int, timings: Timings
    ) -> Any:
        queued_at = time.perf_counter()
        async with lim.replicas if lim.replicas is not None else contextlib.nullcontext():
            self.stats._update(active=1)
            began = time.perf_counter()
            try:
                # `delay` is per request (network round trip plus fixed cost): charged to its first inputs only,
                # so that a batch split by the permits costs what it cost whole (capacity stays
                # replicas * batch / (delay + per_item_delay * batch)).
                simulated = (self.delay if start == 0 else 0.0) + self.per_item_delay * (stop - start)
                if simulated > 0:
                    await asyncio.sleep(simulated)
                return await run_in_threadpool(work, start, stop)
            except Exception as exc:
                drop_frames(exc)  # the worker's frames (holding the request's texts) would sit in a cycle
                raise compute_error(exc) from None  # not bound to a local: that would be a cycle too
            finally:
                self.stats._update(active=-1)
                timings.queue += began - queued_at
                timings.inference += time.perf_counter() - began


def compute_error(exc: BaseException) -> ApiError:
    """What TEI answers when tokenizing or embedding raised ``exc`` (never a 500).

    core/src/lib.rs ``TextEmbeddingsError``: Empty and Validation errors read "Input validation error: ...",
    tokenizer errors "tokenizer error ...", backend errors "Backend error: ...".
    """
    from hf_pinecone.local._endpoint_embedders import EmptyInputError, InputValidationError, TokenizerError

    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, InputValidationError):
        message = str(exc)
        if not message.startswith("Input validation error: "):
            message = "Input validation error: " + message
        return ApiError("Empty" if isinstance(exc, EmptyInputError) else "Validation", message)
    if isinstance(exc, TokenizerError):
        return ApiError("Tokenizer", str(exc))
    if isinstance(exc, (UnicodeError, TypeError)):
        return ApiError("Tokenizer", f"tokenizer error {exc}")
    return ApiError("Backend", f"Backend error: {type(exc).__name__}: {exc}")
