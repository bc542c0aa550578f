"""``hf-pinecone demo|ingest|query|stats|delete-index`` (filled in by the ingestion work, issue 4)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the data commands to the top-level app."""
