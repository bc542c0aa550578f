"""Deterministic record ids derived from content, so re-adding the same text overwrites instead of duplicating."""

from __future__ import annotations

import uuid

__all__ = ["content_id"]

# Fixed namespace UUID for hf-pinecone ids; changing it would change every id ever written.
_ID_NAMESPACE = uuid.UUID("5b0e5f3c-6f2b-4d39-9a7e-6c1d8a0f4b21")


def content_id(text: str, namespace: str | None = "") -> str:
    """Return a stable id for ``text`` in a Pinecone ``namespace``.

    The id is a UUIDv5 of the namespace and the exact text, so it is the same in every process and run,
    differs between namespaces, and fits Pinecone's 512-character id limit.

    Args:
        text: The record's text, exactly as stored.
        namespace: The Pinecone namespace (``None`` and ``""`` are the default namespace).

    Returns:
        A 36-character UUID string.
    """
    return str(uuid.uuid5(_ID_NAMESPACE, f"{namespace or ''}\x00{text}"))
