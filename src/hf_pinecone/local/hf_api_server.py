"""Local stand-in of Hugging Face's Inference Endpoints management API (what ``huggingface_hub`` talks to).

Routes (those ``huggingface_hub`` 1.x/2.x calls, see ``protocols.md`` section 1d):

- ``GET /api/whoami-v2``: the user (the default namespace).
- ``GET|POST /v2/endpoint/{namespace}``: list (``{"items": [...]}``) / create.
- ``GET|DELETE /v2/endpoint/{namespace}/{name}``: fetch / delete.
- ``POST /v2/endpoint/{namespace}/{name}/pause|resume|scale-to-zero``.
- ``/endpoints/{namespace}/{name}/...``: the endpoint itself (its reported ``status.url``), served by a
  real local endpoint app behind a state gate that answers as Hugging Face's proxy does unless the endpoint
  is ``running``: 503 while it is scaled to zero or starting (clients wait), 400 ``Bad Request: Invalid
  state`` while it is paused or failed (clients must not wait; see :func:`_unavailable`). An endpoint created
  for ``sentence-transformers/all-MiniLM-L6-v2`` embeds with the bundled model; any other repository gets
  deterministic hash vectors, and ``GET /info`` says which (``model_id``: the repository or
  :data:`HASH_MODEL_ID`).

States move deterministically, one step per observation (``steps_per_state`` observations per transitional
state; an observation is a fetch or a request to the endpoint URL):

- create: ``pending`` -> ``initializing`` -> ``running`` (or ``failed`` for a repository in
  ``fail_repositories``);
- resume: ``paused`` / ``scaledToZero`` -> ``initializing`` -> ``running``; resume while running is HTTP 400
  "already running" (which ``huggingface_hub`` tolerates with ``running_ok=True``);
- scale-to-zero: ``running`` -> ``scaledToZero``; a request to the endpoint URL then answers 503 and starts a
  replica (``initializing``).

Holding requests (``X-Scale-Up-Timeout``, see ``protocols.md`` 1d): a request to a scaled-to-zero or starting
(``pending``/``initializing``/``updating``) endpoint that carries ``X-Scale-Up-Timeout: N`` (a positive
number of seconds; other values are ignored) starts the replica like any request, then is held without polling
(it waits on a per-endpoint asyncio event that every state change sets) until the endpoint is ``running``, and
is then passed to the endpoint app like any request. When it is not running within ``N`` seconds, or leaves the
starting states otherwise (paused, failed, deleted), the request gets the same 503 (404) as without the header.
While a request is held, the replica's start completes after ``scale_up_seconds`` (a timer; default ``0``: at
once, as soon as a request asks to be held); with ``scale_up_seconds=None`` only observations (fetches, other
requests) or :meth:`HfApiStandIn.set_state` bring it up, which lets tests decide when the replica is ready.
Tests can wait for held requests with :meth:`HfApiStandIn.wait_for_holds`.

Point ``huggingface_hub`` at it with :func:`use_hf_api` (or ``serve_hf_api(patch=True)``); from a shell,
``hf-pinecone serve hf-api`` runs it and ``HF_PINECONE_ENDPOINTS_API=http://HOST:PORT/v2`` points the
``hf-pinecone endpoint`` commands at it.

Module layout: the management route handlers and the endpoint-URL gate are module-level functions reading the
stand-in from ``request.app.state`` (the gate: from the :class:`HfApiApp`); :func:`create_hf_api_app` only
assembles them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import re
import sys
import threading
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from hf_pinecone.lifecycle import use_management_api
from hf_pinecone.local._runner import bind_socket, run_in_background, serve_foreground

__all__ = [
    "HASH_MODEL_ID",
    "HfApiApp",
    "HfApiStandIn",
    "create_hf_api_app",
    "run_hf_api_server",
    "serve_hf_api",
    "use_hf_api",
]

#: ``model_id`` in ``GET /info`` of an endpoint serving hash vectors (any repository but the bundled model's).
HASH_MODEL_ID = "hf-pinecone/hash-embedder"

_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")
_DATA_RE = re.compile(r"^/endpoints/(?P<ns>[^/]+)/(?P<name>[^/]+)(?P<rest>/.*)?$")
_TRANSITIONAL = ("pending", "initializing", "updating")
# States in which a request carrying ``X-Scale-Up-Timeout`` is held: a replica is (or is about to be) starting.
_HOLDABLE = ("scaledToZero", *_TRANSITIONAL)
# States in which no replica runs and none will start until someone acts (resume, fix, recreate).
_NO_REPLICA_COMING = ("paused", "failed", "updateFailed")
STATES = (
    "pending",
    "initializing",
    "updating",
    "updateFailed",
    "running",
    "paused",
    "failed",
    "scaledToZero",
)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class _Record:
    namespace: str
    name: str
    payload: dict[str, Any]
    state: str
    ticks_left: int
    fail: bool
    health_route: str
    deployed: bool = False
    message: str = ""
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    # Held requests waiting for the next state change: (their event loop, their event).
    waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = field(default_factory=list)
    # Bumped by every forced state change, so that a stale replica-start timer does nothing.
    generation: int = 0
    timer_generation: int | None = None

    def raw(self, base_url: str) -> dict[str, Any]:
        model = dict(self.payload.get("model") or {})
        model.setdefault("revision", None)
        model.setdefault("task", None)
        model.setdefault("framework", "custom")
        running = self.state == "running"
        return {
            "name": self.name,
            "type": self.payload.get("type", "protected"),
            "accountId": None,
            "provider": self.payload.get("provider"),
            "compute": self.payload.get("compute"),
            "model": model,
            "healthRoute": self.health_route,
            "tags": self.payload.get("tags", []),
            "status": {
                "createdAt": self.created_at,
                "createdBy": {"id": "0", "name": self.namespace},
                "updatedAt": self.updated_at,
                "updatedBy": {"id": "0", "name": self.namespace},
                "private": None,
                "state": self.state,
                "message": self.message or f"Endpoint is {self.state}",
                "readyReplica": 1 if running else 0,
                "targetReplica": 1 if running or self.state in _TRANSITIONAL else 0,
                # Like the real service: a URL only once the endpoint has been deployed.
                "url": f"{base_url}/endpoints/{self.namespace}/{self.name}" if self.deployed else None,
            },
        }


class HfApiStandIn:
    """State of the stand-in, shared by its routes; tests read and drive it (thread-safe).

    Attributes:
        calls: ``(method, path)`` of every management request, in order (to assert that no create call
            was made, for instance).
        fail_repositories: Repositories whose deployment ends in ``failed``.
        scale_up_seconds: How long a replica takes to start while a request is held for it
            (``X-Scale-Up-Timeout``); ``None``: only observations and :meth:`set_state` start it.
        requests: ``(endpoint name, path)`` of every request to an endpoint URL, in order of arrival.
        held: ``(endpoint name, path)`` of every request that was held, in order of arrival.
        holds_finished: How many held requests have stopped waiting (served or given up).
    """

    def __init__(
        self,
        *,
        user: str,
        steps_per_state: int,
        fail_repositories: Collection[str],
        scale_up_seconds: float | None = 0.0,
    ) -> None:
        if steps_per_state < 1:
            raise ValueError("steps_per_state must be >= 1")
        if scale_up_seconds is not None and not scale_up_seconds >= 0:
            raise ValueError("scale_up_seconds must be >= 0 or None")
        self.user = user
        self.steps_per_state = steps_per_state
        self.fail_repositories: set[str] = set(fail_repositories)
        self.scale_up_seconds = scale_up_seconds
        self.calls: list[tuple[str, str]] = []
        self.requests: list[tuple[str, str]] = []
        self.held: list[tuple[str, str]] = []
        self.holds_finished = 0
        self._records: dict[tuple[str, str], _Record] = {}
        self._lock = threading.Lock()
        self._holds = threading.Condition(self._lock)

    # --- test controls
    # ----------------------------------------------------------------------------------------
    def state_of(self, namespace: str, name: str) -> str | None:
        """Current state of an endpoint (``None`` if it does not exist); does not count as an observation."""
        with self._lock:
            record = self._records.get((namespace, name))
            return record.state if record else None

    def payload_of(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The JSON body the endpoint was created with (``None`` if it does not exist)."""
        with self._lock:
            record = self._records.get((namespace, name))
            return dict(record.payload) if record else None

    def set_state(self, namespace: str, name: str, state: str, *, message: str = "") -> None:
        """Force an endpoint into ``state`` (e.g. ``failed`` or ``updateFailed`` to test error paths)."""
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}; expected one of {', '.join(STATES)}")
        with self._lock:
            record = self._records[(namespace, name)]
            record.state, record.ticks_left, record.message = state, self.steps_per_state, message
            record.deployed = record.deployed or state in ("running", "scaledToZero")
            self._forced(record)

    def wait_for_holds(self, count: int, *, finished: bool = False, timeout: float = 30.0) -> bool:
        """Block until ``count`` requests have been held (or, with ``finished``, stopped being held).

        Returns:
            Whether that happened within ``timeout`` seconds (a safety net, not a timing assertion).
        """
        with self._holds:
            return self._holds.wait_for(
                lambda: (self.holds_finished if finished else len(self.held)) >= count, timeout
            )

    def management_calls(self, method: str | None = None, suffix: str = "") -> list[tuple[str, str]]:
        """Recorded management calls filtered by method and path suffix."""
        with self._lock:
            return [c for c in self.calls if (method is None or c[0] == method) and c[1].endswith(suffix)]

    # --- transitions
    # ------------------------------------------------------------------------------------------
    def _tick(self, record: _Record) -> None:
        if record.state not in _TRANSITIONAL:
            return
        record.ticks_left -= 1
        if record.ticks_left > 0:
            return
        record.ticks_left = self.steps_per_state
        if record.state == "pending":
            record.state = "initializing"
        else:
            self._finish(record)
        record.updated_at = _now()
        self._changed(record)

    def _finish(self, record: _Record) -> None:
        if record.fail:
            record.state = "failed"
            record.message = "Endpoint failed to start: the stand-in was told this repository fails"
        else:
            record.state, record.deployed, record.message = "running", True, ""

    def _start(self, record: _Record, state: str) -> None:
        record.state, record.ticks_left, record.message = state, self.steps_per_state, ""
        self._forced(record)

    def _forced(self, record: _Record) -> None:
        """``record`` was moved to a new state by a control, not by an observation (lock held).

        The generation bump voids any replica-start timer armed for the previous state; held requests wake.
        """
        record.updated_at = _now()
        record.generation += 1
        self._changed(record)

    def _changed(self, record: _Record) -> None:
        """Wake the requests held on ``record`` (lock held): its state changed or it is gone."""
        waiters, record.waiters = record.waiters, []
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # that loop is closed: the server stopped
                loop.call_soon_threadsafe(event.set)

    def _scale_up_timer(self, key: tuple[str, str], generation: int) -> None:
        """The replica started by a held request is up (``scale_up_seconds`` later), unless things moved on."""
        with self._lock:
            record = self._records.get(key)
            if record is None or record.generation != generation or record.state not in _TRANSITIONAL:
                return
            self._finish(record)
            self._forced(record)

    async def _hold(self, key: tuple[str, str], seconds: float, path: str) -> str | None:
        """Hold a request until the endpoint leaves the starting states or ``seconds`` pass; its state then."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        with self._holds:
            self.held.append((key[1], path))
            self._holds.notify_all()
        try:
            while True:
                event = asyncio.Event()
                with self._lock:
                    record = self._records.get(key)
                    if record is None or record.state not in _HOLDABLE:
                        return record.state if record else None
                    record.waiters.append((loop, event))
                    if self.scale_up_seconds is not None and record.timer_generation != record.generation:
                        record.timer_generation = record.generation
                        loop.call_later(self.scale_up_seconds, self._scale_up_timer, key, record.generation)
                remaining = deadline - loop.time()
                try:
                    if remaining <= 0:
                        raise asyncio.TimeoutError
                    await asyncio.wait_for(event.wait(), remaining)
                except asyncio.TimeoutError:
                    with self._lock:
                        record = self._records.get(key)
                        if record is None:
                            return None
                        with contextlib.suppress(ValueError):
                            record.waiters.remove((loop, event))
                        return record.state
        finally:
            with self._holds:
                self.holds_finished += 1
                self._holds.notify_all()


def _hold_seconds(value: str | None) -> float | None:
    """``X-Scale-Up-Timeout`` as seconds to hold, or ``None`` when absent or not a positive finite number."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds > 0 else None


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


