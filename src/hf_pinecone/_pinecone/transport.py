"""Thin sync and async HTTP transports for Pinecone's planes, each with exactly one retry loop.

Both send :class:`~hf_pinecone._pinecone.protocol.Request` objects over one pooled httpx2 client and leave
every decision (result, retry, which error) to :mod:`hf_pinecone._pinecone.protocol`; they differ only in how
they wait. One request, against a server that keeps failing, is sent exactly ``retry.max_retries + 1`` times,
then raises a :class:`~hf_pinecone.errors.PineconeRequestError` subclass; no exception of httpx2 escapes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from typing import Any

import httpx2

from hf_pinecone._pinecone import protocol
from hf_pinecone._pinecone.protocol import Failure, Request
from hf_pinecone._retry import RetryPolicy
from hf_pinecone._tls import default_ssl_context

__all__ = ["AsyncTransport", "SyncTransport", "Transport"]

logger = logging.getLogger("hf_pinecone.store")

DEFAULT_TIMEOUT = 60.0
# Transient: no answer arrived, or the connection broke mid-answer. Not transient: a URL the client cannot
# use (UnsupportedProtocol, LocalProtocolError), which no retry fixes.
_TRANSIENT: tuple[type[BaseException], ...] = (
    httpx2.NetworkError,
    httpx2.TimeoutException,
    httpx2.RemoteProtocolError,
    httpx2.ProxyError,
)


class Transport:
    """What both transports share: the base URL, the headers (with the key), the retry policy.

    Args:
        host: Base URL of the plane (``https://`` is added when there is no scheme).
        api_key: The Pinecone API key (kept out of every repr, log line and error).
        retry: Retry policy for 429/5xx and transport failures.
        timeout: Seconds per request.
    """

    def __init__(self, host: str, api_key: str, *, retry: RetryPolicy | None = None, timeout: float = DEFAULT_TIMEOUT):
        self.base = protocol.base_url(host)
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self._headers = protocol.headers(api_key)
        self._secrets = (api_key,)

    def __repr__(self) -> str:  # never show the headers: they hold the API key
        return f"{type(self).__name__}({self.base!r})"

    def _client_options(self) -> dict[str, Any]:
        return {"headers": self._headers, "timeout": self.timeout, "verify": default_ssl_context()}

    def _outcome(self, request: Request, response: httpx2.Response) -> Any:
        return protocol.interpret(
            request,
            response.status_code,
            response.headers.get,
            response.content,
            host=self.base,
            policy=self.retry,
            secrets=self._secrets,
        )

    def _failure(self, request: Request, exc: httpx2.HTTPError) -> Failure:
        return protocol.transport_failure(request, exc, host=self.base, retryable=isinstance(exc, _TRANSIENT))

    def _give_up_or_wait(self, request: Request, failure: Failure, attempt: int) -> float:
        delay = protocol.next_delay(self.retry, failure, attempt)
        if delay is None:
            raise failure.error(request, self.base, attempt + 1) from None
        logger.warning(
            "Pinecone %s failed (%s); retry %d/%d in %.2fs",
            request.operation,
            f"HTTP {failure.status_code}" if failure.status_code is not None else failure.message,
            attempt + 1,
            self.retry.max_retries,
            delay,
        )
        return delay


class SyncTransport(Transport):
    """Blocking transport: one thread-safe pooled ``httpx2.Client``."""

    def __init__(self, host: str, api_key: str, *, retry: RetryPolicy | None = None, timeout: float = DEFAULT_TIMEOUT):
        super().__init__(host, api_key, retry=retry, timeout=timeout)
        self._lock = threading.Lock()
        self._client: httpx2.Client | None = None

    def _http(self) -> httpx2.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx2.Client(**self._client_options())
            return self._client

    def send(self, request: Request) -> Any:
        """Send ``request`` until it succeeds or the policy gives up; return the answer's JSON.

        Raises:
            PineconeRequestError: A subclass saying why (auth, not found, unavailable, bad answer).
        """
        attempt = 0
        while True:
            try:
                response = self._http().request(request.method, self.base + request.path, content=request.body)
            except httpx2.HTTPError as exc:
                outcome: Any = self._failure(request, exc)
            else:
                outcome = self._outcome(request, response)
            if not isinstance(outcome, Failure):
                return outcome
            time.sleep(self._give_up_or_wait(request, outcome, attempt))
            attempt += 1

    def close(self) -> None:
        """Close the connection pool (a later call opens a new one)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()


class AsyncTransport(Transport):
    """Asyncio transport: one ``httpx2.AsyncClient`` per event loop (a pool belongs to the loop that opened it)."""

    def __init__(self, host: str, api_key: str, *, retry: RetryPolicy | None = None, timeout: float = DEFAULT_TIMEOUT):
        super().__init__(host, api_key, retry=retry, timeout=timeout)
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx2.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )

    def _http(self) -> httpx2.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = httpx2.AsyncClient(**self._client_options())
            self._clients[loop] = client
        return client

    async def send(self, request: Request) -> Any:
        """Async :meth:`SyncTransport.send`."""
        attempt = 0
        while True:
            try:
                response = await self._http().request(request.method, self.base + request.path, content=request.body)
            except httpx2.HTTPError as exc:
                outcome: Any = self._failure(request, exc)
            else:
                outcome = self._outcome(request, response)
            if not isinstance(outcome, Failure):
                return outcome
            await asyncio.sleep(self._give_up_or_wait(request, outcome, attempt))
            attempt += 1

    async def aclose(self) -> None:
        """Close the running loop's connection pool."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()
