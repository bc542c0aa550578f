"""Haystack components for Hugging Face Inference Endpoint embeddings, on hf-pinecone's endpoint client."""

from hf_pinecone_haystack.embedders import InferenceEndpointDocumentEmbedder, InferenceEndpointTextEmbedder

__all__ = ["InferenceEndpointDocumentEmbedder", "InferenceEndpointTextEmbedder"]
