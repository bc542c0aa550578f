"""Sparse vectors in Pinecone's format, pure: validation, the non-zero cap, and hybrid (alpha) weighting.

A sparse vector is Pinecone's ``{"indices": [uint32], "values": [float]}`` (API 2025-04: ``sparseValues`` on
upsert records, ``sparseVector`` on queries; https://docs.pinecone.io/reference/api/2025-04/data-plane/upsert).
Limits: at most 1,000 non-zero values per vector and indices below 2**32 ("Sparse vectors can contain no more
than 1000 non-zero values", https://docs.pinecone.io/reference/api/database-limits).

Pinecone itself sums repeated indices; this library refuses them, as it refuses indices and values of
different lengths and negative indices, with :class:`~hf_pinecone.errors.InvalidSparseVectorError` before
anything is sent: a repeated index is always a bug in the encoder or in the caller's code.

Hybrid weighting is Pinecone's documented convex combination, applied on the client: the dense query vector
times ``alpha`` and the sparse one times ``1 - alpha``, then one query on a dotproduct index, whose score is
the dense plus the sparse dot product (https://docs.pinecone.io/guides/search/hybrid-search, "hybrid_score_norm").
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from hf_pinecone.errors import ConfigurationError, InvalidSparseVectorError

__all__ = [
    "MAX_SPARSE_INDEX",
    "MAX_SPARSE_VALUES",
    "SparseVector",
    "check_alpha",
    "check_sparse",
    "hybrid_scale",
    "is_empty",
    "scale_sparse",
    "top_terms",
]

MAX_SPARSE_VALUES = 1000
"""Non-zero values per sparse vector (Pinecone's limit)."""
MAX_SPARSE_INDEX = 2**32 - 1
"""Largest sparse index (uint32)."""


class SparseVector(TypedDict):
    """Pinecone's sparse vector: parallel lists of term indices and their weights."""

    indices: list[int]
    values: list[float]


def _problem(message: str, record_id: str | None) -> InvalidSparseVectorError:
    where = f"record {record_id!r}: " if record_id is not None else ""
    return InvalidSparseVectorError(where + message, record_id=record_id, field="sparse_values")


def check_sparse(value: Any, *, record_id: str | None = None, allow_empty: bool = True) -> SparseVector:
    """Validate a sparse vector and return it as a fresh :class:`SparseVector` of Python ints and floats.

    Accepts a mapping with ``indices`` and ``values`` (Pinecone's and pinecone-text's shape) or an object with
    those attributes (the SDK's ``SparseValues``).

    Args:
        value: The sparse vector.
        record_id: The record it belongs to (named in the error), ``None`` for a query.
        allow_empty: Whether a vector with no non-zero value is acceptable (a sparse index refuses it).

    Raises:
        InvalidSparseVectorError: Not indices and values of one length; an index that is not an integer in
            0..2**32-1 or is repeated; a value that is not a finite number; more than 1,000 entries; empty
            when ``allow_empty`` is false.
    """
    if isinstance(value, Mapping):
        indices, values = value.get("indices"), value.get("values")
    else:
        indices, values = getattr(value, "indices", None), getattr(value, "values", None)
    if indices is None or values is None or isinstance(indices, (str, bytes)) or isinstance(values, (str, bytes)):
        raise _problem(
            f"sparse values must be {{'indices': [...], 'values': [...]}}, got {type(value).__name__}", record_id
        )
    indices, values = list(indices), list(values)
    if len(indices) != len(values):
        raise _problem(
            f"sparse values have {len(indices)} indices but {len(values)} values; they must have the same length",
            record_id,
        )
    if len(indices) > MAX_SPARSE_VALUES:
        raise _problem(
            f"sparse values have {len(indices)} non-zero entries, over Pinecone's limit of {MAX_SPARSE_VALUES} "
            "(cap them, e.g. InferenceEndpointSparseEmbeddings(max_terms=...))",
            record_id,
        )
    if not indices and not allow_empty:
        raise _problem("sparse values are empty; a sparse index needs at least one non-zero value", record_id)
    clean_indices: list[int] = []
    for i in indices:
        if isinstance(i, bool) or not isinstance(i, int):
            item = getattr(i, "item", None)  # numpy integers
            i = item() if callable(item) else i
        if isinstance(i, bool) or not isinstance(i, int):
            raise _problem(f"sparse index {i!r} is not an integer", record_id)
        if not 0 <= i <= MAX_SPARSE_INDEX:
            raise _problem(
                f"sparse index {i} is out of range; indices are integers from 0 to {MAX_SPARSE_INDEX}", record_id
            )
        clean_indices.append(i)
    if len(set(clean_indices)) != len(clean_indices):
        seen: set[int] = set()
        repeated = next(i for i in clean_indices if i in seen or seen.add(i))  # type: ignore[func-returns-value]
        raise _problem(f"sparse index {repeated} is repeated; each index may appear once (sum its values)", record_id)
    clean_values: list[float] = []
    for v in values:
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise _problem(f"sparse value {v!r} is not a number", record_id) from None
        if isinstance(v, bool) or not math.isfinite(f):
            raise _problem(f"sparse value {v!r} is not a finite number", record_id)
        clean_values.append(f)
    return {"indices": clean_indices, "values": clean_values}


def is_empty(vector: SparseVector | None) -> bool:
    """Whether ``vector`` is ``None`` or has no entries."""
    return vector is None or not vector["indices"]


def top_terms(vector: SparseVector, max_terms: int | None) -> SparseVector:
    """Keep the ``max_terms`` entries of largest value (ties: lower index first), in index order.

    ``None`` (or a cap at or above the vector's size) returns ``vector`` unchanged.
    """
    if max_terms is None or len(vector["indices"]) <= max_terms:
        return vector
    pairs = zip(vector["indices"], vector["values"], strict=True)
    kept = heapq.nsmallest(max_terms, pairs, key=lambda p: (-p[1], p[0]))
    kept.sort()
    return {"indices": [i for i, _ in kept], "values": [v for _, v in kept]}


def scale_sparse(vector: SparseVector, factor: float) -> SparseVector:
    """``vector`` with every value multiplied by ``factor`` (a new vector)."""
    return {"indices": list(vector["indices"]), "values": [v * factor for v in vector["values"]]}


def check_alpha(alpha: Any) -> float:
    """``alpha`` as a float in [0, 1], else :class:`~hf_pinecone.errors.ConfigurationError`."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= float(alpha) <= 1.0:
        raise ConfigurationError(
            f"alpha must be a number from 0 (sparse only) to 1 (dense only), got {alpha!r}"
        )
    return float(alpha)


def hybrid_scale(
    dense: Sequence[float], sparse: SparseVector, alpha: float
) -> tuple[list[float], SparseVector]:
    """Pinecone's ``hybrid_score_norm``: ``dense * alpha`` and ``sparse * (1 - alpha)``.

    Raises:
        ConfigurationError: ``alpha`` is not in [0, 1].
    """
    alpha = check_alpha(alpha)
    return [float(v) * alpha for v in dense], scale_sparse(sparse, 1.0 - alpha)
