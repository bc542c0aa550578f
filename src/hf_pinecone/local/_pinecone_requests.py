"""Pinecone's limits and the parsing and validation of request bodies for the local Pinecone server (pure).

Every function here either returns a clean value or raises :class:`~hf_pinecone.local._pinecone_http.ApiError`
with the body Pinecone answers for that input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from starlette.requests import Request

from hf_pinecone._pinecone import limits
from hf_pinecone.local._pinecone_filter import FilterError, Node, compile_filter
from hf_pinecone.local._pinecone_http import (
    RESOURCE_EXHAUSTED,
    ApiError,
    control_error,
    data_error,
    invalid,
)
from hf_pinecone.local._pinecone_storage import Metadata, Sparse

# The limits the client also obeys are defined once, in hf_pinecone._pinecone.limits (Pinecone's "Limits" page).
API_VERSION = limits.API_VERSION
MAX_UPSERT_RECORDS = limits.MAX_UPSERT_RECORDS
MAX_UPSERT_BYTES = 2 * 1024 * 1024  # the service's own cap; the client stays below 2,000,000 bytes
MAX_METADATA_BYTES = limits.MAX_METADATA_BYTES
MAX_ID_LENGTH = limits.MAX_ID_LENGTH
MAX_DIMENSION = limits.MAX_DIMENSION
MAX_TOP_K = limits.MAX_TOP_K
MAX_QUERY_RESULT_BYTES = 4 * 1024 * 1024
MAX_IDS_PER_REQUEST = 1000
# Sparse values: indices are uint32, values float32 (docs.pinecone.io/guides/data/upsert-sparse-dense-vectors,
# "The elements of indices have type uint32; the elements of values have type float32"); at most 1000 non-zero
# values per sparse vector and top_k at most 1000 on sparse indexes (docs.pinecone.io/guides/index-data/
# indexing-overview, "Limitations" of sparse indexes; www.pinecone.io/docs/limits: "Sparse vectors can contain no
# more than 1000 non-zero values", "Max dimensionality for sparse vectors is 4.2 billion").
MAX_SPARSE_VALUES = 1000
MAX_SPARSE_INDEX = 2**32 - 1
MAX_SPARSE_TOP_K = 1000
# Pinecone documents a default of 100 and no maximum; 1000 mirrors its fetch/delete cap.
MAX_LIST_LIMIT = 1000
# Bodies are read (and discarded) up to this size so the client gets an error body, not a reset connection.
MAX_BODY_BYTES = 64 * 1024 * 1024
METRICS = limits.METRICS
DEFAULT_NAMESPACE = limits.DEFAULT_NAMESPACE
INDEX_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,43}[a-z0-9])?$")
INDEX_NAME_MESSAGE = (
    "Resource name must consist of lower case alphanumeric characters or '-', start and end with an "
    "alphanumeric character, and be 1-45 characters long"
)


def loads(raw: bytes, *, control: bool) -> Any:
    """The JSON body (``{}`` when empty), or 400 in the plane's error shape."""
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except (orjson.JSONDecodeError, RecursionError) as exc:
        message = f"Failed to parse the request body as JSON: {exc}"
        raise (control_error(400, "INVALID_ARGUMENT", message) if control else invalid(message)) from None


