"""TESTING TOOL: inject HTTP faults in front of any ASGI app (the local endpoint or Pinecone server).

This module exists to prove, over real loopback HTTP, that clients survive what real services and proxies
do: throttling, 5xx, proxy error pages, connections dropped mid-response, responses slower than the client's
timeout, garbage bodies and cold starts. It is not meant for production traffic.

Example:
    >>> from hf_pinecone.local.faults import Fault, FaultPlan
    >>> plan = FaultPlan([Fault.UNAVAILABLE, Fault.RESET], rate=0.1, seed=7, methods={"POST"})
    >>> # with serve_endpoint(faults=plan) as url: ...   (or FaultInjector(create_pinecone_app(), plan))
    >>> plan.stats.injected  # doctest: +SKIP
    {'503': 1, 'reset': 1, '429': 37, ...}

Decision order for each request (see :meth:`FaultPlan.decide`): requests are counted in ``stats.requests``;
if the plan is disabled or the request does not match the filter it passes through; otherwise a cold-start
window answers 503; then the next scripted entry (a :class:`Fault`, or ``None`` to pass) is used; once the
script is spent, a fault is drawn at ``rate`` from ``kinds`` with a seeded RNG.

Faults and what a client observes:

- ``Fault.RATE_LIMIT``: ``429`` with ``Retry-After`` and TEI's ``Overloaded`` body. The app is not called.
- ``Fault.SERVER_ERROR``, ``Fault.UNAVAILABLE``: ``500`` / ``503`` JSON error. The app is not called.
- ``Fault.BAD_GATEWAY``, ``Fault.GATEWAY_TIMEOUT``: ``502`` / ``504`` HTML page, as a proxy sends. Not called.
- ``Fault.RESET``: the app runs (its side effects happen), the status line, headers and half the body are
  sent, then the connection is closed: the client sees a protocol/read error (``httpx.RemoteProtocolError``).
- ``Fault.SLOW``: the request waits ``slow_seconds`` (or until the client gives up and disconnects) before the
  app runs: a client with a shorter timeout sees a read timeout.
- ``Fault.TRUNCATED``: the app runs; its status and headers are kept and its body is cut in half, with a
  matching ``Content-Length``: a complete HTTP response whose body is not valid JSON.
- ``Fault.NON_JSON``: ``200`` with an HTML page (a captive portal or misrouted proxy). The app is not called.
- ``Fault.COLD_START``: ``503`` while the cold-start window is open (see ``cold_start_seconds`` /
  ``cold_start_requests``); only counted in stats, not meant for ``script``/``kinds``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DEFAULT_KINDS", "Fault", "FaultInjector", "FaultPlan", "FaultStats", "InjectedConnectionReset"]

_Headers = list[tuple[bytes, bytes]]


class Fault(str, Enum):
    """A kind of fault (the value is the key used in :attr:`FaultStats.injected`)."""

    RATE_LIMIT = "429"
    SERVER_ERROR = "500"
    BAD_GATEWAY = "502"
    UNAVAILABLE = "503"
    GATEWAY_TIMEOUT = "504"
    RESET = "reset"
    SLOW = "slow"
    TRUNCATED = "truncated"
    NON_JSON = "non_json"
    COLD_START = "cold_start"


DEFAULT_KINDS: tuple[Fault, ...] = (
    Fault.RATE_LIMIT,
    Fault.SERVER_ERROR,
    Fault.BAD_GATEWAY,
    Fault.UNAVAILABLE,
    Fault.GATEWAY_TIMEOUT,
    Fault.RESET,
    Fault.TRUNCATED,
    Fault.NON_JSON,
)
"""The random mix used when ``kinds`` is not given: every fault a retrying client should survive quickly
(``SLOW`` is left out because it costs a full client timeout each time)."""


class InjectedConnectionReset(Exception):
    """Raised inside the server to make it drop the connection mid-response (:attr:`Fault.RESET`)."""


@dataclass(frozen=True)
class FaultStats:
    """A consistent snapshot of a plan's counters.

    Attributes:
        requests: HTTP requests seen by the injector (matching the filter or not, enabled or not).
        matched: Requests that matched the filter while the plan was enabled.
        injected: Faults injected, by :class:`Fault` value (``"429"``, ``"reset"``, ``"cold_start"``, ...).
    """

    requests: int = 0
    matched: int = 0
    injected: dict[str, int] = field(default_factory=dict)

    @property
    def total_injected(self) -> int:
        """All faults injected, of every kind."""
        return sum(self.injected.values())

    @property
    def passed(self) -> int:
        """Requests passed to the app untouched (``requests - total_injected``)."""
        return self.requests - self.total_injected


def _as_fault(value: Fault | str) -> Fault:
    try:
        return value if isinstance(value, Fault) else Fault(value)
    except ValueError:
        names = ", ".join(f.value for f in Fault)
        raise ValueError(f"unknown fault {value!r}; expected one of: {names}") from None


class FaultPlan:
    """Which requests get which fault; thread-safe, and changeable while a server uses it.

    Args:
        script: Faults for the 1st, 2nd, ... matching request (``None`` entries pass through), used before
            any random fault. More can be appended later with :meth:`schedule`.
        rate: Probability in ``[0, 1]`` that a matching request (after the script) gets a random fault.
        kinds: The random mix: a collection of faults (equal weights) or a mapping fault -> weight.
        seed: Seed of the RNG used for random faults (``None``: unseeded).
        methods: Only requests with these HTTP methods match (e.g. ``{"POST"}``); ``None``: all.
        paths: Only requests whose path starts with one of these prefixes match; ``None``: all.
        path_regex: Only requests whose path matches this regular expression (``re.search``) match.
        cold_start_seconds: Answer 503 to every matching request for this many seconds after the first one.
        cold_start_requests: Answer 503 to the first N matching requests.
        retry_after: Seconds sent in ``Retry-After`` with 429 (``None``: no header). Floats are sent as is.
        slow_seconds: How long :attr:`Fault.SLOW` holds a request (longer than the client's timeout).
        enabled: Start enabled; flip :attr:`enabled` at runtime to stop or resume injecting.
        clock: Monotonic clock (seconds) for the cold-start window.
    """

    def __init__(
        self,
        script: Iterable[Fault | str | None] = (),
        *,
        rate: float = 0.0,
        kinds: Collection[Fault | str] | Mapping[Fault | str, float] = DEFAULT_KINDS,
        seed: int | None = 0,
        methods: Collection[str] | None = None,
        paths: Collection[str] | None = None,
        path_regex: str | None = None,
        cold_start_seconds: float = 0.0,
        cold_start_requests: int = 0,
        retry_after: float | None = 1,
        slow_seconds: float = 30.0,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._script: list[Fault | None] = [None if f is None else _as_fault(f) for f in script]
        self._script_pos = 0
        self._rng = random.Random(seed)
        self._kinds: list[Fault] = []
        self._weights: list[float] = []
        self._rate = 0.0
        self.set_rate(rate, kinds)
        self._methods = None if methods is None else frozenset(m.upper() for m in methods)
        self._paths = None if paths is None else tuple(paths)
        self._path_regex = None if path_regex is None else re.compile(path_regex)
        if cold_start_seconds < 0 or cold_start_requests < 0:
            raise ValueError("cold_start_seconds and cold_start_requests must be >= 0")
        self._cold_seconds = float(cold_start_seconds)
        self._cold_requests_left = int(cold_start_requests)
        self._cold_opened_at: float | None = None
        self.retry_after = retry_after
        self.slow_seconds = slow_seconds
        self._enabled = enabled
        self._clock = clock
        self._requests = 0
        self._matched = 0
        self._injected: Counter[str] = Counter()

    # ---- runtime controls

    @property
    def enabled(self) -> bool:
        """Whether faults are injected; ``False`` lets every request through (counters keep counting)."""
        with self._lock:
            return self._enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        with self._lock:
            self._enabled = bool(value)

    def set_rate(
        self, rate: float, kinds: Collection[Fault | str] | Mapping[Fault | str, float] | None = None
    ) -> None:
        """Change the random fault rate and optionally the mix (as in the constructor)."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be between 0 and 1, got {rate}")
        new_kinds, new_weights = self._kinds, self._weights
        if kinds is not None:
            if isinstance(kinds, Mapping):
                pairs = [(_as_fault(k), float(w)) for k, w in kinds.items()]
            else:
                pairs = [(_as_fault(k), 1.0) for k in kinds]
            if not pairs or any(w < 0 for _, w in pairs) or sum(w for _, w in pairs) <= 0:
                raise ValueError("kinds must name at least one fault with a positive weight")
            new_kinds, new_weights = [k for k, _ in pairs], [w for _, w in pairs]
        with self._lock:
            self._rate = float(rate)
            self._kinds, self._weights = new_kinds, new_weights

    def schedule(self, *faults: Fault | str | None) -> None:
        """Append scripted faults: they apply to the next matching requests once earlier entries are used."""
        converted = [None if f is None else _as_fault(f) for f in faults]
        with self._lock:
            self._script.extend(converted)

    def start_cold_start(self, seconds: float = 0.0, requests: int = 0) -> None:
        """Open a new cold-start window (as if scaled to zero again), from the next matching request."""
        with self._lock:
            self._cold_seconds = float(seconds)
            self._cold_requests_left = int(requests)
            self._cold_opened_at = None

    @property
    def stats(self) -> FaultStats:
        """A snapshot of the counters (requests seen, matched, faults injected by kind)."""
        with self._lock:
            return FaultStats(self._requests, self._matched, dict(self._injected))

    def reset_stats(self) -> None:
        """Zero the counters (the script position and cold-start state are kept)."""
        with self._lock:
            self._requests = self._matched = 0
            self._injected.clear()

    def wait_for_requests(self, n: int, timeout: float | None = None) -> bool:
        """Block until at least ``n`` requests were seen; return whether that happened within ``timeout``."""
        with self._changed:
            return self._changed.wait_for(lambda: self._requests >= n, timeout)

    # ---- decision

    def matches(self, method: str, path: str) -> bool:
        """Whether a request is subject to faults (method and path filters)."""
        if self._methods is not None and method.upper() not in self._methods:
            return False
        if self._paths is not None and not path.startswith(self._paths):
            return False
        return self._path_regex is None or self._path_regex.search(path) is not None

    def decide(self, method: str, path: str) -> Fault | None:
        """Count one request and choose its fault (``None``: pass through). Called once per request."""
        matches = self.matches(method, path)
        with self._changed:
            self._requests += 1
            fault = self._decide_locked(matches)
            if fault is not None:
                self._injected[fault.value] += 1
            self._changed.notify_all()
            return fault

    def _decide_locked(self, matches: bool) -> Fault | None:
        if not self._enabled or not matches:
            return None
        self._matched += 1
        if self._cold_requests_left > 0:
            self._cold_requests_left -= 1
            return Fault.COLD_START
        if self._cold_seconds > 0:
            now = self._clock()
            if self._cold_opened_at is None:
                self._cold_opened_at = now
            if now < self._cold_opened_at + self._cold_seconds:
                return Fault.COLD_START
        if self._script_pos < len(self._script):
            self._script_pos += 1
            return self._script[self._script_pos - 1]
        if self._rate > 0 and self._rng.random() < self._rate:
            return self._rng.choices(self._kinds, self._weights)[0]
        return None

    def cold_start_remaining(self) -> float:
        """Seconds left in the current cold-start window (0 when closed or not yet opened)."""
        with self._lock:
            if self._cold_opened_at is None or self._cold_seconds <= 0:
                return 0.0
            return max(0.0, self._cold_opened_at + self._cold_seconds - self._clock())


_HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n"
    b"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
_HTML_504 = (
    b"<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n"
    b"<center><h1>504 Gateway Time-out</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
_HTML_200 = b"<!DOCTYPE html><html><head><title>Welcome</title></head><body><p>It works!</p></body></html>\n"


def _json(status: int, body: dict[str, Any], extra: _Headers | None = None) -> tuple[int, _Headers, bytes]:
    return status, [(b"content-type", b"application/json"), *(extra or [])], json.dumps(body).encode()


class _DropInjectedResets(logging.Filter):
    """Keep uvicorn from logging a traceback for every connection reset injected on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], InjectedConnectionReset))


_LOG_FILTER = _DropInjectedResets()


class FaultInjector:
    """TESTING TOOL: ASGI middleware injecting the faults a :class:`FaultPlan` decides, in front of ``app``.

    Use it as the outermost ASGI app (what uvicorn runs), e.g.
    ``run_in_background(FaultInjector(create_pinecone_app(), plan))`` or ``serve_endpoint(faults=plan)``.
    Non-HTTP scopes (lifespan) pass through untouched.

    Args:
        app: Any ASGI application.
        plan: The plan; it can be changed while the server runs.
    """

    def __init__(self, app: ASGIApp, plan: FaultPlan) -> None:
        self.app = app
        self.plan = plan
        logger = logging.getLogger("uvicorn.error")
        if _LOG_FILTER not in logger.filters:
            logger.addFilter(_LOG_FILTER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        fault = self.plan.decide(scope["method"], scope["path"])
        if fault is None:
            await self.app(scope, receive, send)
        elif fault is Fault.RESET:
            await self._reset(scope, receive, send)
        elif fault is Fault.TRUNCATED:
            await self._truncated(scope, receive, send)
        elif fault is Fault.SLOW:
            await self._slow(scope, receive, send)
        else:
            status, headers, body = self._canned(fault)
            await _respond(send, status, headers, body)

    def _canned(self, fault: Fault) -> tuple[int, _Headers, bytes]:
        if fault is Fault.RATE_LIMIT:
            extra = []
            if self.plan.retry_after is not None:
                extra.append((b"retry-after", f"{self.plan.retry_after:g}".encode()))
            return _json(429, {"error": "Model is overloaded", "error_type": "Overloaded"}, extra)
        if fault is Fault.SERVER_ERROR:
            return _json(500, {"error": "Internal Server Error (injected fault)", "error_type": "Backend"})
        if fault is Fault.UNAVAILABLE:
            return _json(503, {"error": "Service Unavailable (injected fault)", "error_type": "Unhealthy"})
        if fault is Fault.COLD_START:
            remaining = self.plan.cold_start_remaining()
            body = {
                "error": "Service Unavailable: the endpoint is starting (cold start)",
                "estimated_time": remaining,
            }
            return _json(503, body)
        if fault is Fault.BAD_GATEWAY:
            return 502, [(b"content-type", b"text/html")], _HTML_502
        if fault is Fault.GATEWAY_TIMEOUT:
            return 504, [(b"content-type", b"text/html")], _HTML_504
        return 200, [(b"content-type", b"text/html; charset=utf-8")], _HTML_200

    async def _captured(self, scope: Scope, receive: Receive) -> tuple[Message, bytes]:
        """Run the app and collect its whole response."""
        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        if not start:
            start = {"type": "http.response.start", "status": 500, "headers": []}
        return start, b"".join(chunks)

    async def _reset(self, scope: Scope, receive: Receive, send: Send) -> None:
        start, body = await self._captured(scope, receive)
        # Announce the full length (at least 1 byte) so that whatever is sent is visibly incomplete.
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(max(len(body), 1)).encode()))
        await send({"type": "http.response.start", "status": start["status"], "headers": headers})
        await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
        # uvicorn closes the transport when the app raises after the response started; the filter above
        # keeps this deliberate failure out of the logs.
        raise InjectedConnectionReset("connection reset injected by FaultInjector")

    async def _truncated(self, scope: Scope, receive: Receive, send: Send) -> None:
        start, body = await self._captured(scope, receive)
        cut = body[: len(body) // 2]
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(cut)).encode()))
        await _respond(send, start["status"], headers, cut)

    async def _slow(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Read the body first so that the client's request is complete and only the response is late.
        buffered: list[Message] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            buffered.append(message)
            if not message.get("more_body", False):
                break
        # After the body, receive() only returns when the client disconnects: stop waiting then, so that
        # a timed-out client does not leave a task sleeping in the server (it would delay shutdown).
        watcher = asyncio.ensure_future(receive())
        done, _ = await asyncio.wait({watcher}, timeout=self.plan.slow_seconds)
        if done:
            return
        watcher.cancel()

        async def replay() -> Message:
            if buffered:
                return buffered.pop(0)
            result: Message = await receive()
            return result

        await self.app(scope, replay, send)


async def _respond(send: Send, status: int, headers: _Headers, body: bytes) -> None:
    headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
