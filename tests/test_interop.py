"""Interop with LangChain's own building blocks: CacheBackedEmbeddings and the indexing API.

The cache tests count the inputs the endpoint actually receives: a local endpoint (``HashEmbedder``, so no
second model load) served over loopback behind ``RecordingMiddleware``, which only observes request bodies.
The indexing tests use the session's real endpoint and the local Pinecone server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_classic.embeddings import CacheBackedEmbeddings
from langchain_classic.storage import LocalFileStore
from langchain_core.documents import Document
from langchain_core.indexing import IndexingResult, InMemoryRecordManager, aindex, index
from langchain_core.stores import InMemoryByteStore

from hf_pinecone import InferenceEndpointEmbeddings, PineconeStore, ensure_index
from hf_pinecone.local import run_in_background
from hf_pinecone.local.endpoint_server import HashEmbedder, create_endpoint_app


class RecordingMiddleware:
    """ASGI middleware that records the ``inputs`` of every POST, then forwards the request unchanged."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests: list[list[str]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        inputs = json.loads(body).get("inputs")
        self.requests.append(inputs if isinstance(inputs, list) else [inputs])
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return dict(await receive())
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def sent_texts(self) -> list[str]:
        return [text for request in self.requests for text in request]


@pytest.fixture(scope="module")
def recorded_endpoint() -> Iterator[tuple[str, RecordingMiddleware]]:
    recorder = RecordingMiddleware(create_endpoint_app(embedder=HashEmbedder()))
    with run_in_background(recorder) as url:
        yield url, recorder


@pytest.fixture
def recorder(recorded_endpoint: tuple[str, RecordingMiddleware]) -> RecordingMiddleware:
    recorded_endpoint[1].requests.clear()
    return recorded_endpoint[1]


@pytest.fixture
def embeddings(recorded_endpoint: tuple[str, RecordingMiddleware]) -> Iterator[InferenceEndpointEmbeddings]:
    emb = InferenceEndpointEmbeddings(endpoint_url=recorded_endpoint[0])
    yield emb
    emb.close()


TEXTS = ["a happy dog", "a sad cat", "a bird on a wire"]


# ------------------------------------------------------------------------------------- CacheBackedEmbeddings
def test_cache_backed_embeddings_second_call_makes_no_request(
    embeddings: InferenceEndpointEmbeddings, recorder: RecordingMiddleware
) -> None:
    cached = CacheBackedEmbeddings.from_bytes_store(
        embeddings, InMemoryByteStore(), namespace="hash-384", key_encoder="sha256"
    )
    first = cached.embed_documents(TEXTS)
    assert sorted(recorder.sent_texts()) == sorted(TEXTS)  # batched by length: order within a request may differ
    assert len(first) == 3 and len(first[0]) == 384

    second = cached.embed_documents(TEXTS)
    assert second == first
    assert sorted(recorder.sent_texts()) == sorted(TEXTS)  # nothing new reached the endpoint

    mixed = cached.embed_documents([TEXTS[1], "a new text"])
    assert recorder.requests[-1] == ["a new text"]  # only the miss is sent
    assert mixed[0] == first[1]
    assert mixed[1] == embeddings.embed_documents(["a new text"])[0]


def test_cache_backed_query_cache(
    embeddings: InferenceEndpointEmbeddings, recorder: RecordingMiddleware
) -> None:
    cached = CacheBackedEmbeddings.from_bytes_store(
        embeddings,
        InMemoryByteStore(),
        namespace="hash-384",
        key_encoder="sha256",
        query_embedding_cache=True,
    )
    vector = cached.embed_query("where is the dog?")
    assert cached.embed_query("where is the dog?") == vector
    assert recorder.requests == [["where is the dog?"]]


async def test_cache_backed_embeddings_async(
    embeddings: InferenceEndpointEmbeddings, recorder: RecordingMiddleware
) -> None:
    store = InMemoryByteStore()
    cached = CacheBackedEmbeddings.from_bytes_store(
        embeddings, store, namespace="hash-384", key_encoder="sha256"
    )
    first = await cached.aembed_documents(TEXTS)
    assert await cached.aembed_documents(TEXTS) == first
    assert sorted(recorder.sent_texts()) == sorted(TEXTS)  # batched by length: order within a request may differ
    assert cached.embed_documents(TEXTS) == first  # sync and async share the cache
    assert len(recorder.requests) == 1


def test_cache_persists_in_a_local_file_store(
    recorded_endpoint: tuple[str, RecordingMiddleware], recorder: RecordingMiddleware, tmp_path: Path
) -> None:
    url = recorded_endpoint[0]

    def fresh() -> tuple[CacheBackedEmbeddings, InferenceEndpointEmbeddings]:
        underlying = InferenceEndpointEmbeddings(endpoint_url=url)
        cache = LocalFileStore(tmp_path / "embedding-cache")
        return CacheBackedEmbeddings.from_bytes_store(
            underlying, cache, namespace="hash-384", key_encoder="sha256"
        ), underlying

    cached, underlying = fresh()
    first = cached.embed_documents(TEXTS)
    underlying.close()
    assert len(recorder.requests) == 1
    assert len(list((tmp_path / "embedding-cache").iterdir())) == 3

    # A new process would build everything anew: the vectors come from disk, the endpoint sees nothing.
    cached, underlying = fresh()
    assert cached.embed_documents(TEXTS) == first
    underlying.close()
    assert len(recorder.requests) == 1


