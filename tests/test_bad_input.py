"""Bad input gets a typed error that names the problem, or a documented handling; nothing is half-written.

One test (or parametrized group) per row of ``docs/TROUBLESHOOTING.md``. Everything runs against the real
local servers over loopback HTTP (the bundled all-MiniLM-L6-v2 endpoint where tokenization matters, the
``HashEmbedder`` endpoint elsewhere, and the local Pinecone server). The only in-process fake is the
"broken endpoint" that answers NaN/inf, the wrong number of vectors or the wrong dimension: no real server
does that on demand, so a tiny Starlette app serves those canned bodies over real HTTP.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pinecone import Pinecone
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from typer.testing import CliRunner

from conftest import HashEndpoint, vector_count
from hf_pinecone.cli import app as cli_app
from hf_pinecone.embeddings import InferenceEndpointEmbeddings
from hf_pinecone.endpoint import EndpointClient
from hf_pinecone.errors import (
    ConfigurationError,
    EndpointAuthError,
    EndpointRequestError,
    EndpointResponseError,
    IndexMismatchError,
    IngestError,
    MetadataTooLargeError,
    PineconeRequestError,
    PineconeStoreError,
)
from hf_pinecone.ids import content_id
from hf_pinecone.ingestion import ingest
from hf_pinecone.local import run_in_background, serve_endpoint
from hf_pinecone.local.endpoint_server import HashEmbedder
from hf_pinecone.stack import open_stack
from hf_pinecone.store import PineconeStore, ensure_index

DIM = 16
ONE_MB = 1_000_000


@pytest.fixture
def hash_url(hash_endpoint: HashEndpoint) -> str:
    return hash_endpoint(DIM)


@pytest.fixture(scope="module")
def served_embedder() -> Iterator[tuple[str, Any]]:
    """A hash endpoint whose request counter the tests read (to prove nothing was sent)."""
    from hf_pinecone.local import create_endpoint_app

    app = create_endpoint_app(embedder=HashEmbedder(DIM))
    with run_in_background(app) as url:
        yield url, app.state.stats


@pytest.fixture
def emb(hash_url: str) -> Iterator[InferenceEndpointEmbeddings]:
    e = InferenceEndpointEmbeddings(endpoint_url=hash_url, hf_token=None, max_retries=1)
    yield e
    e.close()


@pytest.fixture
def store(emb: InferenceEndpointEmbeddings, pinecone_url: str, index_name: str) -> PineconeStore:
    host = ensure_index(index_name, dimension=DIM, api_key="local", host=pinecone_url)
    return PineconeStore(embedding=emb, pinecone_api_key="local", host=host)


def count(store: PineconeStore) -> int:
    return vector_count(store, None)


# ------------------------------------------------------------------------------ None / non-string items
@pytest.mark.parametrize("bad", [None, 3, b"bytes", ["nested"]])
def test_non_string_items_raise_type_error_naming_the_position(
    served_embedder: tuple[str, Any], bad: Any
) -> None:
    url, stats = served_embedder
    before = stats.requests
    emb = InferenceEndpointEmbeddings(endpoint_url=url, hf_token=None)
    with pytest.raises(TypeError, match=rf"texts\[2\] must be str, got {type(bad).__name__}"):
        emb.embed_documents(["a", "b", bad])
    with pytest.raises(TypeError, match=r"texts\[0\]"):
        emb.embed_query(bad)
    assert stats.requests == before  # refused before any request


async def test_non_string_items_async(served_embedder: tuple[str, Any]) -> None:
    url, _ = served_embedder
    emb = InferenceEndpointEmbeddings(endpoint_url=url, hf_token=None)
    with pytest.raises(TypeError, match=r"texts\[1\] must be str, got NoneType"):
        await emb.aembed_documents(["a", None])  # type: ignore[list-item]
    await emb.aclose()


def test_non_string_rows_in_ingest_go_to_the_errors_file(store: PineconeStore, tmp_path: Path) -> None:
    errors = tmp_path / "errors.jsonl"
    report = ingest(["good one", None, 42, "good two"], store=store, progress=False, errors_file=errors)
    assert (report.upserted, report.failed) == (2, 2)
    rows = [json.loads(line) for line in errors.read_text().splitlines()]
    assert [(r["row"], r["reason"]) for r in rows] == [
        (1, "text is NoneType, not a string"),
        (2, "text is int, not a string"),
    ]
    assert count(store) == 2


# ------------------------------------------------------------------------------------------ empty list
def test_empty_list_returns_empty_without_a_request(served_embedder: tuple[str, Any], store: PineconeStore) -> None:
    url, stats = served_embedder
    before = stats.requests
    emb = InferenceEndpointEmbeddings(endpoint_url=url, hf_token=None)
    assert emb.embed_documents([]) == []
    with EndpointClient(url) as client:
        assert client.embed([]) == [] and client.embed_detailed([]) == []
    assert stats.requests == before
    assert store.add_texts([]) == []
    report = ingest([], store=store, progress=False)
    assert (report.read, report.upserted, report.failed) == (0, 0, 0)


# -------------------------------------------------------------------------- empty / whitespace strings
def test_empty_and_whitespace_strings(emb: InferenceEndpointEmbeddings, store: PineconeStore, tmp_path: Path) -> None:
    """An empty text is refused before sending, by position (TEI answers the whole batch 400 Empty); whitespace
    is embedded as given (TEI embeds it); ingest rejects both."""
    with pytest.raises(ValueError, match=r"texts\[1\] is empty"):
        emb.embed_documents(["fine", "", "   "])
    vectors = emb.embed_documents(["   ", "\n\t"])
    assert len(vectors) == 2 and all(len(v) == DIM for v in vectors)
    errors = tmp_path / "errors.jsonl"
    report = ingest(["kept", "", "   ", "\n\t"], store=store, progress=False, errors_file=errors)
    assert (report.upserted, report.failed) == (1, 3)
    reasons = {json.loads(line)["reason"] for line in errors.read_text().splitlines()}
    assert reasons == {"empty or whitespace-only text"}
    assert count(store) == 1


# -------------------------------------------------------------------------------------- a 1 MB text
def test_one_megabyte_text_without_truncation_is_rejected_with_the_servers_reason(endpoint_url: str) -> None:
    """The real model endpoint refuses a text over its limit unless truncation is asked (TEI's 413 Validation:
    over 64,000 characters, core/src/tokenization.rs `tokenize_input`)."""
    huge = "word " * (ONE_MB // 5)
    emb = InferenceEndpointEmbeddings(endpoint_url=endpoint_url, hf_token=None, truncate=False)
    with pytest.raises(EndpointRequestError) as caught:
        emb.embed_documents([huge])
    assert caught.value.status_code == 413
    assert "must have less than 64000 characters" in str(caught.value) and endpoint_url in str(caught.value)
    # embed_detailed isolates it: the neighbour still gets its vector.
    with EndpointClient(endpoint_url, truncate=False) as client:
        results = client.embed_detailed(["a short text", huge])
    assert isinstance(results[0], list) and isinstance(results[1], EndpointRequestError)
    emb.close()


def test_one_megabyte_text_with_truncation_is_embedded(endpoint_url: str) -> None:
    huge = "word " * (ONE_MB // 5)
    emb = InferenceEndpointEmbeddings(endpoint_url=endpoint_url, hf_token=None, truncate=True)
    [vector] = emb.embed_documents([huge])
    assert len(vector) == 384 and all(math.isfinite(x) for x in vector)
    emb.close()


def test_text_too_big_for_one_request_is_refused_before_sending(served_embedder: tuple[str, Any]) -> None:
    """Over the 2 MB body limit even alone: a typed error without a request; detailed mode isolates it."""
    url, stats = served_embedder
    before = stats.requests
    with EndpointClient(url) as client:
        with pytest.raises(EndpointRequestError, match="split or shorten the text"):
            client.embed(["x" * 2_100_000])
        results = client.embed_detailed(["fine", "x" * 2_100_000])
    assert isinstance(results[0], list) and isinstance(results[1], EndpointRequestError)
    assert stats.requests == before + 1  # only "fine" was sent


def test_one_megabyte_text_in_a_store(store: PineconeStore, tmp_path: Path) -> None:
    """As Pinecone metadata a 1 MB text is over 40 KB: a typed error naming the record, nothing written;
    ``truncate_text=True`` stores a shortened text under the full text's id; ingest rejects the record."""
    huge = "word " * (ONE_MB // 5)
    with pytest.raises(MetadataTooLargeError) as caught:
        store.add_texts(["small", huge])
    assert caught.value.record_id == content_id(huge, None) and caught.value.size > 40_960
    assert count(store) == 0  # nothing half-written

    truncating = PineconeStore(
        embedding=store.embeddings, pinecone_api_key="local", host=store.host, truncate_text=True
    )
    [stored_id] = truncating.add_texts([huge])
    assert stored_id == content_id(huge, None)
    [doc] = truncating.get_by_ids([stored_id])
    assert huge.startswith(doc.page_content) and 30_000 < len(doc.page_content.encode()) <= 40_960

    errors = tmp_path / "errors.jsonl"
    report = ingest(["next to it", huge], store=store, progress=False, errors_file=errors)
    assert (report.upserted, report.failed) == (1, 1)
    assert "over Pinecone's limit of 40960 bytes" in json.loads(errors.read_text())["reason"]


# ------------------------------------------------------------------------------------- lone surrogates
def test_lone_surrogates_are_refused_naming_the_text(
    served_embedder: tuple[str, Any], store: PineconeStore, tmp_path: Path
) -> None:
    url, stats = served_embedder
    before = stats.requests
    bad = "caf\udce9 au lait"  # what bytes decoded with errors="surrogateescape" look like
    emb = InferenceEndpointEmbeddings(endpoint_url=url, hf_token=None)
    with pytest.raises(ValueError, match=r"texts\[1\] is not valid Unicode .*position 3"):
        emb.embed_documents(["fine", bad])
    assert stats.requests == before
    with pytest.raises(ValueError, match=r"texts\[0\] is not valid Unicode"):
        store.add_texts([bad])
    errors = tmp_path / "errors.jsonl"
    report = ingest(["fine", bad], store=store, progress=False, errors_file=errors)
    assert (report.upserted, report.failed) == (1, 1)
    assert "not valid Unicode" in json.loads(errors.read_text())["reason"]


# --------------------------------------------------------------------------- broken endpoint answers
BROKEN_BODIES = {
    "nan": b'{"embeddings": [[1.0, NaN], [1.0, 2.0]]}',
    "inf": b"[[1.0, Infinity], [1.0, 2.0]]",
    "null": b"[[1.0, null], [1.0, 2.0]]",
    "too few vectors": b"[[1.0, 2.0]]",
    "too many vectors": b"[[1.0, 2.0], [1.0, 2.0], [3.0, 4.0]]",
    "unequal dimensions": b"[[1.0, 2.0], [1.0]]",
    "error in a 200": b'{"error": "something broke"}',
    "token-level 3-D": b"[[[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.0]]]",
}
EXPECTED_MESSAGE = {
    "nan": "non-finite",
    "inf": "non-finite",
    "null": "non-number",
    "too few vectors": "expected 2 vectors, got 1",
    "too many vectors": "expected 2 vectors, got 3",
    "unequal dimensions": "dimension 1, vector 0 has 2",
    "error in a 200": "carries an error",
    "token-level 3-D": "token-level",
}


@pytest.fixture(scope="module")
def broken_endpoint() -> Iterator[tuple[str, dict[str, bytes]]]:
    """In-process fake (see module docstring): answers 200 with whatever body the test puts in ``answer``."""
    answer: dict[str, bytes] = {"body": b"[]"}

    async def handle(request: Request) -> Response:
        return Response(answer["body"], media_type="application/json")

    app = Starlette(routes=[Route("/", handle, methods=["POST"])])
    with run_in_background(app) as url:
        yield url, answer


@pytest.mark.parametrize("method", ["embed_documents", "embed_documents_encoded"])
@pytest.mark.parametrize("kind", sorted(BROKEN_BODIES))
def test_broken_endpoint_answers_are_malformed_response_errors(
    broken_endpoint: tuple[str, dict[str, bytes]], kind: str, method: str
) -> None:
    """Ingestion asks for encoded vectors: an answer the splitter does not take is decoded and judged the same way."""
    url, answer = broken_endpoint
    answer["body"] = BROKEN_BODIES[kind]
    emb = InferenceEndpointEmbeddings(endpoint_url=url, hf_token=None, max_retries=0)
    with pytest.raises(EndpointResponseError) as caught:
        getattr(emb, method)(["a", "b"])
    assert EXPECTED_MESSAGE[kind] in str(caught.value) and url in str(caught.value)
    emb.close()


def test_wrong_dimension_from_the_endpoint_stops_ingest_with_nothing_written(
    broken_endpoint: tuple[str, dict[str, bytes]], pinecone_url: str, index_name: str
) -> None:
    """The endpoint answers well-formed vectors of dimension 2 for an index of dimension 16."""
    url, answer = broken_endpoint
    answer["body"] = json.dumps([[1.0, 2.0]] * 3).encode()
    emb = InferenceEndpointEmbeddings(endpoint_url=url, hf_token=None, max_retries=0)
    host = ensure_index(index_name, dimension=DIM, api_key="local", host=pinecone_url)
    store = PineconeStore(embedding=emb, pinecone_api_key="local", host=host)
    with pytest.raises(IngestError, match=r"dimension 2\b.*dimension 16|dimension 16\b.*dimension 2\b") as caught:
        ingest(["a", "b", "c"], store=store, progress=False)
    assert isinstance(caught.value.__cause__, IndexMismatchError)
    assert count(store) == 0
    answer["body"] = json.dumps([[float("nan"), 1.0]] * 3).encode()  # json.dumps writes NaN
    with pytest.raises(IngestError, match="non-finite"):
        ingest(["a", "b", "c"], store=store, progress=False)
    assert count(store) == 0


# --------------------------------------------------------------------------------- 401 and 404
def test_bad_token_is_an_auth_error_without_the_token(store: PineconeStore) -> None:
    token = "hf_WrongTokenForTests1234567890"
    with serve_endpoint(embedder=HashEmbedder(DIM), api_key="the-right-key") as url:
        emb = InferenceEndpointEmbeddings(endpoint_url=url, hf_token=token)
        with pytest.raises(EndpointAuthError) as caught:
            emb.embed_documents(["a"])
        assert caught.value.status_code == 401 and token not in str(caught.value)
        with pytest.raises(IngestError, match="refused the credentials") as failed:
            ingest(["a", "b"], store=store, embeddings=emb, progress=False)
        assert token not in str(failed.value)
        emb.close()
    assert count(store) == 0


def test_wrong_url_is_a_request_error_that_is_not_bisected(
    served_embedder: tuple[str, Any], store: PineconeStore
) -> None:
    """404 is a run-level error: one request, not one per record, and ingest stops saying so."""
    url, stats = served_embedder
    emb = InferenceEndpointEmbeddings(endpoint_url=url + "/no-such-route", hf_token=None)
    before = stats.requests
    with pytest.raises(EndpointRequestError) as caught:
        emb.embed_documents([f"t{i}" for i in range(10)])
    assert caught.value.status_code == 404 and "/no-such-route" in str(caught.value)
    with EndpointClient(url + "/no-such-route") as client, pytest.raises(EndpointRequestError):
        client.embed_detailed([f"t{i}" for i in range(10)])
    with pytest.raises(IngestError, match="404"):
        ingest([f"t{i}" for i in range(10)], store=store, embeddings=emb, progress=False)
    assert count(store) == 0
    emb.close()
    assert stats.requests == before  # 404s come from the router, not from the embed handler


# ----------------------------------------------------------------------- dimension mismatch with an index
def test_dimension_mismatch_with_an_existing_index(store: PineconeStore, pinecone_url: str, index_name: str) -> None:
    with pytest.raises(IndexMismatchError) as caught:
        ensure_index(index_name, dimension=384, api_key="local", host=pinecone_url)
    assert "16" in str(caught.value) and "384" in str(caught.value)
    with pytest.raises(IndexMismatchError, match="16"):
        store.upsert_vectors([("a", [1.0] * 384, {"text": "a"})])
    assert count(store) == 0


def test_dimension_mismatch_through_the_stack_names_both(hash_url: str, pinecone_url: str) -> None:
    """open_stack (what the CLI uses) probes the endpoint and refuses an index of another dimension."""
    ensure_index("mismatch-384", dimension=384, api_key="local", host=pinecone_url)
    with pytest.raises(IndexMismatchError) as caught, open_stack(
        endpoint_url=hash_url, controller_host=pinecone_url, index_name="mismatch-384"
    ):
        pass
    assert "384" in str(caught.value) and str(DIM) in str(caught.value)


# ------------------------------------------------------------------------------------------- metadata
def test_metadata_over_40_kb_names_the_record_and_writes_nothing(store: PineconeStore) -> None:
    meta = {"blob": "x" * 41_000}
    with pytest.raises(MetadataTooLargeError) as caught:
        store.add_texts(["ok", "too big"], metadatas=[{}, meta], ids=["ok", "big-one"])
    assert caught.value.record_id == "big-one" and "big-one" in str(caught.value)
    assert count(store) == 0
    assert meta == {"blob": "x" * 41_000}  # the caller's dict is untouched
    with pytest.raises(MetadataTooLargeError):
        store.upsert_vectors([("big-one", [1.0] * DIM, meta)])


def test_metadata_over_40_kb_in_ingest_is_one_rejected_record(store: PineconeStore, tmp_path: Path) -> None:
    rows = [{"text": "small", "note": "n"}, {"text": "large", "note": "y" * 41_000}]
    errors = tmp_path / "errors.jsonl"
    report = ingest(rows, store=store, progress=False, errors_file=errors)
    assert (report.upserted, report.failed) == (1, 1)
    assert json.loads(errors.read_text())["text"] == "large"


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"a": None}, "null"),
        ({"a": {"b": 1}}, "nested object"),
        ({"a": [1, 2]}, "list"),
        ({"a": [{"b": 1}]}, "list"),
        ({"a": float("nan")}, "NaN|finite|nan"),
    ],
    ids=["null", "nested", "list-of-numbers", "list-of-objects", "nan"],
)
def test_invalid_metadata_values_are_typed_errors_naming_the_key(
    store: PineconeStore, metadata: dict[str, Any], message: str
) -> None:
    with pytest.raises(PineconeStoreError, match=message) as caught:
        store.add_texts(["fine", "bad"], metadatas=[{}, metadata])
    assert "'a'" in str(caught.value)
    assert count(store) == 0


