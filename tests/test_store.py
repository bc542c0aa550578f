"""PineconeStore against the local Pinecone server over loopback, via the real pinecone SDK, sync and async.

Requests are observed on the wire by ``_Recorder``, a pass-through ASGI wrapper around the real server app
that only records what it forwards (method, path, body size, vector and id counts). Faults (429, 503,
connection resets) come from the project's fault-injection middleware ``hf_pinecone.local.faults``, which is
in-process by nature.
"""

from __future__ import annotations

import asyncio
import copy
import json
import math
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import numpy as np
import orjson
import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_pinecone import PineconeVectorStore

from conftest import vector_count
from hf_pinecone import RetryPolicy
from hf_pinecone._pinecone import protocol
from hf_pinecone.errors import (
    IndexMismatchError,
    IndexNotFoundError,
    MetadataTooLargeError,
    PineconeAuthError,
    PineconeRequestError,
    PineconeResponseError,
    PineconeUnavailableError,
)
from hf_pinecone.ids import content_id
from hf_pinecone.local import run_in_background
from hf_pinecone.local.faults import Fault, FaultPlan
from hf_pinecone.local.pinecone_server import create_pinecone_app, serve_pinecone
from hf_pinecone.store import (
    MAX_METADATA_BYTES,
    MAX_REQUEST_BYTES,
    InvalidRecordError,
    PineconeStore,
    UpsertRecord,
    ensure_index,
    metadata_size,
    plan_fetch_chunks,
    plan_upsert_batches,
    prepare_metadata,
    prepare_records,
)

API_KEY = "local"
FAST_RETRY = RetryPolicy(max_retries=4, backoff_base=0.0)


# ----------------------------------------------------------------------------------- wire recorder


@dataclass
class _Seen:
    method: str
    path: str
    body_bytes: int
    vectors: int
    ids: int


class _Recorder:
    """Pass-through ASGI wrapper that records every request it forwards to the real server app."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: list[_Seen] = []
        self._lock = threading.Lock()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        vectors = 0
        if scope["path"].endswith("/vectors/upsert") and body:
            vectors = len(json.loads(body).get("vectors", []))
        ids = len(parse_qs(scope.get("query_string", b"").decode()).get("ids", []))
        with self._lock:
            self.seen.append(_Seen(scope["method"], scope["path"], len(body), vectors, ids))
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def requests(self, index: str, suffix: str) -> list[_Seen]:
        with self._lock:
            return [s for s in self.seen if s.path == f"/indexes/{index}{suffix}"]


@pytest.fixture(scope="module")
def recorded() -> Iterator[tuple[str, _Recorder]]:
    recorder = _Recorder(create_pinecone_app())
    with run_in_background(recorder) as url:
        yield url, recorder


def _store(
    url: str, name: str, embeddings: Any, dimension: int | None = None, **kwargs: Any
) -> PineconeStore:
    host = ensure_index(name, dimension=dimension, embeddings=embeddings, api_key=API_KEY, host=url)
    return PineconeStore(embedding=embeddings, host=host, pinecone_api_key=API_KEY, **kwargs)


def _count(store: PineconeStore, namespace: str = "") -> int:
    return vector_count(store, namespace)


def _name() -> str:
    return f"s-{uuid.uuid4().hex[:12]}"


EMB = DeterministicFakeEmbedding(size=8)


@pytest.fixture
def store(recorded: tuple[str, _Recorder]) -> PineconeStore:
    return _store(recorded[0], _name(), EMB, retry=FAST_RETRY)


def _name_of(store: PineconeStore) -> str:
    return store.host.rsplit("/", 1)[-1]


# -------------------------------------------------------------------------------- no mutation, ids


def test_caller_inputs_are_not_mutated(store: PineconeStore) -> None:
    texts = ["alpha", "beta"]
    metadatas: list[dict[str, Any]] = [{"source": "a", "tags": ["x"]}, {"n": 2}]
    documents = [Document(page_content="gamma", metadata={"k": "v"}), Document(page_content="delta")]
    before = (copy.deepcopy(texts), copy.deepcopy(metadatas), copy.deepcopy(documents))
    store.add_texts(texts, metadatas=metadatas)
    store.add_documents(documents)
    assert (texts, metadatas, documents) == before
    assert "text" not in metadatas[0]
    assert _count(store) == 4


async def test_caller_inputs_are_not_mutated_async(store: PineconeStore) -> None:
    metadatas: list[dict[str, Any]] = [{"source": "a"}]
    documents = [Document(page_content="delta", metadata={"k": "v"})]
    await store.aadd_texts(["alpha"], metadatas=metadatas)
    await store.aadd_documents(documents)
    assert metadatas == [{"source": "a"}]
    assert documents == [Document(page_content="delta", metadata={"k": "v"})]


class _PyFloatEmbedding(DeterministicFakeEmbedding):
    """The fake embeddings with plain Python floats: upstream's SDK call rejects numpy.float64 values."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[float(x) for x in v] for v in super().embed_documents(texts)]

    def embed_query(self, text: str) -> list[float]:
        return [float(x) for x in super().embed_query(text)]


