"""Haystack embedders backed by a Hugging Face Inference Endpoint.

Both components are thin adapters: batching by count and payload size, concurrency, retries with backoff,
cold-start waiting and per-record rejection all come from hf-pinecone's endpoint client, reached through
:class:`hf_pinecone.embeddings.InferenceEndpointEmbeddings` (which also resolves the URL, the token and
``endpoint_name`` and keeps one async client per event loop).
"""

from __future__ import annotations

import dataclasses
import inspect
import threading
from typing import Any, TypeVar

from haystack import Document, component, default_from_dict, default_to_dict
from haystack.utils import Secret, deserialize_secrets_inplace
from pydantic import SecretStr

from hf_pinecone.embeddings import InferenceEndpointEmbeddings
from hf_pinecone.errors import ConfigurationError, EndpointRequestError

__all__ = ["InferenceEndpointDocumentEmbedder", "InferenceEndpointTextEmbedder"]

_TOKEN_ENV_VARS = ["HF_TOKEN", "HUGGINGFACEHUB_API_TOKEN"]
# Guards the one-time creation of each component's clients (pipelines may run components from threads).
_BUILD_LOCK = threading.Lock()


def _default_token() -> Secret:
    return Secret.from_env_var(_TOKEN_ENV_VARS, strict=False)


_Embedder = TypeVar("_Embedder", bound="_EndpointEmbedder")


class _EndpointEmbedder:
    """Configuration, client lifecycle and serialization shared by the two components (no I/O here).

    Its ``__init__`` is the text embedder's; the document embedder's adds keyword-only parameters.
    Every ``__init__`` parameter is kept as the attribute of the same name: ``to_dict`` serializes them all.
    """

    def __init__(
        self,
        url: str | None = None,
        token: Secret = _default_token(),  # noqa: B008 - Haystack's convention for Secret defaults
        *,
        endpoint_name: str | None = None,
        namespace: str | None = None,
        prefix: str = "",
        suffix: str = "",
        prompt_name: str | None = None,
        normalize: bool | None = None,
        truncate: bool | None = None,
        batch_size: int | None = None,
        max_concurrency: int | None = None,
        max_retries: int = 5,
        timeout: float = 60.0,
        cold_start_timeout: float = 600.0,
        allow_insecure_http: bool = False,
    ) -> None:
        self.url = url
        # An explicit None still means the default, as it did before the Secret default moved here.
        self.token = token if token is not None else _default_token()
        self.endpoint_name = endpoint_name
        self.namespace = namespace
        self.prefix = prefix
        self.suffix = suffix
        self.prompt_name = prompt_name
        self.normalize = normalize
        self.truncate = truncate
        self.batch_size = batch_size
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.timeout = timeout
        self.cold_start_timeout = cold_start_timeout
        self.allow_insecure_http = allow_insecure_http
        self._embeddings: InferenceEndpointEmbeddings | None = None

    def to_dict(self) -> dict[str, Any]:
        """Serialize to a dictionary (the token as its environment variable names)."""
        # In signature order, so that the output stays that of the explicit per-class lists this replaced.
        names = list(inspect.signature(type(self).__init__).parameters)[1:]
        params = {name: getattr(self, name) for name in names}
        params["token"] = self.token.to_dict()
        return default_to_dict(self, **params)

    @classmethod
    def from_dict(cls: type[_Embedder], data: dict[str, Any]) -> _Embedder:
        """Deserialize from :meth:`to_dict`'s output."""
        deserialize_secrets_inplace(data["init_parameters"], keys=["token"])
        component: _Embedder = default_from_dict(cls, data)
        return component

    @property
    def embeddings(self) -> InferenceEndpointEmbeddings:
        """The hf-pinecone embeddings object that owns the endpoint clients (created by :meth:`warm_up`)."""
        with _BUILD_LOCK:
            if self._embeddings is None:
                self._embeddings = self._build()
            return self._embeddings

    def _build(self) -> InferenceEndpointEmbeddings:
        kwargs: dict[str, Any] = {}
        # Left out when unset so that HF_ENDPOINT_URL is read now, at warm-up, not at construction.
        if self.url:
            kwargs["endpoint_url"] = self.url
        token = self.token.resolve_value()
        embeddings = InferenceEndpointEmbeddings(
            # None lets the client fall back to HF_TOKEN and then to the token saved by `hf auth login`.
            hf_token=SecretStr(token) if token else None,
            endpoint_name=self.endpoint_name,
            namespace=self.namespace,
            prompt_name=self.prompt_name,
            normalize=self.normalize,
            truncate=self.truncate,
            batch_size=self.batch_size,
            max_concurrency=self.max_concurrency,
            max_retries=self.max_retries,
            timeout=self.timeout,
            cold_start_timeout=self.cold_start_timeout,
            allow_insecure_http=self.allow_insecure_http,
            **kwargs,
        )
        # Checked before caching, so that setting HF_ENDPOINT_URL afterwards and warming up again works.
        if not embeddings.endpoint_url and not embeddings.endpoint_name:
            raise ConfigurationError(
                f"{type(self).__name__} has no endpoint: pass url=..., set HF_ENDPOINT_URL, or pass endpoint_name"
            )
        return embeddings

    def warm_up(self) -> None:
        """Build the endpoint client; raises ``ConfigurationError`` when no endpoint is configured."""
        _ = self.embeddings.client

    async def warm_up_async(self) -> None:
        """Build the async endpoint client for the running event loop."""
        _ = self.embeddings.async_client

    def close(self) -> None:
        """Close the sync connection pool."""
        if self._embeddings is not None:
            self._embeddings.close()

    async def close_async(self) -> None:
        """Close the running loop's async connection pool and the sync one."""
        if self._embeddings is not None:
            await self._embeddings.aclose()

    def _prepare(self, text: str) -> str:
        return f"{self.prefix}{text}{self.suffix}"


