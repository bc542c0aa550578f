"""``hf-pinecone demo|ingest|query|stats|delete-index``: the data commands.

Configuration comes from the environment (see :mod:`hf_pinecone.config`); flags override it. Expected errors
print one ``error: ...`` line on stderr (never a traceback, never a secret) and exit 1.

Exit status: 0 done; 1 error (nothing or only part done, the line says what); 2 usage error (click's);
3 ``ingest`` finished but rejected records (``"status": "partial"``, see the errors file); 130 Ctrl-C.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from hf_pinecone.data import TUTORIAL_QUERIES, sample_corpus_path
from hf_pinecone.errors import ConfigurationError, HfPineconeError, redact

F = TypeVar("F", bound=Callable[..., Any])

DEMO_INDEX = "hf-endpoints"
EXIT_ERROR = 1
EXIT_PARTIAL = 3
"""``ingest`` completed but rejected some records (they are in the errors file)."""
EXIT_INTERRUPTED = 130

# ---------------------------------------------------------------------------------------------- options
# Help texts must not hold "[...]": rich reads it as markup and drops it (issue 18 item 8). typer prints the
# "env var:" part itself from envvar=; the flag still overrides the variable, exactly as Settings.from_env does.
IndexOpt = Annotated[
    str | None,
    typer.Option("--index", "-i", envvar="PINECONE_INDEX_NAME", help="Pinecone index name (default: hf-endpoints)."),
]
NamespaceOpt = Annotated[str | None, typer.Option("--namespace", "-n", help="Pinecone namespace (default: '').")]
EndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url",
        envvar="HF_ENDPOINT_URL",
        help="Inference Endpoint URL (default: the bundled local endpoint, started in-process).",
    ),
]
ControllerOpt = Annotated[
    str | None,
    typer.Option(
        "--controller-host",
        envvar="PINECONE_CONTROLLER_HOST",
        help="Pinecone control-plane URL (default: Pinecone's cloud with PINECONE_API_KEY, else the local server "
        "persisted under HF_PINECONE_HOME).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout (for scripts).")]
InsecureOpt = Annotated[
    bool,
    typer.Option(
        "--allow-insecure-http",
        envvar="HF_PINECONE_ALLOW_INSECURE_HTTP",
        help="Send HF_TOKEN to a plain-http --endpoint-url on a non-loopback host (a trusted network only).",
    ),
]
ColdStartOpt = Annotated[
    float | None,
    typer.Option(
        "--cold-start-timeout",
        min=0,
        help="Seconds to wait for a scaled-to-zero endpoint to start (HTTP 503) before failing (default 600). "
        "A paused or failed endpoint fails at once.",
    ),
]


# ---------------------------------------------------------------------------------------------- helpers
def _secrets() -> list[str]:
    import os

    return [os.environ.get(name) or "" for name in ("HF_TOKEN", "HUGGINGFACEHUB_API_TOKEN", "PINECONE_API_KEY")]


def _fail(message: str, code: int = EXIT_ERROR) -> typer.Exit:
    typer.echo(f"error: {redact(message, _secrets())}", err=True)
    return typer.Exit(code)


class _EchoHandler(logging.Handler):
    """Library log lines as ``warning: ...`` on the current stderr (resolved per line: CliRunner swaps it)."""

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "hf_pinecone_event", None) == "ingest.rejected":
            return  # the command prints its own summary of rejected records
        try:
            message = redact(record.getMessage(), _secrets())
        except Exception:  # pragma: no cover - a broken log call must not break the command
            return
        typer.echo(f"{record.levelname.lower()}: {message}", err=True)


def _configure_logging() -> None:
    """Show the library's warnings once each (HF_PINECONE_LOG_LEVEL=INFO or DEBUG shows more, e.g. retries).

    With a handler on the ``hf_pinecone`` logger, Python's last-resort handler no longer prints a second, bare
    copy of each warning. Propagation and the logger's level are left alone unless the variable is set, so an
    application (or pytest's caplog) embedding the CLI still sees every record.
    """
    logger = logging.getLogger("hf_pinecone")
    wanted = os.environ.get("HF_PINECONE_LOG_LEVEL")
    level = logging.getLevelName(wanted.upper()) if wanted else logging.WARNING
    if not isinstance(level, int):
        level = logging.WARNING
    handler = next((h for h in logger.handlers if isinstance(h, _EchoHandler)), None)
    if handler is None:
        handler = _EchoHandler()
        logger.addHandler(handler)
    handler.setLevel(level)
    if wanted:
        logger.setLevel(level)


def _expected_error_types() -> tuple[type[BaseException], ...]:
    """Errors that are the user's or the service's, not bugs: reported in one line."""
    types: list[type[BaseException]] = [HfPineconeError]
    try:
        from pinecone.exceptions import PineconeException

        types.append(PineconeException)
    except ImportError:  # pragma: no cover - pinecone is a dependency
        pass
    try:
        from urllib3.exceptions import HTTPError as Urllib3Error

        types.append(Urllib3Error)
    except ImportError:  # pragma: no cover
        pass
    return tuple(types)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    body = getattr(exc, "body", None)
    if not isinstance(exc, HfPineconeError) and body:
        # Pinecone SDK errors: the server's message is in the body; the str() is a multi-line dump.
        raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        try:
            parsed = json.loads(raw)
            message = parsed.get("message") or (parsed.get("error") or {}).get("message")
        except (ValueError, AttributeError):
            message = None
        status = getattr(exc, "status", None)
        text = f"Pinecone answered {status}: {message or raw}"
    elif not isinstance(exc, HfPineconeError):
        text = f"{type(exc).__name__}: {text}"
    return " ".join(text.split()) or type(exc).__name__


def _cli_hints(exc: BaseException, message: str, controller_host: str | None) -> str:
    """Rewrite the library's Python-side advice into the CLI's flags and environment variables."""
    from hf_pinecone.errors import InsecureTransportError, PineconeUnavailableError

    if isinstance(exc, InsecureTransportError):
        python_way = "pass allow_insecure_http=True"
        cli_way = "pass --allow-insecure-http (env HF_PINECONE_ALLOW_INSECURE_HTTP=1)"
        return message.replace(python_way, cli_way) if python_way in message else f"{message}; CLI: {cli_way}"
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, PineconeUnavailableError):
        cause = cause.__cause__
    if cause is None or cause.status_code is not None or "does not speak TLS" in message:
        return message
    configured = controller_host if controller_host is not None else os.environ.get("PINECONE_CONTROLLER_HOST")
    if configured and not configured.strip().startswith(("http://", "https://")):
        return (
            f"{message}; the Pinecone host {configured!r} has no scheme, so https:// was assumed: write "
            f"http://{configured.strip()} for a plain-http (local) server, or fix --controller-host / "
            "PINECONE_CONTROLLER_HOST"
        )
    return (
        f"{message}; is a Pinecone server listening there? Check --controller-host / PINECONE_CONTROLLER_HOST "
        "(unset both, and PINECONE_API_KEY, to use the local server)"
    )


def reports_errors(func: F) -> F:
    """Turn expected errors into one ``error: ...`` line and exit code 1 (Ctrl-C: exit 130)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _configure_logging()
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except _expected_error_types() as exc:
            raise _fail(_cli_hints(exc, _one_line(exc), kwargs.get("controller_host"))) from None

    return wrapper  # type: ignore[return-value]


def _emit_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))


