"""ensure_index against the local Pinecone server over loopback, through the real pinecone SDK."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from pinecone import Pinecone

from hf_pinecone.errors import ConfigurationError, IndexMismatchError, PineconeAuthError
from hf_pinecone.local import serve_pinecone
from hf_pinecone.store import embedding_dimension, ensure_index

API_KEY = "local"


class CountingEmbeddings(DeterministicFakeEmbedding):
    """The real fake-embedding model, counting how often it is asked to embed a query."""

    queries: int = 0

    def embed_query(self, text: str) -> list[float]:
        self.queries += 1
        return super().embed_query(text)


def _describe(url: str, name: str) -> dict[str, object]:
    model = Pinecone(api_key=API_KEY, host=url).describe_index(name=name)
    return {"dimension": model.dimension, "metric": model.metric, "ready": model.status.ready}


def test_creates_missing_index_and_returns_host(pinecone_url: str, index_name: str) -> None:
    host = ensure_index(index_name, dimension=8, metric="dotproduct", api_key=API_KEY, host=pinecone_url)
    assert host.startswith("http://") and host.endswith(f"/indexes/{index_name}")
    assert _describe(pinecone_url, index_name) == {"dimension": 8, "metric": "dotproduct", "ready": True}


def test_existing_matching_index_returns_same_host(pinecone_url: str, index_name: str) -> None:
    first = ensure_index(index_name, dimension=8, api_key=API_KEY, host=pinecone_url)
    assert ensure_index(index_name, dimension=8, api_key=API_KEY, host=pinecone_url) == first
    # No dimension known: an existing index is accepted as it is.
    assert ensure_index(index_name, api_key=API_KEY, host=pinecone_url) == first


def test_dimension_mismatch_names_both_values(pinecone_url: str, index_name: str) -> None:
    ensure_index(index_name, dimension=8, api_key=API_KEY, host=pinecone_url)
    with pytest.raises(IndexMismatchError) as info:
        ensure_index(index_name, dimension=16, api_key=API_KEY, host=pinecone_url)
    assert "8" in str(info.value) and "16" in str(info.value) and index_name in str(info.value)


def test_metric_mismatch_names_both_values(pinecone_url: str, index_name: str) -> None:
    ensure_index(index_name, dimension=8, metric="cosine", api_key=API_KEY, host=pinecone_url)
    with pytest.raises(IndexMismatchError, match=r"'cosine'.*'euclidean'"):
        ensure_index(index_name, dimension=8, metric="euclidean", api_key=API_KEY, host=pinecone_url)


def test_dimension_from_embeddings_probed_once(pinecone_url: str) -> None:
    embeddings = CountingEmbeddings(size=12)
    names = [f"t-{uuid.uuid4().hex[:12]}" for _ in range(2)]
    for name in names:
        ensure_index(name, embeddings=embeddings, api_key=API_KEY, host=pinecone_url)
    ensure_index(names[0], embeddings=embeddings, api_key=API_KEY, host=pinecone_url)
    assert embeddings.queries == 1
    assert [_describe(pinecone_url, n)["dimension"] for n in names] == [12, 12]
    assert embedding_dimension(embeddings) == 12 and embeddings.queries == 1


def test_embeddings_mismatch_with_existing_index(pinecone_url: str, index_name: str) -> None:
    ensure_index(index_name, dimension=4, api_key=API_KEY, host=pinecone_url)
    with pytest.raises(IndexMismatchError, match=r"dimension 4.*dimension 6"):
        ensure_index(
            index_name, embeddings=DeterministicFakeEmbedding(size=6), api_key=API_KEY, host=pinecone_url
        )


def test_missing_index_without_dimension_is_a_configuration_error(pinecone_url: str, index_name: str) -> None:
    with pytest.raises(ConfigurationError, match="dimension"):
        ensure_index(index_name, api_key=API_KEY, host=pinecone_url)
    assert index_name not in Pinecone(api_key=API_KEY, host=pinecone_url).list_indexes().names()


@pytest.mark.parametrize(
    "name", ["", "Upper", "under_score", "-lead", "trail-", "a" * 46, "dots.in.name", "spa ce"]
)
def test_invalid_names_rejected_before_any_request(name: str) -> None:
    # host points nowhere: a request would fail differently, so the error must come from validation.
    with pytest.raises(ConfigurationError, match="1-45 characters"):
        ensure_index(name, dimension=4, api_key=API_KEY, host="http://127.0.0.1:9")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dimension": 0}, "dimension"),
        ({"dimension": 20_001}, "dimension"),
        ({"dimension": 4, "metric": "manhattan"}, "metric"),
    ],
)
def test_invalid_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        ensure_index("ok-name", api_key=API_KEY, host="http://127.0.0.1:9", **kwargs)  # type: ignore[arg-type]


def test_api_key_and_host_from_environment(
    pinecone_url: str, index_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigurationError, match="PINECONE_API_KEY"):
        ensure_index(index_name, dimension=4, host=pinecone_url)
    monkeypatch.setenv("PINECONE_API_KEY", API_KEY)
    monkeypatch.setenv("PINECONE_CONTROLLER_HOST", pinecone_url)
    host = ensure_index(index_name, dimension=4)
    assert host.endswith(f"/indexes/{index_name}")


@pytest.fixture(scope="module")
def secured_url() -> Iterator[str]:
    with serve_pinecone(api_key="pcsk_right_key_123456") as url:
        yield url


def test_rejected_key_is_an_auth_error_without_the_key(secured_url: str, index_name: str) -> None:
    wrong = "pcsk_wrong_key_abcdef123456"
    with pytest.raises(PineconeAuthError) as info:
        ensure_index(index_name, dimension=4, api_key=wrong, host=secured_url)
    text = f"{info.value!s} {info.value!r} {info.value.__cause__!s}"
    assert "401" in str(info.value)
    assert wrong not in text


def test_right_key_on_secured_server(secured_url: str, index_name: str) -> None:
    host = ensure_index(index_name, dimension=4, api_key="pcsk_right_key_123456", host=secured_url)
    assert host.endswith(f"/indexes/{index_name}")
