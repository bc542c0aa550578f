"""Haystack ranker end to end, with no fakes: Documents retrieved from pinecone-haystack's PineconeDocumentStore on
the local Pinecone server, reranked through the local endpoint's TEI ``/rerank`` (bundled all-MiniLM-L6-v2)."""

from __future__ import annotations

import asyncio

import pytest
from haystack import Document, Pipeline
from haystack.components.writers import DocumentWriter
from haystack.document_stores.types import DuplicatePolicy
from haystack_integrations.components.retrievers.pinecone import PineconeEmbeddingRetriever
from haystack_integrations.document_stores.pinecone import PineconeDocumentStore
from hf_pinecone_haystack import (
    InferenceEndpointDocumentEmbedder,
    InferenceEndpointRanker,
    InferenceEndpointTextEmbedder,
)

from hf_pinecone.errors import ConfigurationError, EndpointAuthError, RerankInputError

QUERY = "A man is playing a guitar."
TEXTS = [
    "The stock market fell sharply today.",
    "A musician plays an acoustic guitar on stage.",
    "A cat sleeps on a windowsill.",
    "Someone is strumming a guitar.",
    "Two dogs run through the snow.",
]
GUITAR = {TEXTS[1], TEXTS[3]}


def test_ranker_after_pinecone_retrieval_in_a_pipeline(endpoint_url: str, pinecone_env: str, index_name: str) -> None:
    store = PineconeDocumentStore(index=index_name, namespace="rr", dimension=384, show_progress=False)
    indexing = Pipeline()
    indexing.add_component("embedder", InferenceEndpointDocumentEmbedder(url=endpoint_url))
    indexing.add_component("writer", DocumentWriter(document_store=store, policy=DuplicatePolicy.OVERWRITE))
    indexing.connect("embedder.documents", "writer.documents")
    indexing.run({"embedder": {"documents": [Document(content=t) for t in TEXTS]}})

    query = Pipeline()
    query.add_component("embedder", InferenceEndpointTextEmbedder(url=endpoint_url))
    query.add_component("retriever", PineconeEmbeddingRetriever(document_store=store, top_k=5))
    query.add_component("ranker", InferenceEndpointRanker(url=endpoint_url, top_k=2))
    query.connect("embedder.embedding", "retriever.query_embedding")
    query.connect("retriever.documents", "ranker.documents")
    docs = query.run({"embedder": {"text": QUERY}, "ranker": {"query": QUERY}})["ranker"]["documents"]
    assert {d.content for d in docs} == GUITAR
    assert docs[0].score is not None and docs[1].score is not None and docs[0].score >= docs[1].score


def test_ranker_copies_documents_sync_and_async(endpoint_url: str) -> None:
    documents = [Document(content=t, score=0.0) for t in TEXTS]
    ranker = InferenceEndpointRanker(url=endpoint_url, top_k=None)
    ranked = ranker.run(query=QUERY, documents=documents)["documents"]
    assert len(ranked) == len(TEXTS) and {d.content for d in ranked[:2]} == GUITAR
    assert all(d.score == 0.0 for d in documents)  # the inputs keep their scores
    arun = asyncio.run(ranker.run_async(query=QUERY, documents=documents, top_k=1))["documents"]
    assert arun[0].content == ranked[0].content and arun[0].score == pytest.approx(ranked[0].score)
    assert ranker.run(query=QUERY, documents=[])["documents"] == []
    with pytest.raises(RerankInputError):
        ranker.run(query="", documents=documents)
    ranker.close()


def test_ranker_serializes_without_the_token_and_fails_typed(
    secured_endpoint_url: str, endpoint_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", endpoint_token)
    ranker = InferenceEndpointRanker(url=secured_endpoint_url, top_k=1)
    data = ranker.to_dict()
    assert endpoint_token not in str(data)
    restored = InferenceEndpointRanker.from_dict(data)
    assert restored.run(query=QUERY, documents=[Document(content=t) for t in TEXTS])["documents"][0].content in GUITAR
    monkeypatch.setenv("HF_TOKEN", "hf_wrongToken000000000")
    with pytest.raises(EndpointAuthError):
        InferenceEndpointRanker(url=secured_endpoint_url).run(query=QUERY, documents=[Document(content="x")])
    with pytest.raises(ConfigurationError, match="no endpoint"):
        InferenceEndpointRanker().warm_up()
    with pytest.raises(ConfigurationError, match="top_k"):
        InferenceEndpointRanker(url=secured_endpoint_url, top_k=0)