@contextmanager
def _stack(
    *,
    index: str | None,
    namespace: str | None,
    endpoint_url: str | None,
    controller_host: str | None,
    create_index: bool,
    **embedding_options: Any,
) -> Iterator[Any]:
    from hf_pinecone.stack import open_stack

    _quiet_model_loading()
    with open_stack(
        create_index=create_index,
        index_name=index,
        namespace=namespace,
        endpoint_url=endpoint_url,
        controller_host=controller_host,
        **embedding_options,
    ) as stack:
        yield stack


def _quiet_model_loading() -> None:
    """The local endpoint's model load would draw a progress bar per weight file: noise in a CLI."""
    try:
        from huggingface_hub.utils.tqdm import disable_progress_bars
    except ImportError:  # pragma: no cover - huggingface_hub is a dependency
        return
    disable_progress_bars()


def _parse_filter(raw: str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ConfigurationError(f"--filter is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ConfigurationError('--filter must be a JSON object, e.g. \'{"genre": {"$eq": "drama"}}\'')
    return value


def _matches(results: list[tuple[Any, float]], text_key: str = "text") -> list[dict[str, Any]]:
    out = []
    for doc, score in results:
        metadata = {k: v for k, v in (doc.metadata or {}).items() if k != text_key}
        out.append({"id": doc.id, "score": float(score), "text": doc.page_content, "metadata": metadata})
    return out


def _print_matches(query: str, matches: list[dict[str, Any]]) -> None:
    typer.echo(f"Query: {query}")
    typer.echo("Answers:")
    if not matches:
        typer.echo("  (no matches)")
    for match in matches:
        typer.echo(f"  {match['score']:.2f}  {match['text']}")


def _load_saved_dataset(folder: Path, split: str) -> Any:
    """A folder written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk`` (memory-mapped, not copied)."""
    import datasets

    try:
        loaded = datasets.load_from_disk(str(folder))
    except Exception as exc:  # a damaged folder: datasets raises many types
        raise ConfigurationError(f"cannot load the saved dataset in {folder}: {' '.join(str(exc).split())}") from None
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise ConfigurationError(
                f"split {split!r} not found in the saved dataset {folder}; choose one with --split: {', '.join(loaded)}"
            )
        return loaded[split]
    return loaded


def _hub_unreachable() -> str | None:
    """Why the Hugging Face Hub cannot be reached (a 3 s TCP connect), or ``None`` when it can.

    ``datasets`` would otherwise spend tens of seconds in huggingface_hub's retries before failing offline.
    """
    import socket
    from urllib.parse import urlsplit

    from huggingface_hub import constants

    parts = urlsplit(constants.ENDPOINT)
    host = parts.hostname or "huggingface.co"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=3):
            return None
    except OSError as exc:
        return f"cannot reach {constants.ENDPOINT} ({exc.strerror or type(exc).__name__})"


def _load_hf_dataset(name: str, split: str, config: str | None) -> Any:
    folder = Path(name).expanduser()
    if folder.is_dir() and ((folder / "state.json").is_file() or (folder / "dataset_dict.json").is_file()):
        return _load_saved_dataset(folder, split)
    import datasets
    from huggingface_hub import constants

    offline = bool(constants.HF_HUB_OFFLINE)
    if not folder.exists():
        problem = None if offline else _hub_unreachable()
        if problem is not None:
            raise ConfigurationError(
                f"cannot load dataset {name!r}: {problem}; connect to the network, set HF_HUB_OFFLINE=1 to use "
                "a copy in the local cache, or give a local file (--file) or dataset folder (--dataset DIR)"
            )
    try:
        return datasets.load_dataset(name, config, split=split, streaming=True)
    except Exception as exc:  # offline, unknown name or split: datasets raises many types
        detail = " ".join(str(exc).split()) or type(exc).__name__
        if offline and not folder.exists():
            detail += " (HF_HUB_OFFLINE is set: only datasets in the local cache can be loaded)"
        raise ConfigurationError(f"cannot load dataset {name!r} (split {split!r}): {detail}") from None


# ---------------------------------------------------------------------------------------------- commands
@reports_errors
def ingest_cmd(
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", "-f", help="A .parquet, .jsonl/.json, .csv/.tsv or .txt file, a directory or a glob of them."
        ),
    ] = None,
    dataset: Annotated[
        str | None, typer.Option("--dataset", "-d", help="Hugging Face dataset name or local dataset folder.")
    ] = None,
    split: Annotated[str, typer.Option(help="Dataset split (with --dataset).")] = "train",
    config_name: Annotated[str | None, typer.Option("--config", help="Dataset configuration (with --dataset).")] = None,
    column: Annotated[
        str | None,
        typer.Option("--column", "-c", help="Text column (default: 'text'; .txt files: each line)."),
    ] = None,
    id_column: Annotated[
        str | None, typer.Option(help="Column holding record ids (default: ids derived from the text).")
    ] = None,
    metadata_column: Annotated[
        list[str] | None,
        typer.Option("--metadata-column", "-m", help="Column to keep as metadata (repeat; default: all others)."),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=0, help="Read at most this many records.")] = None,
    namespace: NamespaceOpt = None,
    batch_size: Annotated[
        int | None,
        typer.Option(min=1, help="Texts per embedding request (default: the endpoint's limit from /info, else 32)."),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, help="Embedding requests in flight at once (default: adapts to the endpoint, up to 64)."),
    ] = None,
    errors_file: Annotated[
        Path, typer.Option(help="JSONL file for rejected records (written only if some are rejected).")
    ] = Path("hf-pinecone-errors.jsonl"),
    force: Annotated[bool, typer.Option("--force", help="Re-embed and overwrite records already stored.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar on stderr.")] = True,
    chunk_tokens: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Split each document into chunks of at most this many tokens, counted by the endpoint's tokenizer "
            "(TEI /tokenize; must fit its max_input_length). Default: embed each record whole.",
        ),
    ] = None,
    chunk_overlap: Annotated[
        int | None,
        typer.Option(min=0, help="Tokens shared by consecutive chunks (with --chunk-tokens; default: 1/8 of it)."),
    ] = None,
    index: IndexOpt = None,
    endpoint_url: EndpointOpt = None,
    controller_host: ControllerOpt = None,
    cold_start_timeout: ColdStartOpt = None,
    allow_insecure_http: InsecureOpt = False,
    as_json: JsonOpt = False,
    engine: Annotated[
        str, typer.Option(help="local (this process), ray (RAY_ADDRESS or a local cluster) or spark.")
    ] = "local",
    workers: Annotated[int | None, typer.Option(min=1, help="Workers for --engine ray|spark.")] = None,
) -> None:
    """Embed texts from a file, a directory or glob of files, or a dataset, and store them in the index.

    Re-runs skip stored records. Exit status: 0 done; 3 done but some records were rejected (listed in
    --errors-file; "status": "partial" with --json); 1 error; 130 Ctrl-C (what was stored is kept: run the
    same command again to resume).
    """
    from hf_pinecone.cli import _engines
    from hf_pinecone.errors import IngestError, IngestInterrupted
    from hf_pinecone.ingestion import IngestReport, ingest
    from hf_pinecone.ingestion.sources import check_file

    if (file is None) == (dataset is None):
        raise ConfigurationError("give exactly one source: --file PATH or --dataset NAME")
    if engine != "local":  # every option above, by name: the engines module maps them
        _distributed_ingest_cmd(engine, locals())
        return
    if file is not None:
        file = _engines.local_source(file)  # a file, or a glob of a directory's files
        if "*" not in str(file):
            check_file(file.expanduser())  # missing or empty: one line before any index is created
    if limit == 0:
        # Nothing is read, so nothing is created: an empty index would be a surprise.
        if as_json:
            name = index or DEMO_INDEX  # the envvar= of --index already filled in PINECONE_INDEX_NAME
            _emit_json({"status": "ok", "index": name, "namespace": namespace, **IngestReport().to_dict()})
        else:
            typer.echo("nothing to ingest: --limit 0 reads no records (the index was not touched)", err=True)
        return
    source: Any = file if file is not None else _load_hf_dataset(str(dataset), split, config_name)
    with _stack(
        index=index,
        namespace=namespace,
        endpoint_url=endpoint_url,
        controller_host=controller_host,
        create_index=True,
        batch_size=batch_size,
        max_concurrency=concurrency,
        cold_start_timeout=cold_start_timeout,
        allow_insecure_http=allow_insecure_http or None,
    ) as stack:
        try:
            report = ingest(
                source,
                store=stack.writer,  # no LangChain import: see issue 14 (CLI fixed cost)
                embeddings=stack.embeddings,
                column=column,
                id_column=id_column,
                metadata_columns=metadata_column or None,
                namespace=namespace,
                limit=limit,
                force=force,
                errors_file=errors_file,
                progress=progress and not as_json,
                chunk_tokens=chunk_tokens,
                chunk_overlap=chunk_overlap,
            )
        except IngestError as exc:
            partial = getattr(exc, "report", None)
            if as_json and partial is not None:
                _emit_json({"status": "error", "error": redact(str(exc), _secrets()), **partial.to_dict()})
            raise
        except IngestInterrupted as exc:
            _report_interrupted(exc.report, stack.index_name, namespace, as_json)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        where = {"index": stack.index_name, "namespace": namespace}
    if as_json:
        _emit_json({"status": report.status, **where, **report.to_dict()})
    else:
        typer.echo(f"index {stack.index_name!r}: {report}")
        if report.failed:
            typer.echo(_rejected_line(report), err=True)
    if report.failed:
        raise typer.Exit(EXIT_PARTIAL)


