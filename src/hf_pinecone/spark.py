"""Distributed ingestion on Spark (extra ``spark``: ``pip install 'hf-pinecone[spark]'``; needs a Java 17 runtime).

:func:`ingest` embeds and stores a Spark ``DataFrame``'s texts through ``mapInPandas`` over the same chunk core
as :func:`hf_pinecone.ingest` (same checks, ids and report)::

    from pyspark.sql import SparkSession
    import hf_pinecone.spark

    spark = SparkSession.builder.getOrCreate()
    report = hf_pinecone.spark.ingest(spark.read.parquet("s3a://bucket/corpus/"), column="passage", workers=16)

Each Spark task prepares its rows, then checks, embeds and upserts them a batch at a time (several batches in
flight) on an event loop that lives as long as its Python worker. ``workers`` is the number of tasks that may
run at once (partitions beyond it are coalesced), so ``max_concurrency_total`` is shared out among them.

Exactness, deduplication and secrets are as in :mod:`hf_pinecone.ray`: Spark retries failed tasks (a killed
Python worker included); ids are deterministic, upserts idempotent and already-stored ids skipped; first
occurrence wins within a worker, ``dedupe="global"`` (a shuffle by id) keeps exactly the first occurrence in
the DataFrame's order; the HF token and Pinecone key are resolved in each Python worker (its environment, or
callables), never pickled into the task closure.

Notes: Spark hands ``mapInPandas`` pandas frames, in which a null float is ``NaN``; nulls are left out of the
metadata (Pinecone has no null), and so is a float column's ``NaN``. Rejected records' ``row`` is their
position in the batch a worker received; the rejected records pass through the driver (keep them few).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from hf_pinecone._distributed import (
    ChunkWorker,
    OutcomeCollector,
    SecretSource,
    WorkerSpec,
    check_engine_args,
    failure_message,
    open_run,
    prepare_table,
    read_prepared,
    worker_error,
)
from hf_pinecone._pinecone.limits import MAX_METADATA_BYTES
from hf_pinecone.errors import ConfigurationError, IngestError
from hf_pinecone.ingestion import IngestReport

__all__ = ["WorkerSpec", "ingest", "partition_function"]

#: Records per batch (one existence check, one embed call, one upsert call).
DEFAULT_BATCH_SIZE = 512
#: Batches in flight at once per task.
DEFAULT_BATCHES_IN_FLIGHT = 4

_PREPARED_DDL = "row long, id string, text string, metadata string, reason string, dups long"
_OUTCOME_DDL = (
    "kind string, read long, duplicates long, already_present long, embedded long, upserted long, "
    "row long, id string, text string, reason string"
)
_ORDER = "_hf_pinecone_order"


# --------------------------------------------------------------------------------------------------- worker
class _LoopThread:
    """One event loop per Python worker process, in a daemon thread, shared by the tasks that process runs."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        thread = threading.Thread(target=self.loop.run_forever, name="hf-pinecone-spark", daemon=True)
        thread.start()

    def submit(self, coro: Any) -> concurrent.futures.Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)


_PROCESS_LOCK = threading.Lock()
_PROCESS_LOOP: _LoopThread | None = None
_PROCESS_WORKERS: dict[WorkerSpec, ChunkWorker] = {}


def _process_worker(spec: WorkerSpec) -> tuple[_LoopThread, ChunkWorker]:
    """This Python worker's loop and session for ``spec`` (one per process: its claims span its tasks)."""
    global _PROCESS_LOOP
    with _PROCESS_LOCK:
        if _PROCESS_LOOP is None:
            _PROCESS_LOOP = _LoopThread()
        worker = _PROCESS_WORKERS.get(spec)
        if worker is None:
            worker = _PROCESS_WORKERS[spec] = ChunkWorker(spec)
        return _PROCESS_LOOP, worker


