"""LlamaIndex embedding end to end, with no fakes: the real local endpoint (bundled all-MiniLM-L6-v2) and the
local Pinecone server over loopback HTTP, reached through llama-index-vector-stores-pinecone and the real
pinecone SDK."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hf_pinecone_llama_index import InferenceEndpointEmbedding
from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.schema import QueryBundle, TextNode
from llama_index.vector_stores.pinecone import PineconeVectorStore
from pinecone import Pinecone, ServerlessSpec

from hf_pinecone.errors import ConfigurationError, EndpointAuthError, EndpointRequestError
from hf_pinecone.ids import content_id

DIM = 384  # all-MiniLM-L6-v2
TOP_K = 5
NAMESPACE = "snli"


def _create_index(pinecone_url: str, index_name: str) -> Pinecone:
    pc = Pinecone(api_key="local", host=pinecone_url)
    spec = ServerlessSpec(cloud="aws", region="us-east-1")
    pc.create_index(name=index_name, dimension=DIM, metric="cosine", spec=spec)
    return pc


def _nodes(texts: list[str], source: str) -> list[TextNode]:
    return [TextNode(id_=content_id(t, NAMESPACE), text=t, metadata={"source": source}) for t in texts]


def test_index_ingests_and_retrieves_the_sample(endpoint_url, pinecone_url, index_name, sample):
    embed_model = InferenceEndpointEmbedding(endpoint_url=endpoint_url)
    pinecone_index = _create_index(pinecone_url, index_name).Index(index_name)
    store = PineconeVectorStore(pinecone_index=pinecone_index, namespace=NAMESPACE)
    nodes = _nodes(sample.corpus, sample.source)

    index = VectorStoreIndex(
        nodes, storage_context=StorageContext.from_defaults(vector_store=store), embed_model=embed_model
    )
    assert pinecone_index.describe_index_stats().namespaces[NAMESPACE].vector_count == len(nodes)
    ids = [node.node_id for node in nodes]
    fetched = pinecone_index.fetch(ids=ids, namespace=NAMESPACE).vectors
    corpus_matrix = np.array([fetched[i].values for i in ids])

    retriever = index.as_retriever(similarity_top_k=TOP_K)
    retrieved, disagreements = [], 0
    for premise, _ in sample.queries:
        query_vector = embed_model.get_query_embedding(premise)
        results = retriever.retrieve(QueryBundle(premise, embedding=query_vector))
        assert len(results) == TOP_K
        assert all(r.node.metadata["source"] == sample.source for r in results)
        retrieved.append([r.node.get_content() for r in results])
        # The store must return the exact cosine neighbour of the endpoint's query vector.
        q = np.array(query_vector)
        scores = corpus_matrix @ q / (np.linalg.norm(corpus_matrix, axis=1) * np.linalg.norm(q))
        best, second = np.sort(scores)[::-1][:2]
        if best - second > 1e-4 and results[0].node.node_id != ids[int(np.argmax(scores))]:
            disagreements += 1
    assert disagreements == 0
    # Reference: 0.93 top-5 over the full 1,286-hypothesis corpus; this corpus is smaller, so no lower.
    assert sample.hit_rate(retrieved) >= 0.85


async def test_async_ingestion_and_retrieval_match_sync(endpoint_url, pinecone_env, index_name, sample):
    # Small LlamaIndex batches and smaller HTTP batches: several concurrent calls, each split by the client.
    embed_model = InferenceEndpointEmbedding(endpoint_url=endpoint_url, embed_batch_size=16, batch_size=8)
    corpus = sample.corpus[:40]
    _create_index(pinecone_env, index_name)
    # Built from the environment (PINECONE_CONTROLLER_HOST), as an application would.
    store = PineconeVectorStore(index_name=index_name, api_key="local", namespace=NAMESPACE)
    index = VectorStoreIndex(
        [], storage_context=StorageContext.from_defaults(vector_store=store), embed_model=embed_model
    )
    await index.ainsert_nodes(_nodes(corpus, sample.source))
    assert store.client.describe_index_stats().namespaces[NAMESPACE].vector_count == len(corpus)

    batch_async = await embed_model.aget_text_embedding_batch(corpus)
    batch_sync = embed_model.get_text_embedding_batch(corpus)
    np.testing.assert_allclose(batch_async, batch_sync, atol=1e-5)
    # Order survives the batching: the last text's vector is its own.
    np.testing.assert_allclose(batch_async[-1], embed_model.get_text_embedding(corpus[-1]), atol=1e-5)

    retriever = index.as_retriever(similarity_top_k=TOP_K)
    for premise, _ in sample.queries[:5]:
        async_ids = [r.node.node_id for r in await retriever.aretrieve(premise)]
        assert async_ids == [r.node.node_id for r in retriever.retrieve(premise)]
    await embed_model.aclose()


def test_query_and_text_instructions_are_separate(endpoint_url):
    plain = InferenceEndpointEmbedding(endpoint_url=endpoint_url)
    instructed = InferenceEndpointEmbedding(endpoint_url=endpoint_url, query_prefix="query: ", text_prefix="passage: ")

    query = instructed.get_query_embedding("dogs")
    np.testing.assert_allclose(query, plain.get_text_embedding("query: dogs"), atol=1e-5)
    np.testing.assert_allclose(
        instructed.get_text_embedding("dogs"), plain.get_text_embedding("passage: dogs"), atol=1e-5
    )
    batch = instructed.get_text_embedding_batch(["dogs", "cats"])
    np.testing.assert_allclose(batch[1], plain.get_text_embedding("passage: cats"), atol=1e-5)
    assert not np.allclose(query, batch[0], atol=1e-3)

    # The bundled model has no prompts: a query prompt is refused by the endpoint, documents are unaffected.
    prompted = InferenceEndpointEmbedding(endpoint_url=endpoint_url, query_prompt_name="no-such-prompt")
    with pytest.raises(EndpointRequestError, match="no-such-prompt"):
        prompted.get_query_embedding("dogs")
    assert len(prompted.get_text_embedding("dogs")) == DIM


def test_rejected_text_raises_instead_of_being_dropped(endpoint_url):
    model = InferenceEndpointEmbedding(endpoint_url=endpoint_url, truncate=False)
    with pytest.raises(EndpointRequestError) as info:
        model.get_text_embedding_batch(["A short sentence.", "word " * 600])
    assert info.value.status_code == 413  # TEI answers Validation errors 413 (router/src/http/server.rs)


def test_token_is_sent_but_never_serialized(secured_endpoint_url, endpoint_token, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", endpoint_token)
    model = InferenceEndpointEmbedding(endpoint_url=secured_endpoint_url, query_prefix="q: ")
    vector = model.get_query_embedding("a sentence")
    assert len(vector) == DIM
    for text in (repr(model), model.to_json(), str(model.to_payload()), str(model.model_dump())):
        assert endpoint_token not in text

    restored = InferenceEndpointEmbedding.from_json(model.to_json())  # token read again from the environment
    assert restored.query_prefix == "q: "
    np.testing.assert_allclose(restored.get_query_embedding("a sentence"), vector, atol=1e-6)

    copied = copy.deepcopy(model)  # gets its own connection pools
    np.testing.assert_allclose(copied.get_query_embedding("a sentence"), vector, atol=1e-6)

    monkeypatch.delenv("HF_TOKEN")
    anonymous = InferenceEndpointEmbedding.from_json(model.to_json())
    with pytest.raises(EndpointAuthError) as info:
        anonymous.get_query_embedding("a sentence")
    assert endpoint_token not in str(info.value)


def test_missing_endpoint_is_a_configuration_error():
    model = InferenceEndpointEmbedding()  # no network at construction
    with pytest.raises(ConfigurationError, match="HF_ENDPOINT_URL"):
        model.get_query_embedding("a sentence")
