"""Typed exception hierarchy for hf-pinecone: every error the library raises on purpose, in one module.

Every error raised on purpose by this library derives from :class:`HfPineconeError`. Messages name the
problem (status, URL, the server's own message) and never contain a secret: tokens and API keys are
scrubbed by :func:`redact` before they reach a message. No exception of the ``pinecone`` SDK, urllib3, httpx
or aiohttp escapes a public call of the store or of the control-plane functions: they are translated into
the ``PineconeStoreError`` branch below (the original is kept as ``__cause__``).

The tree::

    HfPineconeError
    ├── ConfigurationError (also ValueError)
    │   └── InsecureTransportError
    ├── RerankInputError (also ValueError)  no texts, or an empty query (hf_pinecone.rerank)
    ├── EndpointError                       .status_code .url .server_message
    │   ├── EndpointAuthError
    │   ├── EndpointRequestError
    │   ├── EndpointUnavailableError
    │   ├── EndpointResponseError
    │   ├── EndpointModelError              the model cannot serve the route (no SPLADE for /embed_sparse)
    │   └── EndpointLifecycleError          .name .namespace .state   (management API)
    │       ├── LifecycleAuthError (also EndpointAuthError)
    │       ├── EndpointNotFoundError
    │       ├── EndpointConflictError
    │       └── EndpointStateError
    │           ├── EndpointPausedError
    │           ├── EndpointScaledToZeroError
    │           ├── EndpointFailedError
    │           └── EndpointWaitTimeoutError (also TimeoutError)
    ├── PineconeStoreError
    │   ├── PineconeRequestError            .operation .status_code .attempts .host .server_message
    │   │   ├── PineconeAuthError           401 / 403: wrong key or no access (never retried)
    │   │   ├── PineconeUnavailableError    429 / 5xx / connection failures, after every retry
    │   │   ├── PineconeResponseError       2xx whose body is not the expected JSON, after every retry
    │   │   └── IndexNotFoundError          404 on an index
    │   ├── IndexMismatchError              dimension / metric / type differs; nothing written
    │   ├── MetadataTooLargeError (also ValueError)   .record_id .size
    │   └── InvalidRecordError (also ValueError)      .record_id .field
    │       └── InvalidSparseVectorError   lengths differ, negative or repeated indices, > 1,000 values
    └── IngestError                         .report (the partial IngestReport)
        └── ChunkError                      .result (the chunk's partial ChunkResult); __cause__ says why

    KeyboardInterrupt
    └── IngestInterrupted                   .report (what was stored before Ctrl-C); not an HfPineconeError
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = [
    "ChunkError",
    "ConfigurationError",
    "EndpointAuthError",
    "EndpointConflictError",
    "EndpointError",
    "EndpointFailedError",
    "EndpointLifecycleError",
    "EndpointModelError",
    "EndpointNotFoundError",
    "EndpointPausedError",
    "EndpointRequestError",
    "EndpointResponseError",
    "EndpointScaledToZeroError",
    "EndpointStateError",
    "EndpointUnavailableError",
    "EndpointWaitTimeoutError",
    "HfPineconeError",
    "IndexMismatchError",
    "IndexNotFoundError",
    "IngestError",
    "IngestInterrupted",
    "InsecureTransportError",
    "InvalidRecordError",
    "InvalidSparseVectorError",
    "LifecycleAuthError",
    "MetadataTooLargeError",
    "PineconeAuthError",
    "PineconeRequestError",
    "PineconeResponseError",
    "PineconeStoreError",
    "PineconeUnavailableError",
    "RerankInputError",
    "UnsupportedArgumentError",
    "redact",
]

_REDACTED = "***"
# Bearer tokens and api keys that may appear inside server messages or URLs.
# Shapes, not names: the library's own identifiers (``hf_pinecone.lifecycle``, ``pinecone_api_key=``) must
# survive, so a key-shaped value is a run of token characters, not a word followed by punctuation.
_SECRET_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]+"),
    # `api_key=VALUE` / `"apiKey": "VALUE"`; the value starts with a token character, so prose such as
    # "pinecone_api_key=/api_key=)" is left alone.
    re.compile(r"(?i)(api[-_]?key[\"']?\s*[:=]\s*[\"']?)(?=[A-Za-z0-9])[^\s\"',})/]{4,}"),
    # User access tokens are "hf_" + 34 random letters and digits (huggingface_hub's token docs): at least 20
    # characters after the prefix, not part of a longer identifier, and not a lowercase word.
    re.compile(r"(?<![A-Za-z0-9_.])hf_(?![a-z]+(?![A-Za-z0-9]))[A-Za-z0-9]{20,}"),
    re.compile(r"(?<![A-Za-z0-9_.])pcsk_[A-Za-z0-9_]{8,}"),
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


class UnsupportedArgumentError(HfPineconeError, TypeError):
    """A constructor argument (e.g. a langchain-huggingface name) that has no equivalent here; says what to pass.

    A ``TypeError`` like Python's own "unexpected keyword argument", and deliberately no ``ValueError``: pydantic
    would wrap one into a ``ValidationError`` that quotes the raw arguments, tokens included.
    """


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


class RerankInputError(HfPineconeError, ValueError):
    """A rerank call was given nothing to rank (no texts) or an empty query; nothing was sent."""


# ---------------------------------------------------------------- Inference Endpoint management API
class EndpointLifecycleError(EndpointError):
    """A management operation on an Inference Endpoint failed (create, get, pause, resume, delete...).

    Attributes:
        name: Endpoint name.
        namespace: Endpoint namespace (user or organization), when known.
        state: Last known endpoint state, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        name: str | None = None,
        namespace: str | None = None,
        state: str | None = None,
        status_code: int | None = None,
        url: str | None = None,
        server_message: str | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, url=url, server_message=server_message)
        self.name = name
        self.namespace = namespace
        self.state = state


