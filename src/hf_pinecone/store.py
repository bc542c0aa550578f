"""Pinecone: :func:`ensure_index` and :class:`PineconeStore`, a safer drop-in for ``PineconeVectorStore``.

``PineconeStore`` keeps langchain-pinecone's constructor (swap the class name, nothing else) and fixes what
users hit with the upstream store:

- the caller's texts, metadata dicts and documents are never mutated;
- records without an id get a deterministic one (:func:`hf_pinecone.ids.content_id`), so re-adding the same
  text overwrites instead of duplicating;
- ``get_by_ids`` / ``aget_by_ids`` exist and every search result (MMR included) carries ``Document.id``;
- upserts are planned in batches bounded by Pinecone's 1,000 records AND 2 MB per request; metadata is checked
  against Pinecone's rules (40 KB, no null, no nested objects) for the whole call before anything is written;
- 429 and 5xx answers are retried with :class:`hf_pinecone._retry.RetryPolicy` on every data-plane call (the
  SDK retries 5xx itself but never 429);
- the index dimension is compared with the vectors once, before the first write.

Sync and async methods share the pure planning code below and differ only in how they perform I/O.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.metadata
import json
import logging
import math
import os
import random
import re
import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import httpx
import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_pinecone import PineconeVectorStore
from langchain_pinecone._utilities import DistanceStrategy, maximal_marginal_relevance
from pydantic import SecretStr

from hf_pinecone._protocol import check_texts
from hf_pinecone._retry import RetryPolicy, parse_retry_after
from hf_pinecone._tls import default_ssl_context
from hf_pinecone.errors import (
    ConfigurationError,
    IndexMismatchError,
    InvalidRecordError,
    MetadataTooLargeError,
    PineconeStoreError,
    redact,
)
from hf_pinecone.ids import content_id

__all__ = [
    "MAX_FETCH_IDS",
    "MAX_METADATA_BYTES",
    "MAX_REQUEST_BYTES",
    "MAX_UPSERT_RECORDS",
    "InvalidRecordError",
    "PineconeStore",
    "UpsertRecord",
    "dedupe_last_wins",
    "embedding_dimension",
    "ensure_index",
    "metadata_size",
    "plan_fetch_chunks",
    "plan_upsert_batches",
    "prepare_metadata",
    "prepare_records",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_UPSERT_RECORDS = 1000
"""Pinecone's limit of records per upsert request."""
MAX_REQUEST_BYTES = 2_000_000
"""Serialized upsert request size we stay strictly below (Pinecone allows 2 MB)."""
MAX_METADATA_BYTES = 40_960
"""Pinecone's per-record metadata limit, in bytes of JSON."""
MAX_FETCH_IDS = 1000
"""Pinecone's limit of ids per fetch or delete request."""
MAX_FETCH_QUERY_BYTES = 48_000
"""Budget for the ``ids=...`` query string of one fetch (a GET): 1,000 UUIDs fit, 1,000 long ids do not."""
MAX_ID_LENGTH = 512
MAX_DIMENSION = 20_000
_MAX_FLOAT_JSON_BYTES = 26  # len(repr(-2.2250738585072014e-308)) + len(", ")
_ENVELOPE_BYTES = 64  # '{"vectors": [], "namespace": ""}' plus slack; the namespace is added separately.
_DEFAULT_CONCURRENCY = 4  # matches the SDK's default urllib3 pool size, so no connection is discarded
_INDEX_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,43}[a-z0-9])?$")
_METRICS = ("cosine", "euclidean", "dotproduct")
_DIMENSION_PROBE_TEXT = "dimension probe"


# --------------------------------------------------------------------------------------------------
# Pure planning: validation, metadata sizing, batch planning. No I/O; shared by the sync and async paths.
# --------------------------------------------------------------------------------------------------


