"""The one-line swap: constructor calls written for langchain-huggingface / langchain-community, class name changed.

Each call below is the documented one, verbatim except for the class name and the URL/token values (pointed at
the local endpoint, since the documented ones point at Hugging Face):

- langchain-huggingface 1.2.3, ``langchain_huggingface/embeddings/huggingface_endpoint.py``, class docstring::

      hf = HuggingFaceEndpointEmbeddings(model=model, task="feature-extraction", huggingfacehub_api_token="my-api-key")

  and https://docs.langchain.com/oss/python/integrations/embeddings/huggingfacehub ("Self-hosted at scale via Text
  Embeddings Inference (TEI) ... pointed at by HuggingFaceEndpointEmbeddings"): ``model`` is the TEI URL.
  (langchain-huggingface itself is not installed: it pins huggingface-hub<2, and this project runs 2.x; its source
  was read from the wheel.)
- langchain-community 0.4.2, ``langchain_community/embeddings/huggingface.py``, ``HuggingFaceInferenceAPIEmbeddings``:
  ``HuggingFaceInferenceAPIEmbeddings(api_key="your_api_key", model_name="sentence-transformers/all-MiniLM-l6-v2")``
  (its ``embed_documents`` docstring), with ``api_url`` ("Custom inference endpoint url") for an endpoint.
- ``model_kwargs`` are what langchain-huggingface forwards to ``InferenceClient.feature_extraction``: ``normalize``,
  ``prompt_name``, ``truncate``, ``truncation_direction``.

Every call embeds against the real local endpoint (bundled all-MiniLM-L6-v2), and the vectors are compared with
those of our own field names.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from hf_pinecone import EndpointAuthError, InferenceEndpointEmbeddings
from hf_pinecone.errors import UnsupportedArgumentError
from hf_pinecone.local import serve_endpoint
from hf_pinecone.local.endpoint_server import HashEmbedder

TEXTS = ["a happy dog", "a sad dog"]
# Longer than all-MiniLM-L6-v2's 256 tokens, so that truncation (and its side) matters.
LONG = "the beginning of a long story about dogs. " + "filler words about nothing much " * 120 + "the end: cats."


@pytest.fixture(scope="module")
def keyed_url() -> Iterator[str]:
    """A local endpoint that requires ``Authorization: Bearer hf_local_key`` (hash vectors: fast)."""
    with serve_endpoint(embedder=HashEmbedder(), api_key="hf_local_key") as url:
        yield url


def test_langchain_huggingface_docstring_call(endpoint_url: str) -> None:
    model = endpoint_url
    hf = InferenceEndpointEmbeddings(
        model=model,
        task="feature-extraction",
        huggingfacehub_api_token="my-api-key",
    )
    assert hf.endpoint_url == endpoint_url
    assert hf.hf_token is not None and hf.hf_token.get_secret_value() == "my-api-key"
    assert "my-api-key" not in repr(hf)
    ours = InferenceEndpointEmbeddings(endpoint_url=endpoint_url)
    np.testing.assert_allclose(hf.embed_documents(TEXTS), ours.embed_documents(TEXTS), atol=1e-6)
    np.testing.assert_allclose(hf.embed_query("a dog"), ours.embed_query("a dog"), atol=1e-6)


def test_langchain_huggingface_model_kwargs_are_sent(endpoint_url: str) -> None:
    left = InferenceEndpointEmbeddings(
        model=endpoint_url, model_kwargs={"truncate": True, "truncation_direction": "left", "normalize": True}
    )
    assert (left.truncate, left.truncation_direction, left.normalize) == (True, "Left", True)
    right = InferenceEndpointEmbeddings(
        model=endpoint_url, model_kwargs={"truncate": True, "truncation_direction": "right"}
    )
    ours_left = InferenceEndpointEmbeddings(endpoint_url=endpoint_url, truncate=True, truncation_direction="Left")
    v_left, v_right, v_ours = left.embed_query(LONG), right.embed_query(LONG), ours_left.embed_query(LONG)
    np.testing.assert_allclose(v_left, v_ours, atol=1e-6)
    # The endpoint kept the other end of the text: the direction reached it.
    assert float(np.dot(v_left, v_right)) < 0.99


def test_langchain_huggingface_token_reaches_the_endpoint(keyed_url: str) -> None:
    good = InferenceEndpointEmbeddings(model=keyed_url, huggingfacehub_api_token="hf_local_key")
    assert len(good.embed_query("a dog")) > 0
    bad = InferenceEndpointEmbeddings(model=keyed_url, huggingfacehub_api_token="hf_wrong_key", max_retries=0)
    with pytest.raises(EndpointAuthError) as info:
        bad.embed_query("a dog")
    assert "hf_wrong_key" not in str(info.value)


def test_langchain_community_call_with_api_url(endpoint_url: str, keyed_url: str) -> None:
    hf_embeddings = InferenceEndpointEmbeddings(
        api_key="hf_local_key",
        model_name="sentence-transformers/all-MiniLM-l6-v2",
        api_url=keyed_url,
    )
    assert hf_embeddings.endpoint_url == keyed_url
    assert "hf_local_key" not in repr(hf_embeddings)
    texts = ["Hello, world!", "How are you?"]
    assert len(hf_embeddings.embed_documents(texts)) == 2
    plain = InferenceEndpointEmbeddings(api_key="unused", api_url=endpoint_url)
    np.testing.assert_allclose(
        plain.embed_documents(texts),
        InferenceEndpointEmbeddings(endpoint_url=endpoint_url).embed_documents(texts),
        atol=1e-6,
    )


def test_model_without_slash_is_an_endpoint_name() -> None:
    emb = InferenceEndpointEmbeddings(model="my-embeddings", huggingfacehub_api_token="hf_x")
    assert emb.endpoint_name == "my-embeddings" and emb.endpoint_url is None


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"model": "sentence-transformers/all-mpnet-base-v2"}, "is a model repository id"),
        ({"repo_id": "BAAI/bge-small-en-v1.5"}, "endpoint_name="),
        ({"api_key": "hf_secret_value", "model_name": "sentence-transformers/all-MiniLM-l6-v2"}, "add api_url="),
        (
            {"model": "http://127.0.0.1:9", "model_kwargs": {"normalize": True, "wait_for_model": True}},
            "'wait_for_model'",
        ),
        ({"model": "http://127.0.0.1:9", "provider": "sambanova"}, "drop provider="),
        ({"model": "http://127.0.0.1:9", "task": "text-generation"}, "drop task="),
        ({"api_url": "http://127.0.0.1:9", "additional_headers": {"X-A": "b"}}, "additional_headers"),
        ({"model": "http://127.0.0.1:9", "endpoint_url": "http://127.0.0.1:10"}, "both given"),
        ({"model": "http://127.0.0.1:9", "normalize": False, "model_kwargs": {"normalize": True}}, "both given"),
    ],
)
def test_names_without_an_equivalent_are_refused_clearly(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(UnsupportedArgumentError) as info:
        InferenceEndpointEmbeddings(huggingfacehub_api_token="hf_secret_value", **kwargs)
    message = str(info.value)
    assert needle in message
    assert "hf_secret_value" not in message  # not a pydantic ValidationError quoting the arguments
    assert isinstance(info.value, TypeError)


def test_env_endpoint_with_model_name(monkeypatch: pytest.MonkeyPatch, endpoint_url: str) -> None:
    monkeypatch.setenv("HF_ENDPOINT_URL", endpoint_url)
    emb = InferenceEndpointEmbeddings(api_key="x", model_name="sentence-transformers/all-MiniLM-l6-v2")
    assert emb.endpoint_url == endpoint_url
    assert len(emb.embed_query("a dog")) == 384


def test_same_arguments_as_the_installed_langchain_community_class(endpoint_url: str) -> None:
    """The real langchain-community class takes these very arguments; ours embeds with them identically."""
    community = pytest.importorskip("langchain_community.embeddings")
    kwargs = {
        "api_key": "your_api_key",
        "model_name": "sentence-transformers/all-MiniLM-l6-v2",
        "api_url": endpoint_url,
    }
    theirs = community.HuggingFaceInferenceAPIEmbeddings(**kwargs)
    ours = InferenceEndpointEmbeddings(**kwargs)
    texts = ["Hello, world!", "How are you?"]
    answer = theirs.embed_documents(texts)
    # Theirs returns the endpoint's JSON as it is: the inference toolkit's {"embeddings": [...]} object.
    assert isinstance(answer, dict)
    np.testing.assert_allclose(ours.embed_documents(texts), answer["embeddings"], atol=1e-6)
