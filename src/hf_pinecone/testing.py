"""Helpers for testing apps built on hf-pinecone against the local stand-ins.

Everything here runs over loopback with the bundled all-MiniLM-L6-v2 (the ``local`` extra), with no
credentials and no network; nothing depends on a test framework:

- :func:`use_offline_env`: keeps model libraries off the Hugging Face Hub (call it before importing them).
- :func:`scrubbed_env`: hides the developer's credentials, endpoint settings and saved Hugging Face token.
- :class:`LocalStandIns`: a local Inference Endpoint (open, and token-protected) sharing one loaded model,
  and a local Pinecone server, each started on first use and stopped on :meth:`LocalStandIns.close`.
- :func:`load_retrieval_sample`: a small labelled retrieval sample (an SNLI parquet file, else built-in
  sentences) with :meth:`RetrievalSample.hit_rate` to score what a retriever found.

Usage example (pytest):
    ```python
    from hf_pinecone.testing import LocalStandIns, scrubbed_env

    @pytest.fixture(autouse=True)
    def _clean_env(tmp_path):
        with scrubbed_env(hf_home=tmp_path / "hf-home"):
            yield

    @pytest.fixture(scope="session")
    def stand_ins():
        with LocalStandIns() as servers:
            yield servers  # servers.endpoint_url, servers.pinecone_url, ...
    ```
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hf_pinecone.local.endpoint_server import SentenceTransformerEmbedder

__all__ = [
    "CREDENTIAL_ENV_VARS",
    "LOCAL_ENDPOINT_TOKEN",
    "LocalStandIns",
    "RetrievalSample",
    "load_retrieval_sample",
    "scrubbed_env",
    "use_offline_env",
]

CREDENTIAL_ENV_VARS: tuple[str, ...] = (
    "HF_ENDPOINT_URL",
    "HF_SPARSE_ENDPOINT_URL",
    "HF_TOKEN",
    "HUGGINGFACEHUB_API_TOKEN",
    "PINECONE_API_KEY",
    "PINECONE_CONTROLLER_HOST",
    "PINECONE_INDEX_NAME",
    "PINECONE_HOST",
)
"""Environment variables :func:`scrubbed_env` removes: credentials and the endpoint/index they would reach."""

LOCAL_ENDPOINT_TOKEN = "hf_integrationTestToken0123"
"""The bearer token :attr:`LocalStandIns.secured_endpoint_url` requires by default (not a real token)."""

# (premise, entailed hypothesis, contradicting hypothesis): the sample when no SNLI file is available.
_BUILTIN_TRIPLES = (
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
)


def use_offline_env(**extra: str) -> None:
    """Keep huggingface_hub and transformers off the Hub for the rest of the process.

    Both read these variables when first imported, so call this before anything imports them.

    Args:
        **extra: More variables to set, e.g. ``HAYSTACK_TELEMETRY_ENABLED="False"``.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.update(extra)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@contextmanager
def scrubbed_env(
    *, hf_home: str | os.PathLike[str] | None = None, names: tuple[str, ...] = CREDENTIAL_ENV_VARS
) -> Iterator[None]:
    """Remove credentials and endpoint settings from ``os.environ`` for the duration; restore them afterwards.

    ``HF_HOME`` is pointed at an empty directory too, so that no token saved by ``hf auth login`` is found.

    Args:
        hf_home: The ``HF_HOME`` to use; ``None``: a temporary directory removed on exit.
        names: The variables to remove.

    Yields:
        Nothing; the environment is restored (only the variables touched here) on exit.
    """
    touched = (*names, "HF_HOME")
    saved = {name: os.environ.get(name) for name in touched}
    with ExitStack() as stack:
        if hf_home is None:
            hf_home = stack.enter_context(tempfile.TemporaryDirectory(prefix="hf-home-"))
        try:
            for name in names:
                os.environ.pop(name, None)
            os.environ["HF_HOME"] = os.fspath(hf_home)
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


