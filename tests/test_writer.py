"""IndexWriter against the local Pinecone server over loopback, sync and async, and the CLI's LangChain-free ingest.

No fakes: the local Pinecone server (tests/conftest.py), the hash endpoint and the real CLI in a subprocess. A
refused port is a real closed loopback port.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import HashEndpoint, vector_count
from hf_pinecone import IndexWriter, RetryPolicy
from hf_pinecone._pinecone.control import ensure_index
from hf_pinecone.embeddings import InferenceEndpointEmbeddings
from hf_pinecone.errors import (
    ConfigurationError,
    IndexMismatchError,
    IndexNotFoundError,
    InvalidRecordError,
    PineconeUnavailableError,
)
from hf_pinecone.ingestion import ingest
from hf_pinecone.stack import open_stack
from hf_pinecone.store import PineconeStore

DIM = 4
FAST_RETRY = RetryPolicy(max_retries=1, backoff_base=0.0)
SECRET = "pcsk_writer_test_secret_0123456789"


def _refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _vector(i: int) -> list[float]:
    return [float(i + 1), 1.0, 0.5, 0.25]


@pytest.fixture
def host(pinecone_url: str, index_name: str) -> str:
    return ensure_index(index_name, dimension=DIM, api_key="local", host=pinecone_url)


def test_upsert_existing_list_delete_stats(host: str) -> None:
    with IndexWriter(host=host, pinecone_api_key="local", namespace="docs") as writer:
        assert writer.index_dimension is None  # nothing read yet
        records = [(f"doc#{i}", _vector(i), {"text": f"t{i}", "n": i}) for i in range(5)]
        assert writer.upsert_vectors([*records, ("other", _vector(9), None)]) == 6
        assert writer.index_dimension == DIM and writer.index_vector_type() == "dense"
        assert writer.existing_ids(["doc#0", "doc#4", "missing"]) == {"doc#0", "doc#4"}
        assert writer.existing_ids(["doc#0"], namespace="elsewhere") == set()
        assert sorted(writer.list_ids(prefix="doc#")) == [f"doc#{i}" for i in range(5)]
        writer.delete(ids=["doc#0", "doc#1"])
        writer.delete(ids=[])  # nothing to delete: nothing sent, no error
        assert sorted(writer.list_ids()) == ["doc#2", "doc#3", "doc#4", "other"]
        stats = writer.describe_index_stats()
        assert stats["dimension"] == DIM and vector_count(writer, "docs") == 4
        writer.delete(delete_all=True)
        assert writer.list_ids() == []


def test_records_are_checked_before_anything_is_sent(host: str) -> None:
    writer = IndexWriter(host=host, pinecone_api_key="local")
    with pytest.raises(IndexMismatchError):
        writer.upsert_vectors([("a", [1.0, 2.0], None)])
    with pytest.raises(InvalidRecordError):
        writer.upsert_vectors([("ok", _vector(0), None), ("bad", _vector(1), {"nested": {"x": 1}})])
    assert writer.existing_ids(["a", "ok", "bad"]) == set()
    writer.close()


async def test_async_twins(host: str) -> None:
    async with IndexWriter(host=host, pinecone_api_key="local") as writer:
        records = [(f"p#{i}", _vector(i), {"text": f"t{i}"}) for i in range(3)]
        assert await writer.aupsert_vectors(records) == 3
        assert await writer.aindex_vector_type() == "dense"
        assert await writer.aexisting_ids(["p#0", "p#2", "nope"]) == {"p#0", "p#2"}
        assert sorted(await writer.alist_ids(prefix="p#")) == ["p#0", "p#1", "p#2"]
        await writer.adelete(ids=["p#1"])
        assert sorted(await writer.alist_ids()) == ["p#0", "p#2"]
        stats = await writer.adescribe_index_stats()
        assert stats["totalVectorCount"] == 2


async def test_index_name_is_resolved_at_first_use_not_at_construction(pinecone_url: str, index_name: str) -> None:
    # An index that does not exist yet: a lookup at construction would raise IndexNotFoundError right here.
    writer = IndexWriter(index_name=index_name, pinecone_api_key="local", controller_host=pinecone_url)
    assert repr(writer) == f"IndexWriter(host={index_name!r}, namespace=None)"
    with pytest.raises(IndexNotFoundError):
        writer.existing_ids(["a"])
    host = ensure_index(index_name, dimension=DIM, api_key="local", host=pinecone_url)
    assert writer.upsert_vectors([("a", _vector(0), None)]) == 1
    assert writer.host == IndexWriter(host=host, pinecone_api_key="local").host and host.endswith(index_name)
    later = IndexWriter(index_name=index_name, pinecone_api_key="local", controller_host=pinecone_url)
    assert await later.aexisting_ids(["a"]) == {"a"}  # the async path resolves too


def test_missing_key_or_index_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="PINECONE_API_KEY"):
        IndexWriter(host="http://127.0.0.1:1")
    with pytest.raises(ConfigurationError, match="index_name="):
        IndexWriter(pinecone_api_key="local")
    with pytest.raises(ConfigurationError, match="upsert_concurrency"):
        IndexWriter(host="http://127.0.0.1:1", pinecone_api_key="local", upsert_concurrency=0)
    monkeypatch.setenv("PINECONE_API_KEY", "from-env")
    monkeypatch.setenv("PINECONE_INDEX_NAME", "from-env-index")
    assert repr(IndexWriter()) == "IndexWriter(host='from-env-index', namespace=None)"


def test_secret_is_never_in_repr_or_errors() -> None:
    writer = IndexWriter(host=_refused_url(), pinecone_api_key=SECRET, retry=FAST_RETRY)
    assert SECRET not in repr(writer) and SECRET not in str(vars(writer))
    with pytest.raises(PineconeUnavailableError) as info:
        writer.existing_ids(["a"])
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)


async def test_a_refused_port_is_a_typed_error_sync_and_async() -> None:
    writer = IndexWriter(host=_refused_url(), pinecone_api_key="local", retry=FAST_RETRY)
    with pytest.raises(PineconeUnavailableError):
        writer.upsert_vectors([("a", _vector(0), None)])
    with pytest.raises(PineconeUnavailableError):
        await writer.alist_ids()
    by_name = IndexWriter(index_name="docs", pinecone_api_key="local", controller_host=_refused_url(), retry=FAST_RETRY)
    with pytest.raises(PineconeUnavailableError):
        await by_name.aexisting_ids(["a"])


def test_store_delegates_to_its_writer(host: str) -> None:
    emb = InferenceEndpointEmbeddings(endpoint_url="http://127.0.0.1:1")  # not called: vectors come given
    store = PineconeStore(embedding=emb, pinecone_api_key="local", host=host, namespace="n", upsert_concurrency=2)
    assert isinstance(store.writer, IndexWriter) and store.writer.upsert_concurrency == 2
    assert store.upsert_vectors([("x", _vector(0), {"text": "x"})]) == 1
    assert store.writer.existing_ids(["x"]) == {"x"}  # the same namespace, the same index
    assert store.index_dimension == DIM == store.writer.index_dimension  # one dimension cache
    store.truncate_text = True
    assert store.writer.truncate_text is True


# ------------------------------------------------------------------------------------------------ ingest


def _stored(store: PineconeStore, ids: list[str]) -> dict[str | None, Any]:
    return {doc.id: (doc.page_content, doc.metadata) for doc in store.get_by_ids(ids)}


def test_ingest_through_a_writer_equals_the_store_result(
    hash_endpoint: HashEndpoint, pinecone_url: str, index_name: str
) -> None:
    emb = InferenceEndpointEmbeddings(endpoint_url=hash_endpoint(DIM))
    rows = [{"text": f"sentence number {i}", "topic": "t" if i % 2 else "u"} for i in range(40)]
    rows.append({"text": "sentence number 3", "topic": "dup"})
    rows.append({"text": "x" * 50_000, "topic": "too big"})  # over 40 KB of metadata: rejected, not dropped
    hosts = {
        kind: ensure_index(f"{index_name}-{kind}", dimension=DIM, api_key="local", host=pinecone_url)
        for kind in ("writer", "store")
    }
    writer = IndexWriter(host=hosts["writer"], pinecone_api_key="local")
    store = PineconeStore(embedding=emb, pinecone_api_key="local", host=hosts["store"])
    by_writer = ingest(rows, store=writer, embeddings=emb, progress=False, chunk_size=16)
    by_store = ingest(rows, store=store, progress=False, chunk_size=16)
    assert by_writer.to_dict() | {"seconds": 0, "records_per_second": 0} == by_store.to_dict() | {
        "seconds": 0,
        "records_per_second": 0,
    }
    assert by_writer.upserted == 40 and by_writer.duplicates == 1 and by_writer.failed == 1
    ids = sorted(writer.list_ids())
    assert ids == sorted(store.list_ids())
    reader = PineconeStore(embedding=emb, pinecone_api_key="local", host=hosts["writer"])
    assert _stored(reader, ids) == _stored(store, ids) and len(ids) == 40
    assert ingest(rows, store=writer, embeddings=emb, progress=False).already_present == 40
    with pytest.raises(ConfigurationError, match="no embeddings"):
        ingest(rows, store=writer, progress=False)
    emb.close()


def test_chunked_ingest_through_a_writer_replaces_stale_chunks(
    endpoint_url: str, pinecone_url: str, index_name: str
) -> None:
    emb = InferenceEndpointEmbeddings(endpoint_url=endpoint_url)
    host = ensure_index(index_name, dimension=384, api_key="local", host=pinecone_url)
    writer = IndexWriter(host=host, pinecone_api_key="local")
    long_text = " ".join(f"Sentence {i} talks about violins and their strings." for i in range(40))
    first = ingest([{"id": "doc", "text": long_text}], store=writer, embeddings=emb, id_column="id", chunk_tokens=40)
    old = set(writer.list_ids(prefix="doc#"))
    assert first.upserted == len(old) > 2
    ingest(
        [{"id": "doc", "text": "A short replacement."}], store=writer, embeddings=emb, id_column="id", chunk_tokens=40
    )
    new = set(writer.list_ids(prefix="doc#"))
    assert len(new) == 1 and not (new & old)
    emb.close()


# --------------------------------------------------------------------------------------------------- stack


def test_stack_builds_the_store_on_first_access_over_its_writer(
    hash_endpoint: HashEndpoint, pinecone_url: str, index_name: str
) -> None:
    with open_stack(
        endpoint_url=hash_endpoint(DIM), controller_host=pinecone_url, pinecone_api_key="local", index_name=index_name
    ) as stack:
        assert "store" not in vars(stack)
        stack.writer.upsert_vectors([("w", _vector(0), {"text": "written by the writer"})])
        assert stack.store is stack.store and stack.store.writer is stack.writer
        assert [d.page_content for d in stack.store.get_by_ids(["w"])] == ["written by the writer"]


# ----------------------------------------------------------------------------------------------- the CLI

_WRAPPER = """
import atexit, json, sys
watched = ("langchain_pinecone", "langsmith", "langchain_core.vectorstores", "pinecone")
atexit.register(lambda: print("IMPORTED " + json.dumps([m for m in watched if m in sys.modules]), file=sys.stderr))
from hf_pinecone.cli import main
main()
"""


def test_cli_ingest_of_one_record_imports_no_langchain_store(
    hash_endpoint: HashEndpoint, pinecone_url: str, index_name: str, tmp_path: Path
) -> None:
    source = tmp_path / "one.txt"
    source.write_text("one record for the import check\n", encoding="utf-8")
    env = {
        **os.environ,
        "HF_ENDPOINT_URL": hash_endpoint(DIM),
        "PINECONE_CONTROLLER_HOST": pinecone_url,
        "PINECONE_API_KEY": "local",
    }
    args = ["ingest", "--file", str(source), "--index", index_name, "--no-progress", "--json"]
    proc = subprocess.run([sys.executable, "-c", _WRAPPER, *args], env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["upserted"] == 1
    marker = [line for line in proc.stderr.splitlines() if line.startswith("IMPORTED ")]
    assert marker, proc.stderr
    assert json.loads(marker[-1].removeprefix("IMPORTED ")) == []
    # And the record is really there (read back through the writer).
    host = ensure_index(index_name, dimension=DIM, api_key="local", host=pinecone_url)
    assert IndexWriter(host=host, pinecone_api_key="local").describe_index_stats()["totalVectorCount"] == 1
