"""One metadata rule for ingest and the store; sync and async twins that fail the same way.

Against the local Pinecone server and the hash endpoint over loopback. Upsert faults come from the project's
fault-injection middleware (``hf_pinecone.local.faults``), in-process by nature.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import HashEndpoint, vector_count
from hf_pinecone import RetryPolicy
from hf_pinecone._pinecone.limits import MAX_METADATA_BYTES
from hf_pinecone._pinecone.records import metadata_size
from hf_pinecone.embeddings import InferenceEndpointEmbeddings
from hf_pinecone.errors import MetadataTooLargeError, PineconeUnavailableError
from hf_pinecone.ingestion import ingest
from hf_pinecone.local.faults import Fault, FaultPlan
from hf_pinecone.local.pinecone_server import serve_pinecone
from hf_pinecone.store import PineconeStore, ensure_index

DIM = 8


def _metadata_of_size(size: int) -> dict[str, Any]:
    """Metadata of exactly ``size`` compact JSON bytes with several keys (spaced JSON would be larger)."""
    base = {"genre": "drama", "year": 1999, "tags": ["a", "b"], "text": ""}
    text = "x" * (size - metadata_size(base))
    metadata = {**base, "text": text}
    assert metadata_size(metadata) == size
    assert len(json.dumps(metadata).encode()) > size  # the old, spaced measure disagreed at the boundary
    return metadata


@pytest.fixture
def store(hash_endpoint: HashEndpoint, pinecone_url: str, index_name: str) -> Iterator[PineconeStore]:
    embeddings = InferenceEndpointEmbeddings(endpoint_url=hash_endpoint(DIM))
    host = ensure_index(index_name, dimension=DIM, api_key="local", host=pinecone_url)
    yield PineconeStore(embedding=embeddings, pinecone_api_key="local", host=host)
    embeddings.close()


@pytest.mark.parametrize("size", [MAX_METADATA_BYTES, MAX_METADATA_BYTES + 1])
def test_metadata_limit_is_the_same_for_upsert_vectors_and_ingest(store: PineconeStore, size: int) -> None:
    metadata = _metadata_of_size(size)
    fits = size <= MAX_METADATA_BYTES
    if fits:
        assert store.upsert_vectors([("direct", [1.0] * DIM, metadata)]) == 1
    else:
        with pytest.raises(MetadataTooLargeError) as info:
            store.upsert_vectors([("direct", [1.0] * DIM, metadata)])
        assert info.value.size == size
    report = ingest([dict(metadata)], store=store, progress=False)
    assert (report.upserted, report.failed) == ((1, 0) if fits else (0, 1))
    if not fits:
        assert f"{size} bytes" in report.rejected[0].reason
    assert vector_count(store) == (2 if fits else 0)


# ----------------------------------------------------------------------------------------- twins
@pytest.fixture
def flaky_upserts() -> Iterator[tuple[str, FaultPlan]]:
    plan = FaultPlan(path_regex=r"/vectors/upsert$", retry_after=None, enabled=False)
    with serve_pinecone(faults=plan) as url:
        yield url, plan


def _records(n: int, offset: int = 0) -> list[tuple[str, list[float], dict[str, Any]]]:
    return [
        (f"r{offset + i}", [1.0, float(i % 7) + 1, 2.0, 3.0, 1.0, 1.0, 1.0, float(offset)], {"text": "t"})
        for i in range(n)
    ]


@pytest.mark.parametrize("use_async", [False, True])
def test_upsert_failure_stops_new_batches_and_lets_in_flight_ones_finish(
    flaky_upserts: tuple[str, FaultPlan], index_name: str, use_async: bool
) -> None:
    """Sequential batches: after the failed second batch the third is never sent, sync and async alike."""
    url, plan = flaky_upserts
    host = ensure_index(index_name, dimension=DIM, api_key="local", host=url)
    store = PineconeStore(
        embedding=_NoEmbeddings(),
        pinecone_api_key="local",
        host=host,
        upsert_concurrency=1,
        retry=RetryPolicy(max_retries=0),
    )
    store.describe_index_stats()
    plan.schedule(None, Fault.UNAVAILABLE)
    plan.enabled = True
    records = _records(2500)  # three batches of <= 1000
    with pytest.raises(PineconeUnavailableError):
        if use_async:
            asyncio.run(store.aupsert_vectors(records))
        else:
            store.upsert_vectors(records)
    plan.enabled = False
    assert plan.stats.matched == 2  # batch 1 stored, batch 2 refused, batch 3 never started
    assert vector_count(store) == 1000


@pytest.mark.parametrize("use_async", [False, True])
def test_concurrent_batches_in_flight_finish_when_one_fails(
    flaky_upserts: tuple[str, FaultPlan], index_name: str, use_async: bool
) -> None:
    """Up to three batches in flight, one refused: no batch starts after the failure, the ones already sent
    complete (they are not cancelled), and the error is raised once they have: the same in both twins."""
    url, plan = flaky_upserts
    host = ensure_index(index_name, dimension=DIM, api_key="local", host=url)
    store = PineconeStore(
        embedding=_NoEmbeddings(),
        pinecone_api_key="local",
        host=host,
        upsert_concurrency=3,
        retry=RetryPolicy(max_retries=0),
    )
    store.describe_index_stats()
    plan.schedule(Fault.UNAVAILABLE)
    plan.enabled = True
    with pytest.raises(PineconeUnavailableError):
        if use_async:
            asyncio.run(store.aupsert_vectors(_records(3000)))  # three batches of 1000
        else:
            store.upsert_vectors(_records(3000))
    plan.enabled = False
    sent = plan.stats.matched
    assert sent in (1, 2, 3)  # a batch not yet started when the first one failed is never sent
    assert vector_count(store) == 1000 * (sent - 1)  # every acknowledged batch is stored


class _NoEmbeddings:
    """Upserts of ready vectors embed nothing; a call would be a bug of the store."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise AssertionError("upsert_vectors must not embed")

    def embed_query(self, text: str) -> list[float]:
        raise AssertionError("upsert_vectors must not embed")
