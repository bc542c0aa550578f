"""``hf-pinecone ingest --file DIR|GLOB --engine local``: sources resolved by ``cli/_engines.py``.

Real components: the CLI (typer), the local endpoint (HashEmbedder) and the local Pinecone server over loopback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from distributed_support import corpus_rows, services
from hf_pinecone.cli import app
from hf_pinecone.cli._engines import resolve_files
from hf_pinecone.errors import ConfigurationError


def write_parts(folder: Path, rows: list[dict[str, Any]], parts: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    size = -(-len(rows) // parts)
    for i in range(parts):
        pq.write_table(pa.Table.from_pylist(rows[i * size : (i + 1) * size]), folder / f"part-{i}.parquet")


def test_resolve_files(tmp_path: Path) -> None:
    write_parts(tmp_path / "d", corpus_rows(10), 2)
    assert resolve_files(tmp_path / "d")[0] == "parquet"
    assert len(resolve_files(tmp_path / "d" / "*.parquet")[1]) == 2
    (tmp_path / "d" / "extra.csv").write_text("text\nhello\n")
    with pytest.raises(ConfigurationError, match="mixes file types"):
        resolve_files(tmp_path / "d")
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "x.bin").write_bytes(b"\0")
    with pytest.raises(ConfigurationError, match="unknown file type"):
        resolve_files(tmp_path / "e")
    with pytest.raises(ConfigurationError, match="no files match"):
        resolve_files(tmp_path / "nothing-*.parquet")
    with pytest.raises(ConfigurationError, match="file not found"):
        resolve_files(tmp_path / "missing.parquet")


@pytest.mark.parametrize("form", ["dir", "glob"])
def test_local_engine_reads_a_directory_or_a_glob(tmp_path: Path, index_name: str, form: str) -> None:
    rows = corpus_rows(120)
    write_parts(tmp_path / "corpus", rows, 3)
    source = tmp_path / "corpus" if form == "dir" else tmp_path / "corpus" / "part-*.parquet"
    with services() as s:
        result = CliRunner().invoke(
            app,
            [
                "ingest",
                "--file",
                str(source),
                "--endpoint-url",
                s.endpoint_url,
                "--controller-host",
                s.pinecone_url,
                "--index",
                index_name,
                "--json",
                "--no-progress",
            ],
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
        payload = json.loads(result.stdout)
        assert (payload["read"], payload["upserted"]) == (120, 120)
        assert {text for text, _ in s.contents(index_name).values()} == {r["text"] for r in rows}


def test_unknown_engine_is_one_clear_line(tmp_path: Path) -> None:
    write_parts(tmp_path / "c", corpus_rows(3), 1)
    result = CliRunner().invoke(app, ["ingest", "--file", str(tmp_path / "c"), "--engine", "dask"])
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: --engine must be one of local, ray, spark, got 'dask'"


def test_errors_dataset_replaces_only_its_own_files(tmp_path: Path) -> None:
    from hf_pinecone._distributed import BatchOutcome, OutcomeCollector
    from hf_pinecone.ingestion import RejectedRecord

    errors = tmp_path / "errors"
    errors.mkdir()
    (errors / "part-0.parquet").write_bytes(b"someone else's file")
    first = OutcomeCollector(errors)
    first.add(
        BatchOutcome(
            read=3, upserted=1, rejected=[RejectedRecord(0, "a", "", "empty"), RejectedRecord(2, None, None, "x")]
        ).to_table()
    )
    report = first.report()
    assert (report.read, report.upserted, report.failed, report.errors_file) == (3, 1, 2, errors)
    assert len(pq.read_table(errors / "rejected-00000.parquet")) == 2
    second = OutcomeCollector(errors, secrets=["hf_secretToken123456"])
    second.add(BatchOutcome(read=1, rejected=[RejectedRecord(0, "b", "t", "refused hf_secretToken123456")]).to_table())
    assert second.report().rejected[0].reason == "refused ***"
    assert sorted(p.name for p in errors.iterdir()) == ["part-0.parquet", "rejected-00000.parquet"]
    assert pq.read_table(errors / "rejected-00000.parquet").to_pylist() == [
        {"row": 0, "id": "b", "text": "t", "reason": "refused ***"}
    ]
