"""Run an ASGI app with uvicorn in a background thread on a loopback port (shared by all stand-ins)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import uvicorn


class _Server(uvicorn.Server):
    """uvicorn server that signals readiness through an event instead of being polled."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()

    def install_signal_handlers(self) -> None:  # pragma: no cover - the main thread owns signals
        return None


@contextlib.contextmanager
def run_in_background(
    app: Any, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"
) -> Iterator[str]:
    """Serve ``app`` in a daemon thread and yield its base URL (``http://host:port``).

    Args:
        app: An ASGI application.
        host: Interface to bind; loopback by default.
        port: Port to bind; ``0`` picks a free one.
        log_level: uvicorn's log level.

    Yields:
        The base URL, without a trailing slash, once the server accepts connections.
    """
    # IPPROTO_TCP must be explicit: asyncio only sets TCP_NODELAY on accepted connections when the listening
    # socket's proto says TCP, and without it every small response waits ~40 ms for Nagle/delayed-ACK.
    sock = socket.socket(
        socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP
    )
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    # Pinecone fetches put up to 1,000 ids in the query string; h11's default 16 KB line limit is too small.
    config = uvicorn.Config(
        app,
        log_level=log_level,
        lifespan="on",
        timeout_keep_alive=30,
        backlog=2048,
        h11_max_incomplete_event_size=1_048_576,
    )
    server = _Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="hf-pinecone-server", daemon=True
    )
    thread.start()
    while not server.ready.wait(0.05):
        if not thread.is_alive():
            sock.close()
            raise RuntimeError(f"server on {host}:{bound_port} failed to start")
    url_host = f"[{host}]" if ":" in host else host
    try:
        yield f"http://{url_host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
