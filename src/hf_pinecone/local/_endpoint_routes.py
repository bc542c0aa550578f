"""The local endpoint's health, info, metrics and embedding routes (module-level handlers over ``app.state``).

Handlers read :class:`~hf_pinecone.local._endpoint_state.EndpointState` from ``request.app.state.endpoint``;
:func:`routes` gives this module's routes for a flavour. A new route module (e.g. ``/embed_sparse``) provides
its own ``routes(flavor)`` and is added to ``ROUTE_MODULES`` in ``endpoint_server`` with one line.

References: huggingface/text-embeddings-inference ``router/src/http/server.rs`` (``run`` builds the route
table; ``embed``, ``embed_all``, ``openai_embed``, ``health``, ``get_model_info``, ``metrics``),
``router/src/lib.rs`` (``Info``, ``ResponseMetadata`` headers) and the inference toolkit's
``webservice_starlette.py`` (``health``, ``predict``).
"""

from __future__ import annotations

import base64
import time
from typing import Any

import numpy as np
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from hf_pinecone.local._endpoint_embedders import TokenCounter, TokenEmbedder, TokenizingEmbedder
from hf_pinecone.local._endpoint_state import EndpointState, Flavor, Timings
from hf_pinecone.local._endpoint_wire import (
    ApiError,
    EmbedRequest,
    FrameworkError,
    RouteKind,
    dumps,
    error_response,
    framework_response,
    parse_embed_request,
    read_json,
)
from hf_pinecone.local._runner import drop_frames

__all__ = ["VERSION", "routes", "state_of"]

VERSION = "1.8.0-hf-pinecone-local"


def state_of(request: Request) -> EndpointState:
    """The endpoint state the app was assembled with."""
    state: EndpointState = request.app.state.endpoint
    return state


# ---------------------------------------------------------------------------------------- public routes


async def health(request: Request) -> Response:
    """``GET /``, ``/health``, ``/ping``.

    The toolkit answers ``Ok`` (webservice_starlette.py ``health``); TEI an empty 200 (server.rs ``health``
    returns ``()``).
    """
    if state_of(request).flavor == "toolkit":
        return PlainTextResponse("Ok")
    return Response(status_code=200)


async def metrics(request: Request) -> Response:
    """``GET /metrics``: Prometheus text with TEI's request counters.

    server.rs ``metrics``; names from its ``metrics::counter!`` calls (``te_request_count``,
    ``te_request_success``, ``te_request_failure``).
    """
    s = state_of(request).stats
    failures = s.requests - s.served
    lines = [
        "# TYPE te_request_count counter",
        f"te_request_count {s.requests}",
        "# TYPE te_request_success counter",
        f"te_request_success {s.served}",
        "# TYPE te_request_failure counter",
        f'te_request_failure{{err="overloaded"}} {s.overloaded}',
        f'te_request_failure{{err="other"}} {failures - s.overloaded}',
        "# TYPE te_queue_size gauge",
        f"te_queue_size {s.permits}",
        "",
    ]
    return PlainTextResponse("\n".join(lines), media_type="text/plain; version=0.0.4")


async def info(request: Request) -> Response:
    """``GET /info``: TEI's ``Info`` (router/src/lib.rs) with ``served_model_name``, ``sha``, ``docker_label``."""
    state = state_of(request)
    emb = state.embedder
    max_input = emb.max_input_length if isinstance(emb, (TokenCounter, TokenizingEmbedder)) else 512
    body = {
        "model_id": state.model_id,
        "model_sha": None,
        "model_dtype": "float32",
        "model_type": {"embedding": {"pooling": "mean"}},
        "served_model_name": state.model_id,
        "max_concurrent_requests": state.max_concurrent_requests,
        "max_input_length": max_input,
        "max_batch_tokens": 16384,
        "max_batch_requests": None,
        "max_client_batch_size": state.max_batch_size,
        "auto_truncate": True,
        "tokenization_workers": 1,
        "version": VERSION,
        "sha": None,  # option_env!("VERGEN_GIT_SHA"): unset in a local build
        "docker_label": None,  # option_env!("DOCKER_LABEL"): not a Docker image
    }
    return Response(dumps(body), media_type="application/json")


