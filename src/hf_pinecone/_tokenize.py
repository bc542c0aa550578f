"""PURE request building / response parsing for TEI's ``POST /tokenize`` (the endpoint's own tokenizer).

huggingface/text-embeddings-inference ``router/src/http/server.rs`` ``tokenize`` and ``types.rs``
``TokenizeRequest`` / ``SimpleToken``: the body is ``{"inputs": str | [str], "add_special_tokens": bool = true,
"prompt_name": str | null}``; the answer is one list per input of ``{"id", "text", "special", "start", "stop"}``,
``start`` / ``stop`` being byte offsets into the input's UTF-8 (``null`` for special tokens; core/src/tokenization.rs
``into_tokens`` slices ``input.bytes()`` with them). It is not
truncated, but an input over ``max_input_length * MAX_CHAR_MULTIPLIER`` characters is refused
(core/src/tokenization.rs ``tokenize_input``). The retry / transport loop lives in the clients (``endpoint.py``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from hf_pinecone._protocol import info_url
from hf_pinecone.errors import EndpointResponseError

__all__ = ["Token", "char_offsets", "parse_tokens", "tokenize_body", "tokenize_url"]


@dataclass(frozen=True, slots=True)
class Token:
    """One token of TEI's ``/tokenize`` answer.

    Attributes:
        id: Token id.
        text: The token's text (the input's bytes it covers; the token itself for special tokens).
        special: A special token (``[CLS]``, ``[SEP]``, ...), added by the model, not from the text.
        start: Byte offset of its first byte in the input's UTF-8, ``None`` for special tokens.
        stop: Byte offset after its last byte, ``None`` for special tokens.
    """

    id: int
    text: str
    special: bool
    start: int | None
    stop: int | None


def tokenize_url(url: str) -> str:
    """``{base}/tokenize`` for an endpoint URL (the same base as ``GET /info``)."""
    info = urlsplit(info_url(url))
    return info._replace(path=info.path[: -len("/info")] + "/tokenize").geturl()


def tokenize_body(texts: Sequence[str], *, add_special_tokens: bool = True) -> bytes:
    """The JSON body for ``texts`` (always a list, so the answer is always a list of lists)."""
    payload = {"inputs": list(texts), "add_special_tokens": add_special_tokens}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _token(raw: Any, url: str) -> Token:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), int):
        raise EndpointResponseError(f"malformed /tokenize response from {url}: token {str(raw)[:80]!r}", url=url)
    start, stop = raw.get("start"), raw.get("stop")
    special = bool(raw.get("special"))
    if not special and not (isinstance(start, int) and isinstance(stop, int) and 0 <= start <= stop):
        raise EndpointResponseError(f"malformed /tokenize response from {url}: token without offsets", url=url)
    return Token(raw["id"], str(raw.get("text", "")), special, start, stop)


def parse_tokens(body: bytes, *, expected: int, url: str = "<endpoint>") -> list[list[Token]]:
    """Parse a ``/tokenize`` answer: one token list per input.

    Raises:
        EndpointResponseError: Not JSON, not a list of ``expected`` token lists, or a token without offsets.
    """
    try:
        data = json.loads(body)
    except ValueError:
        raise EndpointResponseError(f"malformed /tokenize response from {url}: body is not JSON", url=url) from None
    if not isinstance(data, list) or len(data) != expected or not all(isinstance(row, list) for row in data):
        raise EndpointResponseError(
            f"malformed /tokenize response from {url}: expected {expected} token lists", url=url
        )
    return [[_token(raw, url) for raw in row] for row in data]


def char_offsets(text: str, tokens: Sequence[Token]) -> list[tuple[int, int]]:
    """The ``(start, stop)`` character offsets into ``text`` of its non-special tokens (TEI gives bytes)."""
    raw = text.encode("utf-8")
    if raw and len(raw) == len(text):  # ASCII: bytes are characters
        return [(t.start, t.stop) for t in tokens if not t.special and t.start is not None and t.stop is not None]
    # Character index of each byte offset (a byte inside a character maps to that character).
    char_at: list[int] = []
    for i, ch in enumerate(text):
        char_at.extend([i] * len(ch.encode("utf-8")))
    char_at.append(len(text))
    out: list[tuple[int, int]] = []
    for t in tokens:
        if t.special or t.start is None or t.stop is None:
            continue
        start = char_at[min(t.start, len(raw))]
        stop_byte = min(t.stop, len(raw))
        # The character of the token's last byte, plus one (a stop inside a character covers all of it).
        stop = char_at[stop_byte - 1] + 1 if stop_byte > 0 else 0
        out.append((start, max(start, stop)))
    return out
