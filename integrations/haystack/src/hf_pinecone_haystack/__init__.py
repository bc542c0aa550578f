"""Haystack components for Hugging Face Inference Endpoint embeddings, on hf-pinecone's endpoint client."""

from hf_pinecone_haystack.embedders import InferenceEndpointDocumentEmbedder, InferenceEndpointTextEmbedder
from hf_pinecone_haystack.sparse_embedders import (
    InferenceEndpointSparseDocumentEmbedder,
    InferenceEndpointSparseTextEmbedder,
)

__all__ = [
    "InferenceEndpointDocumentEmbedder",
    "InferenceEndpointSparseDocumentEmbedder",
    "InferenceEndpointSparseTextEmbedder",
    "InferenceEndpointTextEmbedder",
]
