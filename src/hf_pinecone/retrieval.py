"""Small retrieval helpers for LCEL chains and agents built on any LangChain vector store.

The standard retriever is ``PineconeStore.as_retriever(search_type=..., search_kwargs=...)``. This module adds
the two things LangChain leaves to every app:

- :func:`format_docs`: turn retrieved documents into the context string a prompt expects.
- :class:`ScoredRetriever`: a ``VectorStoreRetriever`` that also puts each match's score into
  ``Document.metadata``, for apps that want to show or threshold scores downstream.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any, ClassVar

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.vectorstores import VectorStoreRetriever
from typing_extensions import override

from hf_pinecone.errors import ConfigurationError

__all__ = ["ScoredRetriever", "format_docs"]


def format_docs(docs: Iterable[Document], *, separator: str = "\n\n") -> str:
    """Join the texts of retrieved documents into one context string.

    Works as an LCEL step: ``retriever | format_docs | prompt``.

    Args:
        docs: Documents, e.g. a retriever's output.
        separator: Placed between two documents' texts.

    Returns:
        The documents' ``page_content`` in retrieval order, joined by ``separator``.
    """
    return separator.join(doc.page_content for doc in docs)


class ScoredRetriever(VectorStoreRetriever):
    """A vector store retriever that records each match's score in ``Document.metadata[score_key]``.

    Same fields as :class:`~langchain_core.vectorstores.VectorStoreRetriever` (``vectorstore``,
    ``search_type``, ``search_kwargs``), so ``search_kwargs`` takes ``k``, ``filter`` and ``namespace`` as
    usual, and ``k`` may also be passed per call (``retriever.invoke(query, k=3)``).

    - ``search_type="similarity"``: the store's raw score (cosine similarity for a cosine index).
    - ``search_type="similarity_score_threshold"``: the relevance score in ``[0, 1]`` that
      ``search_kwargs["score_threshold"]`` is compared against.

    MMR is not offered: it re-ranks for diversity and has no per-document score to report.

    Example:
        .. code-block:: python

            retriever = ScoredRetriever(vectorstore=store, search_kwargs={"k": 3})
            for doc in retriever.invoke("scale to zero"):
                print(doc.metadata["score"], doc.id, doc.page_content)
    """

    score_key: str = "score"
    """Metadata key that receives the score; a document already holding it raises rather than lose it."""

    allowed_search_types: ClassVar[Collection[str]] = ("similarity", "similarity_score_threshold")

    def _scored(self, docs_and_scores: Iterable[tuple[Document, float]]) -> list[Document]:
        scored = []
        for doc, score in docs_and_scores:
            if self.score_key in doc.metadata:
                raise ConfigurationError(
                    f"document {doc.id!r} already has metadata key {self.score_key!r}; "
                    "pass another score_key to ScoredRetriever"
                )
            # A copy: the store may hand out documents the caller still holds.
            scored.append(doc.model_copy(update={"metadata": {**doc.metadata, self.score_key: score}}))
        return scored

    @override
    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        search_kwargs = self.search_kwargs | kwargs
        if self.search_type == "similarity":
            pairs = self.vectorstore.similarity_search_with_score(query, **search_kwargs)
        else:
            pairs = self.vectorstore.similarity_search_with_relevance_scores(query, **search_kwargs)
        return self._scored(pairs)

    @override
    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        search_kwargs = self.search_kwargs | kwargs
        if self.search_type == "similarity":
            pairs = await self.vectorstore.asimilarity_search_with_score(query, **search_kwargs)
        else:
            pairs = await self.vectorstore.asimilarity_search_with_relevance_scores(query, **search_kwargs)
        return self._scored(pairs)
