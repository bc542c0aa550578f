"""Scenario 1: ingestion against a remote-like endpoint, and adaptive concurrency.

The endpoint behaves like a GPU endpoint across a network: deterministic vectors (no model), a fixed delay per
request, a per-item cost and a bounded number of requests served at once (replicas), so its capacity is known
from its parameters. Contenders, each on a fresh index of the same local Pinecone server, alternating:

(a) the tutorial's loop: ``requests.post`` per batch of 64 to the toolkit route, then ``index.upsert``;
(b) the LangChain peer path: ``OpenAIEmbeddings(base_url=<endpoint>/v1, check_embedding_ctx_length=False)``
    with ``PineconeVectorStore.add_texts``;
(c) ``hf_pinecone.ingest`` with default settings.

Admission is TEI's (the stand-in's, see ``hf_pinecone.local._endpoint_state``): ``max_concurrent_requests``
permits, one per input, and the inputs of a batch wait for theirs (router/src/http/server.rs ``embed``,
``InputBatch::Batch``: ``local_infer.acquire_permit().await`` per input), so a batch is never answered 429; only
a single-input request is, when no permit is free (``InputBatch::Single``: ``infer.try_acquire_permit()``).
An endpoint with N replicas is N TEI containers behind a load balancer, each with TEI's default of 512 permits
(router/src/main.rs ``max_concurrent_requests``, ``default_value = "512"``): ``N * 512`` permits in all.

The adaptation table runs ``hf_pinecone.ingest`` at fixed concurrencies and adaptive against three endpoints:
one whose permits admit only as many batches as it has replicas, so further batches queue in it (what the
adaptive limiter sees there is latency, not 429s); one behind a benchmark-only gateway that answers
``429 Overloaded`` past N requests in flight (``benchmarks/_serve.py --reject-past``: a proxy or rate limiter with
a concurrency cap, which TEI's own admission is not for batches); and a slow endpoint with many replicas.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks._common import (
    EndpointSpec,
    Runs,
    alternate,
    corpus,
    endpoint_server,
    endpoint_stats,
    fresh_index,
    goal,
    index_count,
    log,
    pinecone_server,
    table,
)

TUTORIAL_BATCH = 64
# Round trip plus fixed per-request cost of a GPU endpoint across a network, and its per-input cost: the
# endpoint, not the client machine, must be the bottleneck for "fraction of capacity" to mean something.
DELAY = 0.04
PER_ITEM_DELAY = 0.002
# The wide endpoint of the adaptation table: slow requests (a heavy model, a long way away), many replicas,
# so that throughput depends on how many requests the client keeps in flight.
WIDE_DELAY = 0.5
# TEI's default max_concurrent_requests, per replica (router/src/main.rs: `#[clap(default_value = "512", long,
# env)] max_concurrent_requests`): permits are per input, so one replica admits 512 / 64 = 8 batches of 64.
TEI_PERMITS = 512


def endpoint_spec(replicas: int, **kwargs: Any) -> EndpointSpec:
    """The remote-like endpoint: ``replicas`` TEI containers, each with TEI's default permits.

    Its batch limit is 64 so that the tutorial's batches are accepted. One process stands in for all replicas, so
    their permits are pooled: ``replicas * 512`` (with 512 in all, at most 8 batches of 64 would be embedded at
    once, whatever the number of replicas).
    """
    options: dict[str, Any] = {"max_concurrent": replicas * TEI_PERMITS, **kwargs}
    return EndpointSpec(
        delay=DELAY, per_item_delay=PER_ITEM_DELAY, replicas=replicas, max_batch_size=TUTORIAL_BATCH, **options
    )


# ------------------------------------------------------------------------------------------ contenders
def run_tutorial(url: str, pinecone_url: str, texts: list[str]) -> float:
    """(a) The tutorial's loop, verbatim apart from names: one request, then one upsert, per batch of 64."""
    import requests
    from pinecone import Pinecone

    with fresh_index(pinecone_url) as host:
        index = Pinecone(api_key="local", host=pinecone_url).Index(host=host)
        headers = {"Authorization": "Bearer hf_xxx", "Content-Type": "application/json"}
        start = time.perf_counter()
        for i in range(0, len(texts), TUTORIAL_BATCH):
            i_end = min(i + TUTORIAL_BATCH, len(texts))
            batch = texts[i:i_end]
            res = requests.post(url, headers=headers, json={"inputs": batch})
            emb = res.json()["embeddings"]
            meta = [{"text": text} for text in batch]
            ids = [str(x) for x in range(i, i_end)]
            index.upsert(vectors=list(zip(ids, emb, meta, strict=True)))
        seconds = time.perf_counter() - start
        _check(pinecone_url, host, len(texts))
    return len(texts) / seconds


