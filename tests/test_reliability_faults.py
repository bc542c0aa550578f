"""Ingestion through injected faults on BOTH services, over real loopback HTTP.

The endpoint (local server with ``HashEmbedder``: deterministic vectors, no model, same HTTP protocol) and the
local Pinecone server each run behind :class:`~hf_pinecone.local.faults.FaultInjector`, an in-process TESTING
TOOL (ASGI middleware) that answers 429 with ``Retry-After``, 500/502/503/504 (the 502/504 as nginx HTML
pages), drops connections mid-response, truncates bodies, answers HTML with 200, holds responses longer than
the client's timeout, and opens a cold-start window (503 for the first N seconds). Faults cannot be produced
by the real servers on demand, which is why this part is in-process; everything else is the real stack: the
endpoint client, the ``pinecone`` SDK (async path), ``PineconeStore`` and ``ingest``.

Backoffs are shortened through the public retry arguments so that the runs stay fast; the fault mix, the
rates and the cold-start window are the issue's.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from pinecone import Pinecone

from hf_pinecone import RetryPolicy
from hf_pinecone.embeddings import InferenceEndpointEmbeddings
from hf_pinecone.errors import EndpointUnavailableError, IngestError
from hf_pinecone.ids import content_id
from hf_pinecone.ingestion import IngestReport, ingest
from hf_pinecone.local import serve_endpoint, serve_pinecone
from hf_pinecone.local.endpoint_server import HashEmbedder
from hf_pinecone.local.faults import DEFAULT_KINDS, Fault, FaultPlan
from hf_pinecone.store import PineconeStore, ensure_index

DIM = 16
#: Only the data plane of an index gets faults (index creation is set up before the plan is enabled anyway).
DATA_PLANE = r"^/indexes/[^/]+/(vectors|query|describe_index_stats)"
#: Short, still exponential, backoff: the run must survive, not wait.
FAST_RETRY = RetryPolicy(max_retries=10, backoff_base=0.02, backoff_max=0.3)

log = logging.getLogger(__name__)


@dataclass
class Rig:
    """Both services behind fault plans, an index, and the store/embeddings the user would build."""

    endpoint_plan: FaultPlan
    pinecone_plan: FaultPlan
    embeddings: InferenceEndpointEmbeddings
    store: PineconeStore
    index_host: str


@contextlib.contextmanager
def rig(
    index_name: str,
    *,
    endpoint_plan: FaultPlan,
    pinecone_plan: FaultPlan,
    timeout: float = 2.0,
    cold_start_timeout: float = 120.0,
    retry: RetryPolicy = FAST_RETRY,
) -> Iterator[Rig]:
    """Serve both services behind the plans; the index is created while the Pinecone plan is disabled."""
    pinecone_plan.enabled = False
    with (
        serve_endpoint(embedder=HashEmbedder(DIM), faults=endpoint_plan) as endpoint_url,
        serve_pinecone(faults=pinecone_plan) as pinecone_url,
    ):
        host = ensure_index(index_name, dimension=DIM, api_key="local", host=pinecone_url)
        pinecone_plan.enabled = True
        embeddings = InferenceEndpointEmbeddings(
            endpoint_url=endpoint_url,
            hf_token=None,
            retry_policy=retry,
            timeout=timeout,
            cold_start_timeout=cold_start_timeout,
        )
        store = PineconeStore(embedding=embeddings, pinecone_api_key="local", host=host, retry=retry)
        try:
            yield Rig(endpoint_plan, pinecone_plan, embeddings, store, host)
        finally:
            embeddings.close()


def texts_for(n: int, tag: str) -> list[str]:
    return [f"{tag} record {i}: the quick brown fox number {i * 7919 % 10007} jumps" for i in range(n)]


def index_contents(rig_: Rig) -> dict[str, str]:
    """Every record in the index (listed page by page, then fetched), id -> stored text; faults off."""
    rig_.pinecone_plan.enabled = False
    index = Pinecone(api_key="local").Index(host=rig_.index_host)
    ids: list[str] = []
    for page in index.list(limit=100):
        ids.extend(page)
    assert len(ids) == len(set(ids)), "the index lists an id twice"
    contents: dict[str, str] = {}
    for start in range(0, len(ids), 1000):
        fetched = index.fetch(ids=ids[start : start + 1000]).vectors
        for record_id, vector in fetched.items():
            contents[record_id] = vector.metadata["text"]
    assert len(contents) == len(ids)
    total = index.describe_index_stats().total_vector_count
    assert total == len(ids), f"stats count {total} records, list gives {len(ids)}"
    return contents


def expected(texts: list[str]) -> dict[str, str]:
    return {content_id(t, None): t for t in texts}


def figures(report: IngestReport, rig_: Rig) -> dict[str, Any]:
    """The numbers reported in the issue note (printed with -s; also logged)."""
    e, p = rig_.endpoint_plan.stats, rig_.pinecone_plan.stats
    out = {
        "records": report.read,
        "upserted": report.upserted,
        "failed": report.failed,
        "endpoint_requests": e.requests,
        "endpoint_faults": e.injected,
        "pinecone_requests": p.requests,
        "pinecone_faults": p.injected,
        "seconds": round(report.seconds, 1),
    }
    log.warning("fault-run figures: %s", out)
    print("fault-run figures:", out)
    return out


# ------------------------------------------------------------------------------------------- the big run
@pytest.mark.slow
def test_20000_records_through_10_percent_faults_and_a_20_second_cold_start(index_name: str) -> None:
    """20,000 records; 10% of endpoint and Pinecone requests fail (every kind), the endpoint starts cold.

    Exactly the expected ids end up in the index, each with its own text, none twice, none missing, and the
    report shows no failure.
    """
    endpoint_kinds = {**{k: 1.0 for k in DEFAULT_KINDS}, Fault.SLOW: 0.25}
    endpoint_plan = FaultPlan(
        rate=0.10,
        kinds=endpoint_kinds,
        seed=20_000,
        methods={"POST"},
        cold_start_seconds=20.0,
        retry_after=0.1,
        slow_seconds=30.0,
    )
    pinecone_plan = FaultPlan(rate=0.10, kinds=DEFAULT_KINDS, seed=4, path_regex=DATA_PLANE, retry_after=0.1)
    texts = texts_for(20_000, "faulty")
    with rig(index_name, endpoint_plan=endpoint_plan, pinecone_plan=pinecone_plan, timeout=1.0) as r:
        # Smaller chunks than the default: more existence checks and upserts, so more Pinecone faults.
        report = ingest(texts, store=r.store, embeddings=r.embeddings, progress=False, chunk_size=128)
        numbers = figures(report, r)
        stored = index_contents(r)

    assert report.failed == 0 and report.rejected == ()
    assert (report.read, report.duplicates, report.already_present) == (20_000, 0, 0)
    assert report.upserted == 20_000
    assert stored == expected(texts)  # exact ids, each with its own text, nothing extra
    # The faults really happened, of every kind, on both sides.
    injected = numbers["endpoint_faults"]
    assert injected["cold_start"] > 0
    assert set(injected) >= {k.value for k in DEFAULT_KINDS} | {"slow"}
    assert set(numbers["pinecone_faults"]) >= {"429", "500", "502", "503", "504", "reset"}


# ------------------------------------------------------------------------------ faults that never stop
@pytest.mark.parametrize("side", ["endpoint", "pinecone"])
def test_faults_that_never_stop_give_a_clear_error_keep_progress_and_a_rerun_completes(
    index_name: str, side: str
) -> None:
    """After 20 good requests every request fails; the run stops with an IngestError that says why, what was
    upserted stays (and is exactly what the report says), and a re-run once the faults stop completes exactly,
    re-embedding only what was not stored."""
    forever = [Fault.SERVER_ERROR, Fault.BAD_GATEWAY, Fault.GATEWAY_TIMEOUT, Fault.RESET, Fault.RATE_LIMIT]
    where: dict[str, Any] = {"methods": {"POST"}} if side == "endpoint" else {"path_regex": DATA_PLANE}
    breaking = FaultPlan([None] * 20, rate=1.0, kinds=forever, seed=1, retry_after=0.01, **where)
    endpoint_plan = breaking if side == "endpoint" else FaultPlan()
    pinecone_plan = breaking if side == "pinecone" else FaultPlan()
    texts = texts_for(3000, f"forever-{side}")
    retry = RetryPolicy(max_retries=3, backoff_base=0.01, backoff_max=0.05)
    with rig(index_name, endpoint_plan=endpoint_plan, pinecone_plan=pinecone_plan, retry=retry) as r:
        with pytest.raises(IngestError) as caught:
            ingest(texts, store=r.store, embeddings=r.embeddings, progress=False, chunk_size=128)
        message = str(caught.value)
        assert message.startswith("ingestion stopped: ")
        if side == "endpoint":
            assert "endpoint stayed unavailable after every retry" in message
            assert isinstance(caught.value.__cause__, EndpointUnavailableError)
        else:
            assert "store failed" in message
        partial: IngestReport = caught.value.report  # type: ignore[attr-defined]
        assert 0 < partial.upserted < 3000 and partial.failed == 0

        stored = index_contents(r)  # also disables the Pinecone plan
        # Everything acknowledged is stored; a write whose answer was lost (connection reset after the server
        # applied it) may be stored too, but nothing that was not embedded in this run.
        assert partial.upserted <= len(stored) <= partial.embedded
        wanted = expected(texts)
        assert all(wanted[i] == t for i, t in stored.items())

        breaking.enabled = False
        r.endpoint_plan.reset_stats()
        rerun = ingest(texts, store=r.store, embeddings=r.embeddings, progress=False, chunk_size=128)
        served_inputs = r.endpoint_plan.stats.requests
        assert index_contents(r) == expected(texts)
    assert rerun.failed == 0
    assert rerun.already_present == len(stored)
    assert rerun.embedded == rerun.upserted == 3000 - len(stored)
    assert served_inputs >= 1


# ------------------------------------------------------------------------ every fault kind, one at a time
ENDPOINT_FAULTS = [
    Fault.RATE_LIMIT,
    Fault.SERVER_ERROR,
    Fault.BAD_GATEWAY,
    Fault.UNAVAILABLE,
    Fault.GATEWAY_TIMEOUT,
    Fault.RESET,
    Fault.SLOW,
    Fault.TRUNCATED,
    Fault.NON_JSON,
]


@pytest.mark.parametrize("fault", ENDPOINT_FAULTS, ids=lambda f: f.value)
def test_each_endpoint_fault_is_survived(index_name: str, fault: Fault) -> None:
    """Three of the same fault in a row on the endpoint; the ingest still stores everything exactly once."""
    endpoint_plan = FaultPlan([fault] * 3, methods={"POST"}, retry_after=0.05, slow_seconds=10)
    texts = texts_for(100, f"one-{fault.value}")
    with rig(index_name, endpoint_plan=endpoint_plan, pinecone_plan=FaultPlan(), timeout=0.5) as r:
        report = ingest(texts, store=r.store, embeddings=r.embeddings, progress=False)
        assert r.endpoint_plan.stats.injected == {fault.value: 3}
        assert index_contents(r) == expected(texts)
    assert (report.upserted, report.failed) == (100, 0)


PINECONE_FAULTS = [
    Fault.RATE_LIMIT,
    Fault.SERVER_ERROR,
    Fault.BAD_GATEWAY,
    Fault.UNAVAILABLE,
    Fault.GATEWAY_TIMEOUT,
    Fault.RESET,
    Fault.TRUNCATED,
    Fault.NON_JSON,
]


@pytest.mark.parametrize("fault", PINECONE_FAULTS, ids=lambda f: f.value)
def test_each_pinecone_fault_is_survived(index_name: str, fault: Fault) -> None:
    """Three of the same fault in a row on the data plane (existence fetch and upserts)."""
    pinecone_plan = FaultPlan([fault] * 3, path_regex=DATA_PLANE, retry_after=0.05)
    texts = texts_for(100, f"pc-{fault.value}")
    with rig(index_name, endpoint_plan=FaultPlan(), pinecone_plan=pinecone_plan) as r:
        report = ingest(texts, store=r.store, embeddings=r.embeddings, progress=False)
        assert r.pinecone_plan.stats.injected == {fault.value: 3}
        assert index_contents(r) == expected(texts)
    assert (report.upserted, report.failed) == (100, 0)


def test_cold_start_window_is_waited_out_with_one_log_line(
    index_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A scaled-to-zero endpoint answers 503 for its first 40 requests; ingestion waits and logs it once."""
    endpoint_plan = FaultPlan(methods={"POST"}, cold_start_requests=40)
    texts = texts_for(200, "cold")
    with caplog.at_level(logging.INFO), rig(index_name, endpoint_plan=endpoint_plan, pinecone_plan=FaultPlan()) as r:
        report = ingest(texts, store=r.store, embeddings=r.embeddings, progress=False)
        assert r.endpoint_plan.stats.injected == {"cold_start": 40}
        assert index_contents(r) == expected(texts)
    assert report.upserted == 200
    starting = [rec for rec in caplog.records if "endpoint is starting" in rec.getMessage()]
    assert len(starting) == 1