def test_null_and_nested_metadata_in_ingest(store: PineconeStore, tmp_path: Path) -> None:
    """Documented: a None column value is left out (Pinecone has no null); a nested value rejects the row."""
    rows = [
        {"text": "with a null", "label": None, "n": 1},
        {"text": "with a nested value", "label": {"x": 1}},
        {"text": "plain", "label": "ok"},
    ]
    errors = tmp_path / "errors.jsonl"
    report = ingest(rows, store=store, progress=False, errors_file=errors)
    assert (report.upserted, report.failed) == (2, 1)
    docs = {d.page_content: d.metadata for d in store.get_by_ids([content_id(r["text"], None) for r in rows])}
    assert docs == {"with a null": {"n": 1.0}, "plain": {"label": "ok"}}
    assert json.loads(errors.read_text())["text"] == "with a nested value"


# ----------------------------------------------------------------------------------- invalid index name
@pytest.mark.parametrize("name", ["Upper", "under_score", "-leading", "trailing-", "x" * 46, ""])
def test_invalid_index_name(name: str, pinecone_url: str, hash_url: str) -> None:
    with pytest.raises(ConfigurationError, match="index name"):
        ensure_index(name, dimension=DIM, api_key="local", host=pinecone_url)
    with pytest.raises(ConfigurationError, match="index name"), open_stack(
        endpoint_url=hash_url, controller_host=pinecone_url, index_name=name
    ):
        pass
    assert name not in [i.name for i in Pinecone(api_key="local", host=pinecone_url).list_indexes()]


