"""Distributed ingestion on Ray Data (extra ``ray``: ``pip install 'hf-pinecone[ray]'``).

:func:`ingest` is the Ray equivalent of :func:`hf_pinecone.ingest`: same checks, same ids, same report, over
any ``ray.data.Dataset`` (parquet, jsonl, csv, Delta, ... directories on local disk or object storage). The
parts it is made of are public, for pipelines of your own::

    import ray
    from hf_pinecone.ray import EmbedUpsertActor, WorkerSpec, collect_report, prepare_batch

    spec = WorkerSpec(endpoint_url="https://xyz.endpoints.huggingface.cloud", index_host="https://idx-....io")
    outcomes = (
        ray.data.read_parquet("s3://bucket/corpus/")
        .map_batches(prepare_batch, fn_kwargs={"column": "passage"}, batch_format="pyarrow", batch_size=512)
        .map_batches(EmbedUpsertActor, fn_constructor_args=(spec,), batch_format="pyarrow", batch_size=512,
                     compute=ray.data.ActorPoolStrategy(size=8), num_cpus=0.5)
    )
    report = collect_report(outcomes, errors_path="rejected/")

and :class:`PineconeDatasink` writes records you embedded yourself (``ds.write_datasink(PineconeDatasink(...))``).

Exactness: Ray retries tasks of dead actors (and restarts the actors); ids are deterministic, upserts
idempotent, and each batch first asks the index which of its ids are already stored, so a batch run twice
stores each record once, and a run repeated after the driver died embeds only what is missing.

Deduplication: within a batch and within a worker (actor), the first occurrence of an id wins; the same id
reaching two workers is written by both (same text when ids come from the text: one record in the index; its
other metadata from whichever write lands last). ``dedupe="global"`` shuffles by id first and keeps exactly the
first occurrence in the dataset's order.

Secrets: the HF token and the Pinecone API key are resolved inside each actor (its environment: ``HF_TOKEN``,
``PINECONE_API_KEY``; or callables passed as ``hf_token=`` / ``pinecone_api_key=``), never put in task
arguments, so they are neither pickled nor logged by Ray.

Rejected records' ``row`` is their position in the batch a worker received (Ray has no cheap global row
number); find them by ``id`` and ``text``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any

try:
    import ray
    import ray.data
    from ray.data import Datasink
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ImportError(f"hf_pinecone.ray needs the 'ray' extra: pip install 'hf-pinecone[ray]' ({exc})") from exc

from hf_pinecone._distributed import (
    ChunkWorker,
    OutcomeCollector,
    SecretSource,
    WorkerSpec,
    check_engine_args,
    engine_failure,
    failure_message,
    open_run,
    prepare_table,
    read_prepared,
)
from hf_pinecone._pinecone.limits import MAX_METADATA_BYTES
from hf_pinecone.errors import ConfigurationError, IngestError
from hf_pinecone.ingestion import IngestReport

__all__ = [
    "EmbedUpsertActor",
    "PineconeDatasink",
    "WorkerSpec",
    "collect_report",
    "ingest",
    "prepare_batch",
]

#: Records per batch handed to a worker (one existence check and one embed call each).
DEFAULT_BATCH_SIZE = 512
#: CPUs reserved per worker actor: its work is mostly waiting on HTTP.
DEFAULT_NUM_CPUS_PER_WORKER = 0.5


# --------------------------------------------------------------------------------------------------- parts
@functools.lru_cache(maxsize=16)
def _preparer(
    column: str,
    id_column: str | None,
    metadata_columns: tuple[str, ...] | None,
    namespace: str | None,
    max_metadata_bytes: int | None,
) -> Any:
    return WorkerSpec(
        endpoint_url="",
        index_host="",
        namespace=namespace,
        column=column,
        id_column=id_column,
        metadata_columns=metadata_columns,
        max_metadata_bytes=max_metadata_bytes,
    ).preparer()


def prepare_batch(
    batch: Any,
    *,
    column: str = "text",
    id_column: str | None = None,
    metadata_columns: Sequence[str] | None = None,
    namespace: str | None = None,
    max_metadata_bytes: int | None = MAX_METADATA_BYTES,
) -> Any:
    """Ray ``map_batches`` function: source rows -> prepared records (``batch_format="pyarrow"``).

    Applies the single-process path's checks (text type and emptiness, id, metadata types, Pinecone's 40 KB
    metadata limit) and derives content ids. Every row comes out: a rejected one with its ``reason``.

    Args:
        batch: A ``pyarrow.Table`` (or a dict of columns / pandas frame) of source rows.
        column: The text column.
        id_column: Column holding ids (default: derived from the text and namespace).
        metadata_columns: Columns stored as metadata (default: all others).
        namespace: Pinecone namespace (part of derived ids).
        max_metadata_bytes: Metadata size limit per record.

    Returns:
        A ``pyarrow.Table`` with columns ``row, id, text, metadata (JSON), reason, dups``.

    Raises:
        ConfigurationError: A named column is missing.
    """
    preparer = _preparer(
        column,
        id_column,
        tuple(metadata_columns) if metadata_columns is not None else None,
        namespace,
        max_metadata_bytes,
    )
    return prepare_table(_rows(batch), preparer)


def _rows(batch: Any) -> list[dict[str, Any]]:
    if hasattr(batch, "to_pylist"):
        rows: list[dict[str, Any]] = batch.to_pylist()
        return rows
    if isinstance(batch, dict):
        import pyarrow as pa

        return list(pa.table({k: list(v) for k, v in batch.items()}).to_pylist())
    import pyarrow as pa

    return list(pa.Table.from_pandas(batch, preserve_index=False).to_pylist())


class EmbedUpsertActor:
    """Async Ray actor (``map_batches`` callable class): embeds and upserts prepared batches.

    One instance per actor keeps one endpoint client (adaptive concurrency, under ``spec.max_concurrency``),
    one Pinecone data-plane client and the ids this worker has claimed. Ray runs several batches of one actor
    concurrently on its event loop (a sync actor would run them one after the other).

    Each call yields an outcome table: one ``counts`` row (``read, duplicates, already_present, embedded,
    upserted``) and one ``rejected`` row per rejected record (``row, id, text, reason``); feed them to
    :func:`collect_report`.

    Args:
        spec: Where to write and how; its secrets are resolved here, in the actor.
    """

    def __init__(self, spec: WorkerSpec) -> None:
        self._worker = ChunkWorker(spec)

    async def __call__(self, batch: Any) -> AsyncIterator[Any]:
        """Process one prepared batch; yields its outcome table."""
        records, rejected, read, dups = read_prepared(batch)
        outcome = await self._worker.aprocess(records, rejected, read=read, dups=dups)
        yield outcome.to_table()


def collect_report(
    outcomes: ray.data.Dataset,
    *,
    errors_path: str | Path | None = None,
    secrets: Sequence[str] = (),
) -> IngestReport:
    """Run ``outcomes`` (the output of :class:`EmbedUpsertActor`) and merge it into an :class:`IngestReport`.

    Rejected records are written as a parquet dataset under ``errors_path`` (when any were rejected).

    Raises:
        ConfigurationError: A worker found the configuration invalid (e.g. a missing column).
        IngestError: A run-level failure stopped the run; ``exc.report`` holds what was merged until then.
    """
    collector = OutcomeCollector(errors_path, secrets)
    try:
        for table in outcomes.iter_batches(batch_format="pyarrow", batch_size=None):
            collector.add(table)
    except Exception as exc:
        report = collector.report()
        kind, text = engine_failure(exc)
        message = failure_message(Exception(text), secrets)
        if kind == "ConfigurationError" or _caused_by(exc, ConfigurationError):
            raise ConfigurationError(message) from None
        raise IngestError(f"ingestion stopped: {message} ({report})", report=report) from None
    return collector.report()


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, kind):
            return True
        seen = getattr(seen, "cause", None) or seen.__cause__
    return False


class PineconeDatasink(Datasink[int]):
    """A Ray ``Datasink`` upserting already-embedded records (``ds.write_datasink(PineconeDatasink(...))``).

    Rows need ``id`` and ``values`` (the vector) columns, and optionally ``metadata`` (a struct/dict or a JSON
    string; put the text under ``"text"`` yourself). Records are validated and sent as by
    :meth:`~hf_pinecone.writer.IndexWriter.upsert_vectors` (<= 1,000 records and < 2 MB per request, retried
    on 429/5xx). After the write, :attr:`upserted` holds the number of records Pinecone acknowledged.

    Args:
        index_host: The index's data-plane host.
        namespace: Pinecone namespace.
        pinecone_api_key: Callable returning the API key, called in the write tasks; ``None``: their
            ``PINECONE_API_KEY``.
        id_column: Column of ids.
        vector_column: Column of vectors.
        metadata_column: Column of metadata (``None``: no metadata).
    """

    def __init__(
        self,
        *,
        index_host: str,
        namespace: str | None = None,
        pinecone_api_key: SecretSource | None = None,
        id_column: str = "id",
        vector_column: str = "values",
        metadata_column: str | None = "metadata",
    ) -> None:
        if pinecone_api_key is not None and not callable(pinecone_api_key):
            raise ConfigurationError(
                "pinecone_api_key must be a callable returning the key (called in each write task), not a literal"
            )
        self._spec = WorkerSpec(
            endpoint_url="", index_host=index_host, namespace=namespace, pinecone_api_key=pinecone_api_key
        )
        self.id_column = id_column
        self.vector_column = vector_column
        self.metadata_column = metadata_column
        self.upserted = 0

    def get_name(self) -> str:
        """Name shown in Ray's progress and logs."""
        return "Pinecone"

    def write(self, blocks: Iterable[Any], ctx: Any) -> int:
        """Upsert the task's blocks; returns the records acknowledged."""
        import json

        from hf_pinecone.writer import IndexWriter

        store = IndexWriter(
            namespace=self._spec.namespace,
            pinecone_api_key=self._spec.resolve_pinecone_api_key(),
            host=self._spec.index_host,
        )
        done = 0
        try:
            for block in blocks:
                records = []
                for row in _rows(block):
                    metadata = row.get(self.metadata_column) if self.metadata_column else None
                    if isinstance(metadata, str):
                        metadata = json.loads(metadata)
                    vector = row[self.vector_column]
                    values = vector.tolist() if hasattr(vector, "tolist") else list(vector)
                    records.append((str(row[self.id_column]), values, metadata))
                done += store.upsert_vectors(records)
        finally:
            store.close()
        return done

    def on_write_complete(self, write_result: Any) -> None:
        """Sum what every task acknowledged into :attr:`upserted`."""
        self.upserted = sum(int(n) for n in write_result.write_returns)


