"""``hf-pinecone demo`` and ``examples/tutorial.py``: offline, end to end, with the real bundled model.

Both load all-MiniLM-L6-v2 and embed the 1,000 bundled sentences on CPU, so they are marked slow.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hf_pinecone.data import TUTORIAL_QUERIES, sample_corpus_path

ROOT = Path(__file__).resolve().parents[1]


def test_sample_corpus_ships_with_the_package() -> None:
    path = sample_corpus_path()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert 300 <= len(lines) <= 2000
    assert len(set(lines)) == len(lines) and all(line.strip() for line in lines)
    assert len(TUTORIAL_QUERIES) == 3


def _offline_env() -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    for name in ("HF_ENDPOINT_URL", "PINECONE_API_KEY", "PINECONE_CONTROLLER_HOST"):
        env.pop(name, None)
    return env


@pytest.mark.slow
def test_demo_runs_offline_and_finds_the_tutorial_answers() -> None:
    exe = shutil.which("hf-pinecone")  # the console script the README's install command puts on PATH
    cmd = [exe] if exe else [sys.executable, "-c", "from hf_pinecone.cli import main; main()"]
    result = subprocess.run([*cmd, "demo", "--json"], env=_offline_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["ingest"]["upserted"] == out["ingest"]["read"] == 1000
    assert [q["query"] for q in out["queries"]] == list(TUTORIAL_QUERIES)
    horse, banana, bikes = (q["matches"] for q in out["queries"])
    assert all(len(m) == 5 for m in (horse, banana, bikes))
    assert "horse" in horse[0]["text"] and "airplane" in horse[0]["text"]
    assert "banana" in banana[0]["text"]
    assert "bike" in bikes[0]["text"] or "bicycle" in bikes[0]["text"]
    assert horse[0]["score"] > horse[4]["score"] > 0


@pytest.mark.slow
def test_tutorial_example_runs_offline_and_cleans_up(tmp_path: Path) -> None:
    env = {**_offline_env(), "HF_PINECONE_HOME": str(tmp_path / "home")}
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "tutorial.py"), "--no-progress", "--limit", "300"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "Embedding dimension: 384" in result.stdout
    assert "read 300" in result.stdout and "upserted 300" in result.stdout
    assert result.stdout.count("Query: ") == 3
    assert "Deleted index 'hf-endpoints-tutorial'" in result.stdout
