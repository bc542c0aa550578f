"""A local Pinecone-compatible server: control plane and data plane on one port.

The unmodified ``pinecone`` SDK (sync and asyncio) and ``langchain-pinecone`` talk to it through
``Pinecone(api_key="local", host=base_url)``: ``create_index`` returns an index whose ``host`` is
``http://<host>:<port>/indexes/<name>``, and the data-plane routes live under that prefix. Wire formats,
limits and error bodies follow ``docs/ARCHITECTURE.md`` and the project's protocol notes (API 2025-04).

Scores: ``cosine`` is the cosine similarity, ``dotproduct`` the dot product (both: higher first),
``euclidean`` the SQUARED euclidean distance (lower first), as Pinecone documents for that metric.

Search is exact (one float32 matrix-vector product per query over the namespace). With ``data_dir`` every
acknowledged write is in an fsync-ed write-ahead log first (see :mod:`hf_pinecone.local._pinecone_storage`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import logging
import re
import signal
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import numpy as np
import numpy.typing as npt
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hf_pinecone.local._pinecone_filter import FilterError, Node, compile_filter
from hf_pinecone.local._pinecone_storage import (
    DEFAULT_COMPACT_BYTES,
    IndexConfig,
    IndexStore,
    Metadata,
    Registry,
)
from hf_pinecone.local._runner import drop_frames, run_in_background

if TYPE_CHECKING:
    from hf_pinecone.local.faults import FaultPlan

__all__ = ["create_pinecone_app", "run_pinecone_server", "serve_pinecone"]

logger = logging.getLogger(__name__)

API_VERSION = "2025-04"
MAX_UPSERT_RECORDS = 1000
MAX_UPSERT_BYTES = 2 * 1024 * 1024
MAX_METADATA_BYTES = 40960
MAX_ID_LENGTH = 512
MAX_DIMENSION = 20_000
MAX_TOP_K = 10_000
MAX_QUERY_RESULT_BYTES = 4 * 1024 * 1024
MAX_IDS_PER_REQUEST = 1000
# Pinecone documents a default of 100 and no maximum; 1000 mirrors its fetch/delete cap.
MAX_LIST_LIMIT = 1000
# Bodies are read (and discarded) up to this size so the client gets an error body, not a reset connection.
MAX_BODY_BYTES = 64 * 1024 * 1024
METRICS = ("cosine", "euclidean", "dotproduct")
_INDEX_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,43}[a-z0-9])?$")
_INDEX_NAME_MESSAGE = (
    "Resource name must consist of lower case alphanumeric characters or '-', start and end with an "
    "alphanumeric character, and be 1-45 characters long"
)

# gRPC status codes used in data-plane error bodies.
_INVALID_ARGUMENT = 3
_NOT_FOUND = 5
_UNAUTHENTICATED = 16
_RESOURCE_EXHAUSTED = 8
_FAILED_PRECONDITION = 9


class ApiError(Exception):
    """An error answered with Pinecone's JSON error body."""

    def __init__(self, status: int, body: Mapping[str, Any]) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body


def data_error(status: int, code: int, message: str) -> ApiError:
    """Data-plane error: ``{"code": <gRPC code>, "message": ..., "details": []}``."""
    return ApiError(status, {"code": code, "message": message, "details": []})


def control_error(status: int, code: str, message: str) -> ApiError:
    """Control-plane error: ``{"error": {"code": ..., "message": ...}, "status": ...}``."""
    return ApiError(status, {"error": {"code": code, "message": message}, "status": status})


def invalid(message: str) -> ApiError:
    """400 INVALID_ARGUMENT in the data-plane shape."""
    return data_error(400, _INVALID_ARGUMENT, message)


def _json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _loads(raw: bytes, *, control: bool) -> Any:
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except (orjson.JSONDecodeError, RecursionError) as exc:
        message = f"Failed to parse the request body as JSON: {exc}"
        raise (control_error(400, "INVALID_ARGUMENT", message) if control else invalid(message)) from None


async def _read_body(request: Request, *, control: bool) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large(int(declared), control)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large(size, control)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, control: bool) -> ApiError:
    message = f"Request size {size} bytes exceeds the maximum supported size of {MAX_BODY_BYTES} bytes"
    if control:
        return control_error(413, "PAYLOAD_TOO_LARGE", message)
    return data_error(413, _RESOURCE_EXHAUSTED, message)


