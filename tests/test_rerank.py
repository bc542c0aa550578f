"""Reranking: the local endpoint's TEI ``/rerank``, :class:`EndpointReranker`, and the LangChain classes.

Everything runs over loopback HTTP against the local endpoint serving the bundled all-MiniLM-L6-v2, and the
LangChain retriever over a real ``PineconeStore`` on the local Pinecone server.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import httpx
import pytest
from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_classic.retrievers.document_compressors import CrossEncoderReranker
from langchain_core.documents import Document

from hf_pinecone import (
    ConfigurationError,
    EndpointAuthError,
    EndpointRequestError,
    EndpointReranker,
    EndpointUnavailableError,
    InferenceEndpointCrossEncoder,
    InferenceEndpointEmbeddings,
    InferenceEndpointReranker,
    PineconeStore,
    RerankInputError,
    ensure_index,
)
from hf_pinecone.local import serve_endpoint
from hf_pinecone.local._runner import run_in_background
from hf_pinecone.rerank import parse_rerank_scores, rerank_url
from hf_pinecone.testing import LocalStandIns

QUERY = "A man is playing a guitar."
TEXTS = [
    "The stock market fell sharply today.",
    "A musician plays an acoustic guitar on stage.",
    "A cat sleeps on a windowsill.",
    "Someone is strumming a guitar.",
    "Two dogs run through the snow.",
]
GUITAR = {1, 3}

TOKEN = "hf_rerankTestToken0123456"


@pytest.fixture(scope="module")
def small_batch_endpoint() -> Iterator[str]:
    """A local endpoint whose max_client_batch_size is 2 (so 5 texts take 3 requests)."""
    with serve_endpoint(max_batch_size=2) as url:
        yield url


@pytest.fixture(scope="module")
def secured_endpoint() -> Iterator[str]:
    with serve_endpoint(api_key=TOKEN) as url:
        yield url


# ------------------------------------------------------------------------------------ the local route (TEI)
def test_local_rerank_answers_tei_ranks_sorted_by_score(endpoint_url: str) -> None:
    """TEI server.rs ``rerank``: ``[{"index", "score", "text"?}]``, highest score first."""
    body = {"query": QUERY, "texts": TEXTS, "return_text": True}
    ranks = httpx.post(f"{endpoint_url}/rerank", json=body).json()
    assert sorted(r["index"] for r in ranks) == list(range(len(TEXTS)))
    assert [r["score"] for r in ranks] == sorted((r["score"] for r in ranks), reverse=True)
    assert {ranks[0]["index"], ranks[1]["index"]} == GUITAR
    assert all(r["text"] == TEXTS[r["index"]] for r in ranks)
    assert all(0 < r["score"] < 1 for r in ranks)  # sigmoid-activated by default
    plain = httpx.post(f"{endpoint_url}/rerank", json={"query": QUERY, "texts": TEXTS}).json()
    assert all("text" not in r for r in plain)
    raw = httpx.post(f"{endpoint_url}/rerank", json={"query": QUERY, "texts": TEXTS, "raw_scores": True}).json()
    assert [r["index"] for r in raw] == [r["index"] for r in plain]  # same ranks, other scale
    assert min(r["score"] for r in raw) < 0.3  # cosine, not sigmoid(cosine) >= 0.27 for unrelated texts


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"query": QUERY, "texts": []}, 413, "`texts` cannot be empty"),
        ({"query": QUERY, "texts": ["a"] * 33}, 413, "batch size 33 > maximum allowed batch size 32"),
        ({"texts": ["a"]}, 422, "missing field `query`"),
        ({"query": QUERY}, 422, "missing field `texts`"),
        ({"query": QUERY, "texts": [1]}, 422, "texts"),
        ({"query": QUERY, "texts": ["a"], "raw_scores": "yes"}, 422, "raw_scores"),
        ({"query": QUERY, "texts": ["a"], "truncation_direction": "Up"}, 422, "truncation_direction"),
    ],
)
def test_local_rerank_refuses_as_tei(endpoint_url: str, body: dict[str, object], status: int, message: str) -> None:
    """TEI's statuses: Validation 413 (empty texts, batch size), axum's 422 plain text for bad fields."""
    response = httpx.post(f"{endpoint_url}/rerank", json=body)
    assert response.status_code == status
    assert message in response.text


def test_local_rerank_bad_json_and_auth(endpoint_url: str, secured_endpoint: str) -> None:
    response = httpx.post(f"{endpoint_url}/rerank", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400 and "Failed to parse the request body as JSON" in response.text
    assert httpx.post(f"{secured_endpoint}/rerank", json={"query": QUERY, "texts": TEXTS}).status_code == 401
    ok = httpx.post(
        f"{secured_endpoint}/rerank",
        json={"query": QUERY, "texts": TEXTS},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert ok.status_code == 200


# ------------------------------------------------------------------------------------------- the client
def test_reranker_splits_at_the_endpoint_batch_size_and_merges(small_batch_endpoint: str) -> None:
    """``max_client_batch_size`` 2 from ``/info``: 5 texts go as 3 requests, scores come back in input order."""
    with EndpointReranker(small_batch_endpoint) as reranker:
        before = httpx.get(f"{small_batch_endpoint}/info").json()["max_client_batch_size"]
        scores = reranker.score(QUERY, TEXTS)
        assert before == 2 and reranker.batch_size == 2
        with EndpointReranker(small_batch_endpoint, batch_size=32) as whole:  # one request: TEI would refuse it...
            assert whole.score(QUERY, TEXTS[:2]) == pytest.approx(scores[:2])
        ranked = reranker.rerank(QUERY, TEXTS, top_n=2)
    assert {r.index for r in ranked} == GUITAR
    assert [r.score for r in ranked] == sorted((scores[i] for i in GUITAR), reverse=True)
    assert len(scores) == len(TEXTS)


def test_reranker_learns_a_lower_batch_size_from_tei_413(small_batch_endpoint: str) -> None:
    """A configured batch size above the endpoint's: its 413 "batch size N > maximum allowed batch size 2"."""
    with EndpointReranker(small_batch_endpoint, batch_size=5) as reranker:
        scores = reranker.score(QUERY, TEXTS)
        assert reranker.batch_size == 2
    with EndpointReranker(small_batch_endpoint) as reference:
        assert scores == pytest.approx(reference.score(QUERY, TEXTS))


