"""LangChain's standard VectorStore integration suite for PineconeStore, against the local Pinecone server.

Everything is real: the langchain-tests suite, PineconeStore over the unmodified pinecone SDK (sync urllib3
and async aiohttp), and the local server over loopback HTTP. Each test gets a fresh index from ensure_index.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from langchain_tests.integration_tests.vectorstores import VectorStoreIntegrationTests
from pinecone import Pinecone

from hf_pinecone.store import PineconeStore, ensure_index

API_KEY = "local"


class TestPineconeStoreStandard(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self, pinecone_url: str) -> Iterator[PineconeStore]:  # type: ignore[override]
        name = f"std-{uuid.uuid4().hex[:12]}"
        embeddings = self.get_embeddings()
        host = ensure_index(name, embeddings=embeddings, api_key=API_KEY, host=pinecone_url)
        store = PineconeStore(embedding=embeddings, host=host, pinecone_api_key=API_KEY)
        try:
            yield store
        finally:
            Pinecone(api_key=API_KEY, host=pinecone_url).delete_index(name=name, timeout=-1)

    @property
    def has_sync(self) -> bool:
        return True

    @property
    def has_async(self) -> bool:
        return True

    @property
    def has_get_by_ids(self) -> bool:
        return True