def _prepare_function(spec: WorkerSpec) -> Callable[[Iterator[Any]], Iterator[Any]]:
    def prepare(frames: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        preparer = spec.preparer()
        for frame in frames:
            rows = pa.Table.from_pandas(frame, preserve_index=False).to_pylist()
            order = [row.pop(_ORDER) for row in rows] if _ORDER in frame.columns else None
            table = prepare_table(rows, preparer)
            if order is not None:
                table = table.append_column(_ORDER, pa.array(order, pa.int64()))
            yield table.to_pandas()

    return prepare


def partition_function(
    spec: WorkerSpec, *, batch_size: int = DEFAULT_BATCH_SIZE, in_flight: int = DEFAULT_BATCHES_IN_FLIGHT
) -> Callable[[Iterator[Any]], Iterator[Any]]:
    """The ``mapInPandas`` function embedding and upserting prepared frames (schema: the outcome table's).

    Composable part for Spark pipelines of your own: its input frames have the prepared columns ``row, id,
    text, metadata, reason, dups``; it yields outcome frames (one ``counts`` row per batch, one ``rejected`` row
    per rejected record). Only ``spec`` is captured by the closure (no secrets).
    """

    def process(frames: Iterator[Any]) -> Iterator[Any]:
        loop, worker = _process_worker(spec)
        pending: deque[concurrent.futures.Future[Any]] = deque()
        try:
            for frame in frames:
                for start in range(0, len(frame), batch_size):
                    records, rejected, read, dups = read_prepared(frame.iloc[start : start + batch_size])
                    pending.append(loop.submit(worker.aprocess(records, rejected, read=read, dups=dups)))
                    while len(pending) >= in_flight:
                        yield pending.popleft().result().to_table().to_pandas()
            while pending:
                yield pending.popleft().result().to_table().to_pandas()
        finally:
            for future in pending:  # a failed batch: stop the others (their claims are given back)
                future.cancel()

    return process


# --------------------------------------------------------------------------------------------------- ingest
def _global_dedupe(prepared: Any) -> Any:
    """Keep the first occurrence (lowest order) of each id; rejected rows pass through, each on its own."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    key = F.when(F.col("reason").isNull(), F.col("id")).otherwise(
        F.concat(F.lit("\u0000rejected:"), F.col(_ORDER).cast("string"))
    )
    by_key = Window.partitionBy("_key")
    return (
        prepared.withColumn("_key", key)
        .withColumn("_rank", F.row_number().over(by_key.orderBy(_ORDER)))
        .withColumn("_group_dups", F.sum("dups").over(by_key) + F.count(F.lit(1)).over(by_key) - 1)
        .filter(F.col("_rank") == 1)
        .withColumn("dups", F.col("_group_dups"))
        .select("row", "id", "text", "metadata", "reason", "dups")
    )


def ingest(
    df: Any,
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
    hf_token: SecretSource | None = None,
    pinecone_api_key: SecretSource | None = None,
    create_index: bool = True,
    max_metadata_bytes: int | None = MAX_METADATA_BYTES,
    **embedding_options: Any,
) -> IngestReport:
    """Embed and store a Spark DataFrame's texts through ``mapInPandas``: the Spark :func:`hf_pinecone.ingest`.

    Arguments are those of :func:`hf_pinecone.ray.ingest`, except:

    Args:
        df: The source, e.g. ``spark.read.parquet(...)`` or ``spark.read.json(...)``.
        column: The text column.
        id_column: Column holding ids (default: derived from the text and namespace).
        metadata_columns: Columns stored as metadata (default: all others).
        namespace: Pinecone namespace.
        index_name: Index name (``PINECONE_INDEX_NAME``, default ``hf-endpoints``).
        host: The index's data-plane host (skips the control plane; the index must exist).
        endpoint_url: Inference Endpoint URL (``HF_ENDPOINT_URL``; unset: the bundled local endpoint).
        controller_host: Pinecone control-plane URL (``PINECONE_CONTROLLER_HOST``).
        workers: Tasks running at once (default: ``defaultParallelism``, the cluster's cores); the DataFrame
            is coalesced to that many partitions when it has more.
        max_concurrency_total: Embedding requests in flight at once across all workers, shared out equally.
        force: Re-embed and overwrite records already stored.
        errors_path: Directory receiving the rejected records as parquet.
        dedupe: ``"worker"`` or ``"global"`` (a shuffle by id; first occurrence in the DataFrame's order).
        batch_size: Records per batch.
        hf_token: Callable returning the endpoint token, called in each Python worker.
        pinecone_api_key: Callable returning the Pinecone key, called in each Python worker.
        create_index: Create the index when missing.
        max_metadata_bytes: Metadata size limit per record.
        **embedding_options: :class:`~hf_pinecone.embeddings.InferenceEndpointEmbeddings` options
            (``embed_batch_size`` for texts per request, ``timeout``, ...).

    Returns:
        The merged :class:`IngestReport`.

    Raises:
        ConfigurationError: Invalid arguments or configuration, or a column missing in the data.
        IngestError: A run-level failure; ``exc.report`` holds the merged partial report; run again to resume.
    """
    embedding_options = check_engine_args(
        dedupe=dedupe, batch_size=batch_size, workers=workers, embedding_options=embedding_options
    )
    if column not in df.columns:
        raise ConfigurationError(f"text column {column!r} not found; the DataFrame has: {', '.join(df.columns)}")
    session = df.sparkSession
    if workers is None:
        workers = max(1, int(session.sparkContext.defaultParallelism))
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
        if dedupe == "global":
            from pyspark.sql import functions as F

            ordered = df.withColumn(_ORDER, F.monotonically_increasing_id())
            prepared = _global_dedupe(ordered.mapInPandas(_prepare_function(spec), f"{_PREPARED_DDL}, {_ORDER} long"))
        else:
            prepared = df.mapInPandas(_prepare_function(spec), _PREPARED_DDL)
        if prepared.rdd.getNumPartitions() > workers:
            prepared = prepared.coalesce(workers)
        outcomes = prepared.mapInPandas(partition_function(spec, batch_size=batch_size), _OUTCOME_DDL)
        collector = OutcomeCollector(errors_path, run.secrets)
        try:
            table = outcomes.toArrow()
        except Exception as exc:
            report = collector.report()
            kind, message = worker_error(str(exc))
            message = failure_message(Exception(message), run.secrets)
            if kind == "ConfigurationError":
                raise ConfigurationError(message) from None
            raise IngestError(f"ingestion stopped: {message} ({report})", report=report) from None
        collector.add(table)
        report = collector.report()
    seconds = time.perf_counter() - started
    return dataclasses.replace(report, seconds=seconds, records_per_second=report.read / seconds if seconds else 0.0)
