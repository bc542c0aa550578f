"""Conformance of the local Pinecone server, driven by the real ``pinecone`` SDK (sync and asyncio).

Raw ``httpx`` is used only where the SDK validates client-side and would never send the request (top_k bounds,
malformed JSON, null metadata, oversized bodies), so the server's own answer can be checked.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from pinecone import (
    Pinecone,
    PineconeApiException,
    PineconeAsyncio,
    ServerlessSpec,
)
from pinecone.exceptions import ForbiddenException, NotFoundException, UnauthorizedException

from hf_pinecone.local import serve_pinecone

SPEC = ServerlessSpec(cloud="aws", region="us-east-1")


def _error(exc: PineconeApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.body)
    return body


@pytest.fixture
def pc(pinecone_url: str) -> Pinecone:
    return Pinecone(api_key="local", host=pinecone_url)


@pytest.fixture
def index(pc: Pinecone, index_name: str) -> Iterator[Any]:
    """A fresh 4-dimensional cosine index."""
    pc.create_index(name=index_name, dimension=4, metric="cosine", spec=SPEC)
    yield pc.Index(host=pc.describe_index(index_name).host)
    pc.delete_index(index_name)


@pytest.fixture
def data_url(pinecone_url: str, index: Any, index_name: str) -> str:
    """Base URL of ``index``'s data plane, for raw requests."""
    return f"{pinecone_url}/indexes/{index_name}"


# --------------------------------------------------------------------------------------- control plane
def test_control_plane_lifecycle(pc: Pinecone, pinecone_url: str, index_name: str) -> None:
    model = pc.create_index(name=index_name, dimension=8, metric="dotproduct", spec=SPEC)
    assert model.status.ready is True
    assert model.host == f"{pinecone_url}/indexes/{index_name}"
    described = pc.describe_index(index_name)
    assert (described.dimension, described.metric, described.vector_type) == (8, "dotproduct", "dense")
    assert described.spec.serverless.cloud == "aws"
    assert index_name in pc.list_indexes().names()
    assert pc.has_index(index_name)

    with pytest.raises(PineconeApiException) as conflict:
        pc.create_index(name=index_name, dimension=8, metric="dotproduct", spec=SPEC)
    assert conflict.value.status == 409
    assert _error(conflict.value)["error"]["code"] == "ALREADY_EXISTS"

    pc.configure_index(index_name, deletion_protection="enabled")
    with pytest.raises(PineconeApiException) as forbidden:
        pc.delete_index(index_name)
    assert forbidden.value.status == 403
    pc.configure_index(index_name, deletion_protection="disabled")

    pc.delete_index(index_name)
    assert not pc.has_index(index_name)
    with pytest.raises(NotFoundException) as missing:
        pc.describe_index(index_name)
    assert _error(missing.value) == {
        "error": {"code": "NOT_FOUND", "message": f"Index {index_name} not found."},
        "status": 404,
    }


