"""``hf-pinecone endpoint ...``: Inference Endpoint lifecycle (filled in by the lifecycle work, issue 8)."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True)
