"""Engine-neutral parts of distributed ingestion (Ray Data, Spark): what runs on a worker, what the driver merges.

Both engines run the same chunk core as :func:`hf_pinecone.ingest` (``RecordPreparer`` then ``aprocess_chunk``),
so a record is checked, embedded and stored exactly as in the single-process path. What is added here:

- :class:`WorkerSpec`: everything a worker needs, picklable, **without secrets**. The HF token and the Pinecone
  API key are resolved inside each worker (its environment, or a callable the user passes), so they never travel
  in task arguments (which Ray and Spark pickle, store and may log).
- :class:`ChunkWorker`: one worker's session (endpoint client, store, deduplication state) and the per-batch step.
- Columnar formats: the *prepared* table (one row per source row: ``row, id, text, metadata, reason, dups``) and
  the *outcome* table (one ``counts`` row per batch plus one ``rejected`` row per rejected record).
- :class:`OutcomeCollector`: sums outcome tables into an :class:`IngestReport` and writes the rejected records as
  a parquet dataset (``errors_path``) on the driver.
- :func:`open_run`: the driver's side: settings from the same environment as the CLI, the index created if
  missing, the local stand-ins started when nothing is configured.

Exactness: engines retry failed tasks (at least once); ids are deterministic and upserts idempotent, and each
chunk checks which ids are already stored, so a retried batch rewrites nothing that was stored and stores what
was missing. Deduplication: first occurrence wins within a worker (a worker claims an id when a batch starts
and gives the claim back if that batch fails); across workers an id found twice is written twice, with the same
text when ids come from the text; ``dedupe="global"`` (a shuffle by id) keeps exactly the first occurrence in
the source order.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hf_pinecone._pinecone.limits import MAX_METADATA_BYTES
from hf_pinecone.config import LOCAL_PINECONE_API_KEY, Settings
from hf_pinecone.errors import ConfigurationError, redact
from hf_pinecone.ingestion import IngestReport, Record, RecordPreparer, RejectedRecord, aprocess_chunk
from hf_pinecone.ingestion._dedup import DigestSet, id_digest

if TYPE_CHECKING:
    import pyarrow as pa

    from hf_pinecone.embeddings import InferenceEndpointEmbeddings
    from hf_pinecone.writer import IndexWriter

__all__ = [
    "OUTCOME_COLUMNS",
    "PREPARED_COLUMNS",
    "ChunkWorker",
    "OutcomeCollector",
    "SecretSource",
    "WorkerSpec",
    "open_run",
    "prepare_table",
    "share_budget",
]

logger = logging.getLogger("hf_pinecone")

SecretSource = Callable[[], "str | None"]
"""A zero-argument callable returning a secret (or ``None``), called inside each worker."""

#: Columns of a prepared table, in order.
PREPARED_COLUMNS = ("row", "id", "text", "metadata", "reason", "dups")
#: Columns of an outcome table, in order.
OUTCOME_COLUMNS = (
    "kind",
    "read",
    "duplicates",
    "already_present",
    "embedded",
    "upserted",
    "row",
    "id",
    "text",
    "reason",
)
_COUNT_FIELDS = ("read", "duplicates", "already_present", "embedded", "upserted")
_REJECTED_SAMPLE = 100
_ERRORS_PART_ROWS = 100_000


def local_pinecone_key() -> str:
    """The (non-secret) key of the local Pinecone stand-in; a module function, so it pickles by reference."""
    return LOCAL_PINECONE_API_KEY


def no_token() -> str | None:
    """No token (the bundled local endpoint needs none)."""
    return None


def _env_secret(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


# --------------------------------------------------------------------------------------------------- spec
@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs to prepare, embed and upsert records; picklable and free of secrets.

    Attributes:
        endpoint_url: Inference Endpoint URL.
        index_host: Pinecone index (data-plane) host.
        namespace: Pinecone namespace (``None``: the default one).
        column: Text column.
        id_column: Id column (``None``: ids derived from text and namespace).
        metadata_columns: Metadata columns (``None``: every other column).
        max_metadata_bytes: Metadata size limit per record (Pinecone's 40,960 bytes).
        force: Re-embed and overwrite ids already stored.
        max_concurrency: This worker's ceiling of embedding requests in flight (its share of
            ``max_concurrency_total``); the adaptive policy works below it. ``None``: the client's default.
        hf_token: Callable returning the endpoint token, called in the worker; ``None``: ``HF_TOKEN`` /
            ``HUGGINGFACEHUB_API_TOKEN`` / the saved login of the worker's machine.
        pinecone_api_key: Callable returning the Pinecone API key, called in the worker; ``None``:
            ``PINECONE_API_KEY`` of the worker's environment.
        embedding_options: :class:`~hf_pinecone.embeddings.InferenceEndpointEmbeddings` options (``batch_size``,
            ``timeout``, ``prompt_name``, ...), as ``(name, value)`` pairs.
    """

    endpoint_url: str
    index_host: str
    namespace: str | None = None
    column: str = "text"
    id_column: str | None = None
    metadata_columns: tuple[str, ...] | None = None
    max_metadata_bytes: int | None = MAX_METADATA_BYTES
    force: bool = False
    max_concurrency: int | None = None
    hf_token: SecretSource | None = field(default=None, repr=False)
    pinecone_api_key: SecretSource | None = field(default=None, repr=False)
    embedding_options: tuple[tuple[str, Any], ...] = ()

    def preparer(self) -> RecordPreparer:
        """The record preparer for this spec (the single-process path's checks)."""
        return RecordPreparer(
            column=self.column,
            id_column=self.id_column,
            metadata_columns=list(self.metadata_columns) if self.metadata_columns is not None else None,
            namespace=self.namespace,
            max_metadata_bytes=self.max_metadata_bytes,
        )

    def resolve_hf_token(self) -> str | None:
        """The endpoint token, resolved here (in the worker)."""
        if self.hf_token is not None:
            return self.hf_token()
        from hf_pinecone.endpoint import resolve_token

        token = resolve_token(None)
        return token.get_secret_value() if token is not None else None

    def resolve_pinecone_api_key(self) -> str:
        """The Pinecone API key, resolved here (in the worker).

        Raises:
            ConfigurationError: No key on this worker.
        """
        key = self.pinecone_api_key() if self.pinecone_api_key is not None else _env_secret("PINECONE_API_KEY")
        if not key:
            raise ConfigurationError(
                "no Pinecone API key on this worker: set PINECONE_API_KEY in the workers' environment "
                "(cluster or runtime configuration) or pass pinecone_api_key=<callable returning it>"
            )
        return key


