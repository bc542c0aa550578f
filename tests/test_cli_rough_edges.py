"""The rough edges a new user hits (issue 18, items 3, 4, 6, 8, 9): bad files, exit codes, hosts, help, Ctrl-C.

Everything runs against real local servers over loopback: the local endpoint serving ``HashEmbedder`` vectors
(given to the CLI as ``HF_ENDPOINT_URL``) and the local Pinecone server the CLI starts itself under a temporary
``HF_PINECONE_HOME``, or a ``serve_pinecone`` server for the host and key cases. Nothing is mocked.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from conftest import HashEndpoint
from hf_pinecone.cli import app
from hf_pinecone.errors import redact
from hf_pinecone.ids import content_id
from hf_pinecone.local import serve_endpoint, serve_pinecone
from hf_pinecone.local.endpoint_server import HashEmbedder
from hf_pinecone.local.faults import FaultPlan

DIM = 16
CLI = [sys.executable, "-c", "from hf_pinecone.cli import main; main()"]


@pytest.fixture
def hash_url(hash_endpoint: HashEndpoint) -> str:
    """The session's shared hash endpoint for these settings (tests/conftest.py)."""
    return hash_endpoint(DIM)


@pytest.fixture
def cli_env(hash_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("HF_ENDPOINT_URL", hash_url)
    return {**os.environ}


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def help_text(command: str) -> str:
    """``COMMAND --help`` on a wide terminal (rich shortens long option names to fit 80 columns)."""
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "250"}, catch_exceptions=False)
    assert result.exit_code == 0
    return " ".join(result.stdout.split())


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and "Traceback" not in stderr
    return lines[0]


def rejected(errors: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in errors.read_text(encoding="utf-8").splitlines()]


