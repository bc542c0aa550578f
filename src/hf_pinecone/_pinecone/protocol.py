"""Sans-IO core of the Pinecone control and data planes: requests as data, answers as data or typed errors.

Nothing here sends a byte. :mod:`hf_pinecone._pinecone.transport` sends the :class:`Request` objects built
here and hands every answer (or transport failure) back to :func:`interpret` / :func:`transport_failure`,
which decide, in one place, what is a result, what is retried and which library error a failure becomes.
The wire format is Pinecone's REST API at version :data:`~hf_pinecone._pinecone.limits.API_VERSION`
(https://docs.pinecone.io/reference/api/2025-04/data-plane and .../control-plane), the one the ``pinecone``
SDK 7.x speaks; the headers are the SDK's (``Api-Key``, ``X-Pinecone-API-Version``, a ``User-Agent`` with
``source_tag=langchain``).
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import re
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from hf_pinecone._pinecone.limits import API_VERSION, DEFAULT_NAMESPACE
from hf_pinecone._pinecone.records import UpsertRecord
from hf_pinecone._pinecone.sparse import SparseVector
from hf_pinecone._retry import RetryPolicy, parse_retry_after
from hf_pinecone.errors import (
    IndexNotFoundError,
    PineconeAuthError,
    PineconeRequestError,
    PineconeResponseError,
    PineconeUnavailableError,
    redact,
)

try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - orjson is a dependency
    _orjson = None  # type: ignore[assignment]

__all__ = [
    "Failure",
    "Request",
    "base_url",
    "create_index",
    "delete",
    "delete_index",
    "describe_index",
    "describe_index_stats",
    "fetch",
    "headers",
    "interpret",
    "list_ids",
    "list_indexes",
    "next_delay",
    "query",
    "transport_failure",
    "upsert",
]

DEFAULT_CONTROLLER = "https://api.pinecone.io"
_MESSAGE_LIMIT = 300


# --------------------------------------------------------------------------------------------------- requests
@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request, before any I/O.

    Attributes:
        operation: What it does, named in logs and errors (``upsert``, ``fetch``, ``describe_index``, ...).
        method: HTTP method.
        path: Path (and query string) below the plane's base URL.
        body: JSON body, already serialized, or ``None``.
        subject: What a 404 is about (``index 'docs'``), for the error message.
        without_values: Decode the answer without its ``"values"`` arrays (which come back empty): for a
            fetch that only asks which ids exist (see :func:`loads_without_values`).
    """

    operation: str
    method: str
    path: str
    body: bytes | None = None
    subject: str | None = None
    without_values: bool = False


def dumps(payload: Any) -> bytes:
    """Compact JSON bytes (orjson when it can; the stdlib for what orjson refuses, e.g. ints over 64 bits)."""
    if _orjson is not None:
        try:
            return _orjson.dumps(payload)
        except TypeError:
            pass
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


def loads(body: bytes) -> Any:
    """Parse JSON bytes."""
    if _orjson is not None:
        return _orjson.loads(body)
    return json.loads(body)


# A "values" key and its array up to the first "]". A quote cannot occur unescaped inside a JSON string, so the
# key never matches inside one; a span that holds a quote is a list of strings (metadata) and is left as it is.
# (A class of one excluded byte is re's fast path: [^\]"] would be ~10x slower.)
_VALUES_ARRAY = re.compile(rb'"values":\s*\[[^\]]*\]')
_NO_VALUES = b'"values":[]'


def _blank(match: re.Match[bytes]) -> bytes:
    span = match.group()
    return span if b'"' in span[span.index(b"[") :] else _NO_VALUES


def loads_without_values(body: bytes) -> Any:
    """Parse a fetch answer with every record's ``values`` (and sparse ``values``) left out as ``[]``.

    A fetch answer holds every vector in full: ~8 KB of digits per 384-d record, which ``orjson.loads`` turns into
    Python floats (~30 us per record) only for the existence check to read the ids. Blanking the arrays of numbers
    first is one regex pass (~6 us per record with the parse). Anything the pattern cannot blank cleanly (e.g.
    nested arrays) makes the result invalid JSON, and the full body is parsed instead.
    """
    try:
        return loads(_VALUES_ARRAY.sub(_blank, body))
    except ValueError:
        return loads(body)


