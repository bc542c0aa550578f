"""What ingestion did: per chunk (:class:`ChunkResult`) and per run (:class:`IngestReport`, mergeable with ``+``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = ["REJECTED_SAMPLE", "ChunkResult", "IngestReport", "RejectedRecord"]

REJECTED_SAMPLE = 100
"""Rejected records kept in :attr:`IngestReport.rejected` (all of them go to the errors file)."""


@dataclass(frozen=True)
class RejectedRecord:
    """A record that was not stored, and why.

    Attributes:
        row: 0-based position of the record in the source.
        id: The record's id, when one could be computed.
        text: The record's text, when it was a string.
        reason: Why it was rejected (the endpoint's or the store's own message when they rejected it).
    """

    row: int
    id: str | None
    text: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON line written to an errors file."""
        return {"id": self.id, "text": self.text, "reason": self.reason, "row": self.row}


@dataclass(frozen=True)
class ChunkResult:
    """What :func:`~hf_pinecone.ingestion.process_chunk` did with one chunk of records.

    Attributes:
        embedded: Records embedded.
        upserted: Records Pinecone acknowledged.
        already_present: Records skipped because their id was already stored (never with ``force``).
        rejected: Records refused by the endpoint or the store, with reasons (none is dropped silently).
    """

    embedded: int = 0
    upserted: int = 0
    already_present: int = 0
    rejected: tuple[RejectedRecord, ...] = ()

    @property
    def failed(self) -> int:
        """Number of rejected records."""
        return len(self.rejected)

    @property
    def done(self) -> int:
        """Records of the chunk dealt with: skipped, stored or rejected."""
        return self.already_present + self.upserted + self.failed


@dataclass(frozen=True)
class IngestReport:
    """What an ingestion run did.

    ``read == duplicates + already_present + upserted + failed`` when the run completed; after a run-level
    failure the difference is what was left unprocessed. Reports merge: ``a + b`` adds every count and the
    seconds (use it to combine the reports of several workers or runs; ``records_per_second`` is recomputed).

    Attributes:
        read: Records read from the source (after ``limit``).
        duplicates: Records dropped because an earlier record had the same id (first occurrence wins).
        already_present: Records skipped because their id was already in the index (never with ``force``).
        embedded: Records embedded in this run.
        upserted: Records written to the store in this run.
        failed: Records rejected (bad input, or refused by the endpoint or the store); see ``errors_file``.
        seconds: Wall-clock duration of the run.
        records_per_second: ``read / seconds``: how fast the source was worked through.
        errors_file: File listing each rejected record (``id``, ``text``, ``reason``, ``row``), or ``None``
            when nothing was rejected or no file was requested.
        rejected: The first rejected records (at most 100), also when no errors file was requested.
    """

    read: int = 0
    duplicates: int = 0
    already_present: int = 0
    embedded: int = 0
    upserted: int = 0
    failed: int = 0
    seconds: float = 0.0
    records_per_second: float = 0.0
    errors_file: Path | None = None
    rejected: tuple[RejectedRecord, ...] = field(default=(), repr=False)

    @property
    def status(self) -> str:
        """``"ok"`` when nothing was rejected, else ``"partial"``."""
        return "partial" if self.failed else "ok"

    @classmethod
    def from_chunks(
        cls,
        results: Iterable[ChunkResult],
        *,
        read: int = 0,
        duplicates: int = 0,
        seconds: float = 0.0,
        errors_file: Path | None = None,
    ) -> IngestReport:
        """A report summing chunk results (``read`` and ``duplicates`` come from the reader)."""
        embedded = upserted = present = failed = 0
        sample: list[RejectedRecord] = []
        for result in results:
            embedded += result.embedded
            upserted += result.upserted
            present += result.already_present
            failed += result.failed
            sample.extend(result.rejected[: max(0, REJECTED_SAMPLE - len(sample))])
        return cls(
            read=read,
            duplicates=duplicates,
            already_present=present,
            embedded=embedded,
            upserted=upserted,
            failed=failed,
            seconds=seconds,
            records_per_second=read / seconds if seconds > 0 else 0.0,
            errors_file=errors_file,
            rejected=tuple(sample),
        )

    def __add__(self, other: IngestReport) -> IngestReport:
        if not isinstance(other, IngestReport):
            return NotImplemented
        seconds = self.seconds + other.seconds
        read = self.read + other.read
        return IngestReport(
            read=read,
            duplicates=self.duplicates + other.duplicates,
            already_present=self.already_present + other.already_present,
            embedded=self.embedded + other.embedded,
            upserted=self.upserted + other.upserted,
            failed=self.failed + other.failed,
            seconds=seconds,
            records_per_second=read / seconds if seconds > 0 else 0.0,
            errors_file=self.errors_file or other.errors_file,
            rejected=(self.rejected + other.rejected)[:REJECTED_SAMPLE],
        )

    def with_timing(self, seconds: float) -> IngestReport:
        """This report with ``seconds`` (wall clock of the whole run) and the rate recomputed."""
        return replace(self, seconds=seconds, records_per_second=self.read / seconds if seconds > 0 else 0.0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (``rejected`` left out: it is in the errors file)."""
        out = asdict(self)
        out.pop("rejected")
        out["errors_file"] = str(self.errors_file) if self.errors_file else None
        out["seconds"] = round(self.seconds, 3)
        out["records_per_second"] = round(self.records_per_second, 1)
        return out

    def __str__(self) -> str:
        text = (
            f"read {self.read}, duplicates {self.duplicates}, already present {self.already_present}, "
            f"embedded {self.embedded}, upserted {self.upserted}, failed {self.failed} "
            f"in {self.seconds:.1f} s ({self.records_per_second:.0f} records/s)"
        )
        if self.errors_file is not None:
            text += f"; rejected records in {self.errors_file}"
        return text
