"""The local endpoint's ``POST /tokenize``, answered as TEI answers it.

huggingface/text-embeddings-inference ``router/src/http/server.rs`` ``tokenize``: body ``{"inputs": str or
[str], "add_special_tokens": true, "prompt_name": null}``; answer a list (one per input, a single string
included) of token lists ``{"id", "text", "special", "start", "stop"}``. An empty batch is ``400 Empty``, too
many inputs ``413 Validation``; tokenizer errors ``422 Tokenizer``. Tokenizing takes no concurrency permit.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from hf_pinecone.local._endpoint_embedders import TokenizingEmbedder
from hf_pinecone.local._endpoint_routes import state_of
from hf_pinecone.local._endpoint_state import Flavor, compute_error
from hf_pinecone.local._endpoint_wire import (
    ApiError,
    FrameworkError,
    dumps,
    error_response,
    framework_response,
    parse_tokenize_request,
    read_json,
)
from hf_pinecone.local._runner import drop_frames

__all__ = ["routes", "tokenize"]


async def tokenize(request: Request) -> Response:
    """``POST /tokenize`` with the model's own tokenizer."""
    state = state_of(request)
    try:
        body = await read_json(request, max_payload_bytes=state.max_payload_bytes, require_json_type=True)
        req = parse_tokenize_request(body, max_batch_size=state.max_batch_size)
        emb = state.embedder
        if not isinstance(emb, TokenizingEmbedder):
            raise ApiError("Backend", "Backend error: this model has no tokenizer")
        for text in req.inputs:
            if not text:  # core/src/tokenization.rs `Tokenization::tokenize`: empty input refused
                raise ApiError("Empty", "Input validation error: `inputs` cannot be empty")
        try:
            tokens = await run_in_threadpool(
                emb.tokenize, req.inputs, add_special_tokens=req.add_special_tokens, prompt_name=req.prompt_name
            )
        except Exception as exc:
            drop_frames(exc)
            raise compute_error(exc) from None
    except FrameworkError as err:
        return framework_response("tei", err)
    except ClientDisconnect:
        return Response(status_code=499)
    except ApiError as err:
        drop_frames(err)
        return error_response("tei", err)
    return Response(dumps(tokens), media_type="application/json")


def routes(flavor: Flavor) -> list[Route]:
    """``POST /tokenize`` (both flavours: TEI serves it whatever the model; server.rs ``run``)."""
    return [Route("/tokenize", tokenize, methods=["POST"])]
