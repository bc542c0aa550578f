"""Hybrid retrieval end to end over loopback: the bundled all-MiniLM-L6-v2 (dense) and SPLADE-tiny (sparse)
endpoints, the local Pinecone server, ``ingest(..., sparse_embeddings=...)``, ``PineconeStore`` and
``HybridRetriever``; what was written and what is returned are checked through the real ``pinecone`` SDK.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from pinecone import Pinecone

from hf_pinecone import (
    HybridRetriever,
    IndexMismatchError,
    InferenceEndpointEmbeddings,
    InferenceEndpointSparseEmbeddings,
    InvalidSparseVectorError,
    PineconeStore,
    content_id,
    ensure_index,
    ingest,
)
from hf_pinecone.errors import ConfigurationError
from hf_pinecone.hybrid import dense_retriever, hybrid_retriever, reciprocal_rank_fusion, sparse_retriever

TEXTS = [
    "Invoice ID-4471 is overdue by thirty days.",
    "Invoice ID-9052 was paid in full.",
    "A person on a horse jumps over a broken down airplane.",
    "A rider guides a horse over a wrecked plane.",
    "Children smiling and waving at the camera.",
    "The cat sleeps on a warm windowsill.",
    "Two dogs play fetch in the park.",
    "A chef slices onions in a busy kitchen.",
]
KINDS = ["billing", "billing", "horse", "horse", "people", "animals", "animals", "people"]


@pytest.fixture(scope="module")
def dense(endpoint_url: str) -> Iterator[InferenceEndpointEmbeddings]:
    embeddings = InferenceEndpointEmbeddings(endpoint_url=endpoint_url)
    yield embeddings
    embeddings.close()


@pytest.fixture(scope="module")
def sparse(endpoint_url: str) -> Iterator[InferenceEndpointSparseEmbeddings]:
    embeddings = InferenceEndpointSparseEmbeddings(endpoint_url=endpoint_url, timeout=300)
    embeddings.embed_query("warm up")  # the SPLADE model loads on the first /embed_sparse request
    yield embeddings
    embeddings.close()


def _records() -> list[dict[str, Any]]:
    return [{"text": t, "kind": k} for t, k in zip(TEXTS, KINDS, strict=True)]


@pytest.fixture(scope="module")
def hybrid_store(pinecone_url: str, dense: Any, sparse: Any) -> PineconeStore:
    """One dotproduct index holding sparse-dense records, written by ingest in one pass."""
    host = ensure_index("hybrid-one", embeddings=dense, metric="dotproduct", api_key="local", host=pinecone_url)
    store = PineconeStore(host=host, pinecone_api_key="local", embedding=dense, sparse_embedding=sparse)
    report = ingest(_records(), store=store, sparse_embeddings=sparse, progress=False)
    assert report.upserted == len(TEXTS) and report.failed == 0
    return store


@pytest.fixture(scope="module")
def two_stores(pinecone_url: str, dense: Any, sparse: Any) -> tuple[PineconeStore, PineconeStore]:
    """A dense cosine index and a sparse index, same ids."""
    dense_host = ensure_index("hybrid-dense", embeddings=dense, api_key="local", host=pinecone_url)
    sparse_host = ensure_index(
        "hybrid-sparse", vector_type="sparse", metric="dotproduct", api_key="local", host=pinecone_url
    )
    dense_store = PineconeStore(host=dense_host, pinecone_api_key="local", embedding=dense)
    sparse_store = PineconeStore(host=sparse_host, pinecone_api_key="local", sparse_embedding=sparse)
    assert ingest(_records(), store=dense_store, progress=False).upserted == len(TEXTS)
    assert ingest(_records(), store=sparse_store, sparse_embeddings=sparse, progress=False).upserted == len(TEXTS)
    return dense_store, sparse_store


def _index(pinecone_url: str, store: PineconeStore) -> Any:
    return Pinecone(api_key="local", host=pinecone_url).Index(host=store._index_host)


def _as_dict(values: Any) -> dict[str, Any]:
    return {"indices": values.indices, "values": values.values}


def _dot(sparse_a: Any, sparse_b: Any) -> float:
    b = dict(zip(sparse_b["indices"], sparse_b["values"], strict=True))
    return float(sum(v * b.get(i, 0.0) for i, v in zip(sparse_a["indices"], sparse_a["values"], strict=True)))


# ------------------------------------------------------------------------------------------- writing
def test_ingest_writes_dense_and_sparse_under_the_same_ids(
    pinecone_url: str, hybrid_store: PineconeStore, dense: Any, sparse: Any
) -> None:
    ids = [content_id(t, None) for t in TEXTS]
    fetched = _index(pinecone_url, hybrid_store).fetch(ids=ids).vectors
    assert set(fetched) == set(ids)
    expected_sparse = sparse.embed_documents(TEXTS)
    expected_dense = dense.embed_documents(TEXTS)
    for record_id, want_sparse, want_dense in zip(ids, expected_sparse, expected_dense, strict=True):
        got = fetched[record_id]
        assert got.sparse_values.indices == want_sparse["indices"]
        assert got.sparse_values.values == pytest.approx(want_sparse["values"], abs=1e-4)
        assert got.values == pytest.approx(want_dense, abs=1e-5)
        assert got.metadata["text"] in TEXTS


def test_a_sparse_index_gets_sparse_values_only(pinecone_url: str, two_stores: Any) -> None:
    _, sparse_store = two_stores
    index = _index(pinecone_url, sparse_store)
    stats = index.describe_index_stats()
    assert stats.vector_type == "sparse" and stats.total_vector_count == len(TEXTS)
    record = index.fetch(ids=[content_id(TEXTS[0], None)]).vectors[content_id(TEXTS[0], None)]
    assert record.values == [] and record.sparse_values.indices


def test_invalid_sparse_values_write_nothing(pinecone_url: str, hybrid_store: PineconeStore) -> None:
    vector = [0.1] * 384
    before = _index(pinecone_url, hybrid_store).describe_index_stats().total_vector_count
    with pytest.raises(InvalidSparseVectorError, match="2 indices but 1 values") as info:
        hybrid_store.upsert_vectors(
            [("ok", vector, None), ("bad", vector, None)],
            sparse_values=[{"indices": [1], "values": [1.0]}, {"indices": [1, 2], "values": [1.0]}],
        )
    assert info.value.record_id == "bad"
    with pytest.raises(InvalidSparseVectorError, match="repeated"):
        hybrid_store.upsert_vectors([("rep", vector, None)], sparse_values=[{"indices": [3, 3], "values": [1, 2]}])
    with pytest.raises(InvalidSparseVectorError, match="out of range"):
        hybrid_store.upsert_vectors([("neg", vector, None)], sparse_values=[{"indices": [-3], "values": [1.0]}])
    assert _index(pinecone_url, hybrid_store).describe_index_stats().total_vector_count == before


# ----------------------------------------------------------------------------------- one index, alpha
@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5, 1.0])
def test_hybrid_scores_are_alpha_dense_plus_one_minus_alpha_sparse(
    pinecone_url: str, hybrid_store: PineconeStore, dense: Any, sparse: Any, alpha: float
) -> None:
    query = "invoice ID-4471"
    q_dense, q_sparse = np.asarray(dense.embed_query(query)), sparse.embed_query(query)
    ids = [content_id(t, None) for t in TEXTS]
    fetched = _index(pinecone_url, hybrid_store).fetch(ids=ids).vectors
    expected = {
        rid: alpha * float(np.dot(q_dense, fetched[rid].values))
        + (1 - alpha) * _dot(q_sparse, _as_dict(fetched[rid].sparse_values))
        for rid in ids
    }
    results = hybrid_store.hybrid_search_with_score(query, k=len(TEXTS), alpha=alpha)
    assert [doc.id for doc, _ in results] == sorted(expected, key=lambda rid: -expected[rid])[: len(results)]
    for doc, score in results:
        assert doc.id is not None and score == pytest.approx(expected[doc.id], abs=1e-3)


def test_exact_terms_rank_first_with_sparse_weight(hybrid_store: PineconeStore) -> None:
    top_sparse = hybrid_store.hybrid_search_with_score("ID-4471", k=1, alpha=0.3)[0][0]
    assert top_sparse.page_content == TEXTS[0] and top_sparse.id == content_id(TEXTS[0], None)


def test_the_pinecone_sdk_sees_the_same_hybrid_ranking(
    pinecone_url: str, hybrid_store: PineconeStore, dense: Any, sparse: Any
) -> None:
    query = "a horse jumps over a plane"
    q_dense, q_sparse = dense.embed_query(query), sparse.embed_query(query)
    sdk = _index(pinecone_url, hybrid_store).query(
        vector=[v * 0.5 for v in q_dense],
        sparse_vector={"indices": q_sparse["indices"], "values": [v * 0.5 for v in q_sparse["values"]]},
        top_k=4,
    )
    ours = hybrid_store.hybrid_search_by_vectors_with_score(q_dense, q_sparse, k=4, alpha=0.5)
    assert [m.id for m in sdk.matches] == [doc.id for doc, _ in ours]


def test_retriever_from_as_retriever_with_filter_namespace_and_ids(hybrid_store: PineconeStore) -> None:
    retriever = hybrid_store.as_retriever(search_type="hybrid", search_kwargs={"alpha": 0.5, "k": 3})
    assert isinstance(retriever, HybridRetriever)
    docs = retriever.invoke("invoice ID-4471")
    assert docs[0].page_content == TEXTS[0] and all(d.id == content_id(d.page_content, None) for d in docs)
    filtered = retriever.invoke("invoice ID-4471", filter={"kind": {"$eq": "horse"}})
    assert filtered and {d.metadata["kind"] for d in filtered} == {"horse"}
    assert retriever.invoke("invoice ID-4471", namespace="empty-namespace") == []


def test_retriever_async_matches_sync(hybrid_store: PineconeStore) -> None:
    retriever = HybridRetriever(store=hybrid_store, k=4, alpha=0.4, score_key="score")
    sync_docs = retriever.invoke("two dogs in a park")
    async_docs = asyncio.run(retriever.ainvoke("two dogs in a park"))
    assert [d.id for d in sync_docs] == [d.id for d in async_docs]
    assert [d.metadata["score"] for d in sync_docs] == pytest.approx([d.metadata["score"] for d in async_docs])


def test_alpha_one_is_dense_search_and_alpha_zero_is_sparse_search(hybrid_store: PineconeStore) -> None:
    query = "a rider on a horse"
    dense_only = [d.id for d, _ in hybrid_store.similarity_search_with_score(query, k=4)]
    assert [d.id for d, _ in hybrid_store.hybrid_search_with_score(query, k=4, alpha=1.0)] == dense_only
    sparse_only = [d.id for d, _ in hybrid_store.sparse_search_with_score(query, k=4)]
    assert [d.id for d, _ in hybrid_store.hybrid_search_with_score(query, k=4, alpha=0.0)] == sparse_only


# ---------------------------------------------------------------------------------- two indexes, RRF
def test_two_index_rrf_fuses_the_dense_and_sparse_rankings(two_stores: Any) -> None:
    import ranx

    dense_store, sparse_store = two_stores
    query = "invoice ID-4471 horse"
    retriever = HybridRetriever(store=dense_store, sparse_store=sparse_store, k=5, fetch_k=8)
    fused = retriever.search_with_score(query)
    dense_ranking = dense_store.similarity_search_with_score(query, k=8)
    sparse_ranking = sparse_store.sparse_search_with_score(query, k=8)
    # ranx's own RRF on the same two runs gives the same order and scores (weights 0.5 = RRF / 2).
    runs = [
        ranx.Run({"q": {d.id: float(len(r) - i) for i, (d, _) in enumerate(r)}}, name=name)
        for r, name in ((dense_ranking, "dense"), (sparse_ranking, "sparse"))
    ]
    reference = ranx.fuse(runs=runs, method="rrf", params={"k": 60}).to_dict()["q"]
    # Same fused scores, best first (ranx orders ties arbitrarily; ours by best single rank, then id).
    best_scores = sorted((0.5 * v for v in reference.values()), reverse=True)[:5]
    assert [score for _, score in fused] == pytest.approx(best_scores)
    for doc, score in fused:
        assert score == pytest.approx(0.5 * reference[doc.id])
    assert fused[0][0].page_content == TEXTS[0]  # first in sparse (exact id) and among the dense ones


def test_two_index_retriever_sync_async_and_sparse_mode(two_stores: Any) -> None:
    dense_store, sparse_store = two_stores
    retriever = dense_store.as_retriever(search_type="hybrid", search_kwargs={"k": 3, "sparse_store": sparse_store})
    sync_ids = [d.id for d in retriever.invoke("ID-9052")]
    assert sync_ids == [d.id for d in asyncio.run(retriever.ainvoke("ID-9052"))]
    assert sync_ids[0] == content_id(TEXTS[1], None)
    sparse_mode = HybridRetriever(store=dense_store, sparse_store=sparse_store, search_type="sparse", k=2)
    assert [d.id for d in sparse_mode.invoke("ID-9052")] == [
        d.id for d, _ in sparse_store.sparse_search_with_score("ID-9052", k=2)
    ]
    filtered = retriever.invoke("ID-9052", filter={"kind": "animals"})
    assert {d.metadata["kind"] for d in filtered} == {"animals"}


def test_rrf_weights_and_ties() -> None:
    from langchain_core.documents import Document

    a, b, c = (Document(id=x, page_content=x) for x in "abc")
    fused = reciprocal_rank_fusion([[(a, 1.0), (b, 0.5)], [(b, 9.0), (c, 1.0)]], k=1)
    assert [d.id for d, _ in fused] == ["b", "a", "c"]
    assert [s for _, s in fused] == pytest.approx([1 / 3 + 1 / 2, 1 / 2, 1 / 3])
    dense_heavy = reciprocal_rank_fusion([[(a, 1.0)], [(c, 1.0)]], weights=[0.9, 0.1])
    assert [d.id for d, _ in dense_heavy] == ["a", "c"]


# ------------------------------------------------------------------------------------ evaluation modes
def test_evaluation_mode_factories(hybrid_store: PineconeStore, two_stores: Any) -> None:
    dense_store, sparse_store = two_stores
    assert [d.id for d in dense_retriever(dense_store)("a cat", 2)] == [
        d.id for d, _ in dense_store.similarity_search_with_score("a cat", k=2)
    ]
    assert len(sparse_retriever(dense_store, sparse_store=sparse_store)("ID-4471", 3)) == 3
    assert hybrid_retriever(hybrid_store, alpha=0.2)("ID-4471", 1)[0].page_content == TEXTS[0]
    assert hybrid_retriever(dense_store, sparse_store=sparse_store)("ID-4471", 1)[0].page_content == TEXTS[0]


# ------------------------------------------------------------------------------------------ bad input
def test_a_sparse_query_on_a_cosine_index_is_refused_before_sending(two_stores: Any, sparse: Any) -> None:
    dense_store, _ = two_stores
    with pytest.raises(IndexMismatchError, match="only on dotproduct indexes"):
        dense_store.hybrid_search_by_vectors_with_score([0.1] * 384, sparse.embed_query("x"), alpha=0.5)


@pytest.mark.parametrize("alpha", [-0.5, 1.5])
def test_alpha_outside_zero_one(hybrid_store: PineconeStore, alpha: float) -> None:
    with pytest.raises(ConfigurationError, match="alpha must be"):
        hybrid_store.as_retriever(search_type="hybrid", search_kwargs={"alpha": alpha})
    with pytest.raises(ConfigurationError, match="alpha must be"):
        hybrid_store.hybrid_search_with_score("x", alpha=alpha)
    retriever = HybridRetriever(store=hybrid_store)
    with pytest.raises(ConfigurationError, match="alpha must be"):
        retriever.invoke("x", alpha=alpha)


def test_hybrid_needs_sparse_embeddings_and_known_kwargs(two_stores: Any) -> None:
    dense_store, _ = two_stores
    with pytest.raises(ConfigurationError, match="needs sparse embeddings"):
        dense_store.as_retriever(search_type="hybrid")
    with pytest.raises(ConfigurationError, match="unknown search_kwargs"):
        dense_store.as_retriever(search_type="hybrid", search_kwargs={"alpah": 0.5})


def test_a_bad_query_sparse_vector_is_a_typed_error(hybrid_store: PineconeStore) -> None:
    with pytest.raises(InvalidSparseVectorError, match="repeated"):
        hybrid_store.hybrid_search_by_vectors_with_score(None, {"indices": [1, 1], "values": [1.0, 1.0]})


# ---------------------------------------------------------------------------------- add_texts, rejections
def test_add_texts_writes_sparse_values_with_the_dense_ones(
    pinecone_url: str, hybrid_store: PineconeStore, sparse: Any
) -> None:
    texts = ["Order PO-7781 shipped today.", "A kite flies over the beach."]
    ids = hybrid_store.add_texts(texts, namespace="added")
    assert ids == [content_id(t, "added") for t in texts]
    ids_async = asyncio.run(hybrid_store.aadd_texts(["Async order PO-9"], namespace="added"))
    fetched = _index(pinecone_url, hybrid_store).fetch(ids=[*ids, *ids_async], namespace="added").vectors
    for record_id, want in zip(ids, sparse.embed_documents(texts), strict=True):
        assert fetched[record_id].sparse_values.indices == want["indices"]
    assert fetched[ids_async[0]].sparse_values.indices
    top = hybrid_store.hybrid_search_with_score("PO-7781", k=1, alpha=0.2, namespace="added")
    assert top[0][0].id == ids[0]


def test_ingest_counts_a_text_the_sparse_endpoint_rejects(
    pinecone_url: str, endpoint_url: str, dense: Any, index_name: str, tmp_path: Any
) -> None:
    """The SPLADE endpoint refuses a text over 512 tokens without truncation: that record fails, the rest land."""
    strict = InferenceEndpointSparseEmbeddings(endpoint_url=endpoint_url, truncate=False, timeout=300)
    host = ensure_index(index_name, embeddings=dense, metric="dotproduct", api_key="local", host=pinecone_url)
    store = PineconeStore(host=host, pinecone_api_key="local", embedding=dense)
    texts = ["a short sentence", "word " * 700, "another short one"]
    errors = tmp_path / "errors.jsonl"
    report = ingest(texts, store=store, sparse_embeddings=strict, errors_file=errors, progress=False)
    assert (report.upserted, report.failed) == (2, 1)
    assert "512 tokens" in errors.read_text()
    stats = _index(pinecone_url, store).describe_index_stats()
    assert stats.total_vector_count == 2


def test_the_sparse_client_never_shows_its_token(endpoint_url: str) -> None:
    secret = "hf_hybrid_secret_123"
    embeddings = InferenceEndpointSparseEmbeddings(endpoint_url=endpoint_url, hf_token=secret)
    assert secret not in repr(embeddings) and secret not in repr(embeddings.client)
    assert secret not in str(embeddings.model_dump())