@pytest.mark.parametrize(
    "name",
    ["Upper", "-lead", "trail-", "under_score", "a" * 46, "../escape", "dot.name", "", "sp ace", "new\nline"],
)
def test_invalid_index_names_are_rejected(pinecone_url: str, name: str) -> None:
    body = {
        "name": name,
        "dimension": 4,
        "metric": "cosine",
        "spec": {"serverless": {"cloud": "aws", "region": "x"}},
    }
    response = httpx.post(f"{pinecone_url}/indexes", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_ARGUMENT"
    assert name not in [i["name"] for i in httpx.get(f"{pinecone_url}/indexes").json()["indexes"]]


@pytest.mark.parametrize(
    ("field", "value"),
    [("dimension", 0), ("dimension", 20001), ("metric", "manhattan"), ("vector_type", "sparse")],
)
def test_invalid_index_settings_are_rejected(pinecone_url: str, index_name: str, field: str, value: Any) -> None:
    body: dict[str, Any] = {
        "name": index_name,
        "dimension": 4,
        "metric": "cosine",
        "spec": {"serverless": {}},
    }
    body[field] = value
    response = httpx.post(f"{pinecone_url}/indexes", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["status"] == 400


def test_unknown_index_data_plane_is_404(pinecone_url: str, index_name: str) -> None:
    response = httpx.post(f"{pinecone_url}/indexes/{index_name}/query", json={"topK": 1, "vector": [1.0]})
    assert response.status_code == 404
    assert response.json()["code"] == 5


def test_malformed_json_is_400(pinecone_url: str, data_url: str) -> None:
    for url in (f"{pinecone_url}/indexes", f"{data_url}/vectors/upsert", f"{data_url}/query"):
        response = httpx.post(url, content=b'{"vectors": [', headers={"content-type": "application/json"})
        assert response.status_code == 400, (url, response.text)
    response = httpx.post(f"{data_url}/query", content=b"[1, 2]")
    assert response.status_code == 400
    assert httpx.post(f"{data_url}/query", json={"topK": 1, "vector": [1.0, 0.0, 0.0, 0.0]}).status_code == 200


# ------------------------------------------------------------------------------------------ data plane
def test_every_data_route_sync(index: Any) -> None:
    index.upsert(
        vectors=[
            {"id": "a", "values": [1.0, 0.0, 0.0, 0.0], "metadata": {"genre": "drama", "year": 2020}},
            {"id": "b", "values": [0.0, 1.0, 0.0, 0.0], "metadata": {"genre": "comedy", "tags": ["x", "y"]}},
            {"id": "c", "values": [1.0, 1.0, 0.0, 0.0]},
        ]
    )
    index.upsert(vectors=[("a", [0.0, 0.0, 1.0, 0.0], {"genre": "other"})], namespace="ns2")

    result = index.query(vector=[1.0, 0.2, 0.0, 0.0], top_k=2, include_values=True, include_metadata=True)
    assert [m.id for m in result.matches] == ["a", "c"]
    assert result.matches[0].values == [1.0, 0.0, 0.0, 0.0]
    assert result.matches[0].metadata == {"genre": "drama", "year": 2020.0}
    assert isinstance(result.matches[0].metadata["year"], float)
    assert result.matches[0].score == pytest.approx(1 / np.sqrt(1.04), rel=1e-6)
    assert result.namespace == ""

    by_id = index.query(id="b", top_k=1)
    assert by_id.matches[0].id == "b"
    assert by_id.matches[0].score == pytest.approx(1.0, rel=1e-6)
    assert not by_id.matches[0].values and by_id.matches[0].metadata is None
    assert index.query(id="missing", top_k=3).matches == []

    in_ns = index.query(vector=[0.0, 0.0, 1.0, 0.0], top_k=5, namespace="ns2", include_metadata=True)
    assert [(m.id, m.metadata) for m in in_ns.matches] == [("a", {"genre": "other"})]

    fetched = index.fetch(ids=["a", "b", "nope"])
    assert set(fetched.vectors) == {"a", "b"}
    assert fetched.vectors["b"].metadata == {"genre": "comedy", "tags": ["x", "y"]}

    index.update(id="a", values=[0.0, 0.0, 0.0, 2.0], set_metadata={"year": 2021, "new": True})
    updated = index.fetch(ids=["a"]).vectors["a"]
    assert updated.values == [0.0, 0.0, 0.0, 2.0]
    assert updated.metadata == {"genre": "drama", "year": 2021.0, "new": True}
    index.update(id="ghost", set_metadata={"x": "y"})  # no-op, like Pinecone serverless
    assert "ghost" not in index.fetch(ids=["ghost"]).vectors

    stats = index.describe_index_stats()
    assert stats.total_vector_count == 4
    assert stats.dimension == 4
    assert {k: v.vector_count for k, v in stats.namespaces.items()} == {"": 3, "ns2": 1}
    filtered = index.describe_index_stats(filter={"genre": {"$in": ["drama", "other"]}})
    assert {k: v.vector_count for k, v in filtered.namespaces.items()} == {"": 1, "ns2": 1}

    index.delete(ids=["c"])
    index.delete(filter={"genre": "comedy"})
    assert set(index.fetch(ids=["a", "b", "c"]).vectors) == {"a"}
    index.delete(delete_all=True, namespace="ns2")
    assert "ns2" not in index.describe_index_stats().namespaces


def test_list_paginates_and_omits_token_on_last_page(index: Any, data_url: str) -> None:
    ids = [f"doc#{i:03d}" for i in range(25)] + ["other-1", "other-2"]
    index.upsert(vectors=[(i, [1.0, 0.0, 0.0, 0.0]) for i in ids])
    pages = list(index.list(prefix="doc#", limit=10))
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [i for page in pages for i in page] == sorted(i for i in ids if i.startswith("doc#"))

    first = index.list_paginated(prefix="doc#", limit=10)
    assert first.pagination is not None and first.pagination.next
    page2 = index.list_paginated(prefix="doc#", limit=10, pagination_token=first.pagination.next)
    page3 = index.list_paginated(prefix="doc#", limit=10, pagination_token=page2.pagination.next)
    assert [v.id for v in page3.vectors] == [f"doc#{i:03d}" for i in range(20, 25)]
    assert page3.pagination is None
    raw = httpx.get(f"{data_url}/vectors/list", params={"prefix": "doc#", "limit": 25}).json()
    assert len(raw["vectors"]) == 25 and "pagination" not in raw  # exactly all: no token on the last page
    exact = httpx.get(f"{data_url}/vectors/list", params={"prefix": "other-", "limit": 2}).json()
    assert [v["id"] for v in exact["vectors"]] == ["other-1", "other-2"]
    assert "pagination" not in exact
    assert list(index.list(prefix="none")) == []
    assert httpx.get(f"{data_url}/vectors/list", params={"paginationToken": "%%%"}).status_code == 400


@pytest.mark.parametrize("metric", ["cosine", "dotproduct", "euclidean"])
def test_metric_scores_and_order_match_numpy(pc: Pinecone, index_name: str, metric: str) -> None:
    rng = np.random.default_rng(7)
    data = rng.normal(size=(300, 16)).astype(np.float32)
    query = rng.normal(size=16).astype(np.float32)
    pc.create_index(name=index_name, dimension=16, metric=metric, spec=SPEC)
    idx = pc.Index(host=pc.describe_index(index_name).host)
    idx.upsert(vectors=[(str(i), [float(x) for x in row]) for i, row in enumerate(data)])
    result = idx.query(vector=[float(x) for x in query], top_k=10)
    if metric == "cosine":
        scores = data @ query / (np.linalg.norm(data, axis=1) * np.linalg.norm(query))
        order = np.argsort(-scores)
    elif metric == "dotproduct":
        scores = data @ query
        order = np.argsort(-scores)
    else:  # Pinecone reports the squared euclidean distance, nearest first
        scores = ((data - query) ** 2).sum(axis=1)
        order = np.argsort(scores)
    assert [m.id for m in result.matches] == [str(i) for i in order[:10]]
    assert [m.score for m in result.matches] == pytest.approx([float(scores[i]) for i in order[:10]], rel=1e-4)
    pc.delete_index(index_name)


@pytest.mark.parametrize("kind", ["sparse", "hybrid"])
def test_sparse_and_hybrid_scores_match_numpy(pc: Pinecone, index_name: str, kind: str) -> None:
    """Sparse scores are the dot product over shared indices (repeated indices add up), sparse-dense scores add
    the dense dot product; checked against a dense numpy model of the same data, with a filter and after deletes."""
    rng = np.random.default_rng(11)
    vocabulary, count = 500, 400
    dense_index = kind == "hybrid"
    if dense_index:
        pc.create_index(name=index_name, dimension=8, metric="dotproduct", spec=SPEC)
    else:
        pc.create_index(name=index_name, metric="dotproduct", vector_type="sparse", spec=SPEC)
    idx = pc.Index(host=pc.describe_index(index_name).host)
    sparse_model = np.zeros((count, vocabulary))
    dense = rng.normal(size=(count, 8)).astype(np.float32)
    records = []
    for i in range(count):
        indices = rng.integers(0, vocabulary, size=int(rng.integers(1, 30))).tolist()  # repeats allowed
        values = rng.random(len(indices)).astype(np.float32).tolist()
        np.add.at(sparse_model[i], indices, values)
        record: dict[str, Any] = {"id": str(i), "sparse_values": {"indices": indices, "values": values}}
        record["metadata"] = {"even": i % 2 == 0}
        if dense_index:
            record["values"] = [float(x) for x in dense[i]]
        records.append(record)
    idx.upsert(vectors=records, batch_size=100)
    idx.delete(ids=[str(i) for i in range(0, count, 10)])
    alive = np.array([i % 10 != 0 for i in range(count)])
    q_indices = rng.integers(0, vocabulary, size=40).tolist()
    q_values = rng.random(40).astype(np.float32).tolist()
    q_model = np.zeros(vocabulary)
    np.add.at(q_model, q_indices, q_values)
    q_dense = rng.normal(size=8).astype(np.float32)
    scores = sparse_model @ q_model + (dense @ q_dense if dense_index else 0.0)
    for only_even in (False, True):
        keep = alive & (np.arange(count) % 2 == 0 if only_even else True) & (scores != 0)
        order = [i for i in np.argsort(-scores, kind="stable") if keep[i]][:20]
        kwargs: dict[str, Any] = {"sparse_vector": {"indices": q_indices, "values": q_values}, "top_k": 20}
        if dense_index:
            kwargs["vector"] = [float(x) for x in q_dense]
        if only_even:
            kwargs["filter"] = {"even": True}
        result = idx.query(**kwargs)
        assert [m.score for m in result.matches] == pytest.approx([float(scores[i]) for i in order], rel=1e-4)
        assert [m.id for m in result.matches] == [str(i) for i in order]
    pc.delete_index(index_name)


@pytest.mark.parametrize("metric", ["cosine", "dotproduct", "euclidean"])
def test_int8_prepass_returns_the_exact_top_k(
    pc: Pinecone, index_name: str, metric: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large namespaces use an int8 pre-pass plus exact rescoring; results must equal brute force."""
    from hf_pinecone.local import _pinecone_storage

    monkeypatch.setattr(_pinecone_storage, "INT8_MIN_ROWS", 300)
    prepass_calls: list[int] = []
    original = _pinecone_storage.Namespace._int8_candidates

    def spy(self: Any, *args: Any) -> Any:
        prepass_calls.append(1)
        return original(self, *args)

    monkeypatch.setattr(_pinecone_storage.Namespace, "_int8_candidates", spy)
    monkeypatch.setattr(_pinecone_storage, "INT8_PARALLEL_MIN_ROWS", 2000 if metric == "cosine" else 10**9)
    rng = np.random.default_rng(11)
    centers = rng.normal(size=(8, 32))
    # Clustered data with varied norms: many near-ties, the hard case for a bound-based pre-filter.
    data = (centers[rng.integers(0, 8, 4000)] + 0.05 * rng.normal(size=(4000, 32))).astype(np.float32)
    data *= rng.lognormal(0, 0.5, size=(4000, 1)).astype(np.float32)
    pc.create_index(name=index_name, dimension=32, metric=metric, spec=SPEC)
    idx = pc.Index(host=pc.describe_index(index_name).host)
    records = [(str(i), [float(x) for x in row], {"even": i % 2 == 0, "bucket": i % 10}) for i, row in enumerate(data)]
    for start in range(0, len(records), 500):
        idx.upsert(vectors=records[start : start + 500])
    wide = data.astype(np.float64)
    # No filter: int8 scan of all rows; 50% filter: full scan with the mask; 10% filter: scan of the subset.
    for trial in range(9):
        query = (wide[rng.integers(0, 4000)] + 0.01 * rng.normal(size=32)) if trial % 2 else rng.normal(size=32)
        flt = [None, {"even": True}, {"bucket": 3}][trial % 3]
        result = idx.query(vector=[float(x) for x in query], top_k=25, filter=flt)
        if metric == "cosine":
            keys = wide @ query / (np.linalg.norm(wide, axis=1) * np.linalg.norm(query))
        elif metric == "dotproduct":
            keys = wide @ query
        else:
            keys = -((wide - query) ** 2).sum(axis=1)
        if flt:
            keys[np.arange(4000) % (2 if "even" in flt else 10) != (0 if "even" in flt else 3)] = -np.inf
        best = np.sort(keys)[::-1][:25]
        got = np.array([keys[int(m.id)] for m in result.matches])
        assert got == pytest.approx(best, rel=1e-5, abs=1e-5), (metric, trial)
    assert len(prepass_calls) == 9  # every query above went through the int8 pre-pass
    pc.delete_index(index_name)


# --------------------------------------------------------------------------------------------- filters
FILTER_RECORDS: dict[str, dict[str, Any]] = {
    "r1": {"genre": "drama", "year": 2019, "rating": 7.5, "tags": ["a", "b"], "ok": True},
    "r2": {"genre": "comedy", "year": 2020, "rating": 6.0, "tags": ["b"], "ok": False},
    "r3": {"genre": "drama", "year": 2021, "tags": ["c"]},
    "r4": {"genre": "action", "year": 2022, "rating": 9.0},
    "r5": {"other": "x"},
    "r6": {},  # no metadata at all
}

FILTER_TABLE: list[tuple[dict[str, Any], set[str]]] = [
    ({"genre": "drama"}, {"r1", "r3"}),
    ({"genre": {"$eq": "drama"}}, {"r1", "r3"}),
    ({"year": 2020}, {"r2"}),
    ({"ok": True}, {"r1"}),
    ({"ok": {"$eq": False}}, {"r2"}),
    ({"genre": {"$ne": "drama"}}, {"r2", "r4", "r5", "r6"}),
    ({"year": {"$gt": 2020}}, {"r3", "r4"}),
    ({"year": {"$gte": 2020}}, {"r2", "r3", "r4"}),
    ({"year": {"$lt": 2020}}, {"r1"}),
    ({"year": {"$lte": 2020}}, {"r1", "r2"}),
    ({"rating": {"$gte": 6, "$lt": 9}}, {"r1", "r2"}),
    ({"genre": {"$in": ["comedy", "action"]}}, {"r2", "r4"}),
    ({"genre": {"$nin": ["comedy", "action"]}}, {"r1", "r3", "r5", "r6"}),
    ({"year": {"$in": [2019, 2022]}}, {"r1", "r4"}),
    ({"rating": {"$exists": True}}, {"r1", "r2", "r4"}),
    ({"rating": {"$exists": False}}, {"r3", "r5", "r6"}),
    ({"tags": "b"}, {"r1", "r2"}),
    ({"tags": {"$in": ["c", "z"]}}, {"r3"}),
    ({"tags": {"$nin": ["b"]}}, {"r3", "r4", "r5", "r6"}),
    ({"tags": {"$ne": "a"}}, {"r2", "r3", "r4", "r5", "r6"}),
    ({"genre": "drama", "year": {"$gt": 2019}}, {"r3"}),
    ({"$and": [{"genre": "drama"}, {"tags": "a"}]}, {"r1"}),
    ({"$or": [{"genre": "action"}, {"ok": False}]}, {"r2", "r4"}),
    ({"$or": [{"$and": [{"genre": "drama"}, {"year": 2021}]}, {"other": {"$exists": True}}]}, {"r3", "r5"}),
    ({"year": {"$gt": 3000}}, set()),
]


@pytest.fixture
def filter_index(index: Any) -> Any:
    vectors = [
        {"id": rid, "values": [1.0, float(n), 0.5, 0.0], "metadata": meta}
        for n, (rid, meta) in enumerate(FILTER_RECORDS.items())
    ]
    index.upsert(vectors=vectors)
    return index


def test_filter_table(filter_index: Any) -> None:
    for spec, expected in FILTER_TABLE:
        matches = filter_index.query(vector=[1.0, 0.0, 0.0, 0.0], top_k=10, filter=spec).matches
        assert {m.id for m in matches} == expected, spec
        stats = filter_index.describe_index_stats(filter=spec)
        assert stats.total_vector_count == len(expected), spec


@pytest.mark.parametrize(
    "spec",
    [
        {"genre": {"$regex": "d.*"}},
        {"$not": {"genre": "drama"}},
        {"year": {"$gt": "2020"}},
        {"genre": {"$in": "drama"}},
        {"genre": {"$in": []}},
        {"genre": {"$exists": 1}},
        {"genre": None},
        {"genre": {"$eq": {"nested": 1}}},
        {"$and": {"genre": "drama"}},
        {"$or": []},
    ],
)
def test_bad_filters_are_400(filter_index: Any, spec: dict[str, Any]) -> None:
    with pytest.raises(PineconeApiException) as err:
        filter_index.query(vector=[1.0, 0.0, 0.0, 0.0], top_k=3, filter=spec)
    assert err.value.status == 400
    assert _error(err.value)["code"] == 3


def test_huge_and_deep_filters_are_rejected_and_server_keeps_serving(filter_index: Any, data_url: str) -> None:
    deep: dict[str, Any] = {"genre": "drama"}
    for _ in range(100):
        deep = {"$and": [deep]}
    very_deep = "[" * 100_000 + "]" * 100_000
    wide = {"genre": {"$in": [f"g{i}" for i in range(20_000)]}}
    for body in (
        {"topK": 1, "vector": [1.0, 0.0, 0.0, 0.0], "filter": deep},
        {"topK": 1, "vector": [1.0, 0.0, 0.0, 0.0], "filter": wide},
    ):
        assert httpx.post(f"{data_url}/query", json=body).status_code == 400
    raw = httpx.post(f"{data_url}/query", content=('{"topK":1,"filter":' + very_deep + "}").encode())
    assert raw.status_code == 400
    oversized = httpx.post(f"{data_url}/query", content=b" " * (65 * 1024 * 1024))
    assert oversized.status_code == 413
    assert len(filter_index.query(vector=[1.0, 0.0, 0.0, 0.0], top_k=5).matches) == 5


# ---------------------------------------------------------------------------------------------- limits
def test_dimension_mismatch_bodies_are_pinecones(index: Any) -> None:
    with pytest.raises(PineconeApiException) as upsert:
        index.upsert(vectors=[("x", [1.0, 2.0, 3.0])])
    assert upsert.value.status == 400
    assert _error(upsert.value) == {
        "code": 3,
        "message": "Vector dimension 3 does not match the dimension of the index 4",
        "details": [],
    }
    with pytest.raises(PineconeApiException) as query:
        index.query(vector=[1.0, 2.0], top_k=1)
    assert _error(query.value)["message"] == "Query vector dimension 2 does not match the dimension of the index 4"
    with pytest.raises(PineconeApiException) as update:
        index.update(id="x", values=[1.0])
    assert update.value.status == 400


def test_upsert_limits(index: Any, data_url: str) -> None:
    too_many = [(f"id{i}", [1.0, 0.0, 0.0, 0.0]) for i in range(1001)]
    with pytest.raises(PineconeApiException) as count:
        index.upsert(vectors=too_many, batch_size=1001, show_progress=False)
    assert count.value.status == 400
    assert "1001" in _error(count.value)["message"]

    big_text = "x" * 30_000
    too_big = [{"id": f"b{i}", "values": [1.0, 0.0, 0.0, 0.0], "metadata": {"t": big_text}} for i in range(80)]
    with pytest.raises(PineconeApiException) as size:
        index.upsert(vectors=too_big)
    assert size.value.status == 400
    assert "exceeds the maximum supported size of 2MB" in _error(size.value)["message"]

    with pytest.raises(PineconeApiException) as meta:
        index.upsert(vectors=[{"id": "m", "values": [1.0, 0.0, 0.0, 0.0], "metadata": {"t": "y" * 41_000}}])
    assert "exceeds the limit of 40960 bytes per vector" in _error(meta.value)["message"]

    long_id = httpx.post(f"{data_url}/vectors/upsert", json={"vectors": [{"id": "i" * 513, "values": [1.0, 0, 0, 0]}]})
    assert long_id.status_code == 400  # the SDK refuses to send it, so the server is checked directly
    assert "512" in long_id.json()["message"]

    with pytest.raises(PineconeApiException) as zero:
        index.upsert(vectors=[("z", [0.0, 0.0, 0.0, 0.0])])
    assert "non-zero" in _error(zero.value)["message"]

    for metadata in ({"n": None}, {"n": {"nested": 1}}, {"n": [1, 2]}, {"n": ["a", None]}):
        raw = httpx.post(
            f"{data_url}/vectors/upsert",
            json={"vectors": [{"id": "q", "values": [1.0, 0, 0, 0], "metadata": metadata}]},
        )
        assert raw.status_code == 400, metadata
        assert raw.json()["code"] == 3
    for record in (
        {"id": "", "values": [1.0, 0, 0, 0]},
        {"id": 5, "values": [1.0, 0, 0, 0]},
        {"id": "s", "values": ["1", 0, 0, 0]},
        {"id": "s", "values": [True, 0, 0, 0]},
        {"id": "s", "values": [1e39, 0, 0, 0]},
        {"id": "s"},
    ):
        raw = httpx.post(f"{data_url}/vectors/upsert", json={"vectors": [record]})
        assert raw.status_code == 400, record
    assert index.describe_index_stats().total_vector_count == 0  # nothing from a rejected request was kept

    exactly = [(f"ok{i}", [1.0, float(i), 0.0, 0.0], {"t": "y" * 40_000}) for i in range(1)]
    assert index.upsert(vectors=exactly).upserted_count == 1


def test_top_k_fetch_and_delete_limits(index: Any, data_url: str) -> None:
    for top_k in (0, 10_001, -1, "3", True):
        raw = httpx.post(f"{data_url}/query", json={"topK": top_k, "vector": [1.0, 0.0, 0.0, 0.0]})
        assert raw.status_code == 400, top_k
    assert httpx.post(f"{data_url}/query", json={"topK": 10_000, "vector": [1.0, 0, 0, 0]}).status_code == 200
    both = httpx.post(f"{data_url}/query", json={"topK": 1, "vector": [1.0, 0, 0, 0], "id": "a"})
    assert both.status_code == 400

    ids = [f"i{i}" for i in range(1001)]
    with pytest.raises(PineconeApiException) as fetch:
        index.fetch(ids=ids)
    assert fetch.value.status == 400
    with pytest.raises(PineconeApiException) as delete:
        index.delete(ids=ids)
    assert delete.value.status == 400
    bodies: list[dict[str, Any]] = [{}, {"filter": {}}, {"ids": ["a"], "deleteAll": True}, {"ids": "a"}]
    for body in bodies:
        assert httpx.post(f"{data_url}/vectors/delete", json=body).status_code == 400, body


def test_query_result_is_capped_at_4mb(index: Any) -> None:
    big = "m" * 30_000
    index.upsert(
        vectors=[(f"r{i}", [1.0, float(i), 0.0, 0.0], {"t": big}) for i in range(200)],
        batch_size=50,
        show_progress=False,
    )
    with pytest.raises(PineconeApiException) as err:
        index.query(vector=[1.0, 0.0, 0.0, 0.0], top_k=200, include_metadata=True)
    assert err.value.status == 400
    assert "4MB" in _error(err.value)["message"]
    assert len(index.query(vector=[1.0, 0.0, 0.0, 0.0], top_k=200).matches) == 200
    assert len(index.query(vector=[1.0, 0.0, 0.0, 0.0], top_k=100, include_metadata=True).matches) == 100


def test_api_key_is_enforced(index_name: str) -> None:
    with serve_pinecone(api_key="s3cret") as url:
        with pytest.raises(UnauthorizedException):
            Pinecone(api_key="wrong", host=url).list_indexes()
        good = Pinecone(api_key="s3cret", host=url)
        good.create_index(name=index_name, dimension=2, metric="cosine", spec=SPEC)
        host = good.describe_index(index_name).host
        # The data plane answers a wrong key 403 "Wrong API key" (pinecone-python-client
        # tests/integration/data_asyncio/test_unauthorized_access.py), the control plane 401.
        with pytest.raises(ForbiddenException, match="Wrong API key"):
            Pinecone(api_key="wrong", host=url).Index(host=host).query(vector=[1.0, 0.0], top_k=1)
        good.Index(host=host).upsert(vectors=[("a", [1.0, 0.0])])
        assert good.Index(host=host).describe_index_stats().total_vector_count == 1
        assert "s3cret" not in httpx.get(f"{url}/indexes", headers={"Api-Key": "nope"}).text


# ---------------------------------------------------------------------------------------- async + load
async def test_every_route_async(pinecone_url: str, index_name: str) -> None:
    async with PineconeAsyncio(api_key="local", host=pinecone_url) as pc:
        await pc.create_index(name=index_name, dimension=4, metric="euclidean", spec=SPEC)
        model = await pc.describe_index(index_name)
        assert model.status.ready and model.metric == "euclidean"
        assert index_name in (await pc.list_indexes()).names()
        async with pc.IndexAsyncio(host=model.host) as idx:
            await idx.upsert(
                vectors=[("a", [1.0, 0.0, 0.0, 0.0], {"k": "v"}), ("b", [0.0, 3.0, 0.0, 0.0], {"k": "w"})],
                namespace="n",
            )
            result = await idx.query(vector=[1.0, 1.0, 0.0, 0.0], top_k=2, namespace="n", include_metadata=True)
            assert [(m.id, m.score) for m in result.matches] == [
                ("a", pytest.approx(1.0)),
                ("b", pytest.approx(5.0)),
            ]
            assert (await idx.query(id="b", top_k=1, namespace="n")).matches[0].score == pytest.approx(0.0)
            assert set((await idx.fetch(ids=["a", "b"], namespace="n")).vectors) == {"a", "b"}
            await idx.update(id="a", set_metadata={"k": "z"}, namespace="n")
            filtered = await idx.query(vector=[1.0, 0, 0, 0], top_k=5, namespace="n", filter={"k": "z"})
            assert [m.id for m in filtered.matches] == ["a"]
            assert (await idx.describe_index_stats()).namespaces["n"].vector_count == 2
            page = await idx.list_paginated(namespace="n", limit=1)
            assert [v.id for v in page.vectors] == ["a"] and page.pagination is not None
            await idx.delete(ids=["a"], namespace="n")
            with pytest.raises(PineconeApiException) as err:
                await idx.upsert(vectors=[("c", [1.0])], namespace="n")
            assert err.value.status == 400
            assert (await idx.describe_index_stats()).total_vector_count == 1

            # Many requests in flight at once over aiohttp: the server serves them concurrently.
            async def write_then_read(i: int) -> int:
                await idx.upsert(vectors=[(f"c{i}", [1.0, float(i), 0.0, 0.0])], namespace="conc")
                return len((await idx.fetch(ids=[f"c{i}"], namespace="conc")).vectors)

            assert await asyncio.gather(*(write_then_read(i) for i in range(40))) == [1] * 40
            assert (await idx.describe_index_stats()).namespaces["conc"].vector_count == 40
        await pc.delete_index(index_name)
        assert not await pc.has_index(index_name)


def test_concurrent_upserts_and_queries(pc: Pinecone, index_name: str) -> None:
    pc.create_index(name=index_name, dimension=8, metric="cosine", spec=SPEC)
    idx = pc.Index(host=pc.describe_index(index_name).host, pool_threads=8)
    rng = np.random.default_rng(0)
    data = rng.normal(size=(2000, 8))
    records = [(f"v{i}", [float(x) for x in row], {"batch": i // 100}) for i, row in enumerate(data)]
    asyncs = [idx.upsert(vectors=records[i : i + 100], async_req=True) for i in range(0, len(records), 100)]
    assert sum(r.get().upserted_count for r in asyncs) == 2000

    start = threading.Barrier(4)

    def worker(seed: int) -> int:
        start.wait()
        local = np.random.default_rng(seed)
        found = 0
        for n in range(20):
            extra = [(f"w{seed}-{n}", [float(x) for x in local.normal(size=8)])]
            idx.upsert(vectors=extra, namespace="load")
            found += len(idx.query(vector=[float(x) for x in local.normal(size=8)], top_k=5).matches)
        return found

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        assert list(pool.map(worker, range(4))) == [100] * 4
    stats = idx.describe_index_stats()
    assert {k: v.vector_count for k, v in stats.namespaces.items()} == {"": 2000, "load": 80}
    pc.delete_index(index_name)


def test_faults_wrap_the_server(index_name: str) -> None:
    """``faults=`` puts the FaultInjector testing tool (in-process fault source) in front of the real app."""
    from hf_pinecone.local.faults import Fault, FaultPlan

    # Without Retry-After the sync SDK surfaces the 429; with it, urllib3 retries (RETRY_AFTER_STATUS_CODES).
    plan = FaultPlan([Fault.RATE_LIMIT], paths=["/indexes/"], methods={"POST"}, retry_after=None)
    with serve_pinecone(faults=plan) as url:
        pc = Pinecone(api_key="local", host=url)
        pc.create_index(name=index_name, dimension=2, metric="cosine", spec=SPEC)  # POST /indexes: not matched
        idx = pc.Index(host=pc.describe_index(index_name).host)
        with pytest.raises(PineconeApiException) as throttled:
            idx.upsert(vectors=[("a", [1.0, 0.0])])
        assert throttled.value.status == 429
        assert idx.fetch(ids=["a"]).vectors == {}  # the app never saw the throttled request
        assert idx.upsert(vectors=[("a", [1.0, 0.0])]).upserted_count == 1
        assert plan.stats.injected["429"] == 1
