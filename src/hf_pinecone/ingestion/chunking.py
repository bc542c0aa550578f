"""Token-aware chunking of long documents with the endpoint's own tokenizer (TEI ``POST /tokenize``).

Engine-neutral, like the rest of the ingestion core: :class:`DocumentChunker` turns prepared document records
into chunk records (the local runner, Ray and Spark call it on a batch of documents), and
:func:`aprocess_documents` / :func:`process_documents` chunk, replace a changed document's stale chunks and
hand the chunks to :func:`~hf_pinecone.ingestion.aprocess_chunk`.

How a document is cut (:func:`plan_chunks`, pure):

- The document is tokenized once, with offsets (one ``/tokenize`` request per batch of documents; a document
  longer than ``max_input_length * 100`` characters is sent as several whitespace-cut segments, since TEI
  refuses inputs over ``max_input_length * 250`` characters).
- A chunk holds at most ``chunk_tokens`` tokens (special tokens excluded; ``chunk_tokens`` plus the model's
  special tokens and the embeddings' ``document_prefix`` must fit ``max_input_length`` from ``GET /info``, so
  nothing is truncated; a ``prompt_name`` prompt is not counted: leave room for it). Within the last half
  of that window it ends at the best boundary: a blank line, else a line break, else the end of a sentence,
  else a word boundary; never inside a word unless a word alone exceeds the window.
- The next chunk starts ``chunk_overlap`` tokens before that end (moved forward to a word start).
- A chunk's text is the document's text between its first and last token (``document[start:end]``).

Ids and metadata (deterministic, so re-runs skip what is stored):

- ``parent_id``: the document's id (``id_column``'s value, else ``content_id(text, namespace)``).
- chunk id: ``f"{parent_id}#{version}:{index}"``; ``version`` is 12 hex digits of a SHA-256 of the document's
  text and the chunking settings, so a changed document (or changed settings) gets new chunk ids.
- metadata: the document's metadata columns, ``text`` (the chunk's text), ``parent_id``, ``chunk_index``,
  ``chunk_start`` / ``chunk_end`` (character offsets into the document; Pinecone returns numbers as floats).

Replacing a changed document: when any chunk id of a document is not stored yet (a new or changed document, or
``force``), the ids listed under ``parent_id + "#"`` that are chunks of another version are deleted first
(Pinecone ``list`` by prefix: serverless indexes; one request per new or changed document), then the new chunks
are written. Stale chunks are found only
for a stable ``parent_id``: with content ids (no ``id_column``) a changed document is a new document. Stores
other than :class:`~hf_pinecone.store.PineconeStore` get the chunks, without stale-chunk deletion.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from hf_pinecone._pinecone.records import id_problem, metadata_problem
from hf_pinecone._tokenize import Token, char_offsets
from hf_pinecone.errors import ChunkError, ConfigurationError, EndpointRequestError, HfPineconeError
from hf_pinecone.ingestion.core import DetailedEmbeddings, VectorWriter, _chunk_error, aprocess_chunk, process_chunk
from hf_pinecone.ingestion.records import TEXT_KEY, Record
from hf_pinecone.ingestion.report import ChunkResult, RejectedRecord

if TYPE_CHECKING:  # LangChain is imported only by the code that uses it (about 0.7 s of CPU)
    from langchain_core.embeddings import Embeddings
    from langchain_core.vectorstores import VectorStore

__all__ = [
    "CHUNK_METADATA_KEYS",
    "ChunkSpan",
    "DocumentChunker",
    "Tokenizer",
    "aprocess_documents",
    "chunk_id",
    "plan_chunks",
    "process_documents",
]

CHUNK_METADATA_KEYS = ("parent_id", "chunk_index", "chunk_start", "chunk_end")
"""Metadata keys every chunk gets (besides ``text``); a metadata column may not use them."""

_SEGMENT_FACTOR = 100  # characters per token budget of one /tokenize input (TEI refuses > 250 x max_input_length)
_MAX_TOKENIZE_BYTES = 1_000_000  # per /tokenize request body (TEI's payload limit is 2 MB)
_LIST_CONCURRENCY = 8  # list-by-prefix requests in flight per batch of documents
_SENTENCE_END = frozenset(".!?;:\u3002\uff01\uff1f")  # and the CJK full stop, exclamation and question marks


@runtime_checkable
class Tokenizer(Protocol):
    """The endpoint's tokenizer (``InferenceEndpointEmbeddings`` implements it)."""

    def tokenize(self, texts: Sequence[str], *, add_special_tokens: bool = True) -> list[list[Token]]:
        """Per text, its tokens with byte offsets (TEI ``POST /tokenize``)."""
        ...

    async def atokenize(self, texts: Sequence[str], *, add_special_tokens: bool = True) -> list[list[Token]]:
        """Async :meth:`tokenize`."""
        ...

    def endpoint_info(self) -> dict[str, Any]:
        """The endpoint's ``GET /info`` (``max_input_length``, ``max_client_batch_size``), ``{}`` if none."""
        ...

    async def aendpoint_info(self) -> dict[str, Any]:
        """Async :meth:`endpoint_info`."""
        ...