# --------------------------------------------------------------------------------------------------- ingest
def _global_dedupe(prepared: ray.data.Dataset) -> ray.data.Dataset:
    """Shuffle by id and keep the first occurrence of each (rejected rows pass through, each on its own)."""
    from ray.data.expressions import monotonically_increasing_id

    ordered = prepared.with_column("_order", monotonically_increasing_id())
    keyed = ordered.map_batches(_add_key, batch_format="pyarrow")
    return keyed.groupby("_key").map_groups(_keep_first, batch_format="pyarrow")


def _add_key(batch: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    rejected_key = pc.binary_join_element_wise(pa.scalar("\x00rejected:"), pc.cast(batch["_order"], pa.string()), "")
    key = pc.if_else(pc.is_null(batch["reason"]), batch["id"], rejected_key)
    return batch.append_column("_key", key)


def _keep_first(group: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    first = group.take([int(pc.index(group["_order"], pc.min(group["_order"])).as_py())])
    dups = int(pc.sum(group["dups"]).as_py() or 0) + group.num_rows - 1
    first = first.set_column(first.schema.get_field_index("dups"), "dups", pa.array([dups], pa.int64()))
    return first.drop_columns(["_order", "_key"])


def ingest(
    dataset: ray.data.Dataset,
    *,
    column: str = "text",
    id_column: str | None = None,
    metadata_columns: Sequence[str] | None = None,
    namespace: str | None = None,
    index_name: str | None = None,
    host: str | None = None,
    endpoint_url: str | None = None,
    controller_host: str | None = None,
    workers: int | None = None,
    max_concurrency_total: int | None = None,
    force: bool = False,
    errors_path: str | Path | None = None,
    dedupe: str = "worker",
    batch_size: int = DEFAULT_BATCH_SIZE,
    num_cpus_per_worker: float = DEFAULT_NUM_CPUS_PER_WORKER,
    hf_token: SecretSource | None = None,
    pinecone_api_key: SecretSource | None = None,
    create_index: bool = True,
    max_metadata_bytes: int | None = MAX_METADATA_BYTES,
    **embedding_options: Any,
) -> IngestReport:
    """Embed and store a Ray dataset's texts: the Ray equivalent of :func:`hf_pinecone.ingest`.

    Settings come from the same environment as the CLI (:meth:`hf_pinecone.config.Settings.from_env`);
    arguments override it. The index is created if missing (dimension probed from the endpoint). Preparation
    runs in Ray tasks; embedding and upserting in ``workers`` async actors, each with its own adaptive
    concurrency, together never above ``max_concurrency_total`` requests in flight at the endpoint.

    Args:
        dataset: The source, e.g. ``ray.data.read_parquet("s3://bucket/corpus/")``.
        column: The text column.
        id_column: Column holding ids (default: derived from the text and namespace, so re-runs skip them).
        metadata_columns: Columns stored as metadata (default: all others).
        namespace: Pinecone namespace.
        index_name: Index name (``PINECONE_INDEX_NAME``, default ``hf-endpoints``).
        host: The index's data-plane host (skips the control plane; the index must exist).
        endpoint_url: Inference Endpoint URL (``HF_ENDPOINT_URL``; unset: the bundled local endpoint in the
            driver, reachable on this machine only).
        controller_host: Pinecone control-plane URL (``PINECONE_CONTROLLER_HOST``).
        workers: Embedding/upserting actors (default: half the cluster's CPUs, at least 1).
        max_concurrency_total: Embedding requests in flight at once across all workers, shared out equally;
            each worker adapts below its share and backs off on 429. ``None``: each worker adapts up to 64.
        force: Re-embed and overwrite records already stored.
        errors_path: Directory receiving the rejected records as parquet (``row, id, text, reason``).
        dedupe: ``"worker"`` (first occurrence wins within a worker) or ``"global"`` (a shuffle by id: exactly
            the first occurrence in the dataset's order).
        batch_size: Records per worker batch (one existence check, one embed call, one upsert call).
        num_cpus_per_worker: CPUs Ray reserves per actor (mostly waiting on HTTP).
        hf_token: Callable returning the endpoint token, called in each worker (default: the workers'
            ``HF_TOKEN`` or saved login). Never a literal: it would be pickled into every task.
        pinecone_api_key: Callable returning the Pinecone key, called in each worker (default: the workers'
            ``PINECONE_API_KEY``).
        create_index: Create the index when missing.
        max_metadata_bytes: Metadata size limit per record (Pinecone's 40,960 bytes).
        **embedding_options: :class:`~hf_pinecone.embeddings.InferenceEndpointEmbeddings` options
            (``batch_size`` is ``embed_batch_size`` here: texts per request; ``timeout``, ``prompt_name``, ...).

    Returns:
        The merged :class:`IngestReport`; ``read == duplicates + already_present + upserted + failed``.

    Raises:
        ConfigurationError: Invalid arguments or configuration (before anything is written), or a column
            missing in the data.
        IngestError: A run-level failure (auth, endpoint unavailable after retries, store failure); what was
            upserted stays stored, ``exc.report`` holds the merged partial report; run again to resume.
    """
    embedding_options = check_engine_args(
        dedupe=dedupe, batch_size=batch_size, workers=workers, embedding_options=embedding_options
    )
    if not ray.is_initialized():
        ray.init()
    if workers is None:
        resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
        workers = max(1, int(resources.get("CPU", 2)) // 2)
    started = time.perf_counter()
    with open_run(
        index_name=index_name,
        host=host,
        endpoint_url=endpoint_url,
        controller_host=controller_host,
        namespace=namespace,
        hf_token=hf_token,
        pinecone_api_key=pinecone_api_key,
        create_index=create_index,
        column=column,
        id_column=id_column,
        metadata_columns=metadata_columns,
        max_metadata_bytes=max_metadata_bytes,
        force=force,
        workers=workers,
        max_concurrency_total=max_concurrency_total,
        embedding_options=embedding_options,
    ) as run:
        spec = run.spec
        prepared = dataset.map_batches(
            prepare_batch,
            fn_kwargs={
                "column": spec.column,
                "id_column": spec.id_column,
                "metadata_columns": spec.metadata_columns,
                "namespace": spec.namespace,
                "max_metadata_bytes": spec.max_metadata_bytes,
            },
            batch_format="pyarrow",
            batch_size=batch_size,
        )
        if dedupe == "global":
            prepared = _global_dedupe(prepared)
        outcomes = prepared.map_batches(
            EmbedUpsertActor,
            fn_constructor_args=(spec,),
            batch_format="pyarrow",
            batch_size=batch_size,
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=num_cpus_per_worker,
        )
        report = collect_report(outcomes, errors_path=errors_path, secrets=run.secrets)
    seconds = time.perf_counter() - started
    import dataclasses

    return dataclasses.replace(report, seconds=seconds, records_per_second=report.read / seconds if seconds else 0.0)
