"""Pinecone's control plane: describe, list, create (``ensure_index``) and delete indexes; dimension discovery.

Every call goes through :mod:`hf_pinecone._pinecone.transport` (one retry loop, typed errors), so an
unreachable or wrong controller host fails within the retry budget with one
:class:`~hf_pinecone.errors.PineconeRequestError` naming the host, and a rejected key with
:class:`~hf_pinecone.errors.PineconeAuthError`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hf_pinecone._pinecone import protocol
from hf_pinecone._pinecone.limits import MAX_DIMENSION, METRICS, index_name_problem
from hf_pinecone._pinecone.transport import AsyncTransport, SyncTransport
from hf_pinecone._retry import RetryPolicy
from hf_pinecone.errors import (
    ConfigurationError,
    IndexMismatchError,
    IndexNotFoundError,
    PineconeRequestError,
    PineconeStoreError,
)

if TYPE_CHECKING:  # only annotations: the data plane and ingestion import this module without LangChain
    from langchain_core.embeddings import Embeddings

__all__ = [
    "IndexDescription",
    "adescribe_index",
    "check_index_args",
    "controller_url",
    "delete_index",
    "describe_index",
    "embedding_dimension",
    "ensure_index",
    "list_indexes",
    "resolve_api_key",
]

logger = logging.getLogger("hf_pinecone.store")

_DIMENSION_PROBE_TEXT = "dimension probe"


@dataclass(frozen=True)
class IndexDescription:
    """What the control plane says about an index.

    Attributes:
        name: Index name.
        host: Data-plane host, as Pinecone gives it (without a scheme on Pinecone's cloud).
        dimension: Vector dimension (``None`` for a sparse index).
        metric: Similarity metric.
        vector_type: ``dense`` or ``sparse``.
        ready: Whether the index serves requests.
        state: Pinecone's state name (``Ready``, ``Initializing``, ...).
        deletion_protection: ``enabled`` or ``disabled``.
        raw: The whole answer.
    """

    name: str
    host: str
    dimension: int | None
    metric: str
    vector_type: str = "dense"
    ready: bool = False
    state: str | None = None
    deletion_protection: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def url(self) -> str:
        """The data-plane host as a URL (``https://`` added when Pinecone gave none)."""
        return protocol.base_url(self.host)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> IndexDescription:
        """Build from a control-plane answer."""
        raw_status = data.get("status")
        status: Mapping[str, Any] = raw_status if isinstance(raw_status, Mapping) else {}
        dimension = data.get("dimension")
        return cls(
            name=str(data.get("name", "")),
            host=str(data.get("host") or ""),
            dimension=int(dimension) if isinstance(dimension, (int, float)) and dimension else None,
            metric=str(data.get("metric", "")),
            vector_type=str(data.get("vector_type") or "dense"),
            ready=bool(status.get("ready")),
            state=status.get("state"),
            deletion_protection=data.get("deletion_protection"),
            raw=dict(data),
        )


def controller_url(host: str | None = None) -> str:
    """The control-plane URL: ``host``, else ``PINECONE_CONTROLLER_HOST``, else Pinecone's cloud."""
    return protocol.base_url(host or os.environ.get("PINECONE_CONTROLLER_HOST") or protocol.DEFAULT_CONTROLLER)


def resolve_api_key(api_key: str | None = None) -> str:
    """``api_key``, else ``PINECONE_API_KEY``.

    Raises:
        ConfigurationError: Neither is set.
    """
    key = api_key or os.environ.get("PINECONE_API_KEY")
    if not key:
        raise ConfigurationError("no Pinecone API key: pass api_key= (pinecone_api_key=) or set PINECONE_API_KEY")
    return key


def check_index_args(name: str, dimension: int | None = None, metric: str = "cosine") -> None:
    """Raise :class:`ConfigurationError` for an invalid index name, dimension or metric (no I/O)."""
    problem = index_name_problem(name)
    if problem is not None:
        raise ConfigurationError(problem)
    if metric not in METRICS:
        raise ConfigurationError(f"invalid metric {metric!r}: use one of {', '.join(METRICS)}")
    if dimension is not None and (
        isinstance(dimension, bool) or not isinstance(dimension, int) or not 1 <= dimension <= MAX_DIMENSION
    ):
        raise ConfigurationError(f"invalid dimension {dimension!r}: use an integer from 1 to {MAX_DIMENSION}")


def _transport(api_key: str | None, host: str | None, retry: RetryPolicy | None) -> SyncTransport:
    return SyncTransport(controller_url(host), resolve_api_key(api_key), retry=retry)


def describe_index(
    name: str, *, api_key: str | None = None, host: str | None = None, retry: RetryPolicy | None = None
) -> IndexDescription:
    """Describe one index.

    Args:
        name: Index name.
        api_key: Pinecone API key (else ``PINECONE_API_KEY``).
        host: Control-plane URL (else ``PINECONE_CONTROLLER_HOST``, else Pinecone's).
        retry: Retry policy for 429/5xx and connection failures.

    Raises:
        IndexNotFoundError: No index of that name.
        PineconeRequestError: Pinecone refused the request or stayed unreachable (a subclass says which).
    """
    check_index_args(name)
    transport = _transport(api_key, host, retry)
    try:
        return IndexDescription.from_json(transport.send(protocol.describe_index(name)))
    finally:
        transport.close()


async def adescribe_index(
    name: str, *, api_key: str | None = None, host: str | None = None, retry: RetryPolicy | None = None
) -> IndexDescription:
    """Async :func:`describe_index`."""
    check_index_args(name)
    transport = AsyncTransport(controller_url(host), resolve_api_key(api_key), retry=retry)
    try:
        return IndexDescription.from_json(await transport.send(protocol.describe_index(name)))
    finally:
        await transport.aclose()


def list_indexes(
    *, api_key: str | None = None, host: str | None = None, retry: RetryPolicy | None = None
) -> list[IndexDescription]:
    """Every index of the project.

    Raises:
        PineconeRequestError: Pinecone refused the request or stayed unreachable.
    """
    transport = _transport(api_key, host, retry)
    try:
        answer = transport.send(protocol.list_indexes())
    finally:
        transport.close()
    return [IndexDescription.from_json(item) for item in answer.get("indexes") or [] if isinstance(item, Mapping)]


def delete_index(
    name: str, *, api_key: str | None = None, host: str | None = None, retry: RetryPolicy | None = None
) -> None:
    """Delete an index (Pinecone finishes the deletion in the background).

    Raises:
        IndexNotFoundError: No index of that name.
        PineconeRequestError: Pinecone refused (e.g. deletion protection) or stayed unreachable.
    """
    check_index_args(name)
    transport = _transport(api_key, host, retry)
    try:
        transport.send(protocol.delete_index(name))
    finally:
        transport.close()


# --------------------------------------------------------------------------------------------------- dimension
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


# --------------------------------------------------------------------------------------------------- ensure
def _check_existing(index: IndexDescription, dimension: int | None, metric: str, vector_type: str = "dense") -> None:
    if index.vector_type != vector_type:
        raise IndexMismatchError(
            f"index {index.name!r} is a {index.vector_type} index; a {vector_type} index is required"
        )
    if dimension is not None and index.dimension is not None and index.dimension != dimension:
        raise IndexMismatchError(
            f"index {index.name!r} exists with dimension {index.dimension}, but dimension {dimension} was "
            "requested (delete the index or use embeddings of the same dimension)"
        )
    if index.metric != metric:
        raise IndexMismatchError(
            f"index {index.name!r} exists with metric {index.metric!r}, but {metric!r} was requested"
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
    vector_type: str = "dense",
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
        retry: Retry policy for 429/5xx and connection failures on control-plane calls.
        vector_type: ``"dense"`` (default), or ``"sparse"`` for a sparse index (no dimension; metric
            ``dotproduct``, the only one Pinecone allows for sparse indexes). For hybrid search in one index,
            create a dense index with ``metric="dotproduct"``: only those take sparse-dense queries.

    Returns:
        The index host, ready to pass to ``PineconeStore(host=...)``.

    Raises:
        ConfigurationError: Invalid name, metric or dimension; no API key; or the index is missing and no
            dimension is known.
        PineconeAuthError: Pinecone rejected the API key.
        IndexMismatchError: The index exists with another dimension or metric.
        PineconeStoreError: Pinecone refused the request, stayed unreachable (``PineconeUnavailableError``),
            or the index was not ready within ``timeout``.
    """
    check_index_args(name, dimension, metric)
    if vector_type not in ("dense", "sparse"):
        raise ConfigurationError(f"invalid vector_type {vector_type!r}: use 'dense' or 'sparse'")
    if vector_type == "sparse":
        if metric != "dotproduct":
            # Pinecone: "Sparse vector indexes must use the metric dotproduct" (docs.pinecone.io/guides/index-data/
            # create-an-index, "Create a sparse index").
            raise ConfigurationError(
                f"a sparse index must use metric='dotproduct' (Pinecone's only metric for sparse indexes), "
                f"got {metric!r}"
            )
        if dimension is not None:
            raise ConfigurationError("a sparse index has no dimension: drop dimension=")
        embeddings = None
    transport = _transport(api_key, host, retry)
    try:
        return _ensure(
            transport,
            name,
            dimension,
            embeddings,
            metric,
            cloud,
            region,
            timeout,
            deletion_protection,
            tags,
            vector_type,
        )
    finally:
        transport.close()


def _ensure(
    transport: SyncTransport,
    name: str,
    dimension: int | None,
    embeddings: Embeddings | None,
    metric: str,
    cloud: str,
    region: str,
    timeout: float,
    deletion_protection: str,
    tags: dict[str, str] | None,
    vector_type: str = "dense",
) -> str:
    def describe() -> IndexDescription | None:
        try:
            return IndexDescription.from_json(transport.send(protocol.describe_index(name)))
        except IndexNotFoundError:
            return None

    def wanted_dimension() -> int | None:
        if dimension is not None:
            return dimension
        return embedding_dimension(embeddings) if embeddings is not None else None

    index = describe()
    if index is None:
        dim = wanted_dimension() if vector_type == "dense" else None
        if dim is None and vector_type == "dense":
            raise ConfigurationError(f"index {name!r} does not exist; pass dimension= or embeddings= to create it")
        check_index_args(name, dim, metric)
        request = protocol.create_index(
            name,
            dimension=dim,
            metric=metric,
            cloud=cloud,
            region=region,
            deletion_protection=deletion_protection,
            tags=tags,
            vector_type=vector_type,
        )
        try:
            transport.send(request)
            logger.info("created Pinecone %s index %r (dimension %s, metric %s)", vector_type, name, dim, metric)
        except PineconeRequestError as exc:
            if exc.status_code != 409:  # 409: created concurrently by someone else; checked below
                raise
        index = describe()
        if index is None:
            raise PineconeStoreError(f"index {name!r} disappeared right after it was created")
    _check_existing(index, wanted_dimension() if vector_type == "dense" else None, metric, vector_type)

    deadline = time.monotonic() + timeout
    pause = 0.05
    while not index.ready:
        if index.state in ("InitializationFailed", "Terminating"):
            raise PineconeStoreError(f"index {name!r} is in state {index.state}")
        if time.monotonic() >= deadline:
            raise PineconeStoreError(f"index {name!r} not ready after {timeout:g} s (state {index.state})")
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, 5.0)
        again = describe()
        if again is None:
            raise PineconeStoreError(f"index {name!r} was deleted while waiting for it to become ready")
        index = again
    if not index.host:
        raise PineconeStoreError(f"Pinecone returned no host for index {name!r}")
    return index.host
