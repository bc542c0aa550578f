"""One TLS context for every HTTP client the library opens.

Building an ``ssl.SSLContext`` loads the whole CA bundle (~30 ms of CPU); httpx2 and aiohttp would do it for each
client they construct, and one ingest run opens several (endpoint, Pinecone data plane, sync and async). An
``SSLContext`` is safe to share between clients and threads, so it is built once per process.
"""

from __future__ import annotations

import functools
import ssl


@functools.lru_cache(maxsize=1)
def default_ssl_context() -> ssl.SSLContext:
    """Httpx2's default verifying context, built on first use.

    That is ``SSL_CERT_FILE``/``SSL_CERT_DIR`` when set, else the system's trust store (as huggingface_hub's
    own httpx2 clients verify).

    Returns:
        The shared context; the environment variables are read when it is first built.
    """
    import httpx2  # here, not at import: most commands never open a TLS connection

    return httpx2.create_ssl_context()
