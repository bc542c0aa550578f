"""LlamaIndex embedding and reranking for Hugging Face Inference Endpoints, built on hf-pinecone's endpoint client."""

from hf_pinecone_llama_index.embedding import InferenceEndpointEmbedding
from hf_pinecone_llama_index.postprocessor import InferenceEndpointRerank

__all__ = ["InferenceEndpointEmbedding", "InferenceEndpointRerank"]
