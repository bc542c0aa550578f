"""What the examples share: the sample documents, where they are stored, and the choice of chat model."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.vectorstores import VectorStore

from hf_pinecone.stack import open_stack

# Sample documents. add_documents is idempotent (ids derive from the content), so re-runs do not duplicate.
SCALE_TO_ZERO = Document(
    "Scale an Inference Endpoint to zero when idle: you pay nothing until the next request wakes it.",
    metadata={"topic": "cost"},
)
COLD_START = Document(
    "A scaled-to-zero endpoint answers 503 while a replica starts; clients retry until it is ready.",
    metadata={"topic": "cold-start"},
)
PINECONE_BILLING = Document(
    "Pinecone serverless indexes are billed by storage and by read and write units.",
    metadata={"topic": "cost"},
)
MINILM = Document(
    "all-MiniLM-L6-v2 maps sentences to 384-dimensional vectors; use a cosine index for it.",
    metadata={"topic": "model"},
)
METADATA_FILTERS = Document(
    "Metadata filters such as {'topic': 'cost'} restrict a Pinecone query to matching records.",
    metadata={"topic": "search"},
)
MMR = Document(
    "Maximal marginal relevance (MMR) trades a little similarity for more diverse results.",
    metadata={"topic": "search"},
)


@contextmanager
def store_with(docs: Sequence[Document], **stack_options: Any) -> Iterator[VectorStore]:
    """``open_stack(**stack_options)``'s store, holding ``docs``."""
    # The sample documents go to their own namespace of the configured index, away from your data.
    stack_options.setdefault("namespace", "hf-pinecone-examples")
    with open_stack(**stack_options) as stack:
        stack.store.add_documents(list(docs))
        yield stack.store


def load_chat_model(offline: Callable[[], BaseChatModel], what_happens: str) -> BaseChatModel:
    """The chat model named by HF_PINECONE_CHAT_MODEL, else ``offline()``; ``what_happens`` then says so."""
    name = os.environ.get("HF_PINECONE_CHAT_MODEL")
    if name:
        from langchain.chat_models import init_chat_model

        return init_chat_model(name)
    print(f"[offline] HF_PINECONE_CHAT_MODEL is not set: {what_happens}")
    return offline()
