"""Pipelined, idempotent, resumable ingestion of texts into a vector store, over one engine-neutral core.

- :func:`ingest` / :func:`aingest`: the local runner (a reader thread and a bounded loop over chunks).
- :func:`process_chunk` / :func:`aprocess_chunk`: the chunk core (existence check, embed, upsert) that the
  local runner, Ray and Spark all call; it returns a :class:`ChunkResult`.
- :class:`RecordPreparer` / :class:`Record`: rows to records (text, deterministic id, checked metadata).
- :class:`DocumentChunker`, :func:`aprocess_documents` / :func:`process_documents`: token-aware chunking of long
  documents with the endpoint's tokenizer, replacing a changed document's stale chunks (``chunking.py``).
- :class:`IngestReport` (mergeable with ``+``), :class:`RejectedRecord`.
- :class:`DetailedEmbeddings`, :class:`VectorWriter`: the protocols the core talks to.
"""

from hf_pinecone.ingestion.chunking import DocumentChunker, aprocess_documents, plan_chunks, process_documents
from hf_pinecone.ingestion.core import (
    DetailedEmbeddings,
    EncodedEmbeddings,
    VectorWriter,
    aprocess_chunk,
    as_detailed,
    namespace_is_empty,
    process_chunk,
)
from hf_pinecone.ingestion.records import TEXT_KEY, Record, RecordPreparer
from hf_pinecone.ingestion.report import ChunkResult, IngestReport, RejectedRecord
from hf_pinecone.ingestion.run import aingest, ingest
from hf_pinecone.ingestion.sources import Source

__all__ = [
    "TEXT_KEY",
    "ChunkResult",
    "DetailedEmbeddings",
    "DocumentChunker",
    "EncodedEmbeddings",
    "IngestReport",
    "Record",
    "RecordPreparer",
    "RejectedRecord",
    "Source",
    "VectorWriter",
    "aingest",
    "aprocess_chunk",
    "aprocess_documents",
    "as_detailed",
    "ingest",
    "namespace_is_empty",
    "plan_chunks",
    "process_chunk",
    "process_documents",
]
