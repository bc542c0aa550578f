"""Local stand-ins that speak the exact wire protocols of the cloud services (see docs/ARCHITECTURE.md).

- :func:`serve_endpoint`: a Hugging Face Inference Endpoint (inference toolkit + TEI + OpenAI routes).
- :func:`serve_pinecone`: Pinecone's control and data planes on one port.
- :func:`serve_hf_api`: huggingface_hub's Inference Endpoints management API.

They need the ``local`` extra (``pip install 'hf-pinecone[local]'``). Each ``serve_*`` is a context manager that
starts the server on a free loopback port in a background thread and yields its base URL.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "serve_endpoint": "hf_pinecone.local.endpoint_server",
    "create_endpoint_app": "hf_pinecone.local.endpoint_server",
    "run_endpoint_server": "hf_pinecone.local.endpoint_server",
    "serve_pinecone": "hf_pinecone.local.pinecone_server",
    "create_pinecone_app": "hf_pinecone.local.pinecone_server",
    "run_pinecone_server": "hf_pinecone.local.pinecone_server",
    "serve_hf_api": "hf_pinecone.local.hf_api_server",
    "create_hf_api_app": "hf_pinecone.local.hf_api_server",
    "run_in_background": "hf_pinecone.local._runner",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hf_pinecone.local' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
