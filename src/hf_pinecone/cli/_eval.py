"""``hf-pinecone eval``: recall@k, MRR@k and nDCG@k of the configured index, per retrieval mode.

Same configuration as ``hf-pinecone query`` (environment, ``--index``, ``--endpoint-url``, ...). The ``rerank``
mode reranks ``--candidates`` dense results (default ``4 * k``) through ``--rerank-url`` (env
``HF_RERANK_ENDPOINT_URL``; default: the endpoint in use, whose ``/rerank`` TEI serves for a reranker model
and the local endpoint always).

Exit codes: 0 measured; 2 bad input (missing or invalid queries file, unknown or unavailable mode, ``--k`` < 1),
one ``error: ...`` line naming the problem; 1 a service failed (endpoint, Pinecone), one line too.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from hf_pinecone.cli._data import (
    ColdStartOpt,
    ControllerOpt,
    EndpointOpt,
    IndexOpt,
    JsonOpt,
    NamespaceOpt,
    _emit_json,
    _fail,
    _stack,
    reports_errors,
)

_USAGE_EXIT = 2


@reports_errors
def eval_cmd(
    queries: Annotated[
        str,
        typer.Option(
            "--queries", "-q", help='JSONL file: {"query": ..., "relevant_texts": [...]} or "relevant_ids" a line.'
        ),
    ],
    k: Annotated[int, typer.Option("--k", "-k", help="Cut-off of recall@k, MRR@k and nDCG@k.")] = 5,
    modes: Annotated[
        list[str] | None,
        typer.Option("--mode", "-m", help="dense, sparse, hybrid or rerank; repeat for several [default: dense]."),
    ] = None,
    candidates: Annotated[
        int | None, typer.Option("--candidates", help="Dense candidates reranked per query [default: 4 * k].")
    ] = None,
    rerank_url: Annotated[
        str | None,
        typer.Option(
            "--rerank-url",
            help="Reranking endpoint URL [env: HF_RERANK_ENDPOINT_URL; default: the embeddings endpoint].",
        ),
    ] = None,
    sparse_url: Annotated[
        str | None,
        typer.Option(
            "--sparse-url",
            help="SPLADE endpoint URL for --mode sparse|hybrid (the index must hold sparse values) "
            "[env: HF_SPARSE_ENDPOINT_URL].",
        ),
    ] = None,
    namespace: NamespaceOpt = None,
    index: IndexOpt = None,
    endpoint_url: EndpointOpt = None,
    controller_host: ControllerOpt = None,
    cold_start_timeout: ColdStartOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Measure retrieval quality of the index on labelled queries, one column per mode."""
    from hf_pinecone.evaluation import EvalInputError, build_retrievers, evaluate, load_queries

    chosen = list(modes or ["dense"])
    try:
        if k < 1:
            raise EvalInputError(f"--k must be >= 1, got {k}")
        if candidates is not None and candidates < 1:
            raise EvalInputError(f"--candidates must be >= 1, got {candidates}")
        sparse_url = sparse_url or os.environ.get("HF_SPARSE_ENDPOINT_URL") or None
        needs_sparse = any(mode in ("sparse", "hybrid") for mode in chosen)
        if needs_sparse and sparse_url is None:
            raise EvalInputError(
                "--mode sparse|hybrid needs a SPLADE endpoint: pass --sparse-url URL or set HF_SPARSE_ENDPOINT_URL"
            )
        # Refuse unknown or unavailable modes before anything starts.
        build_retrievers(
            [m for m in chosen if m not in ("sparse", "hybrid")] or ["dense"], store=None, reranker=object()
        )
        labelled = load_queries(queries)
    except EvalInputError as exc:
        raise _fail(str(exc), _USAGE_EXIT) from None
    with _stack(
        index=index,
        namespace=namespace,
        endpoint_url=endpoint_url,
        controller_host=controller_host,
        create_index=False,
        cold_start_timeout=cold_start_timeout,
    ) as stack:
        reranker: Any = None
        if "rerank" in chosen:
            from hf_pinecone.rerank import InferenceEndpointReranker

            url = rerank_url or os.environ.get("HF_RERANK_ENDPOINT_URL") or stack.endpoint_url
            reranker = InferenceEndpointReranker(
                endpoint_url=url, top_n=k, **({"cold_start_timeout": cold_start_timeout} if cold_start_timeout else {})
            )
        store: Any = stack.store
        if needs_sparse:
            from hf_pinecone.sparse_embeddings import InferenceEndpointSparseEmbeddings
            from hf_pinecone.store import PineconeStore

            sparse = InferenceEndpointSparseEmbeddings(endpoint_url=sparse_url)
            store = PineconeStore(
                embedding=stack.embeddings,
                sparse_embedding=sparse,
                namespace=namespace,
                pinecone_api_key=stack.pinecone.api_key.get_secret_value(),
                host=stack.index_host,
            )
        retrievers = build_retrievers(
            chosen, store=store, reranker=reranker, namespace=namespace, candidates=candidates
        )
        try:
            report = evaluate(labelled, retrievers, k=k)
        finally:
            if reranker is not None:
                reranker.close()
    if as_json:
        _emit_json({"index": stack.index_name, "namespace": namespace, "queries_file": queries, **report.to_dict()})
    else:
        typer.echo(f"index {stack.index_name!r}: {report.queries} queries from {queries}, k={k}")
        typer.echo(report.table())


def register(app: typer.Typer) -> None:
    """Add ``eval`` to the ``hf-pinecone`` app."""
    app.command("eval")(eval_cmd)
