"""A local Hugging Face Inference Endpoint: TEI's routes, the inference toolkit's, and OpenAI's, on one port.

It speaks the wire protocols of text-embeddings-inference (TEI) and the inference toolkit, so that the
tutorial's raw ``requests`` code, :class:`hf_pinecone.InferenceEndpointEmbeddings`, huggingface_hub's
``InferenceClient``, the ``openai`` SDK and ``OpenAIEmbeddings(base_url=<url>/v1)`` all work against it
unchanged. Two flavours (``flavor=``):

- ``"toolkit"`` (default): ``POST /`` and ``/predict`` are the inference toolkit's ``{"embeddings": ...}``
  (flat for a single string), ``GET /`` and ``/health`` answer ``Ok``; every TEI route below is served too.
- ``"tei"``: exactly TEI's routes: ``POST /`` and ``/invocations`` embed (so
  ``InferenceClient(model=<url>).feature_extraction(...)`` works), health routes answer an empty 200, and
  ``--api-key`` leaves the public routes (``GET /``, ``/health``, ``/ping``, ``/metrics``) open.

TEI routes: ``POST /embed``, ``/embed_all``, ``/v1/embeddings`` (and ``/embeddings``), ``/tokenize``;
``GET /info``, ``/health``, ``/ping``, ``/metrics``. Inputs may be texts or token ids; limits, admission
(one permit per input), error bodies and statuses are TEI's, each rule citing TEI's source where it is
implemented (modules ``_endpoint_wire``, ``_endpoint_state``, ``_endpoint_routes``, ``_endpoint_tokenize``,
``_endpoint_embedders``); ``docs/STAND_INS.md`` lists the deliberate differences.

The embedding model is pluggable (:class:`Embedder`): the bundled all-MiniLM-L6-v2 through
sentence-transformers by default, or :class:`HashEmbedder` (deterministic vectors, no model) for benchmarks
and fast tests. Knobs ``delay``, ``per_item_delay`` and ``replicas`` make it behave like a GPU endpoint across
a network, so that its capacity is known from its parameters:
``replicas * batch / (delay + per_item_delay * batch)`` records per second.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import sys
from collections.abc import AsyncIterator, Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from hf_pinecone.local import _endpoint_routes, _endpoint_sparse, _endpoint_tokenize, _rerank_route
from hf_pinecone.local._endpoint_embedders import (
    DEFAULT_MODEL_ID,
    Embedder,
    EmptyInputError,
    HashEmbedder,
    InputValidationError,
    SentenceTransformerEmbedder,
    TokenizerError,
    load_embedder,
)
from hf_pinecone.local._endpoint_state import EndpointState, EndpointStats, Flavor
from hf_pinecone.local._runner import bind_socket, run_in_background, serve_foreground

if TYPE_CHECKING:
    from hf_pinecone.local.faults import FaultPlan

__all__ = [
    "DEFAULT_MODEL_ID",
    "FLAVORS",
    "Embedder",
    "EmptyInputError",
    "EndpointStats",
    "Flavor",
    "HashEmbedder",
    "InputValidationError",
    "SentenceTransformerEmbedder",
    "TokenizerError",
    "create_endpoint_app",
    "run_endpoint_server",
    "serve_endpoint",
]

FLAVORS: tuple[Flavor, ...] = ("toolkit", "tei")
"""The accepted ``flavor`` values."""

ROUTE_MODULES: tuple[ModuleType, ...] = (_endpoint_routes, _endpoint_tokenize, _rerank_route, _endpoint_sparse)
"""Modules whose ``routes(flavor)`` make up the app; a new route module is one more entry here."""

# router/src/http/server.rs `run`: `public_routes` (/health, GET /, /ping, /metrics) are merged after the
# auth layer is put on `routes`, so they never need the key. /info is in `routes`: it does.
_TEI_PUBLIC = frozenset({("GET", "/"), ("GET", "/health"), ("GET", "/ping"), ("GET", "/metrics")})


class _BearerAuth:
    """TEI's ``--api-key`` middleware in front of every route but the public ones.

    server.rs ``run``: ``headers.get(AUTHORIZATION) == "Bearer <key>"``, else a bare ``401`` with an empty body.

    The toolkit flavour stands for an endpoint behind Hugging Face's proxy, which guards every path of a
    protected endpoint, health included: no route is public there.
    """

    def __init__(self, app: ASGIApp, *, expected: bytes, public: frozenset[tuple[str, str]]) -> None:
        self.app = app
        self.expected = expected
        self.public = public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"], scope["path"]) in self.public:
            await self.app(scope, receive, send)
            return
        given = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                given = value
                break
        if hmac.compare_digest(given, self.expected):
            await self.app(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 401, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})


def create_endpoint_app(
    *,
    model: str | os.PathLike[str] | None = None,
    embedder: Embedder | None = None,
    api_key: str | None = None,
    max_batch_size: int = 32,
    delay: float = 0.0,
    per_item_delay: float = 0.0,
    replicas: int | None = None,
    max_concurrent_requests: int = 512,
    max_payload_bytes: int = 2_000_000,
    model_id: str | None = None,
    flavor: Flavor = "toolkit",
) -> Starlette:
    """Build the endpoint's ASGI app (wrap it in :class:`~hf_pinecone.local.faults.FaultInjector` for faults).

    Args:
        model: sentence-transformers model path or id; default the bundled all-MiniLM-L6-v2. Exclusive with
            ``embedder``.
        embedder: Any :class:`Embedder`, e.g. ``HashEmbedder()`` for deterministic vectors without a model.
        api_key: When set, routes require ``Authorization: Bearer <api_key>`` (else an empty 401): every route
            in the toolkit flavour, all but ``GET /``, ``/health``, ``/ping``, ``/metrics`` in the TEI flavour.
        max_batch_size: Most inputs per request (TEI's ``max_client_batch_size``); more answer 413.
        delay: Simulated seconds per request (network round trip plus fixed GPU cost).
        per_item_delay: Simulated seconds per input.
        replicas: How many model calls run at once (a request is one call unless the permits split it); the
            others wait in a queue, like behind a load balancer. ``None``: no limit.
        max_concurrent_requests: Concurrency permits, one per input (TEI's default 512): a single-input
            request finding none free answers ``429 Overloaded``; the inputs of a batch wait for theirs.
        max_payload_bytes: Bodies larger than this answer 413.
        model_id: Name reported by ``/info`` and the OpenAI route; default the embedder's.
        flavor: ``"toolkit"`` (the toolkit's routes at ``/`` plus TEI's) or ``"tei"`` (TEI's routes only).

    Returns:
        A Starlette application; ``app.state.stats`` is its :class:`EndpointStats`, ``app.state.embedder`` its
        embedder.

    Raises:
        ValueError: On an invalid combination of arguments.
    """
    if model is not None and embedder is not None:
        raise ValueError("pass either `model` or `embedder`, not both")
    if max_batch_size < 1:
        raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
    if replicas is not None and replicas < 1:
        raise ValueError(f"replicas must be >= 1 or None, got {replicas}")
    if max_concurrent_requests < 1:
        raise ValueError(f"max_concurrent_requests must be >= 1, got {max_concurrent_requests}")
    if delay < 0 or per_item_delay < 0:
        raise ValueError("delay and per_item_delay must be >= 0")
    if flavor not in FLAVORS:
        raise ValueError(f"flavor must be one of {', '.join(FLAVORS)}, got {flavor!r}")
    emb: Embedder = embedder if embedder is not None else SentenceTransformerEmbedder(model)
    state = EndpointState(
        embedder=emb,
        stats=EndpointStats(),
        flavor=flavor,
        model_id=model_id or emb.model_id,
        max_batch_size=max_batch_size,
        max_concurrent_requests=max_concurrent_requests,
        max_payload_bytes=max_payload_bytes,
        delay=delay,
        per_item_delay=per_item_delay,
        replicas=replicas,
        owns_embedder=embedder is None,  # a caller's embedder may serve other apps too: theirs to close
    )
    middleware = []
    if api_key is not None:
        public = _TEI_PUBLIC if flavor == "tei" else frozenset()
        middleware.append(Middleware(_BearerAuth, expected=f"Bearer {api_key}".encode(), public=public))
    routes = [route for module in ROUTE_MODULES for route in module.routes(flavor)]
    app = Starlette(routes=routes, middleware=middleware, lifespan=_lifespan)
    app.state.endpoint = state
    app.state.stats = state.stats
    # The auth middleware checks the key for /rerank too (expected_auth=None).
    app.state.rerank = _rerank_route.RerankState(emb, max_batch_size, max_payload_bytes, None, True, state.stats)
    app.state.embedder = emb
    return app


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    state: EndpointState = app.state.endpoint
    await run_in_threadpool(load_embedder, state.embedder)
    yield
    if state.owns_embedder and isinstance(state.embedder, SentenceTransformerEmbedder):
        await run_in_threadpool(state.embedder.close)


# ------------------------------------------------------------------------------------------------- serving


@contextlib.contextmanager
def serve_endpoint(
    *,
    model: str | os.PathLike[str] | None = None,
    embedder: Embedder | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    api_key: str | None = None,
    max_batch_size: int = 32,
    delay: float = 0.0,
    per_item_delay: float = 0.0,
    replicas: int | None = None,
    max_concurrent_requests: int = 512,
    max_payload_bytes: int = 2_000_000,
    faults: FaultPlan | None = None,
    flavor: Flavor = "toolkit",
) -> Iterator[str]:
    """Run a local Inference Endpoint in a background thread and yield its base URL.

    The model is loaded before the URL is yielded (with Hub access forbidden during the load only). Arguments
    are those of :func:`create_endpoint_app`, plus:

    Args:
        model: See :func:`create_endpoint_app`.
        embedder: See :func:`create_endpoint_app`.
        host: Interface to bind; loopback by default.
        port: Port to bind; ``0`` picks a free one.
        api_key: See :func:`create_endpoint_app`.
        max_batch_size: See :func:`create_endpoint_app`.
        delay: See :func:`create_endpoint_app`.
        per_item_delay: See :func:`create_endpoint_app`.
        replicas: See :func:`create_endpoint_app`.
        max_concurrent_requests: See :func:`create_endpoint_app`.
        max_payload_bytes: See :func:`create_endpoint_app`.
        faults: A :class:`~hf_pinecone.local.faults.FaultPlan` to inject faults in front of the app (testing).
        flavor: See :func:`create_endpoint_app`.

    Yields:
        The base URL, e.g. ``http://127.0.0.1:54321`` (POST it directly: the root route embeds in both flavours).
    """
    app: Any = create_endpoint_app(
        model=model,
        embedder=embedder,
        api_key=api_key,
        max_batch_size=max_batch_size,
        delay=delay,
        per_item_delay=per_item_delay,
        replicas=replicas,
        max_concurrent_requests=max_concurrent_requests,
        max_payload_bytes=max_payload_bytes,
        flavor=flavor,
    )
    # Load the model here so that a bad model path raises its own error, not "server failed to start".
    load_embedder(app.state.embedder)
    if faults is not None:
        from hf_pinecone.local.faults import FaultInjector

        app = FaultInjector(app, faults)
    with run_in_background(app, host=host, port=port) as url:
        yield url


def run_endpoint_server(
    host: str = "127.0.0.1",
    port: int = 8080,
    model: str | None = None,
    api_key: str | None = None,
    max_batch_size: int = 32,
    *,
    embedder: Embedder | None = None,
    delay: float = 0.0,
    per_item_delay: float = 0.0,
    replicas: int | None = None,
    max_concurrent_requests: int = 512,
    max_payload_bytes: int = 2_000_000,
    flavor: Flavor = "toolkit",
) -> None:
    """Serve a local Inference Endpoint in the foreground until interrupted (``hf-pinecone serve endpoint``).

    Prints ``listening on http://HOST:PORT`` (the real port when ``port`` is 0) once the model is loaded and
    the socket accepts connections. Ctrl-C (SIGINT) or SIGTERM stop it cleanly.

    Args:
        host: Interface to bind.
        port: Port to bind; ``0`` picks a free one.
        model: sentence-transformers model path or id; default the bundled all-MiniLM-L6-v2.
        api_key: See :func:`create_endpoint_app`.
        max_batch_size: Most inputs per request.
        embedder: See :func:`create_endpoint_app` (e.g. ``HashEmbedder()`` for a benchmark endpoint in its
            own process).
        delay: See :func:`create_endpoint_app`.
        per_item_delay: See :func:`create_endpoint_app`.
        replicas: See :func:`create_endpoint_app`.
        max_concurrent_requests: See :func:`create_endpoint_app`.
        max_payload_bytes: See :func:`create_endpoint_app`.
        flavor: See :func:`create_endpoint_app`.
    """
    # Bind first: a busy port fails in milliseconds, before seconds of model loading.
    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        print(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    app = create_endpoint_app(
        model=model,
        embedder=embedder,
        api_key=api_key,
        max_batch_size=max_batch_size,
        delay=delay,
        per_item_delay=per_item_delay,
        replicas=replicas,
        max_concurrent_requests=max_concurrent_requests,
        max_payload_bytes=max_payload_bytes,
        flavor=flavor,
    )
    try:
        load_embedder(app.state.embedder)
    except KeyboardInterrupt:
        sock.close()
        raise SystemExit(130) from None
    except Exception as exc:
        sock.close()
        name = model or DEFAULT_MODEL_ID
        print(f"error: could not load the model {name!r}: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None

    serve_foreground(app, sock)
