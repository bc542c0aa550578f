"""Shared fixtures: the local stand-in servers over real loopback HTTP, and an environment with no secrets.

Session-scoped servers are started once; tests that need a fresh index create one with a unique name.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Never reach a hub: the bundled model is loaded from site-packages.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

_SCRUBBED_ENV = (
    "HF_ENDPOINT_URL",
    "HF_SPARSE_ENDPOINT_URL",
    "HF_TOKEN",
    "HUGGINGFACEHUB_API_TOKEN",
    "PINECONE_API_KEY",
    "PINECONE_INDEX_NAME",
    "PINECONE_CONTROLLER_HOST",
    "PINECONE_HOST",
    "HF_PINECONE_HOME",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test starts with no credentials in the environment and its own HF_PINECONE_HOME."""
    for name in _SCRUBBED_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_PINECONE_HOME", str(tmp_path / "hf-pinecone-home"))
    # huggingface_hub.get_token() must not find a developer's real token.
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))


@pytest.fixture(scope="session")
def endpoint_url() -> Iterator[str]:
    """Base URL of a local Inference Endpoint serving the bundled all-MiniLM-L6-v2 (no auth)."""
    from hf_pinecone.local import serve_endpoint

    with serve_endpoint() as url:
        yield url


@pytest.fixture(scope="session")
def pinecone_url() -> Iterator[str]:
    """Base URL (control plane; data plane under /indexes/<name>) of an in-memory local Pinecone server."""
    from hf_pinecone.local import serve_pinecone

    with serve_pinecone() as url:
        yield url


@pytest.fixture
def index_name() -> str:
    """A fresh, valid Pinecone index name."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def shared_data() -> Path | None:
    """The project's ``../shared/data`` folder when present (tests must skip without it)."""
    return SHARED_DATA if SHARED_DATA.is_dir() else None
