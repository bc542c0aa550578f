"""One TLS context for every HTTP client the library opens.

Building an ``ssl.SSLContext`` loads the whole CA bundle (~30 ms of CPU); httpx does it for each client it
constructs, and one ingest run opens several (endpoint, Pinecone data plane, sync and async). An
``SSLContext`` is safe to share between clients and threads, so it is built once per process.
"""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.lru_cache(maxsize=1)
def default_ssl_context() -> ssl.SSLContext:
    """Httpx's default verifying context (certifi, or ``SSL_CERT_FILE``/``SSL_CERT_DIR``), built on first use.

    Returns:
        The shared context; the environment variables are read when it is first built.
    """
    return httpx.create_ssl_context()
