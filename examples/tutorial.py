"""The Pinecone + Hugging Face Inference Endpoints walkthrough, rewritten on hf-pinecone.

The original: create an Inference Endpoint, embed SNLI hypotheses with ``requests.post`` in sequential
batches of 64, ``index.upsert`` each batch (11 minutes for 50,000 sentences, random ids), query three
premises, clean up. Here every step is one call, ingestion is pipelined and safe to re-run, and the same
script runs in two modes:

Offline (default, nothing to set)::

    python examples/tutorial.py

    The bundled all-MiniLM-L6-v2 endpoint and the local Pinecone server run in this process; the corpus is the
    sample sentences bundled with the package.

Online (your endpoint and your Pinecone project)::

    export HF_ENDPOINT_URL=https://xxxx.endpoints.huggingface.cloud HF_TOKEN=hf_...
    export PINECONE_API_KEY=pcsk_...
    python examples/tutorial.py --dataset stanfordnlp/snli --limit 50000

    ``--create-endpoint NAME`` creates the endpoint first (and waits until it serves), as the original did in
    the Hugging Face UI, and deletes it at the end. The index is deleted at the end too, unless ``--keep``.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from hf_pinecone import ingest
from hf_pinecone.data import TUTORIAL_QUERIES, sample_corpus_path
from hf_pinecone.stack import open_stack

# Not the CLI's default index: the clean-up step must never delete an index filled by `hf-pinecone ingest`.
INDEX_NAME = "hf-endpoints-tutorial"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", default=INDEX_NAME, help=f"Pinecone index (default {INDEX_NAME}).")
    parser.add_argument("--dataset", help="Hugging Face dataset to ingest (e.g. stanfordnlp/snli; needs network).")
    parser.add_argument("--column", default="hypothesis", help="Text column of --dataset (default hypothesis).")
    parser.add_argument("--limit", type=int, default=None, help="Read at most this many records.")
    parser.add_argument("--create-endpoint", metavar="NAME", help="Create this Inference Endpoint first.")
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2", help="For --create-endpoint.")
    parser.add_argument("--keep", action="store_true", help="Keep the index (and created endpoint) at the end.")
    parser.add_argument("--no-progress", action="store_true", help="No progress bar.")
    return parser.parse_args(argv)


def create_endpoint(name: str, model: str) -> str:
    """Step 1 of the original: an Inference Endpoint serving the model (created unless it exists)."""
    from hf_pinecone.lifecycle import ensure_endpoint

    print(f"Creating (or reusing) Inference Endpoint {name!r} for {model} and waiting until it serves...")
    info = ensure_endpoint(name, repository=model)
    assert info.url is not None
    print(f"Endpoint {name!r} is {info.status} at {info.url}")
    return info.url


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    endpoint_url = create_endpoint(args.create_endpoint, args.model) if args.create_endpoint else None
    try:
        # Steps 2 and 4 of the original: the embeddings client, and the index with the model's dimension.
        with open_stack(index_name=args.index, endpoint_url=endpoint_url) as stack:
            where = "local" if stack.pinecone.local else "Pinecone"
            print(f"Endpoint: {stack.endpoint_url}")
            dim = len(stack.embeddings.embed_query("How many dimensions does this model produce?"))
            print(f"Embedding dimension: {dim}; index {stack.index_name!r} on {where}")

            # Step 3: the corpus. The original deduplicated with list(set(...)), whose order changes every
            # run; ingest() keeps the first occurrence and derives ids from the text, so re-runs skip
            # what is already stored.
            source: Any
            column = None
            if args.dataset:
                import datasets

                source = datasets.load_dataset(args.dataset, split="train", streaming=True)
                column = args.column
            else:
                source = sample_corpus_path()

            # Step 5: embed and upsert, pipelined (embedding requests and upserts overlap).
            report = ingest(source, store=stack.store, column=column, limit=args.limit, progress=not args.no_progress)
            print(f"Ingested: {report}")
            stats = stack.pinecone.client().Index(host=stack.index_host).describe_index_stats()
            print(f"Index stats: dimension={stats.dimension}, total_vector_count={stats.total_vector_count}")

            # Step 6: semantic search with the tutorial's three premises.
            retriever = stack.store.as_retriever(search_kwargs={"k": 5})
            for query in TUTORIAL_QUERIES:
                print(f"\nQuery: {query}\nAnswers:")
                for doc, score in stack.store.similarity_search_with_score(query, k=5):
                    print(f"  {score:.2f}  {doc.page_content}")
            # The same through the LangChain retriever interface (what a RAG chain would call).
            top = retriever.invoke(TUTORIAL_QUERIES[0])[0]
            print(f"\nRetriever top document for the first query: {top.page_content!r} (id {top.id})")

            # Step 7: clean up.
            if not args.keep:
                stack.pinecone.client().delete_index(stack.index_name)
                print(f"\nDeleted index {stack.index_name!r}")
    finally:
        if args.create_endpoint and not args.keep:
            from hf_pinecone.lifecycle import delete_endpoint

            delete_endpoint(args.create_endpoint, missing_ok=True)
            print(f"Deleted Inference Endpoint {args.create_endpoint!r}")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