def closed_port() -> int:
    """A loopback port nobody listens on (bound then released: connecting to it is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------------------------- item 3: bad files
def test_a_non_utf8_line_in_a_txt_is_rejected_and_the_rest_ingested(cli_env: dict[str, str], tmp_path: Path) -> None:
    data = tmp_path / "notes.txt"
    data.write_bytes(b"first good line\n\xff\xfe latin garbage \xe9\n\nsecond good line\n")
    errors = tmp_path / "errors.jsonl"
    result = run("ingest", "--file", str(data), "--errors-file", str(errors), "--json")
    assert result.exit_code == 3, result.stderr
    report = json.loads(result.stdout)
    assert (report["status"], report["read"], report["upserted"], report["failed"]) == ("partial", 3, 2, 1)
    [bad] = rejected(errors)
    assert bad["row"] == 1 and bad["id"] is None
    assert bad["reason"].startswith("line 2 of notes.txt is not valid UTF-8") and "UTF-8 (e.g. iconv" in bad["reason"]
    assert bad["text"] == "\\xff\\xfe latin garbage \\xe9"  # the raw bytes, readable
    found = json.loads(run("query", "second good line", "-k", "2", "--json").stdout)["matches"]
    assert {m["id"] for m in found} == {content_id("first good line", None), content_id("second good line", None)}


def test_a_non_utf8_line_in_a_csv_is_rejected_and_typed_cells_kept(cli_env: dict[str, str], tmp_path: Path) -> None:
    data = tmp_path / "rows.csv"
    data.write_bytes(
        b'\xef\xbb\xbftext,n,flag\nhello,1,true\n\xe9t\xe9,2,false\n"quoted, with comma",3.5,\nx,1,2,3\n'
    )
    errors = tmp_path / "errors.jsonl"
    result = run("ingest", "--file", str(data), "--errors-file", str(errors), "--json")
    assert result.exit_code == 3, result.stderr
    report = json.loads(result.stdout)
    assert (report["read"], report["upserted"], report["failed"]) == (4, 2, 2)
    reasons = [r["reason"] for r in rejected(errors)]
    assert reasons[0].startswith("line 3 of rows.csv is not valid UTF-8")
    assert reasons[1].startswith("line 5 of rows.csv has 4 fields but the header has 3")
    match = json.loads(run("query", "hello", "-k", "1", "--json").stdout)["matches"][0]
    assert match["text"] == "hello" and match["metadata"] == {"n": 1.0, "flag": True}
    other = json.loads(run("query", "quoted, with comma", "-k", "1", "--json").stdout)["matches"][0]
    assert other["text"] == "quoted, with comma" and other["metadata"] == {"n": 3.5}  # the empty cell is left out


def test_random_bytes_in_a_txt_end_in_the_errors_file(cli_env: dict[str, str], tmp_path: Path) -> None:
    import random

    noise = bytes(random.Random(7).randrange(256) for _ in range(20_000))
    data = tmp_path / "noise.txt"
    data.write_bytes(noise)
    errors = tmp_path / "errors.jsonl"
    result = run("ingest", "--file", str(data), "--errors-file", str(errors), "--json")
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    lines = [line for line in noise.split(b"\n") if line.rstrip(b"\r").strip()]
    assert report["read"] == len(lines)
    # Nothing is lost: every line is either stored or listed with its reason.
    assert report["upserted"] + report["failed"] + report["duplicates"] == report["read"]
    assert report["failed"] == len(rejected(errors)) > 0
    assert result.exit_code == 3


def test_a_bad_json_line_is_rejected_and_the_rest_ingested(cli_env: dict[str, str], tmp_path: Path) -> None:
    data = tmp_path / "rows.jsonl"
    data.write_text('{"text": "one"}\n{"text": broken\n["a list"]\n{"text": "two"}\n')
    errors = tmp_path / "errors.jsonl"
    result = run("ingest", "--file", str(data), "--errors-file", str(errors), "--json")
    assert result.exit_code == 3 and json.loads(result.stdout)["upserted"] == 2
    reasons = [r["reason"] for r in rejected(errors)]
    assert reasons[0].startswith("line 2 of rows.jsonl is not valid JSON")
    assert reasons[1].startswith("line 3 of rows.jsonl is a JSON list, not an object")


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("empty.csv", b"", "empty.csv is empty: nothing to ingest"),
        ("empty.jsonl", b"", "empty.jsonl is empty: nothing to ingest"),
        ("blank.txt", b"\n  \n\n", "blank.txt is empty: nothing to ingest"),
        ("header.csv", b"text,label\n", "header.csv has a header but no rows: nothing to ingest"),
    ],
)
def test_empty_files_are_one_line_and_create_nothing(
    cli_env: dict[str, str], tmp_path: Path, name: str, content: bytes, problem: str
) -> None:
    data = tmp_path / name
    data.write_bytes(content)
    result = run("ingest", "--file", str(data), "--index", "never-created")
    assert result.exit_code == 1
    assert problem in one_error_line(result.stderr)
    assert "not found" in one_error_line(run("stats", "--index", "never-created").stderr)


# ------------------------------------------------------------------------------------- item 4: exit status
def test_rejected_records_exit_3_with_status_partial_and_one_summary_line(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    data = tmp_path / "nested.jsonl"
    data.write_text('{"text": "a", "meta": {"x": 1}, "keep": 1}\n{"text": "b", "meta": {"y": 2}, "keep": 2}\n')
    errors = tmp_path / "errors.jsonl"
    as_json = run("ingest", "--file", str(data), "--errors-file", str(errors), "--json")
    assert as_json.exit_code == 3
    assert json.loads(as_json.stdout)["status"] == "partial"

    human = run("ingest", "--file", str(data), "--errors-file", str(errors))
    assert human.exit_code == 3
    lines = [line for line in human.stderr.splitlines() if "rejected" in line]
    assert len(lines) == 1, human.stderr
    assert lines[0].startswith("2 record(s) rejected") and "--metadata-column" in lines[0]
    assert str(errors) in lines[0] and "exit status 3" in lines[0]

    # The hint's fix works: leaving the nested column out stores both records.
    done = run("ingest", "--file", str(data), "--metadata-column", "keep", "--json")
    assert done.exit_code == 0, done.stderr
    assert (json.loads(done.stdout)["status"], json.loads(done.stdout)["upserted"]) == ("ok", 2)


def test_plain_http_refusal_names_the_cli_flag(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_AbCdEfGhIjKlMnOpQrStUvWxYz12345678")
    data = tmp_path / "a.txt"
    data.write_text("one\n")
    # 192.0.2.1 (TEST-NET-1) is never contacted: the refusal comes before any request.
    result = run("ingest", "--file", str(data), "--endpoint-url", "http://192.0.2.1:8080")
    line = one_error_line(result.stderr)
    assert "refusing to send a token over plain http to 192.0.2.1" in line
    assert "--allow-insecure-http" in line and "allow_insecure_http=True" not in line
    assert "hf_AbCdEf" not in result.stderr
    assert "--allow-insecure-http" in help_text("ingest")


# ------------------------------------------------------------------------------------- item 6: hosts
def test_unreachable_or_scheme_less_pinecone_hosts_are_one_line_with_the_fix(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    port = closed_port()
    monkeypatch.setenv("PINECONE_CONTROLLER_HOST", f"localhost:{port}")
    line = one_error_line(run("stats").stderr)
    assert f"https://localhost:{port}" in line and "has no scheme" in line and f"http://localhost:{port}" in line
    monkeypatch.delenv("PINECONE_CONTROLLER_HOST")

    result = run("query", "x", "--controller-host", f"http://127.0.0.1:{port}")
    assert result.exit_code == 1
    line = one_error_line(result.stderr)
    assert f"http://127.0.0.1:{port}" in line and "Connection refused" in line
    assert "is a Pinecone server listening there?" in line and "--controller-host" in line

    with serve_pinecone() as url:  # a plain-http server reached with https
        data = tmp_path / "a.txt"
        data.write_text("one\n")
        result = run("ingest", "--file", str(data), "--controller-host", url.replace("http://", "https://"))
    line = one_error_line(result.stderr)
    assert "does not speak TLS" in line and f"write the host with its scheme: {url}" in line


# ------------------------------------------------------------------------------------- item 8: help, keys
@pytest.mark.parametrize("command", ["ingest", "query", "stats", "delete-index"])
def test_help_names_environment_variables_and_defaults(command: str) -> None:
    text = help_text(command)
    assert "PINECONE_INDEX_NAME" in text and "hf-endpoints" in text
    assert "PINECONE_CONTROLLER_HOST" in text
    if command in ("ingest", "query"):
        assert "HF_ENDPOINT_URL" in text
    if command == "ingest":
        assert "3 done but some records were rejected" in text


def test_redaction_spares_the_librarys_own_names() -> None:
    token = "hf_AbCdEfGhIjKlMnOpQrStUvWxYz12345678"
    names = [
        "run `hf-pinecone endpoint resume NAME` (Python: hf_pinecone.lifecycle.resume_endpoint)",
        "from hf_pinecone_haystack import InferenceEndpointTextEmbedder",
        "check PINECONE_API_KEY (or pinecone_api_key=/api_key=)",
        "hf_pinecone.errors.PineconeAuthError",
    ]
    for text in names:
        assert redact(text) == text
    assert redact(f"token {token}.") == "token ***."
    assert redact(f"Authorization=Bearer {token}") == "Authorization=Bearer ***"
    assert redact(f"?token={token}&x=1") == "?token=***&x=1"
    assert redact('{"api_key": "pcsk_4ab1_SomeSecretValue99"}') == '{"api_key": "***"}'
    assert redact("key pcsk_4ab1_SomeSecretValue99 here") == "key *** here"
    assert redact("api_key=sk-live-12345") == "api_key=***"


def test_the_pinecone_401_reads_the_same_in_every_command(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = tmp_path / "a.txt"
    data.write_text("one\n")
    with serve_pinecone(api_key="the-right-key") as url:
        monkeypatch.setenv("PINECONE_CONTROLLER_HOST", url)
        monkeypatch.setenv("PINECONE_API_KEY", "the-wrong-key")
        lines = [
            one_error_line(run(*args).stderr)
            for args in (["stats"], ["query", "x"], ["delete-index", "--yes"], ["ingest", "--file", str(data)])
        ]
    for line in lines:
        assert f"at {url} rejected the API key (HTTP 401)" in line
        assert line.endswith("check PINECONE_API_KEY (or pinecone_api_key=/api_key=)")
        assert "the-wrong-key" not in line and "***" not in line
    assert "delete_index" in lines[2]


# ------------------------------------------------------------------------------------- item 9: papercuts
def test_limit_0_touches_nothing(cli_env: dict[str, str], tmp_path: Path) -> None:
    data = tmp_path / "a.txt"
    data.write_text("one\ntwo\n")
    result = run("ingest", "--file", str(data), "--limit", "0", "--index", "limit-zero")
    assert result.exit_code == 0
    assert "nothing to ingest: --limit 0" in result.stderr
    as_json = run("ingest", "--file", str(data), "--limit", "0", "--index", "limit-zero", "--json")
    assert json.loads(as_json.stdout)["read"] == 0
    assert "not found" in one_error_line(run("stats", "--index", "limit-zero").stderr)


def test_progress_bars_of_text_files_have_a_total(cli_env: dict[str, str], tmp_path: Path) -> None:
    rows = [f"row {i}" for i in range(300)]
    (tmp_path / "a.txt").write_text("\n".join(rows) + "\n\n\n")  # trailing blank lines: the total is corrected
    (tmp_path / "a.csv").write_text("text\n" + "\n".join(f"csv {r}" for r in rows) + "\n")
    (tmp_path / "a.jsonl").write_text("".join(json.dumps({"text": f"json {r}"}) + "\n" for r in rows))
    for name in ("a.txt", "a.csv", "a.jsonl"):
        result = run("ingest", "--file", str(tmp_path / name))
        assert result.exit_code == 0, result.stderr
        assert "300/300" in result.stderr, result.stderr
    limited = run("ingest", "--file", str(tmp_path / "a.csv"), "--limit", "100", "--force")
    assert "100/100" in limited.stderr


def test_dataset_accepts_a_save_to_disk_folder(cli_env: dict[str, str], tmp_path: Path) -> None:
    import datasets

    datasets.Dataset.from_dict({"sentence": ["s one", "s two"]}).save_to_disk(str(tmp_path / "one"))
    datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"text": ["t one"]}),
            "test": datasets.Dataset.from_dict({"text": ["t two", "t three"]}),
        }
    ).save_to_disk(str(tmp_path / "dict"))
    first = run("ingest", "--dataset", str(tmp_path / "one"), "--column", "sentence", "--json")
    assert first.exit_code == 0, first.stderr
    assert json.loads(first.stdout)["upserted"] == 2
    split = run("ingest", "--dataset", str(tmp_path / "dict"), "--split", "test", "--json")
    assert json.loads(split.stdout)["upserted"] == 2
    wrong = run("ingest", "--dataset", str(tmp_path / "dict"), "--split", "validation")
    assert "split 'validation' not found" in one_error_line(wrong.stderr)
    assert "train, test" in wrong.stderr


def test_an_offline_dataset_run_is_one_line(cli_env: dict[str, str]) -> None:
    # The Hub unreachable (its endpoint pointed at a closed loopback port), HF_HUB_OFFLINE not set.
    env = {k: v for k, v in cli_env.items() if not k.endswith("_OFFLINE")}
    env["HF_ENDPOINT"] = f"http://127.0.0.1:{closed_port()}"
    done = subprocess.run(
        [*CLI, "ingest", "--dataset", "someone/some-dataset"], env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 1
    line = one_error_line(done.stderr)
    assert "cannot load dataset 'someone/some-dataset': cannot reach http://127.0.0.1:" in line
    assert "HF_HUB_OFFLINE=1" in line
    # Offline mode set: one line saying that only the cache is available.
    offline = run("ingest", "--dataset", "someone/some-dataset")
    assert "HF_HUB_OFFLINE is set" in one_error_line(offline.stderr)


def test_ctrl_c_reports_what_was_stored_and_a_rerun_resumes(tmp_path: Path) -> None:
    """SIGINT once the endpoint has served 10 requests: exit 130, a report, then the same command completes."""
    texts = [f"interrupt test sentence {i}" for i in range(20_000)]
    data = tmp_path / "big.txt"
    data.write_text("\n".join(texts) + "\n")
    plan = FaultPlan()  # injects nothing: counts requests, so SIGINT arrives mid-run without sleeping
    with serve_endpoint(embedder=HashEmbedder(DIM), faults=plan, per_item_delay=0.001) as url:
        env = {**os.environ, "HF_ENDPOINT_URL": url}
        proc = subprocess.Popen(
            [*CLI, "ingest", "--file", str(data), "--no-progress", "--batch-size", "64"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert plan.wait_for_requests(10, timeout=180)
            proc.send_signal(signal.SIGINT)
        finally:
            _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, err
        assert "Traceback" not in err
        [line] = [line for line in err.splitlines() if line.strip()]
        assert line.startswith("interrupted: ") and "stored in index 'hf-endpoints' before Ctrl-C" in line
        assert "run the same command again to resume" in line
        stored = int(line.split("interrupted: ")[1].split(" ")[0])
        assert stored < len(texts)

        rerun = subprocess.run(
            [*CLI, "ingest", "--file", str(data), "--json", "--no-progress"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads(rerun.stdout)
    assert report["read"] == len(texts) and report["failed"] == 0
    assert report["already_present"] >= stored  # what the interrupted run reported is really there
    assert report["already_present"] + report["upserted"] == len(texts)