def _rejected_line(report: Any) -> str:
    """One line for the rejected records: how many, the first reason, where they are listed."""
    first = f" (first, row {report.rejected[0].row}: {report.rejected[0].reason})" if report.rejected else ""
    where = f"; all are listed in {report.errors_file}" if report.errors_file else ""
    return redact(f"{report.failed} record(s) rejected{first}{where}; exit status {EXIT_PARTIAL}", _secrets())


def _report_interrupted(report: Any, index: str, namespace: str | None, as_json: bool) -> None:
    """Ctrl-C during ingest: what was stored, and that re-running the same command resumes."""
    if as_json:
        payload = report.to_dict() if report is not None else {}
        _emit_json({"status": "interrupted", "index": index, "namespace": namespace, **payload})
    done = (
        f"{report.upserted} record(s) stored in index {index!r} before Ctrl-C (read {report.read}, already "
        f"present {report.already_present}, failed {report.failed})"
        if report is not None
        else f"nothing stored in index {index!r} yet"
    )
    typer.echo(
        f"interrupted: {done}; run the same command again to resume: stored records are skipped, not re-embedded",
        err=True,
    )


def _distributed_ingest_cmd(engine: str, args: dict[str, Any]) -> None:
    """``ingest --engine ray|spark``: the same options and output, through :mod:`hf_pinecone.cli._engines`."""
    from hf_pinecone.cli import _engines

    if engine not in _engines.ENGINES:
        raise ConfigurationError(f"--engine must be one of {', '.join(_engines.ENGINES)}, got {engine!r}")
    _quiet_model_loading()
    report = _engines.distributed_ingest(engine, **_engines.cli_options(args))
    if args["as_json"]:
        where = {"engine": engine, "index": args["index"], "namespace": args["namespace"]}
        _emit_json({"status": report.status, **where, **report.to_dict()})
    else:
        typer.echo(f"{engine}: {report}")
        if report.failed:
            typer.echo(_rejected_line(report), err=True)
    if report.failed:
        raise typer.Exit(EXIT_PARTIAL)


