"""The per-chunk existence check: skipped for a namespace that is empty when the run starts, kept otherwise.

The fetches are counted at the local Pinecone server by its request filter (a ``FaultPlan`` matching
``/vectors/fetch`` that injects nothing), so what is asserted is what went over the wire.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from conftest import HashEndpoint, vector_count
from hf_pinecone import InferenceEndpointEmbeddings, PineconeStore, ensure_index, ingest
from hf_pinecone.ingestion import namespace_is_empty
from hf_pinecone.local import serve_pinecone
from hf_pinecone.local.faults import FaultPlan

DIM = 16
TEXTS = [f"sentence number {i}" for i in range(300)]


@pytest.fixture(scope="module")
def counted() -> Iterator[tuple[str, FaultPlan]]:
    plan = FaultPlan(rate=0.0, path_regex=r"/vectors/fetch$", enabled=True)
    with serve_pinecone(faults=plan) as url:
        yield url, plan


def _store(url: str, endpoint: str, name: str) -> PineconeStore:
    emb = InferenceEndpointEmbeddings(endpoint_url=endpoint, hf_token=None)
    host = ensure_index(name, dimension=DIM, api_key="local", host=url)
    return PineconeStore(embedding=emb, pinecone_api_key="local", host=host)


def _fetches(plan: FaultPlan) -> int:
    return plan.stats.matched


def test_first_load_sends_no_fetch_and_a_rerun_checks_every_chunk(
    counted: tuple[str, FaultPlan], hash_endpoint: HashEndpoint, index_name: str
) -> None:
    url, plan = counted
    store = _store(url, hash_endpoint(DIM), index_name)
    before = _fetches(plan)
    first = ingest(TEXTS, store=store, progress=False, chunk_size=100)
    assert (first.upserted, first.already_present, _fetches(plan) - before) == (300, 0, 0)
    assert vector_count(store) == 300

    before = _fetches(plan)
    again = ingest(TEXTS, store=store, progress=False, chunk_size=100)
    assert (again.embedded, again.already_present) == (0, 300)
    assert _fetches(plan) - before == 3  # one per chunk of 100


def test_a_resumed_run_skips_what_is_stored(
    counted: tuple[str, FaultPlan], hash_endpoint: HashEndpoint, index_name: str
) -> None:
    url, _ = counted
    store = _store(url, hash_endpoint(DIM), index_name)
    ingest(TEXTS[:120], store=store, progress=False, chunk_size=100)
    resumed = ingest(TEXTS, store=store, progress=False, chunk_size=100)
    assert (resumed.already_present, resumed.embedded, resumed.upserted) == (120, 180, 180)
    assert vector_count(store) == 300


def test_emptiness_is_per_namespace(
    counted: tuple[str, FaultPlan], hash_endpoint: HashEndpoint, index_name: str
) -> None:
    url, plan = counted
    store = _store(url, hash_endpoint(DIM), index_name)
    ingest(TEXTS[:10], store=store, progress=False)
    assert asyncio.run(namespace_is_empty(store, None)) is False
    assert asyncio.run(namespace_is_empty(store, "")) is False
    assert asyncio.run(namespace_is_empty(store, "other")) is True
    before = _fetches(plan)
    report = ingest(TEXTS[:10], store=store, namespace="other", progress=False)
    assert (report.upserted, _fetches(plan) - before) == (10, 0)
    assert vector_count(store, "other") == 10


def test_force_never_checks_and_a_store_without_stats_always_does(
    counted: tuple[str, FaultPlan], hash_endpoint: HashEndpoint, index_name: str
) -> None:
    url, plan = counted
    store = _store(url, hash_endpoint(DIM), index_name)
    ingest(TEXTS[:10], store=store, progress=False)
    before = _fetches(plan)
    report = ingest(TEXTS[:10], store=store, progress=False, force=True)
    assert (report.embedded, report.already_present, _fetches(plan) - before) == (10, 0, 0)
    assert asyncio.run(namespace_is_empty(object(), None)) is False
