"""langchain-tests' standard retriever suite for :class:`~hf_pinecone.HybridRetriever`, against the local servers.

Run for the one-index pattern (``as_retriever(search_type="hybrid")`` on a dotproduct index of sparse-dense
records) and the two-index pattern (a dense and a sparse index fused by RRF), with the bundled all-MiniLM-L6-v2
and SPLADE-tiny endpoints.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langchain_core.retrievers import BaseRetriever
from langchain_tests.integration_tests import RetrieversIntegrationTests

from hf_pinecone import (
    HybridRetriever,
    InferenceEndpointEmbeddings,
    InferenceEndpointSparseEmbeddings,
    PineconeStore,
    ensure_index,
)

CORPUS = [
    "A man is playing a guitar on stage.",
    "A woman is singing into a microphone.",
    "Two dogs are running through a snowy field.",
    "A cat sleeps on a sunny windowsill.",
    "The chef is slicing vegetables in the kitchen.",
]
QUERY = "a man playing music"


@pytest.fixture(scope="module")
def stores(endpoint_url: str, pinecone_url: str) -> Iterator[dict[str, PineconeStore]]:
    dense = InferenceEndpointEmbeddings(endpoint_url=endpoint_url)
    sparse = InferenceEndpointSparseEmbeddings(endpoint_url=endpoint_url, timeout=300)
    tag = uuid.uuid4().hex[:8]
    one = ensure_index(f"t-hy1-{tag}", embeddings=dense, metric="dotproduct", api_key="local", host=pinecone_url)
    cos = ensure_index(f"t-hyd-{tag}", embeddings=dense, api_key="local", host=pinecone_url)
    spa = ensure_index(f"t-hys-{tag}", vector_type="sparse", metric="dotproduct", api_key="local", host=pinecone_url)
    made = {
        "one": PineconeStore(host=one, pinecone_api_key="local", embedding=dense, sparse_embedding=sparse),
        "dense": PineconeStore(host=cos, pinecone_api_key="local", embedding=dense),
        "sparse": PineconeStore(host=spa, pinecone_api_key="local", sparse_embedding=sparse),
    }
    for store in made.values():
        store.add_texts(CORPUS)
    yield made
    dense.close()
    sparse.close()


class _Suite(RetrieversIntegrationTests):
    stores: dict[str, PineconeStore]

    @pytest.fixture(autouse=True)
    def _use_stores(self, stores: dict[str, PineconeStore]) -> None:
        self.stores = stores

    @property
    def retriever_query_example(self) -> str:
        return QUERY


class TestOneIndexHybridRetriever(_Suite):
    @property
    def retriever_constructor(self) -> Callable[..., BaseRetriever]:  # type: ignore[override]
        def make(k: int = 4, **search_kwargs: Any) -> BaseRetriever:
            kwargs = {"alpha": 0.5, **search_kwargs, "k": k}
            retriever: BaseRetriever = self.stores["one"].as_retriever(search_type="hybrid", search_kwargs=kwargs)
            return retriever

        return make


class TestTwoIndexRRFRetriever(_Suite):
    @property
    def retriever_constructor(self) -> Callable[..., BaseRetriever]:  # type: ignore[override]
        def make(k: int = 4) -> BaseRetriever:
            return HybridRetriever(store=self.stores["dense"], sparse_store=self.stores["sparse"], k=k)

        return make
