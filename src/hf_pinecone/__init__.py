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
    # reranking
    "EndpointReranker": "hf_pinecone.rerank",
    "InferenceEndpointReranker": "hf_pinecone.rerank",
    "InferenceEndpointCrossEncoder": "hf_pinecone.rerank",
    "RerankResult": "hf_pinecone.rerank",
    "RerankInputError": "hf_pinecone.errors",
    "InferenceEndpointSparseEmbeddings": "hf_pinecone.sparse_embeddings",
    "SparseEndpointClient": "hf_pinecone.sparse_embeddings",
    "AsyncSparseEndpointClient": "hf_pinecone.sparse_embeddings",
    # Pinecone
    "PineconeStore": "hf_pinecone.store",
    "IndexWriter": "hf_pinecone.writer",
    "ensure_index": "hf_pinecone.store",
    "describe_index": "hf_pinecone.control",
    "delete_index": "hf_pinecone.control",
    "list_indexes": "hf_pinecone.control",
    "IndexDescription": "hf_pinecone.control",
    "content_id": "hf_pinecone.ids",
    # ingestion
    "ingest": "hf_pinecone.ingestion",
    "aingest": "hf_pinecone.ingestion",
    "IngestReport": "hf_pinecone.ingestion",
    "RejectedRecord": "hf_pinecone.ingestion",
    "ChunkResult": "hf_pinecone.ingestion",
    "Record": "hf_pinecone.ingestion",
    "RecordPreparer": "hf_pinecone.ingestion",
    "process_chunk": "hf_pinecone.ingestion",
    "aprocess_chunk": "hf_pinecone.ingestion",
    "DocumentChunker": "hf_pinecone.ingestion",
    "process_documents": "hf_pinecone.ingestion",
    "aprocess_documents": "hf_pinecone.ingestion",
    # Inference Endpoint lifecycle
    "ensure_endpoint": "hf_pinecone.lifecycle",
    "resolve_endpoint_url": "hf_pinecone.lifecycle",
    "EndpointInfo": "hf_pinecone.lifecycle",
    # configuration
    "Settings": "hf_pinecone.config",
    "from_env": "hf_pinecone.stack",
    "open_stack": "hf_pinecone.stack",
    "Stack": "hf_pinecone.stack",
    # retrieval helpers
    "ScoredRetriever": "hf_pinecone.retrieval",
    "format_docs": "hf_pinecone.retrieval",
    "HybridRetriever": "hf_pinecone.hybrid",
    "SparseVector": "hf_pinecone._pinecone.sparse",
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
    "PineconeRequestError": "hf_pinecone.errors",
    "PineconeAuthError": "hf_pinecone.errors",
    "PineconeUnavailableError": "hf_pinecone.errors",
    "PineconeResponseError": "hf_pinecone.errors",
    "IndexNotFoundError": "hf_pinecone.errors",
    "IndexMismatchError": "hf_pinecone.errors",
    "MetadataTooLargeError": "hf_pinecone.errors",
    "InvalidRecordError": "hf_pinecone.errors",
    "InvalidSparseVectorError": "hf_pinecone.errors",
    "EndpointModelError": "hf_pinecone.errors",
    "IngestError": "hf_pinecone.errors",
    "UnsupportedArgumentError": "hf_pinecone.errors",
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
    from hf_pinecone._pinecone.sparse import SparseVector as SparseVector
    from hf_pinecone._retry import RetryPolicy as RetryPolicy
    from hf_pinecone.config import Settings as Settings
    from hf_pinecone.control import IndexDescription as IndexDescription
    from hf_pinecone.control import delete_index as delete_index
    from hf_pinecone.control import describe_index as describe_index
    from hf_pinecone.control import list_indexes as list_indexes
    from hf_pinecone.embeddings import InferenceEndpointEmbeddings as InferenceEndpointEmbeddings
    from hf_pinecone.endpoint import AsyncEndpointClient as AsyncEndpointClient
    from hf_pinecone.endpoint import EndpointClient as EndpointClient
    from hf_pinecone.endpoint import EndpointConfig as EndpointConfig
    from hf_pinecone.errors import ConfigurationError as ConfigurationError
    from hf_pinecone.errors import EndpointAuthError as EndpointAuthError
    from hf_pinecone.errors import EndpointError as EndpointError
    from hf_pinecone.errors import EndpointModelError as EndpointModelError
    from hf_pinecone.errors import EndpointRequestError as EndpointRequestError
    from hf_pinecone.errors import EndpointResponseError as EndpointResponseError
    from hf_pinecone.errors import EndpointUnavailableError as EndpointUnavailableError
    from hf_pinecone.errors import HfPineconeError as HfPineconeError
    from hf_pinecone.errors import IndexMismatchError as IndexMismatchError
    from hf_pinecone.errors import IndexNotFoundError as IndexNotFoundError
    from hf_pinecone.errors import IngestError as IngestError
    from hf_pinecone.errors import InsecureTransportError as InsecureTransportError
    from hf_pinecone.errors import InvalidRecordError as InvalidRecordError
    from hf_pinecone.errors import InvalidSparseVectorError as InvalidSparseVectorError
    from hf_pinecone.errors import MetadataTooLargeError as MetadataTooLargeError
    from hf_pinecone.errors import PineconeAuthError as PineconeAuthError
    from hf_pinecone.errors import PineconeRequestError as PineconeRequestError
    from hf_pinecone.errors import PineconeResponseError as PineconeResponseError
    from hf_pinecone.errors import PineconeStoreError as PineconeStoreError
    from hf_pinecone.errors import PineconeUnavailableError as PineconeUnavailableError
    from hf_pinecone.errors import RerankInputError as RerankInputError
    from hf_pinecone.errors import UnsupportedArgumentError as UnsupportedArgumentError
    from hf_pinecone.hybrid import HybridRetriever as HybridRetriever
    from hf_pinecone.ids import content_id as content_id
    from hf_pinecone.ingestion import ChunkResult as ChunkResult
    from hf_pinecone.ingestion import DocumentChunker as DocumentChunker
    from hf_pinecone.ingestion import IngestReport as IngestReport
    from hf_pinecone.ingestion import Record as Record
    from hf_pinecone.ingestion import RecordPreparer as RecordPreparer
    from hf_pinecone.ingestion import RejectedRecord as RejectedRecord
    from hf_pinecone.ingestion import aingest as aingest
    from hf_pinecone.ingestion import aprocess_chunk as aprocess_chunk
    from hf_pinecone.ingestion import aprocess_documents as aprocess_documents
    from hf_pinecone.ingestion import ingest as ingest
    from hf_pinecone.ingestion import process_chunk as process_chunk
    from hf_pinecone.ingestion import process_documents as process_documents
    from hf_pinecone.lifecycle import EndpointInfo as EndpointInfo
    from hf_pinecone.lifecycle import ensure_endpoint as ensure_endpoint
    from hf_pinecone.lifecycle import resolve_endpoint_url as resolve_endpoint_url
    from hf_pinecone.rerank import EndpointReranker as EndpointReranker
    from hf_pinecone.rerank import InferenceEndpointCrossEncoder as InferenceEndpointCrossEncoder
    from hf_pinecone.rerank import InferenceEndpointReranker as InferenceEndpointReranker
    from hf_pinecone.rerank import RerankResult as RerankResult
    from hf_pinecone.retrieval import ScoredRetriever as ScoredRetriever
    from hf_pinecone.retrieval import format_docs as format_docs
    from hf_pinecone.sparse_embeddings import AsyncSparseEndpointClient as AsyncSparseEndpointClient
    from hf_pinecone.sparse_embeddings import InferenceEndpointSparseEmbeddings as InferenceEndpointSparseEmbeddings
    from hf_pinecone.sparse_embeddings import SparseEndpointClient as SparseEndpointClient
    from hf_pinecone.stack import Stack as Stack
    from hf_pinecone.stack import from_env as from_env
    from hf_pinecone.stack import open_stack as open_stack
    from hf_pinecone.store import PineconeStore as PineconeStore
    from hf_pinecone.store import ensure_index as ensure_index
    from hf_pinecone.writer import IndexWriter as IndexWriter
