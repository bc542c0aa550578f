"""Data bundled with the package: the demo's sample corpus and the tutorial's example queries."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = ["TUTORIAL_QUERIES", "sample_corpus_path"]

#: The three queries of the original walkthrough (SNLI premises 0, 100 and 200 of the train split).
TUTORIAL_QUERIES: tuple[str, ...] = (
    "A person on a horse jumps over a broken down airplane.",
    "A woman is walking across the street eating a banana, while a man is following with his briefcase.",
    "People on bicycles waiting at an intersection.",
)


def sample_corpus_path() -> Path:
    """Path of the sample corpus: 1,000 short caption-like sentences written for the demo, one per line.

    The sentences were generated once, deterministically, from hand-written templates (people, animals,
    activities, places) plus 30 hand-written sentences close to the tutorial's queries: the project's own.
    """
    return Path(str(files(__name__).joinpath("sample_sentences.txt")))