class LifecycleAuthError(EndpointLifecycleError, EndpointAuthError):
    """The management API refused the token (401/403), or the token lacks permission on the namespace."""


class EndpointNotFoundError(EndpointLifecycleError):
    """No Inference Endpoint with this name exists in the namespace."""


class EndpointConflictError(EndpointLifecycleError):
    """The name is taken: by an endpoint serving another repository, or the API answered 409 Conflict."""


class EndpointStateError(EndpointLifecycleError):
    """The endpoint is in a state that cannot serve requests; the message says how to get it running."""


class EndpointPausedError(EndpointStateError):
    """The endpoint is paused: only an explicit resume brings it back (``auto_resume=True`` does it)."""


class EndpointScaledToZeroError(EndpointStateError):
    """The endpoint is scaled to zero and waking it was not allowed (``auto_resume=False``)."""


class EndpointFailedError(EndpointStateError):
    """The endpoint failed to deploy or to update (state ``failed`` / ``updateFailed``)."""


class EndpointWaitTimeoutError(EndpointStateError, TimeoutError):
    """The endpoint did not reach ``running`` (and pass its health check) within the timeout."""



# ---------------------------------------------------------------- Pinecone
class PineconeStoreError(HfPineconeError):
    """A Pinecone index or store operation failed."""


class PineconeRequestError(PineconeStoreError):
    """A Pinecone HTTP request (control or data plane) failed.

    Attributes:
        operation: What was attempted (``upsert``, ``fetch``, ``query``, ``describe_index`` ...).
        status_code: HTTP status of the last answer, or ``None`` when no answer arrived.
        attempts: Requests sent in all (the first one plus retries).
        host: The host that was asked (never carries credentials).
        server_message: Pinecone's own error message, when it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str,
        status_code: int | None = None,
        attempts: int = 1,
        host: str | None = None,
        server_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.operation = operation
        self.status_code = status_code
        self.attempts = attempts
        self.host = host
        self.server_message = server_message


class PineconeAuthError(PineconeRequestError):
    """Pinecone refused the API key (401) or the key has no access to the resource (403). Never retried."""


class PineconeUnavailableError(PineconeRequestError):
    """Pinecone stayed unavailable (429, 5xx, refused or broken connections, timeouts) after every retry."""


class PineconeResponseError(PineconeRequestError):
    """Pinecone (or a proxy in front of it) answered 2xx with a body that is not the expected JSON."""


class IndexNotFoundError(PineconeRequestError):
    """The named Pinecone index does not exist (or the data-plane host serves no index)."""

    def __init__(self, message: str, *, operation: str = "describe_index", **kwargs: Any) -> None:
        kwargs.setdefault("status_code", 404)
        super().__init__(message, operation=operation, **kwargs)


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


class InvalidSparseVectorError(InvalidRecordError):
    """Sparse values Pinecone cannot store or query; nothing was sent.

    Indices and values of different lengths, a negative, repeated or over-uint32 index, a non-finite value, or
    more than 1,000 non-zero values. ``field`` is ``"sparse_values"``; ``record_id`` is ``None`` for a query.
    """


class EndpointModelError(EndpointError):
    """The endpoint's model cannot serve the route asked; never retried or bisected (every text would fail).

    E.g. ``/embed_sparse`` on an endpoint that serves no SPLADE model (TEI answers 424 "Model is not an embedding
    model with SPLADE pooling"; the inference toolkit 404).
    """


class IngestError(HfPineconeError):
    """An ingestion run stopped on a run-level failure; work already upserted is kept.

    Attributes:
        report: The partial :class:`~hf_pinecone.ingestion.IngestReport` of what was done before the failure.
    """

    def __init__(self, message: str, *, report: Any = None) -> None:
        super().__init__(message)
        self.report = report


class ChunkError(IngestError):
    """A run-level failure stopped one chunk of :func:`~hf_pinecone.ingestion.process_chunk`.

    The cause (``__cause__``) is the endpoint's or the store's error; ``result`` counts what the chunk did
    before it (records embedded; records skipped as already present), so a caller merging chunk results keeps
    exact totals.

    Attributes:
        result: The partial :class:`~hf_pinecone.ingestion.ChunkResult`.
    """

    def __init__(self, message: str, *, result: Any) -> None:
        super().__init__(message)
        self.result = result


class IngestInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped :func:`~hf_pinecone.ingestion.ingest`; what was upserted stays stored.

    A ``KeyboardInterrupt`` (so ``except Exception`` does not swallow it), carrying the partial report. Running
    the same ingestion again resumes it: records already stored are skipped, not re-embedded.

    Attributes:
        report: The partial :class:`~hf_pinecone.ingestion.IngestReport` (``None`` if Ctrl-C came before the
            first chunk was read).
    """

    def __init__(self, report: Any = None) -> None:
        super().__init__("ingestion interrupted")
        self.report = report