@reports_errors
def query_cmd(
    text: Annotated[str, typer.Argument(help="The query text.")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, max=10_000, help="Number of matches.")] = 5,
    filter_json: Annotated[
        str | None, typer.Option("--filter", help='Metadata filter as JSON, e.g. \'{"label": {"$eq": 0}}\'.')
    ] = None,
    namespace: NamespaceOpt = None,
    index: IndexOpt = None,
    endpoint_url: EndpointOpt = None,
    controller_host: ControllerOpt = None,
    cold_start_timeout: ColdStartOpt = None,
    allow_insecure_http: InsecureOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Search the index for the texts most similar to TEXT."""
    flt = _parse_filter(filter_json)
    with _stack(
        index=index,
        namespace=namespace,
        endpoint_url=endpoint_url,
        controller_host=controller_host,
        create_index=False,
        cold_start_timeout=cold_start_timeout,
        allow_insecure_http=allow_insecure_http or None,
    ) as stack:
        results = stack.store.similarity_search_with_score(text, k=top_k, filter=flt, namespace=namespace)
        matches = _matches(results)
        if as_json:
            _emit_json({"query": text, "index": stack.index_name, "namespace": namespace, "matches": matches})
        else:
            _print_matches(text, matches)


@reports_errors
def stats_cmd(
    index: IndexOpt = None,
    controller_host: ControllerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the index's dimension, metric and record count per namespace."""
    from hf_pinecone.config import Settings
    from hf_pinecone.stack import check_index_name, open_pinecone

    settings = Settings.from_env(index_name=index, controller_host=controller_host)
    check_index_name(settings.index_name)
    with open_pinecone(settings) as target:
        stats = target.stats(settings.index_name)
        namespaces = {
            name: int((ns or {}).get("vectorCount", 0)) for name, ns in (stats.get("namespaces") or {}).items()
        }
        payload = {
            "index": settings.index_name,
            "where": target.where,
            "dimension": int(stats.get("dimension") or 0),
            "metric": stats.get("metric"),
            "total_vector_count": int(stats.get("totalVectorCount") or 0),
            "namespaces": namespaces,
        }
    if as_json:
        _emit_json(payload)
        return
    typer.echo(f"index:      {payload['index']} ({payload['where']})")
    typer.echo(f"dimension:  {payload['dimension']}")
    if payload["metric"]:
        typer.echo(f"metric:     {payload['metric']}")
    typer.echo(f"records:    {payload['total_vector_count']}")
    for name, count in sorted(namespaces.items()):
        typer.echo(f"  namespace {name or '(default)'!s}: {count}")


