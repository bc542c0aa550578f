"""A RAG chain in LCEL: ``retriever | format_docs | prompt | chat model``.

    python examples/rag_chain.py "How do I stop paying for an idle endpoint?"

Chat model: set ``HF_PINECONE_CHAT_MODEL`` to any ``init_chat_model`` string, e.g. ``openai:gpt-4o-mini``
(needs the provider's package and API key). When it is NOT set, this example runs fully OFFLINE with a
stand-in "chat model" that calls no LLM and answers with the prompt it received, so you see exactly what the
retriever put in front of the model.

Embeddings and index come from the same configuration as the CLI (``hf_pinecone.open_stack``): with no
``HF_ENDPOINT_URL`` and no ``PINECONE_API_KEY`` / ``PINECONE_CONTROLLER_HOST``, the bundled local endpoint and
the local Pinecone server run in this process, so nothing leaves the machine.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import ParrotFakeChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnablePassthrough

from hf_pinecone.retrieval import format_docs

sys.path.insert(0, str(Path(__file__).parent))  # examples/_shared.py, however this file is loaded
import _shared

DOCS = [
    _shared.SCALE_TO_ZERO,
    _shared.COLD_START,
    _shared.PINECONE_BILLING,
    _shared.MINILM,
    _shared.METADATA_FILTERS,
    _shared.MMR,
]

# One human message: the common RAG prompt shape, which also lets the offline stand-in show all of it.
PROMPT = ChatPromptTemplate.from_messages(
    [
        (
            "human",
            "Answer the question using only the context below. Say so if the context does not answer it.\n\n"
            "Context:\n{context}\n\nQuestion: {question}",
        )
    ]
)


def load_chat_model() -> BaseChatModel:
    """The chat model named by HF_PINECONE_CHAT_MODEL, else an offline stand-in that calls no LLM."""
    return _shared.load_chat_model(ParrotFakeChatModel, "no LLM is called; the 'answer' is the prompt itself.")


def build_chain(retriever: BaseRetriever, chat_model: BaseChatModel) -> Runnable[str, str]:
    """question -> answer. The retriever's documents become the prompt's {context}."""
    return (
        {"context": retriever | format_docs, "question": RunnablePassthrough()}
        | PROMPT
        | chat_model
        | StrOutputParser()
    )


def main(
    question: str = "How do I stop paying for an idle endpoint?",
    *,
    chat_model: BaseChatModel | None = None,
    k: int = 2,
    **stack_options: Any,
) -> str:
    """Answer ``question`` with RAG. ``stack_options`` go to ``open_stack`` (index_name, endpoint_url...)."""
    with _shared.store_with(DOCS, **stack_options) as store:
        # Any standard retriever works here: search_type="mmr", or a metadata filter in search_kwargs.
        retriever = store.as_retriever(search_kwargs={"k": k})
        chain = build_chain(retriever, chat_model or load_chat_model())
        return chain.invoke(question)  # `await chain.ainvoke(question)` in async code


if __name__ == "__main__":
    print(main(*sys.argv[1:2]))
