"""HF_TOKEN and PINECONE_API_KEY never leak: reprs, DEBUG logs, exceptions, CLI output, dumpd, the wire.

The secrets are distinctive values that do NOT look like real keys (no ``hf_`` / ``pcsk_`` prefix), so the
library's pattern-based redaction cannot hide a leak by luck: only never printing them passes. They are
also the REAL credentials of the local servers (endpoint ``--api-key`` and Pinecone ``--api-key``), so the
successful paths really carry them. Every output is captured and searched for either secret.

Two in-process helpers are used where no real server behaves that way: an endpoint that echoes the
request's credentials in its error messages (a misbehaving proxy), and a redirecting server.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from langchain_core.load import dumpd, dumps
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route

from hf_pinecone.config import Settings
from hf_pinecone.embeddings import InferenceEndpointEmbeddings
from hf_pinecone.endpoint import AsyncEndpointClient, EndpointClient, EndpointConfig
from hf_pinecone.errors import (
    EndpointAuthError,
    EndpointError,
    EndpointRequestError,
    HfPineconeError,
    IngestError,
    InsecureTransportError,
)
from hf_pinecone.ingestion import ingest
from hf_pinecone.local import run_in_background, serve_endpoint, serve_pinecone
from hf_pinecone.local.endpoint_server import HashEmbedder
from hf_pinecone.stack import open_stack
from hf_pinecone.store import PineconeStore, ensure_index

HF_SECRET = "tok-7Q2xQ9LEAKCHECKhfZ41"
PC_SECRET = "key-3VnW8LEAKCHECKpcK07"
SECRETS = (HF_SECRET, PC_SECRET)
DIM = 16
CLI = [sys.executable, "-c", "from hf_pinecone.cli import main; main()"]
NOISY_LOGGERS = (
    "",
    "httpx",
    "httpcore",
    "httpx2",
    "httpcore2",
    "urllib3",
    "pinecone",
    "aiohttp",
    "hf_pinecone",
    "uvicorn",
    "asyncio",
)


def assert_clean(*outputs: Any) -> None:
    for output in outputs:
        text = output if isinstance(output, str) else repr(output)
        for secret in SECRETS:
            assert secret not in text, f"secret leaked in: {text[:300]}..."


@pytest.fixture
def servers() -> Iterator[tuple[str, str]]:
    """Endpoint and Pinecone servers whose credentials ARE the secrets."""
    with (
        serve_endpoint(embedder=HashEmbedder(DIM), api_key=HF_SECRET) as endpoint,
        serve_pinecone(api_key=PC_SECRET) as pinecone,
    ):
        yield endpoint, pinecone


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch, servers: tuple[str, str]) -> tuple[str, str]:
    endpoint, pinecone = servers
    monkeypatch.setenv("HF_TOKEN", HF_SECRET)
    monkeypatch.setenv("PINECONE_API_KEY", PC_SECRET)
    monkeypatch.setenv("HF_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("PINECONE_CONTROLLER_HOST", pinecone)
    monkeypatch.setenv("PINECONE_INDEX_NAME", "secrets")
    return endpoint, pinecone


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every logger, third-party ones included, at DEBUG, captured."""
    previous = {name: logging.getLogger(name).level for name in NOISY_LOGGERS}
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    try:
        yield caplog
    finally:
        for name, level in previous.items():
            logging.getLogger(name).setLevel(level)


def all_log_text(caplog: pytest.LogCaptureFixture) -> str:
    parts = [caplog.text]
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.append(repr(record.args))
        if record.exc_info and record.exc_info[1] is not None:
            parts.append(repr(record.exc_info[1]) + str(record.exc_info[1]))
    return "\n".join(parts)


# ------------------------------------------------------------------------------------------ reprs
def test_reprs_strs_dumps_and_dumpd(secret_env: tuple[str, str]) -> None:
    endpoint, _ = secret_env
    emb = InferenceEndpointEmbeddings()  # token from HF_TOKEN
    assert emb.hf_token is not None and emb.hf_token.get_secret_value() == HF_SECRET
    emb.embed_query("warm up the clients")
    config = EndpointConfig(url=endpoint, token=HF_SECRET)  # type: ignore[arg-type]
    client = EndpointClient(config)
    aclient = AsyncEndpointClient(endpoint, token=HF_SECRET)
    settings = Settings.from_env()
    with open_stack() as stack:
        objects: list[Any] = [
            emb,
            emb.client,
            emb.async_client,
            config,
            client,
            client._protocol,  # private, but shown by tracebacks with locals
            aclient,
            settings,
            stack,
            stack.store,
            stack.pinecone,
        ]
        for obj in objects:
            assert_clean(repr(obj), str(obj))
        assert_clean(emb.model_dump(), emb.model_dump_json(), json.dumps(emb.model_dump(), default=str))
        assert_clean(json.dumps(dumpd(emb), default=str), dumps(emb), json.dumps(dumpd(stack.store), default=str))
        assert_clean(json.dumps(dumpd(stack.store.as_retriever()), default=str))
    client.close()
    emb.close()


