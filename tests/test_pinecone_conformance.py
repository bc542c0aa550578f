"""Conformance of the local Pinecone server to Pinecone, each test citing its source.

Sources: Pinecone's API reference for version 2025-04 (docs.pinecone.io/reference/api/2025-04/...), the models the
``pinecone`` SDK 7.3.0 generates from Pinecone's OpenAPI documents (``pinecone/core/openapi/...``), and what the SDK's
own integration suite expects of Pinecone (pinecone-io/pinecone-python-client, ``tests/integration`` at v7.3.0).
Everything runs through the real SDK, sync (``Pinecone`` / ``Index``) and asyncio (``PineconeAsyncio`` /
``IndexAsyncio``), over loopback HTTP; raw httpx only where the wire body itself is the rule.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from pinecone import (
    NamespaceDescription,
    Pinecone,
    PineconeApiException,
    PineconeAsyncio,
    PodSpec,
    ServerlessSpec,
)
from pinecone.exceptions import ForbiddenException, NotFoundException, UnauthorizedException

from hf_pinecone.local import serve_pinecone

SPEC = ServerlessSpec(cloud="aws", region="us-east-1")


def _body(exc: PineconeApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.body)
    return body


@pytest.fixture
def pc(pinecone_url: str) -> Pinecone:
    return Pinecone(api_key="local", host=pinecone_url)


@pytest.fixture
def index(pc: Pinecone, index_name: str) -> Iterator[Any]:
    """A fresh 2-dimensional cosine index (the dimension of the SDK suite's ``embedding_values(2)``)."""
    pc.create_index(name=index_name, dimension=2, metric="cosine", spec=SPEC)
    yield pc.Index(host=pc.describe_index(index_name).host)
    pc.delete_index(index_name)


@pytest.fixture
def host(pc: Pinecone, index: Any, index_name: str) -> str:
    """The index host URL, for raw requests and the asyncio client."""
    url: str = pc.describe_index(index_name).host
    return url


@pytest.fixture
def host_of() -> Any:
    """The host URL an SDK ``Index`` talks to."""

    def host(index: Any) -> str:
        url: str = index._config.host
        return url

    return host


@pytest.fixture
async def aindex(pinecone_url: str, host: str) -> AsyncIterator[Any]:
    async with PineconeAsyncio(api_key="local", host=pinecone_url) as apc, apc.IndexAsyncio(host=host) as idx:
        yield idx


def _seed(index: Any, namespaces: list[str], per_namespace: int = 2) -> None:
    # tests/integration/data/test_namespace.py setup_namespace_data: (f"id_{i}", [0.1, 0.2]) per namespace.
    for namespace in namespaces:
        index.upsert(vectors=[(f"id_{i}", [0.1, 0.2 + i]) for i in range(per_namespace)], namespace=namespace)


# ------------------------------------------------------------------------------------------------ namespaces
def test_list_namespaces_paginated_pages_of_two_two_and_one(index: Any) -> None:
    """tests/integration/data/test_namespace.py::test_list_namespaces_paginated: 5 namespaces, limit 2."""
    _seed(index, [f"test_paginated_{i}" for i in range(5)])
    first = index.list_namespaces_paginated(limit=2)
    assert len(first.namespaces) == 2 and first.pagination.next is not None
    second = index.list_namespaces_paginated(limit=2, pagination_token=first.pagination.next)
    assert len(second.namespaces) == 2 and second.pagination.next is not None
    final = index.list_namespaces_paginated(limit=2, pagination_token=second.pagination.next)
    assert len(final.namespaces) == 1
    assert final.pagination is None
    names = [ns.name for page in (first, second, final) for ns in page.namespaces]
    # Reference (listnamespaces): "in sorted order (bitwise 'C' collation)".
    assert names == sorted(f"test_paginated_{i}" for i in range(5))


def test_list_namespaces_iterates_every_namespace(index: Any) -> None:
    """test_namespace.py::test_list_namespaces and ::test_list_namespaces_with_limit."""
    wanted = ["test_list_1", "test_list_2", "test_list_3"]
    _seed(index, wanted)
    for limit in (None, 2):
        namespaces = list(index.list_namespaces(limit=limit))
        assert sorted(ns.name for ns in namespaces) == wanted
        for ns in namespaces:
            assert isinstance(ns, NamespaceDescription)
            assert int(ns.record_count) == 2


def test_namespace_bodies_are_the_references(index: Any, host: str) -> None:
    """Reference listnamespaces / describenamespace (2025-04): ``{"name", "record_count"}``, record_count a JSON
    string (``"record_count": "20000"`` in the reference example, int64 in proto3 JSON); no pagination on the
    last page."""
    _seed(index, ["alpha"], per_namespace=3)
    listed = httpx.get(f"{host}/namespaces").json()
    assert listed == {"namespaces": [{"name": "alpha", "record_count": "3"}]}
    assert httpx.get(f"{host}/namespaces/alpha").json() == {"name": "alpha", "record_count": "3"}
    assert httpx.delete(f"{host}/namespaces/alpha").json() == {}


def test_describe_and_delete_namespace(index: Any) -> None:
    """test_namespace.py::test_describe_namespace and ::test_delete_namespace: describe gives a
    NamespaceDescription named after the namespace; after delete_namespace, describe fails."""
    _seed(index, ["test_delete_namespace_sync", "other"])
    description = index.describe_namespace(namespace="test_delete_namespace_sync")
    assert isinstance(description, NamespaceDescription)
    assert description.name == "test_delete_namespace_sync"
    index.delete_namespace(namespace="test_delete_namespace_sync")
    with pytest.raises(NotFoundException):
        index.describe_namespace(namespace="test_delete_namespace_sync")
    stats = index.describe_index_stats()
    assert set(stats.namespaces) == {"other"} and stats.total_vector_count == 2
    assert index.fetch(ids=["id_0"], namespace="test_delete_namespace_sync").vectors == {}
    with pytest.raises(NotFoundException):
        index.delete_namespace(namespace="never-written")


def test_default_namespace_is_called_default(index: Any) -> None:
    """Reference deletenamespace: 'To target the default namespace, use "__default__"'; from API 2025-04 on,
    ``namespace="__default__"`` addresses the default namespace on every route (older versions refuse it:
    "Use of namespace='__default__' is not allowed in API versions prior to 2025-04", neuron-core/neuron-ai#162)."""
    index.upsert(vectors=[("a", [1.0, 0.0])])
    index.upsert(vectors=[("b", [0.0, 1.0])], namespace="__default__")
    assert [(ns.name, int(ns.record_count)) for ns in index.list_namespaces()] == [("__default__", 2)]
    assert set(index.fetch(ids=["a", "b"]).vectors) == {"a", "b"}
    assert set(index.fetch(ids=["a", "b"], namespace="__default__").vectors) == {"a", "b"}
    assert int(index.describe_namespace(namespace="__default__").record_count) == 2
    index.delete_namespace(namespace="__default__")
    assert index.describe_index_stats().total_vector_count == 0


async def test_namespaces_through_the_asyncio_client(index: Any, aindex: Any) -> None:
    """tests/integration/data_asyncio/test_namespace_asyncio.py counterpart of the sync suite (IndexAsyncio)."""
    _seed(index, [f"ns{i}" for i in range(3)])
    page = await aindex.list_namespaces_paginated(limit=2)
    assert [ns.name for ns in page.namespaces] == ["ns0", "ns1"] and page.pagination.next
    rest = await aindex.list_namespaces_paginated(limit=2, pagination_token=page.pagination.next)
    assert [ns.name for ns in rest.namespaces] == ["ns2"] and rest.pagination is None
    assert sorted([ns.name async for ns in aindex.list_namespaces(limit=1)]) == ["ns0", "ns1", "ns2"]
    described = await aindex.describe_namespace(namespace="ns1")
    assert described.name == "ns1" and int(described.record_count) == 2
    await aindex.delete_namespace(namespace="ns1")
    with pytest.raises(NotFoundException):
        await aindex.describe_namespace(namespace="ns1")
    assert set((await aindex.describe_index_stats()).namespaces) == {"ns0", "ns2"}


def test_haystack_teardown_leaves_nothing_behind(pinecone_url: str, index_name: str, monkeypatch: Any) -> None:
    """pinecone-haystack's suite writes each test's documents to its own namespace and tears the namespace down
    (deepset-ai/haystack-core-integrations integrations/pinecone/tests/conftest.py: ``store._index.delete(
    delete_all=True, namespace=...)``; later versions ``delete_namespace``): afterwards the index holds nothing."""
    store_module = pytest.importorskip("haystack_integrations.document_stores.pinecone")
    from haystack import Document

    monkeypatch.setenv("PINECONE_CONTROLLER_HOST", pinecone_url)
    monkeypatch.setenv("PINECONE_API_KEY", "local")
    stores = []
    for namespace in ("test-a", "test-b"):
        store = store_module.PineconeDocumentStore(
            index=index_name, namespace=namespace, dimension=2, metric="cosine", show_progress=False
        )
        docs = [Document(id=f"{namespace}-{i}", content=f"doc {i}", embedding=[1.0, float(i)]) for i in range(5)]
        assert store.write_documents(docs) == 5
        stores.append((store, namespace))
    index = stores[0][0]._index
    assert index.describe_index_stats().total_vector_count == 10
    stores[0][0]._index.delete_namespace(namespace="test-a")
    stores[1][0]._index.delete(delete_all=True, namespace="test-b")
    stats = index.describe_index_stats()
    assert stats.total_vector_count == 0 and dict(stats.namespaces) == {}
    assert list(index.list_namespaces()) == []
    Pinecone(api_key="local", host=pinecone_url).delete_index(index_name)


# --------------------------------------------------------------------------------------------------- records
def test_query_matches_always_carry_values(index: Any, host: str) -> None:
    """Pinecone's ScoredVector always has "values", [] unless includeValues: a logged query against Pinecone
    answers ``{'id': 'vec1', 'score': 0.999999881, 'values': [], 'metadata': {...}}``
    (dblock/vectordb-hello-world src/pinecone/README.md); with include_values the SDK suite reads them
    (tests/integration/data/test_weird_ids.py::test_query_weird_ids: ``len(results.matches[0].values) == 2``)."""
    index.upsert(vectors=[("a", [1.0, 0.0], {"genre": "drama"}), ("b", [0.5, 0.5])])
    raw = httpx.post(f"{host}/query", json={"vector": [1.0, 0.0], "topK": 2, "includeMetadata": True}).json()
    assert [match["values"] for match in raw["matches"]] == [[], []]
    assert raw["matches"][0]["metadata"] == {"genre": "drama"}
    assert "metadata" not in raw["matches"][1]
    assert index.query(vector=[1.0, 0.0], top_k=1).matches[0].values == []
    assert index.query(id="a", top_k=1, include_values=True).matches[0].values == [1.0, 0.0]


async def test_empty_upsert_is_refused(index: Any, aindex: Any) -> None:
    """tests/integration/data/test_upsert_errors.py::test_upsert_fails_when_vectors_empty: the SDK sends
    ``upsert(vectors=[])`` and Pinecone refuses it (PineconeException)."""
    with pytest.raises(PineconeApiException) as sync_error:
        index.upsert(vectors=[])
    assert sync_error.value.status == 400 and _body(sync_error.value)["code"] == 3
    with pytest.raises(PineconeApiException) as async_error:
        await aindex.upsert(vectors=[])
    assert async_error.value.status == 400


# seed.weird_invalid_ids(): invisible characters, emoji, two-byte characters, quotes (a sample of each kind).
_INVALID_IDS = ["\u2800", "\u00a0", "\u00ad", "\u180e", "\u2002", "🌲", "田中さん", "\u2018", "\u201d", "\uff02"]
# seed.weird_valid_ids(): numbers, whitespace, punctuation, escaped punctuation, pairs, script injection.
_VALID_IDS = [
    "1",
    " ",
    "\n",
    "\t",
    "\r",
    '"',
    "\\",
    "\\'",
    "%s",
    "{0}",
    "$HOME",
    " \t",
    "null",
    "<script>alert(0)</script>",
    "' OR '1'='1",
    '<img src\x32=x onerror="javascript:alert(182)">1;DROP TABLE users',
]


@pytest.mark.parametrize("record_id", _INVALID_IDS)
def test_non_ascii_ids_are_refused(index: Any, record_id: str) -> None:
    """tests/integration/data/test_weird_ids.py::test_weird_invalid_ids: "Vector ID must be ASCII"."""
    with pytest.raises(PineconeApiException) as error:
        index.upsert(vectors=[(record_id, [0.1, 0.1])])
    assert "Vector ID must be ASCII" in str(error.value)
    assert index.describe_index_stats().total_vector_count == 0


def test_null_character_ids_are_refused(index: Any) -> None:
    """tests/integration/data/test_weird_ids.py::test_null_character."""
    with pytest.raises(PineconeApiException) as error:
        index.upsert(vectors=[("\0", [0.1, 0.1])])
    assert "Vector ID must not contain null character" in str(error.value)


def test_weird_ascii_ids_round_trip(index: Any) -> None:
    """tests/integration/data/test_weird_ids.py: fetch, query by id and list of seed.weird_valid_ids()."""
    index.upsert(vectors=[(record_id, [0.1, 0.1 + i]) for i, record_id in enumerate(_VALID_IDS)], namespace="w")
    fetched = index.fetch(ids=_VALID_IDS, namespace="w")
    assert set(fetched.vectors) == set(_VALID_IDS)
    for record_id in _VALID_IDS:
        assert fetched.vectors[record_id].id == record_id and fetched.vectors[record_id].metadata is None
    result = index.query(id="\n", top_k=10, namespace="w", include_values=True)
    assert len(result.matches) == 10 and len(result.matches[0].values) == 2
    listed = [record_id for page in index.list(namespace="w") for record_id in page]
    assert sorted(listed) == sorted(_VALID_IDS)


def test_zero_vector_error_is_pinecones(index: Any) -> None:
    """Pinecone's 400 for an all-zero dense vector (quoted in deepset-ai/haystack#10194): {"code":3,"message":"Dense
    vectors must contain at least one non-zero value. Vector ID '<id>' contains only zeros","details":[]}."""
    with pytest.raises(PineconeApiException) as error:
        index.upsert(vectors=[("ok", [1.0, 0.0]), ("zeros", [0.0, 0.0])])
    assert _body(error.value) == {
        "code": 3,
        "message": "Dense vectors must contain at least one non-zero value. Vector ID 'zeros' contains only zeros",
        "details": [],
    }


@pytest.mark.parametrize("dimension", [2, 384, 1536])
def test_cosine_scores_stay_within_minus_one_and_one(pc: Pinecone, index_name: str, dimension: int) -> None:
    """A cosine similarity lies in [-1, 1]; Pinecone scores a vector against itself just below 1
    (0.999999881 in dblock/vectordb-hello-world's logged query), never 1.0000001."""
    pc.create_index(name=index_name, dimension=dimension, metric="cosine", spec=SPEC)
    index = pc.Index(host=pc.describe_index(index_name).host)
    rng = np.random.default_rng(dimension)
    vectors = rng.standard_normal((50, dimension)).astype(np.float32)
    index.upsert(vectors=[(f"v{i}", [float(x) for x in row]) for i, row in enumerate(vectors)])
    for i in range(0, 50, 7):
        same = index.query(id=f"v{i}", top_k=1).matches[0]
        assert same.id == f"v{i}" and 0.9999 <= same.score <= 1.0
        opposite = index.query(vector=[-float(x) for x in vectors[i]], top_k=50).matches[-1]
        assert opposite.id == f"v{i}" and -1.0 <= opposite.score <= -0.9999
    pc.delete_index(index_name)


# ------------------------------------------------------------------------------------------------- auth
async def test_wrong_api_key(index_name: str) -> None:
    """tests/integration/data_asyncio/test_unauthorized_access.py: IndexAsyncio.describe_index_stats with a wrong
    key raises ForbiddenException containing "Wrong API key". The control plane answers 401 (UnauthorizedException,
    pinecone/openapi_support/rest_utils.py raise_exceptions_or_return) "Invalid API Key"."""
    with serve_pinecone(api_key="right") as url:
        good = Pinecone(api_key="right", host=url)
        good.create_index(name=index_name, dimension=2, metric="cosine", spec=SPEC)
        host = good.describe_index(index_name).host
        with pytest.raises(UnauthorizedException) as control:
            Pinecone(api_key="invalid_key", host=url).list_indexes()
        assert "Invalid API Key" in str(control.value)
        with pytest.raises(ForbiddenException) as sync_data:
            Pinecone(api_key="invalid_key", host=url).Index(host=host).describe_index_stats()
        assert "Wrong API key" in str(sync_data.value)
        async with (
            PineconeAsyncio(api_key="invalid_key", host=url) as apc,
            apc.IndexAsyncio(host=host) as aindex,
        ):
            with pytest.raises(ForbiddenException) as async_data:
                await aindex.describe_index_stats()
        assert "Wrong API key" in str(async_data.value)
        assert "right" not in str(async_data.value) and "right" not in str(sync_data.value)
        assert good.Index(host=host).describe_index_stats().total_vector_count == 0


# ------------------------------------------------------------------------------------------------ routing
def test_unknown_routes_and_methods_answer_json(pinecone_url: str, host: str) -> None:
    """Errors always come as Pinecone's JSON bodies: the control plane's ErrorResponse
    (``{"error": {"code", "message"}, "status"}``, codes from db_control/model/error_response_error.py) and the
    data plane's RpcStatus (``{"code", "message", "details"}``, db_data/model/rpc_status.py), the latter answered as
    grpc-gateway routes (404: code 5, 405: code 12), never a framework's text/plain."""
    control = {
        (httpx.get(f"{pinecone_url}/no-such-route"), 404): ("NOT_FOUND", "Not Found"),
        (httpx.put(f"{pinecone_url}/indexes"), 405): ("UNIMPLEMENTED", "Method Not Allowed"),
    }
    data = {
        (httpx.get(f"{host}/no/such/route"), 404): (5, "Not Found"),
        (httpx.get(f"{host}/vectors/upsert"), 405): (12, "Method Not Allowed"),
        (httpx.put(f"{host}/query"), 405): (12, "Method Not Allowed"),
    }
    for (response, status), (code, message) in control.items():
        assert response.status_code == status and response.headers["content-type"] == "application/json"
        assert response.json() == {"error": {"code": code, "message": message}, "status": status}
    for (response, status), (number, message) in data.items():
        assert response.status_code == status and response.headers["content-type"] == "application/json"
        assert response.json() == {"code": number, "message": message, "details": []}
    assert "POST" in httpx.get(f"{host}/vectors/upsert").headers["allow"]


# -------------------------------------------------------------------------------------------- control plane
def test_index_without_tags_has_none(pc: Pinecone, index: Any, index_name: str, pinecone_url: str) -> None:
    """tests/integration/control/serverless/test_index_tags.py: tags are None by default, then what was set; the
    SDK's configure_index treats ``description.tags is None`` as no tags (db_control/request_factory.py)."""
    assert pc.describe_index(index_name).tags is None
    assert "tags" not in httpx.get(f"{pinecone_url}/indexes/{index_name}").json()
    pc.configure_index(index_name, tags={"foo": "FOO", "bar": "BAR"})
    assert pc.describe_index(index_name).tags.to_dict() == {"foo": "FOO", "bar": "BAR"}
    pc.configure_index(index_name, tags={"foo": ""})  # Pinecone: an empty value removes the tag
    assert pc.describe_index(index_name).tags.to_dict() == {"bar": "BAR"}


def test_pod_specs_are_refused(pc: Pinecone, index_name: str) -> None:
    """CreateIndexRequest.spec is serverless, pod or BYOC (db_control/model/index_spec.py); this server serves
    serverless indexes only and refuses a pod spec in Pinecone's error shape instead of creating a serverless
    index (docs/STAND_INS.md)."""
    with pytest.raises(PineconeApiException) as error:
        pc.create_index(name=index_name, dimension=2, metric="cosine", spec=PodSpec(environment="us-east1-gcp"))
    body = _body(error.value)
    assert error.value.status == 400 and body["error"]["code"] == "INVALID_ARGUMENT"
    assert "spec.pod" in body["error"]["message"]
    assert not pc.has_index(index_name)


@pytest.mark.parametrize(
    "settings",
    [{"replicas": 2}, {"pod_type": "p1.x2"}, {"embed": {"model": "multilingual-e5-large", "field_map": {"text": "t"}}}],
)
def test_unsupported_configure_index_fields_are_refused(
    pc: Pinecone, index: Any, index_name: str, settings: dict[str, Any]
) -> None:
    """ConfigureIndexRequest (db_control/model/configure_index_request.py) carries spec.pod (replicas, pod_type),
    deletion_protection, tags and embed (tests/integration/control/serverless/test_configure_index_embed.py);
    what this server cannot honour is refused, not accepted and ignored."""
    with pytest.raises(PineconeApiException) as error:
        pc.configure_index(index_name, **settings)
    assert error.value.status == 400 and _body(error.value)["error"]["code"] == "INVALID_ARGUMENT"
    assert pc.describe_index(index_name).deletion_protection == "disabled"


def test_deletion_protection_is_configurable(pc: Pinecone, index_name: str) -> None:
    """tests/integration/control/serverless/test_sparse_index.py::test_sparse_index_deletion_protection (the dense
    part): delete fails with "Deletion protection is enabled for this index" until it is disabled."""
    pc.create_index(name=index_name, dimension=2, metric="cosine", spec=SPEC, deletion_protection="enabled")
    assert pc.describe_index(index_name).deletion_protection == "enabled"
    with pytest.raises(PineconeApiException) as error:
        pc.delete_index(index_name, -1)
    assert "Deletion protection is enabled for this index" in str(error.value)
    pc.configure_index(index_name, deletion_protection="disabled")
    assert pc.describe_index(index_name).deletion_protection == "disabled"
    pc.delete_index(index_name, -1)
    assert not pc.has_index(index_name)


# ------------------------------------------------------------------------------------------------- sparse
def _embedding_values(n: int, seed: int) -> list[float]:
    # tests/integration/helpers.embedding_values: n random floats in [0, 1).
    return [float(x) for x in np.random.default_rng(seed).random(n).round(4)]


@pytest.fixture
def sparse_index(pc: Pinecone, index_name: str) -> Iterator[Any]:
    """A sparse index as the SDK suite creates it (vector_type="sparse", metric="dotproduct", no dimension)."""
    pc.create_index(name=index_name, metric="dotproduct", vector_type="sparse", spec=SPEC)
    yield pc.Index(host=pc.describe_index(index_name).host)
    pc.delete_index(index_name)


def _sparse_dot(a: dict[str, list[Any]], b: dict[str, list[Any]]) -> float:
    weights = dict(zip(a["indices"], a["values"], strict=True))
    return float(sum(weights.get(i, 0.0) * v for i, v in zip(b["indices"], b["values"], strict=True)))


def test_sparse_index_is_described_as_pinecone_does(pc: Pinecone, sparse_index: Any, index_name: str) -> None:
    """tests/integration/control/serverless/test_sparse_index.py::test_create_sparse_index_with_metric: metric
    dotproduct, vector_type sparse, dimension None, deletion protection disabled, in describe and in list; stats
    report vectorType "sparse" and, having no dimension, leave "dimension" out."""
    description = pc.describe_index(index_name)
    assert (description.metric, description.vector_type, description.dimension) == ("dotproduct", "sparse", None)
    assert description.deletion_protection == "disabled"
    listed = next(i for i in pc.list_indexes() if i.name == index_name)
    assert (listed.metric, listed.vector_type, listed.dimension) == ("dotproduct", "sparse", None)
    stats = httpx.post(f"{description.host}/describe_index_stats", json={}).json()
    assert stats["vectorType"] == "sparse" and "dimension" not in stats


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_sparse_indexes_only_support_dotproduct(pc: Pinecone, index_name: str, metric: str) -> None:
    """test_sparse_index.py::test_sparse_only_supports_dotproduct: "Sparse vector indexes must use dotproduct"."""
    with pytest.raises(PineconeApiException) as error:
        pc.create_index(name=index_name, metric=metric, vector_type="sparse", spec=SPEC)
    assert "Sparse vector indexes must use dotproduct" in str(error.value)
    assert not pc.has_index(index_name)


def test_sparse_index_refuses_a_dimension(pinecone_url: str, index_name: str) -> None:
    """The SDK refuses a dimension for sparse indexes before sending ("dimension should not be specified for sparse
    indexes", test_sparse_index.py::test_exception_when_passing_dimension); the server refuses the raw request."""
    body = {"name": index_name, "dimension": 10, "metric": "dotproduct", "vector_type": "sparse"}
    response = httpx.post(f"{pinecone_url}/indexes", json={**body, "spec": {"serverless": {"cloud": "aws"}}})
    assert response.status_code == 400 and response.json()["error"]["code"] == "INVALID_ARGUMENT"
    assert "dimension" in response.json()["error"]["message"].lower()


async def test_sparse_queries_as_the_sdk_suite_runs_them(sparse_index: Any, host_of: Any, pinecone_url: str) -> None:
    """tests/integration/data_asyncio/test_query_sparse.py (IndexAsyncio) and data/test_upsert_sparse.py (Index):
    records as Vector objects, SparseValues and dicts; values [] in matches, sparse_values with include_values;
    filters; query by id; the three error messages; scores are the sparse dot product."""
    from pinecone import SparseValues, Vector

    records: dict[str, dict[str, list[Any]]] = {}
    for i in range(50):
        records[str(i)] = {"indices": list(range(100)), "values": _embedding_values(100, i)}
    for i in range(100, 151):
        records[str(i)] = {"indices": [i, 2000 + i], "values": _embedding_values(2, i)}
    sparse_index.upsert(
        vectors=[
            Vector(id=i, sparse_values=SparseValues(**sv), metadata={"genre": "action"})
            for i, sv in records.items()
            if int(i) < 50
        ],
        namespace="target",
    )
    sparse_index.upsert(
        vectors=[
            {"id": i, "sparse_values": sv, "metadata": {"genre": "comedy"}}
            for i, sv in records.items()
            if int(i) >= 100
        ],
        namespace="target",
    )
    sparse_index.upsert(
        vectors=[Vector(id="10", sparse_values=SparseValues(**records["10"]), metadata={"genre": "documentary"})],
        namespace="target",
    )
    query: dict[str, list[Any]] = {"indices": [1, 2, 3, 4, 5], "values": _embedding_values(5, 99)}
    expected = sorted(((_sparse_dot(query, sv), i) for i, sv in records.items()), key=lambda t: (-t[0], t[1]))

    sync_result = sparse_index.query(top_k=4, namespace="target", sparse_vector=query)
    assert [m.id for m in sync_result.matches] == [i for _, i in expected[:4]]
    assert [m.score for m in sync_result.matches] == pytest.approx([s for s, _ in expected[:4]], rel=1e-5)
    assert sync_result.matches[0].values == [] and sync_result.namespace == "target"

    async with (
        PineconeAsyncio(api_key="local", host=pinecone_url) as apc,
        apc.IndexAsyncio(host=host_of(sparse_index)) as aidx,
    ):
        results1 = await aidx.query(top_k=4, namespace="target", sparse_vector=SparseValues(**query))
        assert len(results1.matches) == 4 and results1.matches[0].values == []
        assert results1.usage.read_units > 0
        results2 = await aidx.query(top_k=4, namespace="target", sparse_vector=query, include_values=True)
        assert len(results2.matches[0].sparse_values.indices) > 0 and len(results2.matches[0].values) == 0
        results3 = await aidx.query(
            top_k=4,
            namespace="target",
            sparse_vector=query,
            filter={"genre": {"$in": ["action"]}},
            include_metadata=True,
        )
        assert len(results3.matches) == 4 and results3.matches[0].metadata["genre"] == "action"
        results4 = await aidx.query(
            top_k=4,
            namespace="target",
            sparse_vector=query,
            filter={"genre": {"$in": ["documentary"]}},
            include_metadata=True,
        )
        assert [m.id for m in results4.matches] == ["10"]
        results5 = await aidx.query(
            top_k=4, namespace="target", sparse_vector=query, filter={"genre": {"$in": ["thriller"]}}
        )
        assert results5.matches == [] and results5.usage.read_units > 0
        assert len((await aidx.query(top_k=4, id="1", namespace="target")).matches) == 4
        assert (await aidx.query(top_k=10, id="unknown", namespace="target")).matches == []
        cases: list[tuple[dict[str, Any], str]] = [
            ({"id": "1", "sparse_vector": query}, "Cannot provide both 'ID' and 'sparse_vector' at the same time"),
            ({"vector": _embedding_values(10, 1)}, "Either 'sparse_vector' or 'ID' must be provided"),
            (
                {"sparse_vector": query, "vector": _embedding_values(10, 1)},
                "Index configuration does not support dense values",
            ),
        ]
        for kwargs, message in cases:
            with pytest.raises(PineconeApiException) as error:
                await aidx.query(top_k=10, namespace="target", **kwargs)
            assert message in str(error.value)


def test_sparse_queries_drop_zero_scores_and_cap_top_k(sparse_index: Any) -> None:
    """Sparse index limitations (docs.pinecone.io/guides/index-data/indexing-overview): "Max top_k value per query:
    1000", and records whose dotproduct score is 0 are discarded (fewer than top_k results)."""
    sparse_index.upsert(
        vectors=[
            {"id": "a", "sparse_values": {"indices": [1], "values": [1.0]}},
            {"id": "b", "sparse_values": {"indices": [2], "values": [1.0]}},
        ]
    )
    assert [
        m.id for m in sparse_index.query(top_k=10, sparse_vector={"indices": [1, 9], "values": [2.0, 1.0]}).matches
    ] == ["a"]
    assert sparse_index.query(top_k=10, sparse_vector={"indices": [9], "values": [1.0]}).matches == []
    with pytest.raises(PineconeApiException) as error:
        sparse_index.query(top_k=1001, sparse_vector={"indices": [1], "values": [1.0]})
    assert error.value.status == 400


def test_sparse_records_list_fetch_and_update(sparse_index: Any) -> None:
    """tests/integration/data/test_list_sparse.py (seed: SparseValues(indices=[i, 2i, 3i], values=[0.1i, 0.2i,
    0.3i]) for i < 1000, so id "0" repeats index 0; prefix "99" lists 99, 990..999 in pages of 5, 5, 1) and
    data_asyncio/test_update_sparse.py (update(sparse_values=...) replaces them, fetch returns them)."""
    from pinecone import SparseValues, Vector

    sparse_index.upsert(
        vectors=[
            Vector(id=str(i), sparse_values=SparseValues(indices=[i, i * 2, i * 3], values=[i * 0.1, i * 0.2, i * 0.3]))
            for i in range(1000)
        ],
        batch_size=100,
        namespace="nondefault",
    )
    assert sparse_index.describe_index_stats().namespaces["nondefault"].vector_count == 1000
    pages = list(sparse_index.list(prefix="99", limit=5, namespace="nondefault"))
    assert pages == [["99", "990", "991", "992", "993"], ["994", "995", "996", "997", "998"], ["999"]]
    fetched = sparse_index.fetch(ids=["0", "7"], namespace="nondefault").vectors
    assert fetched["0"].sparse_values.indices == [0, 0, 0] and fetched["7"].values == []
    assert fetched["7"].sparse_values.values == pytest.approx([0.7, 1.4, 2.1])
    new = {"indices": list(range(100)), "values": _embedding_values(100, 5)}
    sparse_index.update(id="1", sparse_values=new, namespace="nondefault")
    updated = sparse_index.fetch(ids=["1"], namespace="nondefault").vectors["1"].sparse_values
    assert updated.indices == new["indices"] and updated.values == pytest.approx(new["values"], rel=1e-6)


def test_hybrid_records_on_a_dotproduct_index(pc: Pinecone, index_name: str) -> None:
    """tests/integration/data/test_upsert_hybrid.py (dotproduct index; Vector with values and SparseValues, and
    dicts with sparse_values); a sparse-dense query scores the dense plus the sparse dot product (hybrid search as
    Pinecone documents it, docs.pinecone.io/guides/search/hybrid-search)."""
    from pinecone import SparseValues, Vector

    pc.create_index(name=index_name, dimension=2, metric="dotproduct", spec=SPEC)
    index = pc.Index(host=pc.describe_index(index_name).host)
    index.upsert(
        vectors=[Vector(id="1", values=[0.5, 0.1], sparse_values=SparseValues(indices=[0, 1], values=[0.3, 0.9]))],
        namespace="h",
    )
    index.upsert(
        vectors=[
            {"id": "2", "values": [0.2, 0.4], "sparse_values": {"indices": [0, 1], "values": [0.8, 0.1]}},
            {"id": "3", "values": [0.9, 0.9]},
        ],
        namespace="h",
    )
    assert index.describe_index_stats().namespaces["h"].vector_count == 3
    result = index.query(
        top_k=3, vector=[1.0, 1.0], sparse_vector={"indices": [1], "values": [2.0]}, namespace="h", include_values=True
    )
    scores = {m.id: m.score for m in result.matches}
    assert scores == pytest.approx({"1": 0.6 + 1.8, "2": 0.6 + 0.2, "3": 1.8})
    assert [m.id for m in result.matches] == ["1", "3", "2"]
    first = result.matches[0]
    assert first.values == pytest.approx([0.5, 0.1]) and first.sparse_values.indices == [0, 1]
    pc.delete_index(index_name)


def test_sparse_values_on_a_cosine_index_store_but_do_not_query(index: Any) -> None:
    """docs.pinecone.io/reference/known-limitations: "Upserting, updating, and fetching sparse-dense vectors in
    indexes with a different distance metric will succeed, but querying will return an error"."""
    index.upsert(vectors=[{"id": "a", "values": [1.0, 0.0], "sparse_values": {"indices": [3], "values": [0.5]}}])
    index.update(id="a", sparse_values={"indices": [4], "values": [0.25]})
    assert index.fetch(ids=["a"]).vectors["a"].sparse_values.indices == [4]
    with pytest.raises(PineconeApiException) as error:
        index.query(top_k=1, vector=[1.0, 0.0], sparse_vector={"indices": [4], "values": [1.0]})
    assert error.value.status == 400 and "dotproduct" in _body(error.value)["message"]
    assert [m.id for m in index.query(top_k=1, vector=[1.0, 0.0]).matches] == ["a"]


@pytest.mark.parametrize(
    ("sparse", "problem"),
    [
        ({"indices": [0], "values": [0.5, 0.5]}, "same length"),
        ({"indices": [0, 1], "values": [0.5]}, "same length"),
        ({"indices": list(range(1001)), "values": [0.1] * 1001}, "1000"),
        ({"indices": [-1], "values": [0.5]}, "indices"),
        ({"indices": [2**32], "values": [0.5]}, "indices"),
        ({"indices": [1.5], "values": [0.5]}, "indices"),
        ({"indices": [1], "values": ["x"]}, "values"),
        ({"indices": [1]}, "values"),
    ],
)
def test_bad_sparse_values_are_400(pc: Pinecone, index_name: str, sparse: dict[str, Any], problem: str) -> None:
    """Sparse values are uint32 indices and float32 values of the same length (docs.pinecone.io/guides/data/
    upsert-sparse-dense-vectors), at most 1000 non-zero values (www.pinecone.io/docs/limits); the SDK suite expects
    Pinecone to refuse mismatched lengths (tests/integration/data/test_upsert_errors.py,
    TestUpsertFailsSparseValuesDimensionMismatch). Raw requests: the SDK checks lengths before sending."""
    pc.create_index(name=index_name, dimension=2, metric="dotproduct", spec=SPEC)
    host = pc.describe_index(index_name).host
    pc.Index(host=host).upsert(vectors=[("a", [1.0, 0.0])])
    for route, body in (
        ("/vectors/upsert", {"vectors": [{"id": "a", "values": [1.0, 0.0], "sparseValues": sparse}]}),
        ("/query", {"topK": 1, "vector": [1.0, 0.0], "sparseVector": sparse}),
        ("/vectors/update", {"id": "a", "sparseValues": sparse}),
    ):
        response = httpx.post(f"{host}{route}", json=body)
        assert response.status_code == 400, (route, response.text)
        assert response.json()["code"] == 3 and problem in response.json()["message"], (route, response.text)
    assert pc.Index(host=host).fetch(ids=["a"]).vectors["a"].sparse_values is None
    pc.delete_index(index_name)


def test_sparse_index_records_need_sparse_values_only(sparse_index: Any, host_of: Any) -> None:
    """A sparse index holds sparse values only: dense values are refused ("Index configuration does not support
    dense values", data_asyncio/test_query_sparse.py) and a record without sparse values has nothing to store."""
    host = host_of(sparse_index)
    with_dense = {"id": "a", "values": [1.0], "sparseValues": {"indices": [1], "values": [1.0]}}
    response = httpx.post(f"{host}/vectors/upsert", json={"vectors": [with_dense]})
    assert response.status_code == 400 and "does not support dense values" in response.json()["message"]
    response = httpx.post(f"{host}/vectors/upsert", json={"vectors": [{"id": "a"}]})
    assert response.status_code == 400 and "Sparse values are required" in response.json()["message"]
    assert sparse_index.describe_index_stats().total_vector_count == 0