def share_budget(total: int | None, workers: int) -> int | None:
    """Each worker's ceiling so that ``workers`` of them never exceed ``total`` requests in flight together.

    Raises:
        ConfigurationError: ``total`` is smaller than ``workers`` (a worker needs at least one request).
    """
    if total is None:
        return None
    if total < 1:
        raise ConfigurationError(f"max_concurrency_total must be >= 1, got {total}")
    if total < workers:
        raise ConfigurationError(
            f"max_concurrency_total={total} is below workers={workers}: each worker needs at least one request "
            f"in flight; lower workers or raise max_concurrency_total"
        )
    return total // workers


# --------------------------------------------------------------------------------------------------- tables
def _pa() -> Any:
    import pyarrow as pa

    return pa


def prepared_schema() -> pa.Schema:
    """Arrow schema of a prepared table (``metadata`` is the record's metadata as JSON)."""
    pa = _pa()
    return pa.schema(
        [
            ("row", pa.int64()),
            ("id", pa.string()),
            ("text", pa.string()),
            ("metadata", pa.string()),
            ("reason", pa.string()),
            ("dups", pa.int64()),
        ]
    )


def outcome_schema() -> pa.Schema:
    """Arrow schema of an outcome table."""
    pa = _pa()
    return pa.schema(
        [("kind", pa.string())]
        + [(name, pa.int64()) for name in _COUNT_FIELDS]
        + [("row", pa.int64()), ("id", pa.string()), ("text", pa.string()), ("reason", pa.string())]
    )


def _dumps(metadata: dict[str, Any]) -> str:
    # ensure_ascii keeps lone surrogates representable; the preparer already rejected texts that are not UTF-8.
    return json.dumps(metadata, ensure_ascii=False, separators=(",", ":"))


