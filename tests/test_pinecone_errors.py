"""Every public store and control-plane call fails with a library error, within its retry budget.

The failing Pinecone is a tiny ASGI app served over real loopback HTTP that answers every request with one
status (chosen by the first path segment, so one server plays 401, 403, 404, 429 and 5xx) and a
Pinecone-shaped JSON error body: an in-process fake, because no real server fails on demand. "Refused" is a
loopback port nobody listens on. The point is what crosses the public API: only ``hf_pinecone.errors`` types,
never an exception of the ``pinecone`` SDK, urllib3, httpx2 or aiohttp, and exactly ``max_retries + 1``
requests for a transient failure (one retry layer).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from hf_pinecone import RetryPolicy, control
from hf_pinecone.errors import (
    IndexNotFoundError,
    PineconeAuthError,
    PineconeRequestError,
    PineconeUnavailableError,
)
from hf_pinecone.local import run_in_background
from hf_pinecone.store import PineconeStore

RETRY = RetryPolicy(max_retries=2, backoff_base=0.0)
EMB = DeterministicFakeEmbedding(size=4)


class _StatusApp:
    """Answers ``/s<status>/...`` with that status and a Pinecone error body; counts requests per status."""

    def __init__(self) -> None:
        self.seen: Counter[int] = Counter()
        self._lock = threading.Lock()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        status = int(scope["path"].split("/")[1][1:])
        with self._lock:
            self.seen[status] += 1
        body = b'{"code": 7, "message": "injected failure", "details": []}'
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]}
        )
        await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def failing() -> Iterator[tuple[str, _StatusApp]]:
    app = _StatusApp()
    with run_in_background(app) as url:
        yield url, app


def _refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


CASES: dict[str, tuple[int | None, type[PineconeRequestError], int]] = {
    # name: (status, error type, requests expected)
    "refused": (None, PineconeUnavailableError, RETRY.max_retries + 1),
    "401": (401, PineconeAuthError, 1),
    "403": (403, PineconeAuthError, 1),
    "404": (404, IndexNotFoundError, 1),
    "429-storm": (429, PineconeUnavailableError, RETRY.max_retries + 1),
    "503-storm": (503, PineconeUnavailableError, RETRY.max_retries + 1),
    "500-storm": (500, PineconeUnavailableError, RETRY.max_retries + 1),
}

StoreCall = Callable[[PineconeStore], Any]
STORE_CALLS: dict[str, tuple[StoreCall, StoreCall]] = {
    "add_texts": (lambda s: s.add_texts(["a"]), lambda s: s.aadd_texts(["a"])),
    "upsert_vectors": (
        lambda s: s.upsert_vectors([("a", [1.0] * 4, {})]),
        lambda s: s.aupsert_vectors([("a", [1.0] * 4, {})]),
    ),
    "get_by_ids": (lambda s: s.get_by_ids(["a"]), lambda s: s.aget_by_ids(["a"])),
    "existing_ids": (lambda s: s.existing_ids(["a"]), lambda s: s.aexisting_ids(["a"])),
    "similarity_search": (lambda s: s.similarity_search("a"), lambda s: s.asimilarity_search("a")),
    "mmr": (lambda s: s.max_marginal_relevance_search("a"), lambda s: s.amax_marginal_relevance_search("a")),
    "delete": (lambda s: s.delete(ids=["a"]), lambda s: s.adelete(ids=["a"])),
    "describe_index_stats": (lambda s: s.describe_index_stats(), lambda s: s.adescribe_index_stats()),
}


def _base(case: str, failing: tuple[str, _StatusApp]) -> str:
    status = CASES[case][0]
    return _refused_url() if status is None else f"{failing[0]}/s{status}"


def _check(exc: BaseException, case: str, sent: int | None) -> None:
    _, kind, expected = CASES[case]
    assert isinstance(exc, kind), (case, type(exc), exc)
    assert type(exc).__module__ == "hf_pinecone.errors"
    assert exc.attempts == expected  # type: ignore[attr-defined]
    if sent is not None:
        assert sent == expected
    assert "pcsk_" not in str(exc)


def _sent(case: str, failing: tuple[str, _StatusApp], before: int) -> int | None:
    status = CASES[case][0]
    return None if status is None else failing[1].seen[status] - before


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("call", sorted(STORE_CALLS))
async def test_store_calls_raise_library_errors(failing: tuple[str, _StatusApp], case: str, call: str) -> None:
    sync_call, async_call = STORE_CALLS[call]
    status = CASES[case][0]
    for use_async in (False, True):
        store = PineconeStore(
            embedding=EMB, host=_base(case, failing), pinecone_api_key="pcsk_secret_value_1234", retry=RETRY
        )
        before = failing[1].seen[status] if status is not None else 0
        with pytest.raises(PineconeRequestError) as info:
            if use_async:
                await async_call(store)
            else:
                await asyncio.to_thread(sync_call, store)
        _check(info.value, case, _sent(case, failing, before))


ControlCall = Callable[[str], Any]
CONTROL_CALLS: dict[str, ControlCall] = {
    "ensure_index": lambda host: control.ensure_index(
        "docs", dimension=4, api_key="pcsk_secret_value_1234", host=host, retry=RETRY
    ),
    "describe_index": lambda host: control.describe_index(
        "docs", api_key="pcsk_secret_value_1234", host=host, retry=RETRY
    ),
    "list_indexes": lambda host: control.list_indexes(api_key="pcsk_secret_value_1234", host=host, retry=RETRY),
    "delete_index": lambda host: control.delete_index("docs", api_key="pcsk_secret_value_1234", host=host, retry=RETRY),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("call", sorted(CONTROL_CALLS))
def test_control_calls_raise_library_errors(failing: tuple[str, _StatusApp], case: str, call: str) -> None:
    status = CASES[case][0]
    before = failing[1].seen[status] if status is not None else 0
    with pytest.raises(PineconeRequestError) as info:
        CONTROL_CALLS[call](_base(case, failing))
    exc = info.value
    if call == "ensure_index" and case == "404":
        # describe says "missing", then the create request meets the 404 too: two requests, one error.
        assert isinstance(exc, IndexNotFoundError) and _sent(case, failing, before) == 2
        return
    _check(exc, case, _sent(case, failing, before))


@pytest.mark.parametrize("case", ["refused", "401", "503-storm"])
async def test_construction_by_name_is_free_and_the_first_call_fails_clearly(
    failing: tuple[str, _StatusApp], case: str
) -> None:
    """``PineconeStore(index_name=...)`` sends nothing; the first call resolves the host and fails typed."""
    status = CASES[case][0]
    controller = _base(case, failing)
    before = failing[1].seen[status] if status is not None else 0
    store = PineconeStore(
        index_name="docs",
        embedding=EMB,
        pinecone_api_key="pcsk_secret_value_1234",
        controller_host=controller,
        retry=RETRY,
    )
    assert _sent(case, failing, before) in (None, 0)  # nothing sent at construction
    assert "docs" in repr(store)
    with pytest.raises(PineconeRequestError) as info:
        store.similarity_search("a")
    _check(info.value, case, _sent(case, failing, before))
    assert info.value.operation == "describe_index"
    with pytest.raises(PineconeRequestError) as again:
        await store.asimilarity_search("a")
    assert type(again.value) is type(info.value)


def test_construction_by_name_resolves_the_host_at_first_use(pinecone_url: str, index_name: str) -> None:
    """Against the local Pinecone server: a store built from the index name alone works once the index exists."""
    store = PineconeStore(index_name=index_name, embedding=EMB, pinecone_api_key="local", controller_host=pinecone_url)
    control.ensure_index(index_name, dimension=4, api_key="local", host=pinecone_url)  # created after construction
    ids = store.add_texts(["hello", "world"])
    assert [d.id for d in store.get_by_ids(ids)] == ids
    assert repr(store).endswith(f"/indexes/{index_name}', namespace=None)")


async def test_from_texts_and_from_existing_index_resolve_by_name(pinecone_url: str, index_name: str) -> None:
    """Upstream's class constructors work by name without the SDK's lookup (and so without its exceptions)."""
    control.ensure_index(index_name, dimension=4, api_key="local", host=pinecone_url)
    options = {"pinecone_api_key": "local", "controller_host": pinecone_url}
    store = PineconeStore.from_texts(["alpha", "beta"], EMB, index_name=index_name, **options)
    assert isinstance(store, PineconeStore) and store.existing_ids(store.add_texts(["alpha"])) != set()
    again = PineconeStore.from_existing_index(index_name, EMB, **options)
    assert [d.page_content for d in again.similarity_search("alpha", k=1)] == ["alpha"]
    later = await PineconeStore.afrom_texts(["gamma"], EMB, index_name=index_name, **options)
    assert len(await later.aget_by_ids(later.add_texts(["gamma"]))) == 1
    with pytest.raises(PineconeUnavailableError):
        PineconeStore.from_existing_index(
            "docs", EMB, pinecone_api_key="local", controller_host=_refused_url(), retry=RETRY
        ).similarity_search("x")