# ------------------------------------------------------------------------------- logs at DEBUG
async def test_debug_logs_of_every_library_never_contain_a_secret(
    secret_env: tuple[str, str], debug_logs: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    endpoint, pinecone = secret_env
    emb = InferenceEndpointEmbeddings()
    emb.embed_documents(["sync", "logging"])
    await emb.aembed_documents(["async", "logging"])
    host = ensure_index("secrets", embeddings=emb, api_key=PC_SECRET, host=pinecone)
    store = PineconeStore(embedding=emb, pinecone_api_key=PC_SECRET, host=host)
    await store.aadd_texts(["a", "b"])
    store.add_texts(["c"])
    report = ingest([f"log line {i}" for i in range(300)], store=store, progress=False)
    assert report.upserted == 300
    store.similarity_search("a", k=2)
    await store.asimilarity_search("a", k=2)
    # Failure paths log and raise too.
    wrong = InferenceEndpointEmbeddings(endpoint_url=endpoint, hf_token="not-the-token", max_retries=0)
    with pytest.raises(EndpointAuthError) as caught:
        wrong.embed_query("x")
    assert_clean(str(caught.value), repr(caught.value))
    emb.close()
    wrong.close()
    text = all_log_text(debug_logs)
    # DEBUG logging really was on, for the HTTP stacks of both clients.
    assert {"httpx2", "httpcore2", "hf_pinecone"} <= {r.name.split(".")[0] for r in debug_logs.records}
    assert_clean(text)


# ------------------------------------------------------------------------------------- exceptions
@pytest.fixture
def echoing_endpoint() -> Iterator[str]:
    """Misbehaving server (in-process fake): its errors quote the credentials it received."""

    async def handle(request: Request) -> JSONResponse:
        auth = request.headers.get("authorization", "")
        key = request.headers.get("api-key", "")
        status = int(request.query_params.get("status", "400"))
        quoted = f"rejected {auth} / api-key={key} / raw {auth[7:]} {key}"
        return JSONResponse({"error": quoted, "message": quoted, "code": 3}, status_code=status)

    app = Starlette(routes=[Route("/{path:path}", handle, methods=["POST", "GET"])])
    with run_in_background(app) as url:
        yield url


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422, 500, 503])
def test_exceptions_never_quote_the_token_even_when_the_server_does(echoing_endpoint: str, status: int) -> None:
    emb = InferenceEndpointEmbeddings(
        endpoint_url=f"{echoing_endpoint}/?status={status}", hf_token=HF_SECRET, max_retries=1, cold_start_timeout=0
    )
    with pytest.raises(EndpointError) as caught:
        emb.embed_documents(["a", "b"])
    error = caught.value
    assert_clean(str(error), repr(error), error.server_message, error.url, repr(error.args))
    assert "rejected" in str(error)  # the server's message is still reported, scrubbed
    with EndpointClient(f"{echoing_endpoint}/?status={status}", token=HF_SECRET, max_retries=0) as client:
        if status in (400, 422):
            [result] = client.embed_detailed(["a"])
            assert isinstance(result, EndpointRequestError)
            assert_clean(str(result), result.server_message)
    emb.close()


def test_ingest_and_store_errors_never_quote_the_pinecone_key(
    servers: tuple[str, str], echoing_endpoint: str, tmp_path: Path
) -> None:
    """An index host that echoes the Api-Key in its 400 body: the IngestError and errors file stay clean."""
    endpoint, _ = servers
    emb = InferenceEndpointEmbeddings(endpoint_url=endpoint, hf_token=HF_SECRET)
    store = PineconeStore(embedding=emb, pinecone_api_key=PC_SECRET, host=f"{echoing_endpoint}")
    errors = tmp_path / "errors.jsonl"
    with pytest.raises(HfPineconeError) as caught:
        ingest(["a", "b"], store=store, progress=False, errors_file=errors)
    assert isinstance(caught.value, IngestError)
    assert_clean(str(caught.value), repr(caught.value), repr(getattr(caught.value, "report", None)))
    if errors.exists():
        assert_clean(errors.read_text())
    emb.close()


# ------------------------------------------------------------------------------------------ CLI
def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=180)


