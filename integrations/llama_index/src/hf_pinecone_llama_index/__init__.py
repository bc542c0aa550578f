"""LlamaIndex embeddings (dense and sparse) and reranking for Hugging Face Inference Endpoints."""

from hf_pinecone_llama_index.embedding import InferenceEndpointEmbedding
from hf_pinecone_llama_index.postprocessor import InferenceEndpointRerank
from hf_pinecone_llama_index.sparse_embedding import InferenceEndpointSparseEmbedding

__all__ = ["InferenceEndpointEmbedding", "InferenceEndpointRerank", "InferenceEndpointSparseEmbedding"]
