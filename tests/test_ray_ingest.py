"""hf_pinecone.ray on a local Ray cluster (``ray.init(num_cpus=2)``, one per test session), exact under faults.

Real components: Ray's own actors and tasks, which talk HTTP to the local endpoint (HashEmbedder: deterministic
vectors) and the local Pinecone server, both served by this test process over loopback. In-process pieces
only observe or hold requests (see ``distributed_support``); the faults are the project's FaultInjector.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ray.data")

import ray
import ray.data

import distributed_support as ds_support
from distributed_support import FileSecret, Services, corpus_rows, pid_of_client, services
from hf_pinecone import RetryPolicy
from hf_pinecone.errors import ConfigurationError
from hf_pinecone.ids import content_id
from hf_pinecone.local.faults import Fault

FAST_RETRY = RetryPolicy(max_retries=8, backoff_base=0.02, backoff_max=0.2)
TESTS_DIR = Path(__file__).resolve().parent
SRC_DIR = TESTS_DIR.parent / "src"


@pytest.fixture(scope="session")
def ray_cluster() -> Any:
    """One local Ray cluster for the session; its workers see this checkout and the test helpers."""
    path = os.pathsep.join([str(SRC_DIR), str(TESTS_DIR), os.environ.get("PYTHONPATH", "")])
    os.environ["PYTHONPATH"] = path
    context = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=True, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield context
    ray.shutdown()


@pytest.fixture
def svc() -> Any:
    with services() as s:
        yield s


def ingest(s: Services, dataset: Any, index: str, **kwargs: Any) -> Any:
    from hf_pinecone.ray import ingest as ray_ingest

    kwargs.setdefault("workers", 2)
    return ray_ingest(
        dataset,
        endpoint_url=s.endpoint_url,
        controller_host=s.pinecone_url,
        index_name=index,
        retry_policy=FAST_RETRY,
        **kwargs,
    )


def expected(rows: list[dict[str, Any]], namespace: str = "") -> dict[str, tuple[str, dict[str, Any]]]:
    """First occurrence of each text wins: id -> (text, metadata)."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for row in rows:
        if not isinstance(row["text"], str) or not row["text"].strip():
            continue
        rid = content_id(row["text"], namespace)
        out.setdefault(rid, (row["text"], {k: v for k, v in row.items() if k != "text" and v is not None}))
    return out


def assert_balanced(report: Any) -> None:
    assert report.read == report.duplicates + report.already_present + report.upserted + report.failed


def test_exact_report_errors_and_budget(ray_cluster: Any, svc: Services, index_name: str, tmp_path: Path) -> None:
    rows = corpus_rows(1500)
    rows[10]["text"] = "   "  # rejected: whitespace only
    rows[20]["group"] = float("nan")  # rejected: Pinecone takes finite numbers only
    dataset = ray.data.from_items(rows, override_num_blocks=6)
    errors = tmp_path / "rejected"

    report = ingest(svc, dataset, index_name, max_concurrency_total=4, errors_path=errors)

    good = [r for i, r in enumerate(rows) if i not in (10, 20)]
    assert svc.contents(index_name) == expected(good)
    assert (report.read, report.failed, report.upserted, report.embedded) == (1500, 2, 1498, 1498)
    assert_balanced(report)
    import pyarrow.parquet as pq

    rejected = pq.read_table(errors).to_pylist()
    assert sorted(r["reason"].split(" ")[0] for r in rejected) == ["empty", "metadata"]
    assert {r["text"] for r in rejected} == {"   ", rows[20]["text"]}
    # One request budget across both workers: the endpoint never had more than 4 embedding requests at once.
    assert 1 <= svc.endpoint_stats.max_in_flight <= 4

    again = ingest(svc, dataset, index_name, max_concurrency_total=4)
    assert (again.already_present, again.embedded, again.upserted) == (1498, 0, 0)


def test_budget_below_workers_is_a_clear_error(ray_cluster: Any, svc: Services, index_name: str) -> None:
    with pytest.raises(ConfigurationError, match="max_concurrency_total=1 is below workers=2"):
        ingest(svc, ray.data.from_items(corpus_rows(3)), index_name, max_concurrency_total=1)


def test_missing_column_is_a_configuration_error(ray_cluster: Any, svc: Services, index_name: str) -> None:
    with pytest.raises(ConfigurationError, match="'body'"):
        ingest(svc, ray.data.from_items(corpus_rows(3)), index_name, column="body")


