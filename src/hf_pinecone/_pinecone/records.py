"""Pure record planning for Pinecone: the one metadata rule, id rule, vector checks and upsert batches.

Shared by :class:`hf_pinecone.store.PineconeStore` and ingestion, so a record is accepted or refused the same
way whichever path it takes. No I/O.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import numpy as np
import orjson

from hf_pinecone._pinecone.limits import (
    MAX_FETCH_IDS,
    MAX_FETCH_QUERY_BYTES,
    MAX_ID_LENGTH,
    MAX_METADATA_BYTES,
    MAX_REQUEST_BYTES,
    MAX_UPSERT_RECORDS,
)
from hf_pinecone._pinecone.sparse import SparseVector, check_sparse
from hf_pinecone.encoded import EncodedVector
from hf_pinecone.errors import IndexMismatchError, InvalidRecordError, MetadataTooLargeError

__all__ = [
    "UpsertRecord",
    "check_id",
    "check_metadata_types",
    "dedupe_last_wins",
    "id_problem",
    "metadata_problem",
    "metadata_size",
    "normalize_metadata_value",
    "plan_fetch_chunks",
    "plan_upsert_batches",
    "prepare_metadata",
    "prepare_records",
    "sparse_only_records",
    "with_sparse",
]

logger = logging.getLogger("hf_pinecone.store")

_ENVELOPE_BYTES = 64  # '{"vectors": [], "namespace": ""}' plus slack; the namespace is added separately.


def metadata_size(metadata: dict[str, Any]) -> int:
    """Size of ``metadata`` as Pinecone measures it: bytes of its compact UTF-8 JSON.

    The one size rule of the library: the store and ingestion both call it (and the local Pinecone server sizes
    what it receives the same way), so a record of exactly
    :data:`~hf_pinecone._pinecone.limits.MAX_METADATA_BYTES` bytes is accepted by all and one byte more by none.
    """
    return len(_dumps(metadata))


def normalize_metadata_value(name: str, value: Any) -> tuple[bool, Any, str | None]:
    """Normalise one source value to Pinecone's metadata types: ``(keep, value, reason_if_rejected)``.

    Used for values read from datasets and files: ``None`` is left out (Pinecone has no null), numpy scalars
    become Python numbers, tuples of strings become lists. Anything else Pinecone cannot store is rejected
    with a reason.
    """
    if value is None:
        return False, None, None
    if isinstance(value, (bool, str, int)):
        return True, value, None
    if isinstance(value, float):
        if math.isfinite(value):
            return True, value, None
        return False, None, f"metadata field {name!r} is {value!r}; Pinecone accepts only finite numbers"
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return True, list(value), None
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, (list, tuple, dict)):  # numpy scalars
        try:
            return normalize_metadata_value(name, item())
        except (TypeError, ValueError):
            pass
    return False, None, _type_problem(name, value)


def _type_problem(key: str, value: Any) -> str:
    if isinstance(value, float):
        return f"metadata {key!r} is {value!r}; Pinecone numbers must be finite"
    if isinstance(value, (list, tuple)):
        return f"metadata {key!r} is a list with non-string items; Pinecone lists must contain only strings"
    if isinstance(value, dict):
        return (
            f"metadata {key!r} is a nested object; Pinecone metadata is flat (flatten it or serialize it to a string)"
        )
    return (
        f"metadata {key!r} has type {type(value).__name__}; "
        "Pinecone accepts strings, numbers, booleans and lists of strings"
    )


def metadata_problem(metadata: dict[str, Any], *, limit: int = MAX_METADATA_BYTES) -> str | None:
    """Why Pinecone would refuse ``metadata`` (types or size), or ``None``: the check ingestion uses."""
    for key, value in metadata.items():
        if not isinstance(key, str):
            return f"metadata key {key!r} is not a string"
        if not _valid_value(value):
            return _type_problem(key, value) if value is not None else f"metadata {key!r} is null"
    size = metadata_size(metadata)
    if size > limit:
        return f"metadata (including the text) is {size} bytes, over Pinecone's limit of {limit} bytes per record"
    return None


def _valid_value(value: Any) -> bool:
    if isinstance(value, (str, bool, int)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(isinstance(item, str) for item in value)
    return False


def check_metadata_types(record_id: str, metadata: dict[str, Any]) -> None:
    """Raise :class:`InvalidRecordError` naming the first metadata value Pinecone cannot store."""
    for key, value in metadata.items():
        if not isinstance(key, str):
            raise InvalidRecordError(
                f"record {record_id!r}: metadata key {key!r} is not a string",
                record_id=record_id,
                field=str(key),
            )
        if isinstance(value, (str, bool, int)):
            continue
        if isinstance(value, float):
            if math.isfinite(value):
                continue
            problem = f"is {value!r}; Pinecone numbers must be finite"
        elif value is None:
            problem = "is null; Pinecone does not store null values (drop the key or use a sentinel string)"
        elif isinstance(value, (list, tuple)):
            if all(isinstance(item, str) for item in value):
                continue
            problem = "is a list with non-string items; Pinecone lists must contain only strings"
        elif isinstance(value, dict):
            problem = "is a nested object; Pinecone metadata is flat (flatten it or serialize it to a string)"
        else:
            problem = (
                f"has type {type(value).__name__}; Pinecone accepts strings, numbers, booleans and lists of strings"
            )
        raise InvalidRecordError(f"record {record_id!r}: metadata {key!r} {problem}", record_id=record_id, field=key)


def id_problem(record_id: object) -> str | None:
    """Why Pinecone would refuse ``record_id``, or ``None``.

    Pinecone ids are strings of 1-512 characters, ASCII only and without NUL (its API answers 400 "Vector ID
    must be ASCII" / "Vector ID must not contain null character").
    """
    if not isinstance(record_id, str):
        return f"record id {record_id!r} is not a string"
    shown = record_id if len(record_id) <= 60 else record_id[:60] + "..."
    if not 1 <= len(record_id) <= MAX_ID_LENGTH:
        return f"record id {shown!r} has {len(record_id)} characters; Pinecone ids have 1-{MAX_ID_LENGTH}"
    if not record_id.isascii():
        return f"record id {shown!r} is not ASCII; Pinecone ids must be ASCII"
    if "\x00" in record_id:
        return f"record id {shown!r} contains a NUL character; Pinecone ids must not"
    return None


def check_id(record_id: object) -> str:
    """Return ``record_id`` if Pinecone accepts it, else raise :class:`InvalidRecordError`."""
    problem = id_problem(record_id)
    if problem is not None:
        bad = record_id if isinstance(record_id, str) and record_id else None
        raise InvalidRecordError(problem, record_id=bad, field="id")
    assert isinstance(record_id, str)
    return record_id


def _truncate_text_to_fit(
    record_id: str, metadata: dict[str, Any], text_key: str, size: int, limit: int
) -> dict[str, Any]:
    text = metadata.get(text_key)
    without_text = {**metadata, text_key: ""}
    if not isinstance(text, str) or metadata_size(without_text) > limit:
        raise MetadataTooLargeError(
            f"record {record_id!r}: metadata is {size} bytes, over Pinecone's {limit}-byte limit, "
            f"even without the {text_key!r} text; nothing was written",
            record_id=record_id,
            size=size,
        )
    lo, hi = 0, len(text)  # invariant: text[:lo] fits, text[:hi + 1] does not (hi = len(text) does not fit)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if metadata_size({**metadata, text_key: text[:mid]}) <= limit:
            lo = mid
        else:
            hi = mid - 1
    logger.warning(
        "record %r: text truncated from %d to %d characters to fit Pinecone's %d-byte metadata limit",
        record_id,
        len(text),
        lo,
        limit,
    )
    return {**metadata, text_key: text[:lo]}


def prepare_metadata(
    record_id: str,
    metadata: dict[str, Any] | None,
    *,
    text: str | None = None,
    text_key: str = "text",
    truncate_text: bool = False,
    limit: int = MAX_METADATA_BYTES,
) -> dict[str, Any]:
    """Return the metadata to store for one record, as a new dict (the caller's dict is never changed).

    Args:
        record_id: The record's id (named in errors).
        metadata: The caller's metadata, or ``None``.
        text: The record's text, stored under ``text_key`` when given.
        text_key: Metadata key that holds the text.
        truncate_text: Shorten the stored text until the metadata fits instead of raising.
        limit: Metadata size limit in bytes.

    Returns:
        A fresh dict, ready to send.

    Raises:
        InvalidRecordError: A value Pinecone cannot store (null, nested object, non-finite number, ...).
        MetadataTooLargeError: The metadata is over ``limit`` bytes (and cannot be truncated to fit).
    """
    stored = dict(metadata) if metadata else {}
    if text is not None:
        stored[text_key] = text
    check_metadata_types(record_id, stored)
    size = metadata_size(stored)
    if size <= limit:
        return stored
    if truncate_text:
        return _truncate_text_to_fit(record_id, stored, text_key, size, limit)
    raise MetadataTooLargeError(
        f"record {record_id!r}: metadata is {size} bytes, over Pinecone's {limit}-byte limit per record; "
        "nothing was written (pass truncate_text=True to store a shortened text instead)",
        record_id=record_id,
        size=size,
    )


@dataclass(frozen=True)
class UpsertRecord:
    """One validated record, serialized once, ready to send.

    Attributes:
        id: Record id.
        values: Dense vector as given (a list of floats or a numpy row).
        metadata: Metadata to store (possibly empty).
        size: Bytes this record adds to an upsert request body (exactly ``len(fragment)`` plus the comma).
        fragment: The record's JSON, as it goes into the upsert body (serialized once, never again).
        sparse_values: Pinecone sparse values ``{"indices", "values"}`` written with the dense ones (a
            sparse-dense record), or alone (``values`` empty: a record of a sparse index).
    """

    id: str
    values: Sequence[float]
    metadata: dict[str, Any]
    size: int
    fragment: bytes = b""
    sparse_values: SparseVector | None = None

    def to_request(self) -> dict[str, Any]:
        """The record as Pinecone's upsert takes it (``sparseValues`` per the 2025-04 API reference)."""
        values = self.values.tolist() if isinstance(self.values, np.ndarray) else list(self.values)
        body: dict[str, Any] = {"id": self.id}
        if values or self.sparse_values is None:
            body["values"] = values
        if self.sparse_values is not None:
            body["sparseValues"] = self.sparse_values
        if self.metadata:
            body["metadata"] = self.metadata
        return body


# A serialized values array may hold only these bytes: anything else is a NaN/inf (orjson writes null), a bool,
# a string or a nested list, all of which Pinecone refuses.
_NUMBER_BYTES = b"0123456789.,-+eE"


def _dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)
    except TypeError:  # e.g. an int beyond 64 bits in metadata: let json write it and Pinecone judge it
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _values_json(values: Any) -> bytes | None:
    """The vector as a JSON array, or ``None`` when it is not a flat array of finite numbers."""
    if isinstance(values, np.ndarray):
        if values.ndim != 1 or values.dtype.kind not in "fiu":
            return None
        if values.dtype.kind == "f" and values.dtype.itemsize not in (4, 8):
            values = values.astype(np.float64)
        values = np.ascontiguousarray(values)
    try:
        encoded = orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)
    except TypeError:  # numpy scalars or other number types inside a list
        try:
            encoded = orjson.dumps(np.asarray(values, dtype=np.float64).tolist())
        except (TypeError, ValueError):
            return None
    if len(encoded) < 3 or encoded[0:1] != b"[" or encoded[-1:] != b"]":
        return None
    if encoded[1:-1].translate(None, _NUMBER_BYTES):
        return None
    return encoded


