"""``hf_pinecone.evaluation`` and ``hf-pinecone eval``: measures from ranx over the real stack.

The index lives on the local Pinecone server, vectors and rerank scores come from the local endpoint
serving the bundled all-MiniLM-L6-v2 over loopback.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.documents import Document
from typer.testing import CliRunner

from hf_pinecone import InferenceEndpointEmbeddings, InferenceEndpointReranker, PineconeStore, ensure_index
from hf_pinecone.cli import app
from hf_pinecone.evaluation import (
    EvalInputError,
    EvalQuery,
    build_retrievers,
    evaluate,
    load_queries,
)

CORPUS = [
    "A man is playing a guitar on stage.",
    "Two dogs are running through a snowy field.",
    "The chef is slicing vegetables in the kitchen.",
    "A cat sleeps on a sunny windowsill.",
    "A woman is singing into a microphone.",
    "Children build a sandcastle on the beach.",
]
QUERIES = [
    {"query": "Someone plays music with a guitar.", "relevant_texts": [CORPUS[0]]},
    {"query": "Puppies run in the snow.", "relevant_texts": [CORPUS[1]]},
    {"query": "Cooking food in a kitchen.", "relevant_texts": [CORPUS[2]]},
    {"query": "Kids playing with sand at the seaside.", "relevant_texts": [CORPUS[5]]},
]


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


# ------------------------------------------------------------------------------------------------ measures
def test_measures_come_from_ranx_and_follow_the_ranking() -> None:
    """Fixed retrievers with known ranks: recall@2, MRR@2 and nDCG@2 as ranx defines them."""
    queries = [EvalQuery("q0", relevant_texts=frozenset({"a"})), EvalQuery("q1", relevant_ids=frozenset({"x", "y"}))]

    def first(query: str, k: int) -> list[Document]:  # q0: hit at rank 1; q1: one of two at rank 2
        if query == "q0":
            return [Document(page_content="a"), Document(page_content="b")]
        return [Document(page_content="t", id="z"), Document(page_content="u", id="y")]

    def second(query: str, k: int) -> list[Document]:  # q0: hit at rank 2; q1: nothing
        if query == "q0":
            return [Document(page_content="b"), Document(page_content="a")]
        return []

    report = evaluate(queries, {"first": first, "second": second}, k=2)
    assert list(report.scores) == ["first", "second"]
    assert report.scores["first"]["recall@2"] == pytest.approx((1 + 0.5) / 2)
    assert report.scores["first"]["mrr@2"] == pytest.approx((1 + 0.5) / 2)
    # nDCG@2 of q1: gain 1/log2(3) over the ideal 1 + 1/log2(3).
    ideal = 1 + 1 / 1.584962500721156
    assert report.scores["first"]["ndcg@2"] == pytest.approx((1 + (1 / 1.584962500721156) / ideal) / 2)
    assert report.scores["second"]["mrr@2"] == pytest.approx(0.25)
    assert "recall@2" in report.table() and "second" in report.table()


def test_load_queries_names_the_bad_line(tmp_path: Path) -> None:
    good = write_jsonl(tmp_path / "q.jsonl", [QUERIES[0], "", {"query": "by id", "relevant_ids": ["a", "b"]}])
    loaded = load_queries(good)
    assert [q.query for q in loaded] == [QUERIES[0]["query"], "by id"]
    assert loaded[1].relevant_ids == frozenset({"a", "b"})
    cases = {
        "line 2: not valid JSON": [QUERIES[0], "{oops"],
        "line 1: 'query' must be a non-empty string": [{"query": "", "relevant_texts": ["a"]}],
        "line 1: give 'relevant_texts' or 'relevant_ids'": [{"query": "q"}],
        "line 1: 'relevant_ids' must be a list of strings": [{"query": "q", "relevant_ids": "a"}],
        "line 1: no relevant texts or ids": [{"query": "q", "relevant_texts": []}],
        "line 1: expected a JSON object": [[1, 2]],
        "holds no query": [""],
    }
    for message, rows in cases.items():
        with pytest.raises(EvalInputError, match=message):
            load_queries(write_jsonl(tmp_path / "bad.jsonl", rows))
    with pytest.raises(EvalInputError, match="queries file not found"):
        load_queries(tmp_path / "missing.jsonl")


def test_modes_plug_in_and_unavailable_ones_are_refused() -> None:
    with pytest.raises(EvalInputError, match="mode 'sparse' needs sparse embeddings"):
        build_retrievers(["dense", "sparse"], store=None)
    with pytest.raises(EvalInputError, match="mode 'hybrid' needs sparse embeddings"):
        build_retrievers(["hybrid"], store=None)
    with pytest.raises(EvalInputError, match="unknown mode 'bm25'"):
        build_retrievers(["bm25"], store=None)
    with pytest.raises(EvalInputError, match="needs a reranker"):
        build_retrievers(["rerank"], store=None)

    def sparse(query: str, k: int) -> list[Document]:
        return [Document(page_content=query)]

    retrievers = build_retrievers(["sparse", "dense", "sparse"], store=None, extra={"sparse": sparse})
    assert list(retrievers) == ["sparse", "dense"]
    assert evaluate([EvalQuery("x", frozenset({"x"}))], {"sparse": sparse}, k=1).scores["sparse"]["recall@1"] == 1
    with pytest.raises(EvalInputError, match="k must be an integer >= 1"):
        evaluate([EvalQuery("x", frozenset({"x"}))], {"sparse": sparse}, k=0)


# ------------------------------------------------------------------------------------------- real stack
@pytest.fixture(scope="module")
def store(endpoint_url: str, pinecone_url: str) -> Iterator[PineconeStore]:
    embeddings = InferenceEndpointEmbeddings(endpoint_url=endpoint_url)
    host = ensure_index(f"t-ev-{uuid.uuid4().hex[:10]}", embeddings=embeddings, api_key="local", host=pinecone_url)
    store = PineconeStore(embedding=embeddings, pinecone_api_key="local", host=host)
    store.add_texts(CORPUS, ids=[f"doc-{i}" for i in range(len(CORPUS))])
    yield store
    embeddings.close()


def test_dense_and_rerank_on_the_real_stack(store: PineconeStore, endpoint_url: str, tmp_path: Path) -> None:
    queries = load_queries(write_jsonl(tmp_path / "q.jsonl", QUERIES))
    by_id = [
        EvalQuery(q.query, relevant_ids=frozenset({f"doc-{CORPUS.index(next(iter(q.relevant_texts)))}"}))
        for q in queries
    ]
    reranker = InferenceEndpointReranker(endpoint_url=endpoint_url)
    retrievers = build_retrievers(["dense", "rerank"], store=store, reranker=reranker, candidates=6)
    report = evaluate(queries, retrievers, k=1)
    assert report.scores["dense"] == {"recall@1": 1.0, "mrr@1": 1.0, "ndcg@1": 1.0}
    # The local scorer is the embedding model's cosine: reranking dense candidates keeps their order.
    assert report.scores["rerank"] == report.scores["dense"]
    assert evaluate(by_id, retrievers, k=1).scores == report.scores  # judged on ids, the same
    reranker.close()


# ------------------------------------------------------------------------------------------------- CLI
def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and "Traceback" not in stderr
    return lines[0]


def test_cli_eval_prints_modes_side_by_side(endpoint_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ingest then eval with the CLI, against the local Pinecone server the CLI starts and the real model."""
    monkeypatch.setenv("HF_ENDPOINT_URL", endpoint_url)
    data = write_jsonl(tmp_path / "corpus.jsonl", [{"text": t} for t in CORPUS])
    assert run("ingest", "--file", str(data), "--index", "evaltest").exit_code == 0
    queries = write_jsonl(tmp_path / "q.jsonl", QUERIES)
    result = run(
        "eval",
        "--queries",
        str(queries),
        "--index",
        "evaltest",
        "--k",
        "1",
        "--mode",
        "dense",
        "--mode",
        "rerank",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["k"] == 1 and report["queries"] == 4 and list(report["scores"]) == ["dense", "rerank"]
    assert report["scores"]["dense"]["recall@1"] == 1.0
    text = run("eval", "-q", str(queries), "--index", "evaltest", "-m", "dense", "-m", "rerank")
    assert text.exit_code == 0
    header, *rows = text.stdout.splitlines()[1:]
    assert header.split() == ["metric", "dense", "rerank"]
    assert [r.split()[0] for r in rows] == ["recall@5", "mrr@5", "ndcg@5"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--queries", "missing.jsonl"], "queries file not found: missing.jsonl"),
        (["--queries", "bad.jsonl"], "bad.jsonl, line 2: not valid JSON"),
        (["--queries", "good.jsonl", "--mode", "sparse"], "--mode sparse|hybrid needs a SPLADE endpoint"),
        (["--queries", "good.jsonl", "--mode", "bm25"], "unknown mode 'bm25'"),
        (["--queries", "good.jsonl", "--k", "0"], "--k must be >= 1, got 0"),
    ],
)
def test_cli_eval_bad_input_is_one_line_exit_2(
    args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "good.jsonl", QUERIES[:1])
    write_jsonl(tmp_path / "bad.jsonl", [QUERIES[0], "{oops"])
    result = run("eval", *args)
    assert result.exit_code == 2
    assert message in one_error_line(result.stderr)
    assert result.stdout == ""