async def read_body(request: Request, *, control: bool) -> bytes:
    """The raw body, read up to :data:`MAX_BODY_BYTES` (413 past it)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large(int(declared), control)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large(size, control)
        chunks.append(chunk)
    return b"".join(chunks)


def too_large(size: int, control: bool) -> ApiError:
    """413 for a body over :data:`MAX_BODY_BYTES`."""
    message = f"Request size {size} bytes exceeds the maximum supported size of {MAX_BODY_BYTES} bytes"
    if control:
        # RESOURCE_EXHAUSTED: one of the control plane's error codes (db_control/model/error_response_error.py).
        return control_error(413, "RESOURCE_EXHAUSTED", message)
    return data_error(413, RESOURCE_EXHAUSTED, message)


def namespace_name(namespace: str) -> str:
    """The stored name of a namespace: API 2025-04 names the default namespace ``"__default__"`` as well as "".

    Pinecone's reference for the namespace routes says "To target the default namespace, use ``__default__``"
    (docs.pinecone.io/reference/api/2025-04/data-plane/deletenamespace), and its data plane answers older API
    versions "Use of namespace='__default__' is not allowed in API versions prior to 2025-04" (quoted in
    neuron-core/neuron-ai#162), so from 2025-04 on both spellings address the same namespace.
    """
    return "" if namespace == DEFAULT_NAMESPACE else namespace


def namespace_of(body: Mapping[str, Any]) -> str:
    """The body's ``namespace`` ("" when absent, null or ``"__default__"``)."""
    namespace = body.get("namespace", "")
    if namespace is None:
        return ""
    if not isinstance(namespace, str):
        raise invalid("namespace must be a string")
    return namespace_name(namespace)


def as_object(body: Any, what: str) -> dict[str, Any]:
    """``body`` when it is a JSON object."""
    if not isinstance(body, dict):
        raise invalid(f"{what} request body must be a JSON object")
    return body


def record_id(value: Any) -> str:
    """A valid record id."""
    if not isinstance(value, str):
        raise invalid(f"Vector ID must be a string, got {type(value).__name__}")
    if not 1 <= len(value) <= MAX_ID_LENGTH:
        raise invalid(f"Vector ID must be between 1 and {MAX_ID_LENGTH} characters long, got {len(value)}")
    return value


def new_record_id(value: Any) -> str:
    """A valid id for a record being written: also ASCII and without NUL.

    pinecone-python-client ``tests/integration/data/test_weird_ids.py`` (v7.3.0): upserting any of
    ``seed.weird_invalid_ids()`` (non-ASCII: U+00A0, emoji, CJK, curly quotes...) fails with "Vector ID must be
    ASCII", and a NUL character fails with "Vector ID must not contain null character"; every other ASCII character
    (space, tab, newline, punctuation, backslashes: ``seed.weird_valid_ids()``) is a valid id.
    """
    rid = record_id(value)
    if not rid.isascii():
        raise invalid(f"Vector ID must be ASCII, got {rid[:64]!r}")
    if "\0" in rid:
        raise invalid("Vector ID must not contain null character")
    return rid


def check_numbers(values: Any, what: str) -> list[float]:
    """``values`` when it is a JSON array of numbers."""
    if not isinstance(values, list):
        raise invalid(f"{what} must be an array of numbers")
    kinds = set(map(type, values))
    if not kinds <= {float, int}:
        raise invalid(f"{what} must contain only numbers")
    return values


def dense_vector(
    values: Any, dimension: int, *, query: bool, metric: str, zero_message: str = ""
) -> npt.NDArray[np.float32]:
    """One dense vector of the index's dimension, finite, non-zero where Pinecone requires it."""
    numbers = check_numbers(values, "Query vector" if query else "Vector values")
    if len(numbers) != dimension:
        prefix = "Query vector" if query else "Vector"
        raise invalid(f"{prefix} dimension {len(numbers)} does not match the dimension of the index {dimension}")
    with np.errstate(over="ignore"):
        vector = np.asarray(numbers, dtype=np.float32)
    if not np.all(np.isfinite(vector)):
        raise invalid("Vector values must be finite 32-bit floats")
    if not query and not vector.any():
        raise invalid(f"Dense vectors must contain at least one non-zero value. {zero_message}")
    if query and metric == "cosine" and not vector.any():
        raise invalid("Query vector must contain at least one non-zero value for the cosine metric")
    return vector


def sparse_values(value: Any, what: str) -> Sparse:
    """``{"indices": [uint32], "values": [float32]}``: same lengths, indices in uint32, at most 1000 entries.

    The SDK checks the lengths before sending (pinecone/db_data/sparse_values_factory.py: "Sparse values indices
    and values must have the same length"); a raw client is answered 400 by the server, as the SDK suite expects
    of Pinecone for mismatched sparse values in dicts and objects (tests/integration/data/test_upsert_errors.py,
    TestUpsertFailsSparseValuesDimensionMismatch).
    """
    if not isinstance(value, dict):
        raise invalid(f"{what} must be an object with indices and values")
    indices, numbers = value.get("indices"), value.get("values")
    if not isinstance(indices, list) or not all(type(i) is int for i in indices):
        raise invalid(f"{what} indices must be an array of non-negative integers")
    numbers = check_numbers(numbers, f"{what} values")
    if len(indices) != len(numbers):
        raise invalid(
            f"{what} indices and values must have the same length, got {len(indices)} indices and {len(numbers)} values"
        )
    if len(indices) > MAX_SPARSE_VALUES:
        raise invalid(f"{what} has {len(indices)} non-zero values, which exceeds the limit of {MAX_SPARSE_VALUES}")
    if indices and (min(indices) < 0 or max(indices) > MAX_SPARSE_INDEX):
        raise invalid(f"{what} indices must be between 0 and {MAX_SPARSE_INDEX} (uint32)")
    # Repeated indices are accepted: the SDK suite seeds its sparse index with SparseValues(indices=[i, i * 2,
    # i * 3], ...) for i in range(1000), so id "0" carries indices [0, 0, 0], and it then lists that batch's other
    # ids back (tests/integration/data/test_list_sparse.py, seed_sparse_index). Scores sum repeated entries.
    array = np.asarray(indices, dtype=np.uint32)
    with np.errstate(over="ignore"):
        floats = np.asarray(numbers, dtype=np.float32)
    if not np.all(np.isfinite(floats)):
        raise invalid(f"{what} values must be finite 32-bit floats")
    return array, floats


def metadata(value: Any, rid: str) -> Metadata | None:
    """Clean metadata (numbers as float64, as Pinecone stores them) within 40 KB, or None when empty."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid(f"Metadata for vector {rid!r} must be an object")
    clean: Metadata = {}
    for key, item in value.items():
        if isinstance(item, (bool, str)):
            clean[key] = item
        elif isinstance(item, (int, float)):
            clean[key] = float(item)  # Pinecone stores every number as float64
        elif isinstance(item, list) and all(isinstance(element, str) for element in item):
            clean[key] = list(item)
        else:
            kind = "null" if item is None else ("list containing non-strings" if isinstance(item, list) else "object")
            raise invalid(
                f"Metadata value for field {key!r} of vector {rid!r} must be a string, number, "
                f"boolean or list of strings, got {kind}"
            )
    # Measured on the metadata as sent (compact JSON), the one size rule the client applies too
    # (hf_pinecone._pinecone.records.metadata_size); converting ints to floats first would count bytes the
    # client never sent.
    size = len(orjson.dumps(value))
    if size > MAX_METADATA_BYTES:
        raise invalid(
            f"Metadata size is {size} bytes, which exceeds the limit of {MAX_METADATA_BYTES} bytes per vector"
        )
    return clean or None


def filter_of(body: Mapping[str, Any]) -> Node | None:
    """The body's compiled ``filter`` (None when absent or empty)."""
    spec = body.get("filter")
    if spec is None:
        return None
    if isinstance(spec, dict) and not spec:
        return None
    try:
        return compile_filter(spec)
    except FilterError as exc:
        raise invalid(f"Invalid filter: {exc}") from None


def flag(body: Mapping[str, Any], key: str) -> bool:
    """A boolean field (False when absent or null)."""
    value = body.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise invalid(f"{key} must be a boolean")
    return value


def id_list(value: Any, *, what: str) -> list[str]:
    """A list of at most :data:`MAX_IDS_PER_REQUEST` valid ids."""
    if not isinstance(value, list):
        raise invalid(f"{what} must be an array of strings")
    if len(value) > MAX_IDS_PER_REQUEST:
        raise invalid(f"Cannot {what.split()[0]} more than {MAX_IDS_PER_REQUEST} ids per request, got {len(value)}")
    return [record_id(item) for item in value]