def _is_zero(values: Any) -> bool:
    if isinstance(values, np.ndarray):
        return not bool(values.any())
    return not any(values)  # stops at the first non-zero value: O(1) for real embeddings


def with_sparse(
    records: Sequence[UpsertRecord], sparse: Sequence[SparseVector | None], *, sparse_index: bool = False
) -> list[UpsertRecord]:
    """``records`` with their (validated) sparse values, sized for upsert planning.

    An empty sparse vector is left out of a sparse-dense record (the record stays dense-only); a record of a
    sparse index needs one.

    Raises:
        InvalidSparseVectorError: Sparse values Pinecone would refuse (see :func:`check_sparse`).
        ValueError: ``records`` and ``sparse`` have different lengths.
    """
    if len(records) != len(sparse):
        raise ValueError(f"got {len(records)} records and {len(sparse)} sparse vectors")
    out: list[UpsertRecord] = []
    for record, vector in zip(records, sparse, strict=True):
        if vector is None:
            if sparse_index:
                check_sparse({"indices": [], "values": []}, record_id=record.id, allow_empty=False)
            out.append(record)
            continue
        clean = check_sparse(vector, record_id=record.id, allow_empty=not sparse_index)
        if not clean["indices"] and not sparse_index:
            out.append(record)
            continue
        # The record's JSON, serialized once, gains the sparse values before its closing brace.
        fragment = record.fragment[:-1] + b',"sparseValues":' + _dumps(clean) + b"}"
        out.append(dataclasses.replace(record, sparse_values=clean, fragment=fragment, size=len(fragment) + 1))
    return out