def prepare_table(rows: Sequence[Any], preparer: RecordPreparer) -> pa.Table:
    """Prepare source rows (mappings) into a prepared table; ``row`` is the position in ``rows``.

    Raises:
        ConfigurationError: A column named by the spec is missing (the whole run is misconfigured).
    """
    out: dict[str, list[Any]] = {name: [] for name in PREPARED_COLUMNS}
    for index, row in enumerate(rows):
        item = preparer.prepare(row, index)
        out["row"].append(item.row)
        out["id"].append(item.id)
        out["text"].append(item.text)
        out["dups"].append(0)
        if isinstance(item, RejectedRecord):
            out["metadata"].append(None)
            out["reason"].append(item.reason)
        else:
            out["metadata"].append(_dumps(item.metadata))
            out["reason"].append(None)
    return _pa().Table.from_pydict(out, schema=prepared_schema())


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def read_prepared(table: Any) -> tuple[list[Record], list[RejectedRecord], int, int]:
    """Split a prepared table (Arrow table or pandas frame) into (records, rejections, read, upstream dups).

    ``read`` counts the source rows the table stands for: its rows plus the duplicates a global deduplication
    removed upstream (``dups``).
    """
    if hasattr(table, "to_pylist"):
        rows = table.to_pylist()
    else:  # pandas (Spark's mapInPandas)
        rows = _pa().Table.from_pandas(table, preserve_index=False).to_pylist()
    records: list[Record] = []
    rejected: list[RejectedRecord] = []
    dups = 0
    for row in rows:
        dups += int(row.get("dups") or 0)
        if row["reason"] is not None:
            rejected.append(RejectedRecord(int(row["row"]), row["id"], _text_or_none(row["text"]), row["reason"]))
        else:
            records.append(Record(int(row["row"]), row["id"], row["text"], json.loads(row["metadata"])))
    return records, rejected, len(rows) + dups, dups


@dataclass
class BatchOutcome:
    """What one batch did on a worker."""

    read: int = 0
    duplicates: int = 0
    already_present: int = 0
    embedded: int = 0
    upserted: int = 0
    rejected: list[RejectedRecord] = field(default_factory=list)

    def to_table(self) -> pa.Table:
        """One ``counts`` row, then one ``rejected`` row per rejected record."""
        n = 1 + len(self.rejected)
        zeros = [0] * len(self.rejected)
        columns: dict[str, list[Any]] = {"kind": ["counts"] + ["rejected"] * len(self.rejected)}
        for name in _COUNT_FIELDS:
            columns[name] = [getattr(self, name), *zeros]
        columns["row"] = [-1] + [r.row for r in self.rejected]  # never null: Spark's pandas frames stay int64
        columns["id"] = [None] + [r.id for r in self.rejected]
        columns["text"] = [None] + [r.text for r in self.rejected]
        columns["reason"] = [None] + [r.reason for r in self.rejected]
        assert all(len(v) == n for v in columns.values())
        return _pa().Table.from_pydict(columns, schema=outcome_schema())


# --------------------------------------------------------------------------------------------------- worker
class _Claims:
    """Ids this worker has taken on, as 16-byte digests (bounded memory); claims of failed batches go back."""

    def __init__(self) -> None:
        self._seen = DigestSet()  # the single-process reader's exact digest set
        self._released: set[bytes] = set()

    def claim(self, record_id: str) -> bool:
        digest = id_digest(record_id)
        if self._seen.add(digest):
            return True
        if digest in self._released:
            self._released.discard(digest)
            return True
        return False

    def release(self, record_ids: Iterable[str]) -> None:
        self._released.update(id_digest(i) for i in record_ids)


def _within_share(options: dict[str, Any], share: int | None) -> dict[str, Any]:
    """Embedding options that keep one worker under its ``share`` of the endpoint budget.

    An adapted limit (the default) keeps adapting, and backing off on 429, below the share; a fixed
    ``max_concurrency`` is lowered to the share when above it.
    """
    if share is None:
        return options
    capped = dict(options)
    if capped.get("max_concurrency") is not None:
        capped["max_concurrency"] = min(int(capped["max_concurrency"]), share)
    else:
        capped["max_adaptive_concurrency"] = min(int(capped.get("max_adaptive_concurrency") or share), share)
    return capped