class LocalStandIns:
    """Local Inference Endpoints and a local Pinecone server over loopback HTTP, each started on first use.

    Both endpoints serve one loaded copy of the model; the secured one requires
    ``Authorization: Bearer <endpoint_token>``. The Pinecone server keeps its indexes in memory.
    Use it as a context manager (or call :meth:`close`) to stop whatever was started.

    Args:
        endpoint_token: The token the secured endpoint requires.
        model: A local sentence-transformers model path; ``None``: the bundled all-MiniLM-L6-v2.
    """

    def __init__(
        self, *, endpoint_token: str = LOCAL_ENDPOINT_TOKEN, model: str | os.PathLike[str] | None = None
    ) -> None:
        self.endpoint_token = endpoint_token
        self._model = model
        self._embedder: SentenceTransformerEmbedder | None = None
        self._urls: dict[str, str] = {}
        self._servers = ExitStack()
        # Re-entrant: starting an endpoint loads the shared embedder under the same lock.
        self._lock = threading.RLock()

    @property
    def embedder(self) -> SentenceTransformerEmbedder:
        """The loaded model both endpoints serve (loaded on first use)."""
        with self._lock:
            if self._embedder is None:
                from hf_pinecone.local.endpoint_server import SentenceTransformerEmbedder

                embedder = SentenceTransformerEmbedder(self._model)
                embedder.load()
                self._embedder = embedder
            return self._embedder

    @property
    def endpoint_url(self) -> str:
        """Base URL of a local Inference Endpoint that needs no token."""
        from hf_pinecone.local import serve_endpoint

        return self._start("endpoint", lambda: serve_endpoint(embedder=self.embedder))

    @property
    def secured_endpoint_url(self) -> str:
        """Base URL of a local Inference Endpoint that requires ``Authorization: Bearer <endpoint_token>``."""
        from hf_pinecone.local import serve_endpoint

        return self._start(
            "secured_endpoint", lambda: serve_endpoint(embedder=self.embedder, api_key=self.endpoint_token)
        )

    @property
    def pinecone_url(self) -> str:
        """Base URL of an in-memory local Pinecone server (control plane; data plane under /indexes/<name>)."""
        from hf_pinecone.local import serve_pinecone

        return self._start("pinecone", serve_pinecone)

    def _start(self, name: str, serve: Callable[[], AbstractContextManager[str]]) -> str:
        with self._lock:
            if name not in self._urls:
                self._urls[name] = self._servers.enter_context(serve())
            return self._urls[name]

    def close(self) -> None:
        """Stop the servers started so far (the loaded model is kept for a later start)."""
        with self._lock:
            self._urls.clear()
            self._servers.close()

    def __enter__(self) -> LocalStandIns:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@dataclass(frozen=True)
class RetrievalSample:
    """Sentences to index (``corpus``) and queries with the corpus entries that count as a hit.

    Attributes:
        source: ``"snli"`` or ``"builtin"``.
        corpus: The sentences to index, without duplicates.
        queries: ``(query, expected)`` pairs; retrieving any sentence of ``expected`` is a hit.
    """

    source: str
    corpus: list[str]
    queries: list[tuple[str, frozenset[str]]]

    def hit_rate(self, retrieved: list[list[str]]) -> float:
        """Fraction of queries with at least one expected sentence among their retrieved texts.

        Args:
            retrieved: The texts retrieved for each query, in the order of :attr:`queries`.

        Raises:
            ValueError: ``retrieved`` does not have one entry per query.
        """
        if len(retrieved) != len(self.queries):
            raise ValueError(f"retrieved has {len(retrieved)} entries for {len(self.queries)} queries")
        hits = sum(bool(expected & set(texts)) for (_, expected), texts in zip(self.queries, retrieved, strict=True))
        return hits / len(self.queries)


def load_retrieval_sample(parquet: str | os.PathLike[str] | None = None, *, rows: int = 150) -> RetrievalSample:
    """A small labelled retrieval sample: SNLI rows from ``parquet``, else built-in sentences.

    From SNLI, the corpus is the hypotheses and each premise is a query whose entailed hypotheses
    (label 0) are the hits. The built-in sample has 8 premises, each with one entailed and one
    contradicting sentence.

    Args:
        parquet: An SNLI parquet file (columns ``premise``, ``hypothesis``, ``label``); ``None``: built-in.
        rows: How many leading rows of the file to use; the default (50 premises x 3 hypotheses) is
            enough to measure retrieval and embeds in seconds on a CPU.

    Raises:
        FileNotFoundError: ``parquet`` is given but is not a file.
    """
    if parquet is None:
        corpus = [h for _, entail, contra in _BUILTIN_TRIPLES for h in (entail, contra)]
        queries = [(premise, frozenset([entail])) for premise, entail, _ in _BUILTIN_TRIPLES]
        return RetrievalSample("builtin", corpus, queries)
    if not os.path.isfile(parquet):
        raise FileNotFoundError(f"no SNLI parquet file at {os.fspath(parquet)!r}")
    import pyarrow.parquet as pq

    table = pq.read_table(parquet, columns=["premise", "hypothesis", "label"])
    records = table.slice(0, rows).to_pylist()
    corpus = list(dict.fromkeys(record["hypothesis"] for record in records))
    entailed: dict[str, set[str]] = {}
    for record in records:
        if record["label"] == 0:
            entailed.setdefault(record["premise"], set()).add(record["hypothesis"])
    queries = [(premise, frozenset(hyps)) for premise, hyps in entailed.items()]
    return RetrievalSample("snli", corpus, queries)
