"""Configuration resolved from arguments and the environment, shared by the CLI and :func:`hf_pinecone.from_env`.

Rules (flags/arguments override env):
- ``HF_ENDPOINT_URL`` unset -> the local endpoint server (bundled all-MiniLM-L6-v2) is started in-process.
- ``PINECONE_API_KEY`` and ``PINECONE_CONTROLLER_HOST`` both unset -> the local Pinecone server is started
  in-process, persisted under ``HF_PINECONE_HOME`` (default: the user data directory).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import SecretStr

__all__ = ["DEFAULT_INDEX_NAME", "LOCAL_PINECONE_API_KEY", "Settings"]

DEFAULT_INDEX_NAME = "hf-endpoints"
# Any key is accepted by the local Pinecone server started without --api-key; the SDK insists on one.
LOCAL_PINECONE_API_KEY = "local"


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value else None


def _secret_env(*names: str) -> SecretStr | None:
    for name in names:
        value = _env(name)
        if value:
            return SecretStr(value)
    return None


@dataclass(frozen=True)
class Settings:
    """Where the endpoint and the index live, and how to reach them.

    Attributes:
        endpoint_url: Inference Endpoint URL; ``None`` means the local endpoint server.
        hf_token: Token sent to the endpoint (``HF_TOKEN`` / ``HUGGINGFACEHUB_API_TOKEN``).
        pinecone_api_key: Pinecone API key; ``None`` (with no controller host) means the local Pinecone server.
        index_name: Pinecone index name (``PINECONE_INDEX_NAME``, default ``hf-endpoints``).
        controller_host: Pinecone control-plane URL (``PINECONE_CONTROLLER_HOST``).
        home: Directory for local state (``HF_PINECONE_HOME``); the local server persists to ``home/pinecone``.
        namespace: Pinecone namespace; ``None`` is the default namespace.
    """

    endpoint_url: str | None = None
    hf_token: SecretStr | None = field(default=None, repr=False)
    pinecone_api_key: SecretStr | None = field(default=None, repr=False)
    index_name: str = DEFAULT_INDEX_NAME
    controller_host: str | None = None
    home: Path = field(default_factory=lambda: Path(platformdirs.user_data_dir("hf-pinecone")))
    namespace: str | None = None

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Read the environment, then apply ``overrides`` whose value is not ``None``."""
        home = _env("HF_PINECONE_HOME")
        settings = cls(
            endpoint_url=_env("HF_ENDPOINT_URL"),
            hf_token=_secret_env("HF_TOKEN", "HUGGINGFACEHUB_API_TOKEN"),
            pinecone_api_key=_secret_env("PINECONE_API_KEY"),
            index_name=_env("PINECONE_INDEX_NAME") or DEFAULT_INDEX_NAME,
            controller_host=_env("PINECONE_CONTROLLER_HOST"),
            home=Path(home).expanduser() if home else Path(platformdirs.user_data_dir("hf-pinecone")),
        )
        clean = {k: v for k, v in overrides.items() if v is not None}
        for key in ("hf_token", "pinecone_api_key"):
            if isinstance(clean.get(key), str):
                clean[key] = SecretStr(clean[key])
        if isinstance(clean.get("home"), str):
            clean["home"] = Path(clean["home"]).expanduser()
        return replace(settings, **clean)

    @property
    def uses_local_endpoint(self) -> bool:
        """True when no endpoint URL is configured and the bundled local endpoint is used."""
        return self.endpoint_url is None

    @property
    def uses_local_pinecone(self) -> bool:
        """True when neither a Pinecone API key nor a controller host is configured."""
        return self.pinecone_api_key is None and self.controller_host is None

    @property
    def local_pinecone_dir(self) -> Path:
        """Data directory of the local Pinecone server."""
        return self.home / "pinecone"
