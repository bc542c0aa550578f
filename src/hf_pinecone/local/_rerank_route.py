"""The local endpoint's ``POST /rerank`` (TEI's body, limits and errors) and the toolkit's sentence-ranking task.

**The scorer is not a cross-encoder.** No cross-encoder ships on PyPI that we know of, and nothing may be
downloaded at run time, so the stand-in scores a (query, text) pair with the bundled bi-encoder
all-MiniLM-L6-v2: the cosine similarity of the two mean-pooled, L2-normalised embeddings (the same vectors
``/embed`` returns). ``raw_scores: true`` answers that cosine; the default answers ``sigmoid(cosine)``, as TEI
applies a sigmoid to a reranker's single logit unless ``raw_scores`` is set (core/src/infer.rs ``predict``:
softmax over several labels, sigmoid over one). Ranks are the same either way. Because it is the embedding
model's own similarity, reranking dense candidates with the stand-in cannot reorder them; the endpoint is there
to exercise the client over real HTTP.

TEI's rules followed (huggingface/text-embeddings-inference, router/src/http/server.rs ``rerank`` and
types.rs ``RerankRequest``; statuses from ``impl From<&ErrorType> for StatusCode``: Validation -> 413,
Tokenizer -> 422, Backend -> 424, Overloaded -> 429):

- body ``{"query": str, "texts": [str], "raw_scores"?: bool = false, "return_text"?: bool = false,
  "truncate"?: bool | null, "truncation_direction"?: "Left" | "Right"}``; a missing or mistyped field is
  axum's 422 plain-text ``Failed to deserialize the JSON body into the target type: ...``; invalid JSON 400.
- ``texts`` empty: 413 ``{"error": "`texts` cannot be empty", "error_type": "Validation"}``.
- more texts than ``max_client_batch_size``: 413 ``"batch size N > maximum allowed batch size M"``.
- ``truncate`` defaults to ``/info``'s ``auto_truncate``; a pair longer than the model's limit without it: 413.
- answer ``[{"index", "score", "text"?}]`` sorted by score, highest first; ``text`` only with ``return_text``.

Deliberate difference: TEI serves ``/rerank`` only for a reranker model (else 424 "model is not a re-ranker
model") and ``/embed`` only for an embedding model; the stand-in serves both from one model.

The handler is module-level and reads :class:`RerankState` from ``request.app.state.rerank``.
"""

from __future__ import annotations

import hmac
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

__all__ = ["RerankState", "create_sentence_ranking_app", "rerank", "routes", "score_pairs", "sentence_ranking"]

_PAYLOAD_TOO_LARGE = "Failed to buffer the request body: length limit exceeded"


@dataclass(frozen=True)
class RerankState:
    """What the rerank handlers read (``app.state.rerank``).

    Attributes:
        embedder: The endpoint's embedder (any object with ``embed(texts, *, normalize, truncate, prompt_name)``).
        max_batch_size: TEI's ``max_client_batch_size``: most texts per request.
        max_payload_bytes: Bodies larger than this answer 413.
        expected_auth: ``b"Bearer <key>"`` when the endpoint requires a token; ``None``: open (or a middleware
            checks it).
        auto_truncate: ``truncate``'s default (``/info``'s ``auto_truncate``).
        stats: The endpoint's counters (``requests``, ``served``, ``inputs``), when it keeps them.
    """

    embedder: Any
    max_batch_size: int
    max_payload_bytes: int = 2_000_000
    expected_auth: bytes | None = None
    auto_truncate: bool = True
    stats: Any = None