_SHARED_PARAMETERS = frozenset(list(inspect.signature(_EndpointEmbedder.__init__).parameters)[1:])


@component
class InferenceEndpointTextEmbedder(_EndpointEmbedder):
    """Embeds a query string with a Hugging Face Inference Endpoint (toolkit, TEI or OpenAI-compatible).

    Use it in query pipelines with the document embedder configured the same way (same endpoint;
    ``prefix`` and ``prompt_name`` may differ, e.g. ``"query: "`` vs ``"passage: "`` for E5 models).

    Usage example:
        ```python
        from hf_pinecone_haystack import InferenceEndpointTextEmbedder

        embedder = InferenceEndpointTextEmbedder(url="https://xyz.endpoints.huggingface.cloud")
        embedding = embedder.run("Which dog is happy?")["embedding"]
        ```

    Args:
        url: Endpoint URL; ``None`` reads ``HF_ENDPOINT_URL`` at warm-up (or use ``endpoint_name``).
        token: Bearer token as a Haystack ``Secret``; by default ``HF_TOKEN`` / ``HUGGINGFACEHUB_API_TOKEN``,
            falling back to the token saved by ``hf auth login``. Serialized as the variable names, never
            the value.
        endpoint_name: Managed Inference Endpoint whose URL is looked up at warm-up (instead of ``url``).
        namespace: User or organisation owning ``endpoint_name``.
        prefix: Prepended to the text (an instruction such as ``"query: "``).
        suffix: Appended to the text.
        prompt_name: sentence-transformers prompt name sent to TEI.
        normalize: Ask the endpoint to L2-normalize (TEI); ``None`` keeps the server default.
        truncate: Ask the endpoint to truncate over-long inputs (TEI).
        batch_size: Texts per request; ``None`` (default): the endpoint's limit from ``GET /info``, else 32
            (lowered automatically when the endpoint accepts fewer).
        max_concurrency: Requests in flight at once; ``None`` (default) adapts to the endpoint, up to 64.
        max_retries: Retries of 429/5xx, connection errors and timeouts.
        timeout: Seconds per request.
        cold_start_timeout: Seconds to wait for a scaled-to-zero endpoint to start.
        allow_insecure_http: Allow sending the token over plain http to a non-loopback host.
    """

    def _check(self, text: Any) -> str:
        if not isinstance(text, str):
            raise TypeError(
                f"{type(self).__name__} expects a string, got {type(text).__name__}; "
                "use InferenceEndpointDocumentEmbedder to embed Documents"
            )
        return self._prepare(text)

    @component.output_types(embedding=list[float])
    def run(self, text: str) -> dict[str, Any]:
        """Embed one text.

        Args:
            text: The text (usually a query) to embed.

        Returns:
            ``{"embedding": list[float]}``.

        Raises:
            TypeError: ``text`` is not a string.
            hf_pinecone.errors.EndpointError: The endpoint rejected the text or stayed unavailable.
        """
        prepared = self._check(text)
        return {"embedding": self.embeddings.client.embed([prepared])[0]}

    @component.output_types(embedding=list[float])
    async def run_async(self, text: str) -> dict[str, Any]:
        """Async :meth:`run`."""
        prepared = self._check(text)
        vectors = await self.embeddings.async_client.aembed([prepared])
        return {"embedding": vectors[0]}


