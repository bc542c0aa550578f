"""Inference Endpoint lifecycle over ``huggingface_hub``: create, wait, resume, pause, scale to zero, delete.

Every function here goes through ``huggingface_hub``'s own client (:class:`huggingface_hub.HfApi` and
:class:`huggingface_hub.InferenceEndpoint`), so authentication, the management API URL and the HTTP session
are the ones ``huggingface_hub`` uses. Errors come back typed (subclasses of :class:`EndpointLifecycleError`)
with messages that say what to do next and never contain the token.

Defaults of :func:`ensure_endpoint` (a small, cheap CPU endpoint for a sentence-transformers model):

- ``task="sentence-embeddings"``, ``framework="pytorch"``: the inference toolkit's embeddings task (``POST /``
  returns ``{"embeddings": ...}``). ``engine="tei"`` deploys text-embeddings-inference instead
  (:data:`TEI_CPU_IMAGE`).
- ``accelerator="cpu"``, ``vendor="aws"``, ``region="us-east-1"``, ``instance_type="intel-spr"``,
  ``instance_size="x2"`` (2 vCPU Intel Sapphire Rapids). Instance names change over time:
  ``huggingface_hub.list_inference_endpoints_hardware()`` lists the current ones.
- ``scale_to_zero_timeout=15`` minutes with ``min_replica=0`` and ``max_replica=1``: an idle endpoint costs
  nothing and wakes on the next request (cold start); pass ``scale_to_zero_timeout=None`` to keep one replica
  up.
- ``endpoint_type="authenticated"``: requests need a Hugging Face token.

Pointing at another management API (a local stand-in, see :mod:`hf_pinecone.local.hf_api_server`) is done with
:func:`use_management_api`, which patches ``huggingface_hub.constants.INFERENCE_ENDPOINTS_ENDPOINT`` (read by
``huggingface_hub`` at call time).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import SecretStr

from hf_pinecone.errors import (
    ConfigurationError,
    EndpointConflictError,
    EndpointFailedError,
    EndpointLifecycleError,
    EndpointNotFoundError,
    EndpointPausedError,
    EndpointScaledToZeroError,
    EndpointStateError,
    EndpointWaitTimeoutError,
    LifecycleAuthError,
    redact,
)

__all__ = [
    "DEFAULT_INSTANCE_SIZE",
    "DEFAULT_INSTANCE_TYPE",
    "DEFAULT_TASK",
    "MANAGEMENT_API_ENV",
    "TEI_CPU_IMAGE",
    "EndpointConflictError",
    "EndpointFailedError",
    "EndpointInfo",
    "EndpointLifecycleError",
    "EndpointNotFoundError",
    "EndpointPausedError",
    "EndpointScaledToZeroError",
    "EndpointStateError",
    "EndpointWaitTimeoutError",
    "LifecycleAuthError",
    "aresolve_endpoint_url",
    "delete_endpoint",
    "endpoint_status",
    "ensure_endpoint",
    "management_api_from_env",
    "pause_endpoint",
    "resolve_endpoint_url",
    "resume_endpoint",
    "scale_endpoint_to_zero",
    "use_management_api",
    "wait_for_endpoint",
]

DEFAULT_TASK = "sentence-embeddings"
DEFAULT_INSTANCE_TYPE = "intel-spr"
DEFAULT_INSTANCE_SIZE = "x2"
#: text-embeddings-inference image for CPU instances (``engine="tei"``). GPU images are tagged per GPU
#: architecture, so a GPU TEI endpoint needs an explicit ``image=``.
TEI_CPU_IMAGE = "ghcr.io/huggingface/text-embeddings-inference:cpu-1.8"
#: Environment variable read by the CLI (and :func:`management_api_from_env`) for the management API base URL.
MANAGEMENT_API_ENV = "HF_PINECONE_ENDPOINTS_API"

TokenLike = str | SecretStr | None

# Hugging Face's rule for endpoint names (checked before creating, so a typo fails fast and locally).
_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")
_FAILED_STATES = frozenset({"failed", "updateFailed"})
_TRANSITIONAL_STATES = frozenset({"pending", "initializing", "updating"})


# -------------------- data model
@dataclass(frozen=True)
class EndpointInfo:
    """A snapshot of an Inference Endpoint, as reported by the management API.

    Attributes:
        name: Endpoint name.
        namespace: User or organization owning the endpoint.
        status: State: ``pending``, ``initializing``, ``updating``, ``updateFailed``, ``running``, ``paused``,
            ``failed`` or ``scaledToZero``.
        url: Base URL of the endpoint (``None`` until it has been deployed).
        repository: Model repository served.
        task: Task (``sentence-embeddings`` for the inference toolkit).
        framework: Framework (``pytorch``).
        revision: Model revision, when pinned.
        type: Access type (``public``, ``authenticated``, ``private``).
        health_route: Route answering 200 once a replica is ready.
        created_at: Creation time (ISO 8601), when reported.
        updated_at: Last update time (ISO 8601), when reported.
    """

    name: str
    namespace: str
    status: str
    url: str | None
    repository: str
    task: str | None = None
    framework: str | None = None
    revision: str | None = None
    type: str | None = None
    health_route: str | None = None
    created_at: str | None = None
    updated_at: str | None = None

    @property
    def running(self) -> bool:
        """True when the endpoint is ``running`` and has a URL."""
        return self.status == "running" and self.url is not None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (used by ``hf-pinecone endpoint ... --json``)."""
        data = asdict(self)
        data["running"] = self.running
        return data

    @classmethod
    def from_endpoint(cls, endpoint: Any) -> EndpointInfo:
        """Build from a :class:`huggingface_hub.InferenceEndpoint`."""

        def _iso(value: Any) -> str | None:
            return value.isoformat() if isinstance(value, datetime) else (str(value) if value else None)

        return cls(
            name=str(endpoint.name),
            namespace=str(endpoint.namespace),
            status=_state(endpoint),
            url=endpoint.url or None,
            repository=str(endpoint.repository),
            task=getattr(endpoint, "task", None),
            framework=getattr(endpoint, "framework", None),
            revision=getattr(endpoint, "revision", None),
            type=_enum_value(getattr(endpoint, "type", None)),
            health_route=getattr(endpoint, "health_route", None),
            created_at=_iso(getattr(endpoint, "created_at", None)),
            updated_at=_iso(getattr(endpoint, "updated_at", None)),
        )


