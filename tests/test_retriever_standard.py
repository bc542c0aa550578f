"""langchain-tests standard suites for the retriever and the retriever tool, against the local servers.

``RetrieversIntegrationTests`` runs once per search type of ``PineconeStore.as_retriever`` (the retriever
users actually get) and for :class:`~hf_pinecone.retrieval.ScoredRetriever`. The suite builds retrievers as
``constructor(k=...)``; ``VectorStoreRetriever`` takes ``k`` inside ``search_kwargs``, so the constructor
here is a factory that puts it there. ``ToolsUnitTests`` / ``ToolsIntegrationTests`` run on
``create_retriever_tool`` in both response formats.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import BaseTool, create_retriever_tool
from langchain_tests.integration_tests import RetrieversIntegrationTests, ToolsIntegrationTests
from langchain_tests.unit_tests import ToolsUnitTests

from hf_pinecone import InferenceEndpointEmbeddings, PineconeStore, ensure_index
from hf_pinecone.retrieval import ScoredRetriever

CORPUS = [
    "A man is playing a guitar on stage.",
    "A woman is singing into a microphone.",
    "Two dogs are running through a snowy field.",
    "A cat sleeps on a sunny windowsill.",
    "The chef is slicing vegetables in the kitchen.",
]
QUERY = "a man playing music"


@pytest.fixture(scope="module")
def standard_store(endpoint_url: str, pinecone_url: str) -> Iterator[PineconeStore]:
    embeddings = InferenceEndpointEmbeddings(endpoint_url=endpoint_url)
    name = f"t-std-{uuid.uuid4().hex[:10]}"
    host = ensure_index(name, embeddings=embeddings, api_key="local", host=pinecone_url)
    store = PineconeStore(embedding=embeddings, pinecone_api_key="local", host=host)
    store.add_texts(CORPUS)
    yield store
    embeddings.close()


class _OnStore:
    """Gives each test instance the module's store before the suite's own fixtures run."""

    store: PineconeStore

    @pytest.fixture(autouse=True)
    def _use_store(self, standard_store: PineconeStore) -> None:
        self.store = standard_store


class _RetrieverSuite(_OnStore, RetrieversIntegrationTests):
    search_type = "similarity"
    base_search_kwargs: dict[str, Any] = {}

    @property
    def retriever_constructor(self) -> Callable[..., BaseRetriever]:  # type: ignore[override]
        def make(k: int = 4, **search_kwargs: Any) -> BaseRetriever:
            kwargs = {**self.base_search_kwargs, **search_kwargs, "k": k}
            return self.store.as_retriever(search_type=self.search_type, search_kwargs=kwargs)

        return make

    @property
    def retriever_query_example(self) -> str:
        return QUERY


class TestSimilarityRetriever(_RetrieverSuite):
    pass


class TestMMRRetriever(_RetrieverSuite):
    search_type = "mmr"
    base_search_kwargs = {"fetch_k": 5, "lambda_mult": 0.5}


class TestScoreThresholdRetriever(_RetrieverSuite):
    search_type = "similarity_score_threshold"
    # Low enough that every corpus text passes, so `k` alone decides how many come back.
    base_search_kwargs = {"score_threshold": 0.05}


class TestScoredRetriever(_RetrieverSuite):
    @property
    def retriever_constructor(self) -> Callable[..., BaseRetriever]:  # type: ignore[override]
        def make(k: int = 4) -> BaseRetriever:
            return ScoredRetriever(vectorstore=self.store, search_kwargs={"k": k})

        return make


# ------------------------------------------------------------------------------------------ retriever tool
class _ToolOnStore(_OnStore):
    response_format = "content"

    @property
    def tool_constructor(self) -> BaseTool:
        return create_retriever_tool(
            self.store.as_retriever(search_kwargs={"k": 2}),
            "search_corpus",
            "Search the example corpus of short scene descriptions.",
            response_format=self.response_format,  # type: ignore[arg-type]
        )

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"query": QUERY}


class TestRetrieverToolUnit(_ToolOnStore, ToolsUnitTests):
    pass


class TestRetrieverToolIntegration(_ToolOnStore, ToolsIntegrationTests):
    pass


class TestRetrieverToolArtifactIntegration(_ToolOnStore, ToolsIntegrationTests):
    response_format = "content_and_artifact"