def run_langchain(url: str, pinecone_url: str, texts: list[str], chunk_size: int) -> float:
    """(b) OpenAIEmbeddings against the endpoint's OpenAI route + PineconeVectorStore.add_texts (defaults)."""
    from langchain_openai import OpenAIEmbeddings
    from langchain_pinecone import PineconeVectorStore
    from pinecone import Pinecone

    with fresh_index(pinecone_url) as host:
        embeddings = OpenAIEmbeddings(  # type: ignore[call-arg]  # api_key is a pydantic alias
            model="hf-pinecone/hash-embedder",
            base_url=f"{url}/v1",
            api_key="x",
            check_embedding_ctx_length=False,
            # Required: the default (1,000 inputs per request) is refused with 422 by an endpoint whose
            # batch limit is lower, as TEI's is (--max-client-batch-size).
            chunk_size=chunk_size,
        )
        store = PineconeVectorStore(
            index=Pinecone(api_key="local", host=pinecone_url).Index(host=host), embedding=embeddings
        )
        start = time.perf_counter()
        store.add_texts(texts)
        seconds = time.perf_counter() - start
        _check(pinecone_url, host, len(texts))
    return len(texts) / seconds


def run_library(url: str, pinecone_url: str, texts: list[str]) -> float:
    """(c) ``hf_pinecone.ingest`` with default settings."""
    return ingest_with(url, pinecone_url, texts)[0]


def ingest_with(
    url: str, pinecone_url: str, texts: list[str], *, tolerate_failure: bool = False, **options: Any
) -> tuple[float, str, str | None]:
    """``hf_pinecone.ingest`` with ``InferenceEndpointEmbeddings(**options)``.

    Returns records/s (of what was stored), the client's concurrency limit at the end (and its highest), and
    the run-level error that stopped the run (only with ``tolerate_failure``; else it raises).
    """
    from hf_pinecone import InferenceEndpointEmbeddings, PineconeStore, ingest
    from hf_pinecone.errors import IngestError

    failure: str | None = None
    with fresh_index(pinecone_url) as host:
        embeddings = InferenceEndpointEmbeddings(endpoint_url=url, **options)
        store = PineconeStore(embedding=embeddings, pinecone_api_key="local", host=host)
        client = embeddings.async_client  # created outside a loop: handed to ingest's loop, so we see its limit
        start = time.perf_counter()
        try:
            report = ingest(texts, store=store, progress=False)
        except IngestError as exc:
            if not tolerate_failure:
                raise
            report = exc.report
            failure = f"stopped after {report.upserted:,} of {len(texts):,} records: {exc.__cause__}"
        seconds = time.perf_counter() - start
        history = getattr(client._limiter.policy, "history", ())
        limit = f"{client.max_concurrency} (max {max([client.max_concurrency, *(h[1] for h in history)])})"
        embeddings.close()
        if failure is None:
            assert report.upserted == len(texts), report
            _check(pinecone_url, host, len(texts))
    return report.upserted / seconds, limit, failure


def _check(pinecone_url: str, host: str, expected: int) -> None:
    stored = index_count(pinecone_url, host)
    if stored != expected:
        raise AssertionError(f"{stored} vectors stored, expected {expected}")


# ------------------------------------------------------------------------------------------- scenario
@dataclass
class IngestResult:
    spec: EndpointSpec
    records: int
    runs: dict[str, Runs]

    def ratio(self, a: str, b: str) -> float:
        return self.runs[a].median / self.runs[b].median


def compare(spec: EndpointSpec, records: int, repetitions: int, pinecone_url: str) -> IngestResult:
    """(a), (b), (c) against one endpoint, alternating."""
    texts = corpus(records)
    with endpoint_server(spec) as url:
        log(f"scenario 1: {records:,} records, {spec.describe()}")
        contenders = {
            "a": lambda: run_tutorial(url, pinecone_url, texts),
            "b": lambda: run_langchain(url, pinecone_url, texts, spec.max_batch_size),
            "c": lambda: run_library(url, pinecone_url, texts),
        }
        runs = alternate(contenders, repetitions)
    return IngestResult(spec, records, runs)


