"""Sparse (SPLADE) embeddings from a text-embeddings-inference endpoint, as Pinecone sparse vectors.

TEI serves a SPLADE model (``--pooling splade``) at ``POST /embed_sparse``: the body is the ``/embed`` one
(``inputs``, ``truncate``, ``truncation_direction``, ``prompt_name``; no ``normalize``) and the answer one list of
non-zero terms per input, ``[[{"index": int, "value": float}, ...], ...]`` (huggingface/text-embeddings-inference
``router/src/http/types.rs`` ``EmbedSparseRequest`` / ``SparseValue``, ``router/src/http/server.rs``
``embed_sparse``, which keeps the entries whose value is not 0 in index order). This module turns them into
Pinecone's ``{"indices": [...], "values": [...]}``.

The transport is the dense client's (:mod:`hf_pinecone.endpoint`): the same batching by count and bytes,
``GET /info`` batch-size discovery, adaptive concurrency, retries of 429/5xx and connection failures, the
cold-start wait and bisection of rejected batches. Only the URL (``{base}/embed_sparse``) and the answer's parser
differ: :class:`SparseEndpointProtocol` overrides :meth:`~hf_pinecone._protocol.EndpointProtocol.parse`.

TEI's pooling is chosen per process, so a sparse model is its own endpoint: an endpoint serving a dense model
answers ``424 "Model is not an embedding model with SPLADE pooling"`` (TEI ``core/src/infer.rs``
``embed_sparse``), and the inference toolkit has no such route (404). Both become
:class:`~hf_pinecone.errors.EndpointModelError` at once, never retried or bisected.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Generator, Sequence
from typing import Any, ClassVar, cast
from urllib.parse import urlsplit

from langchain_core.utils import from_env, secret_from_env
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr

from hf_pinecone._pinecone.sparse import MAX_SPARSE_INDEX, SparseVector, top_terms
from hf_pinecone._protocol import Action, EndpointProtocol, SendOutcome, check_texts, info_url
from hf_pinecone._retry import RetryPolicy
from hf_pinecone.embeddings import InferenceEndpointEmbeddings
from hf_pinecone.endpoint import AsyncEndpointClient, EndpointClient, EndpointConfig
from hf_pinecone.errors import EndpointModelError, EndpointRequestError, EndpointResponseError

__all__ = [
    "AsyncSparseEndpointClient",
    "InferenceEndpointSparseEmbeddings",
    "SparseEndpointClient",
    "SparseEndpointProtocol",
    "SparseResult",
    "parse_sparse_embeddings",
    "sparse_url",
]

SparseResult = SparseVector | EndpointRequestError
"""One text's outcome in a detailed call: its sparse vector, or the error that rejected it."""

# TEI core/src/infer.rs `embed_sparse` (a model served without SPLADE pooling), behind "Backend error: ".
_NOT_SPLADE_RE = re.compile(r"not an embedding model with SPLADE pooling", re.IGNORECASE)
_NO_ROUTE_HINT = (
    "the endpoint has no sparse model: serve a SPLADE model with text-embeddings-inference "
    "(`--pooling splade`, e.g. naver/splade-cocondenser-ensembledistil) as its own endpoint and pass its URL"
)


def sparse_url(url: str) -> str:
    """``{base}/embed_sparse`` for an endpoint URL (``base`` as for ``/info``: a known route suffix removed)."""
    info = info_url(url.strip())
    parts = urlsplit(info)
    return parts._replace(path=parts.path[: -len("/info")] + "/embed_sparse").geturl()


def _malformed(url: str, problem: str) -> EndpointResponseError:
    return EndpointResponseError(f"malformed /embed_sparse response from {url}: {problem}", status_code=200, url=url)


