"""Pinecone's data plane for one index: upsert, fetch, query, delete, stats and list, returning plain data.

Sync and async methods are twins over the same pure requests (:mod:`~hf_pinecone._pinecone.protocol`) and
the same bounded fan-out semantics (:func:`run_bounded` / :func:`arun_bounded`): at most ``concurrency``
requests in flight; on the first failure no further request starts, the ones in flight finish (so what was
acknowledged is known), and the first error is raised. Only :mod:`hf_pinecone.errors` types escape.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from hf_pinecone._pinecone import protocol
from hf_pinecone._pinecone.limits import MAX_FETCH_IDS
from hf_pinecone._pinecone.records import UpsertRecord, plan_fetch_chunks
from hf_pinecone._pinecone.transport import AsyncTransport, SyncTransport
from hf_pinecone._retry import RetryPolicy

__all__ = ["DataPlane", "arun_bounded", "run_bounded"]

T = TypeVar("T")
R = TypeVar("R")


def run_bounded(fn: Callable[[T], R], items: Sequence[T], limit: int) -> list[R]:
    """``[fn(item) for item in items]`` with up to ``limit`` calls at once in threads, results in order.

    On the first failure no further call starts; calls already running finish; the first error is raised.
    """
    if limit <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    results: list[Any] = [None] * len(items)
    failure: list[BaseException] = []
    lock = threading.Lock()
    next_index = iter(range(len(items)))

    def worker() -> None:
        while True:
            with lock:
                if failure:
                    return
                i = next(next_index, None)
            if i is None:
                return
            try:
                results[i] = fn(items[i])
            except BaseException as exc:
                with lock:
                    failure.append(exc)
                return

    workers = min(limit, len(items))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hf-pinecone-data") as pool:
        for future in [pool.submit(worker) for _ in range(workers)]:
            future.result()
    if failure:
        raise failure[0]
    return results


async def arun_bounded(fn: Callable[[T], Awaitable[R]], items: Sequence[T], limit: int) -> list[R]:
    """Async :func:`run_bounded`: same order, same failure semantics, tasks instead of threads.

    If the caller is cancelled, the tasks are cancelled too (and awaited) before the cancellation propagates.
    """
    if limit <= 1 or len(items) <= 1:
        return [await fn(item) for item in items]
    results: list[Any] = [None] * len(items)
    failure: list[BaseException] = []
    next_index = iter(range(len(items)))

    async def worker() -> None:
        while not failure:
            i = next(next_index, None)
            if i is None:
                return
            try:
                results[i] = await fn(items[i])
            except Exception as exc:
                failure.append(exc)
                return

    tasks = [asyncio.ensure_future(worker()) for _ in range(min(limit, len(items)))]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    if failure:
        raise failure[0]
    return results


def _upserted(answer: Mapping[str, Any], batch: Sequence[UpsertRecord]) -> int:
    return int(answer.get("upsertedCount", len(batch)) or 0)


def _merge_found(answers: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for answer in answers:
        vectors = answer.get("vectors")
        if isinstance(vectors, Mapping):
            found.update(vectors)
    return found


def _delete_requests(
    namespace: str | None,
    ids: Sequence[str] | None,
    delete_all: bool,
    filter: Mapping[str, Any] | None,
) -> list[protocol.Request]:
    if delete_all:
        return [protocol.delete(namespace=namespace, delete_all=True)]
    if ids is not None:
        unique = list(dict.fromkeys(ids))
        return [
            protocol.delete(namespace=namespace, ids=unique[i : i + MAX_FETCH_IDS])
            for i in range(0, len(unique), MAX_FETCH_IDS)
        ]
    if filter is not None:
        return [protocol.delete(namespace=namespace, filter=filter)]
    raise ValueError("Either ids, delete_all, or filter must be provided.")


def _matches(answer: Mapping[str, Any]) -> list[dict[str, Any]]:
    matches = answer.get("matches")
    return [m for m in matches if isinstance(m, dict)] if isinstance(matches, list) else []


class DataPlane:
    """The data plane of one index, over a sync and an async transport (both created without I/O).

    Args:
        host: The index host.
        api_key: The Pinecone API key.
        retry: Retry policy for every request.
        concurrency: Requests in flight at once within one call (upsert batches, fetch and delete chunks).
    """

    def __init__(self, host: str, api_key: str, *, retry: RetryPolicy | None = None, concurrency: int = 4) -> None:
        self.sync = SyncTransport(host, api_key, retry=retry)
        self.async_ = AsyncTransport(host, api_key, retry=retry)
        self.concurrency = concurrency

    @property
    def base(self) -> str:
        """The index host as a URL."""
        return self.sync.base

    def __repr__(self) -> str:
        return f"DataPlane({self.base!r})"

    # -- sync ---
    def upsert(
        self, batches: Sequence[Sequence[UpsertRecord]], namespace: str | None, *, concurrent: bool = True
    ) -> int:
        """Send planned batches; the number of records Pinecone acknowledged."""

        def send(batch: Sequence[UpsertRecord]) -> int:
            return _upserted(self.sync.send(protocol.upsert(batch, namespace)), batch)

        return sum(run_bounded(send, batches, self.concurrency if concurrent else 1))

    def fetch(self, ids: Sequence[str], namespace: str | None) -> dict[str, Any]:
        """``{id: record}`` for the ids that exist (fetched in planned chunks)."""
        chunks = plan_fetch_chunks(ids)
        return _merge_found(
            run_bounded(lambda c: self.sync.send(protocol.fetch(c, namespace)), chunks, self.concurrency)
        )

    def existing(self, ids: Sequence[str], namespace: str | None) -> set[str]:
        """The subset of ``ids`` stored in ``namespace`` (fetched in planned chunks, values never decoded)."""
        chunks = plan_fetch_chunks(ids)
        answers = run_bounded(
            lambda c: self.sync.send(protocol.fetch(c, namespace, values=False)), chunks, self.concurrency
        )
        return set(_merge_found(answers)) & set(ids)

    def query(
        self, vector: Sequence[float] | None, *, top_k: int, namespace: str | None, **options: Any
    ) -> list[dict[str, Any]]:
        """Matches (dicts with ``id``, ``score``, ``metadata``, ``values``) best first."""
        return _matches(self.sync.send(protocol.query(vector, top_k=top_k, namespace=namespace, **options)))

    def delete(
        self,
        namespace: str | None,
        *,
        ids: Sequence[str] | None = None,
        delete_all: bool = False,
        filter: Mapping[str, Any] | None = None,
    ) -> None:
        """Delete by ids (chunks of 1,000), everything in the namespace, or a filter."""
        requests = _delete_requests(namespace, ids, delete_all, filter)
        run_bounded(self.sync.send, requests, self.concurrency)

    def describe_index_stats(self, filter: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The index's stats (``dimension``, ``namespaces``, ``totalVectorCount``, ...)."""
        answer: dict[str, Any] = self.sync.send(protocol.describe_index_stats(filter))
        return answer

    def list_page(
        self, namespace: str | None, *, prefix: str | None = None, limit: int | None = None, token: str | None = None
    ) -> tuple[list[str], str | None]:
        """One page of ids and the next page's token."""
        answer = self.sync.send(protocol.list_ids(namespace=namespace, prefix=prefix, limit=limit, token=token))
        return _list_answer(answer)

    def close(self) -> None:
        """Close the sync pool."""
        self.sync.close()

    # -- async ---
    async def aupsert(self, batches: Sequence[Sequence[UpsertRecord]], namespace: str | None) -> int:
        """Async :meth:`upsert`."""

        async def send(batch: Sequence[UpsertRecord]) -> int:
            return _upserted(await self.async_.send(protocol.upsert(batch, namespace)), batch)

        return sum(await arun_bounded(send, batches, self.concurrency))

    async def afetch(self, ids: Sequence[str], namespace: str | None) -> dict[str, Any]:
        """Async :meth:`fetch`."""
        chunks = plan_fetch_chunks(ids)

        async def send(chunk: list[str]) -> Any:
            return await self.async_.send(protocol.fetch(chunk, namespace))

        return _merge_found(await arun_bounded(send, chunks, self.concurrency))

    async def aexisting(self, ids: Sequence[str], namespace: str | None) -> set[str]:
        """Async :meth:`existing`."""
        chunks = plan_fetch_chunks(ids)

        async def send(chunk: list[str]) -> Any:
            return await self.async_.send(protocol.fetch(chunk, namespace, values=False))

        return set(_merge_found(await arun_bounded(send, chunks, self.concurrency))) & set(ids)

    async def aquery(
        self, vector: Sequence[float] | None, *, top_k: int, namespace: str | None, **options: Any
    ) -> list[dict[str, Any]]:
        """Async :meth:`query`."""
        return _matches(await self.async_.send(protocol.query(vector, top_k=top_k, namespace=namespace, **options)))

    async def adelete(
        self,
        namespace: str | None,
        *,
        ids: Sequence[str] | None = None,
        delete_all: bool = False,
        filter: Mapping[str, Any] | None = None,
    ) -> None:
        """Async :meth:`delete`."""
        requests = _delete_requests(namespace, ids, delete_all, filter)
        await arun_bounded(self.async_.send, requests, self.concurrency)

    async def adescribe_index_stats(self, filter: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Async :meth:`describe_index_stats`."""
        answer: dict[str, Any] = await self.async_.send(protocol.describe_index_stats(filter))
        return answer

    async def alist_page(
        self, namespace: str | None, *, prefix: str | None = None, limit: int | None = None, token: str | None = None
    ) -> tuple[list[str], str | None]:
        """Async :meth:`list_page`."""
        answer = await self.async_.send(protocol.list_ids(namespace=namespace, prefix=prefix, limit=limit, token=token))
        return _list_answer(answer)

    async def aclose(self) -> None:
        """Close the running loop's async pool and the sync pool."""
        await self.async_.aclose()
        self.sync.close()


def _list_answer(answer: Mapping[str, Any]) -> tuple[list[str], str | None]:
    vectors = answer.get("vectors") or []
    ids = [str(v["id"]) for v in vectors if isinstance(v, Mapping) and "id" in v]
    pagination = answer.get("pagination")
    token = pagination.get("next") if isinstance(pagination, Mapping) else None
    return ids, str(token) if token else None
