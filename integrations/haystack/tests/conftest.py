"""Fixtures for the Haystack integration: the real local endpoint (bundled all-MiniLM-L6-v2) and the local
Pinecone server over loopback HTTP, and a small SNLI retrieval sample (all from :mod:`hf_pinecone.testing`).

Self-contained on purpose: the top-level tests/conftest.py does not apply to this directory.
"""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hf_pinecone.testing import (
    LocalStandIns,
    RetrievalSample,
    load_retrieval_sample,
    scrubbed_env,
    use_offline_env,
)

# Without this integration installed (the project's own install command does install it), skip its tests instead of
# failing collection: `pip install -e "integrations/haystack[dev]"`.
_MISSING = [m for m in ("haystack", "hf_pinecone_haystack") if importlib.util.find_spec(m) is None]
if _MISSING:
    collect_ignore_glob = ["test_*.py"]


def pytest_report_header() -> str | None:
    if _MISSING:
        return f"integrations/haystack: not installed ({', '.join(_MISSING)}), its tests are skipped"
    return None


# Before anything imports haystack or transformers: no hub access, no telemetry.
use_offline_env(HAYSTACK_TELEMETRY_ENABLED="False")

SNLI_PARQUET = Path(__file__).resolve().parents[4] / "shared" / "data" / "snli_validation_partial.parquet"


@pytest.fixture(autouse=True)
def _clean_env(tmp_path: Path) -> Iterator[None]:
    """No credentials or endpoints from the developer's environment; no saved HF token either."""
    with scrubbed_env(hf_home=tmp_path / "hf-home"):
        yield


@pytest.fixture(scope="session")
def sample() -> RetrievalSample:
    """The SNLI sample from ../shared/data when present, else built-in sentences."""
    return load_retrieval_sample(SNLI_PARQUET if SNLI_PARQUET.is_file() else None)


@pytest.fixture(scope="session")
def _stand_ins() -> Iterator[LocalStandIns]:
    """The local servers, started on first use; both endpoints share one loaded model."""
    with LocalStandIns() as stand_ins:
        yield stand_ins


@pytest.fixture(scope="session")
def endpoint_token(_stand_ins: LocalStandIns) -> str:
    """The bearer token the secured endpoint server requires."""
    return _stand_ins.endpoint_token


@pytest.fixture(scope="session")
def endpoint_url(_stand_ins: LocalStandIns) -> str:
    """A local Inference Endpoint (no auth) serving the bundled all-MiniLM-L6-v2."""
    return _stand_ins.endpoint_url


@pytest.fixture(scope="session")
def secured_endpoint_url(_stand_ins: LocalStandIns) -> str:
    """The same model behind a server that requires ``Authorization: Bearer <endpoint_token>``."""
    return _stand_ins.secured_endpoint_url


@pytest.fixture(scope="session")
def pinecone_url(_stand_ins: LocalStandIns) -> str:
    """An in-memory local Pinecone server (control plane; data plane under /indexes/<name>)."""
    return _stand_ins.pinecone_url


@pytest.fixture
def pinecone_env(monkeypatch: pytest.MonkeyPatch, pinecone_url: str) -> str:
    """Point the Pinecone SDK (as created inside PineconeDocumentStore) at the local server."""
    monkeypatch.setenv("PINECONE_CONTROLLER_HOST", pinecone_url)
    monkeypatch.setenv("PINECONE_API_KEY", "local")
    return pinecone_url


@pytest.fixture
def index_name() -> str:
    """A fresh, valid Pinecone index name."""
    return f"hs-{uuid.uuid4().hex[:12]}"
