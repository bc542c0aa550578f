"""``hf-pinecone serve endpoint|pinecone|hf-api``: run a local stand-in server in the foreground.

Each prints ``listening on http://HOST:PORT`` on stdout once it accepts connections; a port that cannot be bound
prints one ``error: cannot listen on HOST:PORT: ...`` line on stderr and exits 1 (no traceback).
"""

from __future__ import annotations

import errno
from enum import Enum
from pathlib import Path
from typing import Annotated, NoReturn

import typer

app = typer.Typer(no_args_is_help=True)


class EndpointFlavor(str, Enum):
    """``--flavor`` of ``serve endpoint`` (see :func:`hf_pinecone.local.create_endpoint_app`)."""

    toolkit = "toolkit"
    tei = "tei"


@app.command("endpoint")
def serve_endpoint_cmd(
    host: Annotated[str, typer.Option(help="Interface to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind; 0 picks a free one.")] = 8080,
    model: Annotated[
        str | None,
        typer.Option(help="sentence-transformers model path or id (default: bundled all-MiniLM-L6-v2)."),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(help="Require 'Authorization: Bearer KEY'.", envvar="HF_PINECONE_ENDPOINT_KEY"),
    ] = None,
    max_batch_size: Annotated[int, typer.Option(help="Largest batch accepted (TEI's max_client_batch_size).")] = 32,
    hash_dimension: Annotated[
        int | None,
        typer.Option(help="Serve deterministic hash vectors of this dimension instead of a model (benchmarks)."),
    ] = None,
    delay: Annotated[float, typer.Option(help="Simulated seconds per request (network + GPU).")] = 0.0,
    per_item_delay: Annotated[float, typer.Option(help="Simulated seconds per input.")] = 0.0,
    replicas: Annotated[int | None, typer.Option(help="Requests served at once; the rest queue.")] = None,
    max_concurrent_requests: Annotated[
        int,
        typer.Option(help="Concurrency permits, one per input (TEI's default 512); a single input finding none: 429."),
    ] = 512,
    flavor: Annotated[
        EndpointFlavor,
        typer.Option(
            case_sensitive=False,
            help="'toolkit': the inference toolkit's POST / plus TEI's routes; 'tei': TEI's routes only "
            "(POST / embeds, health routes stay open with --api-key).",
        ),
    ] = EndpointFlavor.toolkit,
) -> None:
    """Serve a local Inference Endpoint (toolkit, TEI and OpenAI routes) and print its URL."""
    from hf_pinecone.local.endpoint_server import HashEmbedder, run_endpoint_server

    run_endpoint_server(
        host=host,
        port=port,
        model=model,
        api_key=api_key,
        max_batch_size=max_batch_size,
        embedder=HashEmbedder(hash_dimension) if hash_dimension else None,
        delay=delay,
        per_item_delay=per_item_delay,
        replicas=replicas,
        max_concurrent_requests=max_concurrent_requests,
        flavor="tei" if flavor is EndpointFlavor.tei else "toolkit",
    )


@app.command("pinecone")
def serve_pinecone_cmd(
    host: Annotated[str, typer.Option(help="Interface to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind; 0 picks a free one.")] = 5080,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Persist indexes here (survives restarts and kill -9); in memory if unset."),
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(help="Require this Api-Key header.", envvar="HF_PINECONE_SERVER_KEY")
    ] = None,
) -> None:
    """Serve a local Pinecone-compatible server (control and data plane on one port) and print its URL."""
    from hf_pinecone.local.pinecone_server import run_pinecone_server

    _check_port(host, port)
    try:
        run_pinecone_server(host=host, port=port, data_dir=data_dir, api_key=api_key)
    except OSError as exc:
        if exc.errno not in _BIND_ERRNOS:
            raise
        _cannot_listen(host, port, exc)  # taken between the check and the server's own bind


@app.command("hf-api")
def serve_hf_api_cmd(
    host: Annotated[str, typer.Option(help="Interface to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind; 0 picks a free one.")] = 8900,
    token: Annotated[
        str | None,
        typer.Option(
            help="Require 'Authorization: Bearer TOKEN' on every request (management and endpoint URLs).",
            envvar="HF_PINECONE_HF_API_TOKEN",
        ),
    ] = None,
    user: Annotated[str, typer.Option(help="User name whoami returns (the default namespace).")] = "local-user",
    hash_dimension: Annotated[
        int,
        typer.Option(min=1, help="Dimension of the hash vectors served for repositories other than the bundled model."),
    ] = 384,
    steps_per_state: Annotated[
        int, typer.Option(min=1, help="Status fetches (or endpoint requests) spent in each starting state.")
    ] = 1,
    fail_repository: Annotated[
        list[str] | None,
        typer.Option("--fail-repository", help="Repository whose deployment ends in 'failed' (repeat)."),
    ] = None,
) -> None:
    """Serve a local Inference Endpoints management API (what huggingface_hub and `hf-pinecone endpoint` use).

    Point the endpoint commands at it with HF_PINECONE_ENDPOINTS_API=http://HOST:PORT/v2. Endpoints created
    for sentence-transformers/all-MiniLM-L6-v2 embed with the bundled model; any other repository gets
    deterministic hash vectors (GET URL/info says which in model_id).
    """
    from hf_pinecone.local.hf_api_server import HASH_MODEL_ID, run_hf_api_server

    _check_port(host, port)  # a busy port is one error line, not preceded by the note below
    typer.echo(
        "endpoints for sentence-transformers/all-MiniLM-L6-v2 embed with the bundled model; other repositories "
        f"get hash vectors ({HASH_MODEL_ID} in GET /info); "
        "use it with HF_PINECONE_ENDPOINTS_API=http://HOST:PORT/v2",
        err=True,
    )
    run_hf_api_server(
        host=host,
        port=port,
        token=token,
        user=user,
        dimension=hash_dimension,
        steps_per_state=steps_per_state,
        fail_repositories=fail_repository or (),
    )


# A socket that cannot be bound: in use, not an address of this machine, or a privileged port.
_BIND_ERRNOS = frozenset({errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES})


def _cannot_listen(host: str, port: int, exc: OSError) -> NoReturn:
    typer.echo(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
    raise typer.Exit(1)


def _check_port(host: str, port: int) -> None:
    """Fail in one line, before any data directory is opened, when ``host:port`` cannot be bound."""
    from hf_pinecone.local._runner import bind_socket  # the 'local' extra (uvicorn), only for `serve`

    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        _cannot_listen(host, port, exc)
    else:
        sock.close()
