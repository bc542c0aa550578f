"""A local Pinecone-compatible server: control plane and data plane on one port.

The unmodified ``pinecone`` SDK (sync and asyncio) and ``langchain-pinecone`` talk to it through
``Pinecone(api_key="local", host=base_url)``: ``create_index`` returns an index whose ``host`` is
``http://<host>:<port>/indexes/<name>``, and the data-plane routes live under that prefix. Wire formats,
limits and error bodies follow ``docs/ARCHITECTURE.md`` and the project's protocol notes (API 2025-04).

Scores: ``cosine`` is the cosine similarity, ``dotproduct`` the dot product (both: higher first),
``euclidean`` the SQUARED euclidean distance (lower first), as Pinecone documents for that metric.

Search is exact (one float32 matrix-vector product per query over the namespace). With ``data_dir`` every
acknowledged write is in an fsync-ed write-ahead log first (see :mod:`hf_pinecone.local._pinecone_storage`).

Layout: this module only assembles the app. Route handlers live at module level and read the server's state
from ``request.app.state`` (``registry``, ``api_key``), as Starlette apps do: control-plane routes in
``_pinecone_control``, data-plane routes and operations in ``_pinecone_data``, Pinecone's limits and request
parsing in ``_pinecone_requests``, error bodies and the API-key check in ``_pinecone_http``, the filter
language in ``_pinecone_filter`` and storage in ``_pinecone_storage``.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Route

from hf_pinecone.local import _pinecone_control as control
from hf_pinecone.local import _pinecone_data as data

# Names this module has always offered stay importable from here (explicit re-exports).
from hf_pinecone.local._pinecone_data import op_delete as op_delete
from hf_pinecone.local._pinecone_data import op_fetch as op_fetch
from hf_pinecone.local._pinecone_data import op_list as op_list
from hf_pinecone.local._pinecone_data import op_query as op_query
from hf_pinecone.local._pinecone_data import op_stats as op_stats
from hf_pinecone.local._pinecone_data import op_update as op_update
from hf_pinecone.local._pinecone_data import op_upsert as op_upsert
from hf_pinecone.local._pinecone_http import ApiError as ApiError
from hf_pinecone.local._pinecone_http import Handler as Handler
from hf_pinecone.local._pinecone_http import control_error as control_error
from hf_pinecone.local._pinecone_http import data_error as data_error
from hf_pinecone.local._pinecone_http import invalid as invalid
from hf_pinecone.local._pinecone_http import logger as logger
from hf_pinecone.local._pinecone_http import routing_error
from hf_pinecone.local._pinecone_requests import API_VERSION as API_VERSION
from hf_pinecone.local._pinecone_requests import MAX_BODY_BYTES as MAX_BODY_BYTES
from hf_pinecone.local._pinecone_requests import MAX_DIMENSION as MAX_DIMENSION
from hf_pinecone.local._pinecone_requests import MAX_ID_LENGTH as MAX_ID_LENGTH
from hf_pinecone.local._pinecone_requests import MAX_IDS_PER_REQUEST as MAX_IDS_PER_REQUEST
from hf_pinecone.local._pinecone_requests import MAX_LIST_LIMIT as MAX_LIST_LIMIT
from hf_pinecone.local._pinecone_requests import MAX_METADATA_BYTES as MAX_METADATA_BYTES
from hf_pinecone.local._pinecone_requests import MAX_QUERY_RESULT_BYTES as MAX_QUERY_RESULT_BYTES
from hf_pinecone.local._pinecone_requests import MAX_TOP_K as MAX_TOP_K
from hf_pinecone.local._pinecone_requests import MAX_UPSERT_BYTES as MAX_UPSERT_BYTES
from hf_pinecone.local._pinecone_requests import MAX_UPSERT_RECORDS as MAX_UPSERT_RECORDS
from hf_pinecone.local._pinecone_requests import METRICS as METRICS
from hf_pinecone.local._pinecone_storage import DEFAULT_COMPACT_BYTES, Registry
from hf_pinecone.local._runner import run_in_background

if TYPE_CHECKING:
    from hf_pinecone.local.faults import FaultPlan

__all__ = ["create_pinecone_app", "run_pinecone_server", "serve_pinecone"]


_PREFIX = "/indexes/{name}"
ROUTES = [
    Route("/indexes", control.list_indexes, methods=["GET"]),
    Route("/indexes", control.create_index, methods=["POST"]),
    Route(_PREFIX, control.describe_index, methods=["GET"]),
    Route(_PREFIX, control.configure_index, methods=["PATCH"]),
    Route(_PREFIX, control.delete_index, methods=["DELETE"]),
    Route(_PREFIX + "/vectors/upsert", data.upsert, methods=["POST"]),
    Route(_PREFIX + "/query", data.query, methods=["POST"]),
    Route(_PREFIX + "/vectors/fetch", data.fetch, methods=["GET"]),
    Route(_PREFIX + "/vectors/delete", data.delete, methods=["POST"]),
    Route(_PREFIX + "/vectors/update", data.update, methods=["POST"]),
    Route(_PREFIX + "/describe_index_stats", data.describe_index_stats, methods=["GET", "POST"]),
    Route(_PREFIX + "/vectors/list", data.list_ids, methods=["GET"]),
    Route(_PREFIX + "/namespaces", data.list_namespaces, methods=["GET"]),
    Route(_PREFIX + "/namespaces/{namespace:path}", data.describe_namespace, methods=["GET"]),
    Route(_PREFIX + "/namespaces/{namespace:path}", data.delete_namespace, methods=["DELETE"]),
]


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    try:
        yield
    finally:
        app.state.registry.close()


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
    app = Starlette(routes=ROUTES, lifespan=_lifespan, exception_handlers={HTTPException: routing_error})
    app.state.registry = Registry(Path(data_dir) if data_dir is not None else None, compact_bytes=compact_bytes)
    app.state.api_key = api_key.encode() if api_key else None
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