# ------------------------------------------------------------------------------------ the endpoints' models
class _EndpointApps:
    """Which ASGI app serves an endpoint's URL, chosen by the repository the endpoint was created with.

    A repository naming the bundled model (``sentence-transformers/all-MiniLM-L6-v2``) is served by the real
    model, any other by deterministic hash vectors: querying an index of real embeddings through a hash
    endpoint would return plausible-looking nonsense, so ``GET /info`` reports which one answers
    (``model_id``: the repository, or :data:`HASH_MODEL_ID`). Both apps are built on first use, so a stand-in
    whose endpoints all get hash vectors never loads the model. An ``endpoint_app`` given by the caller serves
    every endpoint instead (and gets the lifespan events).
    """

    def __init__(self, custom: ASGIApp | None, *, dimension: int, bundled_model: bool) -> None:
        self.custom = custom
        self.dimension = dimension
        self.bundled_model = bundled_model
        self._lock = threading.Lock()
        self._hash: ASGIApp | None = None
        self._model: ASGIApp | None = None
        self._embedder: Any = None
        self._loaded = False

    def serves_model(self, repository: str) -> bool:
        """Whether endpoints of ``repository`` embed with the bundled model (repository ids ignore case)."""
        return self.bundled_model and repository.strip().lower() == _bundled_model_id().lower()

    def app_for(self, repository: str) -> ASGIApp:
        """The app serving an endpoint of ``repository`` (built on first use)."""
        if self.custom is not None:
            return self.custom
        from hf_pinecone.local.endpoint_server import HashEmbedder, SentenceTransformerEmbedder, create_endpoint_app

        with self._lock:
            if self.serves_model(repository):
                if self._model is None:
                    # The stand-in owns the embedder: it is closed at the stand-in's shutdown (see ``close``).
                    self._embedder = SentenceTransformerEmbedder()
                    self._model = create_endpoint_app(embedder=self._embedder)
                return self._model
            if self._hash is None:
                self._hash = create_endpoint_app(
                    embedder=HashEmbedder(dimension=self.dimension, model_id=HASH_MODEL_ID)
                )
            return self._hash

    async def ready(self, repository: str) -> None:
        """Load the bundled model (once) off the event loop before the first request reaches it."""
        if self.custom is None and not self._loaded and self.serves_model(repository):
            self.app_for(repository)
            # Concurrent first requests may both get here: the embedder loads once under its own lock.
            await run_in_threadpool(self._embedder.load)
            self._loaded = True

    def close(self) -> None:
        """Stop the bundled model's thread, if it was started."""
        with self._lock:
            embedder, self._embedder, self._model, self._loaded = self._embedder, None, None, False
        if embedder is not None:
            embedder.close()