@functools.cache
def _sdk_version() -> str:
    try:
        return importlib.metadata.version("pinecone")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover
        return "unknown"


def headers(api_key: str) -> dict[str, str]:
    """The headers the SDK sends (the key only here: never log or repr this dict)."""
    return {
        "Api-Key": api_key,
        "X-Pinecone-API-Version": API_VERSION,
        "User-Agent": f"python-client-{_sdk_version()}; source_tag=langchain; hf-pinecone",
        "Content-Type": "application/json",
        "Accept": "application/json",
    }


def base_url(host: str) -> str:
    """``host`` as a base URL: ``https://`` is added when it has no scheme (the SDK does the same)."""
    host = host.strip().rstrip("/")
    return host if host.startswith(("http://", "https://")) else "https://" + host


def _with_namespace(payload: dict[str, Any], namespace: str | None) -> dict[str, Any]:
    if namespace is not None:
        payload["namespace"] = namespace
    return payload


def upsert(batch: Sequence[UpsertRecord], namespace: str | None) -> Request:
    """``POST /vectors/upsert`` of one planned batch: the records' JSON fragments joined, never re-serialized."""
    tail = b"]" if namespace is None else b'],"namespace":' + dumps(namespace)
    body = b'{"vectors":[' + b",".join(record.fragment or dumps(record.to_request()) for record in batch) + tail + b"}"
    return Request("upsert", "POST", "/vectors/upsert", body)


def fetch(ids: Sequence[str], namespace: str | None, *, values: bool = True) -> Request:
    """``GET /vectors/fetch?ids=...`` of one planned chunk of ids (``values=False``: the answer's values unread)."""
    params = [("ids", record_id) for record_id in ids]
    if namespace is not None:
        params.append(("namespace", namespace))
    return Request("fetch", "GET", "/vectors/fetch?" + urlencode(params), without_values=not values)


def query(
    vector: Sequence[float] | None,
    *,
    top_k: int,
    namespace: str | None,
    filter: Mapping[str, Any] | None = None,
    include_values: bool = False,
    include_metadata: bool = True,
    sparse_vector: SparseVector | None = None,
) -> Request:
    """``POST /query`` by dense vector, sparse vector (``sparseVector``, 2025-04 API reference), or both.

    No dense vector is sent for a query of a sparse index (``vector`` ``None``).
    """
    payload: dict[str, Any] = {"topK": top_k, "includeMetadata": include_metadata, "includeValues": include_values}
    if vector is not None:
        payload["vector"] = [float(x) for x in vector]
    if sparse_vector is not None:
        payload["sparseVector"] = {"indices": list(sparse_vector["indices"]), "values": list(sparse_vector["values"])}
    if filter is not None:
        payload["filter"] = dict(filter)
    return Request("query", "POST", "/query", dumps(_with_namespace(payload, namespace)))


def delete(
    *,
    namespace: str | None,
    ids: Sequence[str] | None = None,
    delete_all: bool = False,
    filter: Mapping[str, Any] | None = None,
) -> Request:
    """``POST /vectors/delete`` by ids (one planned chunk), everything, or a filter."""
    payload: dict[str, Any] = {}
    if delete_all:
        payload["deleteAll"] = True
    elif ids is not None:
        payload["ids"] = list(ids)
    elif filter is not None:
        payload["filter"] = dict(filter)
    return Request("delete", "POST", "/vectors/delete", dumps(_with_namespace(payload, namespace)))


def describe_index_stats(filter: Mapping[str, Any] | None = None) -> Request:
    """``POST /describe_index_stats``."""
    payload = {"filter": dict(filter)} if filter is not None else {}
    return Request("describe_index_stats", "POST", "/describe_index_stats", dumps(payload))