def sparse_only_records(
    ids: Sequence[str], sparse: Sequence[SparseVector | None], metadatas: Sequence[dict[str, Any]]
) -> list[UpsertRecord]:
    """Records of a sparse index: sparse values and metadata, no dense values."""
    if not (len(ids) == len(sparse) == len(metadatas)):
        raise ValueError(f"got {len(ids)} ids, {len(sparse)} sparse vectors and {len(metadatas)} metadata dicts")
    base = []
    for record_id, metadata in zip(ids, metadatas, strict=True):
        parts = [b'{"id":', _dumps(record_id)]
        if metadata:
            parts += [b',"metadata":', _dumps(metadata)]
        fragment = b"".join([*parts, b"}"])
        base.append(UpsertRecord(record_id, [], metadata, len(fragment) + 1, fragment))
    return with_sparse(base, sparse, sparse_index=True)


def prepare_records(
    ids: Sequence[str],
    vectors: Sequence[Sequence[float]] | np.ndarray,
    metadatas: Sequence[dict[str, Any]],
    *,
    dimension: int | None = None,
) -> list[UpsertRecord]:
    """Validate vectors and build records (metadata must already come from :func:`prepare_metadata`).

    Each record is serialized exactly once (orjson, C speed; numpy rows without a Python float list), and that
    JSON is both what is measured against the request limits and what is sent. Vectors must be finite, not all
    zero, and of one dimension (``dimension`` when given).

    Raises:
        InvalidRecordError: A vector Pinecone would reject.
        IndexMismatchError: The vectors' dimension differs from ``dimension``.
        ValueError: ``ids``, ``vectors`` and ``metadatas`` have different lengths.
    """
    if not (len(ids) == len(vectors) == len(metadatas)):
        raise ValueError(f"got {len(ids)} ids, {len(vectors)} vectors and {len(metadatas)} metadata dicts")
    if not ids:
        return []
    rows: Any = vectors
    if isinstance(vectors, np.ndarray) and vectors.ndim != 2:
        raise InvalidRecordError(
            f"expected a batch of non-empty vectors, got shape {vectors.shape}", record_id=None, field="values"
        )
    expected = dimension
    first = len(rows[0])
    records: list[UpsertRecord] = []
    for record_id, values, metadata in zip(ids, rows, metadatas, strict=True):
        length = len(values)
        if length != first:
            lengths = sorted({len(v) for v in rows})
            raise InvalidRecordError(
                f"vectors have different dimensions {lengths}; one call must use one embedding model",
                record_id=None,
                field="values",
            )
        if length == 0:
            raise InvalidRecordError(
                "expected a batch of non-empty vectors, got an empty one", record_id=None, field="values"
            )
        if expected is not None and length != expected:
            raise IndexMismatchError(
                f"the vectors have dimension {length} but the index has dimension {expected}; nothing was written"
            )
        if type(values) is EncodedVector:  # the endpoint's own JSON text, checked when it was split
            encoded: bytes | None = values.json
            zero = values.is_zero()
        else:
            encoded = _values_json(values)
            zero = encoded is not None and _is_zero(values)
        if encoded is None:
            raise InvalidRecordError(
                f"record {record_id!r}: vector contains NaN or infinity, or a value that is not a number",
                record_id=record_id,
                field="values",
            )
        if zero:
            raise InvalidRecordError(
                f"record {record_id!r}: vector is all zeros (Pinecone needs a non-zero value)",
                record_id=record_id,
                field="values",
            )
        parts = [b'{"id":', _dumps(record_id), b',"values":', encoded]
        if metadata:
            parts += [b',"metadata":', _dumps(metadata)]
        parts.append(b"}")
        fragment = b"".join(parts)
        records.append(UpsertRecord(record_id, values, metadata, len(fragment) + 1, fragment))  # +1: the comma
    return records