class ChunkWorker:
    """One worker's session: endpoint client, store and deduplication state, opened on first use.

    Args:
        spec: What to do; secrets are resolved from it here, in the worker.
    """

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self._claims = _Claims()
        self._embeddings: InferenceEndpointEmbeddings | None = None
        self._store: IndexWriter | None = None

    def __repr__(self) -> str:
        return f"ChunkWorker(endpoint={self.spec.endpoint_url!r}, index_host={self.spec.index_host!r})"

    def _open(self) -> tuple[InferenceEndpointEmbeddings, IndexWriter]:
        if self._embeddings is None or self._store is None:
            from pydantic import SecretStr

            from hf_pinecone.embeddings import InferenceEndpointEmbeddings
            from hf_pinecone.writer import IndexWriter

            token = self.spec.resolve_hf_token()
            options = _within_share(dict(self.spec.embedding_options), self.spec.max_concurrency)
            embeddings = InferenceEndpointEmbeddings(
                endpoint_url=self.spec.endpoint_url,
                hf_token=SecretStr(token) if token else None,
                **options,
            )
            # The LangChain-free writer: a worker never searches, and does not pay for importing LangChain's
            # vector-store stack (~0.5 s of CPU per worker process).
            self._store = IndexWriter(
                namespace=self.spec.namespace,
                pinecone_api_key=self.spec.resolve_pinecone_api_key(),
                host=self.spec.index_host,
            )
            self._embeddings = embeddings
        return self._embeddings, self._store

    async def aprocess(
        self, records: Sequence[Record], rejected: Sequence[RejectedRecord] = (), *, read: int, dups: int = 0
    ) -> BatchOutcome:
        """Deduplicate (first occurrence wins in this worker), then check, embed and upsert one batch.

        Raises:
            HfPineconeError: A run-level failure (auth, endpoint unavailable after retries, store failure); the
                batch's claims are given back so that a retry of it stores its records.
        """
        embeddings, store = self._open()
        outcome = BatchOutcome(read=read, duplicates=dups, rejected=list(rejected))
        claimed = [r for r in records if self._claims.claim(r.id)]
        outcome.duplicates += len(records) - len(claimed)
        try:
            result = await aprocess_chunk(
                claimed, embeddings=embeddings, store=store, namespace=self.spec.namespace, force=self.spec.force
            )
        except BaseException:
            self._claims.release(r.id for r in claimed)
            raise
        outcome.embedded = result.embedded
        outcome.upserted = result.upserted
        outcome.already_present = result.already_present
        outcome.rejected.extend(result.rejected)
        return outcome

    async def aclose(self) -> None:
        """Close this event loop's HTTP clients."""
        if self._embeddings is not None:
            await self._embeddings.aclose()
        if self._store is not None:
            await self._store.aclose()


# --------------------------------------------------------------------------------------------------- driver
class OutcomeCollector:
    """Sums outcome tables into an :class:`IngestReport`; writes rejected records as parquet under ``errors_path``.

    The errors dataset is a directory of ``rejected-NNNNN.parquet`` files (columns ``row, id, text, reason``), readable
    by ``pandas.read_parquet``, ``ray.data.read_parquet`` or ``spark.read.parquet``; part files of an earlier run
    there are replaced. It is written only when something was rejected.
    """

    def __init__(self, errors_path: str | os.PathLike[str] | None, secrets: Sequence[str] = ()) -> None:
        self.path = Path(errors_path).expanduser() if errors_path is not None else None
        self.counts = dict.fromkeys(_COUNT_FIELDS, 0)
        self.failed = 0
        self.sample: list[RejectedRecord] = []
        self._pending: list[dict[str, Any]] = []
        self._parts = 0
        self._secrets = list(secrets)
        self._started = time.perf_counter()
        if self.path is not None and self.path.is_dir():
            for old in self.path.glob("rejected-*.parquet"):  # only files this class writes
                old.unlink()

    def add(self, table: Any) -> None:
        """Add one outcome table (Arrow table or batch)."""
        for row in table.to_pylist():
            if row["kind"] == "counts":
                for name in _COUNT_FIELDS:
                    self.counts[name] += int(row[name])
            else:
                self.failed += 1
                reason = redact(row["reason"] or "", self._secrets)
                if len(self.sample) < _REJECTED_SAMPLE:
                    self.sample.append(RejectedRecord(int(row["row"]), row["id"], row["text"], reason))
                if self.path is not None:
                    self._pending.append({"row": row["row"], "id": row["id"], "text": row["text"], "reason": reason})
                    if len(self._pending) >= _ERRORS_PART_ROWS:
                        self._flush()

    def _flush(self) -> None:
        if not self._pending or self.path is None:
            return
        import pyarrow.parquet as pq

        pa = _pa()
        schema = pa.schema([("row", pa.int64()), ("id", pa.string()), ("text", pa.string()), ("reason", pa.string())])
        self.path.mkdir(parents=True, exist_ok=True)
        part = self.path / f"rejected-{self._parts:05d}.parquet"
        pq.write_table(pa.Table.from_pylist(self._pending, schema=schema), part)
        self._parts += 1
        self._pending = []

    def report(self) -> IngestReport:
        """The merged report (rejected records flushed to ``errors_path`` first)."""
        self._flush()
        seconds = time.perf_counter() - self._started
        read = self.counts["read"]
        return IngestReport(
            read=read,
            duplicates=self.counts["duplicates"],
            already_present=self.counts["already_present"],
            embedded=self.counts["embedded"],
            upserted=self.counts["upserted"],
            failed=self.failed,
            seconds=seconds,
            records_per_second=read / seconds if seconds > 0 else 0.0,
            errors_file=self.path if self.failed and self.path is not None else None,
            rejected=tuple(self.sample),
        )


