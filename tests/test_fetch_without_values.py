"""Existence checks read fetch answers without decoding the vectors, and still find exactly the stored ids.

Real answers of the local Pinecone server (over loopback) for dense and sparse-dense records whose metadata is
built to trip a careless parser: a metadata key ``"values"`` holding a list of strings (one with ``]`` in it),
and texts that contain ``"values":[1,2]`` literally.
"""

from __future__ import annotations

import asyncio

import httpx2
import orjson
import pytest

from hf_pinecone import IndexWriter
from hf_pinecone._pinecone import protocol
from hf_pinecone._pinecone.control import ensure_index

DIM = 4
TRICKY = [
    {"text": "plain"},
    {"text": 'a text with "values":[1,2] in it', "values": ["x]", "y"]},
    {"text": "values", "values": []},
    {"text": "[[nested]]", "values": ["]", "["]},
]


def _records() -> list[tuple[str, list[float], dict[str, object]]]:
    return [(f"id-{i}", [float(i + 1), 0.5, -0.25, 1e-7], meta) for i, meta in enumerate(TRICKY)]


@pytest.fixture
def writer(pinecone_url: str, index_name: str) -> IndexWriter:
    host = ensure_index(index_name, dimension=DIM, metric="dotproduct", api_key="local", host=pinecone_url)
    w = IndexWriter(host=host, pinecone_api_key="local", namespace="ns")
    sparse = [{"indices": [1, 7], "values": [0.5, 0.25]}] * len(TRICKY)
    assert w.upsert_vectors(_records(), sparse_values=sparse) == len(TRICKY)
    return w


def _fetch_body(writer: IndexWriter, ids: list[str]) -> bytes:
    request = protocol.fetch(ids, "ns", values=False)
    headers = protocol.headers("local")
    return httpx2.get(protocol.base_url(writer.host) + request.path, headers=headers).content


def test_blanked_answer_equals_the_full_parse_except_values(writer: IndexWriter) -> None:
    ids = [f"id-{i}" for i in range(len(TRICKY))]
    body = _fetch_body(writer, ids)
    full = orjson.loads(body)
    light = protocol.loads_without_values(body)
    assert set(light["vectors"]) == set(full["vectors"]) == set(ids)
    for record_id, record in full["vectors"].items():
        blanked = light["vectors"][record_id]
        assert blanked["values"] == [] and record["values"]  # the dense values were not decoded
        assert blanked["metadata"] == record["metadata"]  # metadata "values" lists of strings kept whole
        assert blanked["sparseValues"]["indices"] == record["sparseValues"]["indices"]
        assert blanked["sparseValues"]["values"] == []


def test_an_answer_the_pattern_cannot_blank_is_parsed_in_full() -> None:
    body = b'{"vectors":{"a":{"id":"a","values":[[1,2],[3]]}},"namespace":"ns"}'
    assert protocol.loads_without_values(body) == orjson.loads(body)


def test_existing_ids_sync_and_async(writer: IndexWriter) -> None:
    asked = ["id-0", "id-1", "id-3", "missing", "id-1"]
    assert writer.existing_ids(asked) == {"id-0", "id-1", "id-3"}

    async def run() -> set[str]:
        try:
            return await writer.aexisting_ids(asked)
        finally:
            await writer.aclose()

    assert asyncio.run(run()) == {"id-0", "id-1", "id-3"}
    writer.close()
