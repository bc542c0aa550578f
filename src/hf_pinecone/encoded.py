"""Embeddings kept as the JSON text the endpoint sent, so that ingestion never re-serializes floats.

Ingesting a record costs the client two conversions per float: decoding the endpoint's answer into Python floats
(``orjson.loads``, ~15 us per 384-d vector) and encoding them again into the upsert body (~10 us), plus the
checks in between. Both exist only to copy numbers from one JSON body into another. :func:`split_embeddings` cuts
the answer's bytes into one JSON array per text with C-speed bytes operations (~2 us per vector) and checks what
Pinecone needs (finite numbers, one dimension); an :class:`EncodedVector` carries that text to the upsert body
unchanged, digit for digit, so the stored values are exactly those the endpoint computed.

Any answer that is not a plain 2-D array of numbers (another shape, ``NaN``/``null``, a cut-off body, strings)
is left to the decoding path (:func:`hf_pinecone._protocol.parse_embeddings`), which names the problem: this
module only ever makes the common case cheaper, never a different one.

An :class:`EncodedVector` is a read-only ``Sequence[float]``: code that indexes, iterates, compares or converts it
with numpy gets the floats (decoded once, on first use).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from typing import Any, overload

import orjson

__all__ = ["EncodedVector", "split_embeddings"]

# TEI answers ``[[...],[...]]`` (router/src/http/server.rs ``embed``: ``Json(EmbedResponse(Vec<Vec<f32>>))``,
# serde_json: no whitespace); the inference toolkit answers ``{"embeddings": [[...], ...]}`` (Python json:
# ", " separators). Only these two shapes are split; everything else is decoded.
_BARE = re.compile(rb"\s*\[\s*\[(.*)\]\s*\]\s*", re.DOTALL)
_TOOLKIT = re.compile(rb'\s*\{\s*"embeddings"\s*:\s*\[\s*\[(.*)\]\s*\]\s*\}\s*', re.DOTALL)
_WHITESPACE = b" \t\r\n"
_WHITESPACE_CHARS = (b" ", b"\n", b"\t", b"\r")
_NOT_IN_NUMBER_ROWS = (b'"', b"a", b"u", b"I", b"{", b":")
_COMMA = ord(",")
_ZERO_BYTES = b"0.,-+"


class EncodedVector(Sequence[float]):
    """One embedding as a JSON array of numbers (``b"[0.1,-0.2,...]"``), exactly as the endpoint wrote it.

    Built by :func:`split_embeddings`; the upsert path writes :attr:`json` into the request body as is. Reading it
    as floats (indexing, iterating, ``==``, ``numpy.asarray``) decodes it once.
    """

    __slots__ = ("_floats", "dimension", "json")

    def __init__(self, json: bytes, dimension: int) -> None:
        self.json = json
        """The JSON array, brackets included."""
        self.dimension = dimension
        """The number of values."""
        self._floats: list[float] | None = None

    def tolist(self) -> list[float]:
        """The values as Python floats (decoded on first call, then kept)."""
        if self._floats is None:
            self._floats = [float(x) for x in orjson.loads(self.json)]
        return self._floats

    def is_zero(self) -> bool:
        """Whether every value is zero (Pinecone refuses such a vector), without decoding in the common case."""
        # A number whose mantissa has a non-zero digit is non-zero whatever its exponent, and a real embedding
        # has one among its first values (even a cut-off prefix of a number shows it). Otherwise decode.
        for number in self.json[1 : min(160, len(self.json) - 1)].split(b",", 8):
            if number.lower().partition(b"e")[0].strip(_ZERO_BYTES):
                return False
        return not any(self.tolist())

    def __len__(self) -> int:
        return self.dimension

    @overload
    def __getitem__(self, index: int) -> float: ...

    @overload
    def __getitem__(self, index: slice) -> list[float]: ...

    def __getitem__(self, index: int | slice) -> float | list[float]:
        return self.tolist()[index]

    def __iter__(self) -> Iterator[float]:
        return iter(self.tolist())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EncodedVector):
            return self.tolist() == other.tolist()
        if isinstance(other, Sequence) and not isinstance(other, (str, bytes)):
            return self.tolist() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # compares like a list, so unhashable like one

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        import numpy as np

        return np.asarray(self.tolist(), dtype=dtype)

    def __repr__(self) -> str:
        head = self.json[:40].decode("ascii", "replace")
        return f"EncodedVector(dimension={self.dimension}, json={head}{'...' if len(self.json) > 40 else ''})"


def split_embeddings(body: bytes | bytearray, expected: int) -> list[EncodedVector] | None:
    """Cut an endpoint's answer into ``expected`` encoded vectors, or ``None`` to let the decoder judge it.

    Returns vectors only when the answer is TEI's bare 2-D array or the toolkit's ``{"embeddings": 2-D}``, with
    exactly ``expected`` rows of plain JSON numbers, all of one non-zero dimension. Anything else (other shapes,
    ``NaN``/``Infinity``/``null``, booleans, strings, objects, nested or ragged rows, a cut-off body) returns
    ``None``.

    The answer is a 2xx JSON body, so only what valid JSON may hold needs ruling out, and each test is one C
    pass (``memchr`` or a numpy comparison) instead of a decode: ~2 us per 384-d vector against ~25 us for
    decoding the floats and encoding them again.
    """
    if expected < 1:
        return None
    match = _BARE.fullmatch(body) or _TOOLKIT.fullmatch(body)
    if match is None:
        return None
    # "[row],[row],...,[row]": the rows with their own brackets, as they go into the upsert body.
    rows = bytes(body[match.start(1) - 1 : match.end(1) + 1])
    if any(ch in rows for ch in _WHITESPACE_CHARS):
        rows = rows.translate(None, _WHITESPACE)  # the toolkit's ", " (a string would fail below anyway)
    # Outside strings, JSON holds only numbers, structure and the literals true/false/null (and Python's
    # NaN/Infinity): '"' rules out strings, "a"/"u"/"I" the literals, "{"/":" objects.
    if any(ch in rows for ch in _NOT_IN_NUMBER_ROWS):
        return None
    # Row boundaries: exactly expected - 1 "],[" separators. With balanced brackets (valid JSON) no other "]"
    # means no nested array.
    bounds = [0]
    end = rows.find(b"]")
    while end != -1 and len(bounds) <= expected:
        if rows[end + 1 : end + 3] != b",[":
            if end != len(rows) - 1:
                return None
            break
        bounds.append(end + 2)
        end = rows.find(b"]", end + 2)
    if len(bounds) != expected or end != len(rows) - 1:
        return None
    first_end = bounds[1] - 2 if expected > 1 else len(rows)  # the first row's "]"
    bounds.append(len(rows) + 1)
    dimension = rows.count(b",", 0, first_end) + 1
    # Every row of the first one's dimension: commas = rows x (dimension - 1) + the separators. (A ragged answer
    # whose counts happen to balance would reach Pinecone, which refuses a vector of the wrong dimension.)
    import numpy as np  # here, not at import: the endpoint client alone does not need numpy

    commas = int(np.count_nonzero(np.frombuffer(rows, dtype=np.uint8) == _COMMA))
    if commas != expected * (dimension - 1) + expected - 1:
        return None
    vectors = []
    for start, stop in itertools.pairwise(bounds):
        if stop - start < 4:  # "[]" (valid JSON, no vector); ",," and the like are not JSON at all
            return None
        vectors.append(EncodedVector(rows[start : stop - 1], dimension))
    return vectors
