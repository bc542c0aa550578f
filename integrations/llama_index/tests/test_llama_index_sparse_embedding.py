"""LlamaIndex sparse embedding against the real local endpoint's ``/embed_sparse`` (SPLADE-tiny), no fakes."""

from __future__ import annotations

import asyncio
import pickle

import pytest
from hf_pinecone_llama_index import InferenceEndpointSparseEmbedding

from hf_pinecone import InferenceEndpointSparseEmbeddings

TEXTS = ["Invoice ID-4471 is overdue.", "A horse jumps over a fence.", "Two dogs play in the park."]


def _close(got: dict[int, float], want: dict) -> bool:
    return list(got) == want["indices"] and list(got.values()) == pytest.approx(want["values"], abs=1e-4)


def test_query_and_batch_embeddings_are_the_clients_as_index_weight_dicts(endpoint_url: str) -> None:
    model = InferenceEndpointSparseEmbedding(endpoint_url=endpoint_url, embed_batch_size=2, timeout=300)
    reference = InferenceEndpointSparseEmbeddings(endpoint_url=endpoint_url)
    assert _close(model.get_query_embedding(TEXTS[0]), reference.embed_query(TEXTS[0]))
    batch = model.get_text_embedding_batch(TEXTS)
    assert all(_close(g, w) for g, w in zip(batch, reference.embed_documents(TEXTS), strict=True))
    again = asyncio.run(model.aget_text_embedding_batch(TEXTS))
    assert all(_close(g, w) for g, w in zip(again, reference.embed_documents(TEXTS), strict=True))


def test_max_terms_and_similarity(endpoint_url: str) -> None:
    model = InferenceEndpointSparseEmbedding(endpoint_url=endpoint_url, max_terms=4, timeout=300)
    query = model.get_query_embedding("invoice 4471")
    assert len(query) == 4
    scores = [model.similarity(query, model.get_text_embedding(t)) for t in TEXTS]
    assert scores.index(max(scores)) == 0  # the exact-term document wins


def test_the_token_is_never_serialized(endpoint_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value")
    model = InferenceEndpointSparseEmbedding(endpoint_url=endpoint_url)
    assert "hf_secret_value" not in model.model_dump_json() and "hf_secret_value" not in repr(model)
    assert pickle.loads(pickle.dumps(model)).endpoint_url == endpoint_url
