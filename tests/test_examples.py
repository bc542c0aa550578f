"""The examples in ``examples/`` run as documented, against the local servers over loopback.

Chat models are the one thing that cannot be real offline: the RAG tests use ``RecordingChatModel`` (an
in-process fake that records the prompt it receives) and the agent tests the example's own
``OfflineToolCallingModel``. Embeddings, Pinecone, retrievers, tools and the agent loop are the real ones.
"""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from hf_pinecone import content_id
from hf_pinecone.stack import open_stack

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rag_chain = load_example("rag_chain")
agent_tool = load_example("agent_tool")
drop_in = load_example("drop_in")


class RecordingChatModel(BaseChatModel):
    """Fake chat model: records every prompt and answers with a fixed reply."""

    reply: str = "stub answer"
    prompts: list[list[BaseMessage]] = Field(default_factory=list)

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        self.prompts.append(list(messages))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(self.reply))])

    @property
    def _llm_type(self) -> str:
        return "recording"


@pytest.fixture
def stack_options(endpoint_url: str, pinecone_url: str, index_name: str) -> dict[str, Any]:
    """open_stack overrides that point the examples at the session's local servers and a fresh index."""
    return {
        "endpoint_url": endpoint_url,
        "controller_host": pinecone_url,
        "pinecone_api_key": "local",
        "index_name": index_name,
    }


def doc_text(docs: list[Document], topic: str) -> str:
    return next(d.page_content for d in docs if d.metadata["topic"] == topic)


# ----------------------------------------------------------------------------------------------- RAG chain
COST = doc_text(rag_chain.DOCS, "cost")  # the scale-to-zero document
COLD_START = doc_text(rag_chain.DOCS, "cold-start")
MODEL_DOC = doc_text(rag_chain.DOCS, "model")


def test_rag_chain_retrieved_texts_reach_the_prompt(stack_options: dict[str, Any]) -> None:
    model = RecordingChatModel()
    answer = rag_chain.main("How do I stop paying for an idle endpoint?", chat_model=model, **stack_options)
    assert answer == "stub answer"
    [prompt] = model.prompts
    [message] = prompt
    assert isinstance(message, HumanMessage)
    text = str(message.content)
    assert COST in text and COLD_START in text  # the two retrieved documents (k=2)...
    assert MODEL_DOC not in text  # ...and not the rest of the corpus
    assert text.index(COST) < text.index(COLD_START)  # in retrieval order
    assert text.rstrip().endswith("Question: How do I stop paying for an idle endpoint?")


async def test_rag_chain_ainvoke_with_mmr_retriever(stack_options: dict[str, Any]) -> None:
    model = RecordingChatModel(reply="async answer")
    with open_stack(**stack_options) as stack:
        await stack.store.aadd_documents(rag_chain.DOCS)
        retriever = stack.store.as_retriever(search_type="mmr", search_kwargs={"k": 1})
        chain = rag_chain.build_chain(retriever, model)
        assert await chain.ainvoke("Which vector size does MiniLM produce?") == "async answer"
    text = str(model.prompts[0][0].content)
    assert MODEL_DOC in text
    assert COST not in text


def test_rag_chain_uses_the_configured_chat_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """HF_PINECONE_CHAT_MODEL goes through init_chat_model (constructing ChatOpenAI needs no network)."""
    monkeypatch.setenv("HF_PINECONE_CHAT_MODEL", "openai:gpt-4o-mini")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used")
    model = rag_chain.load_chat_model()
    assert type(model).__name__ == "ChatOpenAI"
    assert model.model_name == "gpt-4o-mini"  # type: ignore[attr-defined]


