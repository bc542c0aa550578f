"""Typed exception hierarchy for hf-pinecone.

Every error raised on purpose by this library derives from :class:`HfPineconeError`. Messages name the
problem (status, URL, the server's own message) and never contain a secret: tokens and API keys are
scrubbed by :func:`redact` before they reach a message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = [
    "ConfigurationError",
    "EndpointAuthError",
    "EndpointError",
    "EndpointRequestError",
    "EndpointResponseError",
    "EndpointUnavailableError",
    "HfPineconeError",
    "IndexMismatchError",
    "IndexNotFoundError",
    "IngestError",
    "InsecureTransportError",
    "InvalidRecordError",
    "MetadataTooLargeError",
    "PineconeStoreError",
    "redact",
]

_REDACTED = "***"
# Bearer tokens and api keys that may appear inside server messages or URLs.
_SECRET_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]+"),
    re.compile(r"(?i)(api[-_]?key[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"),
    re.compile(r"hf_[A-Za-z0-9]{8,}"),
    re.compile(r"pcsk_[A-Za-z0-9_]{8,}"),
]


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Remove secrets from ``text``.

    Args:
        text: Any message that may end up in an exception, a log line or CLI output.
        secrets: Literal secret values to remove (``None`` and empty values are ignored).

    Returns:
        ``text`` with each secret, and anything shaped like a bearer token or HF/Pinecone key,
        replaced by ``***``.
    """
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, _REDACTED)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + _REDACTED, text)
    return text


class HfPineconeError(Exception):
    """Base class of every error this library raises on purpose."""


class ConfigurationError(HfPineconeError, ValueError):
    """The configuration (arguments or environment) is missing, invalid or unsafe."""


class InsecureTransportError(ConfigurationError):
    """A token would be sent over plain http to a non-loopback host without the user's opt-in."""


class EndpointError(HfPineconeError):
    """An Inference Endpoint request failed.

    Attributes:
        status_code: HTTP status of the last response, or ``None`` when no response arrived.
        url: The endpoint URL (never carries credentials).
        server_message: The endpoint's own error message, when it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        url: str | None = None,
        server_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.url = url
        self.server_message = server_message


class EndpointAuthError(EndpointError):
    """The endpoint refused the credentials (401/403). Never retried."""


class EndpointRequestError(EndpointError):
    """The endpoint rejected the request (a 4xx other than 401/403/429); the message says why."""


class EndpointUnavailableError(EndpointError):
    """The endpoint stayed unavailable (429/5xx, connection errors, timeouts, cold start) after all retries."""


class EndpointResponseError(EndpointError):
    """The endpoint answered 2xx with a body that is not a valid batch of embeddings."""


class PineconeStoreError(HfPineconeError):
    """A Pinecone index or store operation failed."""


class IndexNotFoundError(PineconeStoreError):
    """The named Pinecone index does not exist."""


class IndexMismatchError(PineconeStoreError):
    """An existing index has a different dimension or metric than requested; nothing was written."""


class MetadataTooLargeError(PineconeStoreError, ValueError):
    """A record's metadata exceeds Pinecone's 40 KB per-vector limit.

    Attributes:
        record_id: Id of the offending record.
        size: Serialized metadata size in bytes.
    """

    def __init__(self, message: str, *, record_id: str, size: int) -> None:
        super().__init__(message)
        self.record_id = record_id
        self.size = size


class InvalidRecordError(PineconeStoreError, ValueError):
    """A record cannot be stored in Pinecone as given (bad id, metadata type or vector); nothing was written.

    Attributes:
        record_id: Id of the offending record (``None`` when the id itself is the problem and empty).
        field: The metadata key, ``"id"`` or ``"values"`` that is invalid.
    """

    def __init__(self, message: str, *, record_id: str | None, field: str) -> None:
        super().__init__(message)
        self.record_id = record_id
        self.field = field


class IngestError(HfPineconeError):
    """An ingestion run stopped on a run-level failure; work already upserted is kept.

    Attributes:
        report: The partial :class:`~hf_pinecone.ingestion.IngestReport` of what was done before the failure.
    """

    def __init__(self, message: str, *, report: Any = None) -> None:
        super().__init__(message)
        self.report = report
