"""Sans-IO core of the Inference Endpoint client: everything except sending bytes and sleeping.

The sync and async clients in :mod:`hf_pinecone.endpoint` are thin transports. They drive the generator
returned by :meth:`EndpointProtocol.batch_flow`, which yields :class:`Send` (send this body, give me the
:class:`Response` or :class:`TransportFailure`) and :class:`Sleep` actions and finally returns one result
per input. Retries, cold-start waiting, batch-size learning and splitting, and bisection of rejected
batches are written once, here.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union
from urllib.parse import urlsplit

from hf_pinecone._concurrency import FixedPolicy as ConcurrencyPolicy  # old name; limiters live there
from hf_pinecone._retry import RetryPolicy, parse_retry_after
from hf_pinecone.encoded import EncodedVector, split_embeddings
from hf_pinecone.errors import (
    ConfigurationError,
    EndpointAuthError,
    EndpointError,
    EndpointRequestError,
    EndpointResponseError,
    EndpointStateError,
    EndpointUnavailableError,
    InsecureTransportError,
    redact,
)

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "MAX_BATCH_BYTES",
    "MAX_DISCOVERED_BATCH_SIZE",
    "RECORD_LEVEL_STATUSES",
    "Action",
    "BatchResult",
    "ConcurrencyPolicy",
    "Deferred",
    "EndpointProtocol",
    "Get",
    "Outcome",
    "Response",
    "Send",
    "SendOutcome",
    "Sleep",
    "TransportFailure",
    "batch_size_from_info",
    "build_body",
    "check_texts",
    "check_url",
    "classify_error",
    "info_probe_unanswered",
    "info_url",
    "is_loopback_host",
    "learned_batch_size",
    "parse_embeddings",
    "server_message",
]

logger = logging.getLogger("hf_pinecone")

# orjson parses embeddings ~5x faster than json; it comes with langchain-core (through langsmith).
_orjson_loads: Callable[[bytes | bytearray], Any] | None
_orjson_dumps: Callable[[Any], bytes] | None
try:
    from orjson import dumps as _orjson_dumps
    from orjson import loads as _orjson_loads
except ImportError:  # pragma: no cover - e.g. on PyPy
    _orjson_dumps = _orjson_loads = None

# TEI's (and the toolkit proxy's) default payload limit; a body must stay strictly below it.
MAX_BATCH_BYTES = 2_000_000
# Batch size when neither the caller nor the endpoint's ``GET /info`` says otherwise (TEI's default limit).
DEFAULT_BATCH_SIZE = 32
# ``max_client_batch_size`` from ``/info`` is capped: a huge value (TEI allows any) would make single
# requests slow and retries expensive, while 512 texts per request already amortise the per-request cost.
MAX_DISCOVERED_BATCH_SIZE = 512
# ``/info`` is a best-effort probe; it must not hold up the first embed call for a full request timeout.
INFO_TIMEOUT = 10.0
# "/rerank": the reranker (hf_pinecone.rerank) posts there and reads /info from the same base.
_ROUTE_SUFFIXES = ("/embed", "/embed_sparse", "/predict", "/v1/embeddings", "/invocations", "/rerank")
_MAX_SERVER_MESSAGE = 500
# Statuses that may be caused by one record of a batch (bad input, too long, tokenizer or backend error):
# only these are bisected by ``detailed`` flows. 404/405/... mean a wrong URL or route for every record.
RECORD_LEVEL_STATUSES: frozenset[int] = frozenset({400, 413, 422, 424})
# Hugging Face's proxy answers a request to a paused endpoint "400 {"error": "Bad Request: Invalid state"}"
# (observed: elastic/elasticsearch#112033), not the 503 of a scaled-to-zero endpoint, whose replica starts on the
# request (https://huggingface.co/docs/inference-endpoints/guides/autoscaling, "Scale to Zero").
_NOT_RUNNING_RE = re.compile(r"\binvalid state\b", re.IGNORECASE)
_BATCH_SIZE_RE = re.compile(r"batch size (\d+) > maximum allowed batch size (\d+)", re.IGNORECASE)

Vector = list[float]
BatchResult = Union[Vector, EncodedVector, EndpointRequestError]  # noqa: UP007 - runtime alias on 3.10


# ---------------- actions
@dataclass(frozen=True)
class Send:
    """Ask the transport to POST ``body`` (JSON bytes) to the endpoint and send back an :data:`Outcome`.

    ``still_wanted``, when set, is called once the transport holds a concurrency slot, right before sending:
    a request may have queued for a slot while the endpoint began a cold start that another request now
    polls. ``False`` means: send nothing and answer :class:`Deferred`.
    """

    body: bytes
    still_wanted: Callable[[], bool] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Sleep:
    """Ask the transport to wait ``seconds`` (outside the concurrency limiter) and send back ``None``."""

    seconds: float


@dataclass(frozen=True)
class Response:
    """An HTTP response as the transport received it."""

    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class TransportFailure:
    """No response arrived: ``kind`` is ``"timeout"`` or ``"connection"``; ``detail`` says why."""

    kind: str
    detail: str


@dataclass(frozen=True)
class Deferred:
    """The transport sent nothing: :attr:`Send.still_wanted` said the request should wait."""


@dataclass(frozen=True)
class Get:
    """Ask the transport to GET ``url`` within ``timeout`` seconds and send back an :data:`Outcome`."""

    url: str
    timeout: float


Action = Union[Send, Sleep, Get]  # noqa: UP007
Outcome = Union[Response, TransportFailure]  # noqa: UP007
SendOutcome = Union[Response, TransportFailure, Deferred]  # noqa: UP007 - what a transport answers to Send
Flow = Generator[Action, SendOutcome | None, list[BatchResult]]
InfoFlow = Generator[Get, Outcome, None]


def info_url(url: str) -> str:
    """``{base}/info`` for an endpoint URL, ``base`` being ``url`` without a known embed route suffix.

    OpenAI route URLs (``.../v1/embeddings``) resolve to the same base: TEI serves both from one server.
    A query string (e.g. a gateway's ``?api-version=...``) stays a query string, after ``/info``.
    """
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    for suffix in _ROUTE_SUFFIXES:
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return parts._replace(path=path + "/info", fragment="").geturl()


def batch_size_from_info(outcome: Outcome, *, url: str = "<endpoint>") -> int | None:
    """The batch size an endpoint's ``GET /info`` advertises (TEI ``max_client_batch_size``), capped.

    Returns ``None`` when the probe failed or says nothing usable (no response, non-2xx such as the
    inference toolkit's 404/405, non-JSON, missing or invalid field); the reason is logged at DEBUG.
    """
    problem: str
    if isinstance(outcome, TransportFailure):
        problem = f"{outcome.kind} error"
    elif not 200 <= outcome.status < 300:
        problem = f"HTTP {outcome.status}"
    else:
        try:
            data = _json(outcome.body)
        except ValueError:
            data = None
        value = data.get("max_client_batch_size") if isinstance(data, dict) else None
        # bool is an int subclass: ``true`` is not a batch size.
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return min(value, MAX_DISCOVERED_BATCH_SIZE)
        problem = "no valid max_client_batch_size" if isinstance(data, dict) else "not a JSON object"
    logger.debug("GET %s: %s; using batch size %d", info_url(url), problem, DEFAULT_BATCH_SIZE)
    return None


def info_probe_unanswered(outcome: Outcome) -> bool:
    """Whether a ``GET /info`` outcome says nothing yet: the endpoint is not up (scaled to zero or starting).

    That is HTTP 503 or no response at all (connection error, timeout). Any other answer (200 with or without
    ``max_client_batch_size``, the inference toolkit's 404/405, a non-JSON body) is the endpoint's own and final.
    """
    return isinstance(outcome, TransportFailure) or outcome.status == 503


# ---------------- inputs, URL
def check_texts(texts: Sequence[Any]) -> list[str]:
    """Return ``texts`` as a list, or raise naming the first bad position.

    Raises:
        TypeError: An item is not a string.
        ValueError: An item is empty (TEI refuses it: 400 "`inputs` cannot be empty") or not valid Unicode (a
            lone surrogate).
    """
    if isinstance(texts, (str, bytes)):
        raise TypeError("texts must be a sequence of strings, not a single string; wrap it in a list")
    out = list(texts)
    for i, text in enumerate(out):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] must be str, got {type(text).__name__}")
        if not text:
            # TEI answers 400 Empty for the whole batch (core/src/tokenization.rs `Tokenization::encode`);
            # say which text before sending, instead of a batch-wide HTTP error.
            raise ValueError(f"texts[{i}] is empty; TEI refuses empty inputs: drop it or give it some text")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            # A lone surrogate (e.g. bytes decoded with errors="surrogateescape") cannot be sent as JSON/UTF-8;
            # say which text, instead of failing later inside the JSON encoder.
            raise ValueError(
                f"texts[{i}] is not valid Unicode ({exc.reason}: {text[exc.start : exc.end]!r} at position "
                f"{exc.start}); clean it first, e.g. text.encode('utf-8', 'replace').decode('utf-8')"
            ) from None
    return out


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` names this machine (``localhost``, ``*.localhost``, 127.0.0.0/8, ::1)."""
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, *, has_token: bool, allow_insecure_http: bool) -> str:
    """Validate an endpoint URL and refuse to send a token in clear text off this machine.

    Args:
        url: Endpoint URL.
        has_token: Whether a token would be sent.
        allow_insecure_http: The user's explicit opt-in to plain http with a token to a non-loopback host.

    Returns:
        The URL, stripped of surrounding whitespace.

    Raises:
        ConfigurationError: Not an absolute http(s) URL, or credentials embedded in it.
        InsecureTransportError: Token over plain http to a non-loopback host without the opt-in.
    """
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"endpoint URL must be an absolute http(s) URL, got {redact(url)!r}")
    if parts.username or parts.password:
        raise ConfigurationError("endpoint URL must not embed credentials; pass the token separately")
    if parts.scheme == "http" and has_token and not allow_insecure_http and not is_loopback_host(parts.hostname):
        raise InsecureTransportError(
            f"refusing to send a token over plain http to {parts.hostname}: use https, or pass "
            "allow_insecure_http=True if this network is trusted "
            "(or unset HF_TOKEN if the endpoint needs none)"
        )
    return url


def build_body(
    texts: Sequence[str],
    *,
    normalize: bool | None = None,
    truncate: bool | None = None,
    prompt_name: str | None = None,
    truncation_direction: str | None = None,
) -> bytes:
    """The JSON request body: ``{"inputs": [...]}`` plus the options that are set."""
    payload: dict[str, Any] = {"inputs": list(texts)}
    if normalize is not None:
        payload["normalize"] = normalize
    if truncate is not None:
        payload["truncate"] = truncate
    if prompt_name is not None:
        payload["prompt_name"] = prompt_name
    if truncation_direction is not None:
        payload["truncation_direction"] = truncation_direction  # TEI types.rs `TruncationDirection`
    return _dumps(payload)


def _dumps(payload: Any) -> bytes:
    # Compact UTF-8 JSON: smallest body, and the byte budget below is computed the same way. orjson writes the
    # same bytes as json.dumps(ensure_ascii=False, separators=(",", ":")) (texts are valid Unicode by then, see
    # check_texts) at a tenth of the CPU: plan() sizes every text with it.
    if _orjson_dumps is not None:
        return _orjson_dumps(payload)
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# ---------------- responses
def server_message(body: bytes) -> str | None:
    """The server's own error message from a TEI/toolkit/OpenAI error body, or its text (truncated)."""
    if not body:
        return None
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    message: Any = None
    if isinstance(data, dict):
        message = data.get("error") or data.get("message") or data.get("detail")
        if isinstance(message, dict):
            message = message.get("message") or json.dumps(message)
    if message is None:
        message = text
    message = str(message)
    if len(message) > _MAX_SERVER_MESSAGE:
        message = message[:_MAX_SERVER_MESSAGE] + "..."
    return message or None


def _malformed(url: str, problem: str) -> EndpointResponseError:
    return EndpointResponseError(f"malformed response from {url}: {problem}", status_code=200, url=url)


def parse_embeddings(body: bytes | Any, *, expected: int, url: str = "<endpoint>") -> list[Vector]:
    """Parse and validate any embeddings shape an endpoint answers.

    Accepts the inference toolkit's ``{"embeddings": 2-D}`` (flat for a single input), TEI's bare 2-D list and
    the OpenAI ``{"data": [{"embedding", "index"}]}`` shape (ordered by ``index``).

    Args:
        body: Raw response bytes, or already decoded JSON.
        expected: Number of inputs sent; the response must hold exactly that many vectors.
        url: Endpoint URL for error messages.

    Returns:
        ``expected`` vectors of Python floats, all of the same dimension.

    Raises:
        EndpointResponseError: Not JSON, an unknown shape, token-level (3-D) output, wrong count, unequal
            dimensions, or non-finite / non-numeric values.
    """
    if isinstance(body, (bytes, bytearray)):
        data: Any = _loads(body, url)
    else:
        data = body
    if isinstance(data, dict):
        if "embeddings" in data:
            data = data["embeddings"]
        elif isinstance(data.get("data"), list):
            data = _openai_rows(data["data"], url)
        elif "error" in data:
            raise _malformed(url, f"2xx response carries an error: {data['error']!r}")
        else:
            raise _malformed(url, f"unknown JSON object with keys {sorted(data)[:5]}")
    if not isinstance(data, list):
        raise _malformed(url, f"expected a list of vectors, got {type(data).__name__}")
    if data and all(_is_number(x) for x in data):
        if expected != 1:
            raise _malformed(url, f"got one flat vector for {expected} inputs")
        data = [data]
    if any(isinstance(row, list) and row and isinstance(row[0], list) for row in data):
        raise _malformed(
            url,
            "the endpoint returned token-level embeddings (3-D: [batch][tokens][dim]) instead of "
            "one vector per text. Deploy the model with the 'sentence-embeddings' task, serve it with "
            "text-embeddings-inference, or use a sentence-transformers model that applies pooling",
        )
    if len(data) != expected:
        raise _malformed(url, f"expected {expected} vectors, got {len(data)}")
    vectors: list[Vector] = []
    dim: int | None = None
    for i, row in enumerate(data):
        if not isinstance(row, list) or not row:
            raise _malformed(url, f"vector {i} is not a non-empty list of numbers")
        if dim is None:
            dim = len(row)
        elif len(row) != dim:
            raise _malformed(url, f"vector {i} has dimension {len(row)}, vector 0 has {dim}")
        # Fast path (C loops; a per-element Python check costs ~0.5 ms per 384-d vector): a row of finite
        # floats is used as is. Anything else takes the element-by-element path, which names the problem.
        # (Counting exact float types over a list of them costs half of building a set of them.)
        if list(map(type, row)).count(float) == len(row) and math.isfinite(sum(row)):
            vectors.append(row)
            continue
        vec: Vector = []
        for x in row:
            if not _is_number(x):
                raise _malformed(url, f"vector {i} contains a non-number {x!r}")
            f = float(x)
            if not math.isfinite(f):
                raise _malformed(url, f"vector {i} contains a non-finite value {f!r}")
            vec.append(f)
        vectors.append(vec)
    return vectors


def _json(body: bytes | bytearray) -> Any:
    """Decode JSON (raises ValueError)."""
    if _orjson_loads is not None:
        try:
            return _orjson_loads(body)
        except ValueError:
            pass  # e.g. NaN, which orjson refuses: json parses it and parse_embeddings names the problem
    return json.loads(body)


def _loads(body: bytes | bytearray, url: str) -> Any:
    try:
        return _json(body)
    except ValueError:
        raise _malformed(url, "body is not JSON: " + repr(bytes(body[:80]))) from None


def _openai_rows(rows: list[Any], url: str) -> list[Any]:
    items: list[tuple[int, Any]] = []
    for pos, row in enumerate(rows):
        if not isinstance(row, dict) or "embedding" not in row:
            raise _malformed(url, f"data[{pos}] has no 'embedding'")
        if isinstance(row["embedding"], str):
            raise _malformed(url, "base64 embeddings are not supported; use encoding_format='float'")
        index = row.get("index", pos)
        if not isinstance(index, int):
            raise _malformed(url, f"data[{pos}].index is not an integer")
        items.append((index, row["embedding"]))
    items.sort(key=lambda item: item[0])
    if [i for i, _ in items] != list(range(len(items))):
        raise _malformed(url, "data indexes are not 0..n-1")
    return [emb for _, emb in items]


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


# ---------------- errors
def learned_batch_size(status: int, message: str | None, sent: int) -> int | None:
    """A smaller batch size implied by a rejection, or ``None`` when the rejection is not about batch size.

    TEI answers ``413 "batch size N > maximum allowed batch size M"`` (ErrorType::Validation is 413 in
    router/src/http/server.rs; older stand-ins said 422): use ``M``. Any other 413 (payload too large) means
    halve the batch. ``None`` when ``sent`` is already 1 (the record itself is too large).
    """
    if status in (413, 422) and message:
        match = _BATCH_SIZE_RE.search(message)
        if match:
            allowed = int(match.group(2))
            return max(1, min(allowed, sent - 1)) if sent > 1 else None
    if status == 413 and sent > 1:
        return max(1, sent // 2)
    return None


def classify_error(status: int, url: str, message: str | None, *, secrets: Sequence[str] = ()) -> EndpointError:
    """Map a non-2xx status to the library's exception (never containing a secret).

    401/403 -> :class:`EndpointAuthError`; 400 "Invalid state" (a paused or failed Inference Endpoint) ->
    :class:`~hf_pinecone.lifecycle.EndpointStateError`, which nothing retries or waits out, with the resume
    hint; 429/5xx -> :class:`EndpointUnavailableError`; any other status (4xx, unfollowed 3xx) ->
    :class:`EndpointRequestError`.
    """
    safe_message = redact(message, secrets) if message else None
    text = f"endpoint {url} answered HTTP {status}"
    if safe_message:
        text += f": {safe_message}"
    cls: type[EndpointError]
    if status == 400 and safe_message and _NOT_RUNNING_RE.search(safe_message):
        # Not a rejected record: the endpoint itself cannot serve, and will not start by itself.
        return EndpointStateError(
            f"{text}: the Inference Endpoint is paused or failed, so no replica will start by itself (a "
            "scaled-to-zero endpoint would answer 503 and wake up). Resume a paused one with "
            "`hf-pinecone endpoint resume NAME` (Python: lifecycle.resume_endpoint(NAME)); "
            "`hf-pinecone endpoint status NAME` shows its state; a failed one needs its logs checked, then a "
            "fix or a new endpoint.",
            status_code=status,
            url=url,
            server_message=safe_message,
        )
    if status in (401, 403):
        cls = EndpointAuthError
        text += " (check the token: HF_TOKEN or hf_token=...)"
    elif status == 429 or status >= 500:
        cls = EndpointUnavailableError
    else:
        cls = EndpointRequestError
    return cls(text, status_code=status, url=url, server_message=safe_message)


# ---------------- protocol
@dataclass
class EndpointProtocol:
    """Per-client protocol state and logic, shared by every call and thread of one client.

    Attributes:
        url: The endpoint URL requests are POSTed to.
        batch_size: Current batch size; lowered for the client's life when the endpoint rejects a bigger one.
        discover_batch_size: Take the batch size from the endpoint's ``GET /info`` before the first batch
            (see :meth:`batch_size_flow`); ``batch_size`` is the fallback until then. A probe that found the
            endpoint not up is repeated once after the first successful embed request.
        max_batch_bytes: JSON bodies stay strictly below this many bytes.
        retry: Backoff policy for 429/5xx, connection errors and timeouts.
        cold_start_timeout: How long a 503 (scaled-to-zero endpoint starting) keeps being retried.
        request_timeout: The transport's per-request timeout (bounds the ``X-Scale-Up-Timeout`` hold).
        normalize: Sent as ``normalize`` when not ``None``.
        truncate: Sent as ``truncate`` when not ``None``.
        prompt_name: Default ``prompt_name`` sent when not ``None``.
        truncation_direction: Sent as ``truncation_direction`` (``"Left"`` / ``"Right"``) when not ``None``.
        secrets: Values scrubbed from every message.
        clock: Monotonic clock (injectable for tests).
    """

    url: str
    batch_size: int = DEFAULT_BATCH_SIZE
    max_batch_bytes: int = MAX_BATCH_BYTES
    discover_batch_size: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    cold_start_timeout: float = 600.0
    request_timeout: float = 60.0
    normalize: bool | None = None
    truncate: bool | None = None
    prompt_name: str | None = None
    truncation_direction: str | None = None
    secrets: tuple[str, ...] = field(default=(), repr=False)
    clock: Callable[[], float] = time.monotonic
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _starting_announced: bool = field(default=False, repr=False)
    _cold_poller: object | None = field(default=None, repr=False)
    _lowered: bool = field(default=False, repr=False)
    _reprobe: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        self._openai_route = urlsplit(self.url).path.rstrip("/").endswith("/v1/embeddings")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.max_batch_bytes < 64:
            raise ValueError(f"max_batch_bytes must be >= 64, got {self.max_batch_bytes}")
        if self.cold_start_timeout < 0:
            raise ValueError("cold_start_timeout must be >= 0")

    # ---- shared state
    def _lower_batch_size(self, size: int) -> None:
        with self._lock:
            if size < self.batch_size:
                logger.info(
                    "endpoint %s accepts at most %d inputs per request; using that from now on",
                    self.url,
                    size,
                )
                self.batch_size = size
                self._lowered = True

    def _announce_starting(self) -> None:
        with self._lock:
            if self._starting_announced:
                return
            self._starting_announced = True
        logger.warning(
            "endpoint is starting (HTTP 503 from %s); waiting up to %.0f s for it to scale up",
            self.url,
            self.cold_start_timeout,
        )

    def _mark_ready(self) -> None:
        if self._starting_announced:
            with self._lock:
                self._starting_announced = False
                self._cold_poller = None

    # While the endpoint starts, one request polls it and the others wait for that one (no request sent):
    # every planned batch polling on its own would send hundreds of requests at a cold endpoint, and a
    # proxy that holds requests (X-Scale-Up-Timeout) would hold them all.
    def _may_send(self, flow: object) -> bool:
        """Whether ``flow`` may send now: the endpoint is not starting, or ``flow`` is (or becomes) the poller."""
        if not self._starting_announced:
            return True
        with self._lock:
            if self._cold_poller is None:
                self._cold_poller = flow
            return self._cold_poller is flow

    def _leave(self, flow: object) -> None:
        if self._cold_poller is flow:
            with self._lock:
                if self._cold_poller is flow:
                    self._cold_poller = None  # a waiting request takes over the polling

    @property
    def _gate_interval(self) -> float:
        """How often a waiting request looks whether the endpoint is up (no request is sent)."""
        return max(0.05, min(1.0, self.retry.backoff_base))

    @property
    def scale_up_timeout_header(self) -> dict[str, str]:
        """``X-Scale-Up-Timeout`` asks the endpoint's proxy to hold a request while a replica starts.

        The hold is kept shorter than the per-request timeout: the proxy then answers 503 before the client
        gives up, and the 503 is retried until ``cold_start_timeout``, instead of a read timeout that would
        count against ``max_retries``.
        """
        hold = min(self.cold_start_timeout, self.request_timeout - 1 if self.request_timeout > 2 else 1)
        return {"X-Scale-Up-Timeout": str(max(1, int(hold)))}

    # ---- batch size from GET /info
    @property
    def batch_size_pending(self) -> bool:
        """Whether :meth:`batch_size_flow` still has to run before the first batch is planned."""
        return self.discover_batch_size

    @property
    def batch_size_reprobe_pending(self) -> bool:
        """Whether ``GET /info`` found the endpoint not up and is to be probed again after a successful request."""
        return self._reprobe

    def batch_size_flow(self) -> InfoFlow:
        """Learn the batch size from ``GET /info`` once; a generator driven by a transport.

        Yields one :class:`Get` (or none when already done) and applies the answer: the endpoint's
        ``max_client_batch_size`` capped at :data:`MAX_DISCOVERED_BATCH_SIZE`, else the fallback batch
        size. A size learned since from a 413/422 is kept. Transports run it under a lock so that
        concurrent first calls probe once.

        When the probe finds the endpoint not up (:func:`info_probe_unanswered`: 503, connection error,
        timeout: scaled to zero or starting), the fallback is only provisional: the first embed request that
        succeeds afterwards probes ``/info`` once more, from within its :meth:`batch_flow` (whatever that second
        probe gets is final).
        """
        if not self.discover_batch_size:
            return
        outcome = yield self._info_get()
        self._apply_info(outcome, first=True)

    def _info_get(self) -> Get:
        return Get(info_url(self.url), min(INFO_TIMEOUT, self.request_timeout))

    def _apply_info(self, outcome: Outcome, *, first: bool) -> None:
        size = batch_size_from_info(outcome, url=self.url)
        retry_later = first and info_probe_unanswered(outcome)
        with self._lock:
            self.discover_batch_size = False
            self._reprobe = retry_later
            if size is not None and not self._lowered:
                logger.debug("endpoint %s accepts %d inputs per request (GET /info)", self.url, size)
                self.batch_size = size
        if retry_later:
            logger.debug("GET %s: endpoint not up yet; probing again after the first success", info_url(self.url))

    def _reprobe_flow(self) -> Generator[Get, Outcome | None, None]:
        """The second (and last) ``GET /info`` probe, claimed by the first request that succeeds."""
        with self._lock:
            if not self._reprobe:
                return
            self._reprobe = False
        outcome = yield self._info_get()
        assert outcome is not None
        self._apply_info(outcome, first=False)

    # ---- planning
    def body(self, texts: Sequence[str], prompt_name: str | None = None) -> bytes:
        """The request body for ``texts`` (OpenAI's ``{"input": [...]}`` when the URL is an OpenAI route)."""
        if self._openai_route:
            return _dumps({"input": list(texts)})
        return build_body(
            texts,
            normalize=self.normalize,
            truncate=self.truncate,
            prompt_name=prompt_name if prompt_name is not None else self.prompt_name,
            truncation_direction=self.truncation_direction,
        )

    def plan(self, texts: Sequence[str], prompt_name: str | None = None) -> list[list[int]]:
        """Split input positions into batches of at most ``batch_size`` items and under ``max_batch_bytes``.

        Texts are grouped by length (shortest first; :func:`assemble` restores input order): a model pads every
        text of a batch to the batch's longest, so batches of similar lengths spend less compute on padding,
        as ``SentenceTransformer.encode`` does by sorting its input. A text too large to fit a body on its
        own gets a batch of its own (rejected before sending).
        """
        overhead = len(self.body([], prompt_name))
        batches: list[list[int]] = []
        current: list[int] = []
        size = overhead
        limit = self.batch_size
        for i in sorted(range(len(texts)), key=lambda i: len(texts[i])):
            text = texts[i]
            item = len(_dumps(text)) + (1 if current else 0)
            if current and (len(current) >= limit or size + item >= self.max_batch_bytes):
                batches.append(current)
                current, size = [], overhead
                item = len(_dumps(text))
            current.append(i)
            size += item
        if current:
            batches.append(current)
        return batches

    # ---- the one implementation of retries, cold start, splitting and bisection
    def batch_flow(
        self, texts: Sequence[str], *, prompt_name: str | None = None, detailed: bool = False, encoded: bool = False
    ) -> Flow:
        """Embed one planned batch; a generator driven by a transport.

        Yields :class:`Send` / :class:`Sleep` (and once per client possibly a :class:`Get`, see
        :meth:`batch_size_flow`); returns one result per text. Without ``detailed`` every failure
        raises. With ``detailed``, a batch the endpoint rejects for its content (HTTP 400/413/422/424)
        is bisected down to single texts and each rejected text's result is its :class:`EndpointRequestError`.
        With ``encoded``, vectors come back as :class:`~hf_pinecone.encoded.EncodedVector` (the answer's own
        JSON text, never decoded into floats) whenever the answer is a plain 2-D array of numbers.
        """
        results: list[BatchResult] = []
        start = 0
        while start < len(texts):
            # The batch size may have been lowered (by this or a concurrent batch) since planning.
            chunk = texts[start : start + self.batch_size]
            results.extend((yield from self._chunk_flow(chunk, prompt_name, detailed, encoded)))
            start += len(chunk)
        return results

    def _chunk_flow(self, texts: Sequence[str], prompt_name: str | None, detailed: bool, encoded: bool) -> Flow:
        body = self.body(texts, prompt_name)
        if len(body) >= self.max_batch_bytes:
            if len(texts) > 1:
                half = len(texts) // 2
                first = yield from self._chunk_flow(texts[:half], prompt_name, detailed, encoded)
                second = yield from self._chunk_flow(texts[half:], prompt_name, detailed, encoded)
                return first + second
            error = EndpointRequestError(
                f"input is {len(body)} bytes as a JSON body; endpoints reject bodies of "
                f"{self.max_batch_bytes} bytes or more (not sent to {self.url}); split or shorten the text",
                url=self.url,
            )
            if detailed:
                return [error]
            raise error
        try:
            data = yield from self._send_with_retries(body, expected=len(texts) if encoded else None)
        except EndpointRequestError as error:
            smaller = learned_batch_size(error.status_code or 0, error.server_message, len(texts))
            if smaller is not None:
                self._lower_batch_size(smaller)
                return (yield from self.batch_flow(texts, prompt_name=prompt_name, detailed=detailed, encoded=encoded))
            if not detailed or error.status_code not in RECORD_LEVEL_STATUSES:
                raise
            if len(texts) == 1:
                return [error]
            half = len(texts) // 2
            first = yield from self._chunk_flow(texts[:half], prompt_name, detailed, encoded)
            second = yield from self._chunk_flow(texts[half:], prompt_name, detailed, encoded)
            return first + second
        if isinstance(data, _Split):
            return list[BatchResult](data.vectors)
        return self.parse(data, len(texts))

    def parse(self, data: Any, expected: int) -> list[Any]:
        """One result per text from a 2xx answer's decoded JSON (a subclass parses other routes' answers)."""
        return list(parse_embeddings(data, expected=expected, url=self.url))

    def _send_with_retries(
        self, body: bytes, *, expected: int | None = None
    ) -> Generator[Action, SendOutcome | None, Any]:
        """Send ``body`` until a 2xx JSON answer arrives; return the decoded JSON.

        With ``expected``, an answer that :func:`~hf_pinecone.encoded.split_embeddings` can cut into that many
        vectors comes back as :class:`_Split` instead, without being decoded.
        """
        flow = object()  # this request's identity for the cold-start gate
        try:
            return (yield from self._send_until_answered(body, flow, expected))
        finally:
            self._leave(flow)

    def _send_until_answered(
        self, body: bytes, flow: object, expected: int | None = None
    ) -> Generator[Action, SendOutcome | None, Any]:
        attempt = 0  # retries of ordinary transient failures, bounded by max_retries
        cold_polls = 0  # 503s while a cold start is waited out, bounded by cold_start_timeout instead
        cold_start_deadline: float | None = None
        while True:
            if not self._may_send(flow):
                now = self.clock()
                if cold_start_deadline is None:
                    cold_start_deadline = now + self.cold_start_timeout
                if now >= cold_start_deadline:
                    raise EndpointUnavailableError(
                        f"endpoint {self.url} answered HTTP 503 while starting (still unavailable after waiting "
                        f"{self.cold_start_timeout:.0f} s for the endpoint to start)",
                        status_code=503,
                        url=self.url,
                    )
                yield Sleep(min(self._gate_interval, cold_start_deadline - now))
                continue
            outcome = yield Send(body, still_wanted=lambda: self._may_send(flow))
            assert outcome is not None
            if isinstance(outcome, Deferred):
                continue  # a cold start began while this request queued for a slot: wait at the gate
            retry_after: float | None = None
            error: EndpointError
            if isinstance(outcome, Response) and 200 <= outcome.status < 300:
                split = None if expected is None else split_embeddings(outcome.body, expected)
                try:
                    data = _Split(split) if split is not None else _json(outcome.body)
                except ValueError:
                    # A cut-off body or a proxy's HTML page under a 2xx status: transient, so retried; a
                    # well-formed answer of the wrong shape is not (parse_embeddings rejects it).
                    error = _malformed(self.url, "body is not JSON: " + repr(bytes(outcome.body[:80])))
                    if attempt >= self.retry.max_retries:
                        raise error from None
                else:
                    self._mark_ready()
                    # The endpoint is up now: learn its batch size if the first probe found it cold.
                    yield from self._reprobe_flow()
                    return data
            elif isinstance(outcome, Response):
                message = server_message(outcome.body)
                error = classify_error(outcome.status, self.url, message, secrets=self.secrets)
                if 300 <= outcome.status < 400:
                    location = outcome.headers.get("location", "?")
                    error = EndpointRequestError(
                        f"endpoint {self.url} redirected (HTTP {outcome.status}) to "
                        f"{redact(location, self.secrets)}; redirects are not followed so the token never "
                        "reaches another host: use the final URL",
                        status_code=outcome.status,
                        url=self.url,
                    )
                if not self.retry.should_retry_status(outcome.status):
                    raise error
                retry_after = parse_retry_after(outcome.headers.get("retry-after"))
                if outcome.status == 503:
                    now = self.clock()
                    if cold_start_deadline is None:
                        cold_start_deadline = now + self.cold_start_timeout
                    if now < cold_start_deadline:
                        self._announce_starting()
                        if not self._may_send(flow):
                            continue  # another request is polling: wait for it at the gate
                        # Cap the exponent: a long cold start should poll steadily (every few seconds with the
                        # default policy), not back off unboundedly.
                        delay = self.retry.delay(min(cold_polls, 3), retry_after)
                        delay = min(delay, max(0.0, cold_start_deadline - now))
                        cold_polls += 1
                        yield Sleep(delay)
                        continue
                    if cold_polls > 0 or attempt >= self.retry.max_retries:
                        raise EndpointUnavailableError(
                            f"{error} (still unavailable after waiting {self.cold_start_timeout:.0f} s "
                            "for the endpoint to start)",
                            status_code=503,
                            url=self.url,
                            server_message=error.server_message,
                        )
            else:
                error = EndpointUnavailableError(
                    f"could not reach endpoint {self.url}: {outcome.kind}: {redact(outcome.detail, self.secrets)}",
                    url=self.url,
                )
            if attempt >= self.retry.max_retries:
                raise EndpointUnavailableError(
                    f"{error} (gave up after {attempt + 1} attempts)",
                    status_code=error.status_code,
                    url=self.url,
                    server_message=error.server_message,
                )
            delay = self.retry.delay(attempt, retry_after)
            attempt += 1
            logger.debug("retrying %s in %.2f s after %s", self.url, delay, error)
            yield Sleep(delay)


@dataclass(frozen=True)
class _Split:
    """A 2xx answer already cut into encoded vectors (see :func:`~hf_pinecone.encoded.split_embeddings`)."""

    vectors: list[EncodedVector]


def assemble(size: int, batches: Sequence[Sequence[int]], results: Sequence[Sequence[BatchResult]]) -> list[Any]:
    """Put per-batch results back into input order."""
    out: list[Any] = [None] * size
    for positions, batch_results in zip(batches, results, strict=True):
        for pos, result in zip(positions, batch_results, strict=True):
            out[pos] = result
    return out