async def test_async_rerank_matches_sync(small_batch_endpoint: str) -> None:
    reranker = EndpointReranker(small_batch_endpoint)
    try:
        sync = await asyncio.to_thread(reranker.rerank, QUERY, TEXTS)
        many = await asyncio.gather(*(reranker.arerank(QUERY, TEXTS) for _ in range(3)))
    finally:
        await reranker.aclose()
    for ranked in many:
        assert [r.index for r in ranked] == [r.index for r in sync]
        assert [r.score for r in ranked] == pytest.approx([r.score for r in sync])


def test_reranker_bad_input_is_typed_and_sends_nothing(endpoint_url: str) -> None:
    with EndpointReranker(endpoint_url) as reranker:
        with pytest.raises(RerankInputError, match="no texts to rerank"):
            reranker.rerank(QUERY, [])
        with pytest.raises(RerankInputError, match="query is empty"):
            reranker.rerank("  ", TEXTS)
        with pytest.raises(TypeError, match=r"texts\[1\] must be str"):
            reranker.score(QUERY, ["a", 2])  # type: ignore[list-item]
        with pytest.raises(TypeError, match="not a single string"):
            reranker.score(QUERY, "one text")
        with pytest.raises(ConfigurationError, match="top_n"):
            reranker.rerank(QUERY, TEXTS, top_n=0)
        assert reranker._client is None  # nothing was sent
    with pytest.raises(ConfigurationError, match="request_format"):
        EndpointReranker(endpoint_url, request_format="cohere")  # type: ignore[arg-type]


def test_reranker_errors_are_typed_and_never_show_the_token(secured_endpoint: str) -> None:
    wrong = "hf_wrongRerankToken9876543"
    with EndpointReranker(secured_endpoint, token=wrong) as reranker, pytest.raises(EndpointAuthError) as info:
        reranker.rerank(QUERY, TEXTS)
    assert wrong not in str(info.value) and wrong not in repr(reranker)
    with EndpointReranker(secured_endpoint, token=TOKEN) as reranker:
        assert len(reranker.rerank(QUERY, TEXTS)) == len(TEXTS)
    compressor = InferenceEndpointReranker(endpoint_url=secured_endpoint, hf_token=TOKEN)
    assert TOKEN not in repr(compressor) and TOKEN not in str(compressor.model_dump())
    with EndpointReranker(f"{secured_endpoint}/nowhere", token=TOKEN) as reranker, pytest.raises(EndpointRequestError):
        reranker.rerank(QUERY, TEXTS)  # 404: not retried, typed


