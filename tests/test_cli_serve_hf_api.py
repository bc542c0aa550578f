"""``hf-pinecone serve hf-api`` from a shell, busy ports, and the data commands against paused / cold endpoints.

The management stand-in runs as a real ``hf-pinecone serve hf-api`` subprocess and is driven through
``huggingface_hub``'s own ``HfApi`` / ``InferenceEndpoint`` methods, pointed at it by one URL (as
``HF_PINECONE_ENDPOINTS_API`` does for the CLI). The data-command tests run ``hf-pinecone ingest`` in-process
(typer's runner) against an in-process stand-in whose replica start the test controls, so nothing sleeps.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from hf_pinecone import lifecycle
from hf_pinecone.cli import app as cli_app
from hf_pinecone.endpoint import EndpointClient
from hf_pinecone.lifecycle import EndpointStateError
from hf_pinecone.local.hf_api_server import HASH_MODEL_ID, HfApiApp, create_hf_api_app, serve_hf_api

CLI = [sys.executable, "-c", "from hf_pinecone.cli import main; main()"]
TOKEN = "s3cret-serve-token-5521"
MODEL_REPO = "sentence-transformers/all-MiniLM-L6-v2"
HASH_DIM = 24
COMPUTE: dict[str, Any] = {
    "accelerator": "cpu",
    "vendor": "aws",
    "region": "us-east-1",
    "type": "authenticated",
    "instance_size": "x2",
    "instance_type": "intel-spr",
}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_ENDPOINT", "HF_PINECONE_ENDPOINTS_API")}
    env.update({"PYTHONUNBUFFERED": "1", **extra})
    return env


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    """``hf-pinecone serve hf-api`` in a subprocess; its base URL once it printed ``listening on``."""
    args = ["serve", "hf-api", "--port", "0", "--token", TOKEN, "--hash-dimension", str(HASH_DIM)]
    proc = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout or []], daemon=True).start()
    try:
        line = lines.get(timeout=120)  # a safety net against a server that never starts
        assert line.startswith("listening on http://127.0.0.1:"), line
        yield line.removeprefix("listening on ").strip()
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and TOKEN not in err


def _running(endpoint: Any) -> Any:
    """Fetch until running: the stand-in moves one state per fetch (pending -> initializing -> running)."""
    for _ in range(10):
        if endpoint.status == "running":
            return endpoint
        endpoint.fetch()
    raise AssertionError(f"endpoint stuck in {endpoint.status}")


def _info(url: str) -> dict[str, Any]:
    response = httpx.get(f"{url}/info", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (
        sum(x * x for x in a) ** 0.5 * sum(y * y for y in b) ** 0.5
    )


def test_serve_hf_api_is_driven_by_huggingface_hub_with_one_url(served: str) -> None:
    from huggingface_hub import HfApi

    name, other = f"st-{uuid.uuid4().hex[:8]}", f"hs-{uuid.uuid4().hex[:8]}"
    with lifecycle.use_management_api(f"{served}/v2"):  # the one URL; whoami is found on the same server
        api = HfApi()
        assert api.whoami(token=TOKEN)["name"] == "local-user"
        model = _running(api.create_inference_endpoint(name, repository=MODEL_REPO, framework="pytorch",
                                                       task="sentence-embeddings", token=TOKEN, **COMPUTE))
        hashed = _running(api.create_inference_endpoint(other, repository="intfloat/e5-small-v2",
                                                        framework="pytorch", token=TOKEN, **COMPUTE))

        # The repository decides what answers, and /info says so.
        assert _info(model.url)["model_id"] == MODEL_REPO
        assert _info(hashed.url)["model_id"] == HASH_MODEL_ID
        with EndpointClient(url=model.url, token=TOKEN) as client:
            dog, puppy, market = client.embed(["a happy dog", "a joyful puppy", "the stock market fell"])
        assert len(dog) == 384 and _cosine(dog, puppy) > _cosine(dog, market) + 0.2
        with EndpointClient(url=hashed.url, token=TOKEN) as client:
            assert [len(v) for v in client.embed(["a happy dog"])] == [HASH_DIM]

        # Paused: the embeddings fail at once with the resume hint; resumed: they work again.
        model.pause()
        assert model.status == "paused"
        with EndpointClient(url=model.url, token=TOKEN) as client, pytest.raises(EndpointStateError) as caught:
            client.embed(["a happy dog"])
        assert "hf-pinecone endpoint resume NAME" in str(caught.value)
        _running(model.resume())
        with EndpointClient(url=model.url, token=TOKEN) as client:
            assert len(client.embed(["a happy dog"])[0]) == 384

        # The endpoint commands need nothing but HF_PINECONE_ENDPOINTS_API (and the token): no HF_ENDPOINT,
        # no --namespace (whoami is asked of the same server).
        status = subprocess.run(
            [*CLI, "endpoint", "status", name],
            env=_env(HF_PINECONE_ENDPOINTS_API=f"{served}/v2", HF_TOKEN=TOKEN),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert status.returncode == 0, status.stderr
        assert status.stdout.strip() == f"endpoint local-user/{name} is running at {model.url} (model {MODEL_REPO})"
        model.delete()
        hashed.delete()


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize("server", ["hf-api", "pinecone"])
def test_a_busy_port_is_one_line_and_exit_1(server: str, busy_port: int, tmp_path: Path) -> None:
    args = ["--data-dir", str(tmp_path / "pc")] if server == "pinecone" else []
    done = subprocess.run(
        [*CLI, "serve", server, "--port", str(busy_port), *args],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == [f"error: cannot listen on 127.0.0.1:{busy_port}: Address already in use"]


# ------------------------------------------------------------------ data commands against a stopped endpoint
@pytest.fixture
def stand_in() -> Iterator[tuple[str, HfApiApp]]:
    """An in-process stand-in (hash vectors) whose starting replicas come up only when the test says so."""
    app = create_hf_api_app(dimension=8, bundled_model=False, scale_up_seconds=None, steps_per_state=1_000_000)
    with serve_hf_api(app=app) as url:
        yield url, app


def _endpoint(url: str, app: HfApiApp, state: str) -> str:
    name = f"d-{uuid.uuid4().hex[:8]}"
    payload = {
        "name": name,
        "model": {"repository": "intfloat/e5-small-v2", "framework": "pytorch"},
        "compute": {"accelerator": "cpu", "instanceSize": "x2", "instanceType": "intel-spr"},
        "provider": {"vendor": "aws", "region": "us-east-1"},
    }
    assert httpx.post(f"{url}/v2/endpoint/local-user", json=payload, timeout=10).status_code == 200
    app.stand_in.set_state("local-user", name, "running")  # deployed: it has a URL
    app.stand_in.set_state("local-user", name, state)
    return f"{url}/endpoints/local-user/{name}"


def _ingest(endpoint_url: str, tmp_path: Path, *extra: str) -> Any:
    source = tmp_path / "docs.txt"
    source.write_text("a happy dog\na sad cat\n", encoding="utf-8")
    argv = ["ingest", "--file", str(source), "--endpoint-url", endpoint_url, "--no-progress", *extra]
    result = CliRunner().invoke(cli_app, [*argv, "--errors-file", str(tmp_path / "errors.jsonl")])
    assert "Traceback" not in result.stdout + result.stderr
    return result


def test_ingest_into_a_paused_endpoint_fails_at_once_with_the_resume_hint(
    stand_in: tuple[str, HfApiApp], tmp_path: Path
) -> None:
    url, app = stand_in
    result = _ingest(_endpoint(url, app, "paused"), tmp_path)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1
    assert "paused or failed" in result.stderr and "hf-pinecone endpoint resume NAME" in result.stderr
    assert not (tmp_path / "errors.jsonl").exists()  # the records are not blamed for the endpoint's state
    assert app.stand_in.held == []


def test_cold_start_timeout_option_bounds_the_wait(stand_in: tuple[str, HfApiApp], tmp_path: Path) -> None:
    """A replica that never comes up: with --cold-start-timeout 1 the command gives up (default: 600 s)."""
    url, app = stand_in
    result = _ingest(_endpoint(url, app, "scaledToZero"), tmp_path, "--cold-start-timeout", "1")
    assert result.exit_code == 1 and result.stderr.splitlines()[-1].startswith("error: ")
    assert "after waiting 1 s for the endpoint to start" in result.stderr
    assert app.stand_in.held  # it did wait (the proxy held its requests), just not for 600 s
