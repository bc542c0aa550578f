"""Fixtures for the LlamaIndex integration: the real local endpoint (bundled all-MiniLM-L6-v2) and the local
Pinecone server over loopback HTTP, and a small SNLI retrieval sample.

Self-contained on purpose: the top-level tests/conftest.py does not apply to this directory.
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Without this integration installed (the project's own install command does install it), skip its tests instead of
# failing collection: `pip install -e "integrations/llama_index[dev]"`.
_MISSING = [m for m in ("llama_index", "hf_pinecone_llama_index") if importlib.util.find_spec(m) is None]
if _MISSING:
    collect_ignore_glob = ["test_*.py"]


def pytest_report_header() -> str | None:
    if _MISSING:
        return f"integrations/llama_index: not installed ({', '.join(_MISSING)}), its tests are skipped"
    return None

# Before anything imports transformers: no hub access.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SNLI_PARQUET = Path(__file__).resolve().parents[4] / "shared" / "data" / "snli_validation_partial.parquet"
SNLI_ROWS = 150  # 50 premises x 3 hypotheses: enough to measure retrieval, seconds on CPU
ENDPOINT_TOKEN = "hf_integrationTestToken0123"

_SCRUBBED_ENV = (
    "HF_ENDPOINT_URL",
    "HF_TOKEN",
    "HUGGINGFACEHUB_API_TOKEN",
    "PINECONE_API_KEY",
    "PINECONE_CONTROLLER_HOST",
    "PINECONE_INDEX_NAME",
    "PINECONE_HOST",
)

# Used when ../shared/data is absent: (premise, entailed hypothesis, contradicting hypothesis).
BUILTIN_PAIRS = [
    (
        "A man is playing a guitar on a stage in front of a crowd.",
        "A musician performs for an audience.",
        "A man is asleep in his bed.",
    ),
    (
        "Two children are building a sandcastle on the beach.",
        "Kids are playing in the sand.",
        "The children are skiing down a mountain.",
    ),
    (
        "A woman is slicing vegetables in a kitchen.",
        "Someone is preparing food.",
        "A woman is swimming laps in a pool.",
    ),
    (
        "A dog is catching a frisbee in a park.",
        "An animal is playing outside.",
        "A cat is sleeping on a sofa.",
    ),
    (
        "A cyclist is riding up a steep hill in the rain.",
        "A person is on a bicycle.",
        "The cyclist is sitting in a cafe.",
    ),
    (
        "An old man is reading a newspaper on a bench.",
        "A man is reading.",
        "A young girl is dancing at a party.",
    ),
    (
        "Firefighters are spraying water on a burning building.",
        "There is a fire.",
        "Firefighters are eating lunch at the station.",
    ),
    (
        "A chef is flipping pancakes at a busy diner.",
        "A cook is making breakfast food.",
        "A chef is driving a bus through the city.",
    ),
]


@dataclass(frozen=True)
class RetrievalSample:
    """Sentences to index (``corpus``) and queries with the corpus entries that count as a hit."""

    source: str
    corpus: list[str]
    queries: list[tuple[str, frozenset[str]]]

    def hit_rate(self, retrieved: list[list[str]]) -> float:
        """Fraction of queries with at least one expected sentence among their retrieved texts."""
        assert len(retrieved) == len(self.queries)
        hits = sum(bool(expected & set(texts)) for (_, expected), texts in zip(self.queries, retrieved, strict=True))
        return hits / len(self.queries)


def _load_sample() -> RetrievalSample:
    if SNLI_PARQUET.is_file():
        import pyarrow.parquet as pq

        rows = pq.read_table(SNLI_PARQUET).slice(0, SNLI_ROWS).to_pylist()
        corpus = list(dict.fromkeys(row["hypothesis"] for row in rows))
        entailed: dict[str, set[str]] = {}
        for row in rows:
            if row["label"] == 0:
                entailed.setdefault(row["premise"], set()).add(row["hypothesis"])
        queries = [(premise, frozenset(hyps)) for premise, hyps in entailed.items()]
        return RetrievalSample("snli", corpus, queries)
    corpus = [h for _, entail, contra in BUILTIN_PAIRS for h in (entail, contra)]
    queries = [(premise, frozenset([entail])) for premise, entail, _ in BUILTIN_PAIRS]
    return RetrievalSample("builtin", corpus, queries)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credentials or endpoints from the developer's environment; no saved HF token either."""
    for name in _SCRUBBED_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))


@pytest.fixture(scope="session")
def sample() -> RetrievalSample:
    """The SNLI sample from ../shared/data when present, else built-in sentences."""
    return _load_sample()


@pytest.fixture(scope="session")
def endpoint_token() -> str:
    """The bearer token the secured endpoint server requires."""
    return ENDPOINT_TOKEN


@pytest.fixture(scope="session")
def _embedder() -> Any:
    """One loaded model shared by both endpoint servers."""
    from hf_pinecone.local.endpoint_server import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    embedder.load()
    return embedder


@pytest.fixture(scope="session")
def endpoint_url(_embedder: Any) -> Iterator[str]:
    """A local Inference Endpoint (no auth) serving the bundled all-MiniLM-L6-v2."""
    from hf_pinecone.local import serve_endpoint

    with serve_endpoint(embedder=_embedder) as url:
        yield url


@pytest.fixture(scope="session")
def secured_endpoint_url(_embedder: Any) -> Iterator[str]:
    """The same model behind a server that requires ``Authorization: Bearer ENDPOINT_TOKEN``."""
    from hf_pinecone.local import serve_endpoint

    with serve_endpoint(embedder=_embedder, api_key=ENDPOINT_TOKEN) as url:
        yield url


@pytest.fixture(scope="session")
def pinecone_url() -> Iterator[str]:
    """An in-memory local Pinecone server (control plane; data plane under /indexes/<name>)."""
    from hf_pinecone.local import serve_pinecone

    with serve_pinecone() as url:
        yield url


@pytest.fixture
def pinecone_env(monkeypatch: pytest.MonkeyPatch, pinecone_url: str) -> str:
    """Point a Pinecone SDK built from the environment (as in PineconeVectorStore(index_name=...)) here."""
    monkeypatch.setenv("PINECONE_CONTROLLER_HOST", pinecone_url)
    monkeypatch.setenv("PINECONE_API_KEY", "local")
    return pinecone_url


@pytest.fixture
def index_name() -> str:
    """A fresh, valid Pinecone index name."""
    return f"li-{uuid.uuid4().hex[:12]}"