@pytest.mark.slow
def test_cli_output_never_contains_a_secret(secret_env: tuple[str, str], tmp_path: Path) -> None:
    """Real processes, real credentials: successes, --json, and errors (auth, bad filter, missing index)."""
    env = {**os.environ}
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"text": f"row {i}", "n": i}) + "\n" for i in range(50)))
    runs = [
        run_cli(env, "ingest", "--file", str(data)),
        run_cli(env, "ingest", "--file", str(data), "--json"),
        run_cli(env, "query", "row 3", "--json"),
        run_cli(env, "query", "row 3"),
        run_cli(env, "stats", "--json"),
    ]
    for result in runs:
        assert result.returncode == 0, result.stderr
    failures = [
        run_cli(env, "query", "row 3", "--filter", '{"n": {"$regex": "1"}}'),
        run_cli(env, "query", "row 3", "--index", "does-not-exist", "--json"),
        run_cli({**env, "HF_TOKEN": HF_SECRET + "x"}, "ingest", "--file", str(data), "--force", "--json"),
        run_cli({**env, "PINECONE_API_KEY": PC_SECRET + "x"}, "stats", "--json"),
        run_cli({**env, "HF_ENDPOINT_URL": "http://example.invalid:8080"}, "ingest", "--file", str(data)),
    ]
    for result in failures:
        assert result.returncode == 1, result.stdout + result.stderr
        assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    for result in runs + failures:
        assert_clean(result.stdout, result.stderr)
    assert json.loads(runs[1].stdout)["already_present"] == 50
    assert "refusing to send a token over plain http" in failures[4].stderr


# ------------------------------------------------------------------------------------ on the wire
@pytest.mark.parametrize("url", ["http://203.0.113.7/", "http://endpoint.example.com/", "http://[2001:db8::1]/"])
def test_token_is_not_sent_over_plain_http_to_a_non_loopback_host(url: str) -> None:
    """Refused before any connection (these addresses are never contacted); opting in allows it."""
    with pytest.raises(InsecureTransportError) as caught:
        EndpointClient(url, token=HF_SECRET)
    assert_clean(str(caught.value))
    emb = InferenceEndpointEmbeddings(endpoint_url=url, hf_token=HF_SECRET)  # construction is offline...
    with pytest.raises(InsecureTransportError):
        emb.embed_query("x")  # ...the refusal comes at first use, before any request
    EndpointClient(url, token=HF_SECRET, allow_insecure_http=True).close()  # the explicit opt-in
    EndpointClient(url.replace("http://", "https://"), token=HF_SECRET).close()
    EndpointClient(url).close()  # no token: nothing to protect


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "127.0.0.5"])
def test_token_over_plain_http_to_loopback_is_allowed(host: str) -> None:
    EndpointClient(f"http://{host}:9/", token=HF_SECRET).close()


class Recorder:
    """A loopback server on another host (127.0.0.2) that records the Authorization headers it receives."""

    def __init__(self) -> None:
        self.authorization: list[str] = []
        self.lock = threading.Lock()

        async def handle(request: Request) -> JSONResponse:
            with self.lock:
                self.authorization.append(request.headers.get("authorization", ""))
            return JSONResponse({"embeddings": [[1.0, 0.0]] * 2})

        self.app = Starlette(routes=[Route("/{path:path}", handle, methods=["POST", "GET"])])


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_token_is_not_forwarded_on_a_redirect_to_another_host(status: int) -> None:
    recorder = Recorder()

    def redirector(target: str) -> Starlette:
        async def handle(request: Request) -> RedirectResponse:
            return RedirectResponse(target + "/embed", status_code=status)

        return Starlette(routes=[Route("/", handle, methods=["POST"])])

    with run_in_background(recorder.app, host="127.0.0.2") as other_host:  # noqa: SIM117 - needs other_host
        with run_in_background(redirector(other_host)) as url:
            # Sanity: the other host is reachable and records what it gets.
            httpx2.post(other_host + "/probe", headers={"authorization": "Bearer probe"})
            assert recorder.authorization == ["Bearer probe"]
            emb = InferenceEndpointEmbeddings(endpoint_url=url, hf_token=HF_SECRET, max_retries=0)
            with pytest.raises(EndpointRequestError) as caught:
                emb.embed_documents(["a", "b"])
            with pytest.raises(EndpointRequestError):
                await emb.aembed_documents(["a", "b"])
            await emb.aclose()
            emb.close()
    assert recorder.authorization == ["Bearer probe"]  # the redirect was not followed: nothing more arrived
    message = str(caught.value)
    assert "redirect" in message and "127.0.0.2" in message
    assert_clean(message)
