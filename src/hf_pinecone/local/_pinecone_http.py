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


def authorised(request: Request) -> bool:
    """Whether the request carries the server's API key (always, when the server has none)."""
    expected: bytes | None = request.app.state.api_key
    if expected is None:
        return True
    given = request.headers.get("api-key", "").encode()
    return hmac.compare_digest(given, expected)


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
        if not authorised(request):
            return json_response(
                {"error": {"code": "UNAUTHENTICATED", "message": "Invalid API Key"}, "status": 401}, 401
            )
        return await answered(request, lambda: handler(request), _CONTROL_INTERNAL)

    return endpoint


def data_route(handler: DataHandler) -> Handler:
    """A data-plane route of ``/indexes/{name}``: API-key check, index lookup, ``handler``'s dict as JSON."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        if not authorised(request):
            return json_response({"code": UNAUTHENTICATED, "message": "Invalid API Key", "details": []}, 401)
        name = request.path_params["name"]

        async def call() -> Response:
            store = registry_of(request).get(name)
            if store is None:
                raise data_error(404, NOT_FOUND, f"Index {name[:64]} not found")
            return json_response(await handler(store, request))

        return await answered(request, call, _DATA_INTERNAL)

    return endpoint
