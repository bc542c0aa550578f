"""Haystack ranker backed by a Hugging Face Inference Endpoint (TEI ``/rerank`` or the toolkit's sentence-ranking).

A thin adapter over :class:`hf_pinecone.rerank.EndpointReranker`: batching at the endpoint's
``max_client_batch_size``, retries, cold-start waiting, typed errors and token handling are the client's.
"""

from __future__ import annotations

import dataclasses
import inspect
import threading
from typing import Any

from haystack import Document, component, default_from_dict, default_to_dict
from haystack.utils import Secret, deserialize_secrets_inplace

from hf_pinecone._retry import RetryPolicy
from hf_pinecone.errors import ConfigurationError
from hf_pinecone.rerank import EndpointReranker, RerankRequestFormat

__all__ = ["InferenceEndpointRanker"]

_BUILD_LOCK = threading.Lock()


def _default_token() -> Secret:
    return Secret.from_env_var(["HF_TOKEN", "HUGGINGFACEHUB_API_TOKEN"], strict=False)


@component
class InferenceEndpointRanker:
    """Ranks Documents by relevance to a query with a reranking Inference Endpoint.

    Returns the best ``top_k`` as copies whose ``score`` is the endpoint's relevance score, best first; the
    input Documents are not modified.

    Usage example:
        ```python
        from hf_pinecone_haystack import InferenceEndpointRanker

        ranker = InferenceEndpointRanker(url="https://my-reranker.endpoints.huggingface.cloud", top_k=3)
        docs = ranker.run(query="Which dog is happy?", documents=documents)["documents"]
        ```

    Args:
        url: Endpoint URL (``/rerank`` is appended for ``request_format="tei"``); ``None`` reads
            ``HF_RERANK_ENDPOINT_URL`` at warm-up.
        token: Bearer token as a Haystack ``Secret`` (default ``HF_TOKEN`` / ``HUGGINGFACEHUB_API_TOKEN``, then the
            saved login); serialized as the variable names, never the value.
        top_k: Documents kept (``None``: all, reordered).
        request_format: ``"tei"`` or ``"sentence-ranking"`` (the inference toolkit's task).
        raw_scores: TEI ``raw_scores``.
        truncate: TEI ``truncate`` (``None``: the server default).
        batch_size: Texts per request; ``None``: the endpoint's ``max_client_batch_size``.
        max_retries: Retries of 429/5xx, connection errors and timeouts.
        timeout: Seconds per request.
        cold_start_timeout: Seconds to wait for a scaled-to-zero endpoint to start.
        allow_insecure_http: Allow sending the token over plain http to a non-loopback host.
    """

    def __init__(
        self,
        url: str | None = None,
        token: Secret = _default_token(),  # noqa: B008 - Haystack's convention for Secret defaults
        *,
        top_k: int | None = 10,
        request_format: RerankRequestFormat = "tei",
        raw_scores: bool = False,
        truncate: bool | None = None,
        batch_size: int | None = None,
        max_retries: int = 5,
        timeout: float = 60.0,
        cold_start_timeout: float = 600.0,
        allow_insecure_http: bool = False,
    ) -> None:
        if top_k is not None and top_k < 1:
            raise ConfigurationError(f"top_k must be >= 1 (or None for all), got {top_k}")
        self.url = url
        self.token = token if token is not None else _default_token()
        self.top_k = top_k
        self.request_format = request_format
        self.raw_scores = raw_scores
        self.truncate = truncate
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.timeout = timeout
        self.cold_start_timeout = cold_start_timeout
        self.allow_insecure_http = allow_insecure_http
        self._reranker: EndpointReranker | None = None

    def to_dict(self) -> dict[str, Any]:
        """Serialize to a dictionary (the token as its environment variable names)."""
        names = list(inspect.signature(type(self).__init__).parameters)[1:]
        params = {name: getattr(self, name) for name in names}
        params["token"] = self.token.to_dict()
        return default_to_dict(self, **params)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InferenceEndpointRanker:
        """Deserialize from :meth:`to_dict`'s output."""
        deserialize_secrets_inplace(data["init_parameters"], keys=["token"])
        ranker: InferenceEndpointRanker = default_from_dict(cls, data)
        return ranker

    @property
    def reranker(self) -> EndpointReranker:
        """The hf-pinecone client (built by :meth:`warm_up`)."""
        with _BUILD_LOCK:
            if self._reranker is None:
                import os

                url = self.url or os.environ.get("HF_RERANK_ENDPOINT_URL")
                if not url:
                    raise ConfigurationError(
                        "InferenceEndpointRanker has no endpoint: pass url=... or set HF_RERANK_ENDPOINT_URL"
                    )
                self._reranker = EndpointReranker(
                    url,
                    token=self.token.resolve_value(),
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

    def warm_up(self) -> None:
        """Build the endpoint client; raises ``ConfigurationError`` when no endpoint is configured."""
        _ = self.reranker

    def close(self) -> None:
        """Close the sync connection pool."""
        if self._reranker is not None:
            self._reranker.close()

    async def close_async(self) -> None:
        """Close the running loop's async connection pool and the sync one."""
        if self._reranker is not None:
            await self._reranker.aclose()

    def _keep(self, top_k: int | None) -> int | None:
        keep = self.top_k if top_k is None else top_k
        if keep is not None and keep < 1:
            raise ConfigurationError(f"top_k must be >= 1, got {keep}")
        return keep

    @staticmethod
    def _ranked(documents: list[Document], ranked: list[Any]) -> dict[str, list[Document]]:
        return {"documents": [dataclasses.replace(documents[r.index], score=r.score) for r in ranked]}

    @component.output_types(documents=list[Document])
    def run(self, query: str, documents: list[Document], top_k: int | None = None) -> dict[str, list[Document]]:
        """Rank ``documents`` against ``query``; no documents in, none out.

        Raises:
            RerankInputError: An empty query.
            EndpointError: The endpoint failed (a subclass says how).
        """
        if not documents:
            return {"documents": []}
        texts = [doc.content or "" for doc in documents]
        return self._ranked(documents, self.reranker.rerank(query, texts, top_n=self._keep(top_k)))

    @component.output_types(documents=list[Document])
    async def run_async(
        self, query: str, documents: list[Document], top_k: int | None = None
    ) -> dict[str, list[Document]]:
        """Async :meth:`run`."""
        if not documents:
            return {"documents": []}
        texts = [doc.content or "" for doc in documents]
        return self._ranked(documents, await self.reranker.arerank(query, texts, top_n=self._keep(top_k)))
