"""The README's Python snippets run as written, against the local stand-ins over loopback.

Each ```python block of the sections below is executed unchanged in a fresh namespace, with only the
environment the README tells offline users to set (``HF_ENDPOINT_URL``, ``PINECONE_CONTROLLER_HOST``,
``PINECONE_API_KEY=local``) pointing at the session's local endpoint (the bundled model) and a fresh local
Pinecone server. The quickstart against real services and the endpoint-management snippet are left out: they
need accounts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def snippets(section: str) -> list[str]:
    """The ```python blocks under the heading ``section`` (up to the next heading of the same or higher level)."""
    text = README.read_text(encoding="utf-8")
    heading = re.search(rf"^(#+) {re.escape(section)}\s*$", text, flags=re.MULTILINE)
    assert heading is not None, f"README has no section {section!r}"
    level = len(heading.group(1))
    rest = text[heading.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, flags=re.MULTILINE)
    body = rest[: end.start()] if end else rest
    blocks = re.findall(r"^```python\n(.*?)^```", body, flags=re.MULTILINE | re.DOTALL)
    assert blocks, f"no python snippet under {section!r}"
    return blocks


@pytest.fixture
def offline_env(endpoint_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The README's offline environment; yields the (fresh, in-memory) local Pinecone server's URL."""
    from hf_pinecone.local import serve_pinecone

    with serve_pinecone() as pinecone_url:
        monkeypatch.setenv("HF_ENDPOINT_URL", endpoint_url)
        monkeypatch.setenv("PINECONE_CONTROLLER_HOST", pinecone_url)
        monkeypatch.setenv("PINECONE_API_KEY", "local")
        yield pinecone_url


def run_snippet(code: str) -> None:
    exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})  # the README's own code, unchanged


def index_count(pinecone_url: str, name: str) -> int:
    from pinecone import Pinecone

    pc = Pinecone(api_key="local", host=pinecone_url)
    return int(pc.Index(host=pc.describe_index(name).host).describe_index_stats().total_vector_count)


def test_ingesting_data_snippet(offline_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    [code] = snippets("Ingesting data")
    run_snippet(code)
    printed = capsys.readouterr().out
    assert printed.startswith("read 1000, duplicates 0, already present 0, embedded 1000, upserted 1000, failed 0")
    assert index_count(offline_env, "hf-endpoints") == 1000


def test_local_stand_ins_snippet(capsys: pytest.CaptureFixture[str]) -> None:
    [code] = snippets("Against the local stand-ins (offline, no accounts)")
    run_snippet(code)
    assert "a happy dog" in capsys.readouterr().out


def test_langchain_apps_snippet(offline_env: str) -> None:
    # The section's first block is the self-contained app; the reranking sub-section's block builds on a store
    # and a reranker URL of the reader's own (tests/test_rerank.py runs the same calls).
    code = snippets("Use it in LangChain apps")[0]
    run_snippet(code)  # an empty namespace: the point is that every name resolves and every call works


def test_haystack_and_llama_index_snippets(offline_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("hf_pinecone_haystack")
    pytest.importorskip("hf_pinecone_llama_index")
    haystack, llama_index = snippets("Haystack and LlamaIndex")
    run_snippet(haystack)
    printed = capsys.readouterr().out
    assert "A man plays a guitar on stage." in printed and "Document(" in printed
    run_snippet(llama_index)
    printed = capsys.readouterr().out
    assert "A man plays a guitar on stage." in printed and "NodeWithScore" in printed
    assert index_count(offline_env, "snli") == 2  # one document from each framework