def parse_sparse_embeddings(data: Any, *, expected: int, url: str = "<endpoint>") -> list[SparseVector]:
    """TEI's ``[[{"index", "value"}, ...], ...]`` as Pinecone sparse vectors, validated.

    Args:
        data: The decoded JSON answer.
        expected: Number of inputs sent.
        url: Endpoint URL, for messages.

    Returns:
        ``expected`` sparse vectors; terms whose value is 0 are left out (TEI sends none).

    Raises:
        EndpointResponseError: Not a list of ``expected`` lists of ``{"index": uint32, "value": finite}``, or an
            index repeated within one vector.
    """
    if isinstance(data, dict) and "error" in data:
        raise _malformed(url, f"2xx response carries an error: {data['error']!r}")
    if not isinstance(data, list):
        raise _malformed(url, f"expected a list of sparse vectors, got {type(data).__name__}")
    if len(data) != expected:
        raise _malformed(url, f"expected {expected} sparse vectors, got {len(data)}")
    vectors: list[SparseVector] = []
    for row_number, row in enumerate(data):
        if not isinstance(row, list):
            raise _malformed(url, f"sparse vector {row_number} is not a list of {{'index', 'value'}} objects")
        indices: list[int] = []
        values: list[float] = []
        for term in row:
            index = term.get("index") if isinstance(term, dict) else None
            value = term.get("value") if isinstance(term, dict) else None
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= MAX_SPARSE_INDEX:
                raise _malformed(url, f"sparse vector {row_number} has an invalid term {term!r}")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise _malformed(url, f"sparse vector {row_number} has a non-finite or non-numeric value in {term!r}")
            if value != 0:
                indices.append(index)
                values.append(float(value))
        if len(set(indices)) != len(indices):
            raise _malformed(url, f"sparse vector {row_number} repeats an index")
        vectors.append({"indices": indices, "values": values})
    return vectors


class SparseEndpointProtocol(EndpointProtocol):
    """:class:`~hf_pinecone._protocol.EndpointProtocol` for ``POST /embed_sparse``: same flows, sparse answers."""

    def parse(self, data: Any, expected: int) -> list[Any]:
        """Parse TEI's sparse answer (see :func:`parse_sparse_embeddings`)."""
        return list(parse_sparse_embeddings(data, expected=expected, url=self.url))

    def _send_with_retries(
        self, body: bytes, *, expected: int | None = None
    ) -> Generator[Action, SendOutcome | None, Any]:
        try:
            return (yield from super()._send_with_retries(body))  # sparse answers are always decoded
        except EndpointRequestError as error:
            status = error.status_code
            message = error.server_message or ""
            if (status == 424 and _NOT_SPLADE_RE.search(message)) or status in (404, 405):
                raise EndpointModelError(
                    f"{error}; {_NO_ROUTE_HINT}", status_code=status, url=self.url, server_message=error.server_message
                ) from None
            raise


def _sparse_config(config: EndpointConfig | str | None, kwargs: dict[str, Any]) -> EndpointConfig | str | None:
    if "url" in kwargs:
        kwargs["url"] = sparse_url(kwargs["url"])
    if isinstance(config, str):
        return sparse_url(config)
    if isinstance(config, EndpointConfig):
        return dataclasses.replace(config, url=sparse_url(config.url), normalize=None)
    return config


class SparseEndpointClient(EndpointClient):
    """Thread-safe sync client for TEI's ``POST /embed_sparse`` (the dense client's transport and behaviour).

    Args:
        config: An :class:`~hf_pinecone.endpoint.EndpointConfig`, or the endpoint URL (its base, or the
            ``/embed_sparse`` URL itself).
        **kwargs: ``EndpointConfig`` fields overriding ``config`` (plus ``max_retries``).
    """

    _protocol_class: ClassVar[type[EndpointProtocol]] = SparseEndpointProtocol

    def __init__(self, config: EndpointConfig | str | None = None, **kwargs: Any) -> None:
        super().__init__(_sparse_config(config, kwargs), **kwargs)

    def embed_sparse(self, texts: Sequence[str], *, prompt_name: str | None = None) -> list[SparseVector]:
        """Sparse vectors of ``texts``, in input order (same errors as :meth:`EndpointClient.embed`).

        Raises:
            EndpointModelError: The endpoint serves no SPLADE model.
        """
        return cast(list[SparseVector], self.embed(texts, prompt_name=prompt_name))

    def embed_sparse_detailed(self, texts: Sequence[str], *, prompt_name: str | None = None) -> list[SparseResult]:
        """Like :meth:`embed_sparse`; texts the endpoint rejects come back as their error (bisected)."""
        return cast(list[SparseResult], self.embed_detailed(texts, prompt_name=prompt_name))