def test_upstream_store_mutates_where_ours_does_not(recorded: tuple[str, _Recorder]) -> None:
    """The unmodified PineconeVectorStore works against the server, and shows the bug PineconeStore fixes."""
    name = _name()
    embeddings = _PyFloatEmbedding(size=8)
    host = ensure_index(name, embeddings=embeddings, api_key=API_KEY, host=recorded[0])
    upstream = PineconeVectorStore(embedding=embeddings, host=host, pinecone_api_key=API_KEY)
    metadatas: list[dict[str, Any]] = [{"source": "a"}]
    upstream.add_texts(["alpha"], metadatas=metadatas)
    assert metadatas == [{"source": "a", "text": "alpha"}]  # upstream writes into the caller's dict
    assert upstream.similarity_search("alpha", k=1)[0].page_content == "alpha"


def test_readding_same_text_overwrites(store: PineconeStore) -> None:
    first = store.add_texts(["one", "two", "three"])
    second = store.add_texts(["one", "two", "three"], metadatas=[{"v": 2}] * 3)
    assert first == second == [content_id(t, None) for t in ["one", "two", "three"]]
    assert _count(store) == 3
    assert [d.metadata for d in store.get_by_ids(first)] == [{"v": 2.0}] * 3


async def test_readding_same_text_overwrites_async(store: PineconeStore) -> None:
    first = await store.aadd_texts(["one", "two"])
    assert await store.aadd_texts(["one", "two"]) == first
    assert _count(store) == 2


def test_ids_depend_on_namespace_and_explicit_ids_win(store: PineconeStore) -> None:
    default_ids = store.add_texts(["same"])
    other_ids = store.add_texts(["same"], namespace="other")
    assert default_ids != other_ids
    assert other_ids == [content_id("same", "other")]
    mixed = store.add_documents([Document(page_content="p", id="mine"), Document(page_content="q")])
    assert mixed == ["mine", content_id("q", None)]
    assert _count(store) == 3 and _count(store, "other") == 1


def test_duplicate_text_in_one_call_keeps_the_last(store: PineconeStore) -> None:
    ids = store.add_texts(["dup", "dup"], metadatas=[{"v": 1}, {"v": 2}])
    assert ids[0] == ids[1]
    assert _count(store) == 1
    assert store.get_by_ids(ids)[0].metadata == {"v": 2.0}


# ------------------------------------------------------------------------ search returns ids


def test_every_search_returns_document_ids(store: PineconeStore) -> None:
    ids = store.add_texts(["red apple", "green pear", "blue plum"])
    expected = set(ids)
    query_vector = EMB.embed_query("red apple")
    results = [
        store.similarity_search("red apple", k=3),
        [d for d, _ in store.similarity_search_with_score("red apple", k=3)],
        store.similarity_search_by_vector(query_vector, k=3),
        store.similarity_search_by_vector(np.asarray(query_vector, dtype=np.float32), k=3),  # type: ignore[arg-type]
        store.max_marginal_relevance_search("red apple", k=2, fetch_k=3),
        store.max_marginal_relevance_search_by_vector(query_vector, k=2, fetch_k=3),
        store.as_retriever(search_type="mmr", search_kwargs={"k": 2, "fetch_k": 3}).invoke("red apple"),
    ]
    for docs in results:
        assert docs and {d.id for d in docs} <= expected
        assert all(d.id == content_id(d.page_content, None) for d in docs)
    assert results[0][0].page_content == "red apple"


