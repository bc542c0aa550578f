"""``hf-pinecone endpoint ...`` against the local management API stand-in (real huggingface_hub, loopback).

In-process commands run through typer's CliRunner with ``--api-url``; one test runs the installed console
script in a subprocess, configured only by environment variables (HF_PINECONE_ENDPOINTS_API and HF_TOKEN), as
a user would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from hf_pinecone.cli import app as cli_app
from hf_pinecone.local.hf_api_server import HfApiStandIn, create_hf_api_app, serve_hf_api

TOKEN = "s3cret-cli-token-7781"
NS = "acme"
REPO = "sentence-transformers/all-MiniLM-L6-v2"
DIM = 384  # REPO's endpoints embed with the bundled all-MiniLM-L6-v2
HASH_DIM = 12  # any other repository's: hash vectors


@dataclass
class Api:
    base: str
    stand_in: HfApiStandIn

    @property
    def v2(self) -> str:
        return f"{self.base}/v2"


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    app: Any = create_hf_api_app(dimension=HASH_DIM, token=TOKEN, fail_repositories={"broken/model"})
    with serve_hf_api(app=app) as url:  # not patched: the CLI must get there through --api-url / env alone
        yield Api(base=url, stand_in=app.stand_in)


@pytest.fixture
def name() -> str:
    return f"cli-{uuid.uuid4().hex[:10]}"


def run(api: Api, *args: str, token: str | None = TOKEN, input: str | None = None) -> Any:
    """Invoke ``hf-pinecone endpoint ARGS`` in-process; the token comes from HF_TOKEN."""
    env = {"HF_TOKEN": token} if token else {}
    argv = ["endpoint", *args, "--api-url", api.v2, "--namespace", NS]
    result = CliRunner().invoke(cli_app, argv, env=env, input=input)
    for text in (result.stdout, result.stderr):
        assert TOKEN not in text
    assert "Traceback" not in result.stdout + result.stderr
    return result


def test_tutorial_flow_create_wait_use_delete(api: Api, name: str) -> None:
    created = run(api, "create", name, "--repository", REPO, "--poll-interval", "0.01", "--json")
    assert created.exit_code == 0, created.stderr
    info = json.loads(created.stdout)
    assert info["status"] == "running" and info["running"] is True
    assert info["url"] == f"{api.base}/endpoints/{NS}/{name}" and info["namespace"] == NS

    response = httpx.post(
        info["url"], json={"inputs": ["a text"]}, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 200 and len(response.json()["embeddings"][0]) == DIM

    status = run(api, "status", name)
    assert status.exit_code == 0
    assert status.stdout.strip() == f"endpoint {NS}/{name} is running at {info['url']} (model {REPO})"

    paused = run(api, "pause", name)
    assert (paused.exit_code, paused.stdout.strip()) == (0, f"endpoint {NS}/{name} is paused")
    stuck = run(api, "wait", name, "--poll-interval", "0.01")
    assert stuck.exit_code == 1
    assert f"hf-pinecone endpoint resume {name}" in stuck.stderr

    resumed = run(api, "resume", name, "--poll-interval", "0.01")
    assert resumed.exit_code == 0 and "is running at" in resumed.stdout

    zero = run(api, "scale-to-zero", name, "--json")
    assert zero.exit_code == 0 and json.loads(zero.stdout)["status"] == "scaledToZero"
    woken = run(api, "wait", name, "--poll-interval", "0.01", "--json")
    assert woken.exit_code == 0 and json.loads(woken.stdout)["status"] == "running"

    deleted = run(api, "delete", name, "--yes", "--json")
    assert deleted.exit_code == 0
    assert json.loads(deleted.stdout) == {"name": name, "namespace": NS, "deleted": True}
    gone = run(api, "status", name)
    assert gone.exit_code == 1 and "not found" in gone.stderr
    assert run(api, "delete", name, "--yes", "--missing-ok").stdout.strip().endswith("nothing to delete")


def test_create_without_wait_reports_next_step(api: Api, name: str) -> None:
    result = run(api, "create", name, "-r", REPO, "--no-wait")
    assert result.exit_code == 0
    hint = f"`hf-pinecone endpoint wait {name} --namespace {NS}` waits until it runs"
    assert result.stdout.strip() == f"endpoint {NS}/{name} is pending; {hint}"


def test_create_reuses_running_endpoint(api: Api, name: str) -> None:
    assert run(api, "create", name, "-r", REPO, "--poll-interval", "0.01").exit_code == 0
    creates = len(api.stand_in.management_calls("POST", f"/v2/endpoint/{NS}"))
    again = run(api, "create", name, "-r", REPO, "--poll-interval", "0.01")
    assert again.exit_code == 0 and "is running at" in again.stdout
    assert len(api.stand_in.management_calls("POST", f"/v2/endpoint/{NS}")) == creates


def test_failed_deployment_is_one_line_error(api: Api, name: str) -> None:
    result = run(api, "create", name, "-r", "broken/model", "--poll-interval", "0.01")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert "failed to deploy" in result.stderr


def test_refused_token_is_one_line_error_without_the_secret(api: Api, name: str) -> None:
    wrong = "wrong-cli-secret-5512"
    result = CliRunner().invoke(
        cli_app, ["endpoint", "status", name, "--api-url", api.v2, "--namespace", NS, "--token", wrong]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "refused the token" in result.stderr
    assert wrong not in result.stdout + result.stderr and "Traceback" not in result.stderr


def test_delete_asks_for_confirmation(api: Api, name: str) -> None:
    assert run(api, "create", name, "-r", REPO, "--no-wait").exit_code == 0
    declined = run(api, "delete", name, input="n\n")
    assert declined.exit_code == 1 and "aborted" in declined.stderr
    assert api.stand_in.state_of(NS, name) is not None
    accepted = run(api, "delete", name, input="y\n")
    assert accepted.exit_code == 0 and f"deleted endpoint {NS}/{name}" in accepted.stdout
    assert api.stand_in.state_of(NS, name) is None


def test_invalid_name_is_rejected_before_any_request(api: Api) -> None:
    before = len(api.stand_in.calls)
    result = run(api, "create", "Not_Valid", "-r", REPO)
    assert result.exit_code == 1 and "invalid Inference Endpoint name" in result.stderr
    assert len(api.stand_in.calls) == before


def test_console_script_configured_by_environment(api: Api, name: str) -> None:
    script = shutil.which("hf-pinecone", path=os.path.dirname(sys.executable))
    command = [script] if script else [sys.executable, "-c", "from hf_pinecone.cli import main; main()"]
    # One variable is enough: whoami (the default namespace) is asked of the same loopback stand-in, no HF_ENDPOINT.
    env = {k: v for k, v in os.environ.items() if k != "HF_ENDPOINT"}
    env.update({"HF_PINECONE_ENDPOINTS_API": api.v2, "HF_TOKEN": TOKEN})

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*command, "endpoint", *args], env=env, capture_output=True, text=True, timeout=60
        )
        assert TOKEN not in done.stdout + done.stderr
        return done

    created = cli("create", name, "-r", REPO, "--poll-interval", "0.01", "--json")
    assert created.returncode == 0, created.stderr
    info = json.loads(created.stdout)
    assert info["namespace"] == "local-user" and info["status"] == "running"

    helped = cli("create", "--help")
    assert helped.returncode == 0 and "--api-url" in helped.stdout

    deleted = cli("delete", name, "--yes")
    assert deleted.returncode == 0 and deleted.stdout.strip() == f"deleted endpoint {name}"
    missing = cli("status", name)
    assert missing.returncode == 1 and missing.stderr.startswith("error: ") and missing.stdout == ""