def _check_secret_source(name: str, value: Any) -> SecretSource | None:
    if value is None:
        return None
    if callable(value):
        source: SecretSource = value
        return source
    raise ConfigurationError(
        f"{name} must be a callable returning the secret (called inside each worker), not a literal: a literal "
        f"would be pickled into every task; or leave it unset and set the environment variable on the workers"
    )


@dataclass(frozen=True)
class Run:
    """The driver's view of one distributed run.

    Attributes:
        spec: What each worker gets.
        index_name: The index written to (``None`` when only ``host`` was given).
        secrets: Literal secrets known to the driver, to scrub from messages.
    """

    spec: WorkerSpec
    index_name: str | None
    secrets: tuple[str, ...] = field(default=(), repr=False)


@contextlib.contextmanager
def open_run(
    *,
    index_name: str | None,
    host: str | None,
    endpoint_url: str | None,
    controller_host: str | None,
    namespace: str | None,
    hf_token: SecretSource | None,
    pinecone_api_key: SecretSource | None,
    create_index: bool,
    embedding_options: dict[str, Any],
    column: str = "text",
    id_column: str | None = None,
    metadata_columns: Sequence[str] | None = None,
    max_metadata_bytes: int | None = MAX_METADATA_BYTES,
    force: bool = False,
    workers: int = 1,
    max_concurrency_total: int | None = None,
) -> Iterator[Run]:
    """Resolve settings like the CLI, make sure the index exists, and yield the workers' spec.

    Each of the ``workers`` gets an equal share of ``max_concurrency_total`` (see :func:`share_budget`).

    With neither ``HF_ENDPOINT_URL`` nor ``endpoint_url``, the bundled endpoint is started in this (driver)
    process; with no Pinecone key, controller host or ``host``, the local Pinecone server is: fine for a cluster
    on this machine, unreachable from other machines.
    """
    share = share_budget(max_concurrency_total, workers)
    hf_token = _check_secret_source("hf_token", hf_token)
    pinecone_api_key = _check_secret_source("pinecone_api_key", pinecone_api_key)
    driver_token = hf_token() if hf_token is not None else None
    driver_key = pinecone_api_key() if pinecone_api_key is not None else None
    settings = Settings.from_env(
        index_name=index_name,
        endpoint_url=endpoint_url,
        controller_host=controller_host,
        namespace=namespace,
        hf_token=driver_token,
        pinecone_api_key=driver_key,
    )
    secrets = tuple(
        value.get_secret_value()
        for value in (settings.hf_token, settings.pinecone_api_key)
        if value is not None and value.get_secret_value()
    )
    token_source = no_token if settings.uses_local_endpoint else hf_token
    # No key on the driver means a local server (started here or at PINECONE_CONTROLLER_HOST) and its constant
    # key; a key from the driver's environment is read by each worker from its own (None).
    key_source: SecretSource | None
    if pinecone_api_key is not None:
        key_source = pinecone_api_key
    elif settings.pinecone_api_key is not None:
        key_source = None
    else:
        key_source = local_pinecone_key
    with contextlib.ExitStack() as resources:
        name: str | None
        if host is not None:
            from hf_pinecone.stack import open_endpoint

            url = resources.enter_context(open_endpoint(settings))
            index_host, name = host, (settings.index_name if index_name else None)
        else:
            from hf_pinecone.stack import open_stack

            stack = resources.enter_context(open_stack(settings, create_index=create_index, **embedding_options))
            url, index_host, name = stack.endpoint_url, stack.index_host, stack.index_name
        spec = WorkerSpec(
            endpoint_url=url,
            index_host=index_host,
            namespace=settings.namespace,
            hf_token=token_source,
            pinecone_api_key=key_source,
            embedding_options=tuple(sorted(embedding_options.items())),
            column=column,
            id_column=id_column,
            metadata_columns=tuple(metadata_columns) if metadata_columns is not None else None,
            max_metadata_bytes=max_metadata_bytes,
            force=force,
            max_concurrency=share,
        )
        yield Run(spec=spec, index_name=name, secrets=secrets)


