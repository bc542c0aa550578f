"""Run an ASGI app with uvicorn on a loopback port, in a background thread or in the foreground.

Shared by every stand-in server so that socket options and uvicorn settings live in one place.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from collections.abc import Iterator
from typing import Any

import uvicorn

__all__ = ["base_url", "bind_socket", "drop_frames", "run_in_background", "serve_foreground"]


class _Server(uvicorn.Server):
    """uvicorn server that signals readiness through an event instead of being polled.

    uvicorn only captures signals on the main thread, so background servers leave Ctrl-C to the host program.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.should_exit:
            self.ready.set()


def drop_frames(exc: BaseException) -> None:
    """Detach an error the server has answered from its traceback, and its context's and cause's.

    An error raised in a worker thread comes back through anyio's future, whose frame is in the error's own
    traceback: a reference cycle that keeps the request's body and everything parsed from it alive until the
    next full garbage collection (300 clients sending 600 KB bodies held ~900 MB that way).
    """
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = None
        pending.extend(e for e in (current.__context__, current.__cause__) if e is not None)


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind a listening TCP socket (``port`` 0 picks a free one).

    Raises:
        OSError: The address is in use or cannot be bound.
    """
    # IPPROTO_TCP must be explicit: asyncio only sets TCP_NODELAY on accepted connections when the listening
    # socket's proto says TCP, and without it every small response waits ~40 ms for Nagle/delayed-ACK.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def base_url(sock: socket.socket) -> str:
    """``http://host:port`` of a bound socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _config(app: Any, log_level: str) -> uvicorn.Config:
    # Pinecone fetches put up to 1,000 ids in the query string; h11's default 16 KB line limit is too small.
    return uvicorn.Config(
        app,
        log_level=log_level,
        lifespan="on",
        timeout_keep_alive=30,
        backlog=2048,
        h11_max_incomplete_event_size=1_048_576,
    )


@contextlib.contextmanager
def run_in_background(app: Any, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning") -> Iterator[str]:
    """Serve ``app`` in a daemon thread and yield its base URL (``http://host:port``).

    Args:
        app: An ASGI application.
        host: Interface to bind; loopback by default.
        port: Port to bind; ``0`` picks a free one.
        log_level: uvicorn's log level.

    Yields:
        The base URL, without a trailing slash, once the server accepts connections.
    """
    sock = bind_socket(host, port)
    url = base_url(sock)
    server = _Server(_config(app, log_level))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="hf-pinecone-server", daemon=True)
    thread.start()
    while not server.ready.wait(0.05):
        if not thread.is_alive():
            sock.close()
            raise RuntimeError(f"server on {url} failed to start")
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def serve_foreground(app: Any, sock: socket.socket, *, log_level: str = "warning") -> None:
    """Serve ``app`` on an already bound ``sock`` until Ctrl-C/SIGTERM; print ``listening on URL`` once ready.

    Raises:
        SystemExit: With status 1 when the server could not start.
    """
    url = base_url(sock)
    server = _Server(_config(app, log_level))
    threading.Thread(
        target=lambda: server.ready.wait() and print(f"listening on {url}", flush=True),
        name="hf-pinecone-banner",
        daemon=True,
    ).start()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # pragma: no cover - a second Ctrl-C during shutdown
        pass
    finally:
        sock.close()
    if not server.started:
        print(f"error: server on {url} failed to start", file=sys.stderr, flush=True)
        raise SystemExit(1)