def test_rerank_url_and_response_parsing() -> None:
    assert rerank_url("https://x.endpoints.huggingface.cloud/") == "https://x.endpoints.huggingface.cloud/rerank"
    assert rerank_url("http://h:8080/rerank") == "http://h:8080/rerank"
    assert rerank_url("https://x.cloud/", "sentence-ranking") == "https://x.cloud/"
    assert parse_rerank_scores([{"index": 1, "score": 0.2}, {"index": 0, "score": 0.9}], expected=2) == [0.9, 0.2]
    assert parse_rerank_scores({"scores": [0.1, 0.3]}, expected=2) == [0.1, 0.3]
    from hf_pinecone import EndpointResponseError

    for bad in ([{"index": 0, "score": 1}, {"index": 0, "score": 2}], [{"index": 5, "score": 1}], [0.1], {"x": 1}):
        with pytest.raises(EndpointResponseError):
            parse_rerank_scores(bad, expected=2)


def test_toolkit_sentence_ranking_format(endpoint_url: str) -> None:
    """The inference toolkit's sentence-ranking task shape, against an app serving that task over loopback."""
    from hf_pinecone.local._rerank_route import create_sentence_ranking_app

    with LocalStandIns() as stand_ins:
        app = create_sentence_ranking_app(embedder=stand_ins.embedder)
        with run_in_background(app) as url:
            toolkit = EndpointReranker(url, request_format="sentence-ranking")
            tei = EndpointReranker(endpoint_url, raw_scores=True)
            try:
                raw = httpx.post(url, json={"inputs": [[QUERY, t] for t in TEXTS]}).json()
                assert list(raw) == ["scores"] and len(raw["scores"]) == len(TEXTS)
                assert toolkit.score(QUERY, TEXTS) == pytest.approx(tei.score(QUERY, TEXTS), abs=1e-5)
            finally:
                toolkit.close()
                tei.close()


# ------------------------------------------------------------------------------------------- LangChain
@pytest.fixture(scope="module")
def store(endpoint_url: str, pinecone_url: str) -> Iterator[PineconeStore]:
    embeddings = InferenceEndpointEmbeddings(endpoint_url=endpoint_url)
    host = ensure_index(f"t-rr-{uuid.uuid4().hex[:10]}", embeddings=embeddings, api_key="local", host=pinecone_url)
    store = PineconeStore(embedding=embeddings, pinecone_api_key="local", host=host)
    store.add_texts(TEXTS, metadatas=[{"n": i} for i in range(len(TEXTS))])
    yield store
    embeddings.close()


async def test_contextual_compression_retriever_over_pinecone(store: PineconeStore, endpoint_url: str) -> None:
    """LangChain's ContextualCompressionRetriever: dense candidates from Pinecone, reranked, top_n kept."""
    reranker = InferenceEndpointReranker(endpoint_url=endpoint_url, top_n=2)
    retriever = ContextualCompressionRetriever(
        base_compressor=reranker, base_retriever=store.as_retriever(search_kwargs={"k": 5})
    )
    docs = retriever.invoke(QUERY)
    adocs = await retriever.ainvoke(QUERY)
    for got in (docs, adocs):
        assert {d.page_content for d in got} == {TEXTS[i] for i in GUITAR}
        scores = [d.metadata["relevance_score"] for d in got]
        assert scores == sorted(scores, reverse=True)
        assert {d.metadata["n"] for d in got} == GUITAR  # the store's metadata is kept
        assert all(d.id for d in got)
    await reranker.aclose()


def test_compressor_never_mutates_the_callers_documents(endpoint_url: str) -> None:
    docs = [Document(page_content=t, metadata={"n": i}, id=str(i)) for i, t in enumerate(TEXTS)]
    reranker = InferenceEndpointReranker(endpoint_url=endpoint_url, top_n=None)
    out = reranker.compress_documents(docs, QUERY)
    assert [d.metadata for d in docs] == [{"n": i} for i in range(len(TEXTS))]
    assert len(out) == len(TEXTS) and {d.id for d in out} == {str(i) for i in range(len(TEXTS))}
    assert all("relevance_score" in d.metadata for d in out)
    assert reranker.compress_documents([], QUERY) == []
    assert reranker.rerank(TEXTS, QUERY, top_n=1)[0]["index"] in GUITAR
    reranker.close()


