"""How every route of the local Pinecone server answers: JSON bodies, Pinecone's two error shapes, the API key.

Pinecone answers control-plane errors as ``{"error": {"code": "NOT_FOUND", "message": ...}, "status": 404}``
and data-plane errors as ``{"code": <gRPC status code>, "message": ..., "details": []}`` (the ``ErrorResponse``
and ``RpcStatus`` schemas of its 2025-04 OpenAPI documents, ``pinecone/core/openapi/db_control/model/
error_response.py`` and ``pinecone/core/openapi/db_data/model/rpc_status.py`` in pinecone-python-client 7.3.0).

Route handlers are plain module-level functions; :func:`control_route` and :func:`data_route` wrap them with the
API-key check and the error answering, reading the server's state from ``request.app.state`` (``registry``: the
:class:`~hf_pinecone.local._pinecone_storage.Registry`; ``api_key``: the expected key as bytes, or None).
"""

from __future__ import annotations

import functools
import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from hf_pinecone.local._pinecone_storage import IndexStore, Registry
from hf_pinecone.local._runner import drop_frames

logger = logging.getLogger("hf_pinecone.local.pinecone_server")

# gRPC status codes used in data-plane error bodies (google.rpc.Code).
INVALID_ARGUMENT = 3
NOT_FOUND = 5
PERMISSION_DENIED = 7
RESOURCE_EXHAUSTED = 8
FAILED_PRECONDITION = 9
UNIMPLEMENTED = 12
INTERNAL = 13
UNAUTHENTICATED = 16

Handler = Callable[[Request], Awaitable[Response]]
DataHandler = Callable[[IndexStore, Request], Awaitable[dict[str, Any]]]


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
    return data_error(400, INVALID_ARGUMENT, message)


def json_response(body: Any, status: int = 200) -> Response:
    """``body`` as a JSON response."""
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def registry_of(request: Request) -> Registry:
    """The server's index registry (set by ``create_pinecone_app``)."""
    registry: Registry = request.app.state.registry
    return registry


def key_problem(request: Request) -> str | None:
    """None when the request may pass; else "missing" (no ``Api-Key`` header) or "wrong" (another key)."""
    expected: bytes | None = request.app.state.api_key
    if expected is None:
        return None
    given = request.headers.get("api-key")
    if given is None:
        return "missing"
    return None if hmac.compare_digest(given.encode(), expected) else "wrong"


async def answered(request: Request, call: Callable[[], Awaitable[Response]], internal: dict[str, Any]) -> Response:
    """``call()``'s response, or the error it raised answered in Pinecone's shape (a bug: 500, and keep serving)."""
    try:
        return await call()
    except Exception as exc:
        if isinstance(exc, ApiError):
            response = json_response(exc.body, exc.status)
        else:
            logger.exception("unexpected error in %s %s", request.method, request.url.path)
            response = json_response(internal, 500)
        drop_frames(exc)
        return response


_CONTROL_INTERNAL = {"error": {"code": "INTERNAL", "message": "Internal error"}, "status": 500}
_DATA_INTERNAL = {"code": INTERNAL, "message": "Internal error", "details": []}


def control_route(handler: Handler) -> Handler:
    """A control-plane route: API-key check, then ``handler``, errors in the control-plane shape."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        if key_problem(request) is not None:
            # Pinecone's control plane answers any bad key with 401 "Invalid API Key" (the SDK raises
            # UnauthorizedException: pinecone/openapi_support/rest_utils.py raise_exceptions_or_return).
            return json_response(
                {"error": {"code": "UNAUTHENTICATED", "message": "Invalid API Key"}, "status": 401}, 401
            )
        return await answered(request, lambda: handler(request), _CONTROL_INTERNAL)

    return endpoint


def data_route(handler: DataHandler) -> Handler:
    """A data-plane route of ``/indexes/{name}``: API-key check, index lookup, ``handler``'s dict as JSON."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        problem = key_problem(request)
        if problem == "wrong":
            # A wrong key on an index host is 403 "Wrong API key": pinecone-python-client
            # tests/integration/data_asyncio/test_unauthorized_access.py expects ForbiddenException with
            # "Wrong API key" in its message (describe_index_stats with api_key="invalid_key").
            return json_response({"code": PERMISSION_DENIED, "message": "Wrong API key", "details": []}, 403)
        if problem == "missing":
            return json_response({"code": UNAUTHENTICATED, "message": "Unauthorized", "details": []}, 401)
        name = request.path_params["name"]

        async def call() -> Response:
            store = registry_of(request).get(name)
            if store is None:
                raise data_error(404, NOT_FOUND, f"Index {name[:64]} not found")
            return json_response(await handler(store, request))

        return await answered(request, call, _DATA_INTERNAL)

    return endpoint


def _is_data_path(path: str) -> bool:
    """``/indexes/<name>/<anything>`` is an index host's path; everything else belongs to the control plane."""
    parts = path.strip("/").split("/")
    return len(parts) >= 3 and parts[0] == "indexes"


async def routing_error(request: Request, exc: Exception) -> Response:
    """Unknown route (404) or method (405) in the JSON error shape of the plane the path belongs to.

    Starlette's own answer is text/plain. Pinecone's index hosts answer routing errors as a gRPC-gateway
    does (its data-plane bodies are ``google.rpc.Status``, the ``RpcStatus`` schema): grpc-gateway's
    ``runtime.DefaultRoutingErrorHandler`` maps 404 to code 5 "Not Found" and 405 to code 12 (UNIMPLEMENTED)
    "Method Not Allowed". The control plane's bodies are its ``ErrorResponse`` shape, whose ``code`` is one of
    the enum in ``pinecone/core/openapi/db_control/model/error_response_error.py`` (405: UNIMPLEMENTED).
    """
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    headers = dict(exc.headers or {})
    if status == 405:
        message, data_code, control_code = "Method Not Allowed", UNIMPLEMENTED, "UNIMPLEMENTED"
    elif status == 404:
        message, data_code, control_code = "Not Found", NOT_FOUND, "NOT_FOUND"
    else:
        message, data_code, control_code = str(exc.detail), INTERNAL, "UNKNOWN"
    if _is_data_path(request.url.path):
        body: dict[str, Any] = {"code": data_code, "message": message, "details": []}
    else:
        body = {"error": {"code": control_code, "message": message}, "status": status}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)
