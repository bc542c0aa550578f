"""The ``hf-pinecone`` command line.

Each command group lives in its own module; this one only assembles them. Expected errors
(:class:`~hf_pinecone.errors.HfPineconeError`) print one clear line, never a traceback or a secret, and exit 1.
"""

from __future__ import annotations

import sys

import typer

from hf_pinecone.cli import _data, _endpoint, _serve
from hf_pinecone.errors import HfPineconeError, redact

app = typer.Typer(
    name="hf-pinecone",
    help="Hugging Face Inference Endpoint embeddings + Pinecone, as a LangChain retrieval stack.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(_serve.app, name="serve", help="Run a local stand-in server (endpoint, Pinecone, endpoints API).")
app.add_typer(_endpoint.app, name="endpoint", help="Manage a Hugging Face Inference Endpoint.")
_data.register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``hf-pinecone`` console script."""
    try:
        app(args=argv, prog_name="hf-pinecone", standalone_mode=True)
    except HfPineconeError as exc:  # pragma: no cover - commands normally report through report_error
        typer.echo(f"error: {redact(str(exc))}", err=True)
        sys.exit(1)