def test_cross_encoder_reranker_takes_the_cross_encoder(endpoint_url: str) -> None:
    """langchain_classic's CrossEncoderReranker with InferenceEndpointCrossEncoder as its model."""
    model = InferenceEndpointCrossEncoder(endpoint_url=endpoint_url)
    docs = [Document(page_content=t) for t in TEXTS]
    kept = CrossEncoderReranker(model=model, top_n=2).compress_documents(docs, QUERY)
    assert {d.page_content for d in kept} == {TEXTS[i] for i in GUITAR}
    pairs = [(QUERY, TEXTS[1]), ("A cat naps.", TEXTS[2]), (QUERY, TEXTS[0])]
    scores = model.score(pairs)
    assert scores[0] > scores[2] and len(scores) == 3
    with pytest.raises(RerankInputError):
        model.score([])
    model.close()


# ------------------------------------------------------------------------------------ retries, cold start
def test_reranker_retries_and_waits_out_a_cold_start_like_the_embeddings_client() -> None:
    """Faults in front of the real endpoint app (FaultInjector): the reranker retries 429/5xx, a reset and a
    cut-off body, and waits out a scaled-to-zero start (503s), through the embeddings client's machinery."""
    from hf_pinecone import RetryPolicy
    from hf_pinecone.local.faults import Fault, FaultPlan

    script = [Fault.RATE_LIMIT, Fault.SERVER_ERROR, Fault.RESET, Fault.TRUNCATED, Fault.BAD_GATEWAY]
    plan = FaultPlan(script=script, methods={"POST"}, paths={"/rerank"})
    fast = RetryPolicy(max_retries=6, backoff_base=0.01, backoff_max=0.05)
    with LocalStandIns() as stand_ins, serve_endpoint(embedder=stand_ins.embedder, faults=plan) as url:
        with EndpointReranker(url, retry=fast) as reranker:
            ranked = reranker.rerank(QUERY, TEXTS, top_n=2)
        assert {r.index for r in ranked} == GUITAR
        assert plan.stats.matched == len(script) + 1 and plan.stats.total_injected == len(script)

    cold = FaultPlan(methods={"POST"}, paths={"/rerank"}, cold_start_requests=3)
    no_retries = RetryPolicy(max_retries=0, backoff_base=0.01)
    with LocalStandIns() as stand_ins, serve_endpoint(embedder=stand_ins.embedder, faults=cold) as url:
        rr = EndpointReranker(url, retry=no_retries, cold_start_timeout=30)
        # max_retries=0: waiting out the cold start is bounded by cold_start_timeout, not by retries.
        assert {r.index for r in rr.rerank(QUERY, TEXTS, top_n=2)} == GUITAR
        assert cold.stats.injected.get("cold_start") == 3
        rr.close()

    down = FaultPlan(script=[Fault.UNAVAILABLE] * 3, methods={"POST"}, paths={"/rerank"})
    with LocalStandIns() as stand_ins, serve_endpoint(embedder=stand_ins.embedder, faults=down) as url:
        rr = EndpointReranker(url, retry=RetryPolicy(max_retries=1, backoff_base=0.01), cold_start_timeout=0)
        with pytest.raises(EndpointUnavailableError, match="503"):
            rr.rerank(QUERY, TEXTS)
        rr.close()


def test_local_rerank_truncation_and_payload_limits(endpoint_url: str) -> None:
    """TEI: a pair over the model's limit without ``truncate`` is a Validation error (413); a body over the
    payload limit is the framework's plain-text 413."""
    long_text = "guitar " * 1000
    refused = httpx.post(f"{endpoint_url}/rerank", json={"query": QUERY, "texts": [long_text], "truncate": False})
    assert refused.status_code == 413 and refused.json()["error_type"] == "Validation"
    ok = httpx.post(f"{endpoint_url}/rerank", json={"query": QUERY, "texts": [long_text], "truncate": True})
    assert ok.status_code == 200 and ok.json()[0]["index"] == 0
    huge = httpx.post(f"{endpoint_url}/rerank", json={"query": QUERY, "texts": ["x" * 2_100_000]})
    assert huge.status_code == 413 and huge.text == "Failed to buffer the request body: length limit exceeded"
    with EndpointReranker(endpoint_url) as reranker, pytest.raises(EndpointRequestError, match="not sent"):
        reranker.rerank(QUERY, ["x" * 2_100_000])  # refused before sending, like the embeddings client