# ----------------------------------------------------------------------------------------------------
# Validation helpers (pure)
# ----------------------------------------------------------------------------------------------------
def _namespace(body: Mapping[str, Any]) -> str:
    namespace = body.get("namespace", "")
    if namespace is None:
        return ""
    if not isinstance(namespace, str):
        raise invalid("namespace must be a string")
    return namespace


def _object(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise invalid(f"{what} request body must be a JSON object")
    return body


def _record_id(value: Any) -> str:
    if not isinstance(value, str):
        raise invalid(f"Vector ID must be a string, got {type(value).__name__}")
    if not 1 <= len(value) <= MAX_ID_LENGTH:
        raise invalid(f"Vector ID must be between 1 and {MAX_ID_LENGTH} characters long, got {len(value)}")
    return value


def _check_numbers(values: Any, what: str) -> list[float]:
    if not isinstance(values, list):
        raise invalid(f"{what} must be an array of numbers")
    kinds = set(map(type, values))
    if not kinds <= {float, int}:
        raise invalid(f"{what} must contain only numbers")
    return values


def _dense_vector(values: Any, dimension: int, *, query: bool, metric: str) -> npt.NDArray[np.float32]:
    numbers = _check_numbers(values, "Query vector" if query else "Vector values")
    if len(numbers) != dimension:
        prefix = "Query vector" if query else "Vector"
        raise invalid(f"{prefix} dimension {len(numbers)} does not match the dimension of the index {dimension}")
    with np.errstate(over="ignore"):
        vector = np.asarray(numbers, dtype=np.float32)
    if not np.all(np.isfinite(vector)):
        raise invalid("Vector values must be finite 32-bit floats")
    if not query and not vector.any():
        raise invalid("Dense vectors must contain at least one non-zero value")
    if query and metric == "cosine" and not vector.any():
        raise invalid("Query vector must contain at least one non-zero value for the cosine metric")
    return vector


def _metadata(value: Any, record_id: str) -> Metadata | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid(f"Metadata for vector {record_id!r} must be an object")
    clean: Metadata = {}
    for key, item in value.items():
        if isinstance(item, (bool, str)):
            clean[key] = item
        elif isinstance(item, (int, float)):
            clean[key] = float(item)  # Pinecone stores every number as float64
        elif isinstance(item, list) and all(isinstance(element, str) for element in item):
            clean[key] = list(item)
        else:
            kind = "null" if item is None else ("list containing non-strings" if isinstance(item, list) else "object")
            raise invalid(
                f"Metadata value for field {key!r} of vector {record_id!r} must be a string, number, "
                f"boolean or list of strings, got {kind}"
            )
    size = len(orjson.dumps(clean))
    if size > MAX_METADATA_BYTES:
        raise invalid(
            f"Metadata size is {size} bytes, which exceeds the limit of {MAX_METADATA_BYTES} bytes per vector"
        )
    return clean or None


def _filter(body: Mapping[str, Any]) -> Node | None:
    spec = body.get("filter")
    if spec is None:
        return None
    if isinstance(spec, dict) and not spec:
        return None
    try:
        return compile_filter(spec)
    except FilterError as exc:
        raise invalid(f"Invalid filter: {exc}") from None


def _bool(body: Mapping[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise invalid(f"{key} must be a boolean")
    return value


def _ids(value: Any, *, what: str) -> list[str]:
    if not isinstance(value, list):
        raise invalid(f"{what} must be an array of strings")
    if len(value) > MAX_IDS_PER_REQUEST:
        raise invalid(f"Cannot {what.split()[0]} more than {MAX_IDS_PER_REQUEST} ids per request, got {len(value)}")
    return [_record_id(item) for item in value]


# ----------------------------------------------------------------------------------------------------
# Data-plane operations (run in a worker thread, under the index lock)
# ----------------------------------------------------------------------------------------------------
def op_upsert(store: IndexStore, raw: bytes) -> dict[str, Any]:
    """POST /vectors/upsert."""
    if len(raw) > MAX_UPSERT_BYTES:
        megabytes = -(-len(raw) // (1024 * 1024))
        raise invalid(f"Request size {megabytes}MB exceeds the maximum supported size of 2MB")
    body = _object(_loads(raw, control=False), "Upsert")
    records = body.get("vectors")
    if not isinstance(records, list):
        raise invalid("vectors must be an array of records")
    if len(records) > MAX_UPSERT_RECORDS:
        raise invalid(f"Request contains {len(records)} vectors, which exceeds the limit of {MAX_UPSERT_RECORDS}")
    namespace = _namespace(body)
    dimension = store.config.dimension
    ids: list[str] = []
    metadata: list[Metadata | None] = []
    rows: list[list[float]] = []
    for record in records:
        if not isinstance(record, dict):
            raise invalid("Each vector must be an object with id and values")
        record_id = _record_id(record.get("id"))
        if record.get("sparseValues") or record.get("sparse_values"):
            raise invalid("Sparse values are not supported by this local server (dense indexes only)")
        values = _check_numbers(record.get("values"), "Vector values")
        if len(values) != dimension:
            raise invalid(f"Vector dimension {len(values)} does not match the dimension of the index {dimension}")
        ids.append(record_id)
        rows.append(values)
        metadata.append(_metadata(record.get("metadata"), record_id))
    with np.errstate(over="ignore"):  # values beyond float32 become inf and are rejected just below
        matrix = np.asarray(rows, dtype=np.float32).reshape(len(rows), dimension)
    if not np.all(np.isfinite(matrix)):
        raise invalid("Vector values must be finite 32-bit floats")
    zero = ~matrix.any(axis=1)
    if zero.any():
        raise invalid(f"Dense vectors must contain at least one non-zero value (vector {ids[int(np.argmax(zero))]!r})")
    if ids:
        with store.lock:
            store.upsert(namespace, ids, matrix, metadata)
    return {"upsertedCount": len(ids)}


def op_query(store: IndexStore, raw: bytes) -> dict[str, Any]:
    """POST /query."""
    body = _object(_loads(raw, control=False), "Query")
    top_k = body.get("topK", body.get("top_k"))
    if isinstance(top_k, bool) or not isinstance(top_k, int):
        raise invalid("topK is required and must be an integer")
    if not 1 <= top_k <= MAX_TOP_K:
        raise invalid(f"Invalid value for topK: {top_k}, must be between 1 and {MAX_TOP_K}")
    namespace = _namespace(body)
    if body.get("sparseVector") or body.get("queries"):
        raise invalid("Sparse and multi-vector queries are not supported by this local server")
    vector_spec = body.get("vector")
    id_spec = body.get("id")
    if (vector_spec is None) == (id_spec is None):
        raise invalid("Exactly one of vector or id must be provided")
    node = _filter(body)
    include_values = _bool(body, "includeValues")
    include_metadata = _bool(body, "includeMetadata")
    config = store.config
    query = None
    if vector_spec is not None:
        query = _dense_vector(vector_spec, config.dimension, query=True, metric=config.metric)
    else:
        record_id = _record_id(id_spec)
    matches: list[dict[str, Any]] = []
    with store.lock:
        ns = store.namespace(namespace)
        if ns is not None:
            if query is None:
                row = ns.rows.get(record_id)
                query = None if row is None else ns.vectors[row].copy()
            if query is not None:
                rows, scores = ns.search(query, top_k, config.metric, ns.mask(node))
                for row, score in zip(rows.tolist(), scores.tolist(), strict=True):
                    match: dict[str, Any] = {"id": ns.ids[row], "score": score}
                    if include_values:
                        match["values"] = ns.vectors[row].tolist()
                    meta = ns.metadata[row]
                    if include_metadata and meta:
                        match["metadata"] = meta
                    matches.append(match)
    result = {"matches": matches, "namespace": namespace, "usage": {"readUnits": 1}}
    if (include_values or include_metadata) and len(orjson.dumps(result)) > MAX_QUERY_RESULT_BYTES:
        raise invalid(
            "Query result size exceeds the maximum of 4MB: use a lower topK, or set includeValues / "
            "includeMetadata to false"
        )
    return result


def op_fetch(store: IndexStore, ids: list[str], namespace: str) -> dict[str, Any]:
    """GET /vectors/fetch."""
    if not ids:
        raise invalid("ids must contain at least one id")
    if len(ids) > MAX_IDS_PER_REQUEST:
        raise invalid(f"Cannot fetch more than {MAX_IDS_PER_REQUEST} ids per request, got {len(ids)}")
    for record_id in ids:
        _record_id(record_id)
    vectors: dict[str, Any] = {}
    with store.lock:
        ns = store.namespace(namespace)
        if ns is not None:
            for record_id in ids:
                row = ns.rows.get(record_id)
                if row is None:
                    continue
                record: dict[str, Any] = {"id": record_id, "values": ns.vectors[row].tolist()}
                meta = ns.metadata[row]
                if meta:
                    record["metadata"] = meta
                vectors[record_id] = record
    return {"vectors": vectors, "namespace": namespace, "usage": {"readUnits": 1}}


def op_delete(store: IndexStore, raw: bytes) -> dict[str, Any]:
    """POST /vectors/delete."""
    body = _object(_loads(raw, control=False), "Delete")
    namespace = _namespace(body)
    delete_all = _bool(body, "deleteAll")
    ids_spec = body.get("ids")
    node = _filter(body)
    given = sum([delete_all, ids_spec is not None, body.get("filter") is not None])
    if given != 1:
        raise invalid("Exactly one of ids, deleteAll or filter must be provided")
    ids = _ids(ids_spec, what="delete ids") if ids_spec is not None else []
    if body.get("filter") is not None and node is None:
        raise invalid("filter must be a non-empty object (use deleteAll to delete a whole namespace)")
    with store.lock:
        if delete_all:
            store.delete_namespace(namespace)
        elif node is not None:
            ns = store.namespace(namespace)
            if ns is not None:
                mask = ns.mask(node)
                assert mask is not None
                store.delete(namespace, [ns.ids[row] for row in np.flatnonzero(mask).tolist()])
        else:
            store.delete(namespace, ids)
    return {}


def op_update(store: IndexStore, raw: bytes) -> dict[str, Any]:
    """POST /vectors/update."""
    body = _object(_loads(raw, control=False), "Update")
    record_id = _record_id(body.get("id"))
    namespace = _namespace(body)
    if body.get("sparseValues"):
        raise invalid("Sparse values are not supported by this local server (dense indexes only)")
    vector = None
    if body.get("values") is not None:
        vector = _dense_vector(body["values"], store.config.dimension, query=False, metric=store.config.metric)
    set_metadata = None
    if body.get("setMetadata") is not None:
        set_metadata = _metadata(body["setMetadata"], record_id)
    with store.lock:
        ns = store.namespace(namespace)
        if set_metadata and ns is not None:
            merged = ns.merged_metadata(record_id, set_metadata)
            if merged is not None:
                _metadata(merged, record_id)  # the merged record must still fit in 40 KB
        # Like Pinecone serverless, updating an id that does not exist succeeds and changes nothing.
        store.update(namespace, record_id, vector, set_metadata)
    return {}


def op_stats(store: IndexStore, raw: bytes) -> dict[str, Any]:
    """POST/GET /describe_index_stats."""
    body = _object(_loads(raw, control=False), "Describe index stats")
    node = _filter(body)
    namespaces: dict[str, Any] = {}
    total = 0
    with store.lock:
        for name, ns in store.namespaces.items():
            if node is None:
                count = ns.count
            else:
                mask = ns.mask(node)
                count = int(mask.sum()) if mask is not None else ns.count
            if count:
                namespaces[name] = {"vectorCount": count}
                total += count
    config = store.config
    return {
        "namespaces": namespaces,
        "dimension": config.dimension,
        "indexFullness": 0.0,
        "totalVectorCount": total,
        "metric": config.metric,
        "vectorType": config.vector_type,
    }


def _encode_token(last_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"after": last_id})).decode()


def _decode_token(token: str) -> str:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise invalid("Invalid pagination token") from None
    if not isinstance(data, dict) or not isinstance(data.get("after"), str):
        raise invalid("Invalid pagination token")
    return str(data["after"])


def op_list(store: IndexStore, params: Mapping[str, str]) -> dict[str, Any]:
    """GET /vectors/list: ids in lexicographic order, ``pagination`` only when more remain."""
    import bisect

    namespace = params.get("namespace", "")
    prefix = params.get("prefix", "")
    raw_limit = params.get("limit", "100")
    try:
        limit = int(raw_limit)
    except ValueError:
        raise invalid(f"limit must be an integer, got {raw_limit!r}") from None
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise invalid(f"limit must be between 1 and {MAX_LIST_LIMIT}, got {limit}")
    token = params.get("paginationToken")
    after = _decode_token(token) if token else None
    with store.lock:
        ns = store.namespace(namespace)
        ordered = ns.sorted_ids() if ns is not None else []
        start = bisect.bisect_left(ordered, prefix)
        if after is not None:
            start = max(start, bisect.bisect_right(ordered, after))
        page: list[str] = []
        position = start
        while position < len(ordered) and len(page) < limit and ordered[position].startswith(prefix):
            page.append(ordered[position])
            position += 1
        more = position < len(ordered) and ordered[position].startswith(prefix)
    result: dict[str, Any] = {"vectors": [{"id": record_id} for record_id in page], "namespace": namespace}
    if more and page:
        result["pagination"] = {"next": _encode_token(page[-1])}
    result["usage"] = {"readUnits": 1}
    return result


# ----------------------------------------------------------------------------------------------------
# Control plane
# ----------------------------------------------------------------------------------------------------
def _index_model(config: IndexConfig, base: str) -> dict[str, Any]:
    return {
        "name": config.name,
        "dimension": config.dimension,
        "metric": config.metric,
        "host": f"{base}/indexes/{config.name}",
        "spec": {"serverless": {"cloud": config.cloud, "region": config.region}},
        "status": {"ready": True, "state": "Ready"},
        "vector_type": config.vector_type,
        "deletion_protection": config.deletion_protection,
        "tags": dict(config.tags or {}),
    }


def _parse_create(body: Any) -> IndexConfig:
    if not isinstance(body, dict):
        raise control_error(422, "UNPROCESSABLE_ENTITY", "Request body must be a JSON object")
    name = body.get("name")
    if not isinstance(name, str):
        raise control_error(422, "UNPROCESSABLE_ENTITY", "Missing or invalid field `name`")
    if not _INDEX_NAME.fullmatch(name):
        raise control_error(400, "INVALID_ARGUMENT", f"{_INDEX_NAME_MESSAGE}, got {name[:64]!r}")
    vector_type = body.get("vector_type") or "dense"
    if vector_type != "dense":
        raise control_error(400, "INVALID_ARGUMENT", "Only dense indexes are supported by this local server")
    dimension = body.get("dimension")
    if isinstance(dimension, bool) or not isinstance(dimension, int):
        raise control_error(400, "INVALID_ARGUMENT", "Dimension must be provided for dense indexes")
    if not 1 <= dimension <= MAX_DIMENSION:
        raise control_error(
            400, "INVALID_ARGUMENT", f"Dimension must be between 1 and {MAX_DIMENSION}, got {dimension}"
        )
    metric = body.get("metric") or "cosine"
    if metric not in METRICS:
        raise control_error(
            400,
            "INVALID_ARGUMENT",
            f"Metric must be one of cosine, euclidean, dotproduct, got {str(metric)[:64]!r}",
        )
    spec = body.get("spec")
    if not isinstance(spec, dict) or not spec:
        raise control_error(422, "UNPROCESSABLE_ENTITY", "Missing or invalid field `spec`")
    serverless = spec.get("serverless")
    if not isinstance(serverless, dict):
        serverless = {}
    cloud = str(serverless.get("cloud") or "aws")
    region = str(serverless.get("region") or "us-east-1")
    protection = body.get("deletion_protection") or "disabled"
    if protection not in ("enabled", "disabled"):
        raise control_error(400, "INVALID_ARGUMENT", "deletion_protection must be 'enabled' or 'disabled'")
    tags = body.get("tags") or {}
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise control_error(400, "INVALID_ARGUMENT", "tags must be an object of strings")
    return IndexConfig(name, dimension, metric, cloud, region, protection, tags, vector_type)


def _not_found_control(name: str) -> ApiError:
    return control_error(404, "NOT_FOUND", f"Index {name[:64]} not found.")


# ----------------------------------------------------------------------------------------------------
# App
# ----------------------------------------------------------------------------------------------------
Handler = Callable[[Request], Awaitable[Response]]


def create_pinecone_app(
    *,
    data_dir: str | Path | None = None,
    api_key: str | None = None,
    compact_bytes: int = DEFAULT_COMPACT_BYTES,
) -> Starlette:
    """Build the ASGI app of the local Pinecone server.

    Args:
        data_dir: Directory where indexes are persisted (write-ahead log + snapshots); in memory when None.
        api_key: When set, every request must carry this ``Api-Key`` header (others get 401).
        compact_bytes: Write-ahead log size after which an index is compacted into a snapshot.

    Returns:
        A Starlette app serving the control plane and, under ``/indexes/<name>``, each index's data plane.
    """
    registry = Registry(Path(data_dir) if data_dir is not None else None, compact_bytes=compact_bytes)
    expected = api_key.encode() if api_key else None

    def authorised(request: Request) -> bool:
        if expected is None:
            return True
        given = request.headers.get("api-key", "").encode()
        return hmac.compare_digest(given, expected)

    async def answered(
        request: Request, call: Callable[[], Awaitable[Response]], internal_error: dict[str, Any]
    ) -> Response:
        """``call()``'s response, or the error it raised answered in Pinecone's shape (a bug: 500, and keep serving)."""
        try:
            return await call()
        except Exception as exc:
            if isinstance(exc, ApiError):
                response = _json_response(exc.body, exc.status)
            else:
                logger.exception("unexpected error in %s %s", request.method, request.url.path)
                response = _json_response(internal_error, 500)
            drop_frames(exc)
            return response

    def control(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            if not authorised(request):
                return _json_response(
                    {"error": {"code": "UNAUTHENTICATED", "message": "Invalid API Key"}, "status": 401}, 401
                )
            return await answered(
                request,
                lambda: handler(request),
                {"error": {"code": "INTERNAL", "message": "Internal error"}, "status": 500},
            )

        return endpoint

    def data(handler: Callable[[IndexStore, Request], Awaitable[dict[str, Any]]]) -> Handler:
        async def endpoint(request: Request) -> Response:
            if not authorised(request):
                return _json_response({"code": _UNAUTHENTICATED, "message": "Invalid API Key", "details": []}, 401)
            name = request.path_params["name"]

            async def call() -> Response:
                store = registry.get(name)
                if store is None:
                    raise data_error(404, _NOT_FOUND, f"Index {name[:64]} not found")
                return _json_response(await handler(store, request))

            return await answered(request, call, {"code": 13, "message": "Internal error", "details": []})

        return endpoint

    def base_url(request: Request) -> str:
        return f"{request.url.scheme}://{request.url.netloc}"

    async def list_indexes(request: Request) -> Response:
        base = base_url(request)
        return _json_response({"indexes": [_index_model(store.config, base) for store in registry.list()]})

    async def create_index(request: Request) -> Response:
        config = _parse_create(_loads(await _read_body(request, control=True), control=True))
        store = await anyio.to_thread.run_sync(registry.create, config)
        if store is None:
            raise control_error(409, "ALREADY_EXISTS", "Resource already exists")
        return _json_response(_index_model(store.config, base_url(request)), 201)

    async def describe_index(request: Request) -> Response:
        name = request.path_params["name"]
        store = registry.get(name)
        if store is None:
            raise _not_found_control(name)
        return _json_response(_index_model(store.config, base_url(request)))

    async def configure_index(request: Request) -> Response:
        name = request.path_params["name"]
        body = _loads(await _read_body(request, control=True), control=True)
        store = registry.get(name)
        if store is None:
            raise _not_found_control(name)
        if not isinstance(body, dict):
            raise control_error(422, "UNPROCESSABLE_ENTITY", "Request body must be a JSON object")
        config = store.config
        protection = body.get("deletion_protection") or config.deletion_protection
        if protection not in ("enabled", "disabled"):
            raise control_error(400, "INVALID_ARGUMENT", "deletion_protection must be 'enabled' or 'disabled'")
        tags = dict(config.tags or {})
        new_tags = body.get("tags") or {}
        if not isinstance(new_tags, dict):
            raise control_error(400, "INVALID_ARGUMENT", "tags must be an object of strings")
        for key, value in new_tags.items():
            if value in ("", None):
                tags.pop(key, None)
            else:
                tags[key] = str(value)
        updated = IndexConfig(
            config.name,
            config.dimension,
            config.metric,
            config.cloud,
            config.region,
            protection,
            tags,
            config.vector_type,
        )
        await anyio.to_thread.run_sync(registry.replace_config, updated)
        return _json_response(_index_model(updated, base_url(request)))

    async def delete_index(request: Request) -> Response:
        name = request.path_params["name"]
        store = registry.get(name)
        if store is None:
            raise _not_found_control(name)
        if store.config.deletion_protection == "enabled":
            raise control_error(
                403,
                "FORBIDDEN",
                "Deletion protection is enabled for this index. Disable deletion protection before retrying.",
            )
        await anyio.to_thread.run_sync(registry.delete, name)
        return Response(status_code=202)

    async def upsert(store: IndexStore, request: Request) -> dict[str, Any]:
        raw = await _read_body(request, control=False)
        return await anyio.to_thread.run_sync(op_upsert, store, raw)

    async def query(store: IndexStore, request: Request) -> dict[str, Any]:
        raw = await _read_body(request, control=False)
        return await anyio.to_thread.run_sync(op_query, store, raw)

    async def fetch(store: IndexStore, request: Request) -> dict[str, Any]:
        ids = request.query_params.getlist("ids")
        namespace = request.query_params.get("namespace", "")
        return await anyio.to_thread.run_sync(op_fetch, store, ids, namespace)

    async def delete(store: IndexStore, request: Request) -> dict[str, Any]:
        raw = await _read_body(request, control=False)
        return await anyio.to_thread.run_sync(op_delete, store, raw)

    async def update(store: IndexStore, request: Request) -> dict[str, Any]:
        raw = await _read_body(request, control=False)
        return await anyio.to_thread.run_sync(op_update, store, raw)

    async def stats(store: IndexStore, request: Request) -> dict[str, Any]:
        raw = await _read_body(request, control=False) if request.method == "POST" else b""
        return await anyio.to_thread.run_sync(op_stats, store, raw)

    async def list_ids(store: IndexStore, request: Request) -> dict[str, Any]:
        params = dict(request.query_params)
        return await anyio.to_thread.run_sync(op_list, store, params)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            registry.close()

    prefix = "/indexes/{name}"
    routes = [
        Route("/indexes", control(list_indexes), methods=["GET"]),
        Route("/indexes", control(create_index), methods=["POST"]),
        Route(prefix, control(describe_index), methods=["GET"]),
        Route(prefix, control(configure_index), methods=["PATCH"]),
        Route(prefix, control(delete_index), methods=["DELETE"]),
        Route(prefix + "/vectors/upsert", data(upsert), methods=["POST"]),
        Route(prefix + "/query", data(query), methods=["POST"]),
        Route(prefix + "/vectors/fetch", data(fetch), methods=["GET"]),
        Route(prefix + "/vectors/delete", data(delete), methods=["POST"]),
        Route(prefix + "/vectors/update", data(update), methods=["POST"]),
        Route(prefix + "/describe_index_stats", data(stats), methods=["GET", "POST"]),
        Route(prefix + "/vectors/list", data(list_ids), methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.registry = registry
    return app


@contextlib.contextmanager
def serve_pinecone(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    data_dir: str | Path | None = None,
    api_key: str | None = None,
    faults: FaultPlan | None = None,
    compact_bytes: int = DEFAULT_COMPACT_BYTES,
) -> Iterator[str]:
    """Run the local Pinecone server in a background thread.

    Args:
        host: Interface to bind (loopback by default).
        port: Port to bind; 0 picks a free one.
        data_dir: Persist indexes here; in memory when None.
        api_key: Require this ``Api-Key`` header.
        faults: Optional fault plan; the app is wrapped in ``FaultInjector`` (a testing tool).
        compact_bytes: Write-ahead log size that triggers a snapshot.

    Yields:
        The base URL (``http://host:port``): pass it as ``Pinecone(api_key=..., host=url)``.
    """
    app: Any = create_pinecone_app(data_dir=data_dir, api_key=api_key, compact_bytes=compact_bytes)
    if faults is not None:
        from hf_pinecone.local.faults import FaultInjector

        app = FaultInjector(app, faults)
    with run_in_background(app, host=host, port=port) as url:
        yield url


def run_pinecone_server(
    host: str = "127.0.0.1", port: int = 5080, data_dir: str | Path | None = None, api_key: str | None = None
) -> None:
    """Serve in the foreground until SIGINT/SIGTERM; prints ``listening on http://HOST:PORT`` once ready.

    Args:
        host: Interface to bind.
        port: Port to bind; 0 picks a free one.
        data_dir: Persist indexes here; in memory when None.
        api_key: Require this ``Api-Key`` header.
    """
    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        with serve_pinecone(host=host, port=port, data_dir=data_dir, api_key=api_key) as url:
            print(f"listening on {url}", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                stop.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