# ------------------------------------------------------------------------------------- indexing API
@pytest.fixture
def store(endpoint_url: str, pinecone_url: str, index_name: str) -> Iterator[PineconeStore]:
    emb = InferenceEndpointEmbeddings(endpoint_url=endpoint_url)
    host = ensure_index(index_name, embeddings=emb, api_key="local", host=pinecone_url)
    yield PineconeStore(embedding=emb, pinecone_api_key="local", host=host)
    emb.close()


def doc(text: str, source: str) -> Document:
    return Document(page_content=text, metadata={"source": source})


DOC_A1 = doc("Inference Endpoints scale to zero when idle.", "a.md")
DOC_A2 = doc("A cold endpoint answers 503 while it starts.", "a.md")
DOC_B1 = doc("Pinecone indexes store dense vectors.", "b.md")
DOC_B1_EDITED = doc("Pinecone serverless indexes store dense vectors with metadata.", "b.md")


def stored(store: PineconeStore, record_manager: InMemoryRecordManager) -> dict[str, str]:
    """What the index holds for the record manager's keys, as {id: text}; also checks the vector count."""
    keys = record_manager.list_keys()
    docs = store.get_by_ids(keys)
    assert store.index.describe_index_stats()["total_vector_count"] == len(keys)
    return {d.id: d.page_content for d in docs if d.id is not None}


def index_incremental(docs: list[Document], rm: InMemoryRecordManager, store: PineconeStore) -> IndexingResult:
    """``index`` with the incremental cleanup by ``source`` that these tests use."""
    return index(docs, rm, store, cleanup="incremental", source_id_key="source", key_encoder="sha256")


async def aindex_incremental(docs: list[Document], rm: InMemoryRecordManager, store: PineconeStore) -> IndexingResult:
    """Async :func:`index_incremental`."""
    return await aindex(docs, rm, store, cleanup="incremental", source_id_key="source", key_encoder="sha256")


def test_index_incremental_then_full_cleanup(store: PineconeStore, index_name: str) -> None:
    rm = InMemoryRecordManager(namespace=f"pinecone/{index_name}")
    rm.create_schema()

    result = index_incremental([DOC_A1, DOC_A2, DOC_B1], rm, store)
    assert result == {"num_added": 3, "num_updated": 0, "num_skipped": 0, "num_deleted": 0}
    assert sorted(stored(store, rm).values()) == sorted(d.page_content for d in (DOC_A1, DOC_A2, DOC_B1))

    result = index_incremental([DOC_A1, DOC_A2, DOC_B1], rm, store)
    assert result == {"num_added": 0, "num_updated": 0, "num_skipped": 3, "num_deleted": 0}

    # b.md changed: its new version is added and its old one deleted; a.md is untouched.
    result = index_incremental([DOC_B1_EDITED], rm, store)
    assert result == {"num_added": 1, "num_updated": 0, "num_skipped": 0, "num_deleted": 1}
    contents = stored(store, rm)
    assert sorted(contents.values()) == sorted(d.page_content for d in (DOC_A1, DOC_A2, DOC_B1_EDITED))
    hits = store.similarity_search("Pinecone vectors", k=1)
    assert hits[0].page_content == DOC_B1_EDITED.page_content and hits[0].id in contents

    # Full cleanup: whatever is not in this run is deleted from the index.
    result = index([DOC_A1], rm, store, cleanup="full", source_id_key="source", key_encoder="sha256")
    assert result == {"num_added": 0, "num_updated": 0, "num_skipped": 1, "num_deleted": 2}
    assert list(stored(store, rm).values()) == [DOC_A1.page_content]


async def test_aindex_incremental_then_full_cleanup(store: PineconeStore, index_name: str) -> None:
    rm = InMemoryRecordManager(namespace=f"pinecone/{index_name}")
    await rm.acreate_schema()

    result = await aindex_incremental([DOC_A1, DOC_A2, DOC_B1], rm, store)
    assert result == {"num_added": 3, "num_updated": 0, "num_skipped": 0, "num_deleted": 0}
    result = await aindex_incremental([DOC_A1, DOC_B1_EDITED], rm, store)
    # a.md lost DOC_A2 and b.md changed: one add, one skip, two deletions.
    assert result == {"num_added": 1, "num_updated": 0, "num_skipped": 1, "num_deleted": 2}
    assert sorted(stored(store, rm).values()) == sorted([DOC_A1.page_content, DOC_B1_EDITED.page_content])

    result = await aindex([], rm, store, cleanup="full", key_encoder="sha256")
    assert result == {"num_added": 0, "num_updated": 0, "num_skipped": 0, "num_deleted": 2}
    assert stored(store, rm) == {}
    assert await store.asimilarity_search("anything", k=3) == []
