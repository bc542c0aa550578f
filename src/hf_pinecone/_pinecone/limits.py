"""Pinecone's limits and naming rules, defined once for the store, ingestion, the CLI and the control plane.

Sources: Pinecone's documentation "Limits" (https://docs.pinecone.io/reference/api/database-limits) and the
data-plane API reference (https://docs.pinecone.io/reference/api/2025-04/data-plane/upsert).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "API_VERSION",
    "DEFAULT_NAMESPACE",
    "INDEX_NAME_RULE",
    "MAX_DIMENSION",
    "MAX_FETCH_IDS",
    "MAX_FETCH_QUERY_BYTES",
    "MAX_ID_LENGTH",
    "MAX_METADATA_BYTES",
    "MAX_REQUEST_BYTES",
    "MAX_TOP_K",
    "MAX_UPSERT_RECORDS",
    "METRICS",
    "index_name_problem",
]

API_VERSION: Final = "2025-04"
"""The ``X-Pinecone-API-Version`` this library speaks (the one pinecone SDK 7.x sends)."""
DEFAULT_NAMESPACE: Final = "__default__"
"""The default namespace's name in API 2025-04 (also ``""``): "To target the default namespace, use
``__default__``" (docs.pinecone.io/reference/api/2025-04/data-plane/listnamespaces)."""
MAX_UPSERT_RECORDS: Final = 1000
"""Records per upsert request."""
MAX_REQUEST_BYTES: Final = 2_000_000
"""Serialized upsert request size we stay strictly below (Pinecone allows 2 MB)."""
MAX_METADATA_BYTES: Final = 40_960
"""Metadata per record, in bytes of its compact UTF-8 JSON (the stored text counts towards it)."""
MAX_FETCH_IDS: Final = 1000
"""Ids per fetch or delete request."""
MAX_FETCH_QUERY_BYTES: Final = 48_000
"""Budget for the ``ids=...`` query string of one fetch (a GET): 1,000 UUIDs fit, 1,000 long ids do not."""
MAX_ID_LENGTH: Final = 512
"""Characters per record id."""
MAX_DIMENSION: Final = 20_000
"""Dense vector dimension."""
MAX_TOP_K: Final = 10_000
"""Matches per query."""
METRICS: Final = ("cosine", "euclidean", "dotproduct")
"""Similarity metrics of a dense index."""
INDEX_NAME_RULE: Final = "1-45 characters, lowercase letters, digits or '-', starting and ending with a letter or digit"

_INDEX_NAME_RE: Final = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,43}[a-z0-9])?$")


def index_name_problem(name: object) -> str | None:
    """Why ``name`` is not a valid Pinecone index name, or ``None`` when it is."""
    if not isinstance(name, str):
        return f"an index name must be a string, got {type(name).__name__}"
    if not _INDEX_NAME_RE.match(name):
        return f"invalid index name {name!r}: use {INDEX_NAME_RULE}"
    return None
