"""LlamaIndex embedding for Hugging Face Inference Endpoints, built on hf-pinecone's endpoint client."""

from hf_pinecone_llama_index.embedding import InferenceEndpointEmbedding

__all__ = ["InferenceEndpointEmbedding"]
