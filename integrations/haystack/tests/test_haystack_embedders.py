"""Haystack embedders end to end, with no fakes: the real local endpoint (bundled all-MiniLM-L6-v2) and the
local Pinecone server over loopback HTTP, reached through pinecone-haystack's PineconeDocumentStore and the
real pinecone SDK."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from haystack import Document, Pipeline
from haystack.components.writers import DocumentWriter
from haystack.document_stores.types import DuplicatePolicy
from haystack_integrations.components.retrievers.pinecone import PineconeEmbeddingRetriever
from haystack_integrations.document_stores.pinecone import PineconeDocumentStore
from hf_pinecone_haystack import InferenceEndpointDocumentEmbedder, InferenceEndpointTextEmbedder

from hf_pinecone.errors import ConfigurationError, EndpointAuthError, EndpointRequestError

DIM = 384  # all-MiniLM-L6-v2
TOP_K = 5


def _store(index_name: str) -> PineconeDocumentStore:
    return PineconeDocumentStore(index=index_name, namespace="snli", dimension=DIM, show_progress=False)


def _indexing_pipeline(url: str, store: PineconeDocumentStore) -> Pipeline:
    pipeline = Pipeline()
    pipeline.add_component("embedder", InferenceEndpointDocumentEmbedder(url=url))
    pipeline.add_component("writer", DocumentWriter(document_store=store, policy=DuplicatePolicy.OVERWRITE))
    pipeline.connect("embedder.documents", "writer.documents")
    return pipeline


def _query_pipeline(url: str, store: PineconeDocumentStore) -> Pipeline:
    pipeline = Pipeline()
    pipeline.add_component("embedder", InferenceEndpointTextEmbedder(url=url))
    pipeline.add_component("retriever", PineconeEmbeddingRetriever(document_store=store, top_k=TOP_K))
    pipeline.connect("embedder.embedding", "retriever.query_embedding")
    return pipeline


def _cause(error: BaseException) -> BaseException:
    """The component's own exception (Haystack pipelines wrap it)."""
    while error.__cause__ is not None:
        error = error.__cause__
    return error


def test_pipeline_ingests_and_retrieves_the_sample(endpoint_url, pinecone_env, index_name, sample):
    store = _store(index_name)
    documents = [Document(content=text, meta={"source": sample.source}) for text in sample.corpus]

    indexed = _indexing_pipeline(endpoint_url, store).run(
        {"embedder": {"documents": documents}}, include_outputs_from={"embedder"}
    )
    assert indexed["writer"]["documents_written"] == len(documents)
    assert store.count_documents() == len(documents)
    embedded = indexed["embedder"]["documents"]
    assert indexed["embedder"]["meta"] == {"embedded": len(documents), "failed": {}}
    corpus_matrix = np.array([doc.embedding for doc in embedded])
    assert corpus_matrix.shape == (len(documents), DIM)

    query = _query_pipeline(endpoint_url, store)
    retrieved, disagreements = [], 0
    for premise, _ in sample.queries:
        result = query.run({"embedder": {"text": premise}}, include_outputs_from={"embedder"})
        found = result["retriever"]["documents"]
        assert len(found) == TOP_K
        assert all(doc.meta["source"] == sample.source for doc in found)
        retrieved.append([doc.content for doc in found])
        # The store must return the exact cosine neighbour of the endpoint's query vector.
        q = np.array(result["embedder"]["embedding"])
        scores = corpus_matrix @ q / (np.linalg.norm(corpus_matrix, axis=1) * np.linalg.norm(q))
        best, second = np.sort(scores)[::-1][:2]
        if best - second > 1e-4 and found[0].id != embedded[int(np.argmax(scores))].id:
            disagreements += 1
    assert disagreements == 0
    # Reference: 0.93 top-5 over the full 1,286-hypothesis corpus; this corpus is smaller, so no lower.
    assert sample.hit_rate(retrieved) >= 0.85


async def test_async_pipelines_match_the_sync_path(endpoint_url, pinecone_env, index_name, sample):
    store = _store(index_name)
    documents = [Document(content=text) for text in sample.corpus[:40]]
    indexing = _indexing_pipeline(endpoint_url, store)
    written = await indexing.run_async({"embedder": {"documents": documents}})
    assert written["writer"]["documents_written"] == len(documents)

    text_embedder = InferenceEndpointTextEmbedder(url=endpoint_url)
    query = _query_pipeline(endpoint_url, store)
    for premise, _ in sample.queries[:5]:
        async_result = await query.run_async({"embedder": {"text": premise}})
        sync_vector = text_embedder.run(premise)["embedding"]
        sync_docs = store._embedding_retrieval(sync_vector, top_k=TOP_K)
        assert [d.id for d in async_result["retriever"]["documents"]] == [d.id for d in sync_docs]
        async_vector = (await text_embedder.run_async(premise))["embedding"]
        np.testing.assert_allclose(async_vector, sync_vector, atol=1e-6)

    await indexing.close_async()
    await query.close_async()
    await text_embedder.close_async()
    await store.close_async()


