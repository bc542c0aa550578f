"""Record ids: ``content_id`` is a UUIDv5 and must never change (every id ever written depends on it)."""

from __future__ import annotations

import random
import uuid

import pytest

from hf_pinecone.ids import content_id

# The namespace UUID is part of the contract: changing it would change every id ever written.
ID_NAMESPACE = uuid.UUID("5b0e5f3c-6f2b-4d39-9a7e-6c1d8a0f4b21")


def test_known_ids_are_stable() -> None:
    assert content_id("hello") == str(uuid.uuid5(ID_NAMESPACE, "\x00hello"))
    assert content_id("hello", "docs") == str(uuid.uuid5(ID_NAMESPACE, "docs\x00hello"))
    assert content_id("hello", None) == content_id("hello", "") != content_id("hello", "docs")


@pytest.mark.parametrize("seed", range(3))
def test_content_id_is_uuid5_of_namespace_and_text(seed: int) -> None:
    rnd = random.Random(seed)
    for _ in range(3000):
        text = "".join(chr(rnd.randrange(1, 0xD7FF)) for _ in range(rnd.randrange(0, 40)))
        namespace = rnd.choice([None, "", "ns", "é名", "a\x00b"])
        expected = uuid.uuid5(ID_NAMESPACE, f"{namespace or ''}\x00{text}")
        assert content_id(text, namespace) == str(expected)
        assert uuid.UUID(content_id(text, namespace)).version == 5