async def test_every_async_search_returns_document_ids(store: PineconeStore) -> None:
    ids = await store.aadd_texts(["red apple", "green pear", "blue plum"])
    results = [
        await store.asimilarity_search("green pear", k=3),
        [d for d, _ in await store.asimilarity_search_with_score("green pear", k=3)],
        await store.amax_marginal_relevance_search("green pear", k=2, fetch_k=3),
        await store.amax_marginal_relevance_search_by_vector(EMB.embed_query("green pear"), k=2, fetch_k=3),
    ]
    for docs in results:
        assert docs and {d.id for d in docs} <= set(ids)
    assert results[0][0].id == content_id("green pear", None)


# ------------------------------------------------------------------ get_by_ids, existing_ids


def _records(
    n: int, dim: int, *, text_bytes: int = 0, seed: int = 0
) -> list[tuple[str, list[float], dict[str, Any]]]:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, dim)).tolist()
    return [(f"r{i}", vectors[i], {"text": f"doc {i} " + "x" * text_bytes, "i": i}) for i in range(n)]


def test_get_by_ids_order_missing_and_chunks(recorded: tuple[str, _Recorder]) -> None:
    url, recorder = recorded
    store = _store(url, _name(), DeterministicFakeEmbedding(size=4))
    records = _records(2500, 4)
    assert store.upsert_vectors(records) == 2500
    wanted = [r[0] for r in reversed(records)] + ["missing-1", "missing-2"]
    docs = store.get_by_ids(wanted)
    assert [d.id for d in docs] == wanted[:2500]
    assert docs[0].page_content == "doc 2499 " and docs[0].metadata == {"i": 2499.0}
    fetches = recorder.requests(_name_of(store), "/vectors/fetch")
    assert sorted(f.ids for f in fetches) == [502, 1000, 1000]  # chunks are fetched concurrently
    assert store.existing_ids(["r0", "r2499", "nope"]) == {"r0", "r2499"}
    assert store.get_by_ids(["nope"]) == []


async def test_aget_by_ids_and_aexisting_ids(recorded: tuple[str, _Recorder]) -> None:
    store = _store(recorded[0], _name(), DeterministicFakeEmbedding(size=4))
    records = _records(1200, 4)
    assert await store.aupsert_vectors(records) == 1200
    wanted = ["r1199", "ghost", "r0", "r600"]
    assert [d.id for d in await store.aget_by_ids(wanted)] == ["r1199", "r0", "r600"]
    assert await store.aexisting_ids([r[0] for r in records] + ["ghost"]) == {r[0] for r in records}
    assert await store.aexisting_ids([]) == set()


def test_upsert_vectors_namespace_and_numpy_values(store: PineconeStore) -> None:
    rng = np.random.default_rng(1)
    records = [(f"n{i}", rng.normal(size=8).astype(np.float32), {"text": f"t{i}"}) for i in range(5)]
    assert store.upsert_vectors(records, namespace="ns") == 5  # type: ignore[arg-type]
    assert _count(store, "ns") == 5 and _count(store) == 0
    assert store.existing_ids(["n0", "n4"], namespace="ns") == {"n0", "n4"}
    assert store.existing_ids(["n0"]) == set()
    assert store.upsert_vectors([]) == 0


# ---------------------------------------------------------------------- batching on the wire


def test_upserts_bounded_by_record_count(recorded: tuple[str, _Recorder]) -> None:
    url, recorder = recorded
    store = _store(url, _name(), DeterministicFakeEmbedding(size=4))
    assert store.upsert_vectors(_records(2500, 4)) == 2500
    upserts = recorder.requests(_name_of(store), "/vectors/upsert")
    assert sorted(u.vectors for u in upserts) == [500, 1000, 1000]
    assert _count(store) == 2500


