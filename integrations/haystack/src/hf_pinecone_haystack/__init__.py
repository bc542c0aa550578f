"""Haystack components for Hugging Face Inference Endpoint embeddings and reranking, on hf-pinecone's client."""

from hf_pinecone_haystack.embedders import InferenceEndpointDocumentEmbedder, InferenceEndpointTextEmbedder
from hf_pinecone_haystack.rankers import InferenceEndpointRanker
from hf_pinecone_haystack.sparse_embedders import (
    InferenceEndpointSparseDocumentEmbedder,
    InferenceEndpointSparseTextEmbedder,
)

__all__ = [
    "InferenceEndpointDocumentEmbedder",
    "InferenceEndpointRanker",
    "InferenceEndpointSparseDocumentEmbedder",
    "InferenceEndpointSparseTextEmbedder",
    "InferenceEndpointTextEmbedder",
]