def _bundled_model_id() -> str:
    from hf_pinecone.local.endpoint_server import DEFAULT_MODEL_ID

    return DEFAULT_MODEL_ID


# ------------------------------------------------------------------------------------ management routes
# Handlers read the stand-in from ``request.app.state`` (set by :func:`create_hf_api_app`), as Starlette apps do.
def _stand_in(request: Request) -> HfApiStandIn:
    stand_in: HfApiStandIn = request.app.state.stand_in
    return stand_in


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _authorized(token: str | None, headers: Mapping[str, str]) -> bool:
    return token is None or headers.get("authorization") == f"Bearer {token}"


def _guarded(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """Record the call, then refuse it with 401 unless it carries the stand-in's token."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        stand_in = _stand_in(request)
        with stand_in._lock:
            stand_in.calls.append((request.method, request.url.path))
        if not _authorized(request.app.state.token, request.headers):
            return _error(401, "Invalid credentials in Authorization header")
        return await handler(request)

    return endpoint


async def _whoami(request: Request) -> Response:
    return JSONResponse({"type": "user", "name": _stand_in(request).user, "orgs": []})


async def _list_or_create(request: Request) -> Response:
    stand_in, namespace = _stand_in(request), request.path_params["namespace"]
    if request.method == "GET":
        with stand_in._lock:
            items = [r.raw(_base_url(request)) for (ns, _), r in stand_in._records.items() if ns == namespace]
        return JSONResponse({"items": items})
    try:
        payload = await request.json()
    except ValueError:
        return _error(400, "body must be JSON")
    problem = _validate(payload)
    if problem:
        return _error(400, problem)
    name = payload["name"]
    image = (payload.get("model") or {}).get("image") or {}
    custom = image.get("custom") if isinstance(image, dict) else None
    health = "/health"
    if isinstance(custom, dict):
        health = custom.get("health_route") or custom.get("healthRoute") or health
    with stand_in._lock:
        if (namespace, name) in stand_in._records:
            return _error(409, f"Endpoint name '{name}' is already taken in namespace '{namespace}'")
        record = _Record(
            namespace=namespace,
            name=name,
            payload=payload,
            state="pending",
            ticks_left=stand_in.steps_per_state,
            fail=payload["model"]["repository"] in stand_in.fail_repositories,
            health_route=health,
        )
        stand_in._records[(namespace, name)] = record
        return JSONResponse(record.raw(_base_url(request)))


async def _get_or_delete(request: Request) -> Response:
    stand_in = _stand_in(request)
    key = (request.path_params["namespace"], request.path_params["name"])
    with stand_in._lock:
        record = stand_in._records.get(key)
        if record is None:
            return _error(404, f"Endpoint '{key[1]}' not found in namespace '{key[0]}'")
        if request.method == "DELETE":
            del stand_in._records[key]
            stand_in._changed(record)
            return JSONResponse({})
        stand_in._tick(record)
        return JSONResponse(record.raw(_base_url(request)))


async def _action(request: Request) -> Response:
    stand_in = _stand_in(request)
    key = (request.path_params["namespace"], request.path_params["name"])
    verb = request.path_params["action"]
    with stand_in._lock:
        record = stand_in._records.get(key)
        if record is None:
            return _error(404, f"Endpoint '{key[1]}' not found in namespace '{key[0]}'")
        if verb == "pause":
            stand_in._start(record, "paused")
        elif verb == "resume":
            if record.state == "running":
                return _error(400, "Endpoint is already running")
            if record.state not in _TRANSITIONAL:
                stand_in._start(record, "initializing")
        elif verb == "scale-to-zero":
            if record.state != "running":
                return _error(400, f"Endpoint is {record.state}: only a running endpoint can scale to zero")
            stand_in._start(record, "scaledToZero")
        else:
            return _error(404, f"unknown action {verb!r}")
        return JSONResponse(record.raw(_base_url(request)))


_MANAGEMENT_ROUTES = [
    Route("/api/whoami-v2", _guarded(_whoami), methods=["GET"]),
    Route("/v2/endpoint/{namespace}", _guarded(_list_or_create), methods=["GET", "POST"]),
    Route("/v2/endpoint/{namespace}/{name}", _guarded(_get_or_delete), methods=["GET", "DELETE"]),
    Route("/v2/endpoint/{namespace}/{name}/{action}", _guarded(_action), methods=["POST"]),
]


# ------------------------------------------------------------------------------------ endpoint URLs
def _unavailable(state: str) -> JSONResponse:
    """What the endpoint's proxy answers while the endpoint is not ``running``.

    - Scaled to zero or starting: 503 while a replica initializes ("the proxy will respond with the status
      code 503 while the new replica is initializing",
      https://huggingface.co/docs/inference-endpoints/guides/autoscaling, "Scale to Zero"); clients wait.
    - Paused: 400 with ``{"error": "Bad Request: Invalid state"}``, as Hugging Face's proxy was observed to
      answer a request to a paused endpoint (elastic/elasticsearch#112033, whose Hugging Face client reads the
      ``error`` field); nothing will start a replica until someone resumes it, so clients must not wait.
    - Failed / updateFailed: no replica and none coming either; the proxy's answer is not documented, and a
      client can do nothing but fail, so the stand-in answers as for a paused endpoint.
    """
    if state in _NO_REPLICA_COMING:
        return _error(400, "Bad Request: Invalid state")
    if state == "scaledToZero":
        return _error(503, "Service Unavailable: endpoint is scaled to zero, a replica is starting")
    return _error(503, f"Service Unavailable: endpoint is {state}, no replica ready")


async def _gate(app: HfApiApp, scope: Scope, receive: Receive, send: Send, match: re.Match[str]) -> None:
    """Serve a request to an endpoint URL: through the endpoint's app when running, else as the proxy does."""
    stand_in = app.stand_in
    namespace, name, rest = match["ns"], match["name"], match["rest"] or "/"
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    with stand_in._lock:
        stand_in.requests.append((name, rest))
        record = stand_in._records.get((namespace, name))
        state = repository = None
        if record is not None and record.deployed:
            state, repository = record.state, str(record.payload["model"]["repository"])
            if state == "scaledToZero":
                stand_in._start(record, "initializing")
            else:
                stand_in._tick(record)
                state = record.state
    if state is None or repository is None:
        await _error(404, f"no endpoint at /endpoints/{namespace}/{name}")(scope, receive, send)
        return
    if not _authorized(app.token, headers):
        await _error(401, "Invalid credentials in Authorization header")(scope, receive, send)
        return
    hold = _hold_seconds(headers.get("x-scale-up-timeout"))
    if hold is not None and state in _HOLDABLE:
        now = await stand_in._hold((namespace, name), hold, rest)
        if now is None:
            await _error(404, f"no endpoint at /endpoints/{namespace}/{name}")(scope, receive, send)
            return
        # Still starting: the same 503 as without the header; else the state it moved to.
        state = state if now in _TRANSITIONAL else now
    if state != "running":
        await _unavailable(state)(scope, receive, send)
        return
    await app.endpoint_apps.ready(repository)
    child = dict(scope)
    child["path"] = rest
    child["raw_path"] = rest.encode()
    child["root_path"] = ""
    await app.endpoint_apps.app_for(repository)(child, receive, send)


async def _own_lifespan(apps: _EndpointApps, receive: Receive, send: Send) -> None:
    """Lifespan of a stand-in serving its own endpoint apps: nothing to start, the model to stop at the end."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await run_in_threadpool(apps.close)
            await send({"type": "lifespan.shutdown.complete"})
            return


class HfApiApp:
    """The stand-in's ASGI app: management routes, and every endpoint URL behind its state gate.

    Attributes:
        stand_in: The shared state, for tests to read and drive.
        token: The bearer token every request needs, or ``None``.
        management: The Starlette app of the management routes.
        endpoint_apps: Which app serves an endpoint's URL (by repository).
    """

    def __init__(self, stand_in: HfApiStandIn, management: Starlette, endpoint_apps: _EndpointApps, token: str | None):
        self.stand_in = stand_in
        self.token = token
        self.management = management
        self.endpoint_apps = endpoint_apps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Dispatch: lifespan to the endpoint apps, endpoint URLs to the gate, the rest to the management app."""
        if scope["type"] == "lifespan":
            # The management routes keep no resources; the endpoint apps may (model, batcher).
            custom = self.endpoint_apps.custom
            if custom is not None:
                await custom(scope, receive, send)
            else:
                await _own_lifespan(self.endpoint_apps, receive, send)
            return
        match = _DATA_RE.match(scope.get("path", "")) if scope["type"] == "http" else None
        if match is not None:
            await _gate(self, scope, receive, send, match)
        else:
            await self.management(scope, receive, send)


def create_hf_api_app(
    *,
    endpoint_app: ASGIApp | None = None,
    dimension: int = 384,
    token: str | None = None,
    user: str = "local-user",
    steps_per_state: int = 1,
    fail_repositories: Collection[str] = (),
    scale_up_seconds: float | None = 0.0,
    bundled_model: bool = True,
) -> HfApiApp:
    """Build the stand-in as an ASGI app; its :class:`HfApiStandIn` is the ``stand_in`` attribute.

    Args:
        endpoint_app: ASGI app serving every endpoint's URL once running. Default: per repository, the local
            endpoint app with the bundled all-MiniLM-L6-v2 for ``sentence-transformers/all-MiniLM-L6-v2``, and
            with a deterministic :class:`~hf_pinecone.local.endpoint_server.HashEmbedder` of ``dimension``
            (``GET /info`` ``model_id``: :data:`HASH_MODEL_ID`) for any other repository.
        dimension: Embedding size of the hash vectors.
        token: When set, every request (management and endpoint URLs) needs ``Authorization: Bearer <token>``.
        user: Name returned by ``whoami`` (the default namespace).
        steps_per_state: Observations spent in each transitional state.
        fail_repositories: Repositories whose deployment ends in ``failed``.
        scale_up_seconds: Seconds a replica takes to start once a request is held for it
            (``X-Scale-Up-Timeout``); ``None``: it starts only through observations or ``set_state``.
        bundled_model: ``False`` serves hash vectors for every repository (no model is ever loaded).

    Returns:
        The ASGI app (lifespan events go to ``endpoint_app`` when one is given).
    """
    stand_in = HfApiStandIn(
        user=user,
        steps_per_state=steps_per_state,
        fail_repositories=fail_repositories,
        scale_up_seconds=scale_up_seconds,
    )
    management = Starlette(routes=_MANAGEMENT_ROUTES)
    management.state.stand_in = stand_in
    management.state.token = token
    apps = _EndpointApps(endpoint_app, dimension=dimension, bundled_model=bundled_model)
    return HfApiApp(stand_in, management, apps, token)


def _validate(payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return "body must be a JSON object"
    name = payload.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        return f"invalid endpoint name {name!r}: 1-32 lowercase letters, digits or '-'"
    model = payload.get("model")
    if not isinstance(model, dict) or not model.get("repository"):
        return "model.repository is required"
    compute = payload.get("compute")
    if not isinstance(compute, dict) or not all(
        compute.get(k) for k in ("accelerator", "instanceSize", "instanceType")
    ):
        return "compute.accelerator, compute.instanceSize and compute.instanceType are required"
    provider = payload.get("provider")
    if not isinstance(provider, dict) or not provider.get("vendor") or not provider.get("region"):
        return "provider.vendor and provider.region are required"
    return None


@contextlib.contextmanager
def use_hf_api(base_url: str) -> Iterator[None]:
    """Point ``huggingface_hub`` (management API and ``whoami``) at a stand-in started at ``base_url``."""
    with use_management_api(f"{base_url.rstrip('/')}/v2", hub_url=base_url):
        yield


@contextlib.contextmanager
def serve_hf_api(
    *, app: ASGIApp | None = None, host: str = "127.0.0.1", port: int = 0, patch: bool = False, **kwargs: Any
) -> Iterator[str]:
    """Serve the stand-in on a loopback port in a background thread and yield its base URL.

    Args:
        app: An app from :func:`create_hf_api_app` (to keep a handle on its ``stand_in``); built from
        ``kwargs``
            otherwise.
        host: Interface to bind.
        port: Port to bind; ``0`` picks a free one.
        patch: Also point ``huggingface_hub`` at it (:func:`use_hf_api`) while the block runs.
        **kwargs: Passed to :func:`create_hf_api_app` when ``app`` is not given.

    Yields:
        The base URL; the management API is at ``{base}/v2``.
    """
    application = app if app is not None else create_hf_api_app(**kwargs)
    with run_in_background(application, host=host, port=port) as url:
        if patch:
            with use_hf_api(url):
                yield url
        else:
            yield url


def run_hf_api_server(host: str = "127.0.0.1", port: int = 8900, **kwargs: Any) -> None:
    """Serve the stand-in in the foreground until Ctrl-C / SIGTERM (``hf-pinecone serve hf-api``).

    Prints ``listening on http://HOST:PORT`` once ready (the convention of ``hf-pinecone serve``). A port that
    cannot be bound prints one ``error: ...`` line on stderr and exits with status 1.

    Args:
        host: Interface to bind.
        port: Port to bind; ``0`` picks a free one.
        **kwargs: Passed to :func:`create_hf_api_app`.

    Raises:
        SystemExit: With status 1 when the port cannot be bound or the server cannot start.
    """
    app = create_hf_api_app(**kwargs)
    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        print(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    serve_foreground(app, sock)
