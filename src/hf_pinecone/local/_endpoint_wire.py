"""The local endpoint's wire format: reading bodies, parsing requests, and answering errors as TEI does.

Every rule cites huggingface/text-embeddings-inference (TEI), read at ``router/src/http/server.rs`` and
``router/src/http/types.rs`` (commit bc0fa32 and main), ``router/src/lib.rs`` and ``core/src/tokenization.rs``,
or the inference toolkit's ``webservice_starlette.py`` (huggingface/huggingface-inference-toolkit).

Two kinds of errors exist in TEI. Errors of its handlers are JSON ``{"error", "error_type"}`` (OpenAI routes:
``{"message", "code", "type"}``), with the status of the error type (server.rs ``impl From<&ErrorType> for
StatusCode``): Empty 400, Validation 413, Tokenizer 422, Backend 424, Overloaded 429, Unhealthy 503. Errors of
its web framework (axum's ``Json`` extractor, before any handler runs) are plain text: 415 without a JSON
Content-Type, 413 over the payload limit, 400 for a body that is not JSON, 422 for JSON of the wrong shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from hf_pinecone.local._endpoint_embedders import TokenInput, TruncationDirection

__all__ = [
    "ApiError",
    "EmbedRequest",
    "FrameworkError",
    "RouteKind",
    "dumps",
    "error_response",
    "framework_response",
    "parse_embed_request",
    "parse_tokenize_request",
    "read_json",
]

RouteKind = Literal["toolkit", "tei", "tei_all", "openai"]
"""What an embedding route answers: the toolkit's ``{"embeddings"}``, TEI's bare lists, or OpenAI's shape."""

_orjson: Any
try:  # orjson (installed with langsmith) is ~10x faster on big float arrays; json is the fallback.
    import orjson as _orjson
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None


def dumps(obj: Any) -> bytes:
    """Compact JSON bytes (numpy arrays included)."""
    if _orjson is not None:
        data: bytes = _orjson.dumps(obj, option=_orjson.OPT_SERIALIZE_NUMPY)
        return data
    return json.dumps(obj, default=_json_default, separators=(",", ":")).encode()


def _json_default(obj: Any) -> Any:  # pragma: no cover - only without orjson
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"cannot serialise {type(obj).__name__}")


# ----------------------------------------------------------------------------------------------- errors

# router/src/http/server.rs `impl From<&ErrorType> for StatusCode`.
_STATUS = {"Empty": 400, "Validation": 413, "Tokenizer": 422, "Backend": 424, "Overloaded": 429, "Unhealthy": 503}


