"""Storage for the local Pinecone server: numpy namespaces, a write-ahead log and snapshots.

Each namespace keeps its vectors in one contiguous float32 matrix that grows geometrically (amortised O(1)
appends), plus the squared norm of every row so cosine and euclidean scores need a single matrix-vector
product per query. Deleting a row moves the last row into its place, so the live rows stay ``[0, count)``.

Durability (when the index has a directory): every mutation is appended to ``wal.log`` as one framed record
(length + CRC32 + JSON header + raw float32 payload) and ``fsync``-ed before the caller acknowledges it. On
start the snapshot is loaded, then the log is replayed; a torn or corrupt tail (the process was killed mid-
write, so that request was never acknowledged) is cut off. When the log grows past a threshold the whole
index is written to ``snapshot.bin`` (same frame format) through a temporary file, ``fsync`` and an atomic
rename, then the log is reset. Frames carry a sequence number and the snapshot records the last one it
contains, so a crash between the rename and the log reset never applies an operation twice.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import shutil
import struct
import threading
import uuid
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from hf_pinecone.errors import ConfigurationError
from hf_pinecone.local._pinecone_filter import Columns, Node

FloatMatrix = npt.NDArray[np.float32]
FloatArray = npt.NDArray[np.float32]
Metadata = dict[str, Any]
# A record's sparse values: (indices as uint32, values as float32) of the same length, as sent.
Sparse = tuple[npt.NDArray[np.uint32], npt.NDArray[np.float32]]

_FRAME = struct.Struct("<II")  # payload length, crc32 of payload
_HEADER_LEN = struct.Struct("<I")
_MAX_FRAME = 1 << 31
DEFAULT_COMPACT_BYTES = 256 * 1024 * 1024
_SNAPSHOT_CHUNK = 20_000
# Namespaces at least this large are searched with the int8 pre-pass (smaller ones: one exact float32 pass).
INT8_MIN_ROWS = 2_048
# Exact scoring of at most this many rows avoids BLAS (see _exact_top_k).
SMALL_EXACT_ROWS = 4_096
INT8_CHUNK_ROWS = 1024
# The int8 pass of namespaces at least this large is split over INT8_THREADS threads.
INT8_THREADS = min(2, os.cpu_count() or 1)
INT8_PARALLEL_MIN_ROWS = 131_072
_POOL: concurrent.futures.ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _search_pool() -> concurrent.futures.ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = concurrent.futures.ThreadPoolExecutor(max(1, INT8_THREADS - 1), thread_name_prefix="pc-search")
        return _POOL


class Namespace:
    """Records of one namespace, row-aligned: ids, metadata, float32 vectors and per-row search helpers.

    Besides the exact float32 matrix, each row keeps an int8 copy (``codes * scale`` approximates the row)
    and a bound on that approximation's error. Large namespaces are searched with a cheap int8 pass that
    reads a quarter of the bytes, then the few rows whose score could still reach the top k are rescored
    exactly from the float32 matrix; the result is the exact top k (see :meth:`search`).
    """

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension
        # A sparse index (dimension 0) keeps no dense rows: only ids, metadata and sparse values.
        self.dense = dimension > 0
        self.count = 0
        self.ids: list[str] = []
        self.rows: dict[str, int] = {}
        self.metadata: list[Metadata | None] = []
        self.sparse: list[Sparse | None] = []
        self.vectors: FloatMatrix = np.empty((0, dimension), dtype=np.float32)
        self.codes: npt.NDArray[np.int8] = np.empty((0, dimension), dtype=np.int8)
        self.sqnorms: FloatArray = np.empty(0, dtype=np.float32)
        self.invnorms: FloatArray = np.empty(0, dtype=np.float32)
        self.scales: FloatArray = np.empty(0, dtype=np.float32)
        # Upper bound of |x.q - approx(x).q| / |q| per row (residual norm plus float32 rounding slack).
        self.errors: FloatArray = np.empty(0, dtype=np.float32)
        self._columns: Columns | None = None
        self._sorted_ids: list[str] | None = None
        self._postings: tuple[npt.NDArray[np.uint32], FloatArray, npt.NDArray[np.intp]] | None = None

    _ROW_ARRAYS = ("vectors", "codes", "sqnorms", "invnorms", "scales", "errors")

    def _changed(self) -> None:
        self._columns = None
        self._sorted_ids = None
        self._postings = None

    def _reserve(self, extra: int) -> None:
        need = self.count + extra
        capacity = self.vectors.shape[0]
        if need <= capacity:
            return
        new_capacity = max(need, capacity + capacity // 2, 1024)
        for name in self._ROW_ARRAYS:
            old = getattr(self, name)
            grown = np.empty((new_capacity, *old.shape[1:]), dtype=old.dtype)
            grown[: self.count] = old[: self.count]
            setattr(self, name, grown)

    def _write_rows(self, rows: npt.NDArray[np.intp], vectors: FloatMatrix) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.vectors[rows] = vectors
        wide = vectors.astype(np.float64)
        sqnorms = np.einsum("ij,ij->i", wide, wide)
        norms = np.sqrt(sqnorms)
        absmax = np.abs(wide).max(axis=1)
        scales = np.where(absmax > 0, absmax / 127.0, 1.0)
        codes = np.clip(np.rint(wide / scales[:, None]), -127, 127)
        residual = wide - codes * scales[:, None].astype(np.float32).astype(np.float64)
        # 1e-4 * |x| covers float32 rounding in both the int8 pass and the exact rescoring with a wide margin.
        errors = np.sqrt(np.einsum("ij,ij->i", residual, residual)) * 1.001 + norms * 1e-4
        self.codes[rows] = codes.astype(np.int8)
        self.sqnorms[rows] = sqnorms
        self.invnorms[rows] = np.where(norms > 0, 1.0 / np.maximum(norms, 1e-300), 0.0)
        self.scales[rows] = scales
        self.errors[rows] = errors

    def upsert(
        self,
        ids: Sequence[str],
        vectors: FloatMatrix,
        metadata: Sequence[Metadata | None],
        sparse: Sequence[Sparse | None] | None = None,
    ) -> None:
        """Insert or overwrite records (later duplicates in ``ids`` win); ``vectors`` has 0 columns when sparse."""
        last: dict[str, int] = {}
        for position, record_id in enumerate(ids):
            last[record_id] = position
        self._reserve(sum(1 for record_id in last if record_id not in self.rows))
        rows = np.empty(len(last), dtype=np.intp)
        positions = np.empty(len(last), dtype=np.intp)
        for i, (record_id, position) in enumerate(last.items()):
            row = self.rows.get(record_id)
            if row is None:
                row = self.count
                self.count += 1
                self.rows[record_id] = row
                self.ids.append(record_id)
                self.metadata.append(metadata[position])
                self.sparse.append(None if sparse is None else sparse[position])
            else:
                self.metadata[row] = metadata[position]
                self.sparse[row] = None if sparse is None else sparse[position]
            rows[i] = row
            positions[i] = position
        if self.dense:
            self._write_rows(rows, vectors[positions])
        self._changed()

    def delete(self, ids: Sequence[str]) -> int:
        """Delete the given ids (unknown ids are ignored); returns how many were deleted."""
        deleted = 0
        for record_id in ids:
            row = self.rows.pop(record_id, None)
            if row is None:
                continue
            deleted += 1
            last = self.count - 1
            if row != last:
                # Keep live rows contiguous: the last row moves into the hole.
                moved = self.ids[last]
                self.ids[row] = moved
                self.rows[moved] = row
                self.metadata[row] = self.metadata[last]
                self.sparse[row] = self.sparse[last]
                for name in self._ROW_ARRAYS:
                    array = getattr(self, name)
                    array[row] = array[last]
            self.ids.pop()
            self.metadata.pop()
            self.sparse.pop()
            self.count = last
        if deleted:
            self._changed()
        return deleted

    def update(
        self,
        record_id: str,
        vector: npt.NDArray[np.float32] | None,
        set_metadata: Metadata | None,
        sparse: Sparse | None = None,
    ) -> bool:
        """Overwrite the values / sparse values and/or merge metadata of one record; False when the id is absent."""
        row = self.rows.get(record_id)
        if row is None:
            return False
        if sparse is not None:
            self.sparse[row] = sparse
        if vector is not None and self.dense:
            self._write_rows(np.array([row], dtype=np.intp), vector.reshape(1, -1))
        if set_metadata:
            merged = dict(self.metadata[row] or {})
            merged.update(set_metadata)
            self.metadata[row] = merged
        self._changed()
        return True

    def merged_metadata(self, record_id: str, set_metadata: Metadata) -> Metadata | None:
        """The metadata ``update`` would store, or None when the id does not exist (for size checks)."""
        row = self.rows.get(record_id)
        if row is None:
            return None
        merged = dict(self.metadata[row] or {})
        merged.update(set_metadata)
        return merged

    def columns(self) -> Columns:
        """Column view of the metadata for filter evaluation, cached until the next change."""
        if self._columns is None:
            self._columns = Columns(self.metadata, self.count)
        return self._columns

    def mask(self, node: Node | None) -> npt.NDArray[np.bool_] | None:
        """Rows matching a compiled filter (None means every row)."""
        return None if node is None else node(self.columns())

    def search(
        self, query: npt.NDArray[np.float32], top_k: int, metric: str, mask: npt.NDArray[np.bool_] | None
    ) -> tuple[npt.NDArray[np.intp], FloatArray]:
        """Exact top-k rows and their Pinecone scores, best first.

        Scores: cosine similarity and dot product (higher is better), squared euclidean distance (lower is
        better), as Pinecone reports them.

        Large namespaces are first scored from the int8 copy. With ``e`` the row's error bound, every true key
        lies within ``approx +- e``; the k-th largest lower bound ``T`` is a lower bound of the true k-th best
        key, so only rows with ``approx + e >= T`` can be in the top k. Those few rows are rescored exactly.
        """
        count = self.count
        empty = (np.empty(0, dtype=np.intp), np.empty(0, dtype=np.float32))
        if count == 0:
            return empty
        query = np.ascontiguousarray(query, dtype=np.float32)
        selected = count if mask is None else int(np.count_nonzero(mask))
        if selected == 0:
            return empty
        everything = slice(0, count)
        if selected < max(INT8_MIN_ROWS, 4 * top_k):
            candidates = np.arange(count) if mask is None else np.flatnonzero(mask)
        elif mask is None:
            candidates = self._int8_candidates(query, top_k, metric, everything, None)
        elif 2 * selected >= count:
            # A broad filter: scan everything and drop the rows it excludes.
            candidates = self._int8_candidates(query, top_k, metric, everything, mask)
        else:
            # A narrow filter: scan only the matching rows (gathering int8 codes is 4x cheaper than floats).
            candidates = self._int8_candidates(query, top_k, metric, np.flatnonzero(mask), None)
        return self._exact_top_k(candidates, query, top_k, metric)

    def _keys(
        self, rows: npt.NDArray[np.intp] | slice, dots: FloatArray, query: FloatArray, metric: str
    ) -> tuple[FloatArray, FloatArray]:
        """(sort keys, higher is better; Pinecone scores) from dot products."""
        if metric == "cosine":
            qnorm = np.float32(np.sqrt(np.dot(query, query)))
            scores = (dots * self.invnorms[rows]) / qnorm
            # float32 rounding gives a vector against itself 1.0000001; a cosine similarity lies in [-1, 1]
            # (Pinecone's own scores for identical vectors stay below 1, e.g. 0.999999881).
            np.clip(scores, -1.0, 1.0, out=scores)
            return scores, scores
        if metric == "euclidean":
            distances = self.sqnorms[rows] - 2.0 * dots + np.float32(np.dot(query, query))
            np.maximum(distances, 0.0, out=distances)
            return -distances, distances
        return dots, dots

    def _exact_top_k(
        self, candidates: npt.NDArray[np.intp], query: FloatArray, top_k: int, metric: str
    ) -> tuple[npt.NDArray[np.intp], FloatArray]:
        if candidates.shape[0] <= SMALL_EXACT_ROWS:
            # numpy's own loop: for a few rows, waking BLAS worker threads costs more than the arithmetic.
            dots = np.einsum("ij,j->i", self.vectors[candidates], query)
        elif candidates.shape[0] == self.count:
            dots = self.vectors[: self.count] @ query
        else:
            dots = self.vectors[candidates] @ query
        keys, scores = self._keys(candidates, dots, query, metric)
        total = keys.shape[0]
        k = min(top_k, total)
        top = np.argpartition(keys, total - k)[total - k :] if k < total else np.arange(total)
        order = top[np.argsort(-keys[top], kind="stable")]
        return candidates[order], scores[order].astype(np.float32, copy=False)

    def _int8_dots(self, query: FloatArray, codes: npt.NDArray[np.int8]) -> FloatArray:
        """``codes @ query`` in cache-sized chunks, split over worker threads when large."""
        count = codes.shape[0]
        dots = np.empty(count, dtype=np.float32)
        chunk_rows = INT8_CHUNK_ROWS

        def work(lo: int, hi: int) -> None:
            buffer = np.empty((chunk_rows, self.dimension), dtype=np.float32)
            for start in range(lo, hi, chunk_rows):
                stop = min(start + chunk_rows, hi)
                chunk = buffer[: stop - start]
                # Chunks stay cache-resident: RAM is read once, as int8, a quarter of the float32 traffic.
                np.copyto(chunk, codes[start:stop], casting="unsafe")
                np.matmul(chunk, query, out=dots[start:stop])

        threads = INT8_THREADS if count >= INT8_PARALLEL_MIN_ROWS else 1
        if threads <= 1:
            work(0, count)
            return dots
        # numpy releases the GIL in both calls, so the parts run in parallel.
        step = -(-count // threads)
        parts = [(lo, min(lo + step, count)) for lo in range(0, count, step)]
        futures = [_search_pool().submit(work, lo, hi) for lo, hi in parts[1:]]
        work(*parts[0])
        for future in futures:
            future.result()
        return dots

    def _int8_candidates(
        self,
        query: FloatArray,
        top_k: int,
        metric: str,
        rows: npt.NDArray[np.intp] | slice,
        mask: npt.NDArray[np.bool_] | None,
    ) -> npt.NDArray[np.intp]:
        """Rows (of ``rows``, and of ``mask`` when given) whose exact key can still reach the top k."""
        dots = self._int8_dots(query, self.codes[rows])
        dots *= self.scales[rows]
        qnorm = np.float32(np.sqrt(np.dot(query, query)))
        keys, _ = self._keys(rows, dots, query, metric)
        if metric == "cosine":
            slack = self.errors[rows] * self.invnorms[rows]
        elif metric == "euclidean":
            # The second term covers float32 rounding of |x|^2 + |q|^2 (it can dwarf |x||q|).
            qq = np.float32(np.dot(query, query))
            slack = self.errors[rows] * (2.0 * qnorm) + (self.sqnorms[rows] + qq) * np.float32(1e-6)
        else:
            slack = self.errors[rows] * qnorm
        if mask is not None:
            keys = np.where(mask, keys, -np.inf).astype(np.float32)
        lower = keys - slack
        upper = keys + slack
        total = keys.shape[0]
        # The k-th largest lower bound of a sample never exceeds the overall one: a cheap first threshold.
        sample = lower[:: max(1, total // (64 * top_k))]
        k = min(top_k, sample.shape[0])
        first = np.partition(sample, sample.shape[0] - k)[sample.shape[0] - k]
        local = np.flatnonzero(upper >= first)
        if local.shape[0] > top_k:
            bounds = lower[local]
            threshold = np.partition(bounds, bounds.shape[0] - top_k)[bounds.shape[0] - top_k]
            local = local[upper[local] >= threshold]
        if mask is not None:
            local = local[mask[local]]
        return local if isinstance(rows, slice) else rows[local]

    def _sparse_postings(self) -> tuple[npt.NDArray[np.uint32], FloatArray, npt.NDArray[np.intp]]:
        """An inverted index of the sparse values: (indices, values, row) sorted by index, cached until a change."""
        if self._postings is None:
            parts = [(row, entry) for row, entry in enumerate(self.sparse) if entry is not None]
            if parts:
                indices = np.concatenate([entry[0] for _, entry in parts]).astype(np.uint32, copy=False)
                values = np.concatenate([entry[1] for _, entry in parts]).astype(np.float32, copy=False)
                lengths = np.fromiter((entry[0].shape[0] for _, entry in parts), dtype=np.intp, count=len(parts))
                owners = np.repeat(np.fromiter((row for row, _ in parts), dtype=np.intp, count=len(parts)), lengths)
                order = np.argsort(indices)
                indices, values, owners = indices[order], values[order], owners[order]
            else:
                indices = np.empty(0, dtype=np.uint32)
                values = np.empty(0, dtype=np.float32)
                owners = np.empty(0, dtype=np.intp)
            self._postings = (indices, values, owners)
        return self._postings

    def sparse_scores(self, query: Sparse) -> FloatArray:
        """Dot product of the sparse query with every row's sparse values (0 for rows without any).

        Only the postings of the query's indices are read (two binary searches per query index), so a query costs
        its matches, not the size of the namespace.
        """
        indices, values, owners = self._sparse_postings()
        # Repeated query indices add up (the dot product is linear), as repeated record indices do.
        q_indices, inverse = np.unique(query[0], return_inverse=True)
        q_values = np.bincount(inverse, weights=query[1].astype(np.float64), minlength=q_indices.shape[0])
        lo = np.searchsorted(indices, q_indices, side="left")
        hi = np.searchsorted(indices, q_indices, side="right")
        lengths = hi - lo
        total = int(lengths.sum())
        if total == 0:
            return np.zeros(self.count, dtype=np.float32)
        firsts = np.cumsum(lengths) - lengths
        positions = np.repeat(lo, lengths) + (np.arange(total) - np.repeat(firsts, lengths))
        weights = values[positions].astype(np.float64) * np.repeat(q_values, lengths)
        return np.bincount(owners[positions], weights=weights, minlength=self.count).astype(np.float32)

    def search_hybrid(
        self,
        dense: FloatArray | None,
        sparse: Sparse | None,
        top_k: int,
        mask: npt.NDArray[np.bool_] | None,
        *,
        drop_zero: bool,
    ) -> tuple[npt.NDArray[np.intp], FloatArray]:
        """Exact top-k by dot product of the dense part plus the sparse part (Pinecone's sparse-dense score).

        ``drop_zero``: leave out rows scoring exactly 0 (Pinecone does on sparse indexes).
        """
        candidates = np.arange(self.count) if mask is None else np.flatnonzero(mask)
        scores = np.zeros(candidates.shape[0], dtype=np.float32)
        if dense is not None and self.dense:
            scores += np.einsum("ij,j->i", self.vectors[candidates], np.ascontiguousarray(dense, dtype=np.float32))
        if sparse is not None:
            scores += self.sparse_scores(sparse)[candidates]
        if drop_zero:
            keep = scores != 0
            candidates, scores = candidates[keep], scores[keep]
        total = scores.shape[0]
        k = min(top_k, total)
        if k == 0:
            return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.float32)
        top = np.argpartition(-scores, k - 1)[:k] if k < total else np.arange(total)
        order = top[np.argsort(-scores[top], kind="stable")]
        return candidates[order], scores[order]

    def sorted_ids(self) -> list[str]:
        """All ids in lexicographic order (cached until the next change), for list pagination."""
        if self._sorted_ids is None:
            self._sorted_ids = sorted(self.ids)
        return self._sorted_ids


@dataclass(frozen=True)
class IndexConfig:
    """What ``create_index`` stored: everything IndexModel reports."""

    name: str
    dimension: int
    metric: str
    cloud: str = "aws"
    region: str = "us-east-1"
    deletion_protection: str = "disabled"
    tags: Mapping[str, str] | None = None
    vector_type: str = "dense"

    def to_json(self) -> dict[str, Any]:
        """JSON-serialisable form (also the on-disk ``config.json``)."""
        return {
            "name": self.name,
            "dimension": self.dimension,
            "metric": self.metric,
            "cloud": self.cloud,
            "region": self.region,
            "deletion_protection": self.deletion_protection,
            "tags": dict(self.tags or {}),
            "vector_type": self.vector_type,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> IndexConfig:
        """Inverse of :meth:`to_json`."""
        return cls(
            name=str(data["name"]),
            dimension=int(data["dimension"]),
            metric=str(data["metric"]),
            cloud=str(data.get("cloud", "aws")),
            region=str(data.get("region", "us-east-1")),
            deletion_protection=str(data.get("deletion_protection", "disabled")),
            tags=dict(data.get("tags") or {}),
            vector_type=str(data.get("vector_type", "dense")),
        )


def _sparse_json(entry: Sparse | None) -> list[list[int] | list[float]] | None:
    """Sparse values as JSON lists for the log (float32 to float and back is exact)."""
    return None if entry is None else [entry[0].tolist(), entry[1].tolist()]


def _sparse_of(data: Any) -> Sparse | None:
    """Inverse of :func:`_sparse_json`."""
    if data is None:
        return None
    return np.asarray(data[0], dtype=np.uint32), np.asarray(data[1], dtype=np.float32)


def _encode_frame(header: Mapping[str, Any], blob: bytes = b"") -> bytes:
    head = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    payload = _HEADER_LEN.pack(len(head)) + head + blob
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def _read_frames(handle: BinaryIO) -> Iterator[tuple[int, dict[str, Any], bytes]]:
    """Yield ``(end_offset, header, blob)`` for every intact frame; stop at the first torn or corrupt one."""
    offset = handle.tell()
    while True:
        prefix = handle.read(_FRAME.size)
        if len(prefix) < _FRAME.size:
            return
        length, crc = _FRAME.unpack(prefix)
        if length < _HEADER_LEN.size or length > _MAX_FRAME:
            return
        payload = handle.read(length)
        if len(payload) < length or zlib.crc32(payload) != crc:
            return
        (head_len,) = _HEADER_LEN.unpack_from(payload)
        if _HEADER_LEN.size + head_len > length:
            return
        try:
            header = json.loads(payload[_HEADER_LEN.size : _HEADER_LEN.size + head_len])
        except ValueError:
            return
        offset += _FRAME.size + length
        yield offset, header, payload[_HEADER_LEN.size + head_len :]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class IndexStore:
    """One index: its namespaces, a lock serialising every read and write, and (optionally) its log.

    Callers hold :attr:`lock` around any access to :attr:`namespaces` and around each mutating call, so the
    log order is the apply order.
    """

    def __init__(self, config: IndexConfig, directory: Path | None, *, compact_bytes: int = DEFAULT_COMPACT_BYTES):
        self.config = config
        self.directory = directory
        self.lock = threading.Lock()
        self.namespaces: dict[str, Namespace] = {}
        self.compact_bytes = compact_bytes
        self._seq = 0
        self._wal: BinaryIO | None = None
        self._wal_bytes = 0
        if directory is not None:
            self._recover(directory)

    # -- in-memory operations (apply) -----------------------------------------------------------------------
    def namespace(self, name: str, *, create: bool = False) -> Namespace | None:
        """The namespace called ``name``; created empty when ``create``."""
        ns = self.namespaces.get(name)
        if ns is None and create:
            ns = self.namespaces[name] = Namespace(self.config.dimension)  # 0 for a sparse index
        return ns

    def _apply(self, header: Mapping[str, Any], blob: bytes) -> None:
        op = header["op"]
        name = header["ns"]
        if op == "upsert":
            ids = header["ids"]
            vectors = np.frombuffer(blob, dtype=np.float32).reshape(len(ids), self.config.dimension)
            ns = self.namespace(name, create=True)
            assert ns is not None
            sparse = header.get("sparse")
            ns.upsert(ids, vectors, header["meta"], None if sparse is None else [_sparse_of(e) for e in sparse])
        elif op == "delete":
            existing = self.namespaces.get(name)
            if existing is not None:
                existing.delete(header["ids"])
                if existing.count == 0:
                    del self.namespaces[name]
        elif op == "delete_ns":
            self.namespaces.pop(name, None)
        elif op == "update":
            existing = self.namespaces.get(name)
            if existing is not None:
                vector = np.frombuffer(blob, dtype=np.float32) if blob else None
                existing.update(header["id"], vector, header.get("set"), _sparse_of(header.get("sparse")))

    def upsert(
        self,
        namespace: str,
        ids: list[str],
        vectors: FloatMatrix,
        metadata: list[Metadata | None],
        sparse: list[Sparse | None] | None = None,
    ) -> None:
        """Log (durably) then apply an upsert. Caller holds :attr:`lock`."""
        header: dict[str, Any] = {"op": "upsert", "ns": namespace, "ids": ids, "meta": metadata}
        if sparse is not None and any(entry is not None for entry in sparse):
            header["sparse"] = [_sparse_json(entry) for entry in sparse]
        blob = np.ascontiguousarray(vectors, dtype=np.float32).tobytes()
        self._commit(header, blob)

    def delete(self, namespace: str, ids: list[str]) -> None:
        """Log then apply a delete by ids (filter deletes are resolved to ids first); caller locks."""
        ns = self.namespaces.get(namespace)
        if ns is None:
            return
        present = [record_id for record_id in ids if record_id in ns.rows]
        if not present:
            return
        header = {"op": "delete", "ns": namespace, "ids": present}
        self._commit(header)

    def delete_namespace(self, namespace: str) -> None:
        """Log then apply deleteAll for one namespace. Caller holds the lock."""
        if namespace not in self.namespaces:
            return
        header = {"op": "delete_ns", "ns": namespace}
        self._commit(header)

    def update(
        self,
        namespace: str,
        record_id: str,
        vector: npt.NDArray[np.float32] | None,
        set_metadata: Metadata | None,
        sparse: Sparse | None = None,
    ) -> bool:
        """Log then apply an update; False (and nothing logged) when the record does not exist."""
        ns = self.namespaces.get(namespace)
        if ns is None or record_id not in ns.rows:
            return False
        header: dict[str, Any] = {"op": "update", "ns": namespace, "id": record_id, "set": set_metadata}
        if sparse is not None:
            header["sparse"] = _sparse_json(sparse)
        blob = b"" if vector is None else np.ascontiguousarray(vector, dtype=np.float32).tobytes()
        self._commit(header, blob)
        return True

    # -- durability -------------------------------------------------------------------------------------
    def _log(self, header: dict[str, Any], blob: bytes = b"") -> None:
        self._seq += 1
        if self._wal is None:
            return
        header["seq"] = self._seq
        frame = _encode_frame(header, blob)
        try:
            view = memoryview(frame)
            while view:  # unbuffered: nothing can linger in a buffer after a failure
                written = self._wal.write(view)
                view = view[written or 0 :]
            os.fsync(self._wal.fileno())
        except BaseException:
            # Never leave a partial frame in the middle of the log: replay stops at the first bad frame, which
            # would hide every later (acknowledged) write. The failed request is answered with an error.
            with contextlib.suppress(OSError):
                self._wal.truncate(self._wal_bytes)
            raise
        self._wal_bytes += len(frame)

    def _commit(self, header: dict[str, Any], blob: bytes = b"") -> None:
        # Log, apply, and only then consider a snapshot: the snapshot claims every logged sequence number,
        # so it must be taken after the operation it covers is in memory.
        self._log(header, blob)
        self._apply(header, blob)
        if self._wal is not None and self._wal_bytes >= self.compact_bytes:
            self.compact()

    def _recover(self, directory: Path) -> None:
        snapshot = directory / "snapshot.bin"
        covered = 0
        if snapshot.exists():
            with snapshot.open("rb") as handle:
                for _, header, blob in _read_frames(handle):
                    if header["op"] == "snapshot":
                        covered = int(header["seq"])
                    else:
                        self._apply(header, blob)
        self._seq = covered
        wal_path = directory / "wal.log"
        good_end = 0
        if wal_path.exists():
            with wal_path.open("rb") as handle:
                for end, header, blob in _read_frames(handle):
                    good_end = end
                    seq = int(header.get("seq", 0))
                    if seq <= covered:
                        continue
                    self._apply(header, blob)
                    self._seq = max(self._seq, seq)
        created = not wal_path.exists()
        # Cut a torn tail so new frames are not appended after garbage.
        self._wal = open(wal_path, "ab", buffering=0)  # noqa: SIM115 - kept open for the index's lifetime
        if created:
            _fsync_dir(directory)
        if self._wal.tell() != good_end:
            self._wal.truncate(good_end)
            self._wal.seek(good_end)
            os.fsync(self._wal.fileno())
        self._wal_bytes = good_end
        if good_end >= self.compact_bytes:
            self.compact()

    def compact(self) -> None:
        """Write every namespace to ``snapshot.bin`` atomically, then reset the log. Caller holds the lock."""
        if self.directory is None or self._wal is None:
            return
        tmp = self.directory / f"snapshot.{uuid.uuid4().hex}.tmp"
        with tmp.open("wb") as handle:
            handle.write(_encode_frame({"op": "snapshot", "seq": self._seq}))
            for name, ns in self.namespaces.items():
                for start in range(0, ns.count, _SNAPSHOT_CHUNK):
                    stop = min(start + _SNAPSHOT_CHUNK, ns.count)
                    header: dict[str, Any] = {
                        "op": "upsert",
                        "ns": name,
                        "ids": ns.ids[start:stop],
                        "meta": ns.metadata[start:stop],
                    }
                    chunk = ns.sparse[start:stop]
                    if any(entry is not None for entry in chunk):
                        header["sparse"] = [_sparse_json(entry) for entry in chunk]
                    handle.write(_encode_frame(header, ns.vectors[start:stop].tobytes()))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.directory / "snapshot.bin")
        _fsync_dir(self.directory)
        self._wal.truncate(0)
        self._wal.seek(0)
        os.fsync(self._wal.fileno())
        self._wal_bytes = 0

    def close(self) -> None:
        """Close the log file (the data stays on disk)."""
        if self._wal is not None:
            self._wal.close()
            self._wal = None


class Registry:
    """All indexes of one server, in memory or under ``data_dir/indexes/<name>/``."""

    def __init__(self, data_dir: Path | None, *, compact_bytes: int = DEFAULT_COMPACT_BYTES) -> None:
        self.data_dir = data_dir
        self.compact_bytes = compact_bytes
        self.lock = threading.Lock()
        self.indexes: dict[str, IndexStore] = {}
        self._dir_lock: BinaryIO | None = None
        if data_dir is not None:
            self._root().mkdir(parents=True, exist_ok=True)
            self._dir_lock = _lock_directory(data_dir)
            for child in sorted(self._root().iterdir()):
                config_file = child / "config.json"
                if child.is_dir() and config_file.exists():
                    config = IndexConfig.from_json(json.loads(config_file.read_text()))
                    self.indexes[config.name] = IndexStore(config, child, compact_bytes=compact_bytes)
            trash = data_dir / "trash"
            if trash.exists():
                shutil.rmtree(trash, ignore_errors=True)

    def _root(self) -> Path:
        assert self.data_dir is not None
        return self.data_dir / "indexes"

    def _directory(self, name: str) -> Path:
        # Names are validated against Pinecone's rules (lowercase alphanumerics and '-') before reaching here;
        # this is a second line of defence so no input can ever address a path outside the data directory.
        root = self._root().resolve()
        path = (root / name).resolve()
        if path.parent != root or not name or name in (".", ".."):
            raise ValueError(f"invalid index name {name!r}")
        return path

    def get(self, name: str) -> IndexStore | None:
        """The index called ``name`` or None."""
        with self.lock:
            return self.indexes.get(name)

    def list(self) -> list[IndexStore]:
        """Every index, by name."""
        with self.lock:
            return [self.indexes[name] for name in sorted(self.indexes)]

    def create(self, config: IndexConfig) -> IndexStore | None:
        """Create an index; None when the name is taken."""
        with self.lock:
            if config.name in self.indexes:
                return None
            directory = None
            if self.data_dir is not None:
                directory = self._directory(config.name)
                if directory.exists():
                    shutil.rmtree(directory)
                directory.mkdir(parents=True)
                _write_atomic(directory / "config.json", json.dumps(config.to_json()).encode())
                _fsync_dir(self._root())
            store = IndexStore(config, directory, compact_bytes=self.compact_bytes)
            self.indexes[config.name] = store
            return store

    def replace_config(self, config: IndexConfig) -> None:
        """Persist a changed config (deletion protection, tags) of an existing index."""
        with self.lock:
            store = self.indexes[config.name]
            store.config = config
            if store.directory is not None:
                _write_atomic(store.directory / "config.json", json.dumps(config.to_json()).encode())

    def delete(self, name: str) -> bool:
        """Delete an index and its files; False when it does not exist."""
        with self.lock:
            store = self.indexes.pop(name, None)
        if store is None:
            return False
        with store.lock:
            store.close()
            if store.directory is not None and self.data_dir is not None:
                trash = self.data_dir / "trash"
                trash.mkdir(exist_ok=True)
                target = trash / f"{name}-{uuid.uuid4().hex}"
                os.replace(store.directory, target)
                _fsync_dir(self._root())
                shutil.rmtree(target, ignore_errors=True)
        return True

    def close(self) -> None:
        """Close every index's log and release the data directory."""
        for store in self.list():
            with store.lock:
                store.close()
        if self._dir_lock is not None:
            self._dir_lock.close()  # closing the descriptor releases the flock
            self._dir_lock = None


def _lock_directory(data_dir: Path) -> BinaryIO | None:
    """Hold an exclusive lock on ``data_dir`` so two servers never interleave writes to the same logs."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory locks, single-server use is on the user
        return None
    handle = (data_dir / ".lock").open("ab")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise ConfigurationError(f"data directory {data_dir} is already used by another running server") from None
    return handle


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    with contextlib.suppress(OSError):
        _fsync_dir(path.parent)
