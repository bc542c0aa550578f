"""From source rows to records: text, deterministic id, metadata, each checked by the one Pinecone rule.

:class:`RecordPreparer` is pure and engine-neutral: the local reader, Ray's ``map_batches`` and Spark's
``mapInPandas`` all turn rows into :class:`Record` objects (or :class:`RejectedRecord` with a reason) through
it, so a row is accepted or refused the same way on every engine, and by the store.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hf_pinecone._pinecone.limits import MAX_METADATA_BYTES
from hf_pinecone._pinecone.records import id_problem, metadata_problem, normalize_metadata_value
from hf_pinecone.errors import ConfigurationError
from hf_pinecone.ids import content_id
from hf_pinecone.ingestion.report import RejectedRecord

__all__ = ["TEXT_KEY", "Record", "RecordPreparer"]

logger = logging.getLogger("hf_pinecone")

TEXT_KEY = "text"
"""Metadata key that holds a record's text (the store's default ``text_key``)."""


@dataclass(frozen=True, slots=True)
class Record:
    """One prepared record, ready to embed and upsert.

    Attributes:
        row: 0-based position in the source (per partition on distributed engines).
        id: Deterministic id (``content_id(text, namespace)``) or the id column's value.
        text: The text to embed.
        metadata: What is stored: the metadata columns and the text under ``"text"``.
    """

    row: int
    id: str
    text: str
    metadata: dict[str, Any]


class RecordPreparer:
    """Turns rows (mappings, or plain strings) into :class:`Record` or :class:`RejectedRecord`.

    Args:
        column: The text column (default ``"text"``); must be ``None`` for plain-string rows.
        id_column: Column holding record ids; by default ids are derived from the text and namespace.
        metadata_columns: Columns stored as metadata; by default every column other than the text and id
            columns. ``None`` values are left out (Pinecone has no null).
        namespace: The namespace (part of derived ids).
        max_metadata_bytes: Metadata size limit (with the text), ``None`` for no check (non-Pinecone stores).

    Column problems (a missing column, ``column`` given for plain strings) raise
    :class:`~hf_pinecone.errors.ConfigurationError`: they concern every row. Row problems (not a string,
    empty text, bad id, unsupported or too large metadata) reject that row with a reason.
    """

    def __init__(
        self,
        *,
        column: str | None = None,
        id_column: str | None = None,
        metadata_columns: Sequence[str] | None = None,
        namespace: str | None = None,
        max_metadata_bytes: int | None = MAX_METADATA_BYTES,
    ) -> None:
        self.column = column
        self.id_column = id_column
        self.metadata_columns = list(metadata_columns) if metadata_columns is not None else None
        self.namespace = namespace
        self.max_metadata_bytes = max_metadata_bytes
        self._warned_text_column = False

    def prepare(self, row: Any, row_number: int) -> Record | RejectedRecord:
        """Prepare one row.

        Raises:
            ConfigurationError: A column problem that concerns every row.
        """
        if isinstance(row, Mapping):
            column = self.column or TEXT_KEY
            if column not in row:
                raise ConfigurationError(
                    f"text column {column!r} not found; the records have: {', '.join(map(str, row)) or '(nothing)'}"
                )
            raw_text = row[column]
            extra = self._extra_columns(row, column)
        else:
            if self.column is not None or self.id_column is not None:
                raise ConfigurationError(
                    f"column/id_column given but the source yields {type(row).__name__}, not records (mappings)"
                )
            raw_text, extra = row, {}
        if not isinstance(raw_text, str):
            return RejectedRecord(row_number, None, None, f"text is {type(raw_text).__name__}, not a string")
        text = raw_text
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            return RejectedRecord(
                row_number, None, None, f"text is not valid Unicode ({exc.reason} at position {exc.start})"
            )
        if self.id_column is not None:
            assert isinstance(row, Mapping)
            if self.id_column not in row:
                raise ConfigurationError(f"id column {self.id_column!r} not found; the records have: {', '.join(row)}")
            raw_id = row[self.id_column]
            record_id = "" if raw_id is None else str(raw_id)
            problem = id_problem(record_id)
            if problem is not None:
                return RejectedRecord(row_number, None, text, problem)
        else:
            record_id = content_id(text, self.namespace)
        if not text.strip():
            # TEI answers 400 "`inputs` cannot be empty" (router/src/http/server.rs): refused before sending.
            return RejectedRecord(row_number, record_id, text, "empty or whitespace-only text")
        metadata: dict[str, Any] = {}
        for name, value in extra.items():
            keep, clean, problem = normalize_metadata_value(name, value)
            if problem is not None:
                return RejectedRecord(row_number, record_id, text, problem + self._column_hint())
            if keep:
                metadata[name] = clean
        metadata[TEXT_KEY] = text
        if self.max_metadata_bytes is not None:
            problem = metadata_problem(metadata, limit=self.max_metadata_bytes)
            if problem is not None:
                return RejectedRecord(row_number, record_id, text, problem)
        return Record(row_number, record_id, text, metadata)

    def _column_hint(self) -> str:
        return " (leave the column out: metadata_columns= in Python, --metadata-column on the command line)"

    def _extra_columns(self, row: Mapping[str, Any], column: str) -> dict[str, Any]:
        skip = {column, self.id_column}
        if self.metadata_columns is None:
            names = [name for name in row if name not in skip]
        else:
            missing = [name for name in self.metadata_columns if name not in row]
            if missing:
                raise ConfigurationError(
                    f"metadata column(s) {', '.join(map(repr, missing))} not found; the records have: {', '.join(row)}"
                )
            names = [name for name in self.metadata_columns if name not in skip]
        if TEXT_KEY in names:
            if self.metadata_columns is not None:
                raise ConfigurationError(
                    f"metadata column {TEXT_KEY!r} would overwrite the stored text (column {column!r})"
                )
            names.remove(TEXT_KEY)
            if not self._warned_text_column:
                self._warned_text_column = True
                logger.warning(
                    "column %r is not stored: metadata %r holds the text of column %r", TEXT_KEY, TEXT_KEY, column
                )
        return {name: row[name] for name in names}
