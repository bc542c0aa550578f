"""LlamaIndex sparse embedding backed by a TEI endpoint serving a SPLADE model (``POST /embed_sparse``).

A thin adapter over :class:`hf_pinecone.InferenceEndpointSparseEmbeddings` (batching, concurrency, retries,
cold starts, the ``max_terms`` cap): LlamaIndex's ``SparseEmbedding`` is a ``{term index: weight}`` dict.
"""

from __future__ import annotations

import threading
from typing import Any

from langchain_core.utils import from_env, secret_from_env
from llama_index.core.base.embeddings.base_sparse import BaseSparseEmbedding, SparseEmbedding
from pydantic import Field, PrivateAttr, SecretStr

from hf_pinecone.sparse_embeddings import InferenceEndpointSparseEmbeddings

__all__ = ["InferenceEndpointSparseEmbedding"]

_ENGINE_LOCK = threading.Lock()  # module-wide: a per-instance lock would break LlamaIndex's deep copies


def _as_dict(vector: Any) -> SparseEmbedding:
    return dict(zip(vector["indices"], vector["values"], strict=True))


class InferenceEndpointSparseEmbedding(BaseSparseEmbedding):
    """SPLADE sparse embeddings from a text-embeddings-inference endpoint, as LlamaIndex ``{index: weight}``.

    Example:
        ```python
        from hf_pinecone_llama_index import InferenceEndpointSparseEmbedding

        sparse = InferenceEndpointSparseEmbedding(endpoint_url="https://splade.endpoints.huggingface.cloud")
        weights = sparse.get_query_embedding("invoice ID-4471")
        ```
    """

    model_name: str = Field(default="hf-inference-endpoint-splade", description="Name reported to instrumentation.")
    embed_batch_size: int = Field(default=256, gt=0, le=2048, description="Texts per client call.")
    endpoint_url: str | None = Field(
        default_factory=from_env("HF_SPARSE_ENDPOINT_URL", default=None),
        description="URL of the endpoint serving the SPLADE model (env HF_SPARSE_ENDPOINT_URL).",
    )
    hf_token: SecretStr | None = Field(
        default_factory=secret_from_env(["HF_TOKEN", "HUGGINGFACEHUB_API_TOKEN"], default=None),
        exclude=True,
        description="Bearer token (env HF_TOKEN / HUGGINGFACEHUB_API_TOKEN, else the saved login token).",
    )
    max_terms: int | None = Field(default=None, ge=1, description="Keep at most this many non-zero terms.")
    truncate: bool | None = Field(default=None, description="Ask the endpoint to truncate over-long inputs.")
    max_retries: int = Field(default=5, ge=0, description="Retries of 429/5xx, connection errors and timeouts.")
    timeout: float = Field(default=60.0, gt=0, description="Seconds per request.")
    cold_start_timeout: float = Field(default=600.0, ge=0, description="Seconds to wait for a cold start.")
    allow_insecure_http: bool = Field(default=False, description="Allow the token over plain http off-host.")

    _engine: InferenceEndpointSparseEmbeddings | None = PrivateAttr(default=None)

    @classmethod
    def class_name(cls) -> str:
        """LlamaIndex's serialization name."""
        return "InferenceEndpointSparseEmbedding"

    @property
    def engine(self) -> InferenceEndpointSparseEmbeddings:
        """The hf-pinecone sparse embeddings doing the work (created at first use)."""
        with _ENGINE_LOCK:
            if self._engine is None:
                self._engine = InferenceEndpointSparseEmbeddings(
                    endpoint_url=self.endpoint_url,
                    hf_token=self.hf_token,
                    max_terms=self.max_terms,
                    truncate=self.truncate,
                    max_retries=self.max_retries,
                    timeout=self.timeout,
                    cold_start_timeout=self.cold_start_timeout,
                    allow_insecure_http=self.allow_insecure_http,
                )
            return self._engine

    def _get_query_embedding(self, query: str) -> SparseEmbedding:
        return _as_dict(self.engine.embed_query(query))

    async def _aget_query_embedding(self, query: str) -> SparseEmbedding:
        return _as_dict(await self.engine.aembed_query(query))

    def _get_text_embedding(self, text: str) -> SparseEmbedding:
        return self._get_text_embeddings([text])[0]

    async def _aget_text_embedding(self, text: str) -> SparseEmbedding:
        return (await self._aget_text_embeddings([text]))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[SparseEmbedding]:
        return [_as_dict(v) for v in self.engine.embed_documents(list(texts))]

    async def _aget_text_embeddings(self, texts: list[str]) -> list[SparseEmbedding]:
        return [_as_dict(v) for v in await self.engine.aembed_documents(list(texts))]
