"""LlamaIndex node postprocessor that reranks with a Hugging Face Inference Endpoint (TEI ``/rerank`` or the toolkit).

A thin adapter over :class:`hf_pinecone.rerank.EndpointReranker`: batching at the endpoint's
``max_client_batch_size``, retries, cold-start waiting, typed errors and token handling are the client's.
"""

from __future__ import annotations

import threading
from typing import Any

from langchain_core.utils import from_env, secret_from_env
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle
from pydantic import Field, PrivateAttr, SecretStr

from hf_pinecone._retry import RetryPolicy
from hf_pinecone.errors import ConfigurationError
from hf_pinecone.rerank import EndpointReranker, RerankRequestFormat, RerankResult

__all__ = ["InferenceEndpointRerank"]

# One lock for all instances: a per-instance lock would break LlamaIndex's deep copies.
_BUILD_LOCK = threading.Lock()


class InferenceEndpointRerank(BaseNodePostprocessor):
    """Reranks retrieved nodes with a reranking Inference Endpoint and keeps the best ``top_n``.

    Returns new ``NodeWithScore`` objects (the endpoint's score, best first) over the same nodes; the inputs
    are not modified. The text scored is ``node.get_content(metadata_mode=MetadataMode.EMBED)``, as
    LlamaIndex's own rerankers score it. The token is never serialized.

    Example:
        ```python
        from hf_pinecone_llama_index import InferenceEndpointRerank

        rerank = InferenceEndpointRerank(endpoint_url="https://my-reranker.endpoints.huggingface.cloud", top_n=3)
        engine = index.as_query_engine(similarity_top_k=20, node_postprocessors=[rerank])
        ```
    """

    endpoint_url: str | None = Field(
        default_factory=from_env("HF_RERANK_ENDPOINT_URL", default=None),
        description="Endpoint URL (env HF_RERANK_ENDPOINT_URL); /rerank is appended for request_format='tei'.",
    )
    hf_token: SecretStr | None = Field(
        default_factory=secret_from_env(["HF_TOKEN", "HUGGINGFACEHUB_API_TOKEN"], default=None),
        exclude=True,
        description="Bearer token (env HF_TOKEN / HUGGINGFACEHUB_API_TOKEN, else the saved login token).",
    )
    top_n: int | None = Field(default=3, ge=1, description="Nodes kept (None: all, reordered).")
    request_format: RerankRequestFormat = Field(default="tei", description="'tei' or 'sentence-ranking'.")
    raw_scores: bool = Field(default=False, description="TEI raw_scores: logits instead of sigmoid scores.")
    truncate: bool | None = Field(default=None, description="TEI truncate (None: the server default).")
    batch_size: int | None = Field(default=None, ge=1, description="Texts per request (None: from GET /info).")
    max_retries: int = Field(default=5, ge=0, description="Retries of 429/5xx, connection errors, timeouts.")
    timeout: float = Field(default=60.0, gt=0, description="Seconds per request.")
    cold_start_timeout: float = Field(default=600.0, ge=0, description="Seconds to wait for a cold start.")
    allow_insecure_http: bool = Field(default=False, description="Allow a token over plain http off loopback.")

    _reranker: EndpointReranker | None = PrivateAttr(default=None)

    @classmethod
    def class_name(cls) -> str:
        """LlamaIndex's serialization name."""
        return "InferenceEndpointRerank"

    @property
    def reranker(self) -> EndpointReranker:
        """The hf-pinecone client (built at first use)."""
        with _BUILD_LOCK:
            if self._reranker is None:
                if not self.endpoint_url:
                    raise ConfigurationError(
                        "InferenceEndpointRerank has no endpoint: pass endpoint_url=... or set HF_RERANK_ENDPOINT_URL"
                    )
                self._reranker = EndpointReranker(
                    self.endpoint_url,
                    token=self.hf_token,
                    request_format=self.request_format,
                    raw_scores=self.raw_scores,
                    truncate=self.truncate,
                    batch_size=self.batch_size,
                    timeout=self.timeout,
                    retry=RetryPolicy(max_retries=self.max_retries),
                    cold_start_timeout=self.cold_start_timeout,
                    allow_insecure_http=self.allow_insecure_http,
                )
            return self._reranker

    def close(self) -> None:
        """Close the sync connection pool."""
        if self._reranker is not None:
            self._reranker.close()

    async def aclose(self) -> None:
        """Close the running loop's async connection pool and the sync one."""
        if self._reranker is not None:
            await self._reranker.aclose()

    @staticmethod
    def _inputs(nodes: list[NodeWithScore], query_bundle: QueryBundle | None) -> tuple[str, list[str]]:
        if query_bundle is None:
            raise ValueError("InferenceEndpointRerank needs the query: pass query_str or query_bundle")
        return query_bundle.query_str, [n.node.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]

    @staticmethod
    def _scored(nodes: list[NodeWithScore], ranked: list[RerankResult]) -> list[NodeWithScore]:
        return [NodeWithScore(node=nodes[r.index].node, score=r.score) for r in ranked]

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        if not nodes:
            return []
        query, texts = self._inputs(nodes, query_bundle)
        return self._scored(nodes, self.reranker.rerank(query, texts, top_n=self.top_n))

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        if not nodes:
            return []
        query, texts = self._inputs(nodes, query_bundle)
        return self._scored(nodes, await self.reranker.arerank(query, texts, top_n=self.top_n))

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> InferenceEndpointRerank:
        # Connection pools and locks cannot be copied: the copy builds its own client at first use.
        memo = {} if memo is None else memo
        if self._reranker is not None:
            memo[id(self._reranker)] = None
        copied: InferenceEndpointRerank = super().__deepcopy__(memo)
        return copied