def namespace_count(stats: Mapping[str, Any], namespace: str | None) -> int | None:
    """Records in ``namespace`` per a ``describe_index_stats`` answer (``None``: the answer does not say).

    The default namespace (``None`` or ``""``) is listed as ``""`` or, in API 2025-04, as ``"__default__"``; a
    namespace that is not listed holds nothing.
    """
    if stats.get("totalVectorCount") == 0:
        return 0
    namespaces = stats.get("namespaces")
    if not isinstance(namespaces, Mapping):
        return None
    names = ("", DEFAULT_NAMESPACE) if not namespace else (namespace,)
    counts = [entry.get("vectorCount", 0) for name in names if isinstance(entry := namespaces.get(name), Mapping)]
    return int(sum(counts))


def list_ids(
    *, namespace: str | None, prefix: str | None = None, limit: int | None = None, token: str | None = None
) -> Request:
    """``GET /vectors/list`` (one page of ids)."""
    params: list[tuple[str, str]] = []
    if prefix:
        params.append(("prefix", prefix))
    if limit is not None:
        params.append(("limit", str(limit)))
    if token:
        params.append(("paginationToken", token))
    if namespace is not None:
        params.append(("namespace", namespace))
    return Request("list", "GET", "/vectors/list" + ("?" + urlencode(params) if params else ""))


def describe_index(name: str) -> Request:
    """Control plane ``GET /indexes/{name}``."""
    return Request("describe_index", "GET", "/indexes/" + quote(name, safe=""), subject=f"index {name!r}")


def list_indexes() -> Request:
    """Control plane ``GET /indexes``."""
    return Request("list_indexes", "GET", "/indexes")


def create_index(
    name: str,
    *,
    dimension: int | None,
    metric: str,
    cloud: str,
    region: str,
    deletion_protection: str = "disabled",
    tags: Mapping[str, str] | None = None,
    vector_type: str = "dense",
) -> Request:
    """Control plane ``POST /indexes`` of a serverless index: dense (with a dimension) or sparse (without)."""
    payload: dict[str, Any] = {
        "name": name,
        "metric": metric,
        "spec": {"serverless": {"cloud": cloud, "region": region}},
        "deletion_protection": deletion_protection,
        "vector_type": vector_type,
    }
    if dimension is not None:
        payload["dimension"] = dimension
    if tags:
        payload["tags"] = dict(tags)
    return Request("create_index", "POST", "/indexes", dumps(payload), subject=f"index {name!r}")


def delete_index(name: str) -> Request:
    """Control plane ``DELETE /indexes/{name}``."""
    return Request("delete_index", "DELETE", "/indexes/" + quote(name, safe=""), subject=f"index {name!r}")


# --------------------------------------------------------------------------------------------------- answers
@dataclass(frozen=True, slots=True)
class Failure:
    """A failed attempt: the error it becomes if it is not (or no longer) retried.

    Attributes:
        error_type: The library error class.
        message: Its message, without the attempt count.
        status_code: HTTP status, when an answer arrived.
        server_message: Pinecone's own message, when it sent one.
        retryable: Whether another attempt may succeed.
        retry_after: The server's ``Retry-After``, in seconds.
    """

    error_type: type[PineconeRequestError]
    message: str
    status_code: int | None = None
    server_message: str | None = None
    retryable: bool = False
    retry_after: float | None = None

    def error(self, request: Request, host: str, attempts: int) -> PineconeRequestError:
        """The library error for this failure after ``attempts`` requests."""
        tail = f" (after {attempts} attempts)" if attempts > 1 else ""
        return self.error_type(
            f"{self.message}{tail}",
            operation=request.operation,
            status_code=self.status_code,
            attempts=attempts,
            host=host,
            server_message=self.server_message,
        )


def server_message(body: bytes) -> str | None:
    """Pinecone's error message from a body: data plane ``{"message"}``, control plane ``{"error": {...}}``."""
    if not body:
        return None
    try:
        data = loads(body)
    except ValueError:
        text = body[:_MESSAGE_LIMIT].decode("utf-8", "replace").strip()
        return text or None
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(data.get("message"), str):
            return str(data["message"])
        if isinstance(error, str):
            return error
    return None


