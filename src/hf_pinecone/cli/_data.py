"""``hf-pinecone demo|ingest|query|stats|delete-index``: the data commands.

Configuration comes from the environment (see :mod:`hf_pinecone.config`); flags override it. Expected errors
print one ``error: ...`` line on stderr (never a traceback, never a secret) and exit 1.
"""

from __future__ import annotations

import functools
import json
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

# ---------------------------------------------------------------------------------------------- options
IndexOpt = Annotated[
    str | None,
    typer.Option("--index", "-i", help="Pinecone index name [env: PINECONE_INDEX_NAME; default: hf-endpoints]."),
]
NamespaceOpt = Annotated[str | None, typer.Option("--namespace", "-n", help="Pinecone namespace (default: '').")]
EndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url",
        help="Inference Endpoint URL [env: HF_ENDPOINT_URL; default: the bundled local endpoint].",
    ),
]
ControllerOpt = Annotated[
    str | None,
    typer.Option(
        "--controller-host",
        help="Pinecone control-plane URL [env: PINECONE_CONTROLLER_HOST; default: Pinecone's cloud with "
        "PINECONE_API_KEY, else the local server persisted under HF_PINECONE_HOME].",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout (for scripts).")]
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


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {redact(message, _secrets())}", err=True)
    return typer.Exit(code)


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


def reports_errors(func: F) -> F:
    """Turn expected errors into one ``error: ...`` line and exit code 1 (Ctrl-C: exit 130)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None
        except _expected_error_types() as exc:
            raise _fail(_one_line(exc)) from None

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


def _load_hf_dataset(name: str, split: str, config: str | None) -> Any:
    import datasets

    try:
        return datasets.load_dataset(name, config, split=split, streaming=True)
    except Exception as exc:  # offline, unknown name or split: datasets raises many types
        raise ConfigurationError(
            f"cannot load dataset {name!r} (split {split!r}): {' '.join(str(exc).split())}"
        ) from None


# ---------------------------------------------------------------------------------------------- commands
@reports_errors
def ingest_cmd(
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="Local .parquet, .jsonl/.json, .csv/.tsv or .txt file (read streaming)."),
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
    as_json: JsonOpt = False,
) -> None:
    """Embed texts from a file or a dataset and store them in the index (re-runs skip stored records)."""
    from hf_pinecone.errors import IngestError
    from hf_pinecone.ingestion import ingest

    if (file is None) == (dataset is None):
        raise ConfigurationError("give exactly one source: --file PATH or --dataset NAME")
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
    ) as stack:
        try:
            report = ingest(
                source,
                store=stack.store,
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
        if as_json:
            _emit_json({"status": "ok", "index": stack.index_name, "namespace": namespace, **report.to_dict()})
            return
        typer.echo(f"index {stack.index_name!r}: {report}")
        if report.failed:
            typer.echo(f"{report.failed} record(s) rejected; see {report.errors_file}", err=True)


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
