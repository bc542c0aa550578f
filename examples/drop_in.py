"""The one-line swap: an existing LangChain + Pinecone app moves to Hugging Face Inference Endpoints.

    python examples/drop_in.py

``existing_app`` is ordinary app code: ``PineconeVectorStore`` + some embeddings, configured from the usual
environment (``PINECONE_API_KEY``, ``PINECONE_CONTROLLER_HOST`` for a non-default control plane; ours reads
``HF_ENDPOINT_URL`` / ``HF_TOKEN``). Only the embeddings line changes::

    embeddings = OpenAIEmbeddings(model=...)      # before
    embeddings = InferenceEndpointEmbeddings()    # after

and, optionally, one more line swaps the store for ``hf_pinecone.PineconeStore`` (same constructor; adds
deterministic ids, batching limits, 429 retries, ``get_by_ids``)::

    vectorstore = PineconeVectorStore(index_name=..., embedding=embeddings)   # before
    vectorstore = PineconeStore(index_name=..., embedding=embeddings)         # after

``main`` runs the app three ways (before, new embeddings, new store), each in its own namespace of the index
``PINECONE_INDEX_NAME`` (default ``hf-endpoints``), and returns the documents each retrieves.

Offline (nothing configured), ``main`` starts the local endpoint and the local Pinecone server and points the
environment at them. The "before" line then talks to the local endpoint's OpenAI-compatible ``/v1/embeddings``
route (text-embeddings-inference serves the same route), so both lines embed with the same model and their
results can be compared side by side. Online, the "before" line needs your original provider's settings
(``OPENAI_API_KEY``, or ``OPENAI_API_BASE`` pointing at an OpenAI-compatible server).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_pinecone import PineconeVectorStore

sys.path.insert(0, str(Path(__file__).parent))  # examples/_shared.py, however this file is loaded
import _shared

QUESTIONS = ["How do I stop paying for an idle endpoint?", "Which vector dimension does MiniLM produce?"]
TEXTS = [
    doc.page_content
    for doc in (_shared.SCALE_TO_ZERO, _shared.COLD_START, _shared.PINECONE_BILLING, _shared.MINILM, _shared.MMR)
]


# ------------------------------------------------------------------------------ the existing app, unchanged
def existing_app(
    embeddings: Embeddings,
    *,
    store_cls: type[PineconeVectorStore] = PineconeVectorStore,
    namespace: str | None = None,
) -> dict[str, list[Document]]:
    """Index the texts and answer each question with the top-2 documents."""
    index_name = os.environ.get("PINECONE_INDEX_NAME", "hf-endpoints")
    vectorstore = store_cls(index_name=index_name, embedding=embeddings, namespace=namespace)
    # Explicit ids so re-runs overwrite (PineconeStore would derive ids from the text by itself).
    vectorstore.add_texts(
        TEXTS, metadatas=[{"n": i} for i in range(len(TEXTS))], ids=[f"doc-{i}" for i in range(len(TEXTS))]
    )
    retriever = vectorstore.as_retriever(search_kwargs={"k": 2})
    return {question: retriever.invoke(question) for question in QUESTIONS}


# ------------------------------------------------------------------------------ the one line that changes
def original_embeddings() -> Embeddings:
    """The app's original embeddings line (OpenAI API; offline: the local endpoint's OpenAI route)."""
    from langchain_openai import OpenAIEmbeddings

    # check_embedding_ctx_length=False: send raw text (no tiktoken download; the endpoint truncates).
    return OpenAIEmbeddings(model="sentence-transformers/all-MiniLM-L6-v2", check_embedding_ctx_length=False)


def our_embeddings() -> Embeddings:
    """The replacement line: a Hugging Face Inference Endpoint, from HF_ENDPOINT_URL / HF_TOKEN."""
    from hf_pinecone import InferenceEndpointEmbeddings

    return InferenceEndpointEmbeddings()


# ------------------------------------------------------------------------------ running it offline
@contextlib.contextmanager
def local_environment() -> Iterator[None]:
    """Point the environment at local stand-ins for whatever is not configured; restore it afterwards."""
    from hf_pinecone.local import serve_endpoint, serve_pinecone

    saved = dict(os.environ)
    with contextlib.ExitStack() as servers:
        try:
            if not os.environ.get("HF_ENDPOINT_URL"):
                endpoint_url = servers.enter_context(serve_endpoint())
                os.environ["HF_ENDPOINT_URL"] = endpoint_url
                os.environ["OPENAI_API_BASE"] = f"{endpoint_url}/v1"
                os.environ["OPENAI_API_KEY"] = "local"  # the local endpoint needs no key
            if not os.environ.get("PINECONE_API_KEY") and not os.environ.get("PINECONE_CONTROLLER_HOST"):
                os.environ["PINECONE_CONTROLLER_HOST"] = servers.enter_context(serve_pinecone())
                os.environ["PINECONE_API_KEY"] = "local"  # any key works locally; the SDK insists on one
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)


def main() -> dict[str, dict[str, list[Document]]]:
    """Run the app three ways, each in its own namespace, and return ``{variant: {question: documents}}``."""
    from hf_pinecone import PineconeStore, ensure_index

    variants = {
        "before (OpenAIEmbeddings + PineconeVectorStore)": (original_embeddings, PineconeVectorStore),
        "after (InferenceEndpointEmbeddings + PineconeVectorStore)": (our_embeddings, PineconeVectorStore),
        "after (InferenceEndpointEmbeddings + PineconeStore)": (our_embeddings, PineconeStore),
    }
    results: dict[str, dict[str, list[Document]]] = {}
    with local_environment():
        # The app's index normally exists already; create it (dimension from the endpoint) if it does not.
        ensure_index(os.environ.get("PINECONE_INDEX_NAME", "hf-endpoints"), embeddings=our_embeddings())
        for n, (variant, (make_embeddings, store_cls)) in enumerate(variants.items()):
            namespace = f"hf-pinecone-drop-in-{n}"
            results[variant] = existing_app(make_embeddings(), store_cls=store_cls, namespace=namespace)
    return results


if __name__ == "__main__":
    for variant, answers in main().items():
        print(f"== {variant}")
        for question, docs in answers.items():
            print(f"  {question}")
            for doc in docs:
                print(f"    [{doc.id}] {doc.page_content}")
