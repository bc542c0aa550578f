"""Retrieval through the standard LangChain retriever: search types, filter, namespace, ids, scores, async.

Runs against the local endpoint (real all-MiniLM-L6-v2) and the local Pinecone server over loopback.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from langchain_core.documents import Document
from langchain_core.vectorstores import VectorStoreRetriever

from hf_pinecone import (
    ConfigurationError,
    InferenceEndpointEmbeddings,
    PineconeStore,
    content_id,
    ensure_index,
)
from hf_pinecone.retrieval import ScoredRetriever, format_docs

GUITAR = "A man is playing a guitar on stage."
GUITAR_2 = "A man plays an acoustic guitar on a stage."
SINGER = "A woman is singing into a microphone."
DOGS = "Two dogs are running through a snowy field."
CAT = "A cat sleeps on a sunny windowsill."
CHEF = "The chef is slicing vegetables in the kitchen."
CORPUS = {
    GUITAR: {"topic": "music", "year": 2020},
    GUITAR_2: {"topic": "music", "year": 2021},
    SINGER: {"topic": "music", "year": 2022},
    DOGS: {"topic": "animals", "year": 2020},
    CAT: {"topic": "animals", "year": 2021},
    CHEF: {"topic": "food", "year": 2022},
}
OTHER_NS = "other"
OTHER_TEXT = "A pianist performs a concert in a large hall."


@pytest.fixture(scope="module")
def store(endpoint_url: str, pinecone_url: str) -> Iterator[PineconeStore]:
    embeddings = InferenceEndpointEmbeddings(endpoint_url=endpoint_url)
    name = f"t-ret-{uuid.uuid4().hex[:10]}"
    host = ensure_index(name, embeddings=embeddings, api_key="local", host=pinecone_url)
    store = PineconeStore(embedding=embeddings, pinecone_api_key="local", host=host)
    store.add_texts(list(CORPUS), metadatas=list(CORPUS.values()))
    store.add_texts([OTHER_TEXT], metadatas=[{"topic": "music", "year": 2023}], namespace=OTHER_NS)
    yield store
    embeddings.close()


def texts(docs: list[Document]) -> list[str]:
    return [d.page_content for d in docs]


def assert_ids(docs: list[Document], namespace: str = "") -> None:
    """Every document carries the id it was stored under (content ids, as no ids were given)."""
    assert docs
    for doc in docs:
        assert doc.id == content_id(doc.page_content, namespace)


async def test_similarity_sync_and_async_return_documents_with_ids(store: PineconeStore) -> None:
    retriever = store.as_retriever(search_kwargs={"k": 2})
    assert isinstance(retriever, VectorStoreRetriever)
    docs = retriever.invoke("someone playing the guitar")
    assert set(texts(docs)) == {GUITAR, GUITAR_2}
    assert_ids(docs)
    assert docs[0].metadata == CORPUS[docs[0].page_content]  # text_key removed, numbers as stored
    adocs = await retriever.ainvoke("someone playing the guitar")
    assert [(d.id, d.page_content, d.metadata) for d in adocs] == [
        (d.id, d.page_content, d.metadata) for d in docs
    ]


async def test_k_per_call_overrides_search_kwargs(store: PineconeStore) -> None:
    retriever = store.as_retriever(search_kwargs={"k": 4})
    assert len(retriever.invoke("animals", k=1)) == 1
    assert len(await retriever.ainvoke("animals", k=3)) == 3
    assert len(retriever.invoke("animals")) == 4


async def test_metadata_filter_in_search_kwargs(store: PineconeStore) -> None:
    retriever = store.as_retriever(search_kwargs={"k": 6, "filter": {"topic": {"$eq": "animals"}}})
    assert set(texts(retriever.invoke("someone playing the guitar"))) == {DOGS, CAT}
    both = {"$and": [{"topic": "music"}, {"year": {"$gte": 2021}}]}
    adocs = await store.as_retriever(search_kwargs={"k": 6, "filter": both}).ainvoke("music")
    assert set(texts(adocs)) == {GUITAR_2, SINGER}
    assert_ids(adocs)


async def test_namespace_in_search_kwargs(store: PineconeStore) -> None:
    default = store.as_retriever(search_kwargs={"k": 6}).invoke("piano concert")
    assert OTHER_TEXT not in texts(default)
    retriever = store.as_retriever(search_kwargs={"k": 6, "namespace": OTHER_NS})
    for docs in (retriever.invoke("piano concert"), await retriever.ainvoke("piano concert")):
        assert texts(docs) == [OTHER_TEXT]
        assert_ids(docs, OTHER_NS)


async def test_mmr_trades_similarity_for_diversity_and_keeps_ids(store: PineconeStore) -> None:
    query = "a man playing guitar"
    similar = store.as_retriever(search_kwargs={"k": 2}).invoke(query)
    assert set(texts(similar)) == {GUITAR, GUITAR_2}
    retriever = store.as_retriever(
        search_type="mmr", search_kwargs={"k": 2, "fetch_k": 6, "lambda_mult": 0.25}
    )
    for docs in (retriever.invoke(query), await retriever.ainvoke(query)):
        assert len(docs) == 2
        assert texts(docs)[0] in {GUITAR, GUITAR_2}
        assert texts(docs)[1] not in {GUITAR, GUITAR_2}  # the near-duplicate gave way to something different
        assert_ids(docs)
    filtered = store.as_retriever(search_type="mmr", search_kwargs={"k": 2, "filter": {"topic": "animals"}})
    assert set(texts(await filtered.ainvoke(query))) == {DOGS, CAT}


async def test_similarity_score_threshold(store: PineconeStore) -> None:
    query = "a man playing guitar"
    scored = store.similarity_search_with_relevance_scores(query, k=6)
    relevances = [score for _, score in scored]
    assert relevances == sorted(relevances, reverse=True)
    assert all(0.0 <= r <= 1.0 for r in relevances)
    # A threshold between the 2nd and 3rd relevance keeps exactly the two guitar sentences.
    threshold = (relevances[1] + relevances[2]) / 2
    retriever = store.as_retriever(
        search_type="similarity_score_threshold", search_kwargs={"k": 6, "score_threshold": threshold}
    )
    for docs in (retriever.invoke(query), await retriever.ainvoke(query)):
        assert set(texts(docs)) == {GUITAR, GUITAR_2}
        assert_ids(docs)
    nothing = store.as_retriever(
        search_type="similarity_score_threshold", search_kwargs={"k": 6, "score_threshold": 0.9999}
    )
    assert nothing.invoke("an unrelated question about tax law") == []


def test_threshold_search_without_threshold_is_rejected(store: PineconeStore) -> None:
    with pytest.raises(ValueError, match="score_threshold"):
        store.as_retriever(search_type="similarity_score_threshold")
    with pytest.raises(ValueError, match="search_type of bogus not allowed"):
        store.as_retriever(search_type="bogus")


async def test_scores_from_similarity_search_with_score(store: PineconeStore) -> None:
    pairs = store.similarity_search_with_score(GUITAR, k=3)
    assert pairs[0][0].page_content == GUITAR
    assert pairs[0][1] == pytest.approx(1.0, abs=1e-4)  # cosine of a text with itself
    scores = [s for _, s in pairs]
    assert scores == sorted(scores, reverse=True)
    apairs = await store.asimilarity_search_with_score(GUITAR, k=3)
    assert [(d.id, s) for d, s in apairs] == [(d.id, pytest.approx(s, abs=1e-6)) for d, s in pairs]


async def test_scored_retriever_puts_scores_in_metadata(store: PineconeStore) -> None:
    query = "pets sleeping"
    expected = {d.id: s for d, s in store.similarity_search_with_score(query, k=3)}
    retriever = ScoredRetriever(vectorstore=store, search_kwargs={"k": 3})
    for docs in (retriever.invoke(query), await retriever.ainvoke(query)):
        assert {d.id: d.metadata["score"] for d in docs} == pytest.approx(expected)
        assert_ids(docs)
        assert {k: v for k, v in docs[0].metadata.items() if k != "score"} == CORPUS[docs[0].page_content]
    relevance = ScoredRetriever(
        vectorstore=store,
        search_type="similarity_score_threshold",
        search_kwargs={"k": 6, "score_threshold": 0.5, "filter": {"topic": "animals"}},
        score_key="relevance",
    )
    docs = await relevance.ainvoke(query)
    assert set(texts(docs)) == {DOGS, CAT}
    assert all(0.5 <= d.metadata["relevance"] <= 1.0 for d in docs)


def test_scored_retriever_refuses_mmr_and_metadata_collisions(store: PineconeStore) -> None:
    with pytest.raises(ValueError, match="search_type of mmr not allowed"):
        ScoredRetriever(vectorstore=store, search_type="mmr")
    clash = ScoredRetriever(vectorstore=store, search_kwargs={"k": 1}, score_key="topic")
    with pytest.raises(ConfigurationError, match="already has metadata key 'topic'"):
        clash.invoke("guitar")


BATCH_QUERIES = ["guitar on stage", "dog in the snow", "cooking vegetables"]
BATCH_EXPECTED = [[GUITAR], [DOGS], [CHEF]]


async def test_retriever_batches_queries_sync_and_concurrently_async(store: PineconeStore) -> None:
    """abatch runs the queries concurrently on one store: they must not close each other's async index."""
    retriever = store.as_retriever(search_kwargs={"k": 1})
    assert [texts(d) for d in retriever.batch(BATCH_QUERIES)] == BATCH_EXPECTED
    assert [texts(d) for d in await retriever.abatch(BATCH_QUERIES * 4)] == BATCH_EXPECTED * 4
    async with store:  # holding the async index open across calls works the same
        assert [texts(d) for d in await retriever.abatch(BATCH_QUERIES)] == BATCH_EXPECTED


def test_format_docs_joins_texts_in_order() -> None:
    docs = [Document("first", id="1"), Document("second", id="2")]
    assert format_docs(docs) == "first\n\nsecond"
    assert format_docs(docs, separator="\n---\n") == "first\n---\nsecond"
    assert format_docs([]) == ""


def test_from_env_builds_the_store_behind_a_retriever(
    endpoint_url: str, pinecone_url: str, index_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The convenience constructor reads the same env as the CLI and yields a working retriever."""
    import hf_pinecone

    monkeypatch.setenv("HF_ENDPOINT_URL", endpoint_url)
    monkeypatch.setenv("PINECONE_API_KEY", "local")
    monkeypatch.setenv("PINECONE_CONTROLLER_HOST", pinecone_url)
    monkeypatch.setenv("PINECONE_INDEX_NAME", index_name)
    store = hf_pinecone.from_env()
    assert isinstance(store, PineconeStore)
    store.add_texts([DOGS, CHEF])
    docs = store.as_retriever(search_kwargs={"k": 1}).invoke("puppies playing in snow")
    assert texts(docs) == [DOGS]
    assert docs[0].id == content_id(DOGS)