def test_meta_fields_prefix_and_suffix_are_embedded(endpoint_url):
    doc_embedder = InferenceEndpointDocumentEmbedder(
        url=endpoint_url, meta_fields_to_embed=["title"], embedding_separator=" | ", prefix="passage: "
    )
    text_embedder = InferenceEndpointTextEmbedder(url=endpoint_url)
    doc = Document(content="A dog runs across a field.", meta={"title": "Animals"})

    with_meta = doc_embedder.run([doc])["documents"][0].embedding
    expected = text_embedder.run("passage: Animals | A dog runs across a field.")["embedding"]
    content_only = text_embedder.run("A dog runs across a field.")["embedding"]
    np.testing.assert_allclose(with_meta, expected, atol=1e-5)
    assert not np.allclose(with_meta, content_only, atol=1e-3)
    assert doc.embedding is None  # the input Document is not modified

    suffixed = InferenceEndpointTextEmbedder(url=endpoint_url, prefix="query: ", suffix="?").run("dogs")
    np.testing.assert_allclose(suffixed["embedding"], text_embedder.run("query: dogs?")["embedding"], atol=1e-5)


def test_rejected_document_is_named_or_reported(endpoint_url):
    too_long = "word " * 600  # beyond all-MiniLM-L6-v2's 256 tokens; refused when truncation is off
    documents = [
        Document(content="A short sentence."),
        Document(content=too_long),
        Document(content="Another."),
    ]

    strict = InferenceEndpointDocumentEmbedder(url=endpoint_url, truncate=False)
    with pytest.raises(EndpointRequestError, match="rejected 1 of 3 documents") as info:
        strict.run(documents)
    assert documents[1].id in str(info.value)
    assert info.value.status_code == 413  # TEI answers Validation errors 413 (router/src/http/server.rs)

    lenient = InferenceEndpointDocumentEmbedder(url=endpoint_url, truncate=False, raise_on_failure=False)
    documents[1] = dataclasses.replace(documents[1], embedding=[0.0] * DIM)  # stale vector from an earlier run
    out = lenient.run(documents)
    assert [d.id for d in out["documents"]] == [d.id for d in documents]
    assert out["documents"][1].embedding is None
    assert len(out["documents"][0].embedding) == DIM and len(out["documents"][2].embedding) == DIM
    assert out["meta"]["embedded"] == 2
    assert list(out["meta"]["failed"]) == [documents[1].id]
    assert "256" in out["meta"]["failed"][documents[1].id]


def test_serialized_pipeline_names_the_token_variable_not_its_value(secured_endpoint_url, endpoint_token, monkeypatch):
    pipeline = Pipeline()
    pipeline.add_component("embedder", InferenceEndpointTextEmbedder(url=secured_endpoint_url, prefix="q: "))
    monkeypatch.setenv("HF_TOKEN", endpoint_token)
    pipeline.run({"embedder": {"text": "warm"}})
    yaml = pipeline.dumps()
    assert "HF_TOKEN" in yaml
    assert endpoint_token not in yaml

    # Haystack 3 only rebuilds classes from modules the caller trusts.
    restored = Pipeline.loads(yaml, allowed_modules=["hf_pinecone_haystack"])
    restored_embedder = restored.get_component("embedder")
    assert isinstance(restored_embedder, InferenceEndpointTextEmbedder)
    assert restored_embedder.prefix == "q: "
    assert len(restored.run({"embedder": {"text": "a sentence"}})["embedder"]["embedding"]) == DIM

    monkeypatch.delenv("HF_TOKEN")
    without_token = Pipeline.loads(yaml, allowed_modules=["hf_pinecone_haystack"])
    with pytest.raises(Exception) as info:
        without_token.run({"embedder": {"text": "a sentence"}})
    assert isinstance(_cause(info.value), EndpointAuthError)
    assert endpoint_token not in str(info.value)


def test_endpoint_url_comes_from_the_environment_at_warm_up(endpoint_url, monkeypatch):
    embedder = InferenceEndpointTextEmbedder()
    with pytest.raises(ConfigurationError, match="HF_ENDPOINT_URL"):
        embedder.warm_up()

    later = InferenceEndpointTextEmbedder()  # constructed before the variable is set: read at warm-up
    monkeypatch.setenv("HF_ENDPOINT_URL", endpoint_url)
    assert later.to_dict()["init_parameters"]["url"] is None
    assert len(later.run("a sentence")["embedding"]) == DIM


def test_wrong_input_types_are_refused(endpoint_url):
    with pytest.raises(TypeError, match="list of Documents"):
        InferenceEndpointDocumentEmbedder(url=endpoint_url).run("not a list")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expects a string"):
        InferenceEndpointTextEmbedder(url=endpoint_url).run(["not", "a", "string"])  # type: ignore[arg-type]
    assert InferenceEndpointDocumentEmbedder(url=endpoint_url).run([])["documents"] == []
