"""The retriever as an agent tool: ``create_retriever_tool`` inside a LangChain v1 ``create_agent`` agent.

    pip install langchain     # create_agent and init_chat_model live in the `langchain` package
    python examples/agent_tool.py "What happens when a request reaches a scaled-to-zero endpoint?"

Chat model: set ``HF_PINECONE_CHAT_MODEL`` to any tool-calling ``init_chat_model`` string, e.g.
``openai:gpt-4o-mini``. When it is NOT set, this example runs fully OFFLINE with ``OfflineToolCallingModel``
below, a stand-in that calls no LLM: it always calls the search tool with the user's question, then answers
with what the tool returned. The agent, the tool and the retrieval are the real ones either way.

Embeddings and index come from the same configuration as the CLI (``hf_pinecone.open_stack``); with nothing
configured, the bundled local endpoint and the local Pinecone server run in this process.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from langchain.agents import create_agent
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool, create_retriever_tool
from langchain_core.utils.function_calling import convert_to_openai_tool

sys.path.insert(0, str(Path(__file__).parent))  # examples/_shared.py, however this file is loaded
import _shared

DOCS = [
    Document(
        "A request to a scaled-to-zero Inference Endpoint gets 503 while a replica starts; "
        "the client retries until the endpoint is running.",
        metadata={"topic": "cold-start"},
    ),
    _shared.SCALE_TO_ZERO,
    _shared.PINECONE_BILLING,
    _shared.MINILM,
]

TOOL_NAME = "search_docs"


class OfflineToolCallingModel(BaseChatModel):
    """Offline stand-in for a tool-calling chat model. It calls no LLM.

    First turn: calls the first bound tool with the user's last message as ``query``.
    After a tool result: answers with that result.
    """

    tool_names: list[str] = []

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        names = [convert_to_openai_tool(tool)["function"]["name"] for tool in tools]
        return self.model_copy(update={"tool_names": names})

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        last = messages[-1]
        if isinstance(last, ToolMessage):
            reply = AIMessage(content=f"According to the documentation:\n{last.content}")
        else:
            call = {
                "name": self.tool_names[0],
                "args": {"query": str(last.content)},
                "id": f"call_{len(messages)}",
            }
            reply = AIMessage(content="", tool_calls=[call])
        return ChatResult(generations=[ChatGeneration(message=reply)])

    @property
    def _llm_type(self) -> str:
        return "offline-tool-calling"


def load_chat_model() -> BaseChatModel:
    """The chat model named by HF_PINECONE_CHAT_MODEL, else the offline stand-in."""
    return _shared.load_chat_model(OfflineToolCallingModel, "OfflineToolCallingModel stands in for the LLM.")


def build_agent(retriever: BaseRetriever, chat_model: BaseChatModel) -> Any:
    """An agent whose only tool searches the index."""
    tool = create_retriever_tool(
        retriever,
        TOOL_NAME,
        "Search the hf-pinecone documentation about Inference Endpoints and Pinecone. Input: a search query.",
        # The model sees the texts; your code also gets the Documents (with ids) as ToolMessage.artifact.
        response_format="content_and_artifact",
    )
    return create_agent(
        chat_model,
        tools=[tool],
        system_prompt="Answer questions about hf-pinecone. Search the docs first; cite only what they say.",
    )


def main(
    question: str = "What happens when a request reaches a scaled-to-zero endpoint?",
    *,
    chat_model: BaseChatModel | None = None,
    **stack_options: Any,
) -> list[BaseMessage]:
    """Run the agent on ``question``; returns the conversation (human, tool call, tool result, answer)."""
    with _shared.store_with(DOCS, **stack_options) as store:
        agent = build_agent(store.as_retriever(search_kwargs={"k": 2}), chat_model or load_chat_model())
        # `await agent.ainvoke(...)` in async code.
        result = agent.invoke({"messages": [{"role": "user", "content": question}]})
        messages: list[BaseMessage] = result["messages"]
        return messages


if __name__ == "__main__":
    for message in main(*sys.argv[1:2]):
        message.pretty_print()