@component
class InferenceEndpointDocumentEmbedder(_EndpointEmbedder):
    """Embeds Haystack Documents with a Hugging Face Inference Endpoint.

    All documents of a run go to the endpoint client at once: it splits them into batches by count and
    payload size and sends up to ``max_concurrency`` batches in parallel. A document the endpoint rejects
    (e.g. too long with truncation off) is isolated by bisection; by default the run then raises, naming
    the documents.

    Usage example:
        ```python
        from haystack import Document
        from hf_pinecone_haystack import InferenceEndpointDocumentEmbedder

        embedder = InferenceEndpointDocumentEmbedder(meta_fields_to_embed=["title"])
        docs = embedder.run([Document(content="A dog runs.", meta={"title": "Dogs"})])["documents"]
        ```

    Args:
        url: Endpoint URL; ``None`` reads ``HF_ENDPOINT_URL`` at warm-up (or use ``endpoint_name``).
        token: Bearer token as a Haystack ``Secret`` (see :class:`InferenceEndpointTextEmbedder`).
        endpoint_name: Managed Inference Endpoint whose URL is looked up at warm-up.
        namespace: User or organisation owning ``endpoint_name``.
        prefix: Prepended to each text (an instruction such as ``"passage: "``).
        suffix: Appended to each text.
        prompt_name: sentence-transformers prompt name sent to TEI.
        normalize: Ask the endpoint to L2-normalize (TEI).
        truncate: Ask the endpoint to truncate over-long inputs (TEI).
        batch_size: Texts per request; ``None`` (default): the endpoint's limit from ``GET /info``, else 32
            (lowered automatically when the endpoint accepts fewer).
        max_concurrency: Requests in flight at once; ``None`` (default) adapts to the endpoint, up to 64.
        max_retries: Retries of 429/5xx, connection errors and timeouts.
        timeout: Seconds per request.
        cold_start_timeout: Seconds to wait for a scaled-to-zero endpoint to start.
        allow_insecure_http: Allow sending the token over plain http to a non-loopback host.
        meta_fields_to_embed: Meta fields whose values are embedded before the content.
        embedding_separator: Joins the meta values and the content.
        raise_on_failure: Raise when the endpoint rejects any document. When ``False``, rejected documents are
            returned without an embedding and listed in ``meta["failed"]`` (id -> endpoint message).
    """

    def __init__(
        self,
        url: str | None = None,
        token: Secret = _default_token(),  # noqa: B008 - Haystack's convention for Secret defaults
        *,
        endpoint_name: str | None = None,
        namespace: str | None = None,
        prefix: str = "",
        suffix: str = "",
        prompt_name: str | None = None,
        normalize: bool | None = None,
        truncate: bool | None = None,
        batch_size: int | None = None,
        max_concurrency: int | None = None,
        max_retries: int = 5,
        timeout: float = 60.0,
        cold_start_timeout: float = 600.0,
        allow_insecure_http: bool = False,
        meta_fields_to_embed: list[str] | None = None,
        embedding_separator: str = "\n",
        raise_on_failure: bool = True,
    ) -> None:
        # The shared parameters, passed on unchanged (listed above only for the typed public signature).
        # Explicit base call: @component rebuilds the class, which breaks zero-argument super().
        shared = {name: value for name, value in locals().items() if name in _SHARED_PARAMETERS}
        _EndpointEmbedder.__init__(self, **shared)
        self.meta_fields_to_embed = list(meta_fields_to_embed or [])
        self.embedding_separator = embedding_separator
        self.raise_on_failure = raise_on_failure

    def _texts(self, documents: Any) -> list[str]:
        if not isinstance(documents, list) or not all(isinstance(d, Document) for d in documents):
            raise TypeError(
                f"{type(self).__name__} expects a list of Documents; use InferenceEndpointTextEmbedder for a string"
            )
        texts = []
        for doc in documents:
            meta_values = [str(doc.meta[key]) for key in self.meta_fields_to_embed if doc.meta.get(key) is not None]
            texts.append(self._prepare(self.embedding_separator.join([*meta_values, doc.content or ""])))
        return texts

    def _collect(self, documents: list[Document], results: list[list[float] | EndpointRequestError]) -> dict[str, Any]:
        failed = {
            doc.id: err for doc, err in zip(documents, results, strict=True) if isinstance(err, EndpointRequestError)
        }
        if failed and self.raise_on_failure:
            first_id, first = next(iter(failed.items()))
            ids = ", ".join(list(failed)[:5]) + (", ..." if len(failed) > 5 else "")
            raise EndpointRequestError(
                f"the endpoint rejected {len(failed)} of {len(documents)} documents ({ids}); "
                f"first ({first_id}): {first}",
                status_code=first.status_code,
                url=first.url,
                server_message=first.server_message,
            )
        # A rejected document loses any embedding it came with: a stale vector must not be written.
        embedded = [
            dataclasses.replace(doc, embedding=None if isinstance(result, EndpointRequestError) else result)
            for doc, result in zip(documents, results, strict=True)
        ]
        return {
            "documents": embedded,
            "meta": {
                "embedded": len(documents) - len(failed),
                "failed": {k: str(v) for k, v in failed.items()},
            },
        }

    @component.output_types(documents=list[Document], meta=dict[str, Any])
    def run(self, documents: list[Document]) -> dict[str, Any]:
        """Embed documents; returns copies with ``embedding`` set (the inputs are not modified).

        Args:
            documents: Documents to embed.

        Returns:
            ``{"documents": [...], "meta": {"embedded": int, "failed": {doc_id: message}}}``.

        Raises:
            TypeError: ``documents`` is not a list of Documents.
            hf_pinecone.errors.EndpointRequestError: The endpoint rejected documents and ``raise_on_failure``.
            hf_pinecone.errors.EndpointError: Run-level failure (auth, endpoint unavailable after retries).
        """
        texts = self._texts(documents)
        if not texts:
            return {"documents": [], "meta": {"embedded": 0, "failed": {}}}
        return self._collect(documents, self.embeddings.client.embed_detailed(texts))

    @component.output_types(documents=list[Document], meta=dict[str, Any])
    async def run_async(self, documents: list[Document]) -> dict[str, Any]:
        """Async :meth:`run`."""
        texts = self._texts(documents)
        if not texts:
            return {"documents": [], "meta": {"embedded": 0, "failed": {}}}
        return self._collect(documents, await self.embeddings.async_client.aembed_detailed(texts))