def _enum_value(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def _state(endpoint: Any) -> str:
    return _enum_value(endpoint.status) or "unknown"


# -------------------- pointing elsewhere
def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _stand_in_root(api_url: str) -> str:
    """``http://127.0.0.1:PORT/v2`` -> ``http://127.0.0.1:PORT``: where a local stand-in answers ``whoami``."""
    root = api_url.rstrip("/")
    return root[: -len("/v2")] if root.endswith("/v2") else root


@contextlib.contextmanager
def use_management_api(api_url: str, *, hub_url: str | None = None) -> Iterator[None]:
    """Point ``huggingface_hub``'s Inference Endpoints calls at ``api_url`` for the duration of the block.

    ``huggingface_hub`` builds every management URL from
    ``huggingface_hub.constants.INFERENCE_ENDPOINTS_ENDPOINT`` at call time, so patching that constant
    redirects ``create_inference_endpoint``, ``get_inference_endpoint``,
    ``InferenceEndpoint.fetch/pause/resume/...`` alike. ``hub_url`` redirects ``whoami`` (used to find the
    default namespace when none is given); this module creates its ``HfApi`` per call, so it picks that up
    too.

    Offline mode (``HF_HUB_OFFLINE=1``) blocks all of ``huggingface_hub``'s HTTP; it is lifted inside the
    block only when every URL given is a loopback address (a local stand-in is not the Hub).

    The patch is process-wide (``huggingface_hub`` keeps these in module globals): do not use it concurrently
    with code that talks to the real API.

    Args:
        api_url: Management API base URL, e.g. ``http://127.0.0.1:8000/v2`` for the local stand-in
            (the real one is ``https://api.endpoints.huggingface.cloud/v2``).
        hub_url: Hub base URL serving ``/api/whoami-v2``. ``None``: for a loopback ``api_url`` (a local
            stand-in, which serves ``whoami`` at its root too) that URL without its ``/v2``, so that one URL
            (``HF_PINECONE_ENDPOINTS_API``) is enough; otherwise the Hub URL is left unchanged.
    """
    from huggingface_hub import constants

    if hub_url is None and _is_loopback(api_url):
        hub_url = _stand_in_root(api_url)
    saved = (constants.INFERENCE_ENDPOINTS_ENDPOINT, constants.ENDPOINT, constants.HF_HUB_OFFLINE)
    constants.INFERENCE_ENDPOINTS_ENDPOINT = api_url.rstrip("/")
    if hub_url is not None:
        constants.ENDPOINT = hub_url.rstrip("/")
    if _is_loopback(api_url) and (hub_url is None or _is_loopback(hub_url)):
        constants.HF_HUB_OFFLINE = False
    try:
        yield
    finally:
        constants.INFERENCE_ENDPOINTS_ENDPOINT, constants.ENDPOINT, constants.HF_HUB_OFFLINE = saved


def management_api_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """The management API URL set in ``HF_PINECONE_ENDPOINTS_API`` (``None`` means Hugging Face's own)."""
    value = (environ if environ is not None else os.environ).get(MANAGEMENT_API_ENV, "").strip()
    return value or None


# -------------------- internals
def _token_value(token: TokenLike) -> str | None:
    if isinstance(token, SecretStr):
        return token.get_secret_value() or None
    if token:
        return token
    from huggingface_hub import get_token

    return get_token() or os.environ.get("HUGGINGFACEHUB_API_TOKEN") or None


def _api() -> Any:
    from huggingface_hub import HfApi

    # Built per call so it reads the (possibly patched) hub URL at call time.
    return HfApi(library_name="hf-pinecone")


def _label(name: str, namespace: str | None) -> str:
    return f"'{namespace}/{name}'" if namespace else f"'{name}'"


@contextlib.contextmanager
def _translate(action: str, name: str, namespace: str | None, token: str | None) -> Iterator[None]:
    """Turn ``huggingface_hub`` and transport exceptions into this module's typed errors, token scrubbed."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError, OfflineModeIsEnabled

    label = _label(name, namespace)
    try:
        yield
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        server = redact(exc.server_message or "", [token]) or None
        detail = f": {server}" if server else ""
        kwargs: dict[str, Any] = {
            "name": name,
            "namespace": namespace,
            "status_code": status,
            "server_message": server,
            "url": redact(str(exc.response.request.url), [token]) if exc.response is not None else None,
        }
        if status in (401, 403):
            raise LifecycleAuthError(
                f"could not {action} Inference Endpoint {label}: "
                f"Hugging Face refused the token (HTTP {status})"
                f"{detail}. Use a token with write access to Inference Endpoints on this namespace "
                "(HF_TOKEN, --token or `hf auth login`).",
                **kwargs,
            ) from None
        if status == 404:
            raise EndpointNotFoundError(
                f"Inference Endpoint {label} not found (HTTP 404){detail}. "
                "Check the name and --namespace, or create it with `hf-pinecone endpoint create`.",
                **kwargs,
            ) from None
        if status == 409:
            raise EndpointConflictError(
                f"could not {action} Inference Endpoint {label}: conflict (HTTP 409){detail}", **kwargs
            ) from None
        raise EndpointLifecycleError(
            f"could not {action} Inference Endpoint {label}: HTTP {status}{detail}", **kwargs
        ) from None
    except LocalTokenNotFoundError:
        raise ConfigurationError(
            f"could not {action} Inference Endpoint {label}: "
            "no Hugging Face token found and no namespace given. "
            "Set HF_TOKEN, pass --token, or run `hf auth login`."
        ) from None
    except OfflineModeIsEnabled:
        raise ConfigurationError(
            f"could not {action} Inference Endpoint {label}: huggingface_hub offline mode is enabled "
            "(HF_HUB_OFFLINE=1); unset it to manage endpoints."
        ) from None
    except httpx2.HTTPError as exc:
        raise EndpointLifecycleError(
            f"could not {action} Inference Endpoint {label}: management API unreachable: "
            f"{redact(str(exc) or type(exc).__name__, [token])}",
            name=name,
            namespace=namespace,
        ) from None
    except ValueError as exc:
        # huggingface_hub raises ValueError for local argument problems (e.g. no namespace for an org token).
        raise ConfigurationError(
            f"could not {action} Inference Endpoint {label}: {redact(str(exc), [token])}"
        ) from None


def _resolve_namespace(api: Any, name: str, namespace: str | None, token: str | None) -> str:
    if namespace:
        return namespace
    with _translate("find the namespace for", name, None, token):
        me = api.whoami(token=token)
    if me.get("type") != "user" or not me.get("name"):
        raise ConfigurationError(
            "the token does not belong to a user, so the namespace of Inference Endpoint "
            f"{_label(name, None)} "
            "cannot be guessed; pass namespace= (--namespace)"
        )
    return str(me["name"])


def _manage(action: str, name: str, namespace: str | None, token: str | None, **kwargs: Any) -> Any:
    """Call ``HfApi.<action>_inference_endpoint`` (spaces in ``action`` as ``_``), its errors translated."""
    with _translate(action, name, namespace, token):
        call = getattr(_api(), f"{action.replace(' ', '_')}_inference_endpoint")
        return call(name, namespace=namespace, token=token, **kwargs)


def _fetch(endpoint: Any, token: str | None) -> None:
    with _translate("get", endpoint.name, endpoint.namespace, token):
        endpoint.fetch()


def _resume(endpoint: Any, token: str | None) -> None:
    with _translate("resume", endpoint.name, endpoint.namespace, token):
        endpoint.resume(running_ok=True)


def _probe(url: str, route: str | None, token: str | None, timeout: float) -> int | None:
    """GET ``url + route`` as huggingface_hub's ``wait()`` does; the status code, or None when unreachable."""
    import httpx2
    from huggingface_hub import get_session
    from huggingface_hub.utils._headers import build_hf_headers

    target = f"{url.rstrip('/')}/{(route or '/health').lstrip('/')}"
    try:
        response = get_session().get(target, headers=build_hf_headers(token=token), timeout=timeout)
    except (httpx2.HTTPError, ConnectionError):  # ConnectionError: huggingface_hub's offline mode
        return None
    return int(response.status_code)


def _state_error(endpoint: Any, *, auto_resume_hint: bool) -> EndpointStateError:
    name, namespace, state = endpoint.name, endpoint.namespace, _state(endpoint)
    label = _label(name, namespace)
    ns_flag = f" --namespace {namespace}" if namespace else ""
    kwargs: dict[str, Any] = {"name": name, "namespace": namespace, "state": state, "url": endpoint.url}
    if state in _FAILED_STATES:
        verb = "update" if state == "updateFailed" else "deploy"
        return EndpointFailedError(
            f"Inference Endpoint {label} failed to {verb} (state {state}). Check its logs on "
            "https://endpoints.huggingface.co, then fix its configuration or delete and recreate it.",
            **kwargs,
        )
    hint = " or pass auto_resume=True" if auto_resume_hint else ""
    if state == "paused":
        return EndpointPausedError(
            f"Inference Endpoint {label} is paused. "
            f"Resume it with `hf-pinecone endpoint resume {name}{ns_flag}`"
            f" (or hf_pinecone.lifecycle.resume_endpoint){hint}.",
            **kwargs,
        )
    return EndpointScaledToZeroError(
        f"Inference Endpoint {label} is scaled to zero; the first request wakes it after a cold start. "
        f"Wake it with `hf-pinecone endpoint wait {name}{ns_flag}`{hint}.",
        **kwargs,
    )


def _check_wait_args(timeout: float | None, refresh_every: float) -> None:
    if timeout is not None and timeout < 0:
        raise ConfigurationError(f"timeout must be >= 0 seconds, got {timeout}")
    if refresh_every <= 0:
        raise ConfigurationError(f"refresh_every must be > 0 seconds, got {refresh_every}")


def _wait(
    endpoint: Any,
    *,
    token: str | None,
    timeout: float | None,
    refresh_every: float,
    wake: bool,
) -> Any:
    """Poll until running and healthy.

    Same contract as ``InferenceEndpoint.wait`` (raise on failed/updateFailed, GET ``url + healthRoute`` once
    running) but it fails fast on a paused endpoint (which never resumes by itself, so ``wait()`` would spin
    until its timeout), wakes a scaled-to-zero one with a request when ``wake`` is set, and takes a float
    ``refresh_every``. Every caller has checked ``timeout`` and ``refresh_every`` before its first request.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    probe_timeout = max(refresh_every, 10.0)
    polls = 0
    while True:
        state = _state(endpoint)
        if state in _FAILED_STATES or state == "paused":
            raise _state_error(endpoint, auto_resume_hint=False)
        if state == "scaledToZero":
            if not wake:
                raise _state_error(endpoint, auto_resume_hint=True)
            if endpoint.url:
                # Any request reaching a scaled-to-zero endpoint makes the proxy start a replica (it
                # answers 503).
                _probe(endpoint.url, endpoint.health_route, token, probe_timeout)
        healthy = state == "running" and endpoint.url
        if healthy and _probe(endpoint.url, endpoint.health_route, token, probe_timeout) == 200:
            return endpoint
        if deadline is not None and time.monotonic() >= deadline:
            raise EndpointWaitTimeoutError(
                f"Inference Endpoint {_label(endpoint.name, endpoint.namespace)} is still {state} after "
                f"{timeout:g} s; wait longer "
                f"(`hf-pinecone endpoint wait {endpoint.name} --timeout ...`) or check "
                "its logs.",
                name=endpoint.name,
                namespace=endpoint.namespace,
                state=state,
                url=endpoint.url,
            )
        # The first re-fetch is immediate: the state often moves right after create/resume/wake, and a
        # quick transition should not cost a full refresh interval.
        if polls:
            time.sleep(refresh_every)
        polls += 1
        _fetch(endpoint, token)


# -------------------- public API
def endpoint_status(name: str, *, namespace: str | None = None, token: TokenLike = None) -> EndpointInfo:
    """Current state and URL of an endpoint.

    Args:
        name: Endpoint name.
        namespace: User or organization; defaults to the token's user.
        token: Hugging Face token; defaults to ``HF_TOKEN`` / the saved login.

    Returns:
        The endpoint snapshot.

    Raises:
        EndpointNotFoundError: No such endpoint.
        LifecycleAuthError: The token was refused.
    """
    return EndpointInfo.from_endpoint(_manage("get", name, namespace, _token_value(token)))


def ensure_endpoint(
    name: str,
    *,
    repository: str,
    namespace: str | None = None,
    task: str = DEFAULT_TASK,
    framework: str = "pytorch",
    accelerator: str = "cpu",
    vendor: str = "aws",
    region: str = "us-east-1",
    instance_size: str = DEFAULT_INSTANCE_SIZE,
    instance_type: str = DEFAULT_INSTANCE_TYPE,
    min_replica: int | None = None,
    max_replica: int = 1,
    scale_to_zero_timeout: int | None = 15,
    endpoint_type: str = "authenticated",
    engine: Literal["toolkit", "tei"] = "toolkit",
    image: str | None = None,
    revision: str | None = None,
    env: Mapping[str, str] | None = None,
    resume: bool = True,
    token: TokenLike = None,
    wait: bool = True,
    timeout: float | None = 1800.0,
    refresh_every: float = 5.0,
) -> EndpointInfo:
    """Create the embeddings endpoint unless it exists, and (by default) wait until it serves requests.

    An existing endpoint with the same repository is reused as is: no create call is made, a paused one is
    resumed (``resume=True``), a scaled-to-zero one is woken when waiting. The module docstring explains the
    defaults.

    Args:
        name: Endpoint name (lowercase letters, digits and ``-``, at most 32 characters).
        repository: Model repository, e.g. ``sentence-transformers/all-MiniLM-L6-v2``.
        namespace: User or organization; defaults to the token's user.
        task: Inference toolkit task.
        framework: Model framework.
        accelerator: ``cpu`` or ``gpu``.
        vendor: Cloud vendor.
        region: Cloud region.
        instance_size: Instance size (``x1``, ``x2``, ...).
        instance_type: Instance type (``intel-spr``, ``nvidia-l4``, ...).
        min_replica: Minimum replicas; defaults to 0 when ``scale_to_zero_timeout`` is set, else 1.
        max_replica: Maximum replicas.
        scale_to_zero_timeout: Minutes without requests before scaling to zero; ``None`` disables it.
        endpoint_type: ``authenticated`` (token required), ``public`` or ``private``.
        engine: ``toolkit`` (Hugging Face's default image) or ``tei`` (text-embeddings-inference).
        image: Container image URL overriding the engine's default (required for ``engine="tei"`` on GPU).
        revision: Model revision to pin.
        env: Extra environment variables for the container.
        resume: Resume the endpoint if it exists and is paused.
        token: Hugging Face token; defaults to ``HF_TOKEN`` / the saved login.
        wait: Wait until the endpoint is running and healthy.
        timeout: Seconds to wait (``None``: forever).
        refresh_every: Seconds between status polls.

    Returns:
        The endpoint snapshot (``url`` set once running).

    Raises:
        ConfigurationError: Invalid name or engine/image combination, or no token/namespace.
        EndpointConflictError: The name is taken by an endpoint serving another repository.
        EndpointFailedError: The endpoint failed to deploy.
        EndpointPausedError: It is paused and ``resume=False``.
        EndpointWaitTimeoutError: Not running within ``timeout``.
        LifecycleAuthError: The token was refused.
    """
    if not _NAME_RE.match(name):
        raise ConfigurationError(
            f"invalid Inference Endpoint name {name!r}: use 1-32 lowercase letters, digits or '-', "
            "starting and ending with a letter or digit"
        )
    if not repository or not repository.strip():
        raise ConfigurationError(
            "repository must name a model repository, e.g. sentence-transformers/all-MiniLM-L6-v2"
        )
    custom_image = _custom_image(engine, image, accelerator, env)
    _check_wait_args(timeout, refresh_every)
    secret = _token_value(token)
    api = _api()
    # Resolved once here: get and create would each ask whoami otherwise (a rate-limited call).
    namespace = _resolve_namespace(api, name, namespace, secret)

    endpoint: Any = None
    with _translate("get", name, namespace, secret):
        from huggingface_hub.errors import HfHubHTTPError

        try:
            endpoint = api.get_inference_endpoint(name, namespace=namespace, token=secret)
        except HfHubHTTPError as exc:
            if exc.response is None or exc.response.status_code != 404:
                raise

    if endpoint is None:
        with _translate("create", name, namespace, secret):
            endpoint = api.create_inference_endpoint(
                name,
                repository=repository,
                framework=framework,
                accelerator=accelerator,
                instance_size=instance_size,
                instance_type=instance_type,
                region=region,
                vendor=vendor,
                min_replica=min_replica if min_replica is not None else (0 if scale_to_zero_timeout else 1),
                max_replica=max_replica,
                scale_to_zero_timeout=scale_to_zero_timeout,
                revision=revision,
                task=task,
                custom_image=custom_image,
                env=dict(env) if env and custom_image is None else None,
                type=endpoint_type,
                namespace=namespace,
                token=secret,
            )
    else:
        if endpoint.repository != repository:
            raise EndpointConflictError(
                f"Inference Endpoint {_label(name, endpoint.namespace)} already exists and serves "
                f"{endpoint.repository!r}, not {repository!r}; choose another name or delete it first.",
                name=name,
                namespace=endpoint.namespace,
                state=_state(endpoint),
                url=endpoint.url,
            )
        state = _state(endpoint)
        if state in _FAILED_STATES:
            raise _state_error(endpoint, auto_resume_hint=False)
        if state == "paused":
            if not resume:
                raise _state_error(endpoint, auto_resume_hint=False)
            _resume(endpoint, secret)

    if wait:
        endpoint = _wait(endpoint, token=secret, timeout=timeout, refresh_every=refresh_every, wake=True)
    return EndpointInfo.from_endpoint(endpoint)


def _custom_image(
    engine: str, image: str | None, accelerator: str, env: Mapping[str, str] | None
) -> dict[str, Any] | None:
    if engine == "toolkit":
        if image is None:
            return None
        return {"url": image, "health_route": "/health", "env": dict(env or {})}
    if engine != "tei":
        raise ConfigurationError(f"engine must be 'toolkit' or 'tei', got {engine!r}")
    if image is None:
        if accelerator != "cpu":
            raise ConfigurationError(
                "engine='tei' on a GPU needs image=...: TEI's GPU images are tagged per GPU architecture "
                "(see https://huggingface.co/docs/text-embeddings-inference/supported_models)"
            )
        image = TEI_CPU_IMAGE
    # TEI reads the model that Inference Endpoints mounts at /repository.
    return {"url": image, "health_route": "/health", "env": {"MODEL_ID": "/repository", **dict(env or {})}}


def wait_for_endpoint(
    name: str,
    *,
    namespace: str | None = None,
    token: TokenLike = None,
    timeout: float | None = 1800.0,
    refresh_every: float = 5.0,
    wake: bool = True,
) -> EndpointInfo:
    """Wait until the endpoint is running and its health route answers 200.

    A scaled-to-zero endpoint is woken with a request when ``wake`` is set. A paused endpoint raises at
    once: it never resumes by itself (use :func:`resume_endpoint`).

    Args:
        name: Endpoint name.
        namespace: User or organization; defaults to the token's user.
        token: Hugging Face token; defaults to ``HF_TOKEN`` / the saved login.
        timeout: Seconds to wait (``None``: forever).
        refresh_every: Seconds between status polls.
        wake: Wake a scaled-to-zero endpoint instead of raising :class:`EndpointScaledToZeroError`.

    Returns:
        The running endpoint's snapshot.

    Raises:
        EndpointFailedError, EndpointPausedError, EndpointScaledToZeroError, EndpointWaitTimeoutError,
        EndpointNotFoundError, LifecycleAuthError.
    """
    _check_wait_args(timeout, refresh_every)
    secret = _token_value(token)
    endpoint = _manage("get", name, namespace, secret)
    return EndpointInfo.from_endpoint(
        _wait(endpoint, token=secret, timeout=timeout, refresh_every=refresh_every, wake=wake)
    )


def pause_endpoint(name: str, *, namespace: str | None = None, token: TokenLike = None) -> EndpointInfo:
    """Pause the endpoint (no cost; only an explicit resume restarts it).

    Returns:
        The endpoint snapshot after the call.
    """
    return EndpointInfo.from_endpoint(_manage("pause", name, namespace, _token_value(token)))


def resume_endpoint(
    name: str,
    *,
    namespace: str | None = None,
    token: TokenLike = None,
    wait: bool = False,
    timeout: float | None = 1800.0,
    refresh_every: float = 5.0,
) -> EndpointInfo:
    """Resume a paused (or scaled-to-zero) endpoint; a running one is left alone.

    Args:
        name: Endpoint name.
        namespace: User or organization; defaults to the token's user.
        token: Hugging Face token; defaults to ``HF_TOKEN`` / the saved login.
        wait: Also wait until it is running and healthy.
        timeout: Seconds to wait when ``wait`` is set.
        refresh_every: Seconds between status polls.

    Returns:
        The endpoint snapshot.
    """
    _check_wait_args(timeout, refresh_every)
    secret = _token_value(token)
    endpoint = _manage("resume", name, namespace, secret, running_ok=True)
    if wait:
        endpoint = _wait(endpoint, token=secret, timeout=timeout, refresh_every=refresh_every, wake=True)
    return EndpointInfo.from_endpoint(endpoint)


def scale_endpoint_to_zero(
    name: str, *, namespace: str | None = None, token: TokenLike = None
) -> EndpointInfo:
    """Scale the endpoint to zero replicas (no cost; the next request wakes it after a cold start).

    Returns:
        The endpoint snapshot after the call.
    """
    return EndpointInfo.from_endpoint(_manage("scale to zero", name, namespace, _token_value(token)))


def delete_endpoint(
    name: str, *, namespace: str | None = None, token: TokenLike = None, missing_ok: bool = False
) -> bool:
    """Delete the endpoint (irreversible).

    Args:
        name: Endpoint name.
        namespace: User or organization; defaults to the token's user.
        token: Hugging Face token; defaults to ``HF_TOKEN`` / the saved login.
        missing_ok: Return ``False`` instead of raising when it does not exist.

    Returns:
        True when an endpoint was deleted.

    Raises:
        EndpointNotFoundError: It does not exist and ``missing_ok`` is false.
    """
    try:
        _manage("delete", name, namespace, _token_value(token))
    except EndpointNotFoundError:
        if missing_ok:
            return False
        raise
    return True


def resolve_endpoint_url(
    name: str,
    *,
    namespace: str | None = None,
    token: TokenLike = None,
    auto_resume: bool = False,
    timeout: float | None = 600.0,
    refresh_every: float = 5.0,
) -> str:
    """The URL of a running endpoint, for clients configured with an endpoint name instead of a URL.

    - ``running``: its URL, without further requests.
    - ``paused`` / ``scaledToZero``: with ``auto_resume`` the endpoint is resumed (paused) or woken by a
      request (scaled to zero) and waited for; without it, :class:`EndpointPausedError` /
      :class:`EndpointScaledToZeroError` say what to run.
    - ``pending`` / ``initializing`` / ``updating``: waited for.
    - ``failed`` / ``updateFailed``: :class:`EndpointFailedError`.

    Args:
        name: Endpoint name.
        namespace: User or organization; defaults to the token's user.
        token: Hugging Face token; defaults to ``HF_TOKEN`` / the saved login.
        auto_resume: Resume or wake the endpoint instead of raising.
        timeout: Seconds to wait for it to run (``None``: forever).
        refresh_every: Seconds between status polls.

    Returns:
        The endpoint's base URL.
    """
    _check_wait_args(timeout, refresh_every)
    secret = _token_value(token)
    endpoint = _manage("get", name, namespace, secret)
    state = _state(endpoint)
    if state == "running" and endpoint.url:
        return str(endpoint.url)
    if state in _FAILED_STATES:
        raise _state_error(endpoint, auto_resume_hint=False)
    if state in ("paused", "scaledToZero"):
        if not auto_resume:
            raise _state_error(endpoint, auto_resume_hint=True)
        if state == "paused":
            _resume(endpoint, secret)
    endpoint = _wait(endpoint, token=secret, timeout=timeout, refresh_every=refresh_every, wake=auto_resume)
    return str(endpoint.url)


async def aresolve_endpoint_url(
    name: str,
    *,
    namespace: str | None = None,
    token: TokenLike = None,
    auto_resume: bool = False,
    timeout: float | None = 600.0,
    refresh_every: float = 5.0,
) -> str:
    """Async :func:`resolve_endpoint_url`.

    ``huggingface_hub``'s management client is synchronous, so it runs in a worker thread and the event loop
    keeps running while an endpoint resumes.
    """
    return await asyncio.to_thread(
        resolve_endpoint_url,
        name,
        namespace=namespace,
        token=token,
        auto_resume=auto_resume,
        timeout=timeout,
        refresh_every=refresh_every,
    )
