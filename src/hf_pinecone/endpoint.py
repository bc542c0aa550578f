"""Hugging Face Inference Endpoint client: :class:`EndpointClient` (sync), :class:`AsyncEndpointClient`.

Both are thin transports over :class:`hf_pinecone._protocol.EndpointProtocol`, which holds the one
implementation of batching, retries, cold-start waiting, batch-size learning and bisection. Each client
owns one pooled keep-alive connection pool and a client-wide concurrency limiter.

The HTTP stacks were chosen by measurement (``benchmarks/bench_http_stack.py``, docs/ARCHITECTURE.md): the sync
client sends with httpx2 (httpx's maintained continuation, what huggingface_hub uses), the async client with
aiohttp, which costs several times less CPU per request than httpx/httpx2's async clients and stays flat up to
64 requests in flight (it is installed with ``pinecone[asyncio]`` already). Both are imported when a client is
first built, not when this module is.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, cast

from pydantic import SecretStr

from hf_pinecone import __version__
from hf_pinecone._concurrency import (
    DEFAULT_INITIAL_CONCURRENCY,
    DEFAULT_MAX_CONCURRENCY,
    AdaptivePolicy,
    ConcurrencyLimiter,
    FixedPolicy,
    LimitPolicy,
    Permit,
)
from hf_pinecone._protocol import (
    DEFAULT_BATCH_SIZE,
    MAX_BATCH_BYTES,
    BatchResult,
    Deferred,
    EndpointProtocol,
    Flow,
    Get,
    InfoFlow,
    Outcome,
    Response,
    Send,
    SendOutcome,
    Sleep,
    TransportFailure,
    assemble,
    check_texts,
    check_url,
    classify_error,
    info_url,
    server_message,
)
from hf_pinecone._retry import RetryPolicy, parse_retry_after
from hf_pinecone._tls import default_ssl_context
from hf_pinecone._tokenize import Token, parse_tokens, tokenize_body, tokenize_url
from hf_pinecone.errors import ConfigurationError, EndpointRequestError, EndpointUnavailableError, redact

if TYPE_CHECKING:
    import aiohttp

__all__ = ["AsyncEndpointClient", "EndpointClient", "EndpointConfig", "Token", "resolve_token"]


@dataclass(frozen=True)
class EndpointConfig:
    """Where the endpoint is and how to talk to it.

    Attributes:
        url: Endpoint URL; requests go to ``POST {url}`` (the toolkit/TEI root route, or any embed route).
        token: Bearer token. ``None`` means: ``HF_TOKEN``, else ``HUGGINGFACEHUB_API_TOKEN``, else the token
            saved by ``hf auth login`` (``huggingface_hub.get_token()``), else no token.
        batch_size: Texts per request; None (default) uses the endpoint's ``max_client_batch_size`` from
            ``GET /info`` when it reports one (TEI), else 32; an int is used as given (still lowered on
            413/422). The endpoint's value is capped at 512, probed once (best effort) on the client's
            first embed call, also for OpenAI route URLs (``/info`` is taken from their base); if that
            probe finds the endpoint not up (503, connection error or timeout: scaled to zero, starting),
            it is probed once more right after the first successful embed request. Requests also stay
            under ``max_batch_bytes`` whatever the batch size.
        max_batch_bytes: Request bodies stay strictly below this many bytes (TEI's payload limit).
        max_concurrency: Requests in flight at once, across every call on the client. ``None`` (the
            default) adapts it to the endpoint: it starts at 8, grows while throughput grows with it (up to
            64) and backs off on ``429 Overloaded``, timeouts or requests that only queue up at the endpoint.
            An int fixes it (no adaptation), e.g. to stay within a quota or a known replica count.
        max_adaptive_concurrency: The ceiling of the adapted limit (when ``max_concurrency`` is ``None``): it
            starts at ``min(8, this)`` and never grows above it. For a share of a budget that several clients
            split (Ray/Spark workers), or an endpoint known to queue past some number of requests.
        timeout: Seconds per request.
        retry: Backoff for 429/5xx, connection errors and timeouts.
        cold_start_timeout: Seconds a 503 from a starting (scaled-to-zero) endpoint keeps being retried.
        normalize: Sent as ``normalize`` when set (TEI).
        truncate: Sent as ``truncate`` when set (TEI).
        prompt_name: Sent as ``prompt_name`` when set (TEI, sentence-transformers prompts).
        truncation_direction: Sent as ``truncation_direction`` when set (TEI: ``"Left"`` or ``"Right"``, the side
            cut when ``truncate``).
        allow_insecure_http: Allow sending the token over plain http to a non-loopback host.
    """

    url: str
    token: SecretStr | None = field(default=None, repr=False)
    batch_size: int | None = None
    max_batch_bytes: int = MAX_BATCH_BYTES
    max_concurrency: int | None = None
    max_adaptive_concurrency: int = DEFAULT_MAX_CONCURRENCY
    timeout: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    cold_start_timeout: float = 600.0
    normalize: bool | None = None
    truncate: bool | None = None
    prompt_name: str | None = None
    truncation_direction: str | None = None
    allow_insecure_http: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.token, str):  # convenience: accept a plain string, store it as a secret
            object.__setattr__(self, "token", SecretStr(self.token))
        if self.batch_size is not None and self.batch_size < 1:
            raise ConfigurationError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise ConfigurationError(f"max_concurrency must be >= 1 (or None to adapt it), got {self.max_concurrency}")
        if self.max_adaptive_concurrency < 1:
            raise ConfigurationError(f"max_adaptive_concurrency must be >= 1, got {self.max_adaptive_concurrency}")
        if self.timeout <= 0:
            raise ConfigurationError(f"timeout must be > 0, got {self.timeout}")
        if self.cold_start_timeout < 0:
            raise ConfigurationError(f"cold_start_timeout must be >= 0, got {self.cold_start_timeout}")
        if self.max_batch_bytes < 64:
            raise ConfigurationError(f"max_batch_bytes must be >= 64, got {self.max_batch_bytes}")
        if self.truncation_direction not in (None, "Left", "Right"):
            raise ConfigurationError(
                f"truncation_direction must be 'Left' or 'Right', got {self.truncation_direction!r}"
            )


def resolve_token(token: SecretStr | str | None) -> SecretStr | None:
    """The token to send: the argument, else ``HF_TOKEN``/``HUGGINGFACEHUB_API_TOKEN``, else the saved one."""
    if isinstance(token, str):
        token = SecretStr(token)
    if token is not None and token.get_secret_value():
        return token
    for name in ("HF_TOKEN", "HUGGINGFACEHUB_API_TOKEN"):
        value = os.environ.get(name)
        if value:
            return SecretStr(value)
    try:
        import huggingface_hub

        saved = huggingface_hub.get_token()
    except Exception:  # a broken token file must not prevent talking to a public/local endpoint
        saved = None
    return SecretStr(saved) if saved else None


def _config_from(config: EndpointConfig | str | None, kwargs: dict[str, Any]) -> EndpointConfig:
    max_retries = kwargs.pop("max_retries", None)
    if isinstance(config, str):
        kwargs.setdefault("url", config)
        config = None
    if config is None:
        if "url" not in kwargs:
            raise ConfigurationError("an endpoint URL is required (EndpointClient(url) or EndpointConfig(url=...))")
        config = EndpointConfig(**kwargs)
    elif kwargs:
        config = dataclasses.replace(config, **kwargs)
    if max_retries is not None:
        config = dataclasses.replace(config, retry=dataclasses.replace(config.retry, max_retries=max_retries))
    return config


class _Base:
    """State shared by the sync and async clients (no I/O)."""

    # The sans-IO protocol this client drives (the sparse client's parses TEI's /embed_sparse answers).
    _protocol_class: ClassVar[type[EndpointProtocol]] = EndpointProtocol

    def __init__(self, config: EndpointConfig | str | None, kwargs: dict[str, Any]) -> None:
        self.config = _config_from(config, kwargs)
        token = resolve_token(self.config.token)
        secret = token.get_secret_value() if token else None
        self.url = check_url(
            self.config.url, has_token=secret is not None, allow_insecure_http=self.config.allow_insecure_http
        )
        self._protocol = self._protocol_class(
            url=self.url,
            batch_size=DEFAULT_BATCH_SIZE if self.config.batch_size is None else self.config.batch_size,
            discover_batch_size=self.config.batch_size is None,
            max_batch_bytes=self.config.max_batch_bytes,
            retry=self.config.retry,
            cold_start_timeout=self.config.cold_start_timeout,
            request_timeout=self.config.timeout,
            normalize=self.config.normalize,
            truncate=self.config.truncate,
            prompt_name=self.config.prompt_name,
            truncation_direction=self.config.truncation_direction,
            secrets=(secret,) if secret else (),
        )
        fixed = self.config.max_concurrency
        ceiling = self.config.max_adaptive_concurrency
        policy: LimitPolicy = (
            AdaptivePolicy(initial=min(DEFAULT_INITIAL_CONCURRENCY, ceiling), maximum=ceiling)
            if fixed is None
            else FixedPolicy(fixed)
        )
        # One limiter per client: every thread or task of every call shares it.
        self._limiter = ConcurrencyLimiter(policy)
        self._max_in_flight = fixed or ceiling
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"hf-pinecone/{__version__}",
            **self._protocol.scale_up_timeout_header,
        }
        if secret:
            self._headers["Authorization"] = f"Bearer {secret}"
        # Connections beyond the requests in flight: GET /info probes and a client shared by several callers.
        self._max_connections = max(100, self._max_in_flight)

    @property
    def batch_size(self) -> int:
        """The effective batch size, lowered when the endpoint rejected a bigger one.

        As configured, or learned from ``GET /info`` on the first embed call (32 until then).
        """
        return self._protocol.batch_size

    @property
    def max_concurrency(self) -> int:
        """Requests allowed in flight at once across the client now (it changes when adaptive)."""
        return self._limiter.limit

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r}, batch_size={self.batch_size})"

    def _info_url(self) -> str:
        return info_url(self.url)

    def _info_result(self, outcome: Outcome) -> dict[str, Any]:
        if isinstance(outcome, TransportFailure):
            raise EndpointUnavailableError(
                f"could not reach endpoint {self.url}: {outcome.kind}: "
                f"{redact(outcome.detail, self._protocol.secrets)}",
                url=self.url,
            )
        if outcome.status in (404, 405):
            return {}
        if not 200 <= outcome.status < 300:
            raise classify_error(outcome.status, self.url, server_message(outcome.body), secrets=self._protocol.secrets)
        try:
            import json

            data = json.loads(outcome.body)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def _tokenize_delay(self, outcome: Outcome, attempt: int, started: float) -> float | None:
        """Seconds to wait before retrying a ``/tokenize`` request, or ``None`` to stop (success or final)."""
        if isinstance(outcome, TransportFailure):
            retry_after = None
        elif self.config.retry.should_retry_status(outcome.status):
            retry_after = parse_retry_after(outcome.headers.get("retry-after"))
            # 503 while a scaled-to-zero endpoint starts: waited out like embed requests are.
            if outcome.status == 503 and time.monotonic() - started < self.config.cold_start_timeout:
                return self.config.retry.delay(min(attempt, 3), retry_after)
        else:
            return None
        return self.config.retry.delay(attempt, retry_after) if attempt < self.config.retry.max_retries else None

    def _tokenize_result(self, outcome: Outcome, expected: int) -> list[list[Token]]:
        url = tokenize_url(self.url)
        if isinstance(outcome, TransportFailure):
            raise EndpointUnavailableError(
                f"could not reach endpoint {url}: {outcome.kind}: {redact(outcome.detail, self._protocol.secrets)}",
                url=url,
            )
        if not 200 <= outcome.status < 300:
            raise classify_error(outcome.status, url, server_message(outcome.body), secrets=self._protocol.secrets)
        return parse_tokens(outcome.body, expected=expected, url=url)

    @staticmethod
    def _deferred(action: Send, permit: Permit) -> bool:
        """Whether ``action`` is no longer to be sent now that it holds ``permit`` (see :attr:`Send.still_wanted`)."""
        if action.still_wanted is None or action.still_wanted():
            return False
        permit.ignore = True  # nothing was sent: says nothing about the endpoint's throughput
        return True

    @staticmethod
    def _note(permit: Permit, outcome: Outcome) -> None:
        """Tell the limiter whether the endpoint showed overload (429, or a request that timed out)."""
        if isinstance(outcome, TransportFailure):
            permit.overloaded = outcome.kind == "timeout"
        else:
            permit.overloaded = outcome.status == 429

    @staticmethod
    def _failure(error: BaseException, *, timeout: bool) -> TransportFailure:
        return TransportFailure("timeout" if timeout else "connection", str(error) or type(error).__name__)


# ---------------- sync
class EndpointClient(_Base):
    """Thread-safe sync client for an embeddings Inference Endpoint.

    Example:
        >>> with EndpointClient("https://xyz.endpoints.huggingface.cloud") as client:  # doctest: +SKIP
        ...     vectors = client.embed(["a happy dog", "a sad dog"])

    Args:
        config: An :class:`EndpointConfig`, or the endpoint URL.
        **kwargs: :class:`EndpointConfig` fields overriding ``config`` (plus ``max_retries``).

    Raises:
        ConfigurationError: Invalid URL or settings.
        InsecureTransportError: A token over plain http to a non-loopback host without opt-in.
    """

    def __init__(self, config: EndpointConfig | str | None = None, **kwargs: Any) -> None:
        super().__init__(config, kwargs)
        import httpx2

        # Redirects are never followed: they would re-send the Authorization header to another host.
        self._http = httpx2.Client(
            headers=self._headers,
            timeout=httpx2.Timeout(self.config.timeout),
            follow_redirects=False,
            verify=default_ssl_context(),
            limits=httpx2.Limits(max_connections=self._max_connections, max_keepalive_connections=self._max_in_flight),
        )
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()
        self._batch_size_lock = threading.Lock()

    def embed(self, texts: Sequence[str], *, prompt_name: str | None = None) -> list[list[float]]:
        """Embed ``texts``, batching and sending batches concurrently; results are in input order.

        Args:
            texts: Strings to embed.
            prompt_name: Overrides the configured ``prompt_name`` for this call.

        Returns:
            One vector per text.

        Raises:
            TypeError: An input is not a string (the message names its position).
            EndpointAuthError: 401/403.
            EndpointRequestError: The endpoint rejected the request (its message is included).
            EndpointUnavailableError: Still failing after every retry (or the cold-start wait).
            EndpointResponseError: The response is not a valid batch of embeddings.
        """
        return cast(list[list[float]], self._run(check_texts(texts), prompt_name, detailed=False))

    def embed_detailed(
        self, texts: Sequence[str], *, prompt_name: str | None = None
    ) -> list[list[float] | EndpointRequestError]:
        """Like :meth:`embed`, but texts the endpoint rejects come back as their EndpointRequestError.

        A batch rejected for its content (HTTP 400/413/422/424, or a text too large to send) is bisected
        down to single texts so that one bad record does not fail its neighbours. Run-level failures (auth,
        other 4xx such as a wrong URL, unavailable, malformed responses) still raise.
        """
        return cast(list[list[float] | EndpointRequestError], self._run(check_texts(texts), prompt_name, detailed=True))

    def embed_encoded(
        self, texts: Sequence[str], *, prompt_name: str | None = None
    ) -> list[Sequence[float] | EndpointRequestError]:
        """Like :meth:`embed_detailed`, with vectors kept as the answer's own JSON text where possible.

        A vector is an :class:`~hf_pinecone.encoded.EncodedVector` (a read-only ``Sequence[float]``) whenever
        the answer is a plain 2-D array of numbers, else a list of floats: what ingestion writes into upsert
        bodies without decoding and re-encoding every float.
        """
        return cast(
            list[Sequence[float] | EndpointRequestError],
            self._run(check_texts(texts), prompt_name, detailed=True, encoded=True),
        )

    def _run(
        self, texts: list[str], prompt_name: str | None, *, detailed: bool, encoded: bool = False
    ) -> list[BatchResult]:
        if not texts:
            return []
        if self._protocol.batch_size_pending:
            with self._batch_size_lock:  # concurrent first calls probe /info once
                self._drive_info(self._protocol.batch_size_flow())
        batches = self._protocol.plan(texts, prompt_name)

        def run(positions: list[int]) -> list[BatchResult]:
            flow = self._protocol.batch_flow(
                [texts[i] for i in positions], prompt_name=prompt_name, detailed=detailed, encoded=encoded
            )
            return self._drive(flow)

        if len(batches) == 1:
            return assemble(len(texts), batches, [run(batches[0])])
        futures = [self._pool().submit(run, positions) for positions in batches]
        done, pending = concurrent.futures.wait(futures, return_when=concurrent.futures.FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
        for future in done:
            if future.exception() is not None:
                concurrent.futures.wait(pending)  # let in-flight batches finish before reporting
                raise cast(BaseException, future.exception())
        return assemble(len(texts), batches, [future.result() for future in futures])

    def _pool(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._executor_lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=self._max_in_flight, thread_name_prefix="hf-pinecone-embed"
                )
            return self._executor

    def _drive(self, flow: Flow) -> list[BatchResult]:
        try:
            action = next(flow)
            while True:
                if isinstance(action, Sleep):
                    time.sleep(action.seconds)
                    action = flow.send(None)
                elif isinstance(action, Get):  # the second /info probe after a cold start
                    action = flow.send(self._get(action))
                else:
                    action = flow.send(self._send(action))
        except StopIteration as stop:
            return cast(list[BatchResult], stop.value)
        finally:
            flow.close()  # interrupted mid-flow (e.g. cancelled): give up its cold-start polling role now

    def _drive_info(self, flow: InfoFlow) -> None:
        for action in flow:
            try:
                flow.send(self._get(action))
            except StopIteration:
                return

    def _request(self, method: str, url: str, body: bytes | None, timeout: float | None) -> Outcome:
        import httpx2  # already imported by __init__: a dictionary lookup

        try:
            response = self._http.get(url, timeout=timeout) if body is None else self._http.post(url, content=body)
        except httpx2.TransportError as error:
            return self._failure(error, timeout=isinstance(error, httpx2.TimeoutException))
        return Response(response.status_code, response.headers, response.content)

    def _get(self, action: Get) -> Outcome:
        with self._limiter.slot() as permit:
            permit.ignore = True  # not an embedding request: says nothing about the endpoint's throughput
            return self._request("GET", action.url, None, action.timeout)

    def _send(self, action: Send) -> SendOutcome:
        with self._limiter.slot() as permit:
            if self._deferred(action, permit):
                return Deferred()
            outcome = self._request("POST", self.url, action.body, None)
            self._note(permit, outcome)
        return outcome

    def info(self) -> dict[str, Any]:
        """The endpoint's ``GET /info`` (TEI model id, limits, ...), or ``{}`` when it has none."""
        return self._info_result(self._get(Get(self._info_url(), self.config.timeout)))

    def tokenize(self, texts: Sequence[str], *, add_special_tokens: bool = True) -> list[list[Token]]:
        """The endpoint's own tokenization of ``texts`` (TEI ``POST /tokenize``), in one request.

        Retries 429/5xx, connection errors and timeouts like embedding requests (503 up to
        ``cold_start_timeout``). Keep each text under ``max_input_length * 250`` characters (TEI refuses longer
        ones) and the batch within the endpoint's ``max_client_batch_size``.

        Returns:
            Per text, its tokens with byte offsets (:class:`hf_pinecone._tokenize.Token`).

        Raises:
            EndpointRequestError: The endpoint refused (404 / 405: it has no ``/tokenize``, e.g. the inference
                toolkit; 413 / 422: too many or too long inputs).
            EndpointAuthError: 401/403.
            EndpointUnavailableError: Still unavailable after every retry.
        """
        checked = check_texts(texts)
        if not checked:
            return []
        url, body = tokenize_url(self.url), tokenize_body(checked, add_special_tokens=add_special_tokens)
        started, attempt = time.monotonic(), 0
        while True:
            outcome: Outcome
            with self._limiter.slot() as permit:
                permit.ignore = True  # not an embedding request: says nothing about embedding throughput
                outcome = self._request("POST", url, body, None)
            delay = self._tokenize_delay(outcome, attempt, started)
            if delay is None:
                return self._tokenize_result(outcome, len(checked))
            time.sleep(delay)
            attempt += 1

    def close(self) -> None:
        """Close the connection pool and worker threads."""
        with self._executor_lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        self._http.close()

    def __enter__(self) -> EndpointClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


# ---------------- async
class AsyncEndpointClient(_Base):
    """Async client for an embeddings Inference Endpoint; same behaviour as :class:`EndpointClient`.

    Use it from one event loop (its connection pool belongs to that loop, and is opened in it on first use).

    Args:
        config: An :class:`EndpointConfig`, or the endpoint URL.
        **kwargs: :class:`EndpointConfig` fields overriding ``config`` (plus ``max_retries``).
    """

    def __init__(self, config: EndpointConfig | str | None = None, **kwargs: Any) -> None:
        super().__init__(config, kwargs)
        import aiohttp

        self._http: aiohttp.ClientSession | None = None  # an aiohttp session must be created inside its loop
        self._closed = False
        self._timeout = aiohttp.ClientTimeout(total=self.config.timeout)
        # Proxies from the environment (HTTPS_PROXY, NO_PROXY, ...), as httpx2 honours them, resolved once:
        # aiohttp's trust_env would re-read the environment on every request.
        self._proxy = _env_proxy(self.url)
        self._batch_size_lock = asyncio.Lock()

    def _session(self) -> aiohttp.ClientSession:
        session = self._http
        if session is not None and session._loop.is_closed():
            # Used again after its event loop ended (e.g. a second asyncio.run()): that pool is dead.
            _discard(session)
            self._http = session = None
        if session is None:
            if self._closed:
                raise RuntimeError("the AsyncEndpointClient is closed")
            import aiohttp

            self._http = session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections, ssl=default_ssl_context()),
                headers=self._headers,
                timeout=self._timeout,
                cookie_jar=aiohttp.DummyCookieJar(),  # an endpoint's cookies are not ours to keep
            )
        return session

    async def aembed(self, texts: Sequence[str], *, prompt_name: str | None = None) -> list[list[float]]:
        """Async :meth:`EndpointClient.embed`."""
        return cast(list[list[float]], await self._run(check_texts(texts), prompt_name, detailed=False))

    async def aembed_detailed(
        self, texts: Sequence[str], *, prompt_name: str | None = None
    ) -> list[list[float] | EndpointRequestError]:
        """Async :meth:`EndpointClient.embed_detailed`."""
        results = await self._run(check_texts(texts), prompt_name, detailed=True)
        return cast(list[list[float] | EndpointRequestError], results)

    async def aembed_encoded(
        self, texts: Sequence[str], *, prompt_name: str | None = None
    ) -> list[Sequence[float] | EndpointRequestError]:
        """Async :meth:`EndpointClient.embed_encoded`."""
        results = await self._run(check_texts(texts), prompt_name, detailed=True, encoded=True)
        return cast(list[Sequence[float] | EndpointRequestError], results)

    async def _run(
        self, texts: list[str], prompt_name: str | None, *, detailed: bool, encoded: bool = False
    ) -> list[BatchResult]:
        if not texts:
            return []
        if self._protocol.batch_size_pending:
            async with self._batch_size_lock:  # concurrent first calls probe /info once
                await self._drive_info(self._protocol.batch_size_flow())
        batches = self._protocol.plan(texts, prompt_name)

        async def run(positions: list[int]) -> list[BatchResult]:
            flow = self._protocol.batch_flow(
                [texts[i] for i in positions], prompt_name=prompt_name, detailed=detailed, encoded=encoded
            )
            return await self._drive(flow)

        if len(batches) == 1:
            return assemble(len(texts), batches, [await run(batches[0])])
        tasks = [asyncio.ensure_future(run(positions)) for positions in batches]
        try:
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        except BaseException:  # cancelled: take the batches down with us
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        for task in done:
            if task.exception() is not None:
                for other in pending:
                    other.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                raise cast(BaseException, task.exception())
        return assemble(len(texts), batches, [task.result() for task in tasks])

    async def _drive(self, flow: Flow) -> list[BatchResult]:
        try:
            action = next(flow)
            while True:
                if isinstance(action, Sleep):
                    await asyncio.sleep(action.seconds)
                    action = flow.send(None)
                elif isinstance(action, Get):  # the second /info probe after a cold start
                    action = flow.send(await self._get(action))
                else:
                    action = flow.send(await self._send(action))
        except StopIteration as stop:
            return cast(list[BatchResult], stop.value)
        finally:
            flow.close()  # interrupted mid-flow (e.g. cancelled): give up its cold-start polling role now

    async def _drive_info(self, flow: InfoFlow) -> None:
        for action in flow:
            try:
                flow.send(await self._get(action))
            except StopIteration:
                return

    async def _request(self, method: str, url: str, body: bytes | None, timeout: float | None) -> Outcome:
        import aiohttp  # already imported by __init__: a dictionary lookup

        try:
            # Redirects are never followed: they would re-send the Authorization header to another host.
            async with self._session().request(
                method,
                url,
                data=body,
                allow_redirects=False,
                proxy=self._proxy if url is self.url else _env_proxy(url),
                timeout=self._timeout if timeout is None else aiohttp.ClientTimeout(total=timeout),
            ) as response:
                content = await response.read()
        except asyncio.TimeoutError as error:  # aiohttp's timeouts (ServerTimeoutError is one too)
            return self._failure(error, timeout=True)
        except aiohttp.ClientError as error:
            return self._failure(error, timeout=False)
        return Response(response.status, response.headers, content)

    async def _get(self, action: Get) -> Outcome:
        async with self._limiter.aslot() as permit:
            permit.ignore = True  # not an embedding request: says nothing about the endpoint's throughput
            return await self._request("GET", action.url, None, action.timeout)

    async def _send(self, action: Send) -> SendOutcome:
        async with self._limiter.aslot() as permit:
            if self._deferred(action, permit):
                return Deferred()
            outcome = await self._request("POST", self.url, action.body, None)
            self._note(permit, outcome)
        return outcome

    async def ainfo(self) -> dict[str, Any]:
        """Async :meth:`EndpointClient.info`."""
        return self._info_result(await self._get(Get(self._info_url(), self.config.timeout)))

    async def atokenize(self, texts: Sequence[str], *, add_special_tokens: bool = True) -> list[list[Token]]:
        """Async :meth:`EndpointClient.tokenize`."""
        checked = check_texts(texts)
        if not checked:
            return []
        url, body = tokenize_url(self.url), tokenize_body(checked, add_special_tokens=add_special_tokens)
        started, attempt = time.monotonic(), 0
        while True:
            outcome: Outcome
            async with self._limiter.aslot() as permit:
                permit.ignore = True  # not an embedding request: says nothing about embedding throughput
                outcome = await self._request("POST", url, body, None)
            delay = self._tokenize_delay(outcome, attempt, started)
            if delay is None:
                return self._tokenize_result(outcome, len(checked))
            await asyncio.sleep(delay)
            attempt += 1

    async def aclose(self) -> None:
        """Close the connection pool."""
        session, self._http, self._closed = self._http, None, True
        if session is not None:
            await session.close()

    def __del__(self) -> None:
        # Dropped without aclose() (e.g. its loop ended first): close the pool quietly, as httpx's client did,
        # instead of aiohttp's "Unclosed client session" / "Unclosed connector" errors at garbage collection.
        session = getattr(self, "_http", None)
        if session is not None:
            _discard(session)

    async def __aenter__(self) -> AsyncEndpointClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


def _discard(session: aiohttp.ClientSession) -> None:
    """Close ``session`` without awaiting (its loop may be closed or elsewhere): transports closed, no warning."""
    if session.closed:
        return
    connector = session.connector
    session.detach()  # the session counts as closed from now on
    if connector is not None:
        with contextlib.suppress(Exception):  # best effort: a closed loop needs nothing more
            connector._close()  # the synchronous part of connector.close(): marks it closed, closes transports


def _env_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url`` (``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY``, ``NO_PROXY``)."""
    import urllib.request  # here: its import (http.client, email) costs more than the rest of this module

    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(scheme.lower()) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass_environment(host, proxies):  # type: ignore[attr-defined]
        return None
    return proxy