class ApiError(Exception):
    """An error a TEI handler answers: JSON, status from the error type (see the module docstring)."""

    def __init__(self, error_type: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.status = _STATUS[error_type] if status is None else status


class FrameworkError(Exception):
    """An error TEI's web framework answers before its handler runs: a plain-text body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(kind: RouteKind, err: ApiError) -> Response:
    """A handler error in the route's shape (server.rs `impl From<ErrorResponse> for OpenAICompatErrorResponse`)."""
    if kind == "openai":
        body: dict[str, Any] = {"message": err.message, "code": err.status, "type": err.error_type}
    else:
        body = {"error": err.message, "error_type": err.error_type}
    return Response(dumps(body), status_code=err.status, media_type="application/json")


def framework_response(kind: RouteKind, err: FrameworkError) -> Response:
    """A framework error: TEI's plain text.

    The toolkit answers its own JSON (webservice_starlette.py ``predict``: every exception is
    ``{"error": str(e)}``; kept with an ``error_type`` as before).
    """
    if kind == "toolkit":
        body = {"error": err.message, "error_type": "Validation"}
        return Response(dumps(body), status_code=err.status, media_type="application/json")
    return PlainTextResponse(err.message, err.status)


# --------------------------------------------------------------------------------------------- bodies

PAYLOAD_TOO_LARGE = "Failed to buffer the request body: length limit exceeded"


def _is_json_content_type(value: str | None) -> bool:
    # axum's `json_content_type`: `application/json` or `application/<anything>+json`, parameters allowed.
    if not value:
        return False
    mime = value.split(";", 1)[0].strip().lower()
    kind, _, subtype = mime.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    return False


async def read_json(request: Request, *, max_payload_bytes: int, require_json_type: bool) -> Any:
    """Read and decode the body as axum's ``Json`` extractor does.

    In its order: content type (415), size (413, TEI's ``DefaultBodyLimit``), syntax (400). With
    ``require_json_type`` (TEI's routes) a lone surrogate escape is a syntax error too, as serde_json makes it
    ("lone leading surrogate in hex escape"); Python's json, which the toolkit uses, lets it through.

    Raises:
        FrameworkError: The body is refused.
    """
    if require_json_type and not _is_json_content_type(request.headers.get("content-type")):
        raise FrameworkError(415, "Expected request with `Content-Type: application/json`")
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            too_large = int(declared) > max_payload_bytes
        except ValueError:
            raise FrameworkError(400, "invalid Content-Length header") from None
        if too_large:
            raise FrameworkError(413, PAYLOAD_TOO_LARGE)
    # Count the bytes actually received too: chunked bodies have no Content-Length, and it may lie.
    buf = bytearray()
    async for chunk in request.stream():
        buf += chunk
        if len(buf) > max_payload_bytes:
            raise FrameworkError(413, PAYLOAD_TOO_LARGE)
    try:
        body = json.loads(buf)
    except (ValueError, RecursionError) as exc:
        raise FrameworkError(400, f"Failed to parse the request body as JSON: {exc}") from None
    if require_json_type and (b"\\ud" in buf or b"\\uD" in buf) and _has_lone_surrogate(body):
        raise FrameworkError(400, "Failed to parse the request body as JSON: lone surrogate in hex escape")
    return body


# -------------------------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class EmbedRequest:
    """A parsed embedding request."""

    inputs: list[TokenInput]
    single: bool
    normalize: bool
    truncate: bool
    truncation_direction: TruncationDirection
    prompt_name: str | None
    dimensions: int | None
    encoding_format: str

    def texts(self) -> list[str]:
        """The inputs as texts (token ids spelled out, for embedders without a tokenizer)."""
        return [x if isinstance(x, str) else " ".join(map(str, x)) for x in self.inputs]

    def chars(self) -> int:
        """TEI's ``x-compute-characters``: characters of texts, one per token id (types.rs ``count_chars``)."""
        return sum(len(x) for x in self.inputs)


def _data_error(detail: str) -> FrameworkError:
    # axum's `JsonDataError` (422) prefix; the detail names the field, as serde_path_to_error does.
    return FrameworkError(422, f"Failed to deserialize the JSON body into the target type: {detail}")


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _is_u32(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= 0xFFFFFFFF


def _parse_inputs(raw: Any, key: str, *, ids_allowed: bool) -> tuple[list[TokenInput], bool]:
    """TEI's ``Input`` (types.rs).

    Untagged ``Single(InputType) | Batch(Vec<InputType>)`` with ``InputType = String | Ids(Vec<u32>)``. serde tries
    the variants in order, so a flat list of integers (``[]`` included) is one token-id input, and a list of strings
    and id lists is a batch.
    """
    if isinstance(raw, str):
        return [raw], True
    if isinstance(raw, list):
        if ids_allowed and all(_is_u32(x) for x in raw):
            return [list(raw)], True
        items: list[TokenInput] = []
        for i, x in enumerate(raw):
            if isinstance(x, str):
                items.append(x)
            elif ids_allowed and isinstance(x, list) and all(_is_u32(y) for y in x):
                items.append(list(x))
            else:
                expected = "a string or a list of token ids (u32)" if ids_allowed else "a string"
                raise _data_error(f"{key}[{i}]: expected {expected}, got {_type_name(x)}")
        return items, False
    what = "a string, a list of strings or token ids" if ids_allowed else "a string or a list of strings"
    raise _data_error(f"{key}: expected {what}, got {_type_name(raw)}")


def _field(body: dict[str, Any], key: str, kind: type, what: str, *, nullable: bool) -> Any:
    """An optional field of a serde struct: absent is None; null only for ``Option`` fields."""
    if key not in body:
        return None
    value = body[key]
    if value is None:
        if nullable:
            return None
    elif isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    raise _data_error(f"{key}: invalid type: {_type_name(value)}, expected {what}")


def parse_embed_request(body: Any, kind: RouteKind, *, max_batch_size: int, dimension: int) -> EmbedRequest:
    """Parse and check an embedding request.

    As TEI's ``EmbedRequest`` / ``OpenAICompatRequest`` (types.rs) and its handlers' batch checks (server.rs
    ``embed``, ``openai_embed``).

    Raises:
        FrameworkError: The JSON has the wrong shape (plain text, as axum answers).
        ApiError: A handler-level refusal (batch size).
    """
    key = "input" if kind == "openai" else "inputs"
    if not isinstance(body, dict):
        raise _data_error(f"invalid type: {_type_name(body)}, expected an object with an `{key}` key")
    if key not in body:
        if kind == "toolkit":
            # webservice_starlette.py `predict`: 400 "Body needs to provide a inputs key, recieved: ..."
            raise FrameworkError(400, f"Body needs to provide a inputs key, received: {sorted(body)!r}")
        raise _data_error(f"missing field `{key}`")
    inputs, single = _parse_inputs(body[key], key, ids_allowed=kind != "toolkit")
    if not single and len(inputs) > max_batch_size:
        # server.rs `embed` (and every batch route): checked before any input is looked at.
        raise ApiError("Validation", f"batch size {len(inputs)} > maximum allowed batch size {max_batch_size}")

    if kind == "openai":
        # server.rs `openai_embed`: truncate = info.auto_truncate, direction Right, no prompt, normalize true;
        # OpenAICompatRequest has no such fields (unknown keys are ignored by serde).
        encoding_format = _field(body, "encoding_format", str, "`float` or `base64`", nullable=False) or "float"
        if encoding_format not in ("float", "base64"):
            raise _data_error(f"encoding_format: unknown variant `{encoding_format}`, expected `float` or `base64`")
        _field(body, "model", str, "a string", nullable=True)
        _field(body, "user", str, "a string", nullable=True)
        dimensions = _field(body, "dimensions", int, "a non-negative integer", nullable=True)
        normalize, truncate, direction, prompt_name = True, True, "Right", None
    else:
        encoding_format = "float"
        truncate_field = _field(body, "truncate", bool, "a boolean", nullable=True)  # Option<bool>
        truncate = True if truncate_field is None else truncate_field  # info.auto_truncate (true)
        raw_direction = _field(body, "truncation_direction", str, "`Left` or `Right`", nullable=False)
        if raw_direction is None:
            direction = "Right"  # #[serde(default)] TruncationDirection::Right
        elif raw_direction in ("Left", "Right", "left", "right"):
            # types.rs `TruncationDirection`: `#[serde(alias = "left", alias = "Left")]` (and right) on main;
            # huggingface_hub's feature_extraction types it Literal["left", "right"].
            direction = raw_direction.capitalize()
        else:
            raise _data_error(f"truncation_direction: unknown variant `{raw_direction}`, expected `Left` or `Right`")
        prompt_name = _field(body, "prompt_name", str, "a string", nullable=True)
        if kind == "tei_all":
            normalize, dimensions = False, None  # EmbedAllRequest has neither
        else:
            normalize_field = _field(body, "normalize", bool, "a boolean", nullable=False)  # bool, default true
            normalize = True if normalize_field is None else normalize_field
            dimensions = _field(body, "dimensions", int, "a non-negative integer", nullable=True)
    if dimensions is not None and not 1 <= dimensions <= dimension:
        # Not in TEI's source we read: refused as its other input checks are (Validation).
        raise ApiError("Validation", f"`dimensions` must be between 1 and {dimension}, got {dimensions}")
    return EmbedRequest(
        inputs=inputs,
        single=single,
        normalize=normalize,
        truncate=truncate,
        truncation_direction=direction,  # type: ignore[arg-type]
        prompt_name=prompt_name,
        dimensions=dimensions,
        encoding_format=encoding_format,
    )


@dataclass(frozen=True)
class TokenizeRequest:
    """A parsed ``POST /tokenize`` request (types.rs ``TokenizeRequest``)."""

    inputs: list[str]
    single: bool
    add_special_tokens: bool
    prompt_name: str | None


def parse_tokenize_request(body: Any, *, max_batch_size: int) -> TokenizeRequest:
    """Parse a ``POST /tokenize`` body.

    ``{"inputs": str | [str], "add_special_tokens": bool = true, "prompt_name": str | null}``, with server.rs
    ``tokenize``'s batch checks (empty batch 400 Empty, too many inputs 413 Validation).

    Raises:
        FrameworkError: The JSON has the wrong shape.
        ApiError: Empty or too large a batch.
    """
    if not isinstance(body, dict):
        raise _data_error(f"invalid type: {_type_name(body)}, expected an object with an `inputs` key")
    if "inputs" not in body:
        raise _data_error("missing field `inputs`")
    raw = body["inputs"]
    if isinstance(raw, list) and not raw:
        raise ApiError("Empty", "`inputs` cannot be empty")
    inputs, single = _parse_inputs(raw, "inputs", ids_allowed=False)
    if not single and len(inputs) > max_batch_size:
        raise ApiError("Validation", f"batch size {len(inputs)} > maximum allowed batch size {max_batch_size}")
    add_special = _field(body, "add_special_tokens", bool, "a boolean", nullable=False)
    return TokenizeRequest(
        inputs=[str(x) for x in inputs],
        single=single,
        add_special_tokens=True if add_special is None else add_special,
        prompt_name=_field(body, "prompt_name", str, "a string", nullable=True),
    )
