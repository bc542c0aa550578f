"""Shared fixtures: the local stand-in servers over real loopback HTTP, and an environment with no secrets.

Session-scoped servers are started once; tests that need a fresh index create one with a unique name.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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


HashEndpoint = Callable[..., str]


@pytest.fixture(scope="session")
def hash_endpoint() -> Iterator[HashEndpoint]:
    """Factory of local endpoints serving ``HashEmbedder`` vectors (deterministic, no model), over loopback.

    ``hash_endpoint(dimension=16, max_input_length=None, api_key=None)`` returns the base URL of a server with
    those settings; one server per distinct settings for the whole session.
    """
    from hf_pinecone.local import serve_endpoint
    from hf_pinecone.local.endpoint_server import HashEmbedder

    servers: dict[tuple[int, int | None, str | None], str] = {}
    with contextlib.ExitStack() as stack:

        def get(dimension: int = 16, *, max_input_length: int | None = None, api_key: str | None = None) -> str:
            key = (dimension, max_input_length, api_key)
            if key not in servers:
                embedder = HashEmbedder(dimension, max_input_length=max_input_length)
                servers[key] = stack.enter_context(serve_endpoint(embedder=embedder, api_key=api_key))
            return servers[key]

        yield get


def vector_count(store: Any, namespace: str | None = "") -> int:
    """Records in ``namespace`` of the store's index (``None``: in all namespaces), from describe_index_stats.

    Works for a :class:`~hf_pinecone.store.PineconeStore` and for a ``pinecone`` SDK ``Index``.
    """
    stats: Any = store.describe_index_stats()
    if not isinstance(stats, dict):  # an SDK Index answers a model object
        stats = stats.to_dict()
    if namespace is None:
        return int(stats.get("totalVectorCount", stats.get("total_vector_count", 0)) or 0)
    entry = (stats.get("namespaces") or {}).get(namespace) or {}
    return int(entry.get("vectorCount", entry.get("vector_count", 0)) or 0)


@pytest.fixture
def count_vectors() -> Callable[..., int]:
    """:func:`vector_count` as a fixture, for tests that prefer not to import from conftest."""
    return vector_count