@dataclass
class AdaptResult:
    label: str
    spec: EndpointSpec
    rows: list[tuple[str, float, int, str, str]]  # setting, records/s (median), 429s, final limit, failures


def adaptation(records: int, repetitions: int, pinecone_url: str) -> list[AdaptResult]:
    """hf_pinecone.ingest with the old fixed concurrency (8), a fixed 64, and the adaptive default."""
    texts = corpus(records)
    endpoints = [
        (
            # 4 x 64 permits: 4 batches of 64 hold permits (one per replica); the inputs of any further batch wait
            # for permits (server.rs `embed`, `InputBatch::Batch`: `acquire_permit().await`), never a 429.
            "serves 4 batches at once and queues the rest (TEI admission, no 429)",
            endpoint_spec(4, max_concurrent=4 * TUTORIAL_BATCH),
        ),
        (
            # Permits never bind here (4 x 512); the benchmark-only gateway refuses the 5th request in flight.
            "serves 4 at once behind a gateway that answers 429 past 4 requests in flight",
            endpoint_spec(4, reject_past=4),
        ),
        (
            "serves 64 at once (slow requests, 64 x 512 permits: nothing waits at 64 in flight)",
            EndpointSpec(
                delay=WIDE_DELAY,
                per_item_delay=PER_ITEM_DELAY,
                replicas=64,
                max_concurrent=64 * TEI_PERMITS,
                max_batch_size=TUTORIAL_BATCH,
            ),
        ),
    ]
    settings: list[tuple[str, dict[str, Any]]] = [
        ("fixed max_concurrency=8 (old default)", {"max_concurrency": 8}),
        ("fixed max_concurrency=64", {"max_concurrency": 64}),
        ("adaptive (default)", {}),
    ]
    results = []
    for label, spec in endpoints:
        with endpoint_server(spec) as url:
            log(f"adaptation: {label}")
            overloaded: dict[str, list[int]] = {name: [] for name, _ in settings}
            limits: dict[str, str] = {}
            failures: dict[str, list[str]] = {name: [] for name, _ in settings}
            contenders = {
                name: _adapt_run(url, pinecone_url, texts, options, overloaded[name], limits, failures[name], name)
                for name, options in settings
            }
            runs = alternate(contenders, repetitions)
            rows = [
                (
                    name,
                    runs[name].median,
                    sorted(overloaded[name])[len(overloaded[name]) // 2],
                    limits[name],
                    f"{len(failures[name])} of {repetitions} runs failed: {failures[name][0]}"
                    if failures[name]
                    else "",
                )
                for name, _ in settings
            ]
            results.append(AdaptResult(label, spec, rows))
    return results


def _adapt_run(
    url: str,
    pinecone_url: str,
    texts: list[str],
    options: dict[str, Any],
    overloaded: list[int],
    limits: dict[str, str],
    failures: list[str],
    name: str,
) -> Callable[[], float]:
    def run() -> float:
        before = _overloaded(url)
        rate, limits[name], failure = ingest_with(url, pinecone_url, texts, tolerate_failure=True, **options)
        overloaded.append(_overloaded(url) - before)
        if failure is not None:
            failures.append(failure)
        return rate

    return run


def _overloaded(url: str) -> int:
    """429 Overloaded answers so far: the endpoint's own (single inputs only) plus its gateway's, if any."""
    stats = endpoint_stats(url)
    return int(stats["overloaded"]) + int(stats.get("gateway_overloaded") or 0)


def run(*, records: int, repetitions: int, adapt_records: int) -> tuple[str, dict[str, Any]]:
    """Scenario 1 and the adaptation table; returns (markdown, numbers)."""
    with pinecone_server() as pinecone_url:
        main = compare(endpoint_spec(4), records, repetitions, pinecone_url)
        # (a) and (b) send one request at a time, so more replicas cannot speed them up: one shorter run.
        wide = compare(endpoint_spec(64), adapt_records, 1, pinecone_url)
        adapt = adaptation(adapt_records, repetitions, pinecone_url)
    return render(main, wide, adapt), {
        "replicas_4": {k: v.values for k, v in main.runs.items()},
        "replicas_64": {k: v.values for k, v in wide.runs.items()},
        "adaptation": {a.label: a.rows for a in adapt},
    }


def render(main: IngestResult, wide: IngestResult, adapt: list[AdaptResult]) -> str:
    out = []
    names = {
        "a": "(a) tutorial loop: requests.post per 64 + index.upsert",
        "b": "(b) OpenAIEmbeddings + PineconeVectorStore.add_texts",
        "c": "(c) hf_pinecone.ingest (defaults)",
    }
    summary_rows = []
    for result in (main, wide):
        spec = result.spec
        cap = spec.capacity()
        cap32 = spec.capacity(32)
        out.append(
            f"**{spec.replicas} replicas** — `{spec.describe()}`: capacity {cap:,.0f} records/s with batches of "
            f"{spec.max_batch_size} (the endpoint's limit), {cap32:,.0f} records/s with batches of 32 "
            "(the library's fallback when an endpoint reports no limit; by default it reads the limit from `/info`); "
            f"{TEI_PERMITS} permits per replica (TEI's default `max_concurrent_requests`, one per input). "
            f"{result.records:,} records, "
            f"{len(result.runs['c'].values)} alternating repetitions, medians.\n"
        )
        rows = [
            [names[k], f"{result.runs[k].median:,.0f}", result.runs[k].spread(), f"{result.runs[k].median / cap:.2f}"]
            for k in ("a", "b", "c")
        ]
        out.append(table(["contender", "records/s (median)", "min-max", "of capacity"], rows))
        out.append("")
        ca, cb, ccap = result.ratio("c", "a"), result.ratio("c", "b"), result.runs["c"].median / cap
        summary_rows.append(
            [
                f"{spec.replicas} replicas",
                f"{ca:.1f} ({goal(ca >= 20)})",
                f"{cb:.1f} ({goal(cb >= 3)})",
                f"{ccap:.2f} ({goal(ccap >= 0.9)})",
                f"{result.runs['c'].median / cap32:.2f}",
            ]
        )
    out.append("Ratios (goals: c/a >= 20, c/b >= 3, c/capacity >= 0.9):\n")
    out.append(
        table(
            ["endpoint", "c/a", "c/b", "c/capacity", "c/capacity at batch 32"],
            summary_rows,
        )
    )
    out.append("")
    out.append(
        "**Adaptive concurrency.** `hf_pinecone.ingest` with the client's concurrency fixed at 8 (the old "
        "default), fixed at 64, and adaptive (the default: starts at 8, grows while throughput grows, backs "
        "off on 429 or timeouts and when latency shows queueing, at most 64), against three endpoints. The "
        "stand-in admits as TEI does: one permit per input, and a batch's inputs wait for permits, so batches "
        "are queued, never answered 429 (TEI's `router/src/http/server.rs` `embed`: `acquire_permit().await` per "
        "input of a batch; only a single input meets `try_acquire_permit()` and its 429). (1) 4 replicas with "
        f"`max_concurrent_requests={4 * TUTORIAL_BATCH}` (4 batches of 64): requests past 4 wait in the "
        "endpoint's queue, so the client sees latency grow, not 429s. (2) 4 replicas behind a benchmark-only "
        "gateway (`benchmarks/_serve.py --reject-past 4`, standing for a proxy or rate limiter with a "
        "concurrency cap) that answers `429 Overloaded` (no `Retry-After`, as TEI) to a request arriving while "
        "4 are in flight; the refused requests never reach the endpoint. (3) 64 replicas with slow requests, "
        "each replica with TEI's default 512 permits, so 64 requests in flight are all served at once.\n"
    )
    for number, a in enumerate(adapt, 1):
        cap = a.spec.capacity()
        rows = [
            [name, f"{rate:,.0f}", f"{rate / cap:.2f}", f"{n429:,}", limit, failed or "completed"]
            for name, rate, n429, limit, failed in a.rows
        ]
        out.append(f"({number}) Endpoint that {a.label}: `{a.spec.describe()}`, capacity {cap:,.0f} records/s.\n")
        out.append(
            table(
                ["client concurrency", "records/s", "of capacity", "429s per run", "limit at end (highest)", "outcome"],
                rows,
            )
        )
        out.append("")
    return "\n".join(out)
