"""Haystack sparse embedders backed by a TEI endpoint serving a SPLADE model (``POST /embed_sparse``).

Thin adapters over :class:`hf_pinecone.InferenceEndpointSparseEmbeddings`: batching, concurrency, retries,
cold starts and the ``max_terms`` cap are the client's. The output is Haystack's ``SparseEmbedding``
(``indices``, ``values``), for document stores that keep sparse embeddings (pinecone-haystack 6 ignores them
with a warning; write sparse-dense records with :class:`hf_pinecone.PineconeStore` instead).
"""

from __future__ import annotations

import dataclasses
import inspect
import threading
from typing import Any, TypeVar

from haystack import Document, component, default_from_dict, default_to_dict
from haystack.dataclasses import SparseEmbedding
from haystack.utils import Secret, deserialize_secrets_inplace
from pydantic import SecretStr

from hf_pinecone.errors import ConfigurationError, EndpointRequestError
from hf_pinecone.sparse_embeddings import InferenceEndpointSparseEmbeddings

__all__ = ["InferenceEndpointSparseDocumentEmbedder", "InferenceEndpointSparseTextEmbedder"]

_BUILD_LOCK = threading.Lock()
_S = TypeVar("_S", bound="_SparseEmbedder")


def _default_token() -> Secret:
    return Secret.from_env_var(["HF_TOKEN", "HUGGINGFACEHUB_API_TOKEN"], strict=False)


class _SparseEmbedder:
    """Configuration, client lifecycle and serialization shared by the two sparse components (no I/O)."""

    def __init__(
        self,
        url: str | None = None,
        token: Secret = _default_token(),  # noqa: B008 - Haystack's convention for Secret defaults
        *,
        max_terms: int | None = None,
        prompt_name: str | None = None,
        truncate: bool | None = None,
        batch_size: int | None = None,
        max_concurrency: int | None = None,
        max_retries: int = 5,
        timeout: float = 60.0,
        cold_start_timeout: float = 600.0,
        allow_insecure_http: bool = False,
    ) -> None:
        self.url = url
        self.token = token if token is not None else _default_token()
        self.max_terms = max_terms
        self.prompt_name = prompt_name
        self.truncate = truncate
        self.batch_size = batch_size
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.timeout = timeout
        self.cold_start_timeout = cold_start_timeout
        self.allow_insecure_http = allow_insecure_http
        self._embeddings: InferenceEndpointSparseEmbeddings | None = None

    def to_dict(self) -> dict[str, Any]:
        """Serialize to a dictionary (the token as its environment variable names)."""
        names = list(inspect.signature(_SparseEmbedder.__init__).parameters)[1:]
        params = {name: getattr(self, name) for name in names}
        params["token"] = self.token.to_dict()
        return default_to_dict(self, **params)

    @classmethod
    def from_dict(cls: type[_S], data: dict[str, Any]) -> _S:
        """Deserialize from :meth:`to_dict`'s output."""
        deserialize_secrets_inplace(data["init_parameters"], keys=["token"])
        built: _S = default_from_dict(cls, data)
        return built

    @property
    def embeddings(self) -> InferenceEndpointSparseEmbeddings:
        """The hf-pinecone sparse embeddings that own the endpoint clients (created at warm-up)."""
        with _BUILD_LOCK:
            if self._embeddings is None:
                kwargs: dict[str, Any] = {"endpoint_url": self.url} if self.url else {}
                token = self.token.resolve_value()
                embeddings = InferenceEndpointSparseEmbeddings(
                    hf_token=SecretStr(token) if token else None,
                    max_terms=self.max_terms,
                    prompt_name=self.prompt_name,
                    truncate=self.truncate,
                    batch_size=self.batch_size,
                    max_concurrency=self.max_concurrency,
                    max_retries=self.max_retries,
                    timeout=self.timeout,
                    cold_start_timeout=self.cold_start_timeout,
                    allow_insecure_http=self.allow_insecure_http,
                    **kwargs,
                )
                if not embeddings.endpoint_url:
                    raise ConfigurationError(
                        f"{type(self).__name__} has no endpoint: pass url=... or set HF_SPARSE_ENDPOINT_URL"
                    )
                self._embeddings = embeddings
            return self._embeddings

    def warm_up(self) -> None:
        """Build the endpoint client; raises ``ConfigurationError`` when no endpoint is configured."""
        _ = self.embeddings.client

    def close(self) -> None:
        """Close the sync connection pool."""
        if self._embeddings is not None:
            self._embeddings.close()


def _sparse(vector: Any) -> SparseEmbedding:
    return SparseEmbedding(indices=list(vector["indices"]), values=list(vector["values"]))