class _Refused(Exception):
    """A request refused: TEI's JSON error (``error_type``) or, without one, the framework's plain text."""

    def __init__(self, status: int, message: str, error_type: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.error_type = status, message, error_type

    def response(self, *, toolkit: bool = False) -> Response:
        if self.error_type is None and not toolkit:
            return PlainTextResponse(self.message, self.status)
        if toolkit:  # webservice_starlette.py ``predict``: every failure is ``{"error": str(e)}``
            body: dict[str, Any] = {"error": self.message}
        else:
            body = {"error": self.message, "error_type": self.error_type}
        return Response(json.dumps(body), status_code=self.status, media_type="application/json")


def score_pairs(embedder: Any, query: str, texts: Sequence[str], *, raw_scores: bool, truncate: bool) -> list[float]:
    """The stand-in's relevance score of each text for ``query`` (see the module docstring).

    Raises:
        Exception: Whatever the embedder raises (e.g. input too long without ``truncate``).
    """
    vectors = np.asarray(
        embedder.embed([query, *texts], normalize=True, truncate=truncate, prompt_name=None), dtype=np.float64
    )
    cosines = vectors[1:] @ vectors[0]
    if raw_scores:
        return [float(c) for c in cosines]
    return [1.0 / (1.0 + math.exp(-float(c))) for c in cosines]


def routes(flavor: str) -> list[Route]:
    """``POST /rerank`` (TEI serves it on every router; server.rs ``run``), for ``endpoint_server.ROUTE_MODULES``."""
    return [Route("/rerank", rerank, methods=["POST"])]


def _state(request: Request) -> RerankState:
    state: RerankState = request.app.state.rerank
    return state


def _authorized(state: RerankState, request: Request) -> bool:
    if state.expected_auth is None:
        return True
    given = request.headers.get("authorization", "").encode("latin-1", "replace")
    return hmac.compare_digest(given, state.expected_auth)


async def _read_json(request: Request, limit: int) -> Any:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _Refused(413, _PAYLOAD_TOO_LARGE)
    buf = bytearray()
    async for chunk in request.stream():  # chunked bodies have no Content-Length, and it may lie
        buf += chunk
        if len(buf) > limit:
            raise _Refused(413, _PAYLOAD_TOO_LARGE)
    try:
        return json.loads(buf)
    except (ValueError, RecursionError) as exc:
        raise _Refused(400, f"Failed to parse the request body as JSON: {exc}") from None


def _data_error(detail: str) -> _Refused:
    # axum's JsonDataError: 422, plain text, naming the field as serde does.
    return _Refused(422, f"Failed to deserialize the JSON body into the target type: {detail}")


def _field(body: dict[str, Any], key: str, kind: type, what: str, default: Any) -> Any:
    value = body.get(key, default)
    if value is None and default is None:
        return None
    if isinstance(value, bool) != (kind is bool) or not isinstance(value, kind):
        raise _data_error(f"{key}: invalid type: {type(value).__name__}, expected {what}")
    return value


def _parse(body: Any, state: RerankState) -> tuple[str, list[str], bool, bool, bool]:
    if not isinstance(body, dict):
        raise _data_error(f"invalid type: {type(body).__name__}, expected struct RerankRequest")
    for key in ("query", "texts"):
        if key not in body:
            raise _data_error(f"missing field `{key}`")
    query = body["query"]
    if not isinstance(query, str):
        raise _data_error(f"query: invalid type: {type(query).__name__}, expected a string")
    texts = body["texts"]
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise _data_error("texts: invalid type, expected a sequence of strings")
    raw_scores = _field(body, "raw_scores", bool, "a boolean", False)
    return_text = _field(body, "return_text", bool, "a boolean", False)
    truncate = _field(body, "truncate", bool, "a boolean", None)
    direction = body.get("truncation_direction")
    if direction is not None and direction not in ("Left", "Right", "left", "right"):
        raise _data_error(f"truncation_direction: unknown variant `{direction}`, expected `Left` or `Right`")
    if not texts:
        raise _Refused(413, "`texts` cannot be empty", "Validation")
    if len(texts) > state.max_batch_size:
        raise _Refused(
            413, f"batch size {len(texts)} > maximum allowed batch size {state.max_batch_size}", "Validation"
        )
    return query, texts, raw_scores, return_text, state.auto_truncate if truncate is None else truncate


async def _score(state: RerankState, query: str, texts: list[str], raw: bool, truncate: bool) -> list[float]:
    try:
        scores = await run_in_threadpool(score_pairs, state.embedder, query, texts, raw_scores=raw, truncate=truncate)
    except Exception as exc:  # the model refused the input, or failed: TEI's error types, never a 500
        name = type(exc).__name__
        if name == "InputValidationError":
            raise _Refused(413, str(exc), "Validation") from None
        if isinstance(exc, (UnicodeError, TypeError)):
            raise _Refused(422, f"tokenizer error: {exc}", "Tokenizer") from None
        raise _Refused(424, f"backend error: {name}: {exc}", "Backend") from None
    if any(math.isnan(s) for s in scores):
        raise _Refused(424, "score is NaN", "Backend")
    return scores


def _count(state: RerankState, **deltas: int) -> None:
    update = getattr(state.stats, "_update", None)
    if callable(update):
        update(**deltas)


async def rerank(request: Request) -> Response:
    """TEI ``POST /rerank``: rank ``texts`` against ``query`` (see the module docstring)."""
    state = _state(request)
    _count(state, requests=1)
    if not _authorized(state, request):
        body = json.dumps({"error": "Unauthorized", "error_type": "Unauthorized"})
        return Response(body, 401, media_type="application/json", headers={"www-authenticate": "Bearer"})
    try:
        query, texts, raw, return_text, truncate = _parse(await _read_json(request, state.max_payload_bytes), state)
        scores = await _score(state, query, texts, raw, truncate)
    except ClientDisconnect:
        return Response(status_code=499)
    except _Refused as refused:
        return refused.response()
    _count(state, served=1, inputs=len(texts))
    # server.rs: ranks sorted by score, highest first ("Reverse sort" of an ascending stable sort).
    order = sorted(range(len(texts)), key=lambda i: scores[i])[::-1]
    ranks: list[dict[str, Any]] = []
    for i in order:
        rank: dict[str, Any] = {"index": i, "score": scores[i]}
        if return_text:
            rank["text"] = texts[i]
        ranks.append(rank)
    return Response(json.dumps(ranks), media_type="application/json")


async def sentence_ranking(request: Request) -> Response:
    """The inference toolkit's ``sentence-ranking`` task: ``{"inputs": [[query, text], ...]}`` -> ``{"scores"}``.

    huggingface-inference-toolkit, sentence_transformers_utils.py ``SentenceRankingPipeline``: ``sentences``
    (the body's ``inputs``) go to ``CrossEncoder.predict`` and come back as ``{"scores": [...]}`` in input
    order; errors are ``{"error": str(e)}`` with status 400 (webservice_starlette.py ``predict``).
    """
    state = _state(request)
    _count(state, requests=1)
    if not _authorized(state, request):
        return Response(json.dumps({"error": "Unauthorized"}), 401, media_type="application/json")
    try:
        body = await _read_json(request, state.max_payload_bytes)
        pairs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(pairs, list) or not pairs:
            raise _Refused(400, "No inputs have been provided within the input payload")
        if not all(isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in pairs):
            raise _Refused(400, "inputs must be a list of [query, text] pairs of strings")
        scores: list[float] = [0.0] * len(pairs)
        by_query: dict[str, list[int]] = {}
        for i, (query, _) in enumerate(pairs):
            by_query.setdefault(query, []).append(i)
        for query, positions in by_query.items():
            # A CrossEncoder's predict returns raw logits (no activation for 1-label models): the raw cosine.
            got = await _score(state, query, [pairs[i][1] for i in positions], True, True)
            for pos, value in zip(positions, got, strict=True):
                scores[pos] = value
    except ClientDisconnect:
        return Response(status_code=499)
    except _Refused as refused:
        return refused.response(toolkit=True)
    _count(state, served=1, inputs=len(pairs))
    return Response(json.dumps({"scores": scores}), media_type="application/json")


async def _health(request: Request) -> Response:
    return PlainTextResponse("Ok")


def create_sentence_ranking_app(
    *, embedder: Any, api_key: str | None = None, max_payload_bytes: int = 2_000_000
) -> Starlette:
    """An inference-toolkit endpoint deployed with the ``sentence-ranking`` task: ``POST /`` ranks pairs.

    Args:
        embedder: The model scoring pairs (see :func:`score_pairs`).
        api_key: When set, requests need ``Authorization: Bearer <api_key>``.
        max_payload_bytes: Bodies larger than this answer 413.
    """
    app = Starlette(
        routes=[
            Route("/", sentence_ranking, methods=["POST"]),
            Route("/health", _health, methods=["GET"]),
        ]
    )
    app.state.rerank = RerankState(
        embedder=embedder,
        max_batch_size=2**31,
        max_payload_bytes=max_payload_bytes,
        expected_auth=None if api_key is None else f"Bearer {api_key}".encode(),
    )
    return app