# --------------------------------------------------------------------------------------- embedding routes


async def toolkit_predict(request: Request) -> Response:
    """``POST /``, ``/predict`` (toolkit flavour): ``{"embeddings": [[...]]}``, flat for a single string."""
    return await _embed(request, "toolkit")


async def tei_embed(request: Request) -> Response:
    """``POST /embed`` (and ``/``, ``/invocations`` in the TEI flavour): a bare 2-D list."""
    return await _embed(request, "tei")


async def tei_embed_all(request: Request) -> Response:
    """``POST /embed_all``: per-token embeddings ``[batch][tokens][dim]``."""
    return await _embed(request, "tei_all")


async def openai_embeddings(request: Request) -> Response:
    """``POST /v1/embeddings``, ``/embeddings``: OpenAI's shape."""
    return await _embed(request, "openai")


async def _embed(request: Request, kind: RouteKind) -> Response:
    state = state_of(request)
    begin = time.perf_counter()
    state.stats._update(requests=1)
    try:
        body = await read_json(
            request, max_payload_bytes=state.max_payload_bytes, require_json_type=kind != "toolkit"
        )
        req = parse_embed_request(body, kind, max_batch_size=state.max_batch_size, dimension=state.embedder.dimension)
        payload, tokens, timings = await _run(state, req, kind)
    except FrameworkError as err:
        return framework_response(kind, err)
    except ClientDisconnect:
        return Response(status_code=499)
    except ApiError as err:
        drop_frames(err)
        return error_response(kind, err)
    state.stats._update(served=1, inputs=len(req.inputs))
    headers = _compute_headers(req, tokens, timings, time.perf_counter() - begin)
    return Response(dumps(payload), media_type="application/json", headers=headers)


async def _run(state: EndpointState, req: EmbedRequest, kind: RouteKind) -> tuple[Any, int, Timings]:
    """Tokenize, embed under TEI's permits, and shape the answer; returns (payload, prompt tokens, timings)."""
    emb = state.embedder
    if not req.inputs:  # the toolkit route's `[]` (TEI reads `[]` as one empty token-id input: below)
        raise ApiError("Empty", "`inputs` cannot be empty")
    if kind != "toolkit":
        # core/src/tokenization.rs `Tokenization::encode`: an empty input (text or ids) is refused before
        # anything else, "Input validation error: `inputs` cannot be empty" (TextEmbeddingsError::Empty).
        # The toolkit embeds an empty string like any other.
        for item in req.inputs:
            if len(item) == 0:
                raise ApiError("Empty", "Input validation error: `inputs` cannot be empty")
    if isinstance(emb, TokenizingEmbedder):
        ids = await _encode(emb, req)
        tokens = sum(len(seq) for seq in ids)
        if kind == "tei_all":
            work: Any = lambda a, b: emb.embed_token_ids(ids[a:b])  # noqa: E731
        else:
            work = lambda a, b: emb.embed_ids(ids[a:b], normalize=req.normalize)  # noqa: E731
    else:
        texts = req.texts()
        tokens = (
            sum(emb.count_tokens(texts)) if isinstance(emb, TokenCounter) else sum(len(t.split()) + 2 for t in texts)
        )
        if kind == "tei_all":
            if not isinstance(emb, TokenEmbedder):
                raise ApiError("Backend", "Backend error: this model does not return token embeddings")
            token_emb = emb
            work = lambda a, b: token_emb.embed_tokens(  # noqa: E731
                texts[a:b], truncate=req.truncate, prompt_name=req.prompt_name
            )
        else:
            work = lambda a, b: emb.embed(  # noqa: E731
                texts[a:b], normalize=req.normalize, truncate=req.truncate, prompt_name=req.prompt_name
            )
    chunks, timings = await state.compute(len(req.inputs), req.single, work)
    if kind == "tei_all":
        per_token = [np.asarray(t, dtype=np.float32) for chunk in chunks for t in chunk]
        return per_token, tokens, timings
    vectors = _pooled(chunks, req)
    if kind == "toolkit":
        return {"embeddings": vectors[0] if req.single and isinstance(req.inputs[0], str) else vectors}, tokens, timings
    if kind == "tei":
        return vectors, tokens, timings
    return _openai_payload(req, vectors, state.model_id, tokens), tokens, timings


