"""Encoded vectors: the endpoint's JSON text carried into the upsert body, digit for digit.

The answers come from the local endpoint over HTTP (its TEI route ``/embed`` and the toolkit's ``/``), from the
inference toolkit's own serializer shape (Python ``json.dumps``: ``", "`` separators), and, for what no real
server sends, from byte strings given to the pure splitter.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import httpx2
import numpy as np
import orjson
import pytest

from hf_pinecone import InferenceEndpointEmbeddings, PineconeStore, ensure_index, ingest
from hf_pinecone.encoded import EncodedVector, split_embeddings
from hf_pinecone.endpoint import AsyncEndpointClient, EndpointClient
from hf_pinecone.errors import EndpointRequestError
from hf_pinecone.local.endpoint_server import HashEmbedder, serve_endpoint

DIM = 24
TEXTS = ["the cat sat", "a dog ran", "rain in spain", "x"]


@pytest.fixture(scope="module")
def endpoint() -> str:
    with serve_endpoint(embedder=HashEmbedder(DIM)) as url:
        yield url  # type: ignore[misc]


@pytest.mark.parametrize("route", ["/", "/embed"])
def test_split_answers_equal_the_decoded_floats(endpoint: str, route: str) -> None:
    body = httpx2.post(endpoint.rstrip("/") + route, json={"inputs": TEXTS}).content
    decoded = orjson.loads(body)
    decoded = decoded["embeddings"] if isinstance(decoded, dict) else decoded
    vectors = split_embeddings(body, len(TEXTS))
    assert vectors is not None
    assert [v.tolist() for v in vectors] == decoded
    assert all(len(v) == DIM and v.dimension == DIM for v in vectors)
    # The JSON text is the answer's own, byte for byte (no float ever re-printed).
    assert all(v.json in body for v in vectors)


def test_toolkit_python_json_with_spaces_is_split() -> None:
    rows = [[0.25, -1.5e-05, 3.0], [1.0, 0.0, -0.125]]
    body = json.dumps({"embeddings": rows}).encode()  # the toolkit's ", " and ": " separators
    vectors = split_embeddings(body, 2)
    assert vectors is not None and [v.tolist() for v in vectors] == rows
    assert vectors[0].json == b"[0.25,-1.5e-05,3.0]"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"[[1,NaN]]", 1),
        (b"[[1,Infinity]]", 1),
        (b"[[1,null]]", 1),
        (b"[[1,true]]", 1),
        (b'[[1,"2"]]', 1),
        (b"[[1,2],[3]]", 2),  # ragged
        (b"[[1,2],[3,4]", 2),  # cut off
        (b'{"embeddings":[[1,2]],"x":[[1]]}', 1),
        (b"[[[1,2]]]", 1),  # token-level 3-D
        (b"[[]]", 1),
        (b"[[1,2],[]]", 2),
        (b"[[1,2],[3,4],[5,6]]", 2),  # too many
        (b"[[1,2],[3,4]]", 3),  # too few
        (b'{"data":[{"embedding":[1,2],"index":0}]}', 1),  # OpenAI shape: decoded instead
        (b"[1,2]", 1),  # a flat vector: decoded instead
        (b"<html>busy</html>", 1),
    ],
)
def test_anything_else_is_left_to_the_decoder(body: bytes, expected: int) -> None:
    assert split_embeddings(body, expected) is None


@pytest.mark.parametrize(
    ("json_text", "zero"),
    [
        (b"[0.0,-0.0,0]", True),
        (b"[0e5,0.0]", True),  # only the exponent has a non-zero digit
        (b"[1e-5,0]", False),
        (b"[0,0,0,0,0,0,0,0,0,0,0,0.5]", False),  # the non-zero value is past the first few
        (b"[-0.03125,0]", False),
    ],
)
def test_is_zero_is_exact(json_text: bytes, zero: bool) -> None:
    vector = EncodedVector(json_text, json_text.count(b",") + 1)
    assert vector.is_zero() is zero
    assert vector.is_zero() is (not any(vector.tolist()))


def test_an_encoded_vector_reads_as_a_sequence_of_floats() -> None:
    vector = EncodedVector(b"[0.5,-0.25,2.0]", 3)
    assert isinstance(vector, Sequence)
    assert len(vector) == 3 and vector[1] == -0.25 and vector[-1] == 2.0 and vector[:2] == [0.5, -0.25]
    assert list(vector) == [0.5, -0.25, 2.0] and vector == [0.5, -0.25, 2.0] and vector != [0.5]
    assert np.asarray(vector, dtype=np.float32).tolist() == [0.5, -0.25, 2.0]
    assert "dimension=3" in repr(vector)
    with pytest.raises(TypeError):
        hash(vector)


def test_embed_encoded_equals_embed_detailed_sync_and_async(endpoint: str) -> None:
    with EndpointClient(endpoint) as client:
        plain = client.embed_detailed(TEXTS)
        encoded = client.embed_encoded(TEXTS)
    assert all(isinstance(v, EncodedVector) for v in encoded)
    assert [list(v) for v in encoded] == plain  # type: ignore[arg-type]

    async def run() -> list[Sequence[float] | EndpointRequestError]:
        async with AsyncEndpointClient(endpoint) as aclient:
            return await aclient.aembed_encoded(TEXTS)

    import asyncio

    assert [list(v) for v in asyncio.run(run())] == plain  # type: ignore[arg-type]


def test_a_rejected_text_comes_back_as_its_error_with_encoded_vectors_around_it() -> None:
    with serve_endpoint(embedder=HashEmbedder(DIM, max_input_length=8)) as url:
        emb = InferenceEndpointEmbeddings(endpoint_url=url, hf_token=None, truncate=False, max_retries=0)
        results = emb.embed_documents_encoded(["fine", "far too long for the limit", "ok"])
        emb.close()
    assert isinstance(results[1], EndpointRequestError)
    assert isinstance(results[0], EncodedVector) and isinstance(results[2], EncodedVector)


def test_ingest_stores_exactly_the_endpoints_values(endpoint: str, pinecone_url: str, index_name: str) -> None:
    """The stored vectors are the endpoint's float32 values (Pinecone keeps float32), none re-rounded."""
    emb = InferenceEndpointEmbeddings(endpoint_url=endpoint, hf_token=None)
    host = ensure_index(index_name, dimension=DIM, api_key="local", host=pinecone_url)
    store = PineconeStore(embedding=emb, pinecone_api_key="local", host=host)
    report = ingest(TEXTS, store=store, progress=False)
    assert report.upserted == len(TEXTS)
    ids = [doc.id for doc in store.similarity_search(TEXTS[0], k=len(TEXTS))]
    fetched = store.index.fetch(ids=ids).vectors
    expected = dict(zip(TEXTS, emb.embed_documents(TEXTS), strict=True))
    for record in fetched.values():
        stored = np.asarray(record.values, dtype=np.float32)
        np.testing.assert_array_equal(stored, np.asarray(expected[record.metadata["text"]], dtype=np.float32))
    emb.close()