def interpret(
    request: Request,
    status: int,
    header: Callable[[str], str | None],
    body: bytes,
    *,
    host: str,
    policy: RetryPolicy,
    secrets: Sequence[str] = (),
) -> Any:
    """The parsed JSON of a successful answer, or a :class:`Failure` saying what went wrong.

    Args:
        request: What was sent.
        status: HTTP status of the answer.
        header: Reads one response header (case-insensitive), ``None`` when absent.
        body: The answer's body.
        host: The base URL asked (named in messages).
        policy: Which statuses are transient.
        secrets: Literal values to scrub from quoted server messages.
    """
    what = f"Pinecone {request.operation} at {host}"
    if 200 <= status < 300:
        if not body.strip():
            return {}  # delete and delete_index answer with an empty body
        try:
            data = loads_without_values(body) if request.without_values else loads(body)
        except ValueError:
            data = None
        if isinstance(data, dict):
            return data
        # A proxy's HTML page or a cut-off body is no acknowledgement: an upsert answered that way may never
        # have reached the index, so it is retried like a dropped connection.
        return Failure(
            PineconeResponseError,
            f"{what} answered HTTP {status} with a body that is not the expected JSON",
            status_code=status,
            retryable=True,
        )
    message = server_message(body)
    message = redact(message, secrets)[:_MESSAGE_LIMIT] if message else None
    said = f": {message}" if message else ""
    if status in (401, 403):
        reason = "rejected the API key" if status == 401 else "refused access"
        return Failure(
            PineconeAuthError,
            f"{what} {reason} (HTTP {status}){said}; check PINECONE_API_KEY (or pinecone_api_key=/api_key=)",
            status_code=status,
            server_message=message,
        )
    if status == 404:
        subject = request.subject or "the index"
        return Failure(
            IndexNotFoundError,
            f"{what}: {subject} not found (HTTP 404){said}; check the index name and host",
            status_code=status,
            server_message=message,
        )
    if policy.should_retry_status(status):
        return Failure(
            PineconeUnavailableError,
            f"{what} answered HTTP {status}{said}",
            status_code=status,
            server_message=message,
            retryable=True,
            retry_after=parse_retry_after(header("Retry-After")),
        )
    return Failure(
        PineconeRequestError,
        f"{what} was refused with HTTP {status}{said}",
        status_code=status,
        server_message=message,
    )


def _ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def transport_failure(request: Request, exc: BaseException, *, host: str, retryable: bool) -> Failure:
    """The :class:`Failure` for a request that got no answer (refused, reset, timed out, bad TLS, bad URL).

    Args:
        request: What was sent.
        exc: The transport's exception.
        host: The base URL asked.
        retryable: Whether the transport classes ``exc`` as transient (connection and timeout errors).
    """
    what = f"Pinecone {request.operation} at {host}"
    ssl_error = _ssl_cause(exc)
    if ssl_error is not None and "WRONG_VERSION_NUMBER" in str(ssl_error):
        # An https request answered in plain http: retrying cannot help, the URL is wrong.
        return Failure(
            PineconeUnavailableError,
            f"{what}: the server does not speak TLS ({type(ssl_error).__name__}); if it is a plain-http server "
            f"(a local one), write the host with its scheme: {host.replace('https://', 'http://', 1)}",
        )
    detail = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else "")[:_MESSAGE_LIMIT]
    kind = type(exc).__name__
    hint = "" if retryable else "; check the host"
    return Failure(
        PineconeUnavailableError,
        f"{what} failed: {kind}{': ' + detail if detail else ''}{hint}",
        retryable=retryable,
    )


def next_delay(policy: RetryPolicy, failure: Failure, attempt: int) -> float | None:
    """Seconds to wait before retrying after ``failure`` on 0-based ``attempt``, or ``None`` to give up."""
    if not failure.retryable or attempt >= policy.max_retries:
        return None
    return policy.delay(attempt, failure.retry_after)
