"""hf_pinecone.ingest against real loopback servers: the local endpoint and the local Pinecone server.

Most tests use the local endpoint with ``HashEmbedder`` (deterministic vectors from a hash of each text, no
model) so they run in seconds; it speaks the same HTTP protocol and rejects inputs longer than its limit with
TEI's ``422 Validation`` when truncation is off, which is how "a record the endpoint rejects" is produced for
real. The SNLI recall check uses the real all-MiniLM-L6-v2 endpoint.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import HashEndpoint, vector_count
from hf_pinecone._retry import RetryPolicy
from hf_pinecone.embeddings import InferenceEndpointEmbeddings
from hf_pinecone.errors import ConfigurationError, IngestError
from hf_pinecone.ids import content_id
from hf_pinecone.ingestion import IngestReport, aingest, ingest
from hf_pinecone.local import serve_endpoint
from hf_pinecone.local.endpoint_server import HashEmbedder
from hf_pinecone.local.faults import Fault, FaultPlan
from hf_pinecone.store import PineconeStore, ensure_index

DIM = 64
MAX_CHARS = 200  # the hash endpoint rejects longer inputs when truncation is off


@pytest.fixture
def hash_url(hash_endpoint: HashEndpoint) -> str:
    return hash_endpoint(DIM, max_input_length=MAX_CHARS)


@pytest.fixture
def embeddings(hash_url: str) -> Iterator[InferenceEndpointEmbeddings]:
    emb = InferenceEndpointEmbeddings(endpoint_url=hash_url, truncate=False)
    yield emb
    emb.close()


def _store(embeddings: Any, pinecone_url: str, name: str, namespace: str | None = None) -> PineconeStore:
    host = ensure_index(name, dimension=DIM, api_key="local", host=pinecone_url)
    return PineconeStore(embedding=embeddings, pinecone_api_key="local", host=host, namespace=namespace)


@pytest.fixture
def store(embeddings: InferenceEndpointEmbeddings, pinecone_url: str, index_name: str) -> PineconeStore:
    return _store(embeddings, pinecone_url, index_name)


def _stored(store: PineconeStore, ids: list[str], namespace: str | None = None) -> dict[str, dict[str, Any]]:
    """id -> metadata of the records found in the index."""
    docs = store.get_by_ids(ids, namespace=namespace)
    return {str(d.id): {**d.metadata, "text": d.page_content} for d in docs}


# --------------------------------------------------------------------------------------------- basics
def test_strings_get_content_ids_text_metadata_and_a_consistent_report(store: PineconeStore) -> None:
    texts = ["a cat sleeps", "a dog barks", "a cat sleeps", "birds sing", "a dog barks"]
    report = ingest(texts, store=store, progress=False)

    assert isinstance(report, IngestReport)
    assert (report.read, report.duplicates, report.already_present) == (5, 2, 0)
    assert (report.embedded, report.upserted, report.failed) == (3, 3, 0)
    assert report.read == report.duplicates + report.already_present + report.upserted + report.failed
    assert report.errors_file is None and report.seconds > 0 and report.records_per_second > 0
    unique = ["a cat sleeps", "a dog barks", "birds sing"]
    found = _stored(store, [content_id(t, None) for t in unique])
    assert {meta["text"] for meta in found.values()} == set(unique)
    assert all(found[content_id(t, None)]["text"] == t for t in unique)
    assert vector_count(store) == 3


def test_second_run_finds_everything_present_and_force_reembeds(store: PineconeStore) -> None:
    texts = [f"sentence {i}" for i in range(700)]  # two chunks of the default 512
    first = ingest(texts, store=store, progress=False)
    second = ingest(texts, store=store, progress=False)
    forced = ingest(texts, store=store, progress=False, force=True)

    assert first.upserted == 700
    assert (second.already_present, second.embedded, second.upserted) == (700, 0, 0)
    assert (forced.already_present, forced.embedded, forced.upserted) == (0, 700, 700)
    assert vector_count(store) == 700


def test_resume_after_partial_ingest_embeds_only_the_rest(store: PineconeStore) -> None:
    texts = [f"line {i}" for i in range(300)]
    ingest(texts[:120], store=store, progress=False)
    report = ingest(texts, store=store, progress=False, chunk_size=50)
    assert (report.already_present, report.embedded, report.upserted) == (120, 180, 180)
    assert vector_count(store) == 300


def test_records_keep_extra_columns_as_metadata(store: PineconeStore) -> None:
    records = [
        {"body": "first text", "year": 2020, "score": 0.5, "tags": ["a", "b"], "ok": True, "note": None},
        {"body": "second text", "year": 2021, "score": 1.5, "tags": [], "ok": False, "note": "x"},
    ]
    report = ingest(records, store=store, column="body", progress=False)
    assert report.upserted == 2
    found = _stored(store, [content_id("first text", None), content_id("second text", None)])
    first = found[content_id("first text", None)]
    assert first["text"] == "first text"
    assert first["year"] == 2020 and first["score"] == 0.5 and first["tags"] == ["a", "b"] and first["ok"] is True
    assert "note" not in first  # Pinecone has no null: the field is left out
    assert found[content_id("second text", None)]["note"] == "x"
    assert "body" not in first  # the text column is stored once, as "text"


def test_metadata_columns_selects_and_id_column_names_records(store: PineconeStore) -> None:
    records = [{"id": f"doc-{i}", "text": f"text {i}", "keep": i, "drop": "no"} for i in range(5)]
    ingest(records, store=store, id_column="id", metadata_columns=["keep"], progress=False)
    found = _stored(store, [f"doc-{i}" for i in range(5)])
    assert set(found) == {f"doc-{i}" for i in range(5)}
    assert found["doc-3"]["keep"] == 3 and "drop" not in found["doc-3"] and "id" not in found["doc-3"]


def test_dedup_keeps_the_first_occurrence(store: PineconeStore) -> None:
    records = [{"text": "same", "n": 1}, {"text": "other", "n": 2}, {"text": "same", "n": 3}]
    report = ingest(records, store=store, progress=False)
    assert report.duplicates == 1
    assert _stored(store, [content_id("same", None)])[content_id("same", None)]["n"] == 1


def test_limit_counts_source_records(store: PineconeStore) -> None:
    texts = ["x", "x", "y", "z", "w"]
    report = ingest(texts, store=store, limit=3, progress=False)
    assert (report.read, report.duplicates, report.upserted) == (3, 1, 2)
    assert vector_count(store) == 2


def test_namespace_changes_ids_and_target(embeddings: Any, pinecone_url: str, index_name: str) -> None:
    store = _store(embeddings, pinecone_url, index_name)
    report = ingest(["hello"], store=store, namespace="ns1", progress=False)
    assert report.upserted == 1
    assert set(_stored(store, [content_id("hello", "ns1")], namespace="ns1")) == {content_id("hello", "ns1")}
    assert vector_count(store, "ns1") == 1 and vector_count(store, "") == 0
    # The store's own namespace is the default.
    ns_store = _store(embeddings, pinecone_url, index_name, namespace="ns2")
    ingest(["hello"], store=ns_store, progress=False)
    assert vector_count(store, "ns2") == 1
    assert content_id("hello", "ns2") in _stored(store, [content_id("hello", "ns2")], namespace="ns2")


# --------------------------------------------------------------------------------------------- sources
def test_files_parquet_jsonl_csv_txt(store: PineconeStore, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"sentence": ["p one", "p two"], "label": [0, 1]}), tmp_path / "d.parquet")
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps({"text": t, "src": "j"}) for t in ["j one", "j two"]))
    with (tmp_path / "d.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "n"])
        writer.writerows([["c one", 1], ["c, two", 2]])
    (tmp_path / "d.txt").write_text("t one\n\nt two\n")

    reports = [
        ingest(tmp_path / "d.parquet", store=store, column="sentence", progress=False),
        ingest(str(tmp_path / "d.jsonl"), store=store, progress=False),
        ingest(tmp_path / "d.csv", store=store, progress=False),
        ingest(tmp_path / "d.txt", store=store, progress=False),
    ]
    assert [r.upserted for r in reports] == [2, 2, 2, 2]
    assert reports[3].read == 2  # the blank line is not a record
    found = _stored(store, [content_id(t, None) for t in ["p two", "j one", "c, two", "t two"]])
    assert found[content_id("p two", None)]["label"] == 1
    assert found[content_id("j one", None)]["src"] == "j"
    assert found[content_id("c, two", None)]["n"] == 2


def test_file_errors_are_configuration_errors(store: PineconeStore, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="file not found"):
        ingest(tmp_path / "missing.jsonl", store=store, progress=False)
    (tmp_path / "d.xyz").write_text("x")
    with pytest.raises(ConfigurationError, match="unknown file type"):
        ingest(tmp_path / "d.xyz", store=store, progress=False)
    (tmp_path / "d.jsonl").write_text(json.dumps({"premise": "p", "hypothesis": "h"}) + "\n")
    with pytest.raises(ConfigurationError, match=r"no 'text' column.*premise, hypothesis"):
        ingest(tmp_path / "d.jsonl", store=store, progress=False)
    with pytest.raises(ConfigurationError, match="column 'hypotesis' not found"):
        ingest(tmp_path / "d.jsonl", store=store, column="hypotesis", progress=False)
    assert vector_count(store) == 0


def test_hugging_face_dataset_and_iterable_dataset(store: PineconeStore) -> None:
    import datasets

    ds = datasets.Dataset.from_dict({"hypothesis": ["h1", "h2", "h1", "h3"], "label": [0, 1, 2, 0]})
    report = ingest(ds, store=store, column="hypothesis", progress=False)
    assert (report.read, report.duplicates, report.upserted) == (4, 1, 3)
    again = ingest(ds.to_iterable_dataset(), store=store, column="hypothesis", progress=False)
    assert again.already_present == 3
    assert _stored(store, [content_id("h2", None)])[content_id("h2", None)]["label"] == 1


# --------------------------------------------------------------------------------------------- rejected rows
def test_bad_rows_are_written_to_the_errors_file_and_never_abort(store: PineconeStore, tmp_path: Path) -> None:
    errors = tmp_path / "errors.jsonl"
    rows: list[Any] = [
        {"text": "good one"},
        {"text": None},
        {"text": 42},
        {"text": ""},
        {"text": "   "},
        {"text": "bad \ud800 surrogate"},
        {"text": "y" * (MAX_CHARS + 50)},  # the endpoint answers 422 for this one
        {"text": "nested", "meta": {"a": 1}},
        {"text": "not finite", "meta": math.nan},
        {"text": "z" * 41_000},  # metadata over Pinecone's 40 KB
        {"text": "good two"},
    ]
    report = ingest(rows, store=store, errors_file=errors, progress=False)

    assert (report.read, report.upserted, report.failed) == (11, 2, 9)
    assert report.errors_file == errors
    lines = [json.loads(line) for line in errors.read_text().splitlines()]
    assert len(lines) == 9
    assert sorted(line["row"] for line in lines) == list(range(1, 10))
    reasons = {line["row"]: line["reason"] for line in lines}
    assert "not a string" in reasons[1] and "not a string" in reasons[2]
    assert "empty" in reasons[3] and "empty" in reasons[4]
    assert "Unicode" in reasons[5]
    assert "tokens" in reasons[6] or "422" in reasons[6]  # the endpoint's own message
    assert "nested object" in reasons[7] and "--metadata-column" in reasons[7]
    assert "finite" in reasons[8]
    assert "40960" in reasons[9]
    by_row = {line["row"]: line for line in lines}
    assert by_row[6]["id"] == content_id("y" * (MAX_CHARS + 50), None) and by_row[6]["text"].startswith("yyy")
    assert len(report.rejected) == 9
    assert vector_count(store) == 2


def test_no_errors_file_keeps_a_sample_in_the_report(store: PineconeStore) -> None:
    report = ingest(["ok", "", None], store=store, progress=False)
    assert report.failed == 2 and report.errors_file is None
    assert [r.row for r in report.rejected] == [1, 2]


# --------------------------------------------------------------------------------------------- run-level fail
def test_auth_failure_raises_ingest_error_without_the_token(pinecone_url: str, index_name: str) -> None:
    secret = "hf_wrongTokenValue12345"
    with serve_endpoint(embedder=HashEmbedder(DIM), api_key="the-right-key") as url:
        emb = InferenceEndpointEmbeddings(endpoint_url=url, hf_token=secret)
        store = _store(emb, pinecone_url, index_name)
        with pytest.raises(IngestError) as info:
            ingest(["a", "b"], store=store, progress=False)
    message = str(info.value)
    assert "credentials" in message and secret not in message
    assert info.value.report.read == 2 and info.value.report.upserted == 0  # type: ignore[attr-defined]


def test_endpoint_down_mid_run_keeps_what_was_done(pinecone_url: str, index_name: str) -> None:
    """The endpoint answers normally for its first requests, then 500 forever (fault injection)."""
    plan = FaultPlan([None] * 4, rate=1.0, kinds=[Fault.SERVER_ERROR], methods={"POST"})
    with serve_endpoint(embedder=HashEmbedder(DIM), faults=plan) as url:
        emb = InferenceEndpointEmbeddings(
            endpoint_url=url, retry_policy=RetryPolicy(max_retries=1, backoff_base=0.01), cold_start_timeout=0
        )
        store = _store(emb, pinecone_url, index_name)
        texts = [f"t{i}" for i in range(400)]
        with pytest.raises(IngestError, match="unavailable") as info:
            ingest(texts, store=store, progress=False, chunk_size=32, max_chunks_in_flight=2)
    partial: IngestReport = info.value.report  # type: ignore[attr-defined]
    assert 0 < partial.upserted < 400
    assert partial.upserted == partial.embedded == vector_count(store)
    # Once the endpoint is back, a re-run completes exactly.
    with serve_endpoint(embedder=HashEmbedder(DIM)) as url:
        emb = InferenceEndpointEmbeddings(endpoint_url=url)
        store = _store(emb, pinecone_url, index_name)
        report = ingest(texts, store=store, progress=False)
    assert report.already_present == partial.upserted and report.upserted == 400 - partial.upserted
    assert vector_count(store) == 400


# --------------------------------------------------------------------------------------------- API shapes
async def test_aingest_and_sync_ingest_from_a_running_loop(store: PineconeStore) -> None:
    report = await aingest(["async one", "async two"], store=store, progress=False)
    assert report.upserted == 2
    # A notebook calls the sync function while its loop runs: it runs on a private loop in a thread.
    sync_report = ingest(["async three"], store=store, progress=False)
    assert sync_report.upserted == 1
    assert vector_count(store) == 3


def test_progress_bar_goes_to_stderr(store: PineconeStore, capsys: pytest.CaptureFixture[str]) -> None:
    ingest(["p1", "p2", "p3"], store=store, progress=True)
    captured = capsys.readouterr()
    assert "rec" in captured.err and "3/3" in captured.err
    assert captured.out == ""


def test_generic_vectorstore_path(embeddings: InferenceEndpointEmbeddings, tmp_path: Path) -> None:
    from langchain_core.vectorstores import InMemoryVectorStore

    vs = InMemoryVectorStore(embedding=embeddings)
    texts = ["g one", "g two", "g one", "y" * (MAX_CHARS + 1), "g three"]
    report = ingest(texts, store=vs, errors_file=tmp_path / "e.jsonl", progress=False)
    assert (report.read, report.duplicates, report.upserted, report.failed) == (5, 1, 3, 1)
    docs = vs.get_by_ids([content_id("g two", None)])
    assert [d.page_content for d in docs] == ["g two"]
    assert "text" not in docs[0].metadata  # the text is the page content, not duplicated in metadata
    again = ingest(texts, store=vs, progress=False)  # get_by_ids makes re-runs skip stored records
    assert again.already_present == 3 and again.embedded == 0


def test_invalid_arguments(store: PineconeStore) -> None:
    with pytest.raises(ConfigurationError):
        ingest(["a"], store=store, chunk_size=0, progress=False)
    with pytest.raises(ConfigurationError):
        ingest(["a"], store=store, limit=-1, progress=False)
    with pytest.raises(ConfigurationError, match="not records"):
        ingest(["a"], store=store, column="text", progress=False)
    with pytest.raises(ConfigurationError):
        ingest(12345, store=store, progress=False)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------- retrieval qual
@pytest.mark.slow
def test_snli_recall_at_5_matches_the_reference(
    shared_data: Path | None, endpoint_url: str, pinecone_url: str, index_name: str
) -> None:
    """Hypotheses ingested through the real model endpoint, premises as queries: recall@5 is 0.9296."""
    if shared_data is None or not (shared_data / "snli_validation_partial.parquet").exists():
        pytest.skip("../shared/data/snli_validation_partial.parquet is not available")
    import pyarrow.parquet as pq

    path = shared_data / "snli_validation_partial.parquet"
    emb = InferenceEndpointEmbeddings(endpoint_url=endpoint_url)
    host = ensure_index(index_name, embeddings=emb, api_key="local", host=pinecone_url)
    store = PineconeStore(embedding=emb, pinecone_api_key="local", host=host)
    report = ingest(path, store=store, column="hypothesis", progress=False)
    assert (report.read, report.upserted, report.failed) == (1289, 1286, 0)

    table = pq.read_table(path).to_pylist()
    wanted: dict[str, set[str]] = {}
    for row in table:
        if row["label"] == 0:
            wanted.setdefault(row["premise"], set()).add(row["hypothesis"])
    premises = sorted(wanted)
    assert len(premises) == 398
    vectors = emb.embed_documents(premises)
    hits = 0
    for premise, vector in zip(premises, vectors, strict=True):
        results = store.similarity_search_by_vector_with_score(vector, k=5)
        hits += any(doc.page_content in wanted[premise] for doc, _ in results)
    assert round(hits / len(premises), 4) == 0.9296


def test_digest_set_is_exact_across_growth() -> None:
    """The dedup set (open addressing in numpy arrays) keeps every member through many table doublings."""
    from hf_pinecone.ingestion._dedup import DigestSet as _DigestSet

    digests = [hashlib.blake2b(str(i).encode(), digest_size=16).digest() for i in range(20_000)]
    seen = _DigestSet(capacity=8)
    assert all(seen.add(d) for d in digests)
    assert len(seen) == 20_000
    assert not any(seen.add(d) for d in digests)  # every member found again after 12 doublings
    # Colliding low bits (same first 8 bytes) still compare the whole digest.
    twin = digests[0][:8] + bytes(8)
    assert seen.add(twin) and not seen.add(twin)
    assert len(seen) == 20_001


def test_fast_path_needs_no_sdk_session(store: PineconeStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the index host and key known, ingest talks to the data plane alone (dimension check included).

    Opening the SDK's async session (an aiohttp session and a TLS context) is made to fail, so a run that
    still opened it would raise.
    """

    def no_session(self: PineconeStore) -> Any:
        raise AssertionError("the SDK's async index was asked for")

    monkeypatch.setattr(PineconeStore, "async_index", property(no_session))
    texts = [f"plane {i}" for i in range(50)]
    report = ingest(texts, store=store, progress=False)
    assert (report.upserted, report.failed) == (50, 0)
    assert store.index_dimension == DIM  # learned through the data plane
    assert vector_count(store) == 50