def test_dedupe_worker_and_global(ray_cluster: Any, svc: Services, index_name: str) -> None:
    """Same text with different metadata: within a batch the first wins; globally (a shuffle) the first in order."""
    rows = corpus_rows(40)
    dupes = [{"text": rows[i]["text"], "group": "later", "n": 1000 + i} for i in range(0, 40, 4)]
    # Worker dedupe: originals and duplicates in the same single batch.
    report = ingest(svc, ray.data.from_items(rows + dupes, override_num_blocks=1), index_name, workers=1)
    assert (report.read, report.duplicates, report.upserted) == (50, 10, 40)
    assert svc.contents(index_name) == expected(rows)

    # Global dedupe: each duplicate in its own block, before and after the originals' blocks.
    other = f"{index_name}-g"
    source = dupes[:5] + rows + dupes[5:]
    dataset = ray.data.from_items(source, override_num_blocks=len(source) // 5)
    report = ingest(svc, dataset, other, dedupe="global")
    assert (report.read, report.duplicates, report.upserted) == (50, 10, 40)
    assert_balanced(report)
    assert svc.contents(other) == expected(source)


def test_composable_parts_and_datasink(ray_cluster: Any, svc: Services, index_name: str) -> None:
    from hf_pinecone.ray import EmbedUpsertActor, PineconeDatasink, collect_report, prepare_batch
    from hf_pinecone.store import ensure_index

    host = ensure_index(index_name, dimension=ds_support.DIM, api_key="local", host=svc.pinecone_url)
    from hf_pinecone.ray import WorkerSpec

    spec = WorkerSpec(endpoint_url=svc.endpoint_url, index_host=host, pinecone_api_key=ds_support.local_key)
    rows = corpus_rows(100)
    outcomes = (
        ray.data.from_items(rows)
        .map_batches(prepare_batch, batch_format="pyarrow", batch_size=32)
        .map_batches(
            EmbedUpsertActor,
            fn_constructor_args=(spec,),
            batch_format="pyarrow",
            batch_size=32,
            compute=ray.data.ActorPoolStrategy(size=1),
            num_cpus=0.5,
        )
    )
    report = collect_report(outcomes)
    assert (report.read, report.upserted) == (100, 100)
    assert svc.contents(index_name) == expected(rows)

    vectors = [
        {"id": f"v{i}", "values": [float(i + 1)] * ds_support.DIM, "metadata": {"text": f"t{i}"}} for i in range(50)
    ]
    sink = PineconeDatasink(index_host=host, namespace="pre", pinecone_api_key=ds_support.local_key)
    ray.data.from_items(vectors).write_datasink(sink)
    assert sink.upserted == 50
    stored = svc.contents(index_name, namespace="pre")
    assert stored == {f"v{i}": (f"t{i}", {}) for i in range(50)}


def test_secrets_resolved_in_workers_never_pickled_or_logged(ray_cluster: Any, tmp_path: Path, index_name: str) -> None:
    token, key = "hf_rayWorkerSecret0123456789", "pcsk_rayWorkerKey_0123456789"
    (tmp_path / "token").write_text(token)
    (tmp_path / "key").write_text(key)
    with services(endpoint_token=token, pinecone_key=key) as s:
        from hf_pinecone._distributed import open_run
        from hf_pinecone.ray import ingest as ray_ingest

        with pytest.raises(ConfigurationError, match="callable"):
            ray_ingest(ray.data.from_items(corpus_rows(2)), hf_token=token)  # type: ignore[arg-type]

        hf_token, pinecone_key = FileSecret(tmp_path / "token"), FileSecret(tmp_path / "key")
        rows = corpus_rows(200)
        report = ray_ingest(
            ray.data.from_items(rows),
            endpoint_url=s.endpoint_url,
            controller_host=s.pinecone_url,
            index_name=index_name,
            workers=2,
            hf_token=hf_token,
            pinecone_api_key=pinecone_key,
        )
        assert report.upserted == 200 and s.contents(index_name) == expected(rows)

        # What Ray pickles into the actors' constructor: the spec. It holds the sources, not the secrets.
        with open_run(
            index_name=index_name,
            host=None,
            endpoint_url=s.endpoint_url,
            controller_host=s.pinecone_url,
            namespace=None,
            hf_token=hf_token,
            pinecone_api_key=pinecone_key,
            create_index=False,
            embedding_options={},
        ) as run:
            blob = ray.cloudpickle.dumps(run.spec) + pickle.dumps(run.spec)
            assert token.encode() not in blob and key.encode() not in blob
            assert token not in repr(run.spec) and key not in repr(run.spec)

    session_dir = Path(ray._private.worker._global_node.get_session_dir_path())
    for path in session_dir.rglob("*"):
        if path.is_file() and path.stat().st_size < 50_000_000:
            data = path.read_bytes()
            assert token.encode() not in data and key.encode() not in data, path


@pytest.mark.slow
def test_worker_sigkilled_mid_batch_is_exact(ray_cluster: Any, svc: Services, index_name: str) -> None:
    rows = corpus_rows(2000)
    trap = rows[1234]["text"]
    svc.gate.arm(trap)
    dataset = ray.data.from_items(rows, override_num_blocks=8)
    result: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: result.update(report=ingest(svc, dataset, index_name)))
    runner.start()
    try:
        assert svc.gate.caught.wait(180), "the trap record never reached the endpoint"
        assert svc.gate.client_port is not None
        victim = pid_of_client(svc.gate.client_port)
        os.kill(victim, signal.SIGKILL)
    finally:
        svc.gate.release()
        runner.join(300)
    assert not runner.is_alive()
    report = result["report"]
    assert svc.contents(index_name) == expected(rows)
    assert report.failed == 0 and report.read == 2000
    assert_balanced(report)