def test_upserts_bounded_by_request_bytes(recorded: tuple[str, _Recorder]) -> None:
    url, recorder = recorded
    store = _store(url, _name(), DeterministicFakeEmbedding(size=384))
    records = _records(600, 384, text_bytes=20_000)  # ~30 KB per record: the 2 MB bound bites first
    assert store.upsert_vectors(records) == 600
    upserts = recorder.requests(_name_of(store), "/vectors/upsert")
    assert len(upserts) > 1
    assert sum(u.vectors for u in upserts) == 600
    assert all(u.body_bytes < MAX_REQUEST_BYTES for u in upserts)
    # Batches are not wastefully small: all but the remainder hold more than half of what the limit allows
    # (requests run concurrently, so the remainder is the smallest, not necessarily the last).
    sizes = sorted(u.body_bytes for u in upserts)
    assert all(size > MAX_REQUEST_BYTES // 2 for size in sizes[1:])


def test_add_texts_batch_size_is_capped_and_honoured(recorded: tuple[str, _Recorder]) -> None:
    url, recorder = recorded
    store = _store(url, _name(), DeterministicFakeEmbedding(size=4))
    store.add_texts([f"t{i}" for i in range(70)], batch_size=32)
    store.add_texts([f"u{i}" for i in range(1500)], batch_size=5000)
    sizes = [u.vectors for u in recorder.requests(_name_of(store), "/vectors/upsert")]
    assert sorted(sizes[:3]) == [6, 32, 32]
    assert max(sizes[3:]) == 1000 and sum(sizes[3:]) == 1500


def test_plan_upsert_batches_limits() -> None:
    small = [UpsertRecord(f"i{i}", [1.0], {}, 30) for i in range(2001)]
    assert [len(b) for b in plan_upsert_batches(small)] == [1000, 1000, 1]
    big = [UpsertRecord(f"b{i}", [1.0], {}, 700_000) for i in range(5)]
    batches = plan_upsert_batches(big)
    assert [len(b) for b in batches] == [2, 2, 1]
    with pytest.raises(InvalidRecordError, match="huge"):
        plan_upsert_batches([UpsertRecord("huge", [1.0], {}, MAX_REQUEST_BYTES)])


def test_record_sizes_are_exact_and_the_body_is_what_was_measured() -> None:
    rng = np.random.default_rng(3)
    matrix = np.concatenate([rng.normal(size=(50, 16)), rng.normal(size=(50, 16)) * 1e-300])
    vectors = matrix.tolist()
    vectors[0][0] = -2.2250738585072014e-308
    metadata = [prepare_metadata(f"id{i}", {"é": "ü" * i}, text="t") for i in range(100)]
    scaled = matrix.copy()
    scaled[50:] *= 1e290  # float32 would round 1e-300 to zero, which Pinecone refuses
    for given in (vectors, matrix, scaled.astype(np.float32)):
        records = prepare_records([f"id{i}" for i in range(100)], given, metadata)
        body = protocol.upsert(records, "ns").body
        assert body is not None
        parsed = json.loads(body)
        assert [v["id"] for v in parsed["vectors"]] == [f"id{i}" for i in range(100)]
        assert parsed["vectors"][3]["metadata"] == metadata[3] and parsed["namespace"] == "ns"
        assert np.allclose(parsed["vectors"][7]["values"], np.asarray(given[7], dtype=np.float64), rtol=1e-6)
        # sizes are exact: the envelope plus each fragment and its comma (one comma less than records)
        assert len(body) == len(b'{"vectors":[],"namespace":"ns"}') + sum(r.size for r in records) - 1


def test_plan_fetch_chunks() -> None:
    ids = [f"id{i}" for i in range(2500)] + ["id0"]
    assert [len(c) for c in plan_fetch_chunks(ids)] == [1000, 1000, 500]
    long_ids = ["x" * 500 + str(i) for i in range(300)]
    chunks = plan_fetch_chunks(long_ids, max_query_bytes=48_000)
    assert all(sum(len(i) + 5 for i in c) <= 48_000 for c in chunks) and sum(map(len, chunks)) == 300


# --------------------------------------------------------------------------------- metadata limits


def _big(n: int) -> str:
    return "y" * n


def test_metadata_over_40kb_names_record_and_writes_nothing(store: PineconeStore) -> None:
    texts = ["fine 1", "fine 2", "too big"]
    metadatas = [{}, {}, {"blob": _big(MAX_METADATA_BYTES)}]
    with pytest.raises(MetadataTooLargeError) as info:
        store.add_texts(texts, metadatas=metadatas, ids=["a", "b", "c"])
    assert info.value.record_id == "c" and "'c'" in str(info.value)
    assert info.value.size > MAX_METADATA_BYTES
    with pytest.raises(MetadataTooLargeError, match="'v2'"):
        store.upsert_vectors([("v1", [1.0] * 8, {}), ("v2", [1.0] * 8, {"blob": _big(50_000)})])
    assert _count(store) == 0


async def test_metadata_over_40kb_async_writes_nothing(store: PineconeStore) -> None:
    with pytest.raises(MetadataTooLargeError):
        await store.aadd_texts(["ok", _big(41_000)])
    with pytest.raises(MetadataTooLargeError):
        await store.aupsert_vectors([("v1", [1.0] * 8, {}), ("v2", [1.0] * 8, {"text": _big(41_000)})])
    assert _count(store) == 0


def test_metadata_exactly_at_the_limit_is_accepted_by_the_server(store: PineconeStore) -> None:
    metadata = {"text": "", "pad": ""}
    metadata["pad"] = "é" * ((MAX_METADATA_BYTES - metadata_size(metadata)) // 2)
    metadata["pad"] += "z" * (MAX_METADATA_BYTES - metadata_size(metadata))
    assert metadata_size(metadata) == MAX_METADATA_BYTES == len(orjson.dumps(metadata))
    assert store.upsert_vectors([("edge", [1.0] * 8, metadata)]) == 1
    with pytest.raises(MetadataTooLargeError):
        store.upsert_vectors([("over", [1.0] * 8, {**metadata, "pad": metadata["pad"] + "z"})])


def test_truncate_text_opt_in(recorded: tuple[str, _Recorder]) -> None:
    store = _store(recorded[0], _name(), EMB, truncate_text=True)
    long_text = "ü" * 30_000  # 60 KB of UTF-8
    [record_id] = store.add_texts([long_text], metadatas=[{"source": "s"}])
    [doc] = store.get_by_ids([record_id])
    assert long_text.startswith(doc.page_content) and 10_000 < len(doc.page_content) < len(long_text)
    assert metadata_size({"text": doc.page_content, "source": "s"}) <= MAX_METADATA_BYTES
    assert record_id == content_id(long_text, None)  # the id is from the original text
    with pytest.raises(MetadataTooLargeError, match="even without"):
        store.add_texts(["short"], metadatas=[{"blob": _big(MAX_METADATA_BYTES)}])
    # Per call, the flag can be turned off again.
    with pytest.raises(MetadataTooLargeError):
        store.add_texts([long_text + "!"], truncate_text=False)


@pytest.mark.parametrize(
    ("metadata", "match"),
    [
        ({"k": None}, "null"),
        ({"k": {"nested": 1}}, "nested"),
        ({"k": [1, 2]}, "non-string"),
        ({"k": math.nan}, "finite"),
        ({"k": object()}, "type object"),
    ],
)
def test_invalid_metadata_is_a_typed_error_before_writing(
    store: PineconeStore, metadata: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidRecordError, match=match) as info:
        store.add_texts(["ok", "bad"], metadatas=[{}, metadata], ids=["ok", "bad"])
    assert info.value.record_id == "bad" and info.value.field == "k"
    assert _count(store) == 0


@pytest.mark.parametrize(
    ("records", "match"),
    [
        ([("a", [0.0] * 8, {})], "all zeros"),
        ([("a", [math.inf] + [1.0] * 7, {})], "NaN or infinity"),
        ([("a", [1.0] * 8, {}), ("b", [1.0] * 7, {})], "different dimensions"),
        ([("", [1.0] * 8, {})], "1-512"),
        ([("x" * 513, [1.0] * 8, {})], "1-512"),
    ],
)
def test_invalid_vectors_and_ids_rejected_before_writing(
    store: PineconeStore, records: list[tuple[str, list[float], dict[str, Any]]], match: str
) -> None:
    with pytest.raises(InvalidRecordError, match=match):
        store.upsert_vectors(records)
    assert _count(store) == 0


# --------------------------------------------------------------------------------- dimension check


def test_dimension_mismatch_raises_before_writing(recorded: tuple[str, _Recorder]) -> None:
    url, recorder = recorded
    name = _name()
    store = _store(url, name, DeterministicFakeEmbedding(size=6), dimension=4)
    with pytest.raises(IndexMismatchError) as info:
        store.add_texts(["a", "b"])
    assert "dimension 4" in str(info.value) and "dimension 6" in str(info.value)
    with pytest.raises(IndexMismatchError, match=r"dimension 4.*dimension 6"):
        store.upsert_vectors([("a", [1.0] * 6, {})])
    assert recorder.requests(name, "/vectors/upsert") == []
    # The index dimension was read once and cached.
    assert len(recorder.requests(name, "/describe_index_stats")) == 1


async def test_dimension_mismatch_raises_before_writing_async(recorded: tuple[str, _Recorder]) -> None:
    url, recorder = recorded
    name = _name()
    store = _store(url, name, DeterministicFakeEmbedding(size=6), dimension=4)
    with pytest.raises(IndexMismatchError, match=r"dimension 4.*dimension 6"):
        await store.aadd_texts(["a"])
    with pytest.raises(IndexMismatchError):
        await store.aupsert_vectors([("a", [1.0] * 6, {})])
    assert recorder.requests(name, "/vectors/upsert") == []


# ----------------------------------------------------------------------------------------- retries


@pytest.fixture
def faulty() -> Iterator[tuple[str, FaultPlan]]:
    # No Retry-After header: with one, urllib3 inside the sync SDK would retry some 429s itself and hide
    # whether the store's own retry works.
    plan = FaultPlan(retry_after=None, enabled=False)
    with serve_pinecone(faults=plan) as url:
        yield url, plan


def _faulty_store(faulty: tuple[str, FaultPlan], **kwargs: Any) -> PineconeStore:
    url, plan = faulty
    store = _store(url, _name(), EMB, retry=FAST_RETRY, **kwargs)
    store.describe_index_stats()  # read before faults start, so the scripted faults hit the calls under test
    plan.enabled = True
    return store


def test_429_and_reset_retried_on_sync_calls(faulty: tuple[str, FaultPlan]) -> None:
    store = _faulty_store(faulty)
    plan = faulty[1]
    plan.schedule(Fault.RATE_LIMIT, Fault.RATE_LIMIT, Fault.RESET)
    ids = store.add_texts(["a", "b"])
    assert plan.stats.injected == {"429": 2, "reset": 1}
    plan.schedule(Fault.RATE_LIMIT)
    assert [d.id for d in store.similarity_search("a", k=2)] == [ids[0], ids[1]]
    plan.schedule(Fault.RATE_LIMIT)
    assert [d.id for d in store.get_by_ids(ids)] == ids
    plan.schedule(Fault.RATE_LIMIT)
    store.delete(ids=[ids[0]])
    plan.schedule(Fault.RATE_LIMIT)
    assert store.existing_ids(ids) == {ids[1]}
    assert plan.stats.injected["429"] == 6


async def test_429_503_and_reset_retried_on_async_calls(faulty: tuple[str, FaultPlan]) -> None:
    store = _faulty_store(faulty)
    plan = faulty[1]
    # max_retries (4) faults in a row: the fifth and last attempt succeeds.
    plan.schedule(Fault.RATE_LIMIT, Fault.RESET, *[Fault.UNAVAILABLE] * 2)
    ids = await store.aadd_texts(["a", "b"])
    assert plan.stats.injected == {"429": 1, "reset": 1, "503": 2}
    plan.schedule(Fault.RATE_LIMIT)
    assert [d.id for d in await store.asimilarity_search("b", k=1)] == [ids[1]]
    plan.schedule(Fault.RATE_LIMIT)
    assert [d.id for d in await store.aget_by_ids(ids)] == ids
    plan.schedule(Fault.RATE_LIMIT)
    await store.adelete(ids=ids)
    assert await store.aexisting_ids(ids) == set()


def test_retries_exhausted_raise_a_library_error(faulty: tuple[str, FaultPlan]) -> None:
    store = _faulty_store(faulty, upsert_concurrency=1)
    plan = faulty[1]
    plan.schedule(*[Fault.RATE_LIMIT] * (FAST_RETRY.max_retries + 1))
    with pytest.raises(PineconeUnavailableError) as info:
        store.upsert_vectors([("a", [1.0] * 8, {})])
    assert info.value.status_code == 429
    assert info.value.operation == "upsert"
    assert info.value.attempts == FAST_RETRY.max_retries + 1
    assert plan.stats.injected == {"429": FAST_RETRY.max_retries + 1}


_OPERATIONS = {
    "upsert": (lambda s: s.upsert_vectors([("a", [1.0] * 8, {})]), lambda s: s.aupsert_vectors([("a", [1.0] * 8, {})])),
    "fetch": (lambda s: s.get_by_ids(["a"]), lambda s: s.aget_by_ids(["a"])),
    "query": (
        lambda s: s.similarity_search_by_vector_with_score([1.0] * 8, k=1),
        lambda s: s.asimilarity_search_by_vector_with_score([1.0] * 8, k=1),
    ),
    "delete": (lambda s: s.delete(ids=["a"]), lambda s: s.adelete(ids=["a"])),
    "describe_index_stats": (lambda s: s.describe_index_stats(), lambda s: s.adescribe_index_stats()),
}


@pytest.mark.parametrize("operation", sorted(_OPERATIONS))
@pytest.mark.parametrize("fault", [Fault.UNAVAILABLE, Fault.RATE_LIMIT, Fault.RESET])
async def test_persistent_fault_sends_exactly_max_retries_plus_one_requests(
    faulty: tuple[str, FaultPlan], operation: str, fault: Fault
) -> None:
    """One retry layer: a storm costs max_retries + 1 requests per call, sync and async alike, then a library error."""
    store = _faulty_store(faulty, upsert_concurrency=1)
    plan = faulty[1]
    sync_call, async_call = _OPERATIONS[operation]
    for call_async in (False, True):
        plan.set_rate(1.0, [fault])  # a storm: every request fails
        before = sum(plan.stats.injected.values())
        with pytest.raises(PineconeUnavailableError) as info:
            if call_async:
                await async_call(store)
            else:
                await asyncio.to_thread(sync_call, store)
        plan.set_rate(0.0)
        sent = sum(plan.stats.injected.values()) - before
        assert sent == FAST_RETRY.max_retries + 1, (operation, call_async)
        assert info.value.attempts == FAST_RETRY.max_retries + 1
        assert info.value.operation == operation


def _answer(status: int, body: bytes = b"", retry_after: str | None = None) -> object:
    request = protocol.upsert([], None)
    header = {"retry-after": retry_after}.get
    return protocol.interpret(
        request, status, lambda name: header(name.lower()), body, host="https://h", policy=RetryPolicy()
    )


def test_answer_classification_is_one_table() -> None:
    """Unit test of the sans-IO protocol: which answers are results, retried, or which library error."""
    assert _answer(200, b'{"upsertedCount": 3}') == {"upsertedCount": 3}
    assert _answer(200, b"") == {}
    for status, kind, retried in [
        (429, PineconeUnavailableError, True),
        (503, PineconeUnavailableError, True),
        (500, PineconeUnavailableError, True),
        (400, PineconeRequestError, False),
        (401, PineconeAuthError, False),
        (403, PineconeAuthError, False),
        (404, IndexNotFoundError, False),
    ]:
        failure = _answer(status, b'{"code": 3, "message": "nope"}')
        assert isinstance(failure, protocol.Failure)
        assert failure.error_type is kind and failure.retryable is retried, status
        assert failure.server_message == "nope"
    proxy_page = _answer(200, b"<html>bad gateway</html>")
    assert isinstance(proxy_page, protocol.Failure) and proxy_page.error_type is PineconeResponseError
    assert proxy_page.retryable
    limited = _answer(429, b"", retry_after="7")
    assert isinstance(limited, protocol.Failure) and limited.retry_after == 7.0


# -------------------------------------------------------------------------------------- no secrets


def test_repr_does_not_leak_the_api_key(recorded: tuple[str, _Recorder]) -> None:
    secret = "pcsk_super_secret_key_123456"
    name = _name()
    host = ensure_index(name, dimension=8, api_key=API_KEY, host=recorded[0])
    store = PineconeStore(embedding=EMB, host=host, pinecone_api_key=secret)
    assert secret not in repr(store) and secret not in str(vars(store).get("_pinecone_api_key"))


async def test_concurrent_async_calls_share_one_session(store: PineconeStore) -> None:
    """Upstream closes a shared aiohttp session when the first of two concurrent calls ends."""
    batches = [
        [(f"{j}-{i}", [1.0, float(i), 2.0, float(j), 1, 1, 1, 1], {"text": "t"}) for i in range(50)]
        for j in range(4)
    ]
    counts = await asyncio.gather(*(store.aupsert_vectors(b) for b in batches))  # type: ignore[arg-type]
    assert counts == [50] * 4
    found = await asyncio.gather(*(store.aexisting_ids([f"{j}-0" for j in range(4)]) for _ in range(4)))
    assert found == [{f"{j}-0" for j in range(4)}] * 4
    results = await asyncio.gather(*(store.asimilarity_search("t", k=3) for _ in range(4)))
    assert all(len(r) == 3 for r in results)
