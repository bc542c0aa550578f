"""TEMPORARY ADAPTER (issue 13): the engine-neutral chunk core, built on today's ``hf_pinecone.ingestion`` internals.

DELETE AT MERGE. Issue 13 adds these names to :mod:`hf_pinecone.ingestion` (``Record``, ``ChunkResult``,
``RecordPreparer``, ``aprocess_chunk``, ``process_chunk``, ``IngestReport.__add__`` and a constructor from chunk
results). Until it lands, the distributed engines (:mod:`hf_pinecone.ray`, :mod:`hf_pinecone.spark`) import them
from here, with the same signatures; at merge, point ``_distributed``'s imports at ``hf_pinecone.ingestion``,
replace :func:`merge_reports` / :func:`report_from_chunks` by the report's own ``+`` and classmethod, and delete
this file.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hf_pinecone import ingestion as _ingestion
from hf_pinecone.ingestion import PINECONE_MAX_METADATA_BYTES, IngestReport, RejectedRecord

__all__ = [
    "ChunkResult",
    "Record",
    "RecordPreparer",
    "aprocess_chunk",
    "merge_reports",
    "process_chunk",
    "report_from_chunks",
]


@dataclass(frozen=True)
class Record:
    """One prepared record (issue 13 contract)."""

    row: int
    id: str
    text: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class ChunkResult:
    """What one chunk did (issue 13 contract)."""

    embedded: int
    upserted: int
    already_present: int
    rejected: tuple[RejectedRecord, ...]


class RecordPreparer:
    """Rows (mappings) -> :class:`Record` or :class:`RejectedRecord`: ingestion's own checks (issue 13 contract)."""

    def __init__(
        self,
        *,
        column: str = "text",
        id_column: str | None = None,
        metadata_columns: Sequence[str] | None = None,
        namespace: str | None = None,
        max_metadata_bytes: int | None = PINECONE_MAX_METADATA_BYTES,
    ) -> None:
        self._reader = _ingestion._Reader(
            iter(()),
            column=column,
            id_column=id_column,
            metadata_columns=metadata_columns,
            namespace=namespace,
            limit=None,
            chunk_size=1,
            max_metadata_bytes=max_metadata_bytes,
        )

    def prepare(self, row: Mapping[str, Any], row_number: int) -> Record | RejectedRecord:
        """Prepare one row; a bad record is returned as a :class:`RejectedRecord` (never raised)."""
        text, metadata, record_id, problem = self._reader._parse(row)
        if problem is not None:
            return RejectedRecord(row_number, record_id, text, problem)
        assert text is not None and record_id is not None
        return Record(row_number, record_id, text, metadata)


class _Collect:
    def __init__(self) -> None:
        self.items: list[RejectedRecord] = []

    def add(self, rejected: RejectedRecord) -> None:
        self.items.append(rejected)


class _NoBar:
    def update(self, n: int) -> None:
        pass


async def aprocess_chunk(
    records: Sequence[Record], *, embeddings: Any, store: Any, namespace: str | None, force: bool = False
) -> ChunkResult:
    """Existence check, embed and upsert one chunk of deduplicated records (issue 13 contract)."""
    sink = _Collect()
    pipeline = _ingestion._Pipeline(
        store=store,
        embeddings=embeddings,
        namespace=namespace,
        force=force,
        sink=sink,  # type: ignore[arg-type]
    )
    pipeline.bar = _NoBar()
    chunk = _ingestion._Chunk(
        records=[_ingestion._Record(r.row, r.id, r.text, dict(r.metadata)) for r in records],
        rejected=[],
        read=len(records),
        duplicates=0,
    )
    await pipeline.process(chunk)
    return ChunkResult(pipeline.embedded, pipeline.upserted, pipeline.already_present, tuple(sink.items))


def process_chunk(
    records: Sequence[Record], *, embeddings: Any, store: Any, namespace: str | None, force: bool = False
) -> ChunkResult:
    """Sync twin of :func:`aprocess_chunk`."""
    return asyncio.run(aprocess_chunk(records, embeddings=embeddings, store=store, namespace=namespace, force=force))


def merge_reports(reports: Iterable[IngestReport]) -> IngestReport:
    """Sum reports (issue 13 gives ``IngestReport.__add__``); ``seconds`` is the longest, not the sum."""
    total = IngestReport()
    for report in reports:
        counts = {
            name: getattr(total, name) + getattr(report, name)
            for name in ("read", "duplicates", "already_present", "embedded", "upserted", "failed")
        }
        seconds = max(total.seconds, report.seconds)
        total = dataclasses.replace(
            total,
            **counts,
            seconds=seconds,
            records_per_second=counts["read"] / seconds if seconds > 0 else 0.0,
            errors_file=total.errors_file or report.errors_file,
            rejected=(total.rejected + report.rejected)[:100],
        )
    return total


def report_from_chunks(
    results: Iterable[ChunkResult], *, read: int, duplicates: int, rejected_before: Sequence[RejectedRecord] = ()
) -> IngestReport:
    """An :class:`IngestReport` from chunk results plus what preparation counted (issue 13 gives a classmethod)."""
    embedded = upserted = present = 0
    rejected = list(rejected_before)
    for result in results:
        embedded += result.embedded
        upserted += result.upserted
        present += result.already_present
        rejected.extend(result.rejected)
    return IngestReport(
        read=read,
        duplicates=duplicates,
        already_present=present,
        embedded=embedded,
        upserted=upserted,
        failed=len(rejected),
        rejected=tuple(rejected[:100]),
    )