@pytest.mark.slow
def test_endpoint_faults_and_cold_start_with_two_workers(ray_cluster: Any, svc: Services, index_name: str) -> None:
    svc.faults.set_rate(0.1, [Fault.RATE_LIMIT, Fault.SERVER_ERROR, Fault.BAD_GATEWAY, Fault.RESET, Fault.TRUNCATED])
    svc.faults.start_cold_start(requests=6)
    svc.faults.enabled = True
    rows = corpus_rows(3000)
    report = ingest(svc, ray.data.from_items(rows, override_num_blocks=8), index_name, max_concurrency_total=8)
    injected = svc.faults.stats.injected
    assert injected.get("cold_start") == 6 and sum(injected.values()) > 6  # the cold start, then random faults
    assert report.failed == 0
    assert svc.contents(index_name) == expected(rows)
    assert_balanced(report)


DRIVER = """
import sys, ray, ray.data
sys.path[:0] = {paths!r}
from distributed_support import corpus_rows
from hf_pinecone.ray import ingest
ray.init(address={address!r}, log_to_driver=False)
ray.data.DataContext.get_current().enable_progress_bars = False
ingest(ray.data.from_items(corpus_rows({n}), override_num_blocks=16), endpoint_url={endpoint!r},
       controller_host={pinecone!r}, index_name={index!r}, workers=2, batch_size=100)
"""


@pytest.mark.slow
def test_driver_killed_then_rerun_embeds_only_the_missing(ray_cluster: Any, index_name: str) -> None:
    n = 6000
    rows = corpus_rows(n)
    corpus = {r["text"] for r in rows}
    with services(per_item_delay=0.0005, replicas=2) as s:
        script = DRIVER.format(
            paths=[str(SRC_DIR), str(TESTS_DIR)],
            address=ray_cluster.address_info["address"],
            n=n,
            endpoint=s.endpoint_url,
            pinecone=s.pinecone_url,
            index=index_name,
        )
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            while True:  # wait for upsert answers, then look at the index: no timing
                seen = s.upserts.done
                if seen and s.visible(index_name) >= n // 4:
                    break
                assert proc.poll() is None, proc.communicate()[1].decode(errors="replace")[-3000:]
                assert s.upserts.wait_done_beyond(seen, timeout=180)
            actors = ds_support.pids_with_cmdline_prefix("ray::MapWorker")
            assert actors, "the driver's actors were not found"
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL
        # Ray kills the dead driver's actors; what they had sent still finishes server-side.
        assert ds_support.wait_exited(actors, timeout=120)
        assert s.endpoint_stats.wait_for(lambda st: st.in_flight == 0, timeout=60)
        assert s.upserts.wait_idle(timeout=60)
        stored_before = {text for text, _ in s.contents(index_name).values()}
        assert 0 < len(stored_before) < n
        s.embedder.take(corpus)

        report = ingest(s, ray.data.from_items(rows, override_num_blocks=16), index_name)
        embedded_again = set(s.embedder.take(corpus))
        assert report.already_present == len(stored_before) > 0
        assert embedded_again == corpus - stored_before
        assert report.embedded == report.upserted == n - len(stored_before)
        assert s.contents(index_name) == expected(rows)


def test_cli_engine_ray_reads_a_directory(ray_cluster: Any, svc: Services, index_name: str, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from hf_pinecone.cli import app
    from test_cli_engines import write_parts

    rows = corpus_rows(300)
    write_parts(tmp_path / "corpus", rows, 3)
    args = [
        "ingest",
        "--engine",
        "ray",
        "--workers",
        "2",
        "--file",
        str(tmp_path / "corpus"),
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
    assert (payload["engine"], payload["read"], payload["upserted"]) == ("ray", 300, 300)
    assert svc.contents(index_name) == expected(rows)


def test_wrong_token_stops_the_run_with_one_clear_line(ray_cluster: Any, tmp_path: Path, index_name: str) -> None:
    from hf_pinecone.errors import IngestError
    from hf_pinecone.ray import ingest as ray_ingest
    from hf_pinecone.store import ensure_index

    good, wrong = "hf_rayRightToken0123456789", "hf_rayWrongToken0123456789"
    (tmp_path / "token").write_text(wrong)
    with services(endpoint_token=good) as s:
        host = ensure_index(index_name, dimension=ds_support.DIM, api_key="local", host=s.pinecone_url)
        with pytest.raises(IngestError) as caught:
            ray_ingest(
                ray.data.from_items(corpus_rows(50)),
                endpoint_url=s.endpoint_url,
                host=host,
                workers=1,
                hf_token=FileSecret(tmp_path / "token"),
            )
    message = str(caught.value)
    assert "\n" not in message and "EndpointAuthError" in message and "401" in message
    assert wrong not in message and good not in message
    assert caught.value.report.upserted == 0
