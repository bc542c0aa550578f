"""hf_pinecone.spark on a local Spark (``local[2,4]``: 2 task slots, 4 attempts per task), exact under faults.

Real components: Spark's own Python workers run ``mapInPandas`` and talk HTTP to the local endpoint
(HashEmbedder) and the local Pinecone server served by this test process over loopback. In-process pieces
only observe or hold requests (see ``distributed_support``); faults come from the project's FaultInjector.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pyspark")
if os.system("java -version >/dev/null 2>&1") != 0:
    pytest.skip("Spark needs a Java runtime (apt-get install openjdk-17-jre-headless)", allow_module_level=True)

from distributed_support import FileSecret, Services, corpus_rows, pid_of_client, services
from hf_pinecone import RetryPolicy
from hf_pinecone.errors import ConfigurationError
from hf_pinecone.ids import content_id
from hf_pinecone.local.faults import Fault

FAST_RETRY = RetryPolicy(max_retries=8, backoff_base=0.02, backoff_max=0.2)
TESTS_DIR = Path(__file__).resolve().parent
SRC_DIR = TESTS_DIR.parent / "src"


@pytest.fixture(scope="session")
def spark() -> Any:
    """One local Spark for the session; its Python workers run this interpreter and see this checkout."""
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYTHONPATH"] = os.pathsep.join([str(SRC_DIR), str(TESTS_DIR), os.environ.get("PYTHONPATH", "")])
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2,4]")
        .appName("hf-pinecone-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.python.worker.reuse", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture
def svc() -> Any:
    with services() as s:
        yield s


def ingest(s: Services, df: Any, index: str, **kwargs: Any) -> Any:
    from hf_pinecone.spark import ingest as spark_ingest

    return spark_ingest(
        df,
        endpoint_url=s.endpoint_url,
        controller_host=s.pinecone_url,
        index_name=index,
        retry_policy=FAST_RETRY,
        **kwargs,
    )


def expected(rows: list[dict[str, Any]]) -> dict[str, tuple[str, dict[str, Any]]]:
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for row in rows:
        if isinstance(row["text"], str) and row["text"].strip():
            meta = {k: v for k, v in row.items() if k != "text" and v is not None}
            out.setdefault(content_id(row["text"]), (row["text"], meta))
    return out


def frame(spark: Any, rows: list[dict[str, Any]], partitions: int) -> Any:
    return (
        spark.createDataFrame(rows, "text string, `group` string, n long")
        .repartition(partitions)
        .sortWithinPartitions("n")
    )


def assert_balanced(report: Any) -> None:
    assert report.read == report.duplicates + report.already_present + report.upserted + report.failed


def test_exact_report_errors_and_budget(spark: Any, svc: Services, index_name: str, tmp_path: Path) -> None:
    rows = corpus_rows(1500)
    rows[10]["text"] = ""  # rejected: empty
    errors = tmp_path / "rejected"
    report = ingest(svc, frame(spark, rows, 4), index_name, max_concurrency_total=4, errors_path=errors)

    good = [r for i, r in enumerate(rows) if i != 10]
    assert svc.contents(index_name) == expected(good)
    assert (report.read, report.failed, report.upserted) == (1500, 1, 1499)
    assert_balanced(report)
    import pyarrow.parquet as pq

    assert [r["reason"] for r in pq.read_table(errors).to_pylist()] == ["empty or whitespace-only text"]
    assert 1 <= svc.endpoint_stats.max_in_flight <= 4  # one budget across the 2 task slots

    again = ingest(svc, frame(spark, rows, 3), index_name)
    assert (again.already_present, again.embedded) == (1499, 0)


def test_missing_column_is_a_configuration_error(spark: Any, svc: Services, index_name: str) -> None:
    with pytest.raises(ConfigurationError, match="'body'"):
        ingest(svc, frame(spark, corpus_rows(3), 1), index_name, column="body")
    with pytest.raises(ConfigurationError, match="'zz' not found"):
        ingest(svc, frame(spark, corpus_rows(3), 1), index_name, metadata_columns=["zz"])


def test_dedupe_global_keeps_first_in_order(spark: Any, svc: Services, index_name: str) -> None:
    rows = corpus_rows(40)
    dupes = [{"text": rows[i]["text"], "group": "later", "n": 1000 + i} for i in range(0, 40, 4)]
    df = spark.createDataFrame(rows + dupes, "text string, `group` string, n long").orderBy("n")
    report = ingest(svc, df, index_name, dedupe="global")
    assert (report.read, report.duplicates, report.upserted) == (50, 10, 40)
    assert svc.contents(index_name) == expected(rows)


def test_secrets_resolved_in_workers_never_pickled_or_logged(
    spark: Any, tmp_path: Path, index_name: str, capfd: pytest.CaptureFixture[str]
) -> None:
    from pyspark import cloudpickle

    from hf_pinecone.spark import WorkerSpec, partition_function

    token, key = "hf_sparkWorkerSecret012345678", "pcsk_sparkWorkerKey_012345678"
    (tmp_path / "token").write_text(token)
    (tmp_path / "key").write_text(key)
    with services(endpoint_token=token, pinecone_key=key) as s:
        rows = corpus_rows(300)
        report = ingest(
            s,
            frame(spark, rows, 2),
            index_name,
            hf_token=FileSecret(tmp_path / "token"),
            pinecone_api_key=FileSecret(tmp_path / "key"),
        )
        assert report.upserted == 300 and s.contents(index_name) == expected(rows)
        spec = WorkerSpec(
            endpoint_url=s.endpoint_url,
            index_host="h",
            hf_token=FileSecret(tmp_path / "token"),
            pinecone_api_key=FileSecret(tmp_path / "key"),
        )
        blob = cloudpickle.dumps(partition_function(spec))  # what Spark ships to every task
        assert token.encode() not in blob and key.encode() not in blob
    out, err = capfd.readouterr()
    assert token not in out + err and key not in out + err


@pytest.mark.slow
def test_python_worker_sigkilled_mid_batch_is_exact(spark: Any, svc: Services, index_name: str) -> None:
    rows = corpus_rows(2000)
    svc.gate.arm(rows[1234]["text"])
    result: dict[str, Any] = {}
    df = frame(spark, rows, 4)
    runner = threading.Thread(target=lambda: result.update(report=ingest(svc, df, index_name)))
    runner.start()
    try:
        assert svc.gate.caught.wait(180), "the trap record never reached the endpoint"
        assert svc.gate.client_port is not None
        os.kill(pid_of_client(svc.gate.client_port), signal.SIGKILL)
    finally:
        svc.gate.release()
        runner.join(300)
    assert not runner.is_alive()
    report = result["report"]
    assert svc.contents(index_name) == expected(rows)
    assert report.failed == 0 and report.read == 2000
    assert_balanced(report)


@pytest.mark.slow
def test_endpoint_faults_and_cold_start_with_two_workers(spark: Any, svc: Services, index_name: str) -> None:
    svc.faults.set_rate(0.1, [Fault.RATE_LIMIT, Fault.SERVER_ERROR, Fault.BAD_GATEWAY, Fault.RESET, Fault.TRUNCATED])
    svc.faults.start_cold_start(requests=6)
    svc.faults.enabled = True
    rows = corpus_rows(3000)
    report = ingest(svc, frame(spark, rows, 4), index_name, workers=2, max_concurrency_total=8)
    injected = svc.faults.stats.injected
    assert injected.get("cold_start") == 6 and sum(injected.values()) > 6
    assert report.failed == 0
    assert svc.contents(index_name) == expected(rows)
    assert_balanced(report)


def test_cli_engine_spark_reads_a_jsonl_glob(spark: Any, svc: Services, index_name: str, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from hf_pinecone.cli import app

    rows = corpus_rows(200)
    for part in range(2):
        lines = [json.dumps(r) for r in rows[part * 100 : (part + 1) * 100]]
        (tmp_path / f"corpus-{part}.jsonl").write_text("\n".join(lines) + "\n")
    args = [
        "ingest",
        "--engine",
        "spark",
        "--workers",
        "2",
        "--file",
        str(tmp_path / "corpus-*.jsonl"),
        "--endpoint-url",
        svc.endpoint_url,
        "--controller-host",
        svc.pinecone_url,
        "--index",
        index_name,
        "--json",
    ]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout[result.stdout.index("{") :])
    assert (payload["engine"], payload["read"], payload["upserted"]) == ("spark", 200, 200)
    assert svc.contents(index_name) == expected(rows)


@pytest.mark.slow
def test_driver_killed_then_rerun_embeds_only_the_missing(spark: Any, index_name: str, tmp_path: Path) -> None:
    """The real ``hf-pinecone ingest --engine spark`` in a subprocess (its own local Spark) is SIGKILLed mid-run."""
    import subprocess

    import pyarrow as pa
    import pyarrow.parquet as pq

    import distributed_support as ds_support

    n = 6000
    rows = corpus_rows(n)
    corpus = {r["text"] for r in rows}
    data = tmp_path / "corpus"
    data.mkdir()
    for part in range(6):
        pq.write_table(pa.Table.from_pylist(rows[part * 1000 : (part + 1) * 1000]), data / f"part-{part}.parquet")
    with services(per_item_delay=0.0005, replicas=2) as s:
        env = {k: v for k, v in os.environ.items() if k not in ("PYSPARK_PYTHON", "HF_TOKEN", "PINECONE_API_KEY")}
        env.update(
            HF_ENDPOINT_URL=s.endpoint_url, PINECONE_CONTROLLER_HOST=s.pinecone_url, PINECONE_INDEX_NAME=index_name
        )
        cmd = [sys.executable, "-c", "from hf_pinecone.cli import main; main()", "ingest", "--engine", "spark"]
        proc = subprocess.Popen([*cmd, "--workers", "2", "--file", str(data)], env=env, stderr=subprocess.PIPE)
        try:
            while True:  # wait for upsert answers, then look at the index: no timing
                seen = s.upserts.done
                if seen and s.visible(index_name) >= n // 4:
                    break
                assert proc.poll() is None, proc.communicate()[1].decode(errors="replace")[-3000:]
                assert s.upserts.wait_done_beyond(seen, timeout=240)
            family = ds_support.descendants(proc.pid)  # the JVM and its Python workers
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL
        # The JVM exits when its Python driver is gone, and takes its Python workers with it.
        assert ds_support.wait_exited(family, timeout=120)
        assert s.endpoint_stats.wait_for(lambda st: st.in_flight == 0, timeout=60)
        assert s.upserts.wait_idle(timeout=60)
        stored_before = {text for text, _ in s.contents(index_name).values()}
        assert 0 < len(stored_before) < n
        s.embedder.take(corpus)

        report = ingest(s, spark.read.parquet(str(data)), index_name)
        assert report.already_present == len(stored_before) > 0
        assert set(s.embedder.take(corpus)) == corpus - stored_before
        assert report.embedded == report.upserted == n - len(stored_before)
        assert s.contents(index_name) == expected(rows)
