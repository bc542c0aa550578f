"""``hf-pinecone serve endpoint|pinecone``: run a local stand-in server in the foreground."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

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

    run_pinecone_server(host=host, port=port, data_dir=data_dir, api_key=api_key)
