"""Durability of the local Pinecone server with ``--data-dir``: restarts, snapshots, torn logs, ``kill -9``.

Everything goes through the real ``pinecone`` SDK over loopback HTTP; the kill test runs the real
``hf-pinecone serve pinecone`` command in a subprocess and SIGKILLs it while upserts are in flight.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pinecone import Pinecone, ServerlessSpec

from hf_pinecone.errors import ConfigurationError
from hf_pinecone.local import create_pinecone_app, serve_pinecone

SPEC = ServerlessSpec(cloud="aws", region="us-east-1")


def _vec(i: int, dim: int = 4) -> list[float]:
    return [float(i + 1)] + [float((i * 7 + j) % 5) for j in range(dim - 1)]


def _state(idx: Any, ids: list[str], namespace: str = "") -> dict[str, tuple[list[float], Any]]:
    fetched = idx.fetch(ids=ids, namespace=namespace).vectors
    return {k: (v.values, v.metadata) for k, v in fetched.items()}


def test_restart_keeps_every_kind_of_write(tmp_path: Path, index_name: str) -> None:
    ids = [f"id{i}" for i in range(50)]
    with serve_pinecone(data_dir=tmp_path) as url:
        pc = Pinecone(api_key="local", host=url)
        pc.create_index(name=index_name, dimension=4, metric="euclidean", spec=SPEC)
        pc.create_index(name=f"{index_name}-gone", dimension=2, metric="cosine", spec=SPEC)
        idx = pc.Index(host=pc.describe_index(index_name).host)
        idx.upsert(vectors=[(i, _vec(n), {"n": n, "tag": ["a", "b"]}) for n, i in enumerate(ids)])
        idx.upsert(vectors=[("x", _vec(1), {"k": "v"})], namespace="other")
        idx.upsert(vectors=[("y", _vec(2))], namespace="dropped")
        idx.update(id="id3", values=[9.0, 9.0, 9.0, 9.0], set_metadata={"extra": True})
        idx.delete(ids=["id4", "id5"])
        idx.delete(filter={"n": {"$gte": 40}})
        idx.delete(delete_all=True, namespace="dropped")
        pc.delete_index(f"{index_name}-gone")
        before = _state(idx, ids)
        before_other = _state(idx, ["x"], "other")
        stats_before = idx.describe_index_stats().to_dict()
    assert len(before) == 38

    with serve_pinecone(data_dir=tmp_path) as url:
        pc = Pinecone(api_key="local", host=url)
        assert pc.list_indexes().names() == [index_name]
        model = pc.describe_index(index_name)
        assert (model.dimension, model.metric) == (4, "euclidean")
        idx = pc.Index(host=model.host)
        assert _state(idx, ids) == before
        assert _state(idx, ["x"], "other") == before_other
        assert idx.describe_index_stats().to_dict() == stats_before
        assert idx.fetch(ids=["id3"]).vectors["id3"].metadata["extra"] is True
        assert idx.query(vector=[9.0, 9.0, 9.0, 9.0], top_k=1).matches[0].id == "id3"


def test_snapshot_compaction_and_log_after_it(tmp_path: Path, index_name: str) -> None:
    # A tiny threshold forces several snapshots; writes after the last one live only in the log.
    with serve_pinecone(data_dir=tmp_path, compact_bytes=4096) as url:
        pc = Pinecone(api_key="local", host=url)
        pc.create_index(name=index_name, dimension=4, metric="cosine", spec=SPEC)
        idx = pc.Index(host=pc.describe_index(index_name).host)
        for start in range(0, 300, 30):
            idx.upsert(vectors=[(f"v{i}", _vec(i), {"i": i}) for i in range(start, start + 30)])
        idx.delete(ids=[f"v{i}" for i in range(0, 300, 3)])
        idx.update(id="v1", set_metadata={"late": "yes"})
        expected = _state(idx, [f"v{i}" for i in range(300)])
    index_dir = tmp_path / "indexes" / index_name
    assert (index_dir / "snapshot.bin").exists()
    assert (index_dir / "wal.log").stat().st_size < 4096

    with serve_pinecone(data_dir=tmp_path) as url:
        idx = Pinecone(api_key="local", host=url).Index(host=f"{url}/indexes/{index_name}")
        assert _state(idx, [f"v{i}" for i in range(300)]) == expected
        assert idx.describe_index_stats().total_vector_count == 200


def _sparse_state(idx: Any, ids: list[str], namespace: str = "") -> dict[str, Any]:
    fetched = idx.fetch(ids=ids, namespace=namespace).vectors
    return {
        k: (v.values, v.sparse_values.to_dict() if v.sparse_values else None, v.metadata) for k, v in fetched.items()
    }


@pytest.mark.parametrize("compact_bytes", [256 * 1024 * 1024, 512])
def test_sparse_values_survive_restarts(tmp_path: Path, index_name: str, compact_bytes: int) -> None:
    """Sparse indexes and sparse-dense records keep their sparse values through the log and through snapshots."""
    sparse_ids = [f"s{i}" for i in range(40)]
    hybrid_ids = [f"h{i}" for i in range(20)]
    with serve_pinecone(data_dir=tmp_path, compact_bytes=compact_bytes) as url:
        pc = Pinecone(api_key="local", host=url)
        pc.create_index(name=index_name, metric="dotproduct", vector_type="sparse", spec=SPEC)
        pc.create_index(name=f"{index_name}-h", dimension=4, metric="dotproduct", spec=SPEC)
        sparse = pc.Index(host=pc.describe_index(index_name).host)
        hybrid = pc.Index(host=pc.describe_index(f"{index_name}-h").host)
        sparse.upsert(
            vectors=[
                {"id": i, "sparse_values": {"indices": [n, 1000 + n], "values": [0.5 + n, 0.25]}, "metadata": {"n": n}}
                for n, i in enumerate(sparse_ids)
            ],
            namespace="ns",
        )
        sparse.update(id="s3", sparse_values={"indices": [7, 2**32 - 1], "values": [3.0, 1.5]}, namespace="ns")
        sparse.delete(ids=["s4"], namespace="ns")
        hybrid.upsert(
            vectors=[
                {"id": i, "values": _vec(n), "sparse_values": {"indices": [n], "values": [0.1 * (n + 1)]}}
                for n, i in enumerate(hybrid_ids)
            ]
            + [("dense-only", _vec(99))]
        )
        hybrid.update(id="h1", sparse_values={"indices": [5, 6], "values": [1.0, 2.0]})
        before_sparse = _sparse_state(sparse, sparse_ids, "ns")
        before_hybrid = _sparse_state(hybrid, [*hybrid_ids, "dense-only"])
        query = {"top_k": 5, "sparse_vector": {"indices": [3, 7, 1001], "values": [1.0, 1.0, 1.0]}, "namespace": "ns"}
        ranked = [(m.id, m.score) for m in sparse.query(**query).matches]
        stats = sparse.describe_index_stats().to_dict()
    assert len(before_sparse) == 39 and before_sparse["s3"][1] == {"indices": [7, 2**32 - 1], "values": [3.0, 1.5]}
    snapshots = [(tmp_path / "indexes" / name / "snapshot.bin").exists() for name in (index_name, f"{index_name}-h")]
    assert snapshots == [compact_bytes == 512] * 2

    with serve_pinecone(data_dir=tmp_path) as url:
        pc = Pinecone(api_key="local", host=url)
        model = pc.describe_index(index_name)
        assert (model.vector_type, model.dimension, model.metric) == ("sparse", None, "dotproduct")
        sparse = pc.Index(host=model.host)
        hybrid = pc.Index(host=pc.describe_index(f"{index_name}-h").host)
        assert _sparse_state(sparse, sparse_ids, "ns") == before_sparse
        assert _sparse_state(hybrid, [*hybrid_ids, "dense-only"]) == before_hybrid
        assert [(m.id, m.score) for m in sparse.query(**query).matches] == ranked
        assert sparse.describe_index_stats().to_dict() == stats


def test_torn_log_tail_is_cut_and_server_keeps_writing(tmp_path: Path, index_name: str) -> None:
    with serve_pinecone(data_dir=tmp_path) as url:
        pc = Pinecone(api_key="local", host=url)
        pc.create_index(name=index_name, dimension=4, metric="cosine", spec=SPEC)
        pc.Index(host=f"{url}/indexes/{index_name}").upsert(vectors=[("a", _vec(0)), ("b", _vec(1))])
    wal = tmp_path / "indexes" / index_name / "wal.log"
    # What a kill -9 in the middle of an unacknowledged write leaves behind: a partial frame.
    with wal.open("ab") as handle:
        handle.write(b"\x40\x00\x00\x00garbage")

    for round_ in range(2):
        with serve_pinecone(data_dir=tmp_path) as url:
            idx = Pinecone(api_key="local", host=url).Index(host=f"{url}/indexes/{index_name}")
            assert set(idx.fetch(ids=["a", "b", "c"]).vectors) == ({"a", "b"} if round_ == 0 else {"a", "b", "c"})
            idx.upsert(vectors=[("c", _vec(2))])


def test_failed_fsync_is_an_error_and_later_writes_still_survive(
    tmp_path: Path, index_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk error cannot be produced for real here, so ``os.fsync`` fails once (an in-process fault)."""
    from hf_pinecone.local import _pinecone_storage

    real_fsync = os.fsync
    failures = [OSError(5, "Input/output error")]

    def flaky_fsync(fd: int) -> None:
        if failures:
            raise failures.pop()
        real_fsync(fd)

    with serve_pinecone(data_dir=tmp_path) as url:
        pc = Pinecone(api_key="local", host=url)
        pc.create_index(name=index_name, dimension=4, metric="cosine", spec=SPEC)
        data_url = f"{url}/indexes/{index_name}"
        monkeypatch.setattr(_pinecone_storage.os, "fsync", flaky_fsync)
        failed = httpx.post(f"{data_url}/vectors/upsert", json={"vectors": [{"id": "lost", "values": _vec(0)}]})
        assert failed.status_code == 500
        assert failed.json() == {"code": 13, "message": "Internal error", "details": []}
        kept = httpx.post(f"{data_url}/vectors/upsert", json={"vectors": [{"id": "kept", "values": _vec(1)}]})
        assert kept.status_code == 200
    monkeypatch.setattr(_pinecone_storage.os, "fsync", real_fsync)
    with serve_pinecone(data_dir=tmp_path) as url:
        idx = Pinecone(api_key="local", host=url).Index(host=f"{url}/indexes/{index_name}")
        assert set(idx.fetch(ids=["lost", "kept"]).vectors) == {"kept"}