def test_invalid_index_name_in_the_cli_is_one_line(monkeypatch: pytest.MonkeyPatch, hash_url: str) -> None:
    monkeypatch.setenv("HF_ENDPOINT_URL", hash_url)
    result = CliRunner().invoke(cli_app, ["query", "hello", "--index", "Bad_Name"])
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: invalid index name 'Bad_Name'")


# ------------------------------------------------------------------------------ unknown filter operator
def test_unknown_filter_operator_is_a_400_naming_it(store: PineconeStore) -> None:
    """Documented handling: a library error (never the SDK's) with Pinecone's status and its own message."""
    store.add_texts(["a"], metadatas=[{"genre": "drama"}])
    with pytest.raises(PineconeRequestError) as caught:
        store.similarity_search("a", filter={"genre": {"$regex": "dr.*"}})
    assert caught.value.status_code == 400 and "$regex" in str(caught.value.server_message)
    assert caught.value.attempts == 1  # a 400 is not retried
    assert [d.page_content for d in store.similarity_search("a", k=1, filter={"genre": {"$eq": "drama"}})] == ["a"]


async def test_unknown_filter_operator_async(store: PineconeStore) -> None:
    await store.aadd_texts(["a"])
    with pytest.raises(PineconeRequestError) as caught:
        await store.asimilarity_search("a", filter={"genre": {"$like": "x"}})
    assert caught.value.status_code == 400 and "$like" in str(caught.value.server_message)


def test_unknown_filter_operator_in_the_cli_is_one_line(
    monkeypatch: pytest.MonkeyPatch, hash_url: str, pinecone_url: str
) -> None:
    ensure_index("filter-cli", dimension=DIM, api_key="local", host=pinecone_url)
    monkeypatch.setenv("HF_ENDPOINT_URL", hash_url)
    monkeypatch.setenv("PINECONE_CONTROLLER_HOST", pinecone_url)
    result = CliRunner().invoke(
        cli_app, ["query", "hello", "--index", "filter-cli", "--filter", '{"genre": {"$regex": "x"}}']
    )
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "400" in lines[0] and "$regex" in lines[0]
    bad_json = CliRunner().invoke(cli_app, ["query", "hello", "--index", "filter-cli", "--filter", "{oops"])
    assert bad_json.exit_code == 1 and "--filter is not valid JSON" in bad_json.stderr