def metadata_size(metadata: dict[str, Any]) -> int:
    """Size of ``metadata`` as Pinecone measures it: bytes of its compact UTF-8 JSON."""
    return len(json.dumps(metadata, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _check_metadata_types(record_id: str, metadata: dict[str, Any]) -> None:
    for key, value in metadata.items():
        if not isinstance(key, str):
            raise InvalidRecordError(
                f"record {record_id!r}: metadata key {key!r} is not a string",
                record_id=record_id,
                field=str(key),
            )
        if isinstance(value, (str, bool, int)):
            continue
        if isinstance(value, float):
            if math.isfinite(value):
                continue
            problem = f"is {value!r}; Pinecone numbers must be finite"
        elif value is None:
            problem = "is null; Pinecone does not store null values (drop the key or use a sentinel string)"
        elif isinstance(value, (list, tuple)):
            if all(isinstance(item, str) for item in value):
                continue
            problem = "is a list with non-string items; Pinecone lists must contain only strings"
        elif isinstance(value, dict):
            problem = "is a nested object; Pinecone metadata is flat (flatten it or serialize it to a string)"
        else:
            problem = (
                f"has type {type(value).__name__}; "
                "Pinecone accepts strings, numbers, booleans and lists of strings"
            )
        raise InvalidRecordError(
            f"record {record_id!r}: metadata {key!r} {problem}", record_id=record_id, field=key
        )


def _check_id(record_id: object) -> str:
    if not isinstance(record_id, str):
        raise InvalidRecordError(f"record id {record_id!r} is not a string", record_id=None, field="id")
    if not 1 <= len(record_id) <= MAX_ID_LENGTH:
        shown = record_id if len(record_id) <= 60 else record_id[:60] + "..."
        raise InvalidRecordError(
            f"record id {shown!r} has {len(record_id)} characters; Pinecone ids have 1-{MAX_ID_LENGTH}",
            record_id=record_id or None,
            field="id",
        )
    return record_id


def _truncate_text_to_fit(
    record_id: str, metadata: dict[str, Any], text_key: str, size: int, limit: int
) -> dict[str, Any]:
    text = metadata.get(text_key)
    without_text = {**metadata, text_key: ""}
    if not isinstance(text, str) or metadata_size(without_text) > limit:
        raise MetadataTooLargeError(
            f"record {record_id!r}: metadata is {size} bytes, over Pinecone's {limit}-byte limit, "
            f"even without the {text_key!r} text; nothing was written",
            record_id=record_id,
            size=size,
        )
    lo, hi = 0, len(text)  # invariant: text[:lo] fits, text[:hi + 1] does not (hi = len(text) does not fit)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if metadata_size({**metadata, text_key: text[:mid]}) <= limit:
            lo = mid
        else:
            hi = mid - 1
    logger.warning(
        "record %r: text truncated from %d to %d characters to fit Pinecone's %d-byte metadata limit",
        record_id,
        len(text),
        lo,
        limit,
    )
    return {**metadata, text_key: text[:lo]}


def prepare_metadata(
    record_id: str,
    metadata: dict[str, Any] | None,
    *,
    text: str | None = None,
    text_key: str = "text",
    truncate_text: bool = False,
    limit: int = MAX_METADATA_BYTES,
) -> dict[str, Any]:
    """Return the metadata to store for one record, as a new dict (the caller's dict is never changed).

    Args:
        record_id: The record's id (named in errors).
        metadata: The caller's metadata, or ``None``.
        text: The record's text, stored under ``text_key`` when given.
        text_key: Metadata key that holds the text.
        truncate_text: Shorten the stored text until the metadata fits instead of raising.
        limit: Metadata size limit in bytes.

    Returns:
        A fresh dict, ready to send.

    Raises:
        InvalidRecordError: A value Pinecone cannot store (null, nested object, non-finite number, ...).
        MetadataTooLargeError: The metadata is over ``limit`` bytes (and cannot be truncated to fit).
    """
    stored = dict(metadata) if metadata else {}
    if text is not None:
        stored[text_key] = text
    _check_metadata_types(record_id, stored)
    size = metadata_size(stored)
    if size <= limit:
        return stored
    if truncate_text:
        return _truncate_text_to_fit(record_id, stored, text_key, size, limit)
    raise MetadataTooLargeError(
        f"record {record_id!r}: metadata is {size} bytes, over Pinecone's {limit}-byte limit per record; "
        "nothing was written (pass truncate_text=True to store a shortened text instead)",
        record_id=record_id,
        size=size,
    )


@dataclass(frozen=True)
class UpsertRecord:
    """One validated record, ready to send.

    Attributes:
        id: Record id.
        values: Dense vector as Python floats.
        metadata: Metadata to store (possibly empty).
        size: Bytes this record adds to an upsert request body (as the SDK serializes it).
    """

    id: str
    values: list[float]
    metadata: dict[str, Any]
    size: int

    def to_request(self) -> dict[str, Any]:
        """The record as the SDK's ``upsert`` accepts it."""
        body: dict[str, Any] = {"id": self.id, "values": self.values}
        if self.metadata:
            body["metadata"] = self.metadata
        return body


def prepare_records(
    ids: Sequence[str],
    vectors: Sequence[Sequence[float]] | np.ndarray,
    metadatas: Sequence[dict[str, Any]],
    *,
    dimension: int | None = None,
) -> list[UpsertRecord]:
    """Validate vectors and build records (metadata must already come from :func:`prepare_metadata`).

    Vectors are converted to Python floats (the SDK rejects numpy scalars) in one numpy pass that also checks
    that they are finite, not all zero, and of one dimension (``dimension`` when given).

    Raises:
        InvalidRecordError: A vector Pinecone would reject.
        IndexMismatchError: The vectors' dimension differs from ``dimension``.
        ValueError: ``ids``, ``vectors`` and ``metadatas`` have different lengths.
    """
    if not (len(ids) == len(vectors) == len(metadatas)):
        raise ValueError(f"got {len(ids)} ids, {len(vectors)} vectors and {len(metadatas)} metadata dicts")
    if not ids:
        return []
    try:
        matrix = np.asarray(vectors, dtype=np.float64)
    except ValueError as exc:  # ragged input
        lengths = sorted({len(v) for v in vectors})
        raise InvalidRecordError(
            f"vectors have different dimensions {lengths}; one call must use one embedding model",
            record_id=None,
            field="values",
        ) from exc
    if matrix.ndim != 2 or matrix.shape[1] == 0:
        raise InvalidRecordError(
            f"expected a batch of non-empty vectors, got shape {matrix.shape}", record_id=None, field="values"
        )
    if dimension is not None and matrix.shape[1] != dimension:
        raise IndexMismatchError(
            f"the vectors have dimension {matrix.shape[1]} but the index has dimension {dimension}; "
            "nothing was written"
        )
    finite_rows = np.asarray(np.isfinite(matrix).all(axis=1))
    nonzero_rows = np.asarray(matrix.any(axis=1))
    bad = ~(finite_rows & nonzero_rows)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        problem = (
            "contains NaN or infinity"
            if not finite_rows[row]
            else "is all zeros (Pinecone needs a non-zero value)"
        )
        raise InvalidRecordError(f"record {ids[row]!r}: vector {problem}", record_id=ids[row], field="values")
    # Serializing every float just to measure it would double the cost of an upsert, so the values are
    # counted at the longest a float64 repr can be; the rest is measured exactly as the SDK writes it
    # (json.dumps defaults, ", " between records).
    values_bytes = _MAX_FLOAT_JSON_BYTES * matrix.shape[1]
    records = []
    for record_id, values, metadata in zip(ids, matrix.tolist(), metadatas, strict=True):
        frame = (
            {"id": record_id, "values": [], "metadata": metadata}
            if metadata
            else {"id": record_id, "values": []}
        )
        records.append(UpsertRecord(record_id, values, metadata, len(json.dumps(frame)) + values_bytes + 2))
    return records


def dedupe_last_wins(records: Iterable[UpsertRecord]) -> list[UpsertRecord]:
    """Keep the last record of each id, in first-seen order.

    Several records with one id in a call are an overwrite; resolving it here keeps the result deterministic
    when batches are sent concurrently.
    """
    latest: dict[str, UpsertRecord] = {}
    for record in records:
        latest[record.id] = record
    return list(latest.values())


def plan_upsert_batches(
    records: Sequence[UpsertRecord],
    *,
    namespace: str | None = None,
    max_records: int = MAX_UPSERT_RECORDS,
    max_bytes: int = MAX_REQUEST_BYTES,
) -> list[list[UpsertRecord]]:
    """Split records into upsert requests of at most ``max_records`` records and strictly under ``max_bytes``.

    Raises:
        InvalidRecordError: One record alone does not fit in a request.
    """
    if not 1 <= max_records <= MAX_UPSERT_RECORDS:
        raise ValueError(f"max_records must be 1-{MAX_UPSERT_RECORDS}, got {max_records}")
    envelope = _ENVELOPE_BYTES + len(json.dumps(namespace or ""))
    batches: list[list[UpsertRecord]] = []
    current: list[UpsertRecord] = []
    current_bytes = envelope
    for record in records:
        if envelope + record.size >= max_bytes:
            raise InvalidRecordError(
                f"record {record.id!r} serializes to {record.size} bytes, too large for one "
                f"{max_bytes}-byte upsert request",
                record_id=record.id,
                field="values",
            )
        if current and (len(current) >= max_records or current_bytes + record.size >= max_bytes):
            batches.append(current)
            current, current_bytes = [], envelope
        current.append(record)
        current_bytes += record.size
    if current:
        batches.append(current)
    return batches


def plan_fetch_chunks(
    ids: Sequence[str], *, max_ids: int = MAX_FETCH_IDS, max_query_bytes: int = MAX_FETCH_QUERY_BYTES
) -> list[list[str]]:
    """Split ids (deduplicated, order kept) into fetch requests of <= ``max_ids`` ids and a bounded URL."""
    chunks: list[list[str]] = []
    current: list[str] = []
    current_bytes = 0
    for record_id in dict.fromkeys(ids):
        cost = len("ids=&") + len(quote(record_id, safe=""))
        if current and (len(current) >= max_ids or current_bytes + cost > max_query_bytes):
            chunks.append(current)
            current, current_bytes = [], 0
        current.append(record_id)
        current_bytes += cost
    if current:
        chunks.append(current)
    return chunks


def _check_dimension(index_dimension: int | None, vector_dimension: int, where: str) -> None:
    if index_dimension is not None and index_dimension != vector_dimension:
        raise IndexMismatchError(
            f"index {where} has dimension {index_dimension} but the embeddings produce vectors of dimension "
            f"{vector_dimension}; nothing was written"
        )


def _field(obj: Any, name: str) -> Any:
    """Read a response field whether the SDK built a model object or, unchecked, left a plain dict."""
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _to_document(record_id: str | None, metadata: dict[str, Any] | None, text_key: str) -> Document:
    stored = dict(metadata or {})
    text = stored.pop(text_key, "")
    return Document(id=record_id, page_content=text if isinstance(text, str) else str(text), metadata=stored)


# The data-plane requests, as calls of a sync ``Index`` or async ``IndexAsyncio`` method (both take the same
# arguments), so the sync and async paths build them once and differ only in how they send them.


def _upsert_call(
    upsert: Callable[..., T], batch: Sequence[UpsertRecord], namespace: str | None, kwargs: dict[str, Any]
) -> Callable[[], T]:
    vectors = [record.to_request() for record in batch]
    # Records are validated before planning, so the SDK's per-value type checks are skipped (they are slow).
    return functools.partial(upsert, vectors=vectors, namespace=namespace, _check_type=False, **kwargs)


def _upserted(response: Any, batch: Sequence[UpsertRecord]) -> int:
    if isinstance(response, dict):  # raw data plane
        return int(response.get("upsertedCount", len(batch)) or 0)
    return int(getattr(response, "upserted_count", len(batch)) or 0)


def _fetch_call(fetch: Callable[..., T], chunk: list[str], namespace: str | None) -> Callable[[], T]:
    return functools.partial(fetch, ids=chunk, namespace=namespace, _check_return_type=False)


def _merge_found(responses: Iterable[Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for response in responses:
        found.update(_field(response, "vectors") or {})
    return found


def _query_call(
    query: Callable[..., T],
    embedding: Sequence[float],
    top_k: int,
    namespace: str | None,
    filter: dict[str, Any] | None,
    *,
    include_values: bool = False,
) -> Callable[[], T]:
    values: dict[str, Any] = {"include_values": True} if include_values else {}
    return functools.partial(
        query,
        vector=[float(x) for x in embedding],
        top_k=top_k,
        include_metadata=True,
        _check_return_type=False,  # the SDK's per-value response checks dominate query time
        namespace=namespace,
        filter=filter,
        **values,
    )


def _rounds(
    texts: list[str], ids: list[str], metadatas: list[dict[str, Any]], size: int
) -> Iterable[tuple[list[str], list[str], list[dict[str, Any]]]]:
    """``add_texts``' embedding rounds: slices of ``size`` (at least 1) texts with their ids and metadata."""
    step = max(1, size)
    for start in range(0, len(texts), step):
        end = start + step
        yield texts[start:end], ids[start:end], metadatas[start:end]


# --------------------------------------------------------------------------------------------------
# Retries: classification is pure; the sync and async loops only differ in how they sleep.
# --------------------------------------------------------------------------------------------------


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    try:
        value = headers.get(name) or headers.get(name.lower())
    except AttributeError:
        return None
    return str(value) if value else None


def _transient(exc: BaseException, policy: RetryPolicy) -> tuple[bool, int | None, float | None]:
    """Whether ``exc`` is worth retrying, with its HTTP status and Retry-After (seconds) when known."""
    from pinecone.exceptions import PineconeApiException, PineconeProtocolError
    from urllib3.exceptions import MaxRetryError, ProtocolError
    from urllib3.exceptions import TimeoutError as Urllib3Timeout

    if isinstance(exc, PineconeApiException):
        status = exc.status if isinstance(exc.status, int) else None
        if status is not None and policy.should_retry_status(status):
            return True, status, parse_retry_after(_header(getattr(exc, "headers", None), "Retry-After"))
        return False, status, None
    # The sync SDK retried 5xx and connection failures itself and gave up, or the connection broke.
    if isinstance(exc, (MaxRetryError, ProtocolError, Urllib3Timeout, PineconeProtocolError, httpx.TransportError)):
        return True, None, None
    try:
        import aiohttp
    except ImportError:  # pragma: no cover - pinecone[asyncio] brings aiohttp
        return False, None, None
    if isinstance(exc, (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, asyncio.TimeoutError)):
        return True, None, None
    return False, None, None


def _retry_delay(policy: RetryPolicy, operation: str, exc: BaseException, attempt: int) -> float | None:
    """Seconds to wait before retrying ``operation`` after ``exc``, or ``None`` to give up and re-raise."""
    retry, status, retry_after = _transient(exc, policy)
    if not retry or attempt >= policy.max_retries:
        return None
    delay = policy.delay(attempt, retry_after)
    logger.warning(
        "Pinecone %s failed (%s); retry %d/%d in %.2fs",
        operation,
        f"HTTP {status}" if status is not None else type(exc).__name__,
        attempt + 1,
        policy.max_retries,
        delay,
    )
    return delay


def _answer(result: T, operation: str) -> T:
    """Refuse a 2xx body that is not the JSON asked for: the SDK then hands back the raw text.

    A proxy's HTML page or a cut-off body is no acknowledgement (an upsert answered that way may never have
    reached the index), so it is raised as a protocol error and retried like a dropped connection.
    """
    if isinstance(result, (str, bytes)):
        from pinecone.exceptions import PineconeProtocolError

        raise PineconeProtocolError(f"Pinecone {operation} answered a body that is not the expected JSON")
    return result


def _call_with_retry(policy: RetryPolicy, operation: str, call: Callable[[], T]) -> T:
    attempt = 0
    while True:
        try:
            return _answer(call(), operation)
        except Exception as exc:
            delay = _retry_delay(policy, operation, exc, attempt)
            if delay is None:
                raise
        time.sleep(delay)
        attempt += 1


async def _acall_with_retry(policy: RetryPolicy, operation: str, call: Callable[[], Awaitable[T]]) -> T:
    attempt = 0
    while True:
        try:
            return _answer(await call(), operation)
        except Exception as exc:
            delay = _retry_delay(policy, operation, exc, attempt)
            if delay is None:
                raise
        await asyncio.sleep(delay)
        attempt += 1


async def _gather_bounded(coros: Sequence[Coroutine[Any, Any, T]], limit: int) -> list[T]:
    """Run coroutines with at most ``limit`` in flight; on the first failure cancel the rest and re-raise."""
    semaphore = asyncio.Semaphore(max(1, limit))

    async def bounded(coro: Coroutine[Any, Any, T]) -> T:
        async with semaphore:
            return await coro

    tasks = [asyncio.ensure_future(bounded(coro)) for coro in coros]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


# --------------------------------------------------------------------------------------------------
# Raw data plane: upsert and fetch as JSON over one pooled httpx client.
# --------------------------------------------------------------------------------------------------
# The SDK turns every vector into an OpenAPI model object and serializes it with the stdlib json encoder:
# on a 2-core machine that costs more CPU than embedding, so ingestion was client-bound. These two calls
# speak the same wire protocol as the SDK (POST /vectors/upsert, GET /vectors/fetch, same headers) with
# one bytes-level JSON encode per request. Everything else (query, delete, stats) stays on the SDK.

try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - orjson is optional
    _orjson = None  # type: ignore[assignment]

_API_VERSION = "2025-04"
_HTTP_TIMEOUT = 60.0
_TRANSPORT_ATTEMPTS = 5
_TRANSPORT_RETRY_STATUSES = frozenset({500, 502, 503, 504})


def _transport_delay(attempt: int) -> float:
    base: float = min(3.0, 0.1 * 2.0**attempt)
    return base * (0.75 + random.random() / 2)  # jitter spreads concurrent retries


def _dumps(payload: Any) -> bytes:
    if _orjson is not None:
        try:
            return _orjson.dumps(payload)
        except TypeError:  # e.g. an int beyond 64 bits in metadata: let json write it and Pinecone judge it
            pass
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


def _loads(body: bytes) -> Any:
    if _orjson is not None:
        return _orjson.loads(body)
    return json.loads(body)


def _upsert_body(batch: Sequence[UpsertRecord], namespace: str | None) -> bytes:
    payload: dict[str, Any] = {"vectors": [record.to_request() for record in batch]}
    if namespace is not None:
        payload["namespace"] = namespace
    return _dumps(payload)


def _fetch_query(chunk: Sequence[str], namespace: str | None) -> str:
    params = [("ids", record_id) for record_id in chunk]
    if namespace is not None:
        params.append(("namespace", namespace))
    return urlencode(params)


def _http_error(response: httpx.Response, operation: str) -> Exception:
    """The exception the SDK raises for this answer, so callers and the retry loop see one error type."""
    from pinecone.exceptions import (
        ForbiddenException,
        NotFoundException,
        PineconeApiException,
        PineconeProtocolError,
        ServiceException,
        UnauthorizedException,
    )

    status = response.status_code
    if 200 <= status < 300:
        return PineconeProtocolError(f"Pinecone {operation} answered a body that is not the expected JSON")
    by_status: dict[int, type[PineconeApiException]] = {
        401: UnauthorizedException,
        403: ForbiddenException,
        404: NotFoundException,
    }
    cls = by_status.get(status, ServiceException if 500 <= status <= 599 else PineconeApiException)
    exc = cls(status=status, reason=response.reason_phrase)
    exc.body = response.content.decode("utf-8", "replace")
    exc.headers = response.headers
    return exc


def _answer_json(response: httpx.Response, operation: str) -> dict[str, Any]:
    if response.is_success:
        try:
            data = _loads(response.content)
        except ValueError:
            data = None
        if isinstance(data, dict):
            return data
    raise _http_error(response, operation)


@functools.cache
def _sdk_version() -> str:
    try:
        return importlib.metadata.version("pinecone")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover
        return "unknown"


class _DataPlane:
    """Upsert and fetch over one pooled ``httpx.Client`` and one ``httpx.AsyncClient`` per event loop."""

    def __init__(self, host: str, api_key: str) -> None:
        host = host.rstrip("/")
        self.base = host if host.startswith(("http://", "https://")) else "https://" + host
        self._headers = {
            "Api-Key": api_key,
            "X-Pinecone-API-Version": _API_VERSION,
            "User-Agent": f"python-client-{_sdk_version()}; source_tag=langchain; hf-pinecone",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        # An AsyncClient is bound to the loop that opened it; a store may outlive several loops (asyncio.run).
        self._async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:  # never show the headers: they hold the API key
        return f"_DataPlane({self.base!r})"

    @property
    def client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(headers=self._headers, timeout=_HTTP_TIMEOUT, verify=default_ssl_context())
            return self._client

    @property
    def async_client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._async_clients.get(loop)
        if client is None:
            client = httpx.AsyncClient(headers=self._headers, timeout=_HTTP_TIMEOUT, verify=default_ssl_context())
            self._async_clients[loop] = client
        return client

    # Like the SDK's own transport, a request is first retried quickly on 5xx and broken connections
    # (5 attempts, 0.1 s doubling to 3 s); the store's RetryPolicy (429 included) wraps that.
    def _send(self, method: str, url: str, body: bytes | None) -> httpx.Response:
        for attempt in range(_TRANSPORT_ATTEMPTS):
            last = attempt == _TRANSPORT_ATTEMPTS - 1
            try:
                response = self.client.request(method, url, content=body)
            except httpx.TransportError:
                if last:
                    raise
            else:
                if last or response.status_code not in _TRANSPORT_RETRY_STATUSES:
                    return response
            time.sleep(_transport_delay(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _asend(self, method: str, url: str, body: bytes | None) -> httpx.Response:
        for attempt in range(_TRANSPORT_ATTEMPTS):
            last = attempt == _TRANSPORT_ATTEMPTS - 1
            try:
                response = await self.async_client.request(method, url, content=body)
            except httpx.TransportError:
                if last:
                    raise
            else:
                if last or response.status_code not in _TRANSPORT_RETRY_STATUSES:
                    return response
            await asyncio.sleep(_transport_delay(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def upsert(self, batch: Sequence[UpsertRecord], namespace: str | None) -> dict[str, Any]:
        body = _upsert_body(batch, namespace)
        return _answer_json(self._send("POST", self.base + "/vectors/upsert", body), "upsert")

    async def aupsert(self, batch: Sequence[UpsertRecord], namespace: str | None) -> dict[str, Any]:
        body = _upsert_body(batch, namespace)
        return _answer_json(await self._asend("POST", self.base + "/vectors/upsert", body), "upsert")

    def fetch(self, chunk: Sequence[str], namespace: str | None) -> dict[str, Any]:
        url = f"{self.base}/vectors/fetch?{_fetch_query(chunk, namespace)}"
        return _answer_json(self._send("GET", url, None), "fetch")

    async def afetch(self, chunk: Sequence[str], namespace: str | None) -> dict[str, Any]:
        url = f"{self.base}/vectors/fetch?{_fetch_query(chunk, namespace)}"
        return _answer_json(await self._asend("GET", url, None), "fetch")

    def describe_index_stats(self) -> dict[str, Any]:
        return _answer_json(self._send("POST", self.base + "/describe_index_stats", b"{}"), "describe_index_stats")

    async def adescribe_index_stats(self) -> dict[str, Any]:
        response = await self._asend("POST", self.base + "/describe_index_stats", b"{}")
        return _answer_json(response, "describe_index_stats")

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        client = self._async_clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()


# --------------------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------------------


class PineconeStore(PineconeVectorStore):
    """langchain-pinecone's ``PineconeVectorStore`` with deterministic ids, limits, retries, ``get_by_ids``.

    Same constructor as ``PineconeVectorStore`` (a one-line swap), plus keyword-only options.

    Example:
        ```python
        from hf_pinecone import PineconeStore, ensure_index

        host = ensure_index("docs", embeddings=embeddings)
        store = PineconeStore(embedding=embeddings, host=host)
        store.add_texts(["hello"])          # id = content_id("hello", namespace)
        store.get_by_ids(store.add_texts(["hello"]))
        ```

    Args:
        index: A ``pinecone`` Index (or IndexAsyncio); else one is built from ``host`` / ``index_name``.
        embedding: The LangChain embeddings used for texts and queries.
        text_key: Metadata key holding the document text.
        namespace: Default namespace (``None`` is Pinecone's default namespace).
        distance_strategy: How scores are turned into relevance (match the index metric).
        pinecone_api_key: API key (else ``PINECONE_API_KEY``).
        index_name: Index name, resolved to its host through the control plane.
        host: Index host (skips the control plane; else ``PINECONE_HOST``).
        truncate_text: When a record's metadata is over 40 KB, shorten its stored text to fit (logged)
            instead of raising :class:`~hf_pinecone.errors.MetadataTooLargeError`.
        retry: Retry policy for 429/5xx and connection failures (default: ``RetryPolicy()``).
        upsert_concurrency: Upsert requests in flight at once in one call.
    """

    def __init__(
        self,
        index: Any | None = None,
        embedding: Embeddings | None = None,
        text_key: str | None = "text",
        namespace: str | None = None,
        distance_strategy: DistanceStrategy | None = DistanceStrategy.COSINE,
        *,
        pinecone_api_key: str | None = None,
        index_name: str | None = None,
        host: str | None = None,
        truncate_text: bool = False,
        retry: RetryPolicy | None = None,
        upsert_concurrency: int = _DEFAULT_CONCURRENCY,
    ) -> None:
        if upsert_concurrency < 1:
            raise ConfigurationError(f"upsert_concurrency must be >= 1, got {upsert_concurrency}")
        super().__init__(
            index,
            embedding,
            text_key,
            namespace,
            distance_strategy,
            pinecone_api_key=pinecone_api_key,
            index_name=index_name,
            host=host,
        )
        self.truncate_text = truncate_text
        """Shorten over-long stored text instead of raising MetadataTooLargeError."""
        self.retry = retry or RetryPolicy()
        """Retry policy for 429/5xx and connection failures on data-plane calls."""
        self.upsert_concurrency = upsert_concurrency
        """Upsert requests in flight at once within one call."""
        self._index_dimension: int | None = None
        self._dimension_known = False
        self._dimension_lock = threading.Lock()
        self._async_users = 0
        self._async_opening: asyncio.Future[Any] | None = None
        self._data_plane: _DataPlane | None = None
        self._data_plane_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(host={self._index_host!r}, namespace={self._namespace!r})"

    # -- async index lifetime ---

    @asynccontextmanager
    async def _async_index_context(self) -> AsyncIterator[Any]:
        """Share one open ``IndexAsyncio`` between every async call in flight.

        Upstream opens and closes the aiohttp session per call on a shared object, so two concurrent calls
        (``asyncio.gather``) close each other's session. Here the first caller opens it, the last one closes
        it. The counter and future change only in code that runs without an await, so no lock (and no
        event-loop binding) is needed.
        """
        if self._async_index_context_open and self._async_index_ctx_manager is not None:
            yield self._async_index_ctx_manager  # the user holds it open with ``async with store``
            return
        self._async_users += 1
        if self._async_opening is None:
            self._async_opening = asyncio.ensure_future(self._open_async_index())
        opening = self._async_opening
        try:
            idx = await asyncio.shield(opening)
            yield idx
        finally:
            self._async_users -= 1
            if self._async_users == 0:
                self._async_opening = None
                await self._close_async_index(opening)

    async def _open_async_index(self) -> Any:
        idx: Any = await self.async_index
        await idx.__aenter__()
        return idx

    async def _close_async_index(self, opening: asyncio.Future[Any]) -> None:
        if not opening.done():
            opening.cancel()
            return
        if not opening.cancelled() and opening.exception() is None:
            await opening.result().__aexit__(None, None, None)
        if not self._async_index_provided:
            self._async_index = None

    # -- shared helpers ---

    def _plane(self) -> _DataPlane | None:
        """The raw upsert/fetch client, or ``None`` when host or key is unknown (then the SDK is used)."""
        if self._data_plane is None:
            host = getattr(self, "_index_host", None)
            key: Any = getattr(self, "_pinecone_api_key", None)
            if isinstance(key, SecretStr):
                key = key.get_secret_value()
            if not host or not isinstance(key, str) or not key:
                return None
            with self._data_plane_lock:
                if self._data_plane is None:
                    self._data_plane = _DataPlane(str(host), key)
        return self._data_plane

    def _ns(self, namespace: str | None) -> str | None:
        return self._namespace if namespace is None else namespace

    def _resolve_ids(
        self, texts: Sequence[str], ids: Sequence[str | None] | None, namespace: str | None
    ) -> list[str]:
        if ids is None:
            return [content_id(text, namespace) for text in texts]
        if len(ids) != len(texts):
            raise ValueError(f"got {len(ids)} ids for {len(texts)} texts")
        return [
            content_id(text, namespace) if record_id is None or record_id == "" else _check_id(record_id)
            for text, record_id in zip(texts, ids, strict=True)
        ]

    def _prepare_texts(
        self,
        texts: Iterable[str],
        metadatas: Sequence[dict[str, Any] | None] | None,
        ids: Sequence[str | None] | None,
        namespace: str | None,
        id_prefix: str | None,
        truncate_text: bool | None,
    ) -> tuple[list[str], list[str], list[dict[str, Any]]]:
        """Everything add_texts can check without I/O, for the whole call, before anything is embedded."""
        texts = check_texts(list(texts))  # non-strings and lone surrogates, named by position
        if metadatas is not None and len(metadatas) != len(texts):
            raise ValueError(f"got {len(metadatas)} metadata dicts for {len(texts)} texts")
        record_ids = self._resolve_ids(texts, ids, namespace)
        if id_prefix:
            record_ids = [
                rid if rid.startswith(id_prefix + "#") else f"{id_prefix}#{rid}" for rid in record_ids
            ]
        truncate = self.truncate_text if truncate_text is None else truncate_text
        stored = [
            prepare_metadata(
                _check_id(rid),
                metadatas[i] if metadatas is not None else None,
                text=texts[i],
                text_key=self._text_key,
                truncate_text=truncate,
            )
            for i, rid in enumerate(record_ids)
        ]
        return texts, record_ids, stored

    def _prepare_vectors(
        self, records: Sequence[tuple[str, Sequence[float], dict[str, Any] | None]]
    ) -> tuple[list[str], list[Sequence[float]], list[dict[str, Any]]]:
        ids = [_check_id(record[0]) for record in records]
        metadatas = [
            prepare_metadata(rid, record[2], text_key=self._text_key, truncate_text=self.truncate_text)
            for rid, record in zip(ids, records, strict=True)
        ]
        return ids, [record[1] for record in records], metadatas

    def _remember_dimension(self, stats: Any) -> int | None:
        dimension = stats.get("dimension") if isinstance(stats, dict) else getattr(stats, "dimension", None)
        with self._dimension_lock:
            self._index_dimension = int(dimension) if dimension else None
            self._dimension_known = True
            return self._index_dimension

    # -- dimension check (once per store) ---

    def _index_dim(self) -> int | None:
        if not self._dimension_known:
            plane = self._plane()
            describe = plane.describe_index_stats if plane is not None else self.index.describe_index_stats
            stats = _call_with_retry(self.retry, "describe_index_stats", describe)
            return self._remember_dimension(stats)
        return self._index_dimension

    async def _aindex_dim(self) -> int | None:
        if not self._dimension_known:
            plane = self._plane()
            if plane is not None:  # the raw data plane: no SDK session to open for one call
                stats = await _acall_with_retry(self.retry, "describe_index_stats", plane.adescribe_index_stats)
            else:
                async with self._async_index_context() as idx:
                    stats = await _acall_with_retry(self.retry, "describe_index_stats", idx.describe_index_stats)
            return self._remember_dimension(stats)
        return self._index_dimension

    # -- upsert ---

    def _build_batches(
        self,
        ids: Sequence[str],
        vectors: Sequence[Sequence[float]] | np.ndarray,
        metadatas: Sequence[dict[str, Any]],
        namespace: str | None,
        index_dimension: int | None,
        batch_size: int | None,
    ) -> list[list[UpsertRecord]]:
        if len(vectors):
            _check_dimension(index_dimension, len(vectors[0]), repr(self._index_host))
        records = dedupe_last_wins(prepare_records(ids, vectors, metadatas))
        max_records = (
            MAX_UPSERT_RECORDS if batch_size is None else max(1, min(batch_size, MAX_UPSERT_RECORDS))
        )
        return plan_upsert_batches(records, namespace=namespace, max_records=max_records)

    def _send_batches(
        self, batches: Sequence[list[UpsertRecord]], namespace: str | None, concurrent: bool, **kwargs: Any
    ) -> int:
        plane = None if kwargs else self._plane()  # SDK-specific upsert options need the SDK
        upsert = plane.upsert if plane is not None else None
        index_upsert = self.index.upsert if plane is None else None

        def send(batch: list[UpsertRecord]) -> int:
            if upsert is not None:
                call: Callable[[], Any] = functools.partial(upsert, batch, namespace)
            else:
                assert index_upsert is not None
                call = _upsert_call(index_upsert, batch, namespace, kwargs)
            return _upserted(_call_with_retry(self.retry, "upsert", call), batch)

        workers = min(self.upsert_concurrency, len(batches)) if concurrent else 1
        if workers <= 1:
            return sum(send(batch) for batch in batches)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hf-pinecone-upsert") as pool:
            return sum(pool.map(send, batches))

    async def _asend_batches(
        self, batches: Sequence[list[UpsertRecord]], namespace: str | None, **kwargs: Any
    ) -> int:
        plane = None if kwargs else self._plane()  # SDK-specific upsert options need the SDK
        if plane is not None:

            async def send(batch: list[UpsertRecord]) -> int:
                call = functools.partial(plane.aupsert, batch, namespace)
                return _upserted(await _acall_with_retry(self.retry, "upsert", call), batch)

            return sum(await _gather_bounded([send(batch) for batch in batches], self.upsert_concurrency))

        async with self._async_index_context() as idx:

            async def sdk_send(batch: list[UpsertRecord]) -> int:
                call = _upsert_call(idx.upsert, batch, namespace, kwargs)
                return _upserted(await _acall_with_retry(self.retry, "upsert", call), batch)

            counts = await _gather_bounded([sdk_send(batch) for batch in batches], self.upsert_concurrency)
        return sum(counts)

    def upsert_vectors(
        self,
        records: Sequence[tuple[str, Sequence[float], dict[str, Any] | None]],
        *,
        namespace: str | None = None,
    ) -> int:
        """Upsert already-embedded records: the ingestion fast path.

        Every record is validated first (ids, metadata types and 40 KB size, vector values, index dimension);
        then the records go out in requests of <= 1,000 records and < 2 MB, ``upsert_concurrency`` at a time,
        each retried on 429/5xx. Metadata is sent as given: put the text under ``text_key`` yourself.

        Args:
            records: ``(id, vector, metadata)`` tuples; metadata may be ``None``.
            namespace: Target namespace (default: the store's).

        Returns:
            The number of records Pinecone acknowledged (a repeated id counts once).

        Raises:
            InvalidRecordError: A record Pinecone would reject; nothing was written.
            MetadataTooLargeError: Metadata over 40 KB (without ``truncate_text``); nothing was written.
            IndexMismatchError: The vectors' dimension differs from the index's; nothing was written.
        """
        if not records:
            return 0
        namespace = self._ns(namespace)
        ids, vectors, metadatas = self._prepare_vectors(records)
        batches = self._build_batches(ids, vectors, metadatas, namespace, self._index_dim(), None)
        return self._send_batches(batches, namespace, concurrent=True)

    async def aupsert_vectors(
        self,
        records: Sequence[tuple[str, Sequence[float], dict[str, Any] | None]],
        *,
        namespace: str | None = None,
    ) -> int:
        """Async :meth:`upsert_vectors`."""
        if not records:
            return 0
        namespace = self._ns(namespace)
        ids, vectors, metadatas = self._prepare_vectors(records)
        batches = self._build_batches(ids, vectors, metadatas, namespace, await self._aindex_dim(), None)
        return await self._asend_batches(batches, namespace)

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        ids: list[str] | None = None,
        namespace: str | None = None,
        batch_size: int | None = None,
        embedding_chunk_size: int = 1000,
        *,
        async_req: bool = True,
        id_prefix: str | None = None,
        truncate_text: bool | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Embed texts and upsert them; the caller's texts and metadata dicts are left unchanged.

        Args:
            texts: Texts to add.
            metadatas: One metadata dict per text (copied, never modified).
            ids: One id per text; ``None`` (or a ``None`` entry) means ``content_id(text, namespace)``, so
                adding the same text again overwrites it.
            namespace: Target namespace (default: the store's).
            batch_size: Records per upsert request (capped at 1,000; requests also stay under 2 MB). ``None``
                sends as many as the limits allow.
            embedding_chunk_size: Texts embedded (and then upserted) per round.
            async_req: Send a round's upsert requests concurrently (``upsert_concurrency`` at a time).
            id_prefix: Prefix ids with ``"{id_prefix}#"`` (as upstream).
            truncate_text: Override the store's ``truncate_text`` for this call.
            **kwargs: Passed to the SDK's ``Index.upsert``.

        Returns:
            The ids, one per text, in order.

        Raises:
            InvalidRecordError: Bad id, metadata type or vector (metadata is checked for all texts before any
                embedding or write).
            MetadataTooLargeError: Metadata over 40 KB; nothing was written.
            IndexMismatchError: The embeddings' dimension differs from the index's; nothing was written.
        """
        namespace = self._ns(namespace)
        texts, record_ids, stored = self._prepare_texts(
            texts, metadatas, ids, namespace, id_prefix, truncate_text
        )
        for round_texts, round_ids, round_stored in _rounds(texts, record_ids, stored, embedding_chunk_size):
            vectors = self._embedding.embed_documents(round_texts)
            batches = self._build_batches(round_ids, vectors, round_stored, namespace, self._index_dim(), batch_size)
            self._send_batches(batches, namespace, concurrent=async_req, **kwargs)
        return record_ids

    async def aadd_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        ids: list[str] | None = None,
        namespace: str | None = None,
        batch_size: int | None = None,
        embedding_chunk_size: int = 1000,
        *,
        id_prefix: str | None = None,
        truncate_text: bool | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Async :meth:`add_texts`."""
        kwargs.pop("async_req", None)
        namespace = self._ns(namespace)
        texts, record_ids, stored = self._prepare_texts(
            texts, metadatas, ids, namespace, id_prefix, truncate_text
        )
        index_dimension = await self._aindex_dim() if texts else None
        for round_texts, round_ids, round_stored in _rounds(texts, record_ids, stored, embedding_chunk_size):
            vectors = await self._embedding.aembed_documents(round_texts)
            batches = self._build_batches(round_ids, vectors, round_stored, namespace, index_dimension, batch_size)
            await self._asend_batches(batches, namespace, **kwargs)
        return record_ids

    # -- fetch ---

    def _fetch(self, ids: Sequence[str], namespace: str | None) -> dict[str, Any]:
        plane = self._plane()
        if plane is not None:
            return _merge_found(
                _call_with_retry(self.retry, "fetch", functools.partial(plane.fetch, chunk, namespace))
                for chunk in plan_fetch_chunks(ids)
            )
        index = self.index
        return _merge_found(
            _call_with_retry(self.retry, "fetch", _fetch_call(index.fetch, chunk, namespace))
            for chunk in plan_fetch_chunks(ids)
        )

    async def _afetch(self, ids: Sequence[str], namespace: str | None) -> dict[str, Any]:
        chunks = plan_fetch_chunks(ids)
        plane = self._plane()
        if plane is not None:
            responses = await _gather_bounded(
                [
                    _acall_with_retry(self.retry, "fetch", functools.partial(plane.afetch, chunk, namespace))
                    for chunk in chunks
                ],
                self.upsert_concurrency,
            )
            return _merge_found(responses)
        async with self._async_index_context() as idx:
            responses = await _gather_bounded(
                [_acall_with_retry(self.retry, "fetch", _fetch_call(idx.fetch, chunk, namespace)) for chunk in chunks],
                self.upsert_concurrency,
            )
        return _merge_found(responses)

    def _documents(self, ids: Sequence[str], found: dict[str, Any]) -> list[Document]:
        return [
            _to_document(record_id, _field(found[record_id], "metadata"), self._text_key)
            for record_id in dict.fromkeys(ids)
            if record_id in found
        ]

    def get_by_ids(self, ids: Sequence[str], /, *, namespace: str | None = None) -> list[Document]:
        """Fetch documents by id in the order of ``ids``; missing ids are skipped (<= 1,000 per request).

        Args:
            ids: Ids to fetch (a repeated id is returned once).
            namespace: Namespace to read (default: the store's).

        Returns:
            One ``Document`` (with ``id``) per id found.
        """
        return self._documents(ids, self._fetch(ids, self._ns(namespace)))

    async def aget_by_ids(self, ids: Sequence[str], /, *, namespace: str | None = None) -> list[Document]:
        """Async :meth:`get_by_ids`."""
        return self._documents(ids, await self._afetch(ids, self._ns(namespace)))

    def existing_ids(self, ids: Sequence[str], *, namespace: str | None = None) -> set[str]:
        """Return which of ``ids`` are stored in the namespace (fetched <= 1,000 at a time).

        Args:
            ids: Candidate ids.
            namespace: Namespace to check (default: the store's).

        Returns:
            The subset of ``ids`` that exist.
        """
        return set(self._fetch(ids, self._ns(namespace))) & set(ids)

    async def aexisting_ids(self, ids: Sequence[str], *, namespace: str | None = None) -> set[str]:
        """Async :meth:`existing_ids`."""
        return set(await self._afetch(ids, self._ns(namespace))) & set(ids)

    # -- search ---

    def _matches_to_docs(self, response: Any) -> list[tuple[Document, float]]:
        return [
            (_to_document(match.get("id"), match.get("metadata"), self._text_key), float(match["score"]))
            for match in response["matches"]
        ]

    def similarity_search_by_vector_with_score(
        self, embedding: list[float], *, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Documents most similar to ``embedding`` with their scores; each ``Document`` has its ``id``.

        Args:
            embedding: Query vector.
            k: Number of results.
            **kwargs: ``filter`` (Pinecone metadata filter) and ``namespace``.
        """
        namespace = self._ns(kwargs.get("namespace"))
        index = self.index
        call = _query_call(index.query, embedding, k, namespace, kwargs.get("filter"))
        return self._matches_to_docs(_call_with_retry(self.retry, "query", call))

    async def asimilarity_search_by_vector_with_score(
        self, embedding: list[float], *, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Async :meth:`similarity_search_by_vector_with_score`."""
        namespace = self._ns(kwargs.get("namespace"))
        async with self._async_index_context() as idx:
            call = _query_call(idx.query, embedding, k, namespace, kwargs.get("filter"))
            response = await _acall_with_retry(self.retry, "query", call)
        return self._matches_to_docs(response)

    def _mmr_select(
        self, embedding: list[float], response: Any, k: int, lambda_mult: float
    ) -> list[Document]:
        matches = response["matches"]
        selected = maximal_marginal_relevance(
            np.array([embedding], dtype=np.float32),
            [m["values"] for m in matches],
            k=k,
            lambda_mult=lambda_mult,
        )
        return [
            _to_document(matches[i].get("id"), matches[i].get("metadata"), self._text_key) for i in selected
        ]

    def max_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: dict[str, Any] | None = None,
        namespace: str | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """Maximal-marginal-relevance search; each ``Document`` has its ``id``.

        Args:
            embedding: Query vector.
            k: Number of results.
            fetch_k: Candidates fetched before re-ranking.
            lambda_mult: 1 favours similarity, 0 diversity.
            filter: Pinecone metadata filter.
            namespace: Namespace to search (default: the store's).
            **kwargs: Ignored (accepted for interface compatibility).
        """
        namespace = self._ns(namespace)
        index = self.index
        call = _query_call(index.query, embedding, fetch_k, namespace, filter, include_values=True)
        return self._mmr_select(embedding, _call_with_retry(self.retry, "query", call), k, lambda_mult)

    async def amax_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: dict[str, Any] | None = None,
        namespace: str | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """Async :meth:`max_marginal_relevance_search_by_vector`."""
        namespace = self._ns(namespace)
        async with self._async_index_context() as idx:
            call = _query_call(idx.query, embedding, fetch_k, namespace, filter, include_values=True)
            response = await _acall_with_retry(self.retry, "query", call)
        return self._mmr_select(embedding, response, k, lambda_mult)

    # -- delete ---

    @staticmethod
    def _delete_requests(
        ids: Sequence[str] | None, delete_all: bool | None, filter: dict[str, Any] | None
    ) -> list[dict[str, Any]]:
        if delete_all:
            return [{"delete_all": True}]
        if ids is not None:
            unique = list(dict.fromkeys(ids))
            return [{"ids": unique[i : i + MAX_FETCH_IDS]} for i in range(0, len(unique), MAX_FETCH_IDS)]
        if filter is not None:
            return [{"filter": filter}]
        raise ValueError("Either ids, delete_all, or filter must be provided.")

    def delete(
        self,
        ids: list[str] | None = None,
        delete_all: bool | None = None,
        namespace: str | None = None,
        filter: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Delete by ids (<= 1,000 per request), by filter, or the whole namespace; retries 429/5xx.

        Args:
            ids: Ids to delete (missing ids are fine).
            delete_all: Delete every record in the namespace.
            namespace: Namespace (default: the store's).
            filter: Pinecone metadata filter.
            **kwargs: Passed to the SDK's ``Index.delete``.
        """
        namespace = self._ns(namespace)
        index = self.index
        for request in self._delete_requests(ids, delete_all, filter):
            _call_with_retry(
                self.retry,
                "delete",
                functools.partial(index.delete, namespace=namespace, **request, **kwargs),
            )

    async def adelete(
        self,
        ids: list[str] | None = None,
        delete_all: bool | None = None,
        namespace: str | None = None,
        filter: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Async :meth:`delete`."""
        namespace = self._ns(namespace)
        requests = self._delete_requests(ids, delete_all, filter)
        async with self._async_index_context() as idx:
            await _gather_bounded(
                [
                    _acall_with_retry(
                        self.retry,
                        "delete",
                        functools.partial(idx.delete, namespace=namespace, **request, **kwargs),
                    )
                    for request in requests
                ],
                self.upsert_concurrency,
            )


# --------------------------------------------------------------------------------------------------
# ensure_index
# --------------------------------------------------------------------------------------------------

_dimension_cache: dict[int, tuple[Callable[[], object], int]] = {}
_dimension_cache_lock = threading.Lock()


def embedding_dimension(embeddings: Embeddings) -> int:
    """Dimension of ``embeddings``' vectors, from one probe query, cached per embeddings object.

    Args:
        embeddings: Any LangChain embeddings.

    Returns:
        The length of ``embeddings.embed_query("dimension probe")``.
    """
    key = id(embeddings)
    with _dimension_cache_lock:
        entry = _dimension_cache.get(key)
        if entry is not None and entry[0]() is embeddings:
            return entry[1]
    dimension = len(embeddings.embed_query(_DIMENSION_PROBE_TEXT))
    if dimension < 1:
        raise ConfigurationError(f"{type(embeddings).__name__} returned an empty vector for a probe query")
    ref: Callable[[], object]
    try:
        ref = weakref.ref(embeddings, lambda _: _dimension_cache.pop(key, None))
    except TypeError:  # not weak-referenceable: keep it alive rather than risk a reused id()

        def ref() -> object:
            return embeddings

    with _dimension_cache_lock:
        _dimension_cache[key] = (ref, dimension)
    return dimension


def _validate_index_args(name: str, dimension: int | None, metric: str) -> None:
    if not isinstance(name, str) or not _INDEX_NAME_RE.match(name):
        raise ConfigurationError(
            f"invalid Pinecone index name {name!r}: use 1-45 characters, lowercase letters, digits or '-', "
            "starting and ending with a letter or digit"
        )
    if metric not in _METRICS:
        raise ConfigurationError(f"invalid metric {metric!r}: use one of {', '.join(_METRICS)}")
    if dimension is not None and (
        isinstance(dimension, bool) or not isinstance(dimension, int) or not 1 <= dimension <= MAX_DIMENSION
    ):
        raise ConfigurationError(f"invalid dimension {dimension!r}: use an integer from 1 to {MAX_DIMENSION}")


def _control_error(
    exc: Exception, action: str, name: str, api_key: str
) -> PineconeStoreError | ConfigurationError:
    status = getattr(exc, "status", None)
    body = getattr(exc, "body", None)
    detail = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or exc)
    detail = redact(detail, [api_key])[:500]
    if status == 401:
        return ConfigurationError(
            f"Pinecone rejected the API key (HTTP 401) while trying to {action} {name!r}"
        )
    return PineconeStoreError(f"could not {action} Pinecone index {name!r}: HTTP {status}: {detail}")


def _model_field(model: Any, field: str) -> Any:
    value = getattr(model, field, None)
    if value is None and hasattr(model, "to_dict"):
        value = model.to_dict().get(field)
    return value


def _is_ready(model: Any) -> tuple[bool, str | None]:
    status = _model_field(model, "status")
    if status is None:
        return False, None
    if isinstance(status, dict):
        return bool(status.get("ready")), status.get("state")
    return bool(getattr(status, "ready", False)), getattr(status, "state", None)


def _check_existing(model: Any, name: str, dimension: int | None, metric: str) -> None:
    existing_metric = str(_model_field(model, "metric"))
    existing_dimension = _model_field(model, "dimension")
    vector_type = _model_field(model, "vector_type")
    if vector_type not in (None, "dense"):
        raise IndexMismatchError(f"index {name!r} is a {vector_type} index; a dense index is required")
    if dimension is not None and existing_dimension is not None and int(existing_dimension) != dimension:
        raise IndexMismatchError(
            f"index {name!r} exists with dimension {int(existing_dimension)}, but dimension {dimension} was "
            "requested (delete the index or use embeddings of the same dimension)"
        )
    if existing_metric != metric:
        raise IndexMismatchError(
            f"index {name!r} exists with metric {existing_metric!r}, but {metric!r} was requested"
        )


def ensure_index(
    name: str,
    *,
    dimension: int | None = None,
    embeddings: Embeddings | None = None,
    metric: str = "cosine",
    cloud: str = "aws",
    region: str = "us-east-1",
    api_key: str | None = None,
    host: str | None = None,
    timeout: float = 300,
    deletion_protection: str = "disabled",
    tags: dict[str, str] | None = None,
    retry: RetryPolicy | None = None,
) -> str:
    """Create a serverless Pinecone index if it is missing, wait until it is ready, and return its host.

    If the index exists, its dimension and metric are checked first, so a mismatch fails before anything is
    written. The dimension comes from ``dimension`` or, failing that, from ``embeddings`` (one probe query,
    cached per embeddings object).

    Args:
        name: Index name (1-45 characters: lowercase letters, digits, '-'; alphanumeric at both ends).
        dimension: Vector dimension.
        embeddings: Embeddings whose dimension to use when ``dimension`` is not given.
        metric: ``cosine``, ``euclidean`` or ``dotproduct``.
        cloud: Serverless cloud.
        region: Serverless region.
        api_key: Pinecone API key (else ``PINECONE_API_KEY``).
        host: Control-plane URL (else ``PINECONE_CONTROLLER_HOST``, else Pinecone's).
        timeout: Seconds to wait for the index to become ready.
        deletion_protection: ``enabled`` or ``disabled`` (new indexes only).
        tags: Tags for a new index.
        retry: Retry policy for 429/5xx on control-plane calls.

    Returns:
        The index host, ready to pass to ``PineconeStore(host=...)``.

    Raises:
        ConfigurationError: Invalid name, metric or dimension; no API key; the key was rejected; or the index
            is missing and no dimension is known.
        IndexMismatchError: The index exists with another dimension or metric.
        PineconeStoreError: Pinecone refused the request, or the index was not ready within ``timeout``.
    """
    from pinecone import Pinecone, ServerlessSpec
    from pinecone.exceptions import NotFoundException, PineconeApiException

    _validate_index_args(name, dimension, metric)
    key = api_key or os.environ.get("PINECONE_API_KEY")
    if not key:
        raise ConfigurationError("no Pinecone API key: pass api_key= or set PINECONE_API_KEY")
    controller = host or os.environ.get("PINECONE_CONTROLLER_HOST") or None
    policy = retry or RetryPolicy()
    client = Pinecone(api_key=key, host=controller)

    def describe() -> Any | None:
        try:
            return _call_with_retry(policy, "describe_index", lambda: client.describe_index(name=name))
        except NotFoundException:
            return None
        except PineconeApiException as exc:
            raise _control_error(exc, "describe", name, key) from None

    def wanted_dimension() -> int | None:
        if dimension is not None:
            return dimension
        return embedding_dimension(embeddings) if embeddings is not None else None

    model = describe()
    if model is None:
        dim = wanted_dimension()
        if dim is None:
            raise ConfigurationError(
                f"index {name!r} does not exist; pass dimension= or embeddings= to create it"
            )
        _validate_index_args(name, dim, metric)
        try:
            _call_with_retry(
                policy,
                "create_index",
                lambda: client.create_index(
                    name=name,
                    dimension=dim,
                    metric=metric,
                    spec=ServerlessSpec(cloud=cloud, region=region),
                    deletion_protection=deletion_protection,
                    tags=tags,
                    timeout=-1,  # we poll ourselves, without the SDK's fixed 5 s sleeps
                ),
            )
            logger.info("created Pinecone index %r (dimension %d, metric %s)", name, dim, metric)
        except PineconeApiException as exc:
            if exc.status != 409:  # 409: created concurrently by someone else; checked below
                raise _control_error(exc, "create", name, key) from None
        model = describe()
        if model is None:
            raise PineconeStoreError(f"index {name!r} disappeared right after it was created")
    _check_existing(model, name, wanted_dimension(), metric)

    deadline = time.monotonic() + timeout
    pause = 0.05
    while True:
        ready, state = _is_ready(model)
        if ready:
            break
        if state in ("InitializationFailed", "Terminating"):
            raise PineconeStoreError(f"index {name!r} is in state {state}")
        if time.monotonic() >= deadline:
            raise PineconeStoreError(f"index {name!r} not ready after {timeout:g} s (state {state})")
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, 5.0)
        model = describe()
        if model is None:
            raise PineconeStoreError(f"index {name!r} was deleted while waiting for it to become ready")
    index_host = _model_field(model, "host")
    if not index_host:
        raise PineconeStoreError(f"Pinecone returned no host for index {name!r}")
    return str(index_host)
