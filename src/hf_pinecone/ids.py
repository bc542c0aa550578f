"""Deterministic record ids derived from content, so re-adding the same text overwrites instead of duplicating."""

from __future__ import annotations

import hashlib
import uuid

__all__ = ["content_id"]

# Fixed namespace UUID for hf-pinecone ids; changing it would change every id ever written.
_ID_NAMESPACE = uuid.UUID("5b0e5f3c-6f2b-4d39-9a7e-6c1d8a0f4b21")
_ID_PREFIX = _ID_NAMESPACE.bytes


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
    # uuid.uuid5 computed directly (sha1 of the namespace bytes and the name, version 5, RFC 4122 variant):
    # the same string, without building a UUID object per record (tests compare it with uuid.uuid5).
    digest = bytearray(hashlib.sha1(_ID_PREFIX + f"{namespace or ''}\x00{text}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