@pytest.mark.slow
def test_rag_chain_script_runs_offline_on_local_defaults(tmp_path: Path) -> None:
    """`python examples/rag_chain.py` with nothing configured: local endpoint + local Pinecone, no LLM."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "rag_chain.py"), "How do I stop paying for an idle endpoint?"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "[offline] HF_PINECONE_CHAT_MODEL is not set" in result.stdout
    # The offline stand-in answers with the prompt, so the retrieved texts are in the output.
    assert COST in result.stdout and COLD_START in result.stdout
    assert MODEL_DOC not in result.stdout


# ----------------------------------------------------------------------------------------------- agent tool
SCALED_TO_ZERO = doc_text(agent_tool.DOCS, "cold-start")
AGENT_COST = doc_text(agent_tool.DOCS, "cost")


def check_agent_run(messages: list[BaseMessage], question: str, namespace: str | None) -> None:
    human, call, tool_result, answer = messages
    assert human.content == question
    assert isinstance(call, AIMessage)
    assert [(c["name"], c["args"]) for c in call.tool_calls] == [(agent_tool.TOOL_NAME, {"query": question})]
    assert isinstance(tool_result, ToolMessage)
    assert tool_result.tool_call_id == call.tool_calls[0]["id"]
    # The tool's output holds the expected documents: text for the model, Documents with ids as artifact.
    assert SCALED_TO_ZERO in str(tool_result.content)
    artifact = tool_result.artifact
    assert len(artifact) == 2
    assert artifact[0].page_content == SCALED_TO_ZERO
    assert all(d.id == content_id(d.page_content, namespace) for d in artifact)
    assert isinstance(answer, AIMessage)
    assert SCALED_TO_ZERO in str(answer.content)


def test_agent_tool_example_calls_the_retriever_tool(stack_options: dict[str, Any]) -> None:
    question = "What happens when a request reaches a scaled-to-zero endpoint?"
    messages = agent_tool.main(question, **stack_options)
    check_agent_run(messages, question, "hf-pinecone-examples")  # the example's namespace


async def test_agent_tool_ainvoke(stack_options: dict[str, Any]) -> None:
    question = "What does a request to a scaled-to-zero endpoint get?"
    with open_stack(**stack_options) as stack:
        await stack.store.aadd_documents(agent_tool.DOCS)
        agent = agent_tool.build_agent(
            stack.store.as_retriever(search_kwargs={"k": 2}), agent_tool.OfflineToolCallingModel()
        )
        result = await agent.ainvoke({"messages": [{"role": "user", "content": question}]})
    check_agent_run(result["messages"], question, None)


def test_agent_tool_filtered_retriever_limits_what_the_tool_returns(stack_options: dict[str, Any]) -> None:
    with open_stack(**stack_options) as stack:
        stack.store.add_documents(agent_tool.DOCS)
        retriever = stack.store.as_retriever(search_kwargs={"k": 4, "filter": {"topic": "cost"}})
        agent = agent_tool.build_agent(retriever, agent_tool.OfflineToolCallingModel())
        result = agent.invoke({"messages": [{"role": "user", "content": "scaled-to-zero endpoint"}]})
    tool_result = result["messages"][2]
    assert {d.metadata["topic"] for d in tool_result.artifact} == {"cost"}
    assert len(tool_result.artifact) == 2
    assert SCALED_TO_ZERO not in str(tool_result.content)


# ----------------------------------------------------------------------------------------------- drop-in
@pytest.fixture
def app_env(endpoint_url: str, pinecone_url: str, index_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment an existing app reads, pointed at the session's local servers and a fresh index."""
    monkeypatch.setenv("PINECONE_INDEX_NAME", index_name)
    monkeypatch.setenv("HF_ENDPOINT_URL", endpoint_url)
    monkeypatch.setenv("OPENAI_API_BASE", f"{endpoint_url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "local")
    monkeypatch.setenv("PINECONE_API_KEY", "local")
    monkeypatch.setenv("PINECONE_CONTROLLER_HOST", pinecone_url)


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(
        sum(x * x for x in a) * sum(y * y for y in b)
    )


@pytest.mark.usefixtures("app_env")
def test_drop_in_swaps_give_the_same_results(pinecone_url: str, index_name: str) -> None:
    from pinecone import Pinecone

    results = drop_in.main()
    before, after_embeddings, after_store = results.values()
    assert list(results) == [
        "before (OpenAIEmbeddings + PineconeVectorStore)",
        "after (InferenceEndpointEmbeddings + PineconeVectorStore)",
        "after (InferenceEndpointEmbeddings + PineconeStore)",
    ]

    def view(answers: dict[str, list[Document]]) -> dict[str, list[tuple[str | None, str]]]:
        return {q: [(d.id, d.page_content) for d in docs] for q, docs in answers.items()}

    # Same documents, same ids, same order: only the embeddings line (then the store line) changed.
    assert view(before) == view(after_embeddings) == view(after_store)
    first, second = drop_in.QUESTIONS
    assert view(before)[first][0] == ("doc-0", drop_in.TEXTS[0])
    assert view(before)[second][0] == ("doc-3", drop_in.TEXTS[3])
    # Each variant really wrote its own copy of the corpus.
    pc = Pinecone(api_key="local", host=pinecone_url)
    stats = pc.Index(host=pc.describe_index(index_name).host).describe_index_stats()
    counts = {ns: summary["vector_count"] for ns, summary in stats["namespaces"].items()}
    assert counts == {f"hf-pinecone-drop-in-{n}": len(drop_in.TEXTS) for n in range(3)}


@pytest.mark.usefixtures("app_env")
async def test_drop_in_embedding_lines_embed_identically() -> None:
    """Both lines reach the same model (OpenAI route vs. ours), sync and async."""
    original, ours = drop_in.original_embeddings(), drop_in.our_embeddings()
    for question in drop_in.QUESTIONS:
        assert cosine(original.embed_query(question), ours.embed_query(question)) == pytest.approx(
            1.0, abs=1e-5
        )
    [a] = await original.aembed_documents([drop_in.TEXTS[1]])
    [b] = await ours.aembed_documents([drop_in.TEXTS[1]])
    assert cosine(a, b) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.slow
def test_drop_in_script_runs_offline_on_local_defaults(tmp_path: Path) -> None:
    """`python examples/drop_in.py` with nothing configured starts its own local servers."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "drop_in.py")],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    sections = result.stdout.split("== ")[1:]
    assert len(sections) == 3
    bodies = {section.split("\n", 1)[1] for section in sections}
    assert len(bodies) == 1  # all three variants printed the same documents
    assert f"[doc-0] {drop_in.TEXTS[0]}" in result.stdout


@pytest.mark.usefixtures("app_env")
def test_drop_in_leaves_a_configured_environment_alone() -> None:
    import os

    before = dict(os.environ)
    with drop_in.local_environment():
        assert dict(os.environ) == before  # everything is configured: no local server, no change
    assert dict(os.environ) == before