def check_dimension(index_dimension: int | None, vector_dimension: int, where: str) -> None:
    """Raise :class:`IndexMismatchError` when the vectors' dimension is not the index's."""
    if index_dimension is not None and index_dimension != vector_dimension:
        raise IndexMismatchError(
            f"index {where} has dimension {index_dimension} but the embeddings produce vectors of dimension "
            f"{vector_dimension}; nothing was written"
        )


def dedupe_last_wins(records: Iterable[UpsertRecord]) -> list[UpsertRecord]:
    """Keep the last record of each id, in first-seen order.

    Several records with one id in a call are an overwrite; resolving it here keeps the result deterministic
    when batches are sent concurrently.
    """
    latest: dict[str, UpsertRecord] = {}
    for record in records:
        latest[record.id] = record
    return list(latest.values())


def plan_upsert_batches(
    records: Sequence[UpsertRecord],
    *,
    namespace: str | None = None,
    max_records: int = MAX_UPSERT_RECORDS,
    max_bytes: int = MAX_REQUEST_BYTES,
) -> list[list[UpsertRecord]]:
    """Split records into upsert requests of at most ``max_records`` records and strictly under ``max_bytes``.

    Raises:
        InvalidRecordError: One record alone does not fit in a request.
    """
    if not 1 <= max_records <= MAX_UPSERT_RECORDS:
        raise ValueError(f"max_records must be 1-{MAX_UPSERT_RECORDS}, got {max_records}")
    envelope = _ENVELOPE_BYTES + len(json.dumps(namespace or ""))
    batches: list[list[UpsertRecord]] = []
    current: list[UpsertRecord] = []
    current_bytes = envelope
    for record in records:
        if envelope + record.size >= max_bytes:
            raise InvalidRecordError(
                f"record {record.id!r} serializes to {record.size} bytes, too large for one "
                f"{max_bytes}-byte upsert request",
                record_id=record.id,
                field="values",
            )
        if current and (len(current) >= max_records or current_bytes + record.size >= max_bytes):
            batches.append(current)
            current, current_bytes = [], envelope
        current.append(record)
        current_bytes += record.size
    if current:
        batches.append(current)
    return batches


def plan_fetch_chunks(
    ids: Sequence[str], *, max_ids: int = MAX_FETCH_IDS, max_query_bytes: int = MAX_FETCH_QUERY_BYTES
) -> list[list[str]]:
    """Split ids (deduplicated, order kept) into fetch requests of <= ``max_ids`` ids and a bounded URL."""
    chunks: list[list[str]] = []
    current: list[str] = []
    current_bytes = 0
    for record_id in dict.fromkeys(ids):
        cost = len("ids=&") + len(quote(record_id, safe=""))
        if current and (len(current) >= max_ids or current_bytes + cost > max_query_bytes):
            chunks.append(current)
            current, current_bytes = [], 0
        current.append(record_id)
        current_bytes += cost
    if current:
        chunks.append(current)
    return chunks
