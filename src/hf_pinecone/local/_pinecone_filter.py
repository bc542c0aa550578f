"""Pinecone's metadata filter language, compiled once and evaluated column-wise with numpy.

A filter is validated and compiled into a tree of :class:`Node` objects. Evaluation works on
:class:`Columns`, a per-namespace column view of the metadata built lazily per field (and rebuilt only
after the namespace changes), so a filter over 500k records costs a few numpy operations per clause
instead of one Python call per record.

Semantics (Pinecone's documented ones):

- ``{"f": v}`` is ``{"f": {"$eq": v}}``; several keys in one object are an implicit ``$and``.
- ``$eq`` / ``$ne`` take a string, number or boolean; ``$gt`` / ``$gte`` / ``$lt`` / ``$lte`` a number;
  ``$in`` / ``$nin`` a non-empty array of those; ``$exists`` a boolean; ``$and`` / ``$or`` an array of
  filters.
- A field holding a list of strings matches ``$eq`` / ``$in`` when ANY element matches.
- ``$ne`` and ``$nin`` are the negation of ``$eq`` / ``$in``: records without the field match them.
- Numbers compare as float64; booleans are not numbers (``true`` never equals ``1``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

BoolArray = npt.NDArray[np.bool_]

MAX_FILTER_DEPTH = 16
MAX_FILTER_NODES = 10_000

_COMPARISONS = ("$gt", "$gte", "$lt", "$lte")
_OPERATORS = frozenset({"$eq", "$ne", "$in", "$nin", "$exists", *_COMPARISONS})


class FilterError(ValueError):
    """The filter is malformed or uses an unsupported operator (the server answers 400)."""


@dataclass
class FieldColumn:
    """One metadata field across every record of a namespace, as numpy-friendly arrays."""

    present: BoolArray
    numbers: npt.NDArray[np.float64]  # NaN where the value is not a number
    is_true: BoolArray
    is_false: BoolArray
    strings: dict[str, npt.NDArray[np.intp]]  # value -> rows holding it (scalar or list element)


@dataclass
class Columns:
    """Lazily built column view over ``metadata[:count]`` (a snapshot taken under the index lock)."""

    metadata: Sequence[Mapping[str, Any] | None]
    count: int
    _cache: dict[str, FieldColumn] = field(default_factory=dict)

    def column(self, name: str) -> FieldColumn:
        """Return the column for ``name``, building it on first use."""
        col = self._cache.get(name)
        if col is None:
            col = _build_column(self.metadata, self.count, name)
            self._cache[name] = col
        return col


_NONE, _NUMBER, _STRING, _BOOL, _LIST = range(5)
# type(value) -> kind; anything unexpected counts as absent (validated metadata never holds other types).
_KINDS: defaultdict[type, int] = defaultdict(
    lambda: _NONE, {float: _NUMBER, int: _NUMBER, str: _STRING, bool: _BOOL, list: _LIST}
)


def _build_column(metadata: Sequence[Mapping[str, Any] | None], count: int, name: str) -> FieldColumn:
    # Whole-column passes in C (comprehension, map, numpy casts) instead of per-record branching in Python.
    values = [meta.get(name) if meta else None for meta in metadata[:count]]
    kinds = np.fromiter(map(_KINDS.__getitem__, map(type, values)), dtype=np.int8, count=count)
    objects = np.empty(count, dtype=object)
    objects[:] = values
    present = kinds != _NONE
    numbers = np.full(count, np.nan, dtype=np.float64)
    rows = np.flatnonzero(kinds == _NUMBER)
    numbers[rows] = objects[rows].astype(np.float64)
    is_true = np.zeros(count, dtype=np.bool_)
    is_false = np.zeros(count, dtype=np.bool_)
    rows = np.flatnonzero(kinds == _BOOL)
    flags = objects[rows].astype(np.bool_)
    is_true[rows[flags]] = True
    is_false[rows[~flags]] = True
    buckets: dict[str, list[int]] = {}
    rows = np.flatnonzero(kinds == _STRING)
    for row, value in zip(rows.tolist(), objects[rows].tolist(), strict=True):
        buckets.setdefault(value, []).append(row)
    rows = np.flatnonzero(kinds == _LIST)
    for row, items in zip(rows.tolist(), objects[rows].tolist(), strict=True):
        for item in set(items):
            buckets.setdefault(item, []).append(row)
    strings = {key: np.asarray(found, dtype=np.intp) for key, found in buckets.items()}
    return FieldColumn(present, numbers, is_true, is_false, strings)


Node = Callable[[Columns], BoolArray]


def compile_filter(spec: Any) -> Node:
    """Validate ``spec`` and compile it.

    Args:
        spec: The decoded JSON value of a request's ``filter``.

    Returns:
        A function mapping a :class:`Columns` view to a boolean mask over its records.

    Raises:
        FilterError: The filter is malformed, too deep or too large, or uses an unknown operator.
    """
    budget = [MAX_FILTER_NODES]
    return _compile_object(spec, 0, budget)


def _spend(budget: list[int]) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        raise FilterError(f"Filter is too large: more than {MAX_FILTER_NODES} clauses or values")


def _compile_object(spec: Any, depth: int, budget: list[int]) -> Node:
    if depth > MAX_FILTER_DEPTH:
        raise FilterError(f"Filter is nested too deeply (more than {MAX_FILTER_DEPTH} levels)")
    if not isinstance(spec, dict):
        raise FilterError(f"Filter must be an object, got {_type_name(spec)}")
    clauses: list[Node] = []
    for key, value in spec.items():
        _spend(budget)
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise FilterError(f"{key} requires a non-empty array of filters")
            children = [_compile_object(child, depth + 1, budget) for child in value]
            clauses.append(_all(children) if key == "$and" else _any(children))
        elif key.startswith("$"):
            raise FilterError(f"Unknown filter operator {key!r}")
        else:
            clauses.append(_compile_field(key, value, budget))
    return _all(clauses)


def _all(children: list[Node]) -> Node:
    def run(cols: Columns) -> BoolArray:
        mask = np.ones(cols.count, dtype=np.bool_)
        for child in children:
            mask &= child(cols)
        return mask

    return run


def _any(children: list[Node]) -> Node:
    def run(cols: Columns) -> BoolArray:
        mask = np.zeros(cols.count, dtype=np.bool_)
        for child in children:
            mask |= child(cols)
        return mask

    return run


def _compile_field(name: str, spec: Any, budget: list[int]) -> Node:
    if not isinstance(spec, dict):
        return _eq(name, _scalar(name, "$eq", spec))
    if not spec:
        raise FilterError(f"Filter for field {name!r} is an empty object")
    clauses: list[Node] = []
    for op, operand in spec.items():
        _spend(budget)
        if op not in _OPERATORS:
            raise FilterError(f"Unknown filter operator {op!r} for field {name!r}")
        if op == "$eq":
            clauses.append(_eq(name, _scalar(name, op, operand)))
        elif op == "$ne":
            clauses.append(_negate(_eq(name, _scalar(name, op, operand))))
        elif op in ("$in", "$nin"):
            if not isinstance(operand, list) or not operand:
                raise FilterError(f"{op} for field {name!r} requires a non-empty array")
            for _ in operand:
                _spend(budget)
            node = _any([_eq(name, _scalar(name, op, item)) for item in operand])
            clauses.append(node if op == "$in" else _negate(node))
        elif op == "$exists":
            if not isinstance(operand, bool):
                raise FilterError(f"$exists for field {name!r} requires a boolean, got {_type_name(operand)}")
            clauses.append(_exists(name, operand))
        else:
            if isinstance(operand, bool) or not isinstance(operand, (int, float)):
                raise FilterError(f"{op} for field {name!r} requires a number, got {_type_name(operand)}")
            clauses.append(_compare(name, op, float(operand)))
    return _all(clauses)


def _scalar(name: str, op: str, value: Any) -> str | float | bool:
    if isinstance(value, (str, bool)):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    raise FilterError(f"{op} for field {name!r} requires a string, number or boolean, got {_type_name(value)}")


def _eq(name: str, value: str | float | bool) -> Node:
    def run(cols: Columns) -> BoolArray:
        col = cols.column(name)
        mask: BoolArray
        if value is True:
            mask = col.is_true.copy()
        elif value is False:
            mask = col.is_false.copy()
        elif isinstance(value, str):
            mask = np.zeros(cols.count, dtype=np.bool_)
            rows = col.strings.get(value)
            if rows is not None:
                mask[rows] = True
        else:
            mask = col.numbers == value
        return mask

    return run


def _negate(node: Node) -> Node:
    def run(cols: Columns) -> BoolArray:
        return ~node(cols)

    return run


def _exists(name: str, want: bool) -> Node:
    def run(cols: Columns) -> BoolArray:
        present = cols.column(name).present
        mask: BoolArray = present.copy() if want else ~present
        return mask

    return run


_NUMPY_COMPARE: dict[str, Callable[[Any, float], BoolArray]] = {
    "$gt": np.greater,
    "$gte": np.greater_equal,
    "$lt": np.less,
    "$lte": np.less_equal,
}


def _compare(name: str, op: str, value: float) -> Node:
    compare = _NUMPY_COMPARE[op]

    def run(cols: Columns) -> BoolArray:
        # NaN (missing or non-numeric) compares False, which is what Pinecone does for such records.
        with np.errstate(invalid="ignore"):
            return compare(cols.column(name).numbers, value)

    return run


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
