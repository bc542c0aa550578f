"""LangChain ``Embeddings`` backed by a Hugging Face Inference Endpoint."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from langchain_core.embeddings import Embeddings
from langchain_core.utils import from_env, secret_from_env
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, field_validator, model_validator

from hf_pinecone._compat_names import map_compat_names
from hf_pinecone._protocol import check_texts
from hf_pinecone._retry import RetryPolicy
from hf_pinecone._tokenize import Token
from hf_pinecone.endpoint import AsyncEndpointClient, EndpointClient, EndpointConfig, resolve_token
from hf_pinecone.errors import ConfigurationError, EndpointRequestError

__all__ = ["InferenceEndpointEmbeddings"]


class InferenceEndpointEmbeddings(BaseModel, Embeddings):
    """Embeddings from a Hugging Face Inference Endpoint (inference toolkit, TEI or OpenAI-compatible).

    Batches by count and payload size, adapts to the endpoint's maximum batch size, sends batches
    concurrently, retries 429/5xx/connection errors with backoff and waits out a scaled-to-zero
    endpoint's cold start.
    Constructing it never touches the network.

    Setup:
        Set ``HF_ENDPOINT_URL`` (or pass ``endpoint_url``) and ``HF_TOKEN`` (or pass ``hf_token``, or log in
        with ``hf auth login``).

    Example:
        .. code-block:: python

            from hf_pinecone import InferenceEndpointEmbeddings

            embeddings = InferenceEndpointEmbeddings(endpoint_url="https://xyz.endpoints.huggingface.cloud")
            vectors = embeddings.embed_documents(["a happy dog", "a sad dog"])
            query = embeddings.embed_query("which dog is happy?")

    Drop-in names:
        The constructor arguments of langchain-huggingface's ``HuggingFaceEndpointEmbeddings`` and
        langchain-community's ``HuggingFaceInferenceAPIEmbeddings`` work too, so changing only the class name
        is enough: ``model=`` (an endpoint URL, or an endpoint name), ``huggingfacehub_api_token=`` /
        ``api_key=`` (the token), ``api_url=`` (the endpoint URL), ``model_kwargs={"normalize": ...,
        "truncate": ..., "prompt_name": ..., "truncation_direction": ...}``, ``task="feature-extraction"``.
        A model repository id (``model="org/name"``), a ``provider``, or an unknown ``model_kwargs`` entry
        is refused with a message saying what to pass instead.

        .. code-block:: python

            embeddings = InferenceEndpointEmbeddings(
                model="https://xyz.endpoints.huggingface.cloud",
                task="feature-extraction",
                huggingfacehub_api_token="hf_...",
                model_kwargs={"normalize": True, "truncate": True},
            )
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, populate_by_name=True)

    endpoint_url: str | None = Field(default_factory=from_env("HF_ENDPOINT_URL", default=None))
    """Endpoint URL requests are POSTed to (env ``HF_ENDPOINT_URL``); optional with ``endpoint_name``."""
    hf_token: SecretStr | None = Field(
        default_factory=secret_from_env(["HF_TOKEN", "HUGGINGFACEHUB_API_TOKEN"], default=None)
    )
    """Bearer token (env ``HF_TOKEN`` / ``HUGGINGFACEHUB_API_TOKEN``, else the saved login)."""
    batch_size: int | None = Field(default=None, ge=1)
    """Texts per request; None (default) uses the endpoint's `max_client_batch_size` from `GET /info` when it
    reports one (TEI), else 32; an int is used as given (still lowered on 413/422)."""
    max_concurrency: int | None = Field(default=None, ge=1)
    """Requests in flight at once across all calls on this object. ``None`` (default) adapts it to the
    endpoint: starts at 8, grows while throughput grows (up to 64), backs off on ``429``, timeouts or
    queueing. An int fixes it."""
    max_adaptive_concurrency: int = Field(default=64, ge=1)
    """Ceiling of the adapted concurrency (when ``max_concurrency`` is ``None``): it starts at ``min(8, this)``
    and never grows above it (e.g. one worker's share of an endpoint's budget)."""
    max_retries: int = Field(default=5, ge=0)
    """Retries of 429/5xx, connection errors and timeouts (with exponential backoff and full jitter)."""
    retry_policy: RetryPolicy | None = None
    """Full backoff policy; overrides ``max_retries`` when set."""
    timeout: float = Field(default=60.0, gt=0)
    """Seconds per request."""
    cold_start_timeout: float = Field(default=600.0, ge=0)
    """Seconds to keep retrying 503 while a scaled-to-zero endpoint starts."""
    normalize: bool | None = None
    """Ask the endpoint to L2-normalize vectors (TEI ``normalize``); ``None`` leaves the server default."""
    truncate: bool | None = None
    """Ask the endpoint to truncate inputs longer than the model's limit (TEI ``truncate``)."""
    truncation_direction: Literal["Left", "Right"] | None = None
    """Side cut when ``truncate`` (TEI ``truncation_direction``; ``"left"`` / ``"right"`` accepted too)."""
    prompt_name: str | None = None
    """sentence-transformers prompt applied to documents (TEI ``prompt_name``)."""
    query_prompt_name: str | None = None
    """Prompt applied to queries; defaults to ``prompt_name``."""
    query_prefix: str = ""
    """Text prepended to each query (e.g. ``"query: "`` for E5 models)."""
    document_prefix: str = ""
    """Text prepended to each document (e.g. ``"passage: "`` for E5 models)."""
    allow_insecure_http: bool = False
    """Allow sending the token over plain http to a non-loopback host."""
    endpoint_name: str | None = None
    """Name of a managed Inference Endpoint whose URL is looked up at first use (no ``endpoint_url``)."""
    namespace: str | None = None
    """User or organisation owning ``endpoint_name`` (default: the token's user)."""
    auto_resume: bool = False
    """Resume a paused ``endpoint_name`` at first use."""

    # The clients this object builds (the sparse embeddings' inner model builds /embed_sparse clients).
    _client_class: ClassVar[type[EndpointClient]] = EndpointClient
    _async_client_class: ClassVar[type[AsyncEndpointClient]] = AsyncEndpointClient

    @model_validator(mode="before")
    @classmethod
    def _drop_in_names(cls, data: Any) -> Any:
        # langchain-huggingface / langchain-community constructor names (see hf_pinecone._compat_names).
        return map_compat_names(data)

    @field_validator("truncation_direction", mode="before")
    @classmethod
    def _direction(cls, value: Any) -> Any:
        # huggingface_hub's feature_extraction types it Literal["left", "right"]; TEI's enum is Left / Right.
        return value.capitalize() if isinstance(value, str) and value.lower() in ("left", "right") else value

    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _client: EndpointClient | None = PrivateAttr(default=None)
    _async_clients: dict[int, tuple[asyncio.AbstractEventLoop | None, AsyncEndpointClient]] = PrivateAttr(
        default_factory=dict
    )
    _config: EndpointConfig | None = PrivateAttr(default=None)

    # ------------------------------------------------------------------ clients
    def _endpoint_config(self) -> EndpointConfig:
        with self._lock:
            if self._config is None:
                token = resolve_token(self.hf_token)
                url = self.endpoint_url
                if not url:
                    if not self.endpoint_name:
                        raise ConfigurationError(
                            "no endpoint: set endpoint_url (or HF_ENDPOINT_URL), or endpoint_name"
                        )
                    from hf_pinecone.lifecycle import resolve_endpoint_url

                    url = resolve_endpoint_url(
                        self.endpoint_name,
                        namespace=self.namespace,
                        token=token.get_secret_value() if token else None,
                        auto_resume=self.auto_resume,
                    )
                self._config = EndpointConfig(
                    url=url,
                    token=token,
                    batch_size=self.batch_size,
                    max_concurrency=self.max_concurrency,
                    max_adaptive_concurrency=self.max_adaptive_concurrency,
                    timeout=self.timeout,
                    retry=self.retry_policy or RetryPolicy(max_retries=self.max_retries),
                    cold_start_timeout=self.cold_start_timeout,
                    normalize=self.normalize,
                    truncate=self.truncate,
                    prompt_name=self.prompt_name,
                    truncation_direction=self.truncation_direction,
                    allow_insecure_http=self.allow_insecure_http,
                )
            return self._config

    @property
    def client(self) -> EndpointClient:
        """The sync :class:`EndpointClient`, created at first use and shared by every thread."""
        config = self._endpoint_config()
        with self._lock:
            if self._client is None:
                self._client = self._client_class(config)
            return self._client

    @property
    def async_client(self) -> AsyncEndpointClient:
        """The :class:`AsyncEndpointClient` for the running event loop, created at first use in that loop.

        An async connection pool belongs to one event loop, so each loop gets its own client. A client
        obtained outside any loop is handed to the first loop that asks.
        """
        config = self._endpoint_config()
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        key = id(loop) if loop is not None else 0
        with self._lock:
            # Forget clients whose loop is gone (their pools cannot be closed from another loop).
            for stale in [
                k for k, (lp, _) in self._async_clients.items() if lp is not None and lp.is_closed()
            ]:
                del self._async_clients[stale]
            entry = self._async_clients.get(key)
            if entry is None or entry[0] is not loop:
                unbound = self._async_clients.pop(0, None) if loop is not None else None
                client = unbound[1] if unbound is not None else self._async_client_class(config)
                entry = (loop, client)
                self._async_clients[key] = entry
            return entry[1]

    def close(self) -> None:
        """Close the sync client (and forget async ones; use :meth:`aclose` inside a loop to close those)."""
        with self._lock:
            client, self._client = self._client, None
            self._async_clients.clear()
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close the async client of the running loop and the sync client."""
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._async_clients.pop(id(loop), None)
        if entry is not None:
            await entry[1].aclose()
        self.close()

    # ------------------------------------------------------------------ Embeddings
    def _query_prompt(self) -> str | None:
        return self.query_prompt_name if self.query_prompt_name is not None else self.prompt_name

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents (with ``document_prefix`` and ``prompt_name``)."""
        texts = _prefixed(self.document_prefix, texts)
        if not texts:
            return []
        return self.client.embed(texts, prompt_name=self.prompt_name)

    def embed_documents_detailed(self, texts: Sequence[str]) -> list[list[float] | EndpointRequestError]:
        """Embed documents like :meth:`embed_documents`; a text the endpoint rejects comes back as its error.

        The same prefixes and prompt as :meth:`embed_documents` are applied, so ingestion and ``add_texts``
        embed a document identically. A batch the endpoint rejects for its content is bisected down to single
        texts so that one bad text does not fail its neighbours.

        Args:
            texts: Documents to embed.

        Returns:
            One vector, or the :class:`~hf_pinecone.errors.EndpointRequestError` that rejected it, per text.

        Raises:
            EndpointAuthError: 401/403.
            EndpointUnavailableError: The endpoint stayed unavailable after every retry.
            EndpointResponseError: The endpoint answered with something that is not embeddings.
        """
        texts = _prefixed(self.document_prefix, texts)
        if not texts:
            return []
        return self.client.embed_detailed(texts, prompt_name=self.prompt_name)

    async def aembed_documents_detailed(self, texts: Sequence[str]) -> list[list[float] | EndpointRequestError]:
        """Async :meth:`embed_documents_detailed`."""
        texts = _prefixed(self.document_prefix, texts)
        if not texts:
            return []
        return await self.async_client.aembed_detailed(texts, prompt_name=self.prompt_name)

    def embed_documents_encoded(self, texts: Sequence[str]) -> list[Sequence[float] | EndpointRequestError]:
        """:meth:`embed_documents_detailed`, with vectors kept as the endpoint's JSON text where possible.

        Each vector is an :class:`~hf_pinecone.encoded.EncodedVector` (a read-only ``Sequence[float]``) when the
        endpoint answered a plain 2-D array of numbers, else a list of floats. Ingestion uses this: the upsert
        body gets the endpoint's digits as they are, without decoding and re-encoding every float.
        """
        texts = _prefixed(self.document_prefix, texts)
        if not texts:
            return []
        return self.client.embed_encoded(texts, prompt_name=self.prompt_name)

    async def aembed_documents_encoded(self, texts: Sequence[str]) -> list[Sequence[float] | EndpointRequestError]:
        """Async :meth:`embed_documents_encoded`."""
        texts = _prefixed(self.document_prefix, texts)
        if not texts:
            return []
        return await self.async_client.aembed_encoded(texts, prompt_name=self.prompt_name)

    def embed_query(self, text: str) -> list[float]:
        """Embed one query (with ``query_prefix`` and ``query_prompt_name``)."""
        return self.client.embed(_prefixed(self.query_prefix, [text]), prompt_name=self._query_prompt())[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async :meth:`embed_documents`."""
        texts = _prefixed(self.document_prefix, texts)
        if not texts:
            return []
        return await self.async_client.aembed(texts, prompt_name=self.prompt_name)

    async def aembed_query(self, text: str) -> list[float]:
        """Async :meth:`embed_query`."""
        vectors = await self.async_client.aembed(
            _prefixed(self.query_prefix, [text]), prompt_name=self._query_prompt()
        )
        return vectors[0]

    # ------------------------------------------------------------------ tokenizer (TEI)
    def tokenize(self, texts: Sequence[str], *, add_special_tokens: bool = True) -> list[list[Token]]:
        """The endpoint's own tokenization of ``texts`` (TEI ``POST /tokenize``), with byte offsets.

        Used by token-aware chunking (``ingest(..., chunk_tokens=N)``). See :meth:`EndpointClient.tokenize`.
        """
        return self.client.tokenize(texts, add_special_tokens=add_special_tokens)

    async def atokenize(self, texts: Sequence[str], *, add_special_tokens: bool = True) -> list[list[Token]]:
        """Async :meth:`tokenize`."""
        return await self.async_client.atokenize(texts, add_special_tokens=add_special_tokens)

    def endpoint_info(self) -> dict[str, Any]:
        """The endpoint's ``GET /info`` (TEI: ``model_id``, ``max_input_length``, ``max_client_batch_size``, ...).

        ``{}`` when the endpoint has no ``/info`` (the inference toolkit).
        """
        return self.client.info()

    async def aendpoint_info(self) -> dict[str, Any]:
        """Async :meth:`endpoint_info`."""
        return await self.async_client.ainfo()

    def max_input_length(self) -> int | None:
        """The most tokens per input the endpoint accepts (TEI ``max_input_length`` from ``GET /info``), if known."""
        value = self.endpoint_info().get("max_input_length")
        return value if isinstance(value, int) and value > 0 else None


def _prefixed(prefix: str, texts: Any) -> list[str]:
    checked = check_texts(texts)
    return [prefix + t for t in checked] if prefix else checked
