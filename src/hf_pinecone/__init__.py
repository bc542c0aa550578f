"""hf-pinecone: Inference Endpoint embeddings + Pinecone as a first-class LangChain retrieval stack.

Public names are imported lazily so that ``import hf_pinecone`` (and the CLI) stays fast and does not pull in
the Pinecone SDK or torch until they are used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # endpoint client
    "EndpointClient": "hf_pinecone.endpoint",
    "AsyncEndpointClient": "hf_pinecone.endpoint",
    "EndpointConfig": "hf_pinecone.endpoint",
    "RetryPolicy": "hf_pinecone._retry",
    # LangChain embeddings
    "InferenceEndpointEmbeddings": "hf_pinecone.embeddings",
    # Pinecone
    "PineconeStore": "hf_pinecone.store",
    "ensure_index": "hf_pinecone.store",
    "content_id": "hf_pinecone.ids",
    # ingestion
    "ingest": "hf_pinecone.ingest",
    "aingest": "hf_pinecone.ingest",
    "IngestReport": "hf_pinecone.ingest",
    # Inference Endpoint lifecycle
    "ensure_endpoint": "hf_pinecone.lifecycle",
    "resolve_endpoint_url": "hf_pinecone.lifecycle",
    "EndpointInfo": "hf_pinecone.lifecycle",
    # configuration
    "Settings": "hf_pinecone.config",
    "from_env": "hf_pinecone.stack",
    # errors
    "HfPineconeError": "hf_pinecone.errors",
    "ConfigurationError": "hf_pinecone.errors",
    "InsecureTransportError": "hf_pinecone.errors",
    "EndpointError": "hf_pinecone.errors",
    "EndpointAuthError": "hf_pinecone.errors",
    "EndpointRequestError": "hf_pinecone.errors",
    "EndpointUnavailableError": "hf_pinecone.errors",
    "EndpointResponseError": "hf_pinecone.errors",
    "PineconeStoreError": "hf_pinecone.errors",
    "IndexNotFoundError": "hf_pinecone.errors",
    "IndexMismatchError": "hf_pinecone.errors",
    "MetadataTooLargeError": "hf_pinecone.errors",
    "InvalidRecordError": "hf_pinecone.errors",
    "IngestError": "hf_pinecone.errors",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hf_pinecone' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover
    from hf_pinecone._retry import RetryPolicy
    from hf_pinecone.config import Settings
    from hf_pinecone.embeddings import InferenceEndpointEmbeddings
    from hf_pinecone.endpoint import AsyncEndpointClient, EndpointClient, EndpointConfig
    from hf_pinecone.errors import (
        ConfigurationError,
        EndpointAuthError,
        EndpointError,
        EndpointRequestError,
        EndpointResponseError,
        EndpointUnavailableError,
        HfPineconeError,
        IndexMismatchError,
        IndexNotFoundError,
        IngestError,
        InsecureTransportError,
        InvalidRecordError,
        MetadataTooLargeError,
        PineconeStoreError,
    )
    from hf_pinecone.ids import content_id
    from hf_pinecone.ingest import IngestReport, aingest, ingest
    from hf_pinecone.lifecycle import EndpointInfo, ensure_endpoint, resolve_endpoint_url
    from hf_pinecone.stack import from_env
    from hf_pinecone.store import PineconeStore, ensure_index
