"""``hf-pinecone ingest|query|stats|delete-index``: in-process (typer's runner) and in separate processes.

The endpoint is the local endpoint server with ``HashEmbedder`` (deterministic vectors, no model; same HTTP
protocol) given to the CLI as ``HF_ENDPOINT_URL``; Pinecone is the local server the CLI starts itself,
persisted under ``HF_PINECONE_HOME`` (a temporary directory per test), as a user without credentials runs it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from conftest import HashEndpoint
from hf_pinecone.cli import app
from hf_pinecone.ids import content_id
from hf_pinecone.local import serve_endpoint, serve_pinecone
from hf_pinecone.local.endpoint_server import HashEmbedder
from hf_pinecone.local.faults import FaultPlan
from hf_pinecone.store import PineconeStore

DIM = 32


@pytest.fixture
def hash_url(hash_endpoint: HashEndpoint) -> str:
    """The session's shared hash endpoint for these settings (tests/conftest.py)."""
    return hash_endpoint(DIM, max_input_length=300)


@pytest.fixture
def cli_env(hash_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("HF_ENDPOINT_URL", hash_url)
    return {**os.environ}


def run(*args: str) -> Any:
    """Invoke the CLI in-process; stdout and stderr are captured separately."""
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def run_process(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run ``hf-pinecone ARGS`` as a separate process."""
    return subprocess.run(
        [sys.executable, "-c", "from hf_pinecone.cli import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and "Traceback" not in stderr
    return lines[0]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@contextmanager
def local_store(home: Path, index: str = "hf-endpoints") -> Iterator[PineconeStore]:
    """Open the CLI's persisted local Pinecone data (no CLI process may be running)."""
    from hf_pinecone.embeddings import InferenceEndpointEmbeddings

    with serve_pinecone(data_dir=home / "pinecone") as url:
        from pinecone import Pinecone

        host = Pinecone(api_key="local", host=url).describe_index(index).host
        yield PineconeStore(
            embedding=InferenceEndpointEmbeddings(endpoint_url="http://127.0.0.1:9"),
            pinecone_api_key="local",
            host=host,
        )


# --------------------------------------------------------------------------------------------- help
@pytest.mark.parametrize(
    ("command", "options"),
    [
        (
            "ingest",
            [
                "--file",
                "--dataset",
                "--split",
                "--column",
                "--limit",
                "--namespace",
                "--batch-size",
                "--concurrency",
                "--errors-file",
                "--force",
                "--json",
            ],
        ),
        ("query", ["--top-k", "--filter", "--namespace", "--json"]),
        ("stats", ["--index", "--json"]),
        ("delete-index", ["--index", "--yes"]),
        ("demo", ["--file", "--query", "--top-k", "--json"]),
    ],
)
def test_help_everywhere(command: str, options: list[str]) -> None:
    result = run(command, "--help")
    assert result.exit_code == 0
    for option in options:
        assert option in result.stdout


# --------------------------------------------------------------------------------------------- separate proce
def test_ingest_then_query_in_separate_processes_and_rerun_adds_nothing(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    rows = [{"text": f"record number {i}", "group": i % 3} for i in range(300)]
    data = write_jsonl(tmp_path / "data.jsonl", rows)

    first = run_process(cli_env, "ingest", "--file", str(data), "--json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert (report["read"], report["upserted"], report["failed"]) == (300, 300, 0)

    query = run_process(cli_env, "query", "record number 7", "--top-k", "3", "--json")
    assert query.returncode == 0, query.stderr
    matches = json.loads(query.stdout)["matches"]
    assert len(matches) == 3
    assert matches[0]["text"] == "record number 7" and matches[0]["score"] > 0.99
    assert matches[0]["id"] == content_id("record number 7", None)
    assert matches[0]["metadata"] == {"group": 1.0}

    second = run_process(cli_env, "ingest", "--file", str(data), "--json")
    again = json.loads(second.stdout)
    assert (again["already_present"], again["embedded"], again["upserted"]) == (300, 0, 0)

    # The same data, in this process, once the others have exited.
    filtered = run("query", "record number 7", "--filter", '{"group": {"$eq": 2}}', "--json", "-k", "5")
    assert {m["metadata"]["group"] for m in json.loads(filtered.stdout)["matches"]} == {2.0}
    assert json.loads(run("stats", "--json").stdout)["total_vector_count"] == 300


@pytest.mark.slow
def test_kill_9_mid_ingest_then_rerun_is_exact(hash_url: str, tmp_path: Path) -> None:
    """Kill -9 the ingest process once the endpoint has served 40 requests; a re-run completes exactly."""
    texts = [f"crash test sentence {i}" for i in range(6000)]
    data = tmp_path / "big.txt"
    data.write_text("\n".join(texts) + "\n")
    home = Path(os.environ["HF_PINECONE_HOME"])
    plan = FaultPlan()  # injects nothing: counts requests, so the kill happens mid-run without sleeping
    with serve_endpoint(embedder=HashEmbedder(DIM), faults=plan, per_item_delay=0.0005) as url:
        env = {**os.environ, "HF_ENDPOINT_URL": url}
        cmd = [
            sys.executable,
            "-c",
            "from hf_pinecone.cli import main; main()",
            "ingest",
            "--file",
            str(data),
        ]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert plan.wait_for_requests(40, timeout=120)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL

        rerun = run_process(env, "ingest", "--file", str(data), "--json", "--no-progress")
        assert rerun.returncode == 0, rerun.stderr
        report = json.loads(rerun.stdout)
    assert report["read"] == 6000 and report["failed"] == 0
    assert report["already_present"] + report["upserted"] == 6000
    assert report["embedded"] == report["upserted"]

    with local_store(home) as store:
        ids = [content_id(t, None) for t in texts]
        docs = store.get_by_ids(ids)
        assert {str(d.id): d.page_content for d in docs} == dict(zip(ids, texts, strict=True))
        stats = store.index.describe_index_stats()
        assert stats.total_vector_count == 6000  # no strays, no duplicates


# --------------------------------------------------------------------------------------------- in process
def test_bad_rows_finish_with_them_in_the_errors_file(cli_env: dict[str, str], tmp_path: Path) -> None:
    rows: list[dict[str, Any]] = [
        {"text": "fine"},
        {"text": ""},
        {"text": None},
        {"text": "x" * 41_000},  # over Pinecone's 40 KB of metadata
        {"text": "also fine"},
    ]
    data = write_jsonl(tmp_path / "rows.jsonl", rows)
    errors = tmp_path / "errors.jsonl"
    result = run("ingest", "--file", str(data), "--errors-file", str(errors), "--json")
    assert result.exit_code == 3, result.stderr  # finished, but records were rejected
    report = json.loads(result.stdout)
    assert report["status"] == "partial"
    assert (report["upserted"], report["failed"], report["errors_file"]) == (2, 3, str(errors))
    rejected = [json.loads(line) for line in errors.read_text().splitlines()]
    assert [r["row"] for r in rejected] == [1, 2, 3]
    assert rejected[2]["text"] == "x" * 41_000 and "40960" in rejected[2]["reason"]
    human = run("ingest", "--file", str(data), "--errors-file", str(errors))
    assert human.exit_code == 3
    assert "already present 2" in human.stdout
    assert human.stderr.count("record(s) rejected") == 1
    assert f"3 record(s) rejected (first, row 1: empty or whitespace-only text); all are listed in {errors}" in (
        human.stderr
    )


def test_ingest_options_limit_namespace_columns(cli_env: dict[str, str], tmp_path: Path) -> None:
    rows = [{"hypothesis": f"h {i}", "premise": f"p {i}", "label": i % 3} for i in range(20)]
    data = write_jsonl(tmp_path / "snli.jsonl", rows)
    result = run(
        "ingest",
        "--file",
        str(data),
        "--column",
        "hypothesis",
        "--metadata-column",
        "label",
        "--limit",
        "10",
        "--namespace",
        "ns",
        "--batch-size",
        "4",
        "--concurrency",
        "2",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["upserted"] == 10
    query = run("query", "h 3", "--namespace", "ns", "-k", "1", "--json")
    match = json.loads(query.stdout)["matches"][0]
    assert match["id"] == content_id("h 3", "ns") and match["metadata"] == {"label": 0.0}
    assert json.loads(run("query", "h 3", "--json").stdout)["matches"] == []  # default namespace is empty


def test_dataset_option_reads_a_local_dataset_folder(cli_env: dict[str, str], tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "my_dataset"
    folder.mkdir()
    pq.write_table(pa.table({"sentence": ["d one", "d two", "d three"]}), folder / "train.parquet")
    result = run("ingest", "--dataset", str(folder), "--split", "train", "--column", "sentence", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["upserted"] == 3


def test_expected_errors_print_one_line(cli_env: dict[str, str], tmp_path: Path) -> None:
    result = run("query", "anything", "--index", "nope")
    assert result.exit_code == 1
    assert "index 'nope' not found" in one_error_line(result.stderr)

    result = run("query", "anything", "--index", "Bad_Name")
    assert "invalid index name" in one_error_line(result.stderr)

    result = run("query", "anything", "--filter", "{not json")
    assert "--filter is not valid JSON" in one_error_line(result.stderr)

    result = run("ingest")
    assert "exactly one source" in one_error_line(result.stderr)

    result = run("ingest", "--file", str(tmp_path / "missing.parquet"))
    assert "file not found" in one_error_line(result.stderr)

    result = run("ingest", "--dataset", "no-such-dataset-anywhere-xyz")
    assert "cannot load dataset 'no-such-dataset-anywhere-xyz'" in one_error_line(result.stderr)

    run("ingest", "--file", str(write_jsonl(tmp_path / "a.jsonl", [{"text": "seed"}])))
    result = run("query", "anything", "--filter", '{"label": {"$nope": 1}}')
    assert "$nope" in one_error_line(result.stderr)


def test_dimension_mismatch_is_one_line(cli_env: dict[str, str], tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "a.jsonl", [{"text": "seed"}])
    assert run("ingest", "--file", str(data)).exit_code == 0
    with serve_endpoint(embedder=HashEmbedder(DIM + 8)) as other:
        result = run("ingest", "--file", str(data), "--endpoint-url", other)
    assert result.exit_code == 1
    line = one_error_line(result.stderr)
    assert f"dimension {DIM}" in line and f"dimension {DIM + 8}" in line


def test_secrets_never_printed(hash_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pinecone_key = "pcsk_wrongSecretValue_1234567890"
    hf_token = "hf_wrongTokenSecretValue1234"
    data = write_jsonl(tmp_path / "a.jsonl", [{"text": "seed"}])
    with (
        serve_pinecone(api_key="the-real-key") as pc,
        serve_endpoint(embedder=HashEmbedder(DIM), api_key="the-real-token") as ep,
    ):
        monkeypatch.setenv("PINECONE_CONTROLLER_HOST", pc)
        monkeypatch.setenv("PINECONE_API_KEY", pinecone_key)
        monkeypatch.setenv("HF_ENDPOINT_URL", ep)
        monkeypatch.setenv("HF_TOKEN", hf_token)
        results = [run("stats"), run("stats", "--json"), run("ingest", "--file", str(data), "--json")]
        monkeypatch.setenv("PINECONE_API_KEY", "the-real-key")
        results.append(run("ingest", "--file", str(data), "--json"))
    for result in results:
        assert result.exit_code == 1
        one_error_line(result.stderr)
        for secret in (pinecone_key, hf_token):
            assert secret not in result.stdout and secret not in result.stderr
    assert "401" in results[0].stderr
    assert "401" in results[3].stderr and "HF_TOKEN" in results[3].stderr  # the endpoint refused the token


def test_stats_and_delete_index(cli_env: dict[str, str], tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "a.jsonl", [{"text": "one"}, {"text": "two"}])
    assert run("ingest", "--file", str(data), "--index", "to-delete").exit_code == 0
    stats = json.loads(run("stats", "--index", "to-delete", "--json").stdout)
    assert (stats["dimension"], stats["total_vector_count"], stats["namespaces"]) == (DIM, 2, {"": 2})
    text = run("stats", "--index", "to-delete").stdout
    assert "records:    2" in text

    refused = run("delete-index", "--index", "to-delete")  # no terminal to confirm on
    assert "without --yes" in one_error_line(refused.stderr)
    assert run("delete-index", "--index", "to-delete", "--yes").exit_code == 0
    gone = run("stats", "--index", "to-delete")
    assert "not found" in one_error_line(gone.stderr)
    again = run("delete-index", "--index", "to-delete", "--yes")
    assert "not found" in one_error_line(again.stderr)