def test_faults_after_a_cold_start_are_still_retried(index_name: str) -> None:
    """A request that waited through a cold start then meets an ordinary transient fault: still retried.

    (Cold-start polling must not use up the retry budget of the faults that follow it.)
    """
    endpoint_plan = FaultPlan(
        [Fault.RATE_LIMIT, Fault.BAD_GATEWAY], methods={"POST"}, cold_start_requests=12, retry_after=0.01
    )
    retry = RetryPolicy(max_retries=3, backoff_base=0.01, backoff_max=0.05)
    texts = texts_for(10, "after-cold")  # one request: the same one meets the cold start, then the faults
    with rig(index_name, endpoint_plan=endpoint_plan, pinecone_plan=FaultPlan(), retry=retry) as r:
        vectors = r.embeddings.embed_documents(texts)
        assert r.endpoint_plan.stats.injected == {"cold_start": 12, "429": 1, "502": 1}
    assert len(vectors) == 10


def test_slow_endpoint_times_out_and_is_retried_then_gives_up_clearly() -> None:
    """Every response slower than the timeout: the client gives up with EndpointUnavailableError naming it."""
    plan = FaultPlan(rate=1.0, kinds=[Fault.SLOW], methods={"POST"}, slow_seconds=30)
    retry = RetryPolicy(max_retries=2, backoff_base=0.01, backoff_max=0.02)
    with serve_endpoint(embedder=HashEmbedder(DIM), faults=plan) as url:
        emb = InferenceEndpointEmbeddings(endpoint_url=url, hf_token=None, timeout=0.3, retry_policy=retry)
        with pytest.raises(EndpointUnavailableError) as caught:
            emb.embed_documents(["a", "b"])
        emb.close()
        # The server keeps serving once the slow faults stop.
        plan.enabled = False
        assert httpx2.post(url, json={"inputs": ["a"]}).status_code == 200
    assert "gave up after 3 attempts" in str(caught.value)
    assert "timeout" in str(caught.value).lower()
    assert plan.stats.injected == {"slow": 3}


@pytest.mark.parametrize("fault", [Fault.NON_JSON, Fault.TRUNCATED], ids=lambda f: f.value)
async def test_an_unparseable_200_to_an_upsert_is_not_an_acknowledgement(index_name: str, fault: Fault) -> None:
    """A proxy's HTML page (the upsert never reached the index) or a cut body under HTTP 200: the SDK hands
    back raw text; the store must retry instead of counting the records as written (silent loss)."""
    pinecone_plan = FaultPlan([fault, fault], path_regex=r"/vectors/upsert$")
    with rig(index_name, endpoint_plan=FaultPlan(), pinecone_plan=pinecone_plan) as r:
        sync_records = [(f"s{i}", [float(i + 1)] * DIM, {"text": f"sync {i}"}) for i in range(10)]
        async_records = [(f"a{i}", [float(i + 1)] * DIM, {"text": f"async {i}"}) for i in range(10)]
        assert r.store.upsert_vectors(sync_records) == 10
        assert await r.store.aupsert_vectors(async_records) == 10
        assert r.pinecone_plan.stats.injected == {fault.value: 2}
        stored = index_contents(r)
    assert stored == {rid: meta["text"] for rid, _, meta in sync_records + async_records}