def check_engine_args(
    *, dedupe: str, batch_size: int, workers: int | None, embedding_options: dict[str, Any]
) -> dict[str, Any]:
    """The checks ``ray.ingest`` and ``spark.ingest`` share; returns the embedding options to use.

    ``embed_batch_size`` (the engines' name: ``batch_size`` is theirs) becomes the embeddings' ``batch_size``.

    Raises:
        ConfigurationError: An invalid ``dedupe``, ``batch_size`` or ``workers``.
    """
    if dedupe not in ("worker", "global"):
        raise ConfigurationError(f"dedupe must be 'worker' or 'global', got {dedupe!r}")
    if batch_size < 1:
        raise ConfigurationError(f"batch_size must be >= 1, got {batch_size}")
    if workers is not None and workers < 1:
        raise ConfigurationError(f"workers must be >= 1, got {workers}")
    options = dict(embedding_options)
    if "embed_batch_size" in options:
        options["batch_size"] = options.pop("embed_batch_size")
    return options


_ERROR_LINE = re.compile(r"^\s*(?:[A-Za-z_]\w*\.)*([A-Za-z_]\w*(?:Error|Exception)): (.+)$", re.M)
_OUR_ERROR_LINE = re.compile(r"^\s*hf_pinecone\.errors\.(\w+): (.+)$", re.M)


def worker_error(text: str) -> tuple[str, str]:
    """(class name, ``"Name: message"``) of a worker's own error in an engine's failure text.

    Ray and Spark carry a worker's exception as text (its traceback, then their own wrapping and, for Spark,
    a JVM stack); our own error classes are preferred, else the last ``Name: message`` line of the Python part.
    """
    python_part = text.split("JVM stacktrace", 1)[0]
    ours = _OUR_ERROR_LINE.findall(python_part)
    # A ChunkError only says "this chunk stopped"; the endpoint's or store's error it wraps is the news.
    found = [f for f in ours if f[0] != "ChunkError"] or ours or _ERROR_LINE.findall(python_part)
    if not found:
        return "", " ".join(python_part.split())[:2000]
    name, message = found[-1]
    return name, f"{name}: {message.strip()}"


def engine_failure(exc: BaseException) -> tuple[str, str]:
    """:func:`worker_error` of an exception raised by an engine (its chained causes and text included)."""
    return worker_error("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)) + "\n" + str(exc))


def failure_message(exc: BaseException, secrets: Sequence[str]) -> str:
    """One line for a failed distributed run, the engine's wrapping removed, secrets scrubbed."""
    cause: BaseException = exc
    # Ray wraps the worker's exception (RayTaskError -> UserCodeException -> ours); Spark keeps only text.
    for _ in range(8):
        inner = getattr(cause, "cause", None) or cause.__cause__
        if inner is None or inner is cause:
            break
        cause = inner
    text = " ".join(str(cause).split()) or type(cause).__name__
    if len(text) > 2000:
        text = text[:2000] + " ..."
    return redact(text, secrets)