def test_a_data_dir_serves_one_server_at_a_time(tmp_path: Path) -> None:
    with (
        serve_pinecone(data_dir=tmp_path),
        pytest.raises(ConfigurationError, match="already used by another running server"),
    ):
        create_pinecone_app(data_dir=tmp_path)
    with serve_pinecone(data_dir=tmp_path) as url:  # released on shutdown
        assert httpx.get(f"{url}/indexes").status_code == 200


def test_index_names_cannot_escape_the_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with serve_pinecone(data_dir=data_dir) as url:
        for name in ("../evil", "..", "a/../../b", "/abs", "%2e%2e"):
            body = {"name": name, "dimension": 2, "metric": "cosine", "spec": {"serverless": {}}}
            assert httpx.post(f"{url}/indexes", json=body).status_code == 400
        assert httpx.get(f"{url}/indexes/..%2F..%2Fetc").status_code == 404
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
    assert sorted(p.name for p in data_dir.iterdir()) == [".lock", "indexes"]
    assert sorted(p.name for p in (data_dir / "indexes").iterdir()) == []


# ------------------------------------------------------------------------------------------------ kill -9
@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[Any]:
    """Start ``hf-pinecone serve pinecone --port 0 --data-dir D``; yields a starter returning (proc, url)."""
    procs: list[subprocess.Popen[str]] = []

    def start() -> tuple[subprocess.Popen[str], str]:
        cmd = [sys.executable, "-c", "from hf_pinecone.cli import main; main()"]
        cmd += ["serve", "pinecone", "--port", "0", "--data-dir", str(tmp_path / "data")]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the server is ready (or exits)
        assert line.startswith("listening on http://"), line
        return proc, line.split()[-1]

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_kill_9_loses_no_acknowledged_upsert(server_process: Any, index_name: str) -> None:
    proc, url = server_process()
    pc = Pinecone(api_key="local", host=url)
    pc.create_index(name=index_name, dimension=16, metric="cosine", spec=SPEC)
    host = pc.describe_index(index_name).host
    acknowledged: list[str] = []
    enough = threading.Event()
    done = threading.Event()

    def writer(worker: int) -> None:
        idx = Pinecone(api_key="local", host=url).Index(host=host)
        batch = 0
        try:
            while True:
                ids = [f"w{worker}-b{batch}-{i}" for i in range(50)]
                idx.upsert(vectors=[(r, _vec(n, 16), {"batch": batch}) for n, r in enumerate(ids)])
                acknowledged.extend(ids)  # only after the server answered 200
                batch += 1
                if len(acknowledged) >= 2000:
                    enough.set()
        except Exception:  # the server died under us: stop writing
            done.set()

    threads = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(3)]
    for thread in threads:
        thread.start()
    assert enough.wait(timeout=60)
    os.kill(proc.pid, signal.SIGKILL)  # while the writers are still sending
    proc.wait(timeout=30)
    for thread in threads:
        thread.join(timeout=60)
    assert done.is_set()
    survivors = list(acknowledged)

    _, url2 = server_process()
    idx = Pinecone(api_key="local", host=url2).Index(host=f"{url2}/indexes/{index_name}")
    found: set[str] = set()
    for start in range(0, len(survivors), 1000):
        found |= set(idx.fetch(ids=survivors[start : start + 1000]).vectors)
    assert found == set(survivors)
    assert idx.describe_index_stats().total_vector_count >= len(survivors)
