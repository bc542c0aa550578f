"""LlamaIndex embeddings for Hugging Face Inference Endpoints, built on hf-pinecone's endpoint client."""

from hf_pinecone_llama_index.embedding import InferenceEndpointEmbedding
from hf_pinecone_llama_index.sparse_embedding import InferenceEndpointSparseEmbedding

__all__ = ["InferenceEndpointEmbedding", "InferenceEndpointSparseEmbedding"]