class AsyncSparseEndpointClient(AsyncEndpointClient):
    """Async :class:`SparseEndpointClient` (use it from one event loop)."""

    _protocol_class: ClassVar[type[EndpointProtocol]] = SparseEndpointProtocol

    def __init__(self, config: EndpointConfig | str | None = None, **kwargs: Any) -> None:
        super().__init__(_sparse_config(config, kwargs), **kwargs)

    async def aembed_sparse(self, texts: Sequence[str], *, prompt_name: str | None = None) -> list[SparseVector]:
        """Async :meth:`SparseEndpointClient.embed_sparse`."""
        return cast(list[SparseVector], await self.aembed(texts, prompt_name=prompt_name))

    async def aembed_sparse_detailed(
        self, texts: Sequence[str], *, prompt_name: str | None = None
    ) -> list[SparseResult]:
        """Async :meth:`SparseEndpointClient.embed_sparse_detailed`."""
        return cast(list[SparseResult], await self.aembed_detailed(texts, prompt_name=prompt_name))


class _SparseClients(InferenceEndpointEmbeddings):
    """The dense embeddings' client management, building sparse clients.

    Lazy clients, one async client per event loop, endpoint names. Private: it is no ``Embeddings`` of dense vectors.
    """

    _client_class: ClassVar[type[EndpointClient]] = SparseEndpointClient
    _async_client_class: ClassVar[type[AsyncEndpointClient]] = AsyncSparseEndpointClient


