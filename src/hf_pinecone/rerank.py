"""Reranking through a Hugging Face Inference Endpoint: TEI ``POST /rerank`` or the toolkit's sentence-ranking task.

Three layers, one transport:

- :class:`EndpointReranker`: the client (sync and async). Query + texts in, one score per text out, split at
  the endpoint's ``max_client_batch_size`` (learned from ``GET /info`` as the embeddings client learns it) and
  merged back in input order. Requests go through :class:`~hf_pinecone.endpoint.EndpointClient` /
  :class:`~hf_pinecone.endpoint.AsyncEndpointClient`, so retries, cold-start waiting, the concurrency limiter,
  typed errors and token redaction are the embeddings client's own (:mod:`hf_pinecone._protocol`).
- :class:`InferenceEndpointReranker`: a LangChain ``BaseDocumentCompressor`` (for
  ``ContextualCompressionRetriever``); scores land in ``metadata["relevance_score"]`` as with
  ``PineconeRerank`` and ``CohereRerank``. The caller's Documents are never mutated: copies are returned.
- :class:`InferenceEndpointCrossEncoder`: a LangChain ``BaseCrossEncoder`` for ``CrossEncoderReranker``.

Wire formats (``request_format``):

- ``"tei"`` (default): ``POST {url}/rerank`` with ``{"query", "texts", "raw_scores", "return_text": false,
  "truncate"?, "truncation_direction"?}``; TEI answers ``[{"index", "score"}]`` sorted by score
  (huggingface/text-embeddings-inference, router/src/http/server.rs ``rerank``, types.rs ``RerankRequest``).
  TEI refuses more texts than ``max_client_batch_size`` (413 "batch size N > maximum allowed batch size M"),
  which is why calls are split.
- ``"sentence-ranking"``: the inference toolkit's ``sentence-ranking`` task (a sentence-transformers
  ``CrossEncoder``), ``POST {url}`` with ``{"inputs": [[query, text], ...]}``; the toolkit answers
  ``{"scores": [float, ...]}`` in input order (huggingface-inference-toolkit,
  sentence_transformers_utils.py ``SentenceRankingPipeline``: ``sentences`` -> ``CrossEncoder.predict``).
  Scores are the model's raw outputs there (``raw_scores`` and truncation options do not apply).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import math
import threading
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from langchain_core.callbacks import Callbacks
from langchain_core.cross_encoders import BaseCrossEncoder
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.utils import from_env, secret_from_env
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr

from hf_pinecone._protocol import (
    DEFAULT_BATCH_SIZE,
    Action,
    EndpointProtocol,
    Flow,
    SendOutcome,
    check_url,
    learned_batch_size,
)
from hf_pinecone._retry import RetryPolicy
from hf_pinecone.endpoint import AsyncEndpointClient, EndpointClient, EndpointConfig, resolve_token
from hf_pinecone.errors import ConfigurationError, EndpointRequestError, EndpointResponseError, RerankInputError

__all__ = [
    "EndpointReranker",
    "InferenceEndpointCrossEncoder",
    "InferenceEndpointReranker",
    "RerankRequestFormat",
    "RerankResult",
    "rerank_url",
]

RerankRequestFormat = Literal["tei", "sentence-ranking"]
"""``"tei"``: TEI's ``POST /rerank``; ``"sentence-ranking"``: the inference toolkit's sentence-ranking task."""

TruncationDirection = Literal["left", "right"]

_ScoreFlow = Generator[Action, SendOutcome | None, list[float]]


@dataclass(frozen=True)
class RerankResult:
    """One ranked text: its position in the input and its score (higher is more relevant)."""

    index: int
    score: float


def rerank_url(url: str, request_format: RerankRequestFormat = "tei") -> str:
    """The URL rerank requests are POSTed to.

    For ``"tei"``: ``{url}/rerank`` (unless ``url`` already ends with ``/rerank``); for ``"sentence-ranking"``:
    ``url`` itself (the toolkit serves its one task at the endpoint's root).
    """
    url = url.strip()
    if request_format == "sentence-ranking":
        return url
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if not path.endswith("/rerank"):
        path += "/rerank"
    return parts._replace(path=path).geturl()


def _check_inputs(query: Any, texts: Sequence[Any]) -> list[str]:
    if not isinstance(query, str):
        raise TypeError(f"query must be str, got {type(query).__name__}")
    if not query.strip():
        raise RerankInputError("query is empty: a reranker scores texts against a query; pass a non-empty query")
    if isinstance(texts, (str, bytes)):
        raise TypeError("texts must be a sequence of strings, not a single string; wrap it in a list")
    out = list(texts)
    if not out:
        raise RerankInputError(
            'no texts to rerank (TEI answers 413 "`texts` cannot be empty"); pass at least one candidate'
        )
    for i, text in enumerate([query, *out]):
        if i and not isinstance(text, str):
            raise TypeError(f"texts[{i - 1}] must be str, got {type(text).__name__}")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            what = "query" if i == 0 else f"texts[{i - 1}]"
            raise ValueError(
                f"{what} is not valid Unicode ({exc.reason} at position {exc.start}); clean it first, e.g. "
                "text.encode('utf-8', 'replace').decode('utf-8')"
            ) from None
    return out


def _malformed(url: str, problem: str) -> EndpointResponseError:
    return EndpointResponseError(f"malformed rerank response from {url}: {problem}", status_code=200, url=url)


def _score(value: Any, url: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _malformed(url, f"{where} is not a finite number: {value!r}")
    return float(value)


def parse_rerank_scores(data: Any, *, expected: int, url: str = "<endpoint>") -> list[float]:
    """One score per sent text, in input order, from any rerank answer shape.

    Accepts TEI's ``[{"index", "score", "text"?}]`` (any order), the toolkit's ``{"scores": [float]}`` (input
    order) or ``{"scores": [{"index", "score"}]}``, and a bare list of numbers.

    Raises:
        EndpointResponseError: Another shape, a missing, repeated or out-of-range index, a wrong count, or a
            score that is not a finite number.
    """
    if isinstance(data, dict):
        if "scores" not in data:
            raise _malformed(url, f"expected a list of ranks or {{'scores': [...]}}, got keys {sorted(data)[:5]}")
        data = data["scores"]
    if not isinstance(data, list):
        raise _malformed(url, f"expected a list, got {type(data).__name__}")
    if len(data) != expected:
        raise _malformed(url, f"expected {expected} scores, got {len(data)}")
    if all(not isinstance(item, dict) for item in data):
        return [_score(item, url, f"score {i}") for i, item in enumerate(data)]
    scores: list[float | None] = [None] * expected
    for item in data:
        if not isinstance(item, dict):
            raise _malformed(url, f"mixed ranks and numbers: {item!r}")
        index = item.get("index")
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < expected:
            raise _malformed(url, f"rank index {index!r} is not an index into the {expected} texts sent")
        if scores[index] is not None:
            raise _malformed(url, f"rank index {index} appears twice")
        scores[index] = _score(item.get("score"), url, f"score of index {index}")
    return cast(list[float], scores)


class EndpointReranker:
    """Sync and async client for a reranking Inference Endpoint (TEI ``/rerank`` or the toolkit's task).

    Thread-safe; async calls get one connection pool per event loop. Constructing it never touches the network.

    Example:
        >>> with EndpointReranker("https://xyz.endpoints.huggingface.cloud") as reranker:  # doctest: +SKIP
        ...     ranked = reranker.rerank("which dog is happy?", ["a sad dog", "a happy dog"], top_n=1)

    Args:
        url: The endpoint URL (its base; ``/rerank`` is appended for ``"tei"``).
        token: Bearer token; ``None``: ``HF_TOKEN``, ``HUGGINGFACEHUB_API_TOKEN``, else the saved login.
        request_format: ``"tei"`` or ``"sentence-ranking"`` (see the module docstring).
        raw_scores: TEI ``raw_scores``: the model's logits instead of sigmoid-activated scores.
        truncate: TEI ``truncate``: cut pairs longer than the model's limit (``None``: the server default).
        truncation_direction: TEI ``truncation_direction`` (``"left"`` or ``"right"``).
        batch_size: Texts per request; ``None`` learns TEI's ``max_client_batch_size`` from ``GET /info``
            (else 32). Lowered when the endpoint answers "batch size N > maximum allowed batch size M".
        max_concurrency: Requests in flight at once (``None`` adapts, as the embeddings client does).
        timeout: Seconds per request.
        retry: Backoff for 429/5xx, connection errors and timeouts.
        cold_start_timeout: Seconds a 503 from a starting (scaled-to-zero) endpoint keeps being retried.
        allow_insecure_http: Allow sending the token over plain http to a non-loopback host.

    Raises:
        ConfigurationError: Invalid URL or settings.
        InsecureTransportError: A token over plain http to a non-loopback host without opt-in.
    """

    def __init__(
        self,
        url: str,
        *,
        token: SecretStr | str | None = None,
        request_format: RerankRequestFormat = "tei",
        raw_scores: bool = False,
        truncate: bool | None = None,
        truncation_direction: TruncationDirection | None = None,
        batch_size: int | None = None,
        max_concurrency: int | None = None,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        cold_start_timeout: float = 600.0,
        allow_insecure_http: bool = False,
    ) -> None:
        if request_format not in ("tei", "sentence-ranking"):
            raise ConfigurationError(f"request_format must be 'tei' or 'sentence-ranking', got {request_format!r}")
        if truncation_direction not in (None, "left", "right"):
            raise ConfigurationError(f"truncation_direction must be 'left' or 'right', got {truncation_direction!r}")
        self.request_format: RerankRequestFormat = request_format
        self.raw_scores = raw_scores
        self.truncate = truncate
        self.truncation_direction = truncation_direction
        self.config = EndpointConfig(
            url=rerank_url(url, request_format),
            token=resolve_token(token),
            batch_size=batch_size,
            max_concurrency=max_concurrency,
            timeout=timeout,
            retry=retry or RetryPolicy(),
            cold_start_timeout=cold_start_timeout,
            allow_insecure_http=allow_insecure_http,
        )
        self._lock = threading.Lock()
        self._client: EndpointClient | None = None
        self._async_clients: dict[int, tuple[asyncio.AbstractEventLoop, AsyncEndpointClient]] = {}
        # Validate the URL and the token's transport now (no I/O), as EndpointClient(...) would.
        self.url = check_url(
            self.config.url,
            has_token=self.config.token is not None,
            allow_insecure_http=allow_insecure_http,
        )

    def __repr__(self) -> str:
        return f"EndpointReranker(url={self.url!r}, request_format={self.request_format!r})"

    # ------------------------------------------------------------------ transports
    @property
    def client(self) -> EndpointClient:
        """The sync transport (created at first use)."""
        with self._lock:
            if self._client is None:
                self._client = EndpointClient(self.config)
            return self._client

    def _async_client(self) -> AsyncEndpointClient:
        loop = asyncio.get_running_loop()
        with self._lock:
            for key in [k for k, (lp, _) in self._async_clients.items() if lp.is_closed()]:
                del self._async_clients[key]  # its pool cannot be closed from another loop
            entry = self._async_clients.get(id(loop))
            if entry is None or entry[0] is not loop:
                entry = (loop, AsyncEndpointClient(self.config))
                self._async_clients[id(loop)] = entry
            return entry[1]

    @property
    def batch_size(self) -> int:
        """Texts per request now (as configured, learned from ``/info``, or lowered by a rejection)."""
        client = self._client
        return client._protocol.batch_size if client is not None else (self.config.batch_size or DEFAULT_BATCH_SIZE)

    # ------------------------------------------------------------------ the request
    def body(self, query: str, texts: Sequence[str]) -> bytes:
        """The JSON request body for one batch."""
        payload: dict[str, Any]
        if self.request_format == "sentence-ranking":
            payload = {"inputs": [[query, text] for text in texts]}
        else:
            payload = {"query": query, "texts": list(texts), "raw_scores": self.raw_scores, "return_text": False}
            if self.truncate is not None:
                payload["truncate"] = self.truncate
            if self.truncation_direction is not None:
                # TEI's TruncationDirection deserialises "Left"/"Right" (types.rs); lowercase aliases are newer.
                payload["truncation_direction"] = self.truncation_direction.capitalize()
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def _plan(self, protocol: EndpointProtocol, count: int) -> list[tuple[int, int]]:
        size = protocol.batch_size
        return [(start, min(count, start + size)) for start in range(0, count, size)]

    def _chunks_flow(self, protocol: EndpointProtocol, query: str, texts: Sequence[str]) -> _ScoreFlow:
        scores: list[float] = []
        start = 0
        while start < len(texts):
            # The batch size may have been lowered (by this or a concurrent batch) since planning.
            chunk = texts[start : start + protocol.batch_size]
            scores.extend((yield from self._score_flow(protocol, query, chunk)))
            start += len(chunk)
        return scores

    def _score_flow(self, protocol: EndpointProtocol, query: str, texts: Sequence[str]) -> _ScoreFlow:
        body = self.body(query, texts)
        if len(body) >= protocol.max_batch_bytes:
            if len(texts) > 1:
                half = len(texts) // 2
                first = yield from self._score_flow(protocol, query, texts[:half])
                return first + (yield from self._score_flow(protocol, query, texts[half:]))
            raise EndpointRequestError(
                f"query plus one text is {len(body)} bytes as a JSON body; endpoints reject bodies of "
                f"{protocol.max_batch_bytes} bytes or more (not sent to {self.url}); shorten the text",
                url=self.url,
            )
        try:
            # The embeddings client's one implementation of retries, cold start and error mapping.
            data = yield from protocol._send_with_retries(body)
        except EndpointRequestError as error:
            smaller = learned_batch_size(error.status_code or 0, error.server_message, len(texts))
            if smaller is None:
                raise
            protocol._lower_batch_size(smaller)
            return (yield from self._chunks_flow(protocol, query, texts))
        return parse_rerank_scores(data, expected=len(texts), url=self.url)

    # ------------------------------------------------------------------ sync API
    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        """Score each text against ``query``; one score per text, in input order.

        Raises:
            RerankInputError: No texts, or an empty query.
            TypeError: ``query`` or a text is not a string.
            EndpointAuthError: 401/403.
            EndpointRequestError: The endpoint rejected the request (e.g. the model is not a reranker).
            EndpointUnavailableError: Still failing after every retry (or the cold-start wait).
            EndpointResponseError: The answer is not one score per text.
        """
        items = _check_inputs(query, texts)
        client = self.client
        protocol = client._protocol
        if protocol.batch_size_pending:
            with client._batch_size_lock:  # concurrent first calls probe /info once
                client._drive_info(protocol.batch_size_flow())
        plan = self._plan(protocol, len(items))

        def run(span: tuple[int, int]) -> list[float]:
            flow = self._chunks_flow(protocol, query, items[span[0] : span[1]])
            return cast(list[float], client._drive(cast(Flow, flow)))

        if len(plan) == 1:
            return run(plan[0])
        futures = [client._pool().submit(run, span) for span in plan]
        done, pending = concurrent.futures.wait(futures, return_when=concurrent.futures.FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
        for future in done:
            error = future.exception()
            if error is not None:
                raise error
        return [score for future in futures for score in future.result()]

    def rerank(self, query: str, texts: Sequence[str], *, top_n: int | None = None) -> list[RerankResult]:
        """Rank ``texts`` by relevance to ``query``, best first (ties keep input order).

        Args:
            query: The query.
            texts: Candidate texts.
            top_n: Keep the best ``top_n`` (``None``: all).

        Raises:
            RerankInputError: No texts, or an empty query.
            ConfigurationError: ``top_n`` < 1.
        """
        _check_top_n(top_n)
        return _ranked(self.score(query, texts), top_n)

    # ------------------------------------------------------------------ async API
    async def ascore(self, query: str, texts: Sequence[str]) -> list[float]:
        """Async :meth:`score`."""
        items = _check_inputs(query, texts)
        client = self._async_client()
        protocol = client._protocol
        if protocol.batch_size_pending:
            async with client._batch_size_lock:
                await client._drive_info(protocol.batch_size_flow())
        plan = self._plan(protocol, len(items))

        async def run(span: tuple[int, int]) -> list[float]:
            flow = self._chunks_flow(protocol, query, items[span[0] : span[1]])
            return cast(list[float], await client._drive(cast(Flow, flow)))

        if len(plan) == 1:
            return await run(plan[0])
        tasks = [asyncio.ensure_future(run(span)) for span in plan]
        try:
            results = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return [score for chunk in results for score in chunk]

    async def arerank(self, query: str, texts: Sequence[str], *, top_n: int | None = None) -> list[RerankResult]:
        """Async :meth:`rerank`."""
        _check_top_n(top_n)
        return _ranked(await self.ascore(query, texts), top_n)

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Close the sync transport (async ones: :meth:`aclose` inside their loop)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close the running loop's async transport and the sync one."""
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._async_clients.pop(id(loop), None)
        if entry is not None:
            await entry[1].aclose()
        self.close()

    def __enter__(self) -> EndpointReranker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> EndpointReranker:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _check_top_n(top_n: int | None) -> None:
    if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1):
        raise ConfigurationError(f"top_n must be an int >= 1 (or None for all), got {top_n!r}")


def _ranked(scores: Sequence[float], top_n: int | None) -> list[RerankResult]:
    # sorted() is stable: equal scores keep their input order.
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    return [RerankResult(i, scores[i]) for i in order[:top_n]]


# ---------------------------------------------------------------------------------------------- LangChain
class _RerankerFields(BaseModel):
    """Fields and the lazily built :class:`EndpointReranker` shared by the LangChain classes."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, populate_by_name=True)

    endpoint_url: str | None = Field(default_factory=from_env("HF_RERANK_ENDPOINT_URL", default=None))
    """Endpoint URL (env ``HF_RERANK_ENDPOINT_URL``); ``/rerank`` is appended for ``request_format="tei"``."""
    hf_token: SecretStr | None = Field(
        default_factory=secret_from_env(["HF_TOKEN", "HUGGINGFACEHUB_API_TOKEN"], default=None), repr=False
    )
    """Bearer token (env ``HF_TOKEN`` / ``HUGGINGFACEHUB_API_TOKEN``, else the saved login)."""
    request_format: RerankRequestFormat = "tei"
    """``"tei"`` (``POST /rerank``) or ``"sentence-ranking"`` (the inference toolkit's task at ``POST /``)."""
    raw_scores: bool = False
    """TEI ``raw_scores``: logits instead of sigmoid scores."""
    truncate: bool | None = None
    """TEI ``truncate`` (``None``: the server's default)."""
    truncation_direction: TruncationDirection | None = None
    """TEI ``truncation_direction``."""
    batch_size: int | None = Field(default=None, ge=1)
    """Texts per request; ``None`` learns ``max_client_batch_size`` from ``GET /info`` (else 32)."""
    max_concurrency: int | None = Field(default=None, ge=1)
    """Requests in flight at once (``None`` adapts)."""
    max_retries: int = Field(default=5, ge=0)
    """Retries of 429/5xx, connection errors and timeouts."""
    retry_policy: RetryPolicy | None = None
    """Full backoff policy; overrides ``max_retries`` when set."""
    timeout: float = Field(default=60.0, gt=0)
    """Seconds per request."""
    cold_start_timeout: float = Field(default=600.0, ge=0)
    """Seconds to keep retrying 503 while a scaled-to-zero endpoint starts."""
    allow_insecure_http: bool = False
    """Allow sending the token over plain http to a non-loopback host."""

    _reranker: EndpointReranker | None = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def reranker(self) -> EndpointReranker:
        """The :class:`EndpointReranker` (built at first use)."""
        with self._lock:
            if self._reranker is None:
                if not self.endpoint_url:
                    raise ConfigurationError("no rerank endpoint: set endpoint_url (or HF_RERANK_ENDPOINT_URL)")
                self._reranker = EndpointReranker(
                    self.endpoint_url,
                    token=self.hf_token,
                    request_format=self.request_format,
                    raw_scores=self.raw_scores,
                    truncate=self.truncate,
                    truncation_direction=self.truncation_direction,
                    batch_size=self.batch_size,
                    max_concurrency=self.max_concurrency,
                    timeout=self.timeout,
                    retry=self.retry_policy or RetryPolicy(max_retries=self.max_retries),
                    cold_start_timeout=self.cold_start_timeout,
                    allow_insecure_http=self.allow_insecure_http,
                )
            return self._reranker

    def close(self) -> None:
        """Close the sync connection pool."""
        if self._reranker is not None:
            self._reranker.close()

    async def aclose(self) -> None:
        """Close the running loop's connection pool and the sync one."""
        if self._reranker is not None:
            await self._reranker.aclose()


class InferenceEndpointReranker(_RerankerFields, BaseDocumentCompressor):
    """LangChain document compressor that reranks with a Hugging Face Inference Endpoint (TEI or the toolkit).

    Returns the best ``top_n`` documents, best first, as copies whose metadata carries the score under
    ``relevance_score`` (the key ``PineconeRerank`` and ``CohereRerank`` use); the input Documents are not
    modified. No documents in, none out (nothing is sent).

    Example:
        .. code-block:: python

            from langchain_classic.retrievers import ContextualCompressionRetriever
            from hf_pinecone import InferenceEndpointReranker

            reranker = InferenceEndpointReranker(endpoint_url="https://xyz.endpoints.huggingface.cloud", top_n=3)
            retriever = ContextualCompressionRetriever(
                base_compressor=reranker, base_retriever=store.as_retriever(search_kwargs={"k": 20})
            )
    """

    top_n: int | None = Field(default=3, ge=1)
    """Documents kept (``None``: all, reordered)."""

    def rerank(
        self, documents: Sequence[Document | str], query: str, *, top_n: int | None = -1
    ) -> list[dict[str, Any]]:
        """Rank documents (or strings) against ``query``: ``[{"index", "relevance_score"}]``, best first.

        Args:
            documents: Candidates.
            query: The query.
            top_n: Keep this many; default this object's ``top_n`` (``None``: all).
        """
        texts = [d.page_content if isinstance(d, Document) else d for d in documents]
        keep = self.top_n if top_n == -1 else top_n
        return [{"index": r.index, "relevance_score": r.score} for r in self.reranker.rerank(query, texts, top_n=keep)]

    async def arerank(
        self, documents: Sequence[Document | str], query: str, *, top_n: int | None = -1
    ) -> list[dict[str, Any]]:
        """Async :meth:`rerank`."""
        texts = [d.page_content if isinstance(d, Document) else d for d in documents]
        keep = self.top_n if top_n == -1 else top_n
        ranked = await self.reranker.arerank(query, texts, top_n=keep)
        return [{"index": r.index, "relevance_score": r.score} for r in ranked]

    def compress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        """Rerank ``documents`` against ``query`` and keep the best ``top_n`` (copies, with ``relevance_score``)."""
        if not documents:
            return []
        return _scored_copies(documents, self.rerank(documents, query))

    async def acompress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        """Async :meth:`compress_documents`."""
        if not documents:
            return []
        return _scored_copies(documents, await self.arerank(documents, query))


def _scored_copies(documents: Sequence[Document], ranked: list[dict[str, Any]]) -> list[Document]:
    out = []
    for item in ranked:
        doc = documents[item["index"]]
        # A new metadata dict on a shallow copy: the caller's Document and its metadata stay as they were.
        out.append(doc.model_copy(update={"metadata": {**doc.metadata, "relevance_score": item["relevance_score"]}}))
    return out


class InferenceEndpointCrossEncoder(_RerankerFields, BaseCrossEncoder):
    """LangChain ``BaseCrossEncoder`` over a reranking Inference Endpoint, for ``CrossEncoderReranker``.

    Pairs sharing a query are scored in one rerank call (split at the endpoint's batch size).

    Example:
        .. code-block:: python

            from langchain_classic.retrievers.document_compressors import CrossEncoderReranker

            compressor = CrossEncoderReranker(model=InferenceEndpointCrossEncoder(endpoint_url=url), top_n=3)
    """

    def score(self, text_pairs: list[tuple[str, str]]) -> list[float]:
        """Score ``(query, text)`` pairs; one score per pair, in input order.

        Raises:
            RerankInputError: No pairs, or an empty query.
        """
        if not text_pairs:
            raise RerankInputError("no (query, text) pairs to score; pass at least one")
        by_query: dict[str, list[int]] = {}
        for i, pair in enumerate(text_pairs):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise TypeError(f"text_pairs[{i}] must be a (query, text) pair, got {pair!r:.80}")
            by_query.setdefault(pair[0], []).append(i)
        scores: list[float] = [0.0] * len(text_pairs)
        for query, positions in by_query.items():
            for pos, value in zip(
                positions, self.reranker.score(query, [text_pairs[i][1] for i in positions]), strict=True
            ):
                scores[pos] = value
        return scores
