"""open_stack / from_env wiring, against real loopback servers.

The endpoint is the local endpoint server with ``HashEmbedder`` (no model; same HTTP protocol) passed as
``HF_ENDPOINT_URL``; Pinecone is either the persisted local server the stack starts itself, or a server
started here and passed as ``PINECONE_CONTROLLER_HOST``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import HashEndpoint
from hf_pinecone.config import Settings
from hf_pinecone.errors import ConfigurationError, IndexMismatchError, IndexNotFoundError
from hf_pinecone.ids import content_id
from hf_pinecone.local import serve_endpoint, serve_pinecone
from hf_pinecone.local.endpoint_server import HashEmbedder
from hf_pinecone.stack import from_env, open_pinecone, open_stack
from hf_pinecone.store import PineconeStore


@pytest.fixture
def hash_url(hash_endpoint: HashEndpoint) -> str:
    """The session's shared hash endpoint for these settings (tests/conftest.py)."""
    return hash_endpoint(48)


@pytest.fixture
def env_endpoint(hash_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("HF_ENDPOINT_URL", hash_url)
    return hash_url


def test_local_pinecone_is_persisted_under_home(env_endpoint: str, tmp_path: Path) -> None:
    home = Path(os.environ["HF_PINECONE_HOME"])
    with open_stack(index_name="persist") as stack:
        assert stack.pinecone.local and stack.pinecone.data_dir == home / "pinecone"
        assert stack.endpoint_url == env_endpoint
        assert isinstance(stack.store, PineconeStore)
        stack.store.add_texts(["kept across processes"])
    # A later stack (the servers were stopped in between) sees the same data.
    with open_stack(index_name="persist", create_index=False) as stack:
        docs = stack.store.get_by_ids([content_id("kept across processes", None)])
        assert [d.page_content for d in docs] == ["kept across processes"]
    assert (home / "pinecone").is_dir()


def test_nested_stacks_share_the_local_servers(env_endpoint: str) -> None:
    with open_stack(index_name="one") as outer, open_stack(index_name="two") as inner:
        assert outer.pinecone.controller_host == inner.pinecone.controller_host
        outer.store.add_texts(["in one"])
        assert inner.store.get_by_ids([content_id("in one", None)]) == []


def test_a_second_process_gets_a_clear_error_while_the_data_dir_is_in_use(env_endpoint: str) -> None:
    settings = Settings.from_env()
    with open_pinecone(settings) as target:
        assert target.local
        result = subprocess.run(
            [sys.executable, "-c", "from hf_pinecone.cli import main; main()", "stats"],
            capture_output=True,
            text=True,
            env={**os.environ},
            timeout=120,
        )
    assert result.returncode == 1
    assert result.stderr.startswith("error: the local Pinecone data in")
    assert "in use by another hf-pinecone process" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_index_without_create_is_index_not_found(env_endpoint: str) -> None:
    with (
        pytest.raises(IndexNotFoundError, match="'absent' not found"),
        open_stack(index_name="absent", create_index=False),
    ):
        pass


def test_bad_configuration_is_reported_before_anything_starts(env_endpoint: str) -> None:
    with (
        pytest.raises(ConfigurationError, match="invalid index name 'Bad_Name'"),
        open_stack(index_name="Bad_Name"),
    ):
        pass
    with pytest.raises(ConfigurationError, match="unknown option 'batchsize'"), open_stack(batchsize=3):
        pass


def test_dimension_mismatch_names_both_dimensions(env_endpoint: str) -> None:
    with open_stack(index_name="dims"):
        pass
    with (
        serve_endpoint(embedder=HashEmbedder(16)) as other,
        pytest.raises(IndexMismatchError, match=r"dimension 48.*dimension 16"),
        open_stack(index_name="dims", endpoint_url=other),
    ):
        pass


def test_controller_host_and_key_use_that_server(env_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with serve_pinecone(api_key="pc-test-key") as url:
        monkeypatch.setenv("PINECONE_CONTROLLER_HOST", url)
        monkeypatch.setenv("PINECONE_API_KEY", "pc-test-key")
        with open_stack(index_name="remote", batch_size=7, max_concurrency=2) as stack:
            assert not stack.pinecone.local and stack.pinecone.controller_host == url
            assert stack.embeddings.batch_size == 7 and stack.embeddings.max_concurrency == 2
            assert "pc-test-key" not in repr(stack.pinecone)
            stack.store.add_texts(["remote text"])
            assert stack.store.similarity_search("remote text", k=1)[0].page_content == "remote text"
    assert not (Path(os.environ["HF_PINECONE_HOME"]) / "pinecone").exists()


def test_from_env_returns_a_ready_store(env_endpoint: str) -> None:
    store = from_env(index_name="fromenv", namespace="docs")
    assert isinstance(store, PineconeStore)
    ids = store.add_texts(["from env"])
    assert ids == [content_id("from env", "docs")]
    retriever = store.as_retriever(search_kwargs={"k": 1})
    assert [d.page_content for d in retriever.invoke("from env")] == ["from env"]
