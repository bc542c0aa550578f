"""Inference Endpoint lifecycle through huggingface_hub, offline against the local management API stand-in.

Every call goes through the real ``huggingface_hub`` client over loopback HTTP to
:mod:`hf_pinecone.local.hf_api_server`, whose endpoint URLs serve real embeddings behind a state gate (the
local endpoint app with the bundled all-MiniLM-L6-v2 for that repository, deterministic hash vectors for any
other). States move one step per observation, so no test sleeps.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from hf_pinecone import lifecycle
from hf_pinecone.endpoint import EndpointClient
from hf_pinecone.errors import ConfigurationError, EndpointError, HfPineconeError
from hf_pinecone.lifecycle import (
    EndpointConflictError,
    EndpointFailedError,
    EndpointLifecycleError,
    EndpointNotFoundError,
    EndpointPausedError,
    EndpointScaledToZeroError,
    EndpointWaitTimeoutError,
    LifecycleAuthError,
)
from hf_pinecone.local.hf_api_server import HfApiStandIn, create_hf_api_app, serve_hf_api

TOKEN = "s3cret-lifecycle-token-0042"  # not hf_-shaped, so only our own scrubbing can hide it
NS = "acme"
REPO = "sentence-transformers/all-MiniLM-L6-v2"
DIM = 384  # the bundled all-MiniLM-L6-v2, which serves REPO's endpoints
HASH_REPO = "intfloat/e5-small-v2"  # any other repository: hash vectors of HASH_DIM
HASH_DIM = 16
FAST = {"refresh_every": 0.01, "timeout": 30.0}


@dataclass
class HfApi:
    url: str
    stand_in: HfApiStandIn


@pytest.fixture(scope="module")
def hf_api() -> Iterator[HfApi]:
    """The stand-in (token required), with huggingface_hub pointed at it for the whole module."""
    app: Any = create_hf_api_app(dimension=HASH_DIM, token=TOKEN, fail_repositories={"broken/model"})
    with serve_hf_api(app=app, patch=True) as url:
        yield HfApi(url=url, stand_in=app.stand_in)


@pytest.fixture
def name() -> str:
    return f"emb-{uuid.uuid4().hex[:10]}"


def _embed(url: str, texts: list[str]) -> httpx.Response:
    return httpx.post(url, json={"inputs": texts}, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)


def test_create_wait_use_pause_resume_scale_to_zero_delete(hf_api: HfApi, name: str) -> None:
    info = lifecycle.ensure_endpoint(name, repository=REPO, namespace=NS, token=TOKEN, **FAST)
    assert info.running and info.status == "running"
    assert info.url == f"{hf_api.url}/endpoints/{NS}/{name}"
    assert (info.repository, info.task, info.framework) == (REPO, "sentence-embeddings", "pytorch")
    sent = hf_api.stand_in.payload_of(NS, name)
    assert sent is not None
    assert sent["compute"]["instanceType"] == lifecycle.DEFAULT_INSTANCE_TYPE
    assert sent["compute"]["scaling"] == {"minReplica": 0, "maxReplica": 1, "scaleToZeroTimeout": 15}
    assert sent["model"]["image"] == {"huggingface": {}}

    # The URL huggingface_hub reported serves real embeddings, through the project's own client.
    with EndpointClient(url=info.url, token=TOKEN) as client:
        vectors = client.embed(["first text", "second text"])
    assert [len(v) for v in vectors] == [DIM, DIM]
    assert vectors[0] != vectors[1]

    assert lifecycle.pause_endpoint(name, namespace=NS, token=TOKEN).status == "paused"
    paused = _embed(info.url, ["x"])  # Hugging Face's proxy: 400, not a cold start's 503
    assert (paused.status_code, paused.json()) == (400, {"error": "Bad Request: Invalid state"})

    resumed = lifecycle.resume_endpoint(name, namespace=NS, token=TOKEN, wait=True, **FAST)
    assert resumed.running
    assert _embed(info.url, ["x"]).status_code == 200

    assert lifecycle.scale_endpoint_to_zero(name, namespace=NS, token=TOKEN).status == "scaledToZero"
    cold = _embed(info.url, ["first text"])
    assert cold.status_code == 503  # the request starts a replica ...
    warm = _embed(info.url, ["first text"])
    assert warm.status_code == 200  # ... which then serves it
    assert warm.json()["embeddings"][0] == pytest.approx(vectors[0])
    assert lifecycle.endpoint_status(name, namespace=NS, token=TOKEN).status == "running"

    assert lifecycle.delete_endpoint(name, namespace=NS, token=TOKEN) is True
    with pytest.raises(EndpointNotFoundError, match=name):
        lifecycle.endpoint_status(name, namespace=NS, token=TOKEN)
    assert lifecycle.delete_endpoint(name, namespace=NS, token=TOKEN, missing_ok=True) is False
    assert _embed(info.url, ["x"]).status_code == 404


def _info(url: str) -> dict[str, Any]:
    response = httpx.get(f"{url}/info", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert response.status_code == 200
    info: dict[str, Any] = response.json()
    return info


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (
        sum(x * x for x in a) ** 0.5 * sum(y * y for y in b) ** 0.5
    )


def test_the_bundled_model_repository_embeds_with_the_model(hf_api: HfApi, name: str) -> None:
    info = lifecycle.ensure_endpoint(name, repository=REPO, namespace=NS, token=TOKEN, **FAST)
    assert info.url is not None
    assert _info(info.url)["model_id"] == REPO
    with EndpointClient(url=info.url, token=TOKEN) as client:
        dog, puppy, market = client.embed(["a happy dog", "a joyful puppy", "the stock market fell"])
    # Meaning, not hashing: a paraphrase is closer than an unrelated sentence.
    assert _cosine(dog, puppy) > _cosine(dog, market) + 0.2


def test_other_repositories_get_hash_vectors_and_say_so(hf_api: HfApi, name: str) -> None:
    from hf_pinecone.local.hf_api_server import HASH_MODEL_ID

    info = lifecycle.ensure_endpoint(name, repository=HASH_REPO, namespace=NS, token=TOKEN, **FAST)
    assert info.url is not None
    assert _info(info.url)["model_id"] == HASH_MODEL_ID
    with EndpointClient(url=info.url, token=TOKEN) as client:
        assert [len(v) for v in client.embed(["a happy dog"])] == [HASH_DIM]


def test_existing_running_endpoint_is_reused_without_create_call(hf_api: HfApi, name: str) -> None:
    first = lifecycle.ensure_endpoint(name, repository=REPO, namespace=NS, token=TOKEN, **FAST)
    creates = len(hf_api.stand_in.management_calls("POST", f"/v2/endpoint/{NS}"))
    second = lifecycle.ensure_endpoint(name, repository=REPO, namespace=NS, token=TOKEN, **FAST)
    assert second.url == first.url and second.running
    assert len(hf_api.stand_in.management_calls("POST", f"/v2/endpoint/{NS}")) == creates


def test_existing_endpoint_serving_another_model_is_a_conflict(hf_api: HfApi, name: str) -> None:
    lifecycle.ensure_endpoint(name, repository=REPO, namespace=NS, token=TOKEN, wait=False)
    with pytest.raises(EndpointConflictError, match="already exists and serves"):
        lifecycle.ensure_endpoint(
            name, repository="BAAI/bge-small-en-v1.5", namespace=NS, token=TOKEN, **FAST
        )
    assert hf_api.stand_in.payload_of(NS, name)["model"]["repository"] == REPO  # type: ignore[index]


def test_ensure_resumes_a_paused_endpoint(hf_api: HfApi, name: str) -> None:
    lifecycle.ensure_endpoint(name, repository=REPO, namespace=NS, token=TOKEN, **FAST)
    lifecycle.pause_endpoint(name, namespace=NS, token=TOKEN)
    with pytest.raises(EndpointPausedError):
        lifecycle.ensure_endpoint(name, repository=REPO, namespace=NS, token=TOKEN, resume=False, **FAST)
    info = lifecycle.ensure_endpoint(name, repository=REPO, namespace=NS, token=TOKEN, **FAST)
    assert info.running
    assert hf_api.stand_in.management_calls("POST", f"/{name}/resume")


def test_failed_deployment_raises_typed_error(hf_api: HfApi, name: str) -> None:
    with pytest.raises(EndpointFailedError, match="failed to deploy") as caught:
        lifecycle.ensure_endpoint(name, repository="broken/model", namespace=NS, token=TOKEN, **FAST)
    assert caught.value.state == "failed" and caught.value.name == name
    with pytest.raises(EndpointFailedError):
        lifecycle.resolve_endpoint_url(name, namespace=NS, token=TOKEN, auto_resume=True, **FAST)


def test_update_failed_state_raises_typed_error(hf_api: HfApi, name: str) -> None:
    lifecycle.ensure_endpoint(name, repository=REPO, namespace=NS, token=TOKEN, **FAST)
    hf_api.stand_in.set_state(NS, name, "updateFailed")
    with pytest.raises(EndpointFailedError, match="failed to update"):
        lifecycle.wait_for_endpoint(name, namespace=NS, token=TOKEN, **FAST)


def test_resolve_url_of_running_endpoint_is_one_get(hf_api: HfApi, name: str) -> None:
    info = lifecycle.ensure_endpoint(name, repository=REPO, namespace=NS, token=TOKEN, **FAST)
    before = len(hf_api.stand_in.calls)
    assert lifecycle.resolve_endpoint_url(name, namespace=NS, token=TOKEN) == info.url
    assert hf_api.stand_in.calls[before:] == [("GET", f"/v2/endpoint/{NS}/{name}")]


def test_resolve_paused_endpoint(hf_api: HfApi, name: str) -> None:
    info = lifecycle.ensure_endpoint(name, repository=REPO, namespace=NS, token=TOKEN, **FAST)
    lifecycle.pause_endpoint(name, namespace=NS, token=TOKEN)
    with pytest.raises(EndpointPausedError, match=f"hf-pinecone endpoint resume {name} --namespace {NS}"):
        lifecycle.resolve_endpoint_url(name, namespace=NS, token=TOKEN, **FAST)
    assert hf_api.stand_in.state_of(NS, name) == "paused"

    assert (
        lifecycle.resolve_endpoint_url(name, namespace=NS, token=TOKEN, auto_resume=True, **FAST) == info.url
    )
    assert hf_api.stand_in.state_of(NS, name) == "running"
    assert _embed(info.url, ["back"]).status_code == 200


def test_resolve_scaled_to_zero_endpoint_wakes_it_with_a_request(hf_api: HfApi, name: str) -> None:
    info = lifecycle.ensure_endpoint(name, repository=REPO, namespace=NS, token=TOKEN, **FAST)
    lifecycle.scale_endpoint_to_zero(name, namespace=NS, token=TOKEN)
    with pytest.raises(EndpointScaledToZeroError, match="auto_resume=True"):
        lifecycle.resolve_endpoint_url(name, namespace=NS, token=TOKEN, **FAST)
    assert hf_api.stand_in.state_of(NS, name) == "scaledToZero"

    assert (
        lifecycle.resolve_endpoint_url(name, namespace=NS, token=TOKEN, auto_resume=True, **FAST) == info.url
    )
    assert hf_api.stand_in.state_of(NS, name) == "running"
    assert not hf_api.stand_in.management_calls("POST", f"/{name}/resume")  # woken by a request, not resumed


def test_scale_up_timeout_header_is_held_until_a_replica_is_up(hf_api: HfApi, name: str) -> None:
    info = lifecycle.ensure_endpoint(name, repository=REPO, namespace=NS, token=TOKEN, **FAST)
    lifecycle.scale_endpoint_to_zero(name, namespace=NS, token=TOKEN)
    response = httpx.post(
        info.url,  # type: ignore[arg-type]
        json={"inputs": ["held"]},
        headers={"Authorization": f"Bearer {TOKEN}", "X-Scale-Up-Timeout": "600"},
    )
    assert response.status_code == 200 and len(response.json()["embeddings"][0]) == DIM


async def test_aresolve_endpoint_url(hf_api: HfApi, name: str) -> None:
    info = lifecycle.ensure_endpoint(name, repository=REPO, namespace=NS, token=TOKEN, **FAST)
    lifecycle.pause_endpoint(name, namespace=NS, token=TOKEN)
    url = await lifecycle.aresolve_endpoint_url(name, namespace=NS, token=TOKEN, auto_resume=True, **FAST)
    assert url == info.url


def test_wait_times_out_with_typed_error(hf_api: HfApi, name: str) -> None:
    created = lifecycle.ensure_endpoint(name, repository=REPO, namespace=NS, token=TOKEN, wait=False)
    assert created.status == "pending" and created.url is None
    with pytest.raises(EndpointWaitTimeoutError, match="still initializing") as caught:
        lifecycle.wait_for_endpoint(name, namespace=NS, token=TOKEN, timeout=0, refresh_every=0.01)
    assert isinstance(caught.value, TimeoutError)


def test_default_namespace_comes_from_whoami_once(hf_api: HfApi, name: str) -> None:
    before = len(hf_api.stand_in.management_calls("GET", "/api/whoami-v2"))
    info = lifecycle.ensure_endpoint(name, repository=REPO, token=TOKEN, **FAST)
    assert info.namespace == "local-user"
    assert len(hf_api.stand_in.management_calls("GET", "/api/whoami-v2")) == before + 1
    lifecycle.delete_endpoint(name, token=TOKEN)


def test_token_from_hf_token_env(hf_api: HfApi, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    info = lifecycle.ensure_endpoint(name, repository=REPO, namespace=NS, **FAST)
    assert info.running


def test_no_token_and_no_namespace_is_a_configuration_error(hf_api: HfApi) -> None:
    import huggingface_hub

    if huggingface_hub.get_token():
        pytest.skip("a token is saved on this machine")
    with pytest.raises(ConfigurationError, match="no Hugging Face token"):
        lifecycle.endpoint_status("any")


def test_refused_token_is_typed_and_never_shown(hf_api: HfApi, name: str) -> None:
    wrong = "wrong-secret-value-9931"
    with pytest.raises(LifecycleAuthError) as caught:
        lifecycle.endpoint_status(name, namespace=NS, token=wrong)
    err = caught.value
    assert err.status_code == 401 and isinstance(err, EndpointError)
    assert "HF_TOKEN" in str(err)
    for text in (str(err), repr(err), str(err.args), str(err.url), str(err.server_message)):
        assert wrong not in text and TOKEN not in text


def test_unknown_endpoint_is_not_found(hf_api: HfApi) -> None:
    with pytest.raises(EndpointNotFoundError, match="not found") as caught:
        lifecycle.resolve_endpoint_url("does-not-exist", namespace=NS, token=TOKEN)
    assert caught.value.status_code == 404


def test_invalid_arguments_fail_before_any_request(hf_api: HfApi) -> None:
    before = len(hf_api.stand_in.calls)
    with pytest.raises(ConfigurationError, match="invalid Inference Endpoint name"):
        lifecycle.ensure_endpoint("Bad_Name", repository=REPO, namespace=NS, token=TOKEN)
    with pytest.raises(ConfigurationError, match="image="):
        lifecycle.ensure_endpoint(
            "ok-name", repository=REPO, namespace=NS, token=TOKEN, engine="tei", accelerator="gpu"
        )
    with pytest.raises(ConfigurationError, match="refresh_every"):
        lifecycle.wait_for_endpoint("ok-name", namespace=NS, token=TOKEN, refresh_every=0)
    assert len(hf_api.stand_in.calls) == before


def test_tei_engine_sends_a_custom_image(hf_api: HfApi, name: str) -> None:
    info = lifecycle.ensure_endpoint(name, repository=REPO, namespace=NS, token=TOKEN, engine="tei", **FAST)
    assert info.running and info.health_route == "/health"
    image = hf_api.stand_in.payload_of(NS, name)["model"]["image"]  # type: ignore[index]
    assert image == {
        "custom": {
            "url": lifecycle.TEI_CPU_IMAGE,
            "health_route": "/health",
            "env": {"MODEL_ID": "/repository"},
        }
    }
    # TEI's route answers on the same URL.
    response = httpx.post(
        f"{info.url}/embed", json={"inputs": "tei"}, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 200 and len(response.json()[0]) == DIM


def test_offline_mode_is_a_configuration_error(hf_api: HfApi, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ConfigurationError, match="HF_HUB_OFFLINE"):
        lifecycle.endpoint_status("any", namespace=NS, token=TOKEN)


def test_unreachable_management_api_is_typed(hf_api: HfApi) -> None:
    with (
        lifecycle.use_management_api("http://127.0.0.1:9/v2"),
        pytest.raises(EndpointLifecycleError, match="unreachable"),
    ):
        lifecycle.endpoint_status("any", namespace=NS, token=TOKEN)


def test_use_management_api_restores_huggingface_hub(hf_api: HfApi) -> None:
    from huggingface_hub import constants

    before = (constants.INFERENCE_ENDPOINTS_ENDPOINT, constants.ENDPOINT, constants.HF_HUB_OFFLINE)
    with lifecycle.use_management_api("http://127.0.0.1:1234/v2/", hub_url="http://127.0.0.1:1234"):
        assert constants.INFERENCE_ENDPOINTS_ENDPOINT == "http://127.0.0.1:1234/v2"
        assert constants.ENDPOINT == "http://127.0.0.1:1234"
    after = (constants.INFERENCE_ENDPOINTS_ENDPOINT, constants.ENDPOINT, constants.HF_HUB_OFFLINE)
    assert after == before


def test_a_loopback_management_api_alone_also_answers_whoami(
    hf_api: HfApi, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HF_PINECONE_ENDPOINTS_API alone is enough for a local stand-in: whoami goes to the same server."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", "https://huggingface.co")  # as without the module's patch
    with lifecycle.use_management_api(f"{hf_api.url}/v2/"):
        assert hf_api.url == constants.ENDPOINT
        info = lifecycle.ensure_endpoint(name, repository=HASH_REPO, token=TOKEN, **FAST)  # no namespace
    assert info.namespace == "local-user"
    assert constants.ENDPOINT == "https://huggingface.co"
    with lifecycle.use_management_api("https://api.example.com/v2"):
        assert constants.ENDPOINT == "https://huggingface.co"  # not a stand-in: the Hub URL is left alone


def test_embeddings_resolve_endpoint_name_lazily(hf_api: HfApi, name: str) -> None:
    from hf_pinecone.embeddings import InferenceEndpointEmbeddings

    lifecycle.ensure_endpoint(name, repository=REPO, namespace=NS, token=TOKEN, **FAST)
    lifecycle.pause_endpoint(name, namespace=NS, token=TOKEN)
    before = len(hf_api.stand_in.calls)
    embeddings = InferenceEndpointEmbeddings(
        endpoint_name=name, namespace=NS, hf_token=TOKEN, auto_resume=True
    )
    assert len(hf_api.stand_in.calls) == before  # nothing at construction
    try:
        vector = embeddings.embed_query("hello")
    finally:
        embeddings.close()
    assert len(vector) == DIM
    assert hf_api.stand_in.state_of(NS, name) == "running"
    assert TOKEN not in repr(embeddings)


def test_errors_share_the_library_base_class() -> None:
    for cls in (EndpointNotFoundError, EndpointPausedError, EndpointWaitTimeoutError, LifecycleAuthError):
        assert issubclass(cls, EndpointLifecycleError) and issubclass(cls, HfPineconeError)