@reports_errors
def delete_index_cmd(
    index: IndexOpt = None,
    controller_host: ControllerOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete the index and every record in it."""
    from hf_pinecone.config import Settings
    from hf_pinecone.stack import check_index_name, open_pinecone

    settings = Settings.from_env(index_name=index, controller_host=controller_host)
    name = check_index_name(settings.index_name)
    with open_pinecone(settings) as target:
        if not yes:
            if not sys.stdin.isatty():
                raise ConfigurationError(f"refusing to delete index {name!r} without --yes (stdin is not a terminal)")
            typer.confirm(f"Delete index {name!r} at {target.where} and every record in it?", abort=True)
        target.delete_index(name)
    if as_json:
        _emit_json({"deleted": name})
    else:
        typer.echo(f"deleted index {name!r}")


@reports_errors
def demo_cmd(
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="Ingest this file instead of the bundled sample sentences."),
    ] = None,
    column: Annotated[str | None, typer.Option("--column", "-c", help="Text column of --file.")] = None,
    limit: Annotated[int | None, typer.Option(min=0, help="Read at most this many records.")] = None,
    queries: Annotated[
        list[str] | None,
        typer.Option("--query", "-q", help="Query to run (repeat; default: the tutorial's three)."),
    ] = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, max=100, help="Matches per query.")] = 5,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar on stderr.")] = True,
    cold_start_timeout: ColdStartOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the tutorial end-to-end offline: local endpoint and in-memory Pinecone, ingest, three queries."""
    from hf_pinecone.ingestion import ingest

    source: Any = file if file is not None else sample_corpus_path()
    with _demo_stack(cold_start_timeout) as (store, embeddings, endpoint_url, pinecone_url):
        if not as_json:
            typer.echo(f"endpoint: {endpoint_url} (bundled all-MiniLM-L6-v2)", err=True)
            typer.echo(f"pinecone: {pinecone_url} (in memory)", err=True)
        report = ingest(
            source,
            store=store,
            embeddings=embeddings,
            column=column,
            limit=limit,
            progress=progress and not as_json,
        )
        runs: list[dict[str, Any]] = []
        for query in queries or TUTORIAL_QUERIES:
            runs.append({"query": query, "matches": _matches(store.similarity_search_with_score(query, k=top_k))})
    if as_json:
        _emit_json({"ingest": report.to_dict(), "queries": runs})
        return
    typer.echo(f"ingested: {report}\n")
    for run in runs:
        _print_matches(run["query"], run["matches"])
        typer.echo("")


@contextmanager
def _demo_stack(cold_start_timeout: float | None = None) -> Iterator[tuple[Any, Any, str, str]]:
    try:
        from hf_pinecone.local import serve_endpoint, serve_pinecone
    except ImportError as exc:  # pragma: no cover - the local extra is missing
        raise ConfigurationError(f"the demo needs the 'local' extra: pip install 'hf-pinecone[local]' ({exc})") from exc
    from hf_pinecone.config import LOCAL_PINECONE_API_KEY
    from hf_pinecone.embeddings import InferenceEndpointEmbeddings
    from hf_pinecone.store import PineconeStore, ensure_index

    _quiet_model_loading()
    with serve_pinecone() as pinecone_url, serve_endpoint() as endpoint_url:
        options = {} if cold_start_timeout is None else {"cold_start_timeout": cold_start_timeout}
        embeddings = InferenceEndpointEmbeddings(endpoint_url=endpoint_url, hf_token=None, **options)
        try:
            host = ensure_index(DEMO_INDEX, embeddings=embeddings, api_key=LOCAL_PINECONE_API_KEY, host=pinecone_url)
            store = PineconeStore(embedding=embeddings, pinecone_api_key=LOCAL_PINECONE_API_KEY, host=host)
            yield store, embeddings, endpoint_url, pinecone_url
        finally:
            embeddings.close()


def register(app: typer.Typer) -> None:
    """Add the data commands to the top-level app."""
    app.command("demo")(demo_cmd)
    app.command("ingest")(ingest_cmd)
    app.command("query")(query_cmd)
    app.command("stats")(stats_cmd)
    app.command("delete-index")(delete_index_cmd)
