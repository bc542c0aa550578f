"""Constructor names of the embeddings users swap from, mapped to :class:`InferenceEndpointEmbeddings` fields.

So that changing only the class name works:

- langchain-huggingface ``HuggingFaceEndpointEmbeddings(model=..., repo_id=..., task=..., provider=...,
  model_kwargs={...}, huggingfacehub_api_token=...)`` (``langchain_huggingface/embeddings/
  huggingface_endpoint.py``; also langchain-community's deprecated ``HuggingFaceHubEmbeddings``);
- langchain-community ``HuggingFaceInferenceAPIEmbeddings(api_key=..., model_name=..., api_url=...,
  additional_headers=...)`` (``langchain_community/embeddings/huggingface.py``).

Rules (each mapping is exact or refused with a message naming the fix, never silently ignored):

- ``model`` / ``repo_id``: an ``http(s)://`` URL is the ``endpoint_url``; a name without ``/`` is an
  ``endpoint_name`` (a managed Inference Endpoint, resolved at first use); a model repository id
  (``org/name``) is refused: this class talks to an endpoint, not to serverless inference.
- ``huggingfacehub_api_token`` / ``api_key``: the ``hf_token``.
- ``api_url``: the ``endpoint_url``. ``model_name`` only named the model behind the public API; it is accepted
  (and unused: the endpoint serves its own model) when an endpoint is given, refused otherwise.
- ``model_kwargs``: ``normalize``, ``truncate``, ``prompt_name``, ``truncation_direction`` (the keyword
  arguments of ``huggingface_hub.InferenceClient.feature_extraction`` that langchain-huggingface forwards);
  any other entry is refused by name.
- ``task``: ``"feature-extraction"`` (langchain-huggingface's only valid task) or ``None``.
- ``provider``: ``None`` only (a serverless inference provider is not an endpoint).
- ``additional_headers``: empty only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from hf_pinecone.errors import UnsupportedArgumentError

__all__ = ["MODEL_KWARGS", "map_compat_names"]

MODEL_KWARGS: dict[str, str] = {
    "normalize": "normalize",
    "truncate": "truncate",
    "prompt_name": "prompt_name",
    "truncation_direction": "truncation_direction",
}
"""``model_kwargs`` entries accepted, and the field each sets."""

_COMPAT = (
    "model",
    "repo_id",
    "huggingfacehub_api_token",
    "api_key",
    "api_url",
    "model_name",
    "model_kwargs",
    "task",
    "provider",
    "additional_headers",
)


def _set(out: dict[str, Any], field: str, value: Any, source: str) -> None:
    """Set ``field`` from the compatibility name ``source``; two different values for it are a conflict."""
    if field in out and out[field] is not None and out[field] != value:
        raise UnsupportedArgumentError(f"{source} and {field} are both given, with different values; pass only one")
    out[field] = value


def _is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def map_compat_names(data: Any) -> Any:
    """Rewrite the compatibility constructor names in ``data`` (the raw keyword arguments) to ours.

    Raises:
        UnsupportedArgumentError: A value that has no equivalent here (a model repository id, a provider, an
            unknown ``model_kwargs`` entry, ...), with the fix. Not a ``ValueError``, so that pydantic lets it
            through as it is instead of a ``ValidationError`` quoting every argument (the token too).
    """
    if not isinstance(data, Mapping) or not any(name in data for name in _COMPAT):
        return data
    out = {k: v for k, v in data.items() if k not in _COMPAT}

    task = data.get("task", "feature-extraction")
    if task not in (None, "feature-extraction"):
        raise UnsupportedArgumentError(f"task={task!r}: endpoint embeddings are task 'feature-extraction'; drop task=")
    provider = data.get("provider")
    if provider is not None:
        raise UnsupportedArgumentError(
            f"provider={provider!r} selects a serverless inference provider; InferenceEndpointEmbeddings talks to "
            "your Inference Endpoint: drop provider= and give the endpoint (model=URL, endpoint_url= or endpoint_name=)"
        )
    headers = data.get("additional_headers")
    if headers:
        raise UnsupportedArgumentError(
            "additional_headers is not supported: the client sends the token (hf_token) and JSON headers itself; "
            "drop additional_headers="
        )

    for name in ("huggingfacehub_api_token", "api_key"):
        token = data.get(name)
        if token is not None:
            _set(out, "hf_token", token, name)

    api_url = data.get("api_url")
    if api_url is not None:
        _set(out, "endpoint_url", api_url, "api_url")

    for name in ("model", "repo_id"):
        value = data.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise UnsupportedArgumentError(f"{name} must be an endpoint URL or an endpoint name, got {value!r}")
        if _is_url(value):
            _set(out, "endpoint_url", value, name)
        elif "/" in value:
            raise UnsupportedArgumentError(
                f"{name}={value!r} is a model repository id; InferenceEndpointEmbeddings embeds with an Inference "
                f"Endpoint: pass its URL ({name}='https://....endpoints.huggingface.cloud' or endpoint_url=), or its "
                f"name (endpoint_name=); to deploy one: hf-pinecone endpoint create NAME -r {value}"
            )
        else:
            _set(out, "endpoint_name", value, name)

    model_name = data.get("model_name")
    if model_name is not None:
        has_endpoint = out.get("endpoint_url") or out.get("endpoint_name") or os.environ.get("HF_ENDPOINT_URL")
        if not has_endpoint:
            raise UnsupportedArgumentError(
                f"model_name={model_name!r} alone means Hugging Face's public inference API; this class "
                "embeds with an Inference Endpoint: add api_url= (or endpoint_url=) with its URL, or endpoint_name="
            )
        # With an endpoint, model_name is informational: the endpoint serves the model it was deployed with.

    model_kwargs = data.get("model_kwargs")
    if model_kwargs is not None:
        if not isinstance(model_kwargs, Mapping):
            raise UnsupportedArgumentError(f"model_kwargs must be a dict, got {type(model_kwargs).__name__}")
        unknown = sorted(str(k) for k in model_kwargs if k not in MODEL_KWARGS)
        if unknown:
            raise UnsupportedArgumentError(
                f"model_kwargs {', '.join(map(repr, unknown))} not supported; "
                f"supported: {', '.join(MODEL_KWARGS)} (or pass them as fields, e.g. normalize=True)"
            )
        for key, value in model_kwargs.items():
            _set(out, MODEL_KWARGS[key], value, f"model_kwargs[{key!r}]")
    return out
