"""The data plane of the local Pinecone server: ``/indexes/{name}/...`` operations and their routes.

Each ``op_*`` function is the pure operation (request bytes or parameters in, response dict out) and runs in a
worker thread under the index's lock; each route handler below it reads the request and hands it over.
Wire formats follow Pinecone's 2025-04 data-plane API (``pinecone/core/openapi/db_data`` in the 7.3.0 SDK).
"""

from __future__ import annotations

import base64
import binascii
import bisect
from collections.abc import Mapping
from typing import Any

import anyio.to_thread
import numpy as np
import orjson
from starlette.requests import Request

from hf_pinecone.local import _pinecone_requests as req
from hf_pinecone.local._pinecone_http import NOT_FOUND, ApiError, data_error, data_route, invalid
from hf_pinecone.local._pinecone_storage import IndexStore, Metadata, Namespace, Sparse

__all__ = [
    "delete",
    "delete_namespace",
    "describe_index_stats",
    "describe_namespace",
    "fetch",
    "list_ids",
    "list_namespaces",
    "op_delete",
    "op_delete_namespace",
    "op_describe_namespace",
    "op_fetch",
    "op_list",
    "op_list_namespaces",
    "op_query",
    "op_stats",
    "op_update",
    "op_upsert",
    "query",
    "update",
    "upsert",
]