@component
class InferenceEndpointSparseTextEmbedder(_SparseEmbedder):
    """Embeds a query string as a SPLADE ``SparseEmbedding`` with a TEI endpoint (``/embed_sparse``).

    Usage example:
        ```python
        from hf_pinecone_haystack import InferenceEndpointSparseTextEmbedder

        embedder = InferenceEndpointSparseTextEmbedder(url="https://splade.endpoints.huggingface.cloud")
        sparse = embedder.run("invoice ID-4471")["sparse_embedding"]
        ```

    Args:
        url: URL of the endpoint serving the SPLADE model; ``None`` reads ``HF_SPARSE_ENDPOINT_URL``.
        token: Bearer token as a Haystack ``Secret`` (default ``HF_TOKEN``); serialized as its variable names.
        max_terms: Keep at most this many non-zero terms (the largest).
        prompt_name: sentence-transformers prompt name sent to TEI.
        truncate: Ask the endpoint to truncate over-long inputs.
        batch_size: Texts per request (default: the endpoint's ``max_client_batch_size``).
        max_concurrency: Requests in flight at once (default: adaptive).
        max_retries: Retries of 429/5xx, connection errors and timeouts.
        timeout: Seconds per request.
        cold_start_timeout: Seconds to wait for a scaled-to-zero endpoint to start.
        allow_insecure_http: Allow the token over plain http to a non-loopback host.
    """

    @component.output_types(sparse_embedding=SparseEmbedding)
    def run(self, text: str) -> dict[str, Any]:
        """Embed one text: ``{"sparse_embedding": SparseEmbedding}``.

        Raises:
            TypeError: ``text`` is not a string.
            hf_pinecone.errors.EndpointError: The endpoint rejected it, serves no SPLADE model, or stayed down.
        """
        if not isinstance(text, str):
            raise TypeError(f"{type(self).__name__} expects a string, got {type(text).__name__}")
        return {"sparse_embedding": _sparse(self.embeddings.embed_query(text))}

    @component.output_types(sparse_embedding=SparseEmbedding)
    async def run_async(self, text: str) -> dict[str, Any]:
        """Async :meth:`run`."""
        if not isinstance(text, str):
            raise TypeError(f"{type(self).__name__} expects a string, got {type(text).__name__}")
        return {"sparse_embedding": _sparse(await self.embeddings.aembed_query(text))}


@component
class InferenceEndpointSparseDocumentEmbedder(_SparseEmbedder):
    """Sets ``sparse_embedding`` on Haystack Documents with a TEI SPLADE endpoint (copies; inputs unchanged).

    Documents the endpoint rejects raise, naming them (as the dense document embedder does by default).

    Args:
        url: See :class:`InferenceEndpointSparseTextEmbedder` (all arguments are the same).
        token: Bearer token.
        max_terms: Keep at most this many non-zero terms.
        prompt_name: Prompt name sent to TEI.
        truncate: Ask the endpoint to truncate over-long inputs.
        batch_size: Texts per request.
        max_concurrency: Requests in flight at once.
        max_retries: Retries of transient failures.
        timeout: Seconds per request.
        cold_start_timeout: Seconds to wait for a cold start.
        allow_insecure_http: Allow the token over plain http to a non-loopback host.
    """

    def _texts(self, documents: Any) -> list[str]:
        if not isinstance(documents, list) or not all(isinstance(d, Document) for d in documents):
            raise TypeError(f"{type(self).__name__} expects a list of Documents")
        return [doc.content or "" for doc in documents]

    def _collect(self, documents: list[Document], results: list[Any]) -> dict[str, Any]:
        failed = [(doc.id, r) for doc, r in zip(documents, results, strict=True) if isinstance(r, EndpointRequestError)]
        if failed:
            first_id, first = failed[0]
            raise EndpointRequestError(
                f"the endpoint rejected {len(failed)} of {len(documents)} documents; first ({first_id}): {first}",
                status_code=first.status_code,
                url=first.url,
                server_message=first.server_message,
            )
        return {
            "documents": [
                dataclasses.replace(doc, sparse_embedding=_sparse(r)) for doc, r in zip(documents, results, strict=True)
            ]
        }

    @component.output_types(documents=list[Document])
    def run(self, documents: list[Document]) -> dict[str, Any]:
        """Embed documents sparsely: ``{"documents": [...]}`` with ``sparse_embedding`` set."""
        texts = self._texts(documents)
        if not texts:
            return {"documents": []}
        return self._collect(documents, self.embeddings.embed_documents_detailed(texts))

    @component.output_types(documents=list[Document])
    async def run_async(self, documents: list[Document]) -> dict[str, Any]:
        """Async :meth:`run`."""
        texts = self._texts(documents)
        if not texts:
            return {"documents": []}
        return self._collect(documents, await self.embeddings.aembed_documents_detailed(texts))
