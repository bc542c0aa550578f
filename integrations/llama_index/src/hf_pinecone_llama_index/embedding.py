"""LlamaIndex embedding backed by a Hugging Face Inference Endpoint.

A thin adapter: batching by count and payload size, concurrency, retries with backoff, cold-start waiting,
URL/token/``endpoint_name`` resolution and one async client per event loop all come from hf-pinecone's
:class:`~hf_pinecone.embeddings.InferenceEndpointEmbeddings` and its endpoint clients.
"""

from __future__ import annotations

import threading
from typing import Any

from langchain_core.utils import from_env, secret_from_env
from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from pydantic import Field, PrivateAttr, SecretStr

from hf_pinecone.embeddings import InferenceEndpointEmbeddings

__all__ = ["InferenceEndpointEmbedding"]

# One lock for all instances: a per-instance lock would break LlamaIndex's deep copies of the model.
_ENGINE_LOCK = threading.Lock()


class InferenceEndpointEmbedding(BaseEmbedding):
    """Embeddings from a Hugging Face Inference Endpoint (inference toolkit, TEI or OpenAI-compatible).

    Each LlamaIndex batch (``embed_batch_size`` texts) is handed to the endpoint client in one call; the
    client splits it into requests of ``batch_size`` texts (and < 2 MB) and sends up to ``max_concurrency``
    at once, so a large ``embed_batch_size`` keeps the endpoint busy. Queries and documents can get
    different instructions (``query_prefix`` / ``text_prefix``) and sentence-transformers prompts.
    Constructing it never touches the network; the token is never serialized.

    Example:
        ```python
        from hf_pinecone_llama_index import InferenceEndpointEmbedding

        embed_model = InferenceEndpointEmbedding(endpoint_url="https://xyz.endpoints.huggingface.cloud")
        vector = embed_model.get_query_embedding("Which dog is happy?")
        ```
    """

    model_name: str = Field(default="hf-inference-endpoint", description="Name reported to instrumentation.")
    embed_batch_size: int = Field(
        default=256,
        gt=0,
        le=2048,
        description="Texts handed to the endpoint client per call (it batches and parallelizes them itself).",
    )
    endpoint_url: str | None = Field(
        default_factory=from_env("HF_ENDPOINT_URL", default=None),
        description="Endpoint URL (env HF_ENDPOINT_URL); optional when endpoint_name is set.",
    )
    hf_token: SecretStr | None = Field(
        default_factory=secret_from_env(["HF_TOKEN", "HUGGINGFACEHUB_API_TOKEN"], default=None),
        exclude=True,
        description="Bearer token (env HF_TOKEN / HUGGINGFACEHUB_API_TOKEN, else the saved login token).",
    )
    endpoint_name: str | None = Field(default=None, description="Managed endpoint looked up at first use.")
    namespace: str | None = Field(default=None, description="User or organisation owning endpoint_name.")
    query_prefix: str = Field(default="", description="Prepended to queries (e.g. 'query: ' for E5).")
    text_prefix: str = Field(default="", description="Prepended to documents (e.g. 'passage: ' for E5).")
    prompt_name: str | None = Field(default=None, description="TEI prompt_name for documents.")
    query_prompt_name: str | None = Field(default=None, description="TEI prompt_name for queries.")
    normalize: bool | None = Field(default=None, description="Ask TEI to L2-normalize; None: server default.")
    truncate: bool | None = Field(default=None, description="Ask TEI to truncate over-long inputs.")
    batch_size: int | None = Field(
        default=None,
        ge=1,
        description="Texts per HTTP request; None: the endpoint's limit from GET /info, else 32 (lowered if refused).",
    )
    max_concurrency: int | None = Field(
        default=None, ge=1, description="HTTP requests in flight at once; None adapts to the endpoint (up to 64)."
    )
    max_retries: int = Field(default=5, ge=0, description="Retries of 429/5xx, connection errors, timeouts.")
    timeout: float = Field(default=60.0, gt=0, description="Seconds per request.")
    cold_start_timeout: float = Field(default=600.0, ge=0, description="Seconds to wait out a cold start.")
    allow_insecure_http: bool = Field(default=False, description="Allow the token over http off this machine.")

    _engine: InferenceEndpointEmbeddings | None = PrivateAttr(default=None)

    @classmethod
    def class_name(cls) -> str:
        """Name used in LlamaIndex serialization."""
        return "InferenceEndpointEmbedding"

    @property
    def embeddings(self) -> InferenceEndpointEmbeddings:
        """The hf-pinecone embeddings object that owns the endpoint clients (created at first use)."""
        with _ENGINE_LOCK:
            if self._engine is None:
                self._engine = InferenceEndpointEmbeddings(
                    endpoint_url=self.endpoint_url,
                    hf_token=self.hf_token,
                    endpoint_name=self.endpoint_name,
                    namespace=self.namespace,
                    query_prefix=self.query_prefix,
                    document_prefix=self.text_prefix,
                    prompt_name=self.prompt_name,
                    query_prompt_name=self.query_prompt_name,
                    normalize=self.normalize,
                    truncate=self.truncate,
                    batch_size=self.batch_size,
                    max_concurrency=self.max_concurrency,
                    max_retries=self.max_retries,
                    timeout=self.timeout,
                    cold_start_timeout=self.cold_start_timeout,
                    allow_insecure_http=self.allow_insecure_http,
                )
            return self._engine

    def close(self) -> None:
        """Close the sync connection pool."""
        if self._engine is not None:
            self._engine.close()

    async def aclose(self) -> None:
        """Close the running loop's async connection pool and the sync one."""
        if self._engine is not None:
            await self._engine.aclose()

    def _get_query_embedding(self, query: str) -> Embedding:
        return self.embeddings.embed_query(query)

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return await self.embeddings.aembed_query(query)

    def _get_text_embedding(self, text: str) -> Embedding:
        return self.embeddings.embed_documents([text])[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self.embeddings.aembed_documents([text]))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self.embeddings.embed_documents(texts)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await self.embeddings.aembed_documents(texts)

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> InferenceEndpointEmbedding:
        # Connection pools and locks cannot be copied: the copy builds its own clients at first use.
        memo = {} if memo is None else memo
        if self._engine is not None:
            memo[id(self._engine)] = None
        copied: InferenceEndpointEmbedding = super().__deepcopy__(memo)
        return copied