class InferenceEndpointSparseEmbeddings(BaseModel):
    """Sparse (SPLADE) embeddings from a TEI Inference Endpoint, in Pinecone's ``{"indices", "values"}`` format.

    Batches by count and payload size, adapts to the endpoint's maximum batch size, sends batches
    concurrently, retries 429/5xx/connection errors with backoff and waits out a scaled-to-zero endpoint's
    cold start, exactly as :class:`~hf_pinecone.InferenceEndpointEmbeddings` does. Constructing it never
    touches the network.

    Example:
        .. code-block:: python

            from hf_pinecone import InferenceEndpointSparseEmbeddings

            sparse = InferenceEndpointSparseEmbeddings(endpoint_url="https://splade.endpoints.huggingface.cloud")
            sparse.embed_query("invoice ID-4471")   # {"indices": [2053, ...], "values": [1.83, ...]}
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, populate_by_name=True)

    endpoint_url: str | None = Field(default_factory=from_env("HF_SPARSE_ENDPOINT_URL", default=None))
    """URL of the endpoint serving the SPLADE model (its base, or ``.../embed_sparse``; env
    ``HF_SPARSE_ENDPOINT_URL``); optional with ``endpoint_name``."""
    hf_token: SecretStr | None = Field(
        default_factory=secret_from_env(["HF_TOKEN", "HUGGINGFACEHUB_API_TOKEN"], default=None)
    )
    """Bearer token (env ``HF_TOKEN`` / ``HUGGINGFACEHUB_API_TOKEN``, else the saved login)."""
    max_terms: int | None = Field(default=None, ge=1)
    """Keep at most this many non-zero terms per vector (those of largest value); ``None`` keeps all. Pinecone
    stores at most 1,000."""
    batch_size: int | None = Field(default=None, ge=1)
    """Texts per request; ``None`` uses the endpoint's ``max_client_batch_size`` (``GET /info``), else 32."""
    max_concurrency: int | None = Field(default=None, ge=1)
    """Requests in flight at once; ``None`` adapts (8 to 64), an int fixes it."""
    max_retries: int = Field(default=5, ge=0)
    """Retries of 429/5xx, connection errors and timeouts."""
    retry_policy: RetryPolicy | None = None
    """Full backoff policy; overrides ``max_retries`` when set."""
    timeout: float = Field(default=60.0, gt=0)
    """Seconds per request."""
    cold_start_timeout: float = Field(default=600.0, ge=0)
    """Seconds to keep retrying 503 while a scaled-to-zero endpoint starts."""
    truncate: bool | None = None
    """Ask the endpoint to truncate inputs longer than the model's limit (TEI ``truncate``)."""
    prompt_name: str | None = None
    """sentence-transformers prompt applied to documents (TEI ``prompt_name``)."""
    query_prompt_name: str | None = None
    """Prompt applied to queries; defaults to ``prompt_name``."""
    allow_insecure_http: bool = False
    """Allow sending the token over plain http to a non-loopback host."""
    endpoint_name: str | None = None
    """Name of a managed Inference Endpoint whose URL is looked up at first use (no ``endpoint_url``)."""
    namespace: str | None = None
    """User or organisation owning ``endpoint_name``."""
    auto_resume: bool = False
    """Resume a paused ``endpoint_name`` at first use."""

    _clients: _SparseClients | None = PrivateAttr(default=None)

    def _inner(self) -> _SparseClients:
        if self._clients is None:
            self._clients = _SparseClients(
                endpoint_url=self.endpoint_url,
                hf_token=self.hf_token,
                batch_size=self.batch_size,
                max_concurrency=self.max_concurrency,
                max_retries=self.max_retries,
                retry_policy=self.retry_policy,
                timeout=self.timeout,
                cold_start_timeout=self.cold_start_timeout,
                truncate=self.truncate,
                prompt_name=self.prompt_name,
                query_prompt_name=self.query_prompt_name,
                allow_insecure_http=self.allow_insecure_http,
                endpoint_name=self.endpoint_name,
                namespace=self.namespace,
                auto_resume=self.auto_resume,
            )
        return self._clients

    @property
    def client(self) -> SparseEndpointClient:
        """The sync :class:`SparseEndpointClient`, created at first use and shared by every thread."""
        return cast(SparseEndpointClient, self._inner().client)

    @property
    def async_client(self) -> AsyncSparseEndpointClient:
        """The :class:`AsyncSparseEndpointClient` of the running event loop."""
        return cast(AsyncSparseEndpointClient, self._inner().async_client)

    def close(self) -> None:
        """Close the sync client."""
        if self._clients is not None:
            self._clients.close()

    async def aclose(self) -> None:
        """Close the running loop's async client and the sync client."""
        if self._clients is not None:
            await self._clients.aclose()

    def _query_prompt(self) -> str | None:
        return self.query_prompt_name if self.query_prompt_name is not None else self.prompt_name

    def _capped(self, results: list[Any]) -> list[Any]:
        if self.max_terms is None:
            return results
        return [r if isinstance(r, EndpointRequestError) else top_terms(r, self.max_terms) for r in results]

    def embed_documents(self, texts: list[str]) -> list[SparseVector]:
        """Sparse vectors of documents, in input order.

        Raises:
            TypeError: An input is not a string.
            EndpointModelError: The endpoint serves no SPLADE model.
            EndpointAuthError: 401/403.
            EndpointRequestError: The endpoint rejected the request.
            EndpointUnavailableError: Still failing after every retry (or the cold-start wait).
            EndpointResponseError: The answer is not sparse embeddings.
        """
        texts = check_texts(texts)
        if not texts:
            return []
        return self._capped(self.client.embed_sparse(texts, prompt_name=self.prompt_name))

    def embed_documents_detailed(self, texts: Sequence[str]) -> list[SparseResult]:
        """Like :meth:`embed_documents`; a text the endpoint rejects comes back as its error (batches bisected)."""
        texts = check_texts(texts)
        if not texts:
            return []
        return self._capped(self.client.embed_sparse_detailed(texts, prompt_name=self.prompt_name))

    def embed_query(self, text: str) -> SparseVector:
        """The sparse vector of one query (with ``query_prompt_name``)."""
        result: SparseVector = self._capped(
            self.client.embed_sparse(check_texts([text]), prompt_name=self._query_prompt())
        )[0]
        return result

    async def aembed_documents(self, texts: list[str]) -> list[SparseVector]:
        """Async :meth:`embed_documents`."""
        texts = check_texts(texts)
        if not texts:
            return []
        return self._capped(await self.async_client.aembed_sparse(texts, prompt_name=self.prompt_name))

    async def aembed_documents_detailed(self, texts: Sequence[str]) -> list[SparseResult]:
        """Async :meth:`embed_documents_detailed`."""
        texts = check_texts(texts)
        if not texts:
            return []
        return self._capped(await self.async_client.aembed_sparse_detailed(texts, prompt_name=self.prompt_name))

    async def aembed_query(self, text: str) -> SparseVector:
        """Async :meth:`embed_query`."""
        vectors = await self.async_client.aembed_sparse(check_texts([text]), prompt_name=self._query_prompt())
        result: SparseVector = self._capped(vectors)[0]
        return result