@dataclass(frozen=True, slots=True)
class ChunkSpan:
    """One planned chunk: its position, character span in the document and token count."""

    index: int
    start: int
    end: int
    tokens: int


# ---------------------------------------------------------------------------------------------- pure planning
def _gap_score(text: str, offsets: Sequence[tuple[int, int]], j: int) -> int:
    """How good a cut is between token ``j - 1`` and token ``j`` (higher is better)."""
    gap = text[offsets[j - 1][1] : offsets[j][0]]
    if "\n\n" in gap or "\n\r\n" in gap:
        return 4
    if "\n" in gap:
        return 3
    last = text[offsets[j - 1][0] : offsets[j - 1][1]]
    if gap and last and last[-1] in _SENTENCE_END:
        return 2
    if gap:  # whitespace: a word boundary
        return 1
    return 0  # inside a word (a sub-word token follows) or before punctuation


def plan_chunks(
    text: str, offsets: Sequence[tuple[int, int]], *, chunk_tokens: int, chunk_overlap: int = 0
) -> list[ChunkSpan]:
    """Cut a tokenized text into chunks of at most ``chunk_tokens`` tokens (see the module docstring).

    Args:
        text: The document.
        offsets: Character ``(start, stop)`` of each (non-special) token, in order.
        chunk_tokens: Most tokens per chunk (>= 1).
        chunk_overlap: Tokens repeated from the end of one chunk at the start of the next (``< chunk_tokens``).

    Returns:
        The chunks in order; one for a text of ``chunk_tokens`` tokens or fewer, none for a text without tokens.
    """
    if chunk_tokens < 1:
        raise ConfigurationError(f"chunk_tokens must be >= 1, got {chunk_tokens}")
    if not 0 <= chunk_overlap < chunk_tokens:
        raise ConfigurationError(f"chunk_overlap must be >= 0 and < chunk_tokens ({chunk_tokens}), got {chunk_overlap}")
    n = len(offsets)
    spans: list[ChunkSpan] = []
    i = 0
    while i < n:
        limit = min(i + chunk_tokens, n)
        if limit == n:
            j = n
        else:
            lowest = i + max(1, chunk_tokens // 2)
            j, best = limit, -1
            for cut in range(limit, lowest - 1, -1):  # the latest cut among the best boundaries
                score = _gap_score(text, offsets, cut)
                if score > best:
                    j, best = cut, score
                    if score == 4:
                        break
        spans.append(ChunkSpan(len(spans), offsets[i][0], offsets[j - 1][1], j - i))
        if j >= n:
            break
        nxt = max(j - chunk_overlap, i + 1)
        while nxt < j and not text[offsets[nxt - 1][1] : offsets[nxt][0]]:
            nxt += 1  # start the overlap at a word start, not inside a word
        i = nxt
    return spans


def chunk_version(text: str, chunk_tokens: int, chunk_overlap: int) -> str:
    """12 hex digits identifying a document's text and the chunking settings."""
    digest = hashlib.sha256(f"{chunk_tokens}:{chunk_overlap}\x00".encode() + text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:12]


def chunk_id(parent_id: str, version: str, index: int) -> str:
    """A chunk's id: ``f"{parent_id}#{version}:{index}"``."""
    return f"{parent_id}#{version}:{index}"


def stale_chunk_ids(parent_id: str, listed: Sequence[str], keep: set[str]) -> list[str]:
    """Ids among ``listed`` that are chunks of ``parent_id`` (any version) and not in ``keep``.

    Ids that only share the prefix (another parent ``"a#1"`` next to ``"a"``) are left alone.
    """
    pattern = re.compile(re.escape(parent_id) + r"#[0-9a-f]{12}:\d+")
    return [i for i in listed if i not in keep and pattern.fullmatch(i)]


def _segments(text: str, width: int) -> list[tuple[int, str]]:
    """``text`` as ``(offset, piece)`` pieces of at most ``width`` characters, cut after whitespace."""
    out: list[tuple[int, str]] = []
    start = 0
    while len(text) - start > width:
        cut = max(text.rfind(" ", start, start + width), text.rfind("\n", start, start + width))
        end = cut + 1 if cut > start else start + width
        out.append((start, text[start:end]))
        start = end
    out.append((start, text[start:]))
    return out


# ---------------------------------------------------------------------------------------------- the chunker
class DocumentChunker:
    """Turns document records into chunk records, with the endpoint's tokenizer.

    Args:
        tokenizer: The endpoint's tokenizer (an ``InferenceEndpointEmbeddings``).
        chunk_tokens: Most tokens per chunk (special tokens excluded).
        chunk_overlap: Tokens shared by consecutive chunks; ``None``: ``chunk_tokens // 8``.
        max_metadata_bytes: Reject chunks whose metadata (with the text) exceeds this; ``None``: no check.

    The endpoint's limits (``GET /info``, one special-token probe) are read at the first call; ``chunk_tokens``
    plus the model's special tokens over ``max_input_length`` is a :class:`ConfigurationError` (the endpoint
    would truncate or refuse every full chunk).
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        *,
        chunk_tokens: int,
        chunk_overlap: int | None = None,
        max_metadata_bytes: int | None = None,
    ) -> None:
        overlap = chunk_tokens // 8 if chunk_overlap is None else chunk_overlap
        plan_chunks("", [], chunk_tokens=chunk_tokens, chunk_overlap=overlap)  # validates both
        if not isinstance(tokenizer, Tokenizer):
            raise ConfigurationError(
                "chunk_tokens needs the endpoint's tokenizer: use InferenceEndpointEmbeddings (a TEI endpoint, "
                f"POST /tokenize), not {type(tokenizer).__name__}"
            )
        self.tokenizer = tokenizer
        self.chunk_tokens = chunk_tokens
        self.chunk_overlap = overlap
        self.max_metadata_bytes = max_metadata_bytes
        self._limits: tuple[int, int] | None = None  # (segment width in characters, inputs per request)
        self._lock = asyncio.Lock()

    # ---- limits
    def _probe_text(self) -> str:
        # A one-token text behind the embeddings' document_prefix: its tokens beyond one are the overhead
        # (special tokens and prefix) every chunk carries when embedded.
        prefix = getattr(self.tokenizer, "document_prefix", "")
        return (prefix if isinstance(prefix, str) else "") + "a"

    def _check_limits(self, info: dict[str, Any], specials: int) -> tuple[int, int]:
        max_len = info.get("max_input_length")
        batch = info.get("max_client_batch_size")
        batch = batch if isinstance(batch, int) and batch > 0 else 32
        if isinstance(max_len, int) and max_len > 0:
            if self.chunk_tokens + specials > max_len:
                raise ConfigurationError(
                    f"chunk_tokens={self.chunk_tokens} does not fit the endpoint's max_input_length {max_len} "
                    f"(with {specials} special and prefix tokens): use chunk_tokens {max_len - specials} or less"
                )
            return max(1000, max_len * _SEGMENT_FACTOR), min(batch, 256)
        return 25_600, min(batch, 256)

    def _unsupported(self, exc: EndpointRequestError) -> ConfigurationError | None:
        if exc.status_code in (404, 405):
            return ConfigurationError(
                f"chunk_tokens needs the endpoint's tokenizer, but {exc.url} answered HTTP {exc.status_code}: the "
                "endpoint has no POST /tokenize (the inference toolkit has none); deploy the model with "
                "text-embeddings-inference, or split documents before ingesting"
            )
        return None

    async def _alimits(self) -> tuple[int, int]:
        async with self._lock:
            if self._limits is None:
                info = await self.tokenizer.aendpoint_info()
                try:
                    probe = await self.tokenizer.atokenize([self._probe_text()], add_special_tokens=True)
                except EndpointRequestError as exc:
                    raise self._unsupported(exc) or exc from exc
                self._limits = self._check_limits(info, len(probe[0]) - 1)
            return self._limits

    def _slimits(self) -> tuple[int, int]:
        if self._limits is None:
            info = self.tokenizer.endpoint_info()
            try:
                probe = self.tokenizer.tokenize([self._probe_text()], add_special_tokens=True)
            except EndpointRequestError as exc:
                raise self._unsupported(exc) or exc from exc
            self._limits = self._check_limits(info, len(probe[0]) - 1)
        return self._limits

    # ---- planning a batch
    def _requests(
        self, records: Sequence[Record], width: int, batch: int
    ) -> tuple[list[tuple[int, int]], list[list[str]]]:
        """Segments of every document ((record, offset) each) grouped into /tokenize requests."""
        where: list[tuple[int, int]] = []
        requests: list[list[str]] = [[]]
        size = 0
        for r, record in enumerate(records):
            for offset, piece in _segments(record.text, width):
                if not piece.strip():
                    continue  # TEI refuses empty inputs; whitespace has no tokens anyway
                piece_bytes = len(piece.encode("utf-8")) + 8
                if requests[-1] and (len(requests[-1]) >= batch or size + piece_bytes > _MAX_TOKENIZE_BYTES):
                    requests.append([])
                    size = 0
                requests[-1].append(piece)
                size += piece_bytes
                where.append((r, offset))
        return where, [req for req in requests if req]

    def _assemble(
        self, records: Sequence[Record], where: list[tuple[int, int]], pieces: list[list[Token]], segments: list[str]
    ) -> tuple[list[Record], list[RejectedRecord]]:
        offsets: list[list[tuple[int, int]]] = [[] for _ in records]
        for (r, base), piece, tokens in zip(where, segments, pieces, strict=True):
            offsets[r].extend((base + a, base + b) for a, b in char_offsets(piece, tokens))
        chunks: list[Record] = []
        rejected: list[RejectedRecord] = []
        for record, doc_offsets in zip(records, offsets, strict=True):
            made, refused = self._chunks_of(record, doc_offsets)
            chunks.extend(made)
            rejected.extend(refused)
        return chunks, rejected

    def _chunks_of(self, record: Record, offsets: list[tuple[int, int]]) -> tuple[list[Record], list[RejectedRecord]]:
        base = {k: v for k, v in record.metadata.items() if k != TEXT_KEY}
        clash = [k for k in CHUNK_METADATA_KEYS if k in base]
        if clash:
            raise ConfigurationError(
                f"metadata column(s) {', '.join(map(repr, clash))} would be overwritten by the chunk metadata; leave "
                "them out (metadata_columns= in Python, --metadata-column on the command line)"
            )
        spans = plan_chunks(record.text, offsets, chunk_tokens=self.chunk_tokens, chunk_overlap=self.chunk_overlap)
        version = chunk_version(record.text, self.chunk_tokens, self.chunk_overlap)
        chunks: list[Record] = []
        rejected: list[RejectedRecord] = []
        for span in spans:
            cid = chunk_id(record.id, version, span.index)
            text = record.text[span.start : span.end]
            problem = id_problem(cid)
            if problem is not None:
                return [], [RejectedRecord(record.row, record.id, record.text, f"chunk {problem}; use shorter ids")]
            metadata = {
                **base,
                TEXT_KEY: text,
                "parent_id": record.id,
                "chunk_index": span.index,
                "chunk_start": span.start,
                "chunk_end": span.end,
            }
            if self.max_metadata_bytes is not None:
                problem = metadata_problem(metadata, limit=self.max_metadata_bytes)
                if problem is not None:
                    rejected.append(RejectedRecord(record.row, cid, text, problem))
                    continue
            chunks.append(Record(record.row, cid, text, metadata))
        if not spans:
            rejected.append(RejectedRecord(record.row, record.id, record.text, "the tokenizer found no tokens in it"))
        return chunks, rejected

    # ---- public
    async def asplit(self, records: Sequence[Record]) -> tuple[list[Record], list[RejectedRecord]]:
        """Chunk records of documents: the chunk records (in document order) and the rejected ones."""
        if not records:
            return [], []
        width, batch = await self._alimits()
        where, requests = self._requests(records, width, batch)
        try:
            answers = await asyncio.gather(
                *(self.tokenizer.atokenize(req, add_special_tokens=False) for req in requests)
            )
        except EndpointRequestError as exc:
            raise self._unsupported(exc) or exc from exc
        return self._assemble(records, where, [t for a in answers for t in a], [s for req in requests for s in req])

    def split(self, records: Sequence[Record]) -> tuple[list[Record], list[RejectedRecord]]:
        """Sync :meth:`asplit` (one request at a time)."""
        if not records:
            return [], []
        width, batch = self._slimits()
        where, requests = self._requests(records, width, batch)
        try:
            answers = [self.tokenizer.tokenize(req, add_special_tokens=False) for req in requests]
        except EndpointRequestError as exc:
            raise self._unsupported(exc) or exc from exc
        return self._assemble(records, where, [t for a in answers for t in a], [s for req in requests for s in req])


# ---------------------------------------------------------------------------------------------- with the store
def _parents(chunks: Sequence[Record]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for chunk in chunks:
        out.setdefault(str(chunk.metadata["parent_id"]), set()).add(chunk.id)
    return out


def _can_list(store: Any) -> bool:
    return isinstance(store, VectorWriter) and callable(getattr(store, "alist_ids", None))


async def aprocess_documents(
    records: Sequence[Record],
    *,
    chunker: DocumentChunker,
    embeddings: Embeddings | DetailedEmbeddings | None,
    store: VectorWriter | VectorStore,
    namespace: str | None = None,
    force: bool = False,
    batch_size: int = 512,
) -> ChunkResult:
    """Chunk documents, delete changed documents' stale chunks, then check, embed and upsert the chunks (async).

    Counts in the result are chunks (a rejected document without chunks counts once).

    Raises:
        ChunkError: A run-level failure (see :func:`~hf_pinecone.ingestion.aprocess_chunk`).
        ConfigurationError: The endpoint cannot tokenize, or the settings do not fit it.
    """
    try:
        chunks, rejected = await chunker.asplit(records)
    except HfPineconeError as exc:
        raise _chunk_error(exc, ChunkResult()) from exc
    result = ChunkResult(rejected=tuple(rejected))
    if not chunks:
        return result
    todo: Sequence[Record] = chunks
    sub_force = force
    if _can_list(store):
        writer: Any = store
        try:
            present = set() if force else await writer.aexisting_ids([c.id for c in chunks], namespace=namespace)
            parents = _parents(chunks)
            changed = [p for p, ids in parents.items() if force or not ids <= present]

            slots = asyncio.Semaphore(_LIST_CONCURRENCY)

            async def stale_of(parent: str) -> list[str]:
                async with slots:
                    listed = await writer.alist_ids(prefix=parent + "#", namespace=namespace)
                return stale_chunk_ids(parent, listed, parents[parent])

            stale = [i for ids in await asyncio.gather(*(stale_of(p) for p in changed)) for i in ids]
            if stale:
                await writer.adelete(ids=stale, namespace=namespace)
        except HfPineconeError as exc:
            raise _chunk_error(exc, result) from exc
        todo = [c for c in chunks if c.id not in present]
        result = _merge(result, ChunkResult(already_present=len(chunks) - len(todo)))
        sub_force = True  # the existence check is done
    for k in range(0, len(todo), batch_size):
        try:
            part = await aprocess_chunk(
                todo[k : k + batch_size], embeddings=embeddings, store=store, namespace=namespace, force=sub_force
            )
        except ChunkError as exc:  # what earlier parts did still counts
            raise ChunkError(str(exc), result=_merge(result, exc.result)) from exc.__cause__
        result = _merge(result, part)
    return result


def process_documents(
    records: Sequence[Record],
    *,
    chunker: DocumentChunker,
    embeddings: Embeddings | DetailedEmbeddings | None,
    store: VectorWriter | VectorStore,
    namespace: str | None = None,
    force: bool = False,
    batch_size: int = 512,
) -> ChunkResult:
    """Sync twin of :func:`aprocess_documents`."""
    try:
        chunks, rejected = chunker.split(records)
    except HfPineconeError as exc:
        raise _chunk_error(exc, ChunkResult()) from exc
    result = ChunkResult(rejected=tuple(rejected))
    if not chunks:
        return result
    todo: Sequence[Record] = chunks
    sub_force = force
    if _can_list(store) and callable(getattr(store, "list_ids", None)):
        writer: Any = store
        try:
            present = set() if force else writer.existing_ids([c.id for c in chunks], namespace=namespace)
            parents = _parents(chunks)
            stale: list[str] = []
            for parent, ids in parents.items():
                if force or not ids <= present:
                    listed = writer.list_ids(prefix=parent + "#", namespace=namespace)
                    stale.extend(stale_chunk_ids(parent, listed, ids))
            if stale:
                writer.delete(ids=stale, namespace=namespace)
        except HfPineconeError as exc:
            raise _chunk_error(exc, result) from exc
        todo = [c for c in chunks if c.id not in present]
        result = _merge(result, ChunkResult(already_present=len(chunks) - len(todo)))
        sub_force = True
    for k in range(0, len(todo), batch_size):
        try:
            part = process_chunk(
                todo[k : k + batch_size], embeddings=embeddings, store=store, namespace=namespace, force=sub_force
            )
        except ChunkError as exc:  # what earlier parts did still counts
            raise ChunkError(str(exc), result=_merge(result, exc.result)) from exc.__cause__
        result = _merge(result, part)
    return result


def _merge(a: ChunkResult, b: ChunkResult) -> ChunkResult:
    return ChunkResult(
        embedded=a.embedded + b.embedded,
        upserted=a.upserted + b.upserted,
        already_present=a.already_present + b.already_present,
        rejected=a.rejected + b.rejected,
    )