def test_cli_eval_sparse_and_hybrid_modes(
    endpoint_url: str, pinecone_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sparse and hybrid modes through the CLI: an index written densely and sparsely (the local endpoint's
    bundled SPLADE model behind /embed_sparse), evaluated side by side with dense."""
    from hf_pinecone import InferenceEndpointEmbeddings, InferenceEndpointSparseEmbeddings, PineconeStore, ingest
    from hf_pinecone.control import ensure_index

    dense = InferenceEndpointEmbeddings(endpoint_url=endpoint_url)
    sparse = InferenceEndpointSparseEmbeddings(endpoint_url=endpoint_url)
    host = ensure_index("evalsparse", embeddings=dense, metric="dotproduct", api_key="local", host=pinecone_url)
    store = PineconeStore(embedding=dense, sparse_embedding=sparse, pinecone_api_key="local", host=host)
    assert ingest(CORPUS, store=store, sparse_embeddings=sparse, progress=False).upserted == len(CORPUS)
    monkeypatch.setenv("HF_ENDPOINT_URL", endpoint_url)
    monkeypatch.setenv("PINECONE_CONTROLLER_HOST", pinecone_url)
    monkeypatch.setenv("PINECONE_API_KEY", "local")
    queries = write_jsonl(tmp_path / "q.jsonl", QUERIES)
    args = ["eval", "-q", str(queries), "--index", "evalsparse", "--k", "3", "--json"]
    result = run(*args, "-m", "dense", "-m", "sparse", "-m", "hybrid", "--sparse-url", endpoint_url)
    assert result.exit_code == 0, result.stderr
    scores = json.loads(result.stdout)["scores"]
    assert list(scores) == ["dense", "sparse", "hybrid"]
    assert scores["dense"]["recall@3"] == 1.0
    assert all(0.0 <= value <= 1.0 for mode in scores.values() for value in mode.values())
    assert scores["hybrid"]["recall@3"] > 0.0 and scores["sparse"]["recall@3"] > 0.0
