"""LlamaIndex node postprocessor end to end, with no fakes: a VectorStoreIndex on llama-index's PineconeVectorStore
(local Pinecone server), nodes reranked through the local endpoint's TEI ``/rerank`` (bundled all-MiniLM-L6-v2)."""

from __future__ import annotations

import copy

import pytest
from hf_pinecone_llama_index import InferenceEndpointEmbedding, InferenceEndpointRerank
from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.vector_stores.pinecone import PineconeVectorStore
from pinecone import Pinecone, ServerlessSpec

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


def test_rerank_after_pinecone_retrieval(endpoint_url, pinecone_url, index_name):
    pc = Pinecone(api_key="local", host=pinecone_url)
    pc.create_index(
        name=index_name, dimension=384, metric="cosine", spec=ServerlessSpec(cloud="aws", region="us-east-1")
    )
    store = PineconeVectorStore(pinecone_index=pc.Index(index_name), namespace="rr")
    index = VectorStoreIndex(
        [TextNode(text=t) for t in TEXTS],
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=InferenceEndpointEmbedding(endpoint_url=endpoint_url),
    )
    rerank = InferenceEndpointRerank(endpoint_url=endpoint_url, top_n=2)
    retrieved = index.as_retriever(similarity_top_k=5).retrieve(QUERY)
    kept = rerank.postprocess_nodes(retrieved, query_str=QUERY)
    assert {n.node.get_content() for n in kept} == GUITAR
    assert kept[0].score >= kept[1].score
    assert [n.score for n in retrieved] != [n.score for n in kept]  # new objects, the retrieval scores untouched


async def test_rerank_async_matches_sync_and_keeps_inputs(endpoint_url):
    nodes = [NodeWithScore(node=TextNode(text=t), score=0.0) for t in TEXTS]
    rerank = InferenceEndpointRerank(endpoint_url=endpoint_url, top_n=None)
    sync = rerank.postprocess_nodes(nodes, query_bundle=QueryBundle(QUERY))
    async_ = await rerank.apostprocess_nodes(nodes, query_str=QUERY)
    assert [n.node.node_id for n in sync] == [n.node.node_id for n in async_]
    assert [n.score for n in async_] == pytest.approx([n.score for n in sync])
    assert all(n.score == 0.0 for n in nodes)
    assert rerank.postprocess_nodes([], query_str=QUERY) == []
    with pytest.raises(RerankInputError):
        rerank.postprocess_nodes(nodes, query_str=" ")
    with pytest.raises(ValueError, match="needs the query"):
        rerank.postprocess_nodes(nodes)
    copied = copy.deepcopy(rerank)  # query engines copy postprocessors: the copy builds its own client
    assert copied.postprocess_nodes(nodes, query_str=QUERY)[0].node.node_id == sync[0].node.node_id
    await rerank.aclose()


def test_rerank_token_never_serialized_and_errors_typed(secured_endpoint_url, endpoint_token):
    rerank = InferenceEndpointRerank(endpoint_url=secured_endpoint_url, hf_token=endpoint_token, top_n=1)
    assert endpoint_token not in rerank.to_json() and endpoint_token not in repr(rerank)
    nodes = [NodeWithScore(node=TextNode(text=t)) for t in TEXTS]
    assert rerank.postprocess_nodes(nodes, query_str=QUERY)[0].node.get_content() in GUITAR
    wrong = InferenceEndpointRerank(endpoint_url=secured_endpoint_url, hf_token="hf_wrongToken000000000")
    with pytest.raises(EndpointAuthError):
        wrong.postprocess_nodes(nodes, query_str=QUERY)
    with pytest.raises(ConfigurationError, match="no endpoint"):
        InferenceEndpointRerank().postprocess_nodes(nodes, query_str=QUERY)