async def _encode(emb: TokenizingEmbedder, req: EmbedRequest) -> list[list[int]]:
    from starlette.concurrency import run_in_threadpool

    from hf_pinecone.local._endpoint_state import compute_error

    try:
        return await run_in_threadpool(
            emb.encode_inputs,
            req.inputs,
            truncate=req.truncate,
            truncation_direction=req.truncation_direction,
            prompt_name=req.prompt_name,
        )
    except Exception as exc:
        drop_frames(exc)
        raise compute_error(exc) from None


def _pooled(chunks: list[Any], req: EmbedRequest) -> np.ndarray:
    arrays = [np.asarray(c, dtype=np.float32) for c in chunks]
    if any(a.ndim != 2 for a in arrays) or sum(a.shape[0] for a in arrays) != len(req.inputs):
        shapes = [a.shape for a in arrays]
        raise ApiError("Backend", f"Backend error: backend returned shapes {shapes} for {len(req.inputs)} inputs")
    vectors = arrays[0] if len(arrays) == 1 else np.vstack(arrays)
    if req.dimensions is not None and req.dimensions != vectors.shape[1]:
        vectors = vectors[:, : req.dimensions]
        if req.normalize:
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = np.asarray(vectors / np.where(norms == 0, 1, norms), dtype=np.float32)
    return vectors


def _openai_payload(req: EmbedRequest, vectors: np.ndarray, model_name: str, tokens: int) -> dict[str, Any]:
    # server.rs `openai_embed`: base64 is the little-endian f32 bytes; model is info.model_id; usage counts
    # the tokens embedded (after truncation, special tokens included).
    data: list[dict[str, Any]] = []
    for i, vec in enumerate(vectors):
        embedding: Any = (
            base64.b64encode(vec.astype("<f4").tobytes()).decode("ascii") if req.encoding_format == "base64" else vec
        )
        data.append({"object": "embedding", "embedding": embedding, "index": i})
    return {
        "object": "list",
        "data": data,
        "model": model_name,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _compute_headers(req: EmbedRequest, tokens: int, timings: Timings, total: float) -> dict[str, str]:
    # router/src/lib.rs `impl From<ResponseMetadata> for HeaderMap`: whole milliseconds. TEI sends
    # x-compute-type "gpu+optimized"; this CPU stand-in says "cpu".
    return {
        "x-compute-type": "cpu",
        "x-compute-characters": str(req.chars()),
        "x-compute-tokens": str(tokens),
        "x-compute-time": str(int(total * 1000)),
        "x-total-time": str(int(total * 1000)),
        "x-tokenization-time": "0",
        "x-queue-time": str(int(timings.queue * 1000)),
        "x-inference-time": str(int(timings.inference * 1000)),
    }


# ------------------------------------------------------------------------------------------- the table


def routes(flavor: Flavor) -> list[Route]:
    """This module's routes for ``flavor`` (server.rs ``run``: ``routes`` and ``public_routes``).

    Both flavours serve TEI's ``/embed``, ``/embed_all``, ``/v1/embeddings``, ``/embeddings``, ``/info``,
    ``/health``, ``/ping`` and ``/metrics``. ``POST /`` and ``/invocations`` are ``embed`` in TEI; in the toolkit
    flavour ``POST /`` and ``/predict`` are the toolkit's ``predict`` (``/invocations`` stays TEI's).
    """
    table = [
        Route("/", health, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/ping", health, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/info", info, methods=["GET"]),
        Route("/embed", tei_embed, methods=["POST"]),
        Route("/invocations", tei_embed, methods=["POST"]),
        Route("/embed_all", tei_embed_all, methods=["POST"]),
        Route("/v1/embeddings", openai_embeddings, methods=["POST"]),
        Route("/embeddings", openai_embeddings, methods=["POST"]),
    ]
    if flavor == "toolkit":
        table += [
            Route("/", toolkit_predict, methods=["POST"]),
            Route("/predict", toolkit_predict, methods=["POST"]),
        ]
    else:
        table.append(Route("/", tei_embed, methods=["POST"]))
    return table
