"""The control plane of the local Pinecone server: ``/indexes`` (create, list, describe, configure, delete).

Bodies follow Pinecone's 2025-04 control-plane API (``IndexModel``, ``CreateIndexRequest``,
``ConfigureIndexRequest`` in ``pinecone/core/openapi/db_control`` of the 7.3.0 SDK). Indexes are ready at once.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from hf_pinecone.local import _pinecone_requests as req
from hf_pinecone.local._pinecone_http import ApiError, control_error, control_route, json_response, registry_of
from hf_pinecone.local._pinecone_storage import IndexConfig

__all__ = ["configure_index", "create_index", "delete_index", "describe_index", "list_indexes"]


def _base_url(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def _index_model(config: IndexConfig, base: str) -> dict[str, Any]:
    model: dict[str, Any] = {
        "name": config.name,
        # A sparse index has no dimension: describe_index gives dimension None (test_sparse_index.py).
        "dimension": config.dimension if config.vector_type == "dense" else None,
        "metric": config.metric,
        "host": f"{base}/indexes/{config.name}",
        "spec": {"serverless": {"cloud": config.cloud, "region": config.region}},
        "status": {"ready": True, "state": "Ready"},
        "vector_type": config.vector_type,
        "deletion_protection": config.deletion_protection,
    }
    if config.tags:
        # An index without tags has no "tags" field: pinecone-python-client
        # tests/integration/control/serverless/test_index_tags.py (test_index_tags_none_by_default) and the SDK's
        # configure_index, which reads `description.tags is None` as "no tags" (db_control/request_factory.py).
        model["tags"] = dict(config.tags)
    return model


def _unsupported(message: str) -> ApiError:
    return control_error(400, "INVALID_ARGUMENT", message)


def _parse_create(body: Any) -> IndexConfig:
    if not isinstance(body, dict):
        raise control_error(422, "UNPROCESSABLE_ENTITY", "Request body must be a JSON object")
    name = body.get("name")
    if not isinstance(name, str):
        raise control_error(422, "UNPROCESSABLE_ENTITY", "Missing or invalid field `name`")
    if not req.INDEX_NAME.fullmatch(name):
        raise control_error(400, "INVALID_ARGUMENT", f"{req.INDEX_NAME_MESSAGE}, got {name[:64]!r}")
    vector_type = body.get("vector_type") or "dense"
    if vector_type not in ("dense", "sparse"):
        raise control_error(
            400, "INVALID_ARGUMENT", f"vector_type must be 'dense' or 'sparse', got {str(vector_type)[:64]!r}"
        )
    dimension = body.get("dimension")
    if vector_type == "sparse":
        # CreateIndexRequest (2025-04): a sparse index takes no dimension (the SDK refuses one client-side:
        # "dimension should not be specified for sparse indexes", tests/integration/control/serverless/
        # test_sparse_index.py) and its metric defaults to, and must be, dotproduct.
        if dimension is not None:
            raise control_error(400, "INVALID_ARGUMENT", "Dimension should not be specified for sparse indexes")
        dimension = 0
        metric = body.get("metric") or "dotproduct"
        if metric != "dotproduct":
            # test_sparse_index.py::test_sparse_only_supports_dotproduct: "Sparse vector indexes must use dotproduct"
            raise control_error(
                400, "INVALID_ARGUMENT", f"Sparse vector indexes must use dotproduct, got metric {str(metric)[:64]!r}"
            )
    else:
        if isinstance(dimension, bool) or not isinstance(dimension, int):
            raise control_error(400, "INVALID_ARGUMENT", "Dimension must be provided for dense indexes")
        if not 1 <= dimension <= req.MAX_DIMENSION:
            raise control_error(
                400, "INVALID_ARGUMENT", f"Dimension must be between 1 and {req.MAX_DIMENSION}, got {dimension}"
            )
        metric = body.get("metric") or "cosine"
    if metric not in req.METRICS:
        raise control_error(
            400,
            "INVALID_ARGUMENT",
            f"Metric must be one of cosine, euclidean, dotproduct, got {str(metric)[:64]!r}",
        )
    spec = body.get("spec")
    if not isinstance(spec, dict) or not spec:
        raise control_error(422, "UNPROCESSABLE_ENTITY", "Missing or invalid field `spec`")
    # CreateIndexRequest.spec is one of serverless, pod or byoc (db_control/model/index_spec.py). This server
    # serves serverless indexes only: a pod or BYOC spec is refused rather than turned into a serverless index.
    others = sorted(key for key in spec if key != "serverless")
    if others:
        raise _unsupported(
            f"spec.{others[0]} is not supported by this local server: it serves serverless indexes only "
            "(create the index with ServerlessSpec(cloud=..., region=...))"
        )
    serverless = spec.get("serverless")
    if not isinstance(serverless, dict):
        raise control_error(422, "UNPROCESSABLE_ENTITY", "Missing or invalid field `spec.serverless`")
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


@control_route
async def list_indexes(request: Request) -> Response:
    """GET /indexes."""
    base = _base_url(request)
    return json_response({"indexes": [_index_model(store.config, base) for store in registry_of(request).list()]})


@control_route
async def create_index(request: Request) -> Response:
    """POST /indexes."""
    config = _parse_create(req.loads(await req.read_body(request, control=True), control=True))
    store = await anyio.to_thread.run_sync(registry_of(request).create, config)
    if store is None:
        raise control_error(409, "ALREADY_EXISTS", "Resource already exists")
    return json_response(_index_model(store.config, _base_url(request)), 201)


@control_route
async def describe_index(request: Request) -> Response:
    """GET /indexes/{name}."""
    name = request.path_params["name"]
    store = registry_of(request).get(name)
    if store is None:
        raise _not_found_control(name)
    return json_response(_index_model(store.config, _base_url(request)))


@control_route
async def configure_index(request: Request) -> Response:
    """PATCH /indexes/{name}."""
    name = request.path_params["name"]
    body = req.loads(await req.read_body(request, control=True), control=True)
    store = registry_of(request).get(name)
    if store is None:
        raise _not_found_control(name)
    if not isinstance(body, dict):
        raise control_error(422, "UNPROCESSABLE_ENTITY", "Request body must be a JSON object")
    # ConfigureIndexRequest (db_control/model/configure_index_request.py) carries spec.pod (replicas, pod_type),
    # deletion_protection, tags and embed. Pod settings do not apply to serverless indexes and this server has no
    # integrated embedding: refuse them instead of answering 200 and ignoring them.
    for field in ("spec", "embed"):
        if body.get(field) is not None:
            what = "pod settings (replicas, pod_type) are" if field == "spec" else "integrated embedding (embed) is"
            raise _unsupported(
                f"configure_index: {what} not supported by this local server; "
                "only deletion_protection and tags can be configured"
            )
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
    await anyio.to_thread.run_sync(registry_of(request).replace_config, updated)
    return json_response(_index_model(updated, _base_url(request)))


@control_route
async def delete_index(request: Request) -> Response:
    """DELETE /indexes/{name}."""
    name = request.path_params["name"]
    store = registry_of(request).get(name)
    if store is None:
        raise _not_found_control(name)
    if store.config.deletion_protection == "enabled":
        raise control_error(
            403,
            "FORBIDDEN",
            "Deletion protection is enabled for this index. Disable deletion protection before retrying.",
        )
    await anyio.to_thread.run_sync(registry_of(request).delete, name)
    return Response(status_code=202)
