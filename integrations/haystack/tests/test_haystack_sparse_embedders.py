"""Haystack sparse embedders against the real local endpoint's ``/embed_sparse`` (SPLADE-tiny), no fakes."""

from __future__ import annotations

import asyncio

import pytest
from haystack import Document, Pipeline
from haystack.dataclasses import SparseEmbedding
from hf_pinecone_haystack import InferenceEndpointSparseDocumentEmbedder, InferenceEndpointSparseTextEmbedder

from hf_pinecone import InferenceEndpointSparseEmbeddings
from hf_pinecone.errors import ConfigurationError, EndpointRequestError

TEXTS = ["Invoice ID-4471 is overdue.", "A horse jumps over a fence.", "Two dogs play in the park."]


def _same(got: SparseEmbedding, want: dict) -> bool:
    return got.indices == want["indices"] and got.values == pytest.approx(want["values"], abs=1e-4)


def test_text_embedder_in_a_pipeline_gives_the_clients_sparse_vector(endpoint_url: str) -> None:
    pipeline = Pipeline()
    pipeline.add_component("sparse", InferenceEndpointSparseTextEmbedder(url=endpoint_url, timeout=300))
    result = pipeline.run({"sparse": {"text": TEXTS[0]}})["sparse"]["sparse_embedding"]
    assert isinstance(result, SparseEmbedding)
    assert _same(result, InferenceEndpointSparseEmbeddings(endpoint_url=endpoint_url).embed_query(TEXTS[0]))


def test_document_embedder_sets_sparse_embedding_on_copies(endpoint_url: str) -> None:
    documents = [Document(content=text, meta={"n": i}) for i, text in enumerate(TEXTS)]
    embedder = InferenceEndpointSparseDocumentEmbedder(url=endpoint_url, max_terms=8, timeout=300)
    embedded = embedder.run(documents)["documents"]
    expected = InferenceEndpointSparseEmbeddings(endpoint_url=endpoint_url, max_terms=8).embed_documents(TEXTS)
    assert [d.id for d in embedded] == [d.id for d in documents]
    assert all(d.sparse_embedding is None for d in documents)  # inputs unchanged
    assert all(_same(d.sparse_embedding, want) for d, want in zip(embedded, expected, strict=True))
    assert all(len(d.sparse_embedding.indices) == 8 for d in embedded)
    again = asyncio.run(embedder.run_async(documents))["documents"]
    assert all(_same(d.sparse_embedding, want) for d, want in zip(again, expected, strict=True))


def test_serialization_round_trip_keeps_the_token_out(endpoint_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value")
    embedder = InferenceEndpointSparseTextEmbedder(url=endpoint_url, max_terms=5)
    data = embedder.to_dict()
    assert "hf_secret_value" not in repr(data)
    clone = InferenceEndpointSparseTextEmbedder.from_dict(data)
    assert clone.url == endpoint_url and clone.max_terms == 5


def test_rejections_and_misconfiguration_are_typed(endpoint_url: str) -> None:
    embedder = InferenceEndpointSparseDocumentEmbedder(url=endpoint_url, truncate=False, timeout=300)
    with pytest.raises(EndpointRequestError, match="rejected 1 of 2 documents"):
        embedder.run([Document(content="fine"), Document(content="word " * 700)])
    with pytest.raises(ConfigurationError, match="has no endpoint"):
        InferenceEndpointSparseTextEmbedder().warm_up()
    with pytest.raises(TypeError, match="expects a string"):
        InferenceEndpointSparseTextEmbedder(url=endpoint_url).run(["not", "a string"])  # type: ignore[arg-type]