def op_upsert(store: IndexStore, raw: bytes) -> dict[str, Any]:
    """POST /vectors/upsert."""
    if len(raw) > req.MAX_UPSERT_BYTES:
        megabytes = -(-len(raw) // (1024 * 1024))
        raise invalid(f"Request size {megabytes}MB exceeds the maximum supported size of 2MB")
    body = req.as_object(req.loads(raw, control=False), "Upsert")
    records = body.get("vectors")
    if not isinstance(records, list):
        raise invalid("vectors must be an array of records")
    if not records:
        # pinecone-python-client tests/integration/data/test_upsert_errors.py
        # (TestUpsertFailsWhenVectorsMissing.test_upsert_fails_when_vectors_empty): the SDK sends
        # upsert(vectors=[]) as is and Pinecone answers it with an error (PineconeException).
        raise invalid("Invalid upsert request: vectors must contain at least one vector")
    if len(records) > req.MAX_UPSERT_RECORDS:
        raise invalid(f"Request contains {len(records)} vectors, which exceeds the limit of {req.MAX_UPSERT_RECORDS}")
    namespace = req.namespace_of(body)
    config = store.config
    sparse_index = config.vector_type == "sparse"
    dimension = config.dimension
    ids: list[str] = []
    metadata: list[Metadata | None] = []
    rows: list[list[float]] = []
    sparse: list[Sparse | None] = []
    for record in records:
        if not isinstance(record, dict):
            raise invalid("Each vector must be an object with id and values")
        record_id = req.new_record_id(record.get("id"))
        sparse_spec = record.get("sparseValues", record.get("sparse_values"))
        values = record.get("values")
        if sparse_index:
            # A sparse index stores sparse values only (the SDK suite's sparse records carry no dense values:
            # tests/integration/data/test_upsert_sparse.py); dense values are refused as in its queries
            # ("Index configuration does not support dense values", data_asyncio/test_query_sparse.py).
            if values:
                raise invalid(f"Index configuration does not support dense values (vector ID '{record_id}')")
            if sparse_spec is None:
                raise invalid(f"Sparse values are required for a sparse index (vector ID '{record_id}')")
            entry = req.sparse_values(sparse_spec, f"Sparse vector of vector ID '{record_id}'")
            if not entry[0].shape[0]:
                raise invalid(f"Sparse vectors must contain at least one value (vector ID '{record_id}')")
            sparse.append(entry)
        else:
            values = req.check_numbers(values, "Vector values")
            if len(values) != dimension:
                raise invalid(f"Vector dimension {len(values)} does not match the dimension of the index {dimension}")
            rows.append(values)
            # Sparse-dense records are accepted whatever the metric: "Upserting, updating, and fetching
            # sparse-dense vectors in indexes with a different distance metric will succeed, but querying will
            # return an error" (docs.pinecone.io/reference/known-limitations).
            has_sparse = sparse_spec is not None and sparse_spec != {"indices": [], "values": []}
            sparse.append(
                req.sparse_values(sparse_spec, f"Sparse vector of vector ID '{record_id}'") if has_sparse else None
            )
        ids.append(record_id)
        metadata.append(req.metadata(record.get("metadata"), record_id))
    if sparse_index:
        matrix = np.empty((len(ids), 0), dtype=np.float32)
    else:
        with np.errstate(over="ignore"):  # values beyond float32 become inf and are rejected just below
            matrix = np.asarray(rows, dtype=np.float32).reshape(len(rows), dimension)
    if not np.all(np.isfinite(matrix)):
        raise invalid("Vector values must be finite 32-bit floats")
    zero = ~matrix.any(axis=1) if not sparse_index else np.zeros(len(ids), dtype=bool)
    if zero.any():
        # Pinecone's wording, e.g. deepset-ai/haystack#10194: {"code":3,"message":"Dense vectors must contain at
        # least one non-zero value. Vector ID '<id>' contains only zeros","details":[]}
        raise invalid(
            "Dense vectors must contain at least one non-zero value. "
            f"Vector ID '{ids[int(np.argmax(zero))]}' contains only zeros"
        )
    with store.lock:
        store.upsert(namespace, ids, matrix, metadata, sparse)
    return {"upsertedCount": len(ids)}


def _sparse_json(entry: Sparse) -> dict[str, Any]:
    return {"indices": entry[0].tolist(), "values": entry[1].tolist()}


def _record(ns: Namespace, row: int, *, values: bool) -> dict[str, Any]:
    """``{"values", "sparseValues"?}`` of a row as fetch and query answer them."""
    record: dict[str, Any] = {"values": ns.vectors[row].tolist() if values else []}
    entry = ns.sparse[row]
    if values and entry is not None:
        record["sparseValues"] = _sparse_json(entry)
    return record


def op_query(store: IndexStore, raw: bytes) -> dict[str, Any]:
    """POST /query by dense ``vector`` (plus ``sparseVector`` on dotproduct indexes) or ``id``.

    On a sparse index: by ``sparseVector`` or ``id``. Sparse-dense scores are the dense plus the sparse dot product.
    """
    body = req.as_object(req.loads(raw, control=False), "Query")
    config = store.config
    sparse_index = config.vector_type == "sparse"
    top_k = body.get("topK", body.get("top_k"))
    if isinstance(top_k, bool) or not isinstance(top_k, int):
        raise invalid("topK is required and must be an integer")
    limit = req.MAX_SPARSE_TOP_K if sparse_index else req.MAX_TOP_K
    if not 1 <= top_k <= limit:
        raise invalid(f"Invalid value for topK: {top_k}, must be between 1 and {limit}")
    namespace = req.namespace_of(body)
    if body.get("queries"):
        raise invalid("Multi-vector queries (queries) are not supported by this local server")
    vector_spec = body.get("vector") or None  # the SDK sends no vector, or [] on some paths, for sparse queries
    sparse_spec = body.get("sparseVector", body.get("sparse_vector"))
    id_spec = body.get("id")
    dense_query = None
    sparse_query = None
    if sparse_index:
        # tests/integration/data_asyncio/test_query_sparse.py: the messages Pinecone answers on a sparse index.
        if vector_spec is not None and sparse_spec is not None:
            raise invalid("Index configuration does not support dense values")
        if id_spec is not None and sparse_spec is not None:
            raise invalid("Cannot provide both 'ID' and 'sparse_vector' at the same time")
        if id_spec is None and sparse_spec is None:
            raise invalid("Either 'sparse_vector' or 'ID' must be provided")
        if sparse_spec is not None:
            sparse_query = req.sparse_values(sparse_spec, "Query sparse vector")
    else:
        if (vector_spec is None) == (id_spec is None):
            raise invalid("Exactly one of vector or id must be provided")
        if sparse_spec is not None:
            if id_spec is not None:
                raise invalid("Cannot provide both 'ID' and 'sparse_vector' at the same time")
            if config.metric != "dotproduct":
                # docs.pinecone.io/reference/known-limitations: only dotproduct indexes support querying
                # sparse-dense vectors; elsewhere "querying will return an error".
                raise invalid(
                    f"Sparse-dense queries are only supported on indexes with the dotproduct metric; this index "
                    f"uses {config.metric}"
                )
            sparse_query = req.sparse_values(sparse_spec, "Query sparse vector")
        if vector_spec is not None:
            dense_query = req.dense_vector(vector_spec, config.dimension, query=True, metric=config.metric)
    record_id = req.record_id(id_spec) if id_spec is not None else None
    node = req.filter_of(body)
    include_values = req.flag(body, "includeValues")
    include_metadata = req.flag(body, "includeMetadata")
    matches: list[dict[str, Any]] = []
    with store.lock:
        ns = store.namespace(namespace)
        found = ns is not None
        if ns is not None and record_id is not None:
            # Query by id scores against the stored record: its dense values and, if any, its sparse values.
            row = ns.rows.get(record_id)
            found = row is not None
            if row is not None:
                dense_query = ns.vectors[row].copy() if ns.dense else None
                entry = ns.sparse[row]
                sparse_query = entry if entry is not None and (sparse_index or config.metric == "dotproduct") else None
        if ns is not None and found:
            mask = ns.mask(node)
            if sparse_query is None and dense_query is not None:
                rows, scores = ns.search(dense_query, top_k, config.metric, mask)
            elif sparse_query is not None:
                # Sparse indexes leave out records scoring 0: "any vectors where the dotproduct score is 0 will be
                # discarded" (docs.pinecone.io/guides/index-data/indexing-overview, sparse index limitations).
                rows, scores = ns.search_hybrid(dense_query, sparse_query, top_k, mask, drop_zero=sparse_index)
            else:
                rows, scores = np.empty(0, dtype=np.intp), np.empty(0, dtype=np.float32)
            for row, score in zip(rows.tolist(), scores.tolist(), strict=True):
                # Pinecone always sends "values", [] when includeValues is false: the ScoredVector of its
                # query responses, e.g. {"id": "vec1", "score": 0.999999881, "values": [], "metadata": ...}
                # (dblock/vectordb-hello-world src/pinecone/README.md, a logged session against Pinecone); with
                # includeValues a sparse record adds "sparseValues" (data_asyncio/test_query_sparse.py).
                match: dict[str, Any] = {"id": ns.ids[row], "score": score, **_record(ns, row, values=include_values)}
                meta = ns.metadata[row]
                if include_metadata and meta:
                    match["metadata"] = meta
                matches.append(match)
    result = {"matches": matches, "namespace": namespace, "usage": {"readUnits": 1}}
    if (include_values or include_metadata) and len(orjson.dumps(result)) > req.MAX_QUERY_RESULT_BYTES:
        raise invalid(
            "Query result size exceeds the maximum of 4MB: use a lower topK, or set includeValues / "
            "includeMetadata to false"
        )
    return result


def op_fetch(store: IndexStore, ids: list[str], namespace: str) -> dict[str, Any]:
    """GET /vectors/fetch."""
    if not ids:
        raise invalid("ids must contain at least one id")
    if len(ids) > req.MAX_IDS_PER_REQUEST:
        raise invalid(f"Cannot fetch more than {req.MAX_IDS_PER_REQUEST} ids per request, got {len(ids)}")
    for record_id in ids:
        req.record_id(record_id)
    vectors: dict[str, Any] = {}
    with store.lock:
        ns = store.namespace(namespace)
        if ns is not None:
            for record_id in ids:
                row = ns.rows.get(record_id)
                if row is None:
                    continue
                record: dict[str, Any] = {"id": record_id, **_record(ns, row, values=True)}
                meta = ns.metadata[row]
                if meta:
                    record["metadata"] = meta
                vectors[record_id] = record
    return {"vectors": vectors, "namespace": namespace, "usage": {"readUnits": 1}}


def op_delete(store: IndexStore, raw: bytes) -> dict[str, Any]:
    """POST /vectors/delete."""
    body = req.as_object(req.loads(raw, control=False), "Delete")
    namespace = req.namespace_of(body)
    delete_all = req.flag(body, "deleteAll")
    ids_spec = body.get("ids")
    node = req.filter_of(body)
    given = sum([delete_all, ids_spec is not None, body.get("filter") is not None])
    if given != 1:
        raise invalid("Exactly one of ids, deleteAll or filter must be provided")
    ids = req.id_list(ids_spec, what="delete ids") if ids_spec is not None else []
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
    body = req.as_object(req.loads(raw, control=False), "Update")
    record_id = req.record_id(body.get("id"))
    namespace = req.namespace_of(body)
    sparse_index = store.config.vector_type == "sparse"
    sparse_spec = body.get("sparseValues", body.get("sparse_values"))
    sparse = None
    if sparse_spec is not None:
        # Updating sparse values replaces them (UpdateRequest.sparse_values, db_data/model/update_request.py).
        sparse = req.sparse_values(sparse_spec, f"Sparse vector of vector ID '{record_id}'")
    vector = None
    if sparse_index and body.get("values"):
        raise invalid("Index configuration does not support dense values")
    if body.get("values") is not None and not sparse_index:
        vector = req.dense_vector(
            body["values"],
            store.config.dimension,
            query=False,
            metric=store.config.metric,
            zero_message=f"Vector ID '{record_id}' contains only zeros",
        )
    set_metadata = None
    if body.get("setMetadata") is not None:
        set_metadata = req.metadata(body["setMetadata"], record_id)
    with store.lock:
        ns = store.namespace(namespace)
        if set_metadata and ns is not None:
            merged = ns.merged_metadata(record_id, set_metadata)
            if merged is not None:
                req.metadata(merged, record_id)  # the merged record must still fit in 40 KB
        # Like Pinecone serverless, updating an id that does not exist succeeds and changes nothing.
        store.update(namespace, record_id, vector, set_metadata, sparse)
    return {}


def op_stats(store: IndexStore, raw: bytes) -> dict[str, Any]:
    """POST/GET /describe_index_stats."""
    body = req.as_object(req.loads(raw, control=False), "Describe index stats")
    node = req.filter_of(body)
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
    result: dict[str, Any] = {"namespaces": namespaces}
    if config.vector_type == "dense":
        # A sparse index has no dimension (its IndexModel reports dimension None: tests/integration/control/
        # serverless/test_sparse_index.py); DescribeIndexStatsResponse.dimension is optional.
        result["dimension"] = config.dimension
    result.update(
        {"indexFullness": 0.0, "totalVectorCount": total, "metric": config.metric, "vectorType": config.vector_type}
    )
    return result


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
    namespace = req.namespace_name(params.get("namespace", ""))
    prefix = params.get("prefix", "")
    limit = _limit(params)
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


def _limit(params: Mapping[str, str]) -> int:
    raw_limit = params.get("limit", "100")
    try:
        limit = int(raw_limit)
    except ValueError:
        raise invalid(f"limit must be an integer, got {raw_limit!r}") from None
    if not 1 <= limit <= req.MAX_LIST_LIMIT:
        raise invalid(f"limit must be between 1 and {req.MAX_LIST_LIMIT}, got {limit}")
    return limit


def _namespace_model(name: str, count: int) -> dict[str, Any]:
    # NamespaceDescription {"name", "record_count"} (pinecone/core/openapi/db_data/model/namespace_description.py).
    # record_count is a 64-bit count, which the API sends as a JSON string (proto3 JSON mapping of int64): the
    # 2025-04 reference's example is {"name": "example-namespace", "record_count": "20000"}
    # (docs.pinecone.io/reference/api/2025-04/data-plane/listnamespaces); SDK 7.3.0 passes the string through.
    # The default namespace is listed as "__default__" (see _pinecone_requests.namespace_name).
    return {"name": name or req.DEFAULT_NAMESPACE, "record_count": str(count)}


def op_list_namespaces(store: IndexStore, params: Mapping[str, str]) -> dict[str, Any]:
    """GET /namespaces: ``{"namespaces": [{"name", "record_count"}], "pagination"?: {"next"}}``.

    Pinecone's reference (docs.pinecone.io/reference/api/2025-04/data-plane/listnamespaces): up to 100 namespaces
    by default or ``limit``, in sorted order (bitwise "C" collation, i.e. code point order); ``pagination.next``
    (passed back as ``paginationToken``) only while more remain. pinecone-python-client
    ``tests/integration/data/test_namespace.py::test_list_namespaces_paginated``: 5 namespaces with limit 2 give
    pages of 2, 2 and 1, and the last page has ``pagination is None``.
    """
    limit = _limit(params)
    token = params.get("paginationToken")
    after = _decode_token(token) if token else None
    with store.lock:
        named = sorted((name or req.DEFAULT_NAMESPACE, ns.count) for name, ns in store.namespaces.items() if ns.count)
    start = 0 if after is None else bisect.bisect_right([name for name, _ in named], after)
    page = named[start : start + limit]
    result: dict[str, Any] = {"namespaces": [_namespace_model(name, count) for name, count in page]}
    if page and start + limit < len(named):
        result["pagination"] = {"next": _encode_token(page[-1][0])}
    return result


def _not_found_namespace(name: str) -> ApiError:
    return data_error(404, NOT_FOUND, f"Namespace {name[:512]} not found")


def op_describe_namespace(store: IndexStore, name: str) -> dict[str, Any]:
    """GET /namespaces/{namespace}: ``{"name", "record_count"}``; 404 when the namespace holds no records."""
    with store.lock:
        ns = store.namespace(req.namespace_name(name))
        if ns is None or ns.count == 0:
            raise _not_found_namespace(name)
        return _namespace_model(req.namespace_name(name), ns.count)


def op_delete_namespace(store: IndexStore, name: str) -> dict[str, Any]:
    """DELETE /namespaces/{namespace}: every record of the namespace; ``{}`` (404 when it does not exist)."""
    with store.lock:
        ns = store.namespace(req.namespace_name(name))
        if ns is None or ns.count == 0:
            raise _not_found_namespace(name)
        store.delete_namespace(req.namespace_name(name))
    return {}


# ----------------------------------------------------------------------------------------------------
# Routes
# ----------------------------------------------------------------------------------------------------
@data_route
async def upsert(store: IndexStore, request: Request) -> dict[str, Any]:
    """POST /vectors/upsert."""
    raw = await req.read_body(request, control=False)
    return await anyio.to_thread.run_sync(op_upsert, store, raw)


@data_route
async def query(store: IndexStore, request: Request) -> dict[str, Any]:
    """POST /query."""
    raw = await req.read_body(request, control=False)
    return await anyio.to_thread.run_sync(op_query, store, raw)


@data_route
async def fetch(store: IndexStore, request: Request) -> dict[str, Any]:
    """GET /vectors/fetch?ids=..&namespace=.."""
    ids = request.query_params.getlist("ids")
    namespace = req.namespace_name(request.query_params.get("namespace", ""))
    return await anyio.to_thread.run_sync(op_fetch, store, ids, namespace)


@data_route
async def delete(store: IndexStore, request: Request) -> dict[str, Any]:
    """POST /vectors/delete."""
    raw = await req.read_body(request, control=False)
    return await anyio.to_thread.run_sync(op_delete, store, raw)


@data_route
async def update(store: IndexStore, request: Request) -> dict[str, Any]:
    """POST /vectors/update."""
    raw = await req.read_body(request, control=False)
    return await anyio.to_thread.run_sync(op_update, store, raw)


@data_route
async def describe_index_stats(store: IndexStore, request: Request) -> dict[str, Any]:
    """GET or POST /describe_index_stats."""
    raw = await req.read_body(request, control=False) if request.method == "POST" else b""
    return await anyio.to_thread.run_sync(op_stats, store, raw)


@data_route
async def list_ids(store: IndexStore, request: Request) -> dict[str, Any]:
    """GET /vectors/list."""
    params = dict(request.query_params)
    return await anyio.to_thread.run_sync(op_list, store, params)


@data_route
async def list_namespaces(store: IndexStore, request: Request) -> dict[str, Any]:
    """GET /namespaces."""
    params = dict(request.query_params)
    return await anyio.to_thread.run_sync(op_list_namespaces, store, params)


@data_route
async def describe_namespace(store: IndexStore, request: Request) -> dict[str, Any]:
    """GET /namespaces/{namespace}."""
    return await anyio.to_thread.run_sync(op_describe_namespace, store, request.path_params["namespace"])


@data_route
async def delete_namespace(store: IndexStore, request: Request) -> dict[str, Any]:
    """DELETE /namespaces/{namespace}."""
    return await anyio.to_thread.run_sync(op_delete_namespace, store, request.path_params["namespace"])
