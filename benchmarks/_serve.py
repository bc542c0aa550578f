"""Run a local Inference Endpoint for the benchmarks in this (sub)process until stdin closes.

``python -m benchmarks._serve [--hash-dim 384 | --model] [--delay S] [--per-item-delay S] [--replicas N]
[--max-concurrent N] [--max-batch-size N]`` prints ``listening on URL`` once ready. It is
:func:`hf_pinecone.local.serve_endpoint`'s app, plus ``GET /_bench/stats`` (the app's live counters), so that
benchmarks can report 429s and the endpoint's peak concurrency.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import orjson


def stats_app(app: Any) -> Any:
    """Wrap an endpoint app: ``GET /_bench/stats`` answers its :class:`EndpointStats` counters."""
    stats = app.state.stats
    embedder = app.state.embedder
    fields = ("requests", "served", "inputs", "overloaded", "max_in_flight", "max_active")

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/_bench/stats":
            counters = {name: getattr(stats, name, None) for name in fields}
            counters["model_calls"] = getattr(embedder, "model_calls", None)  # fewer than requests when coalesced
            body = orjson.dumps(counters)
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
            )
            await send({"type": "http.response.body", "body": body})
            return
        await app(scope, receive, send)

    return wrapped


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hash-dim", type=int, default=384)
    parser.add_argument("--model", action="store_true", help="the bundled all-MiniLM-L6-v2 instead of hashes")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--per-item-delay", type=float, default=0.0)
    parser.add_argument("--replicas", type=int, default=None)
    parser.add_argument("--max-concurrent", type=int, default=512)
    parser.add_argument("--max-batch-size", type=int, default=32)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

    from hf_pinecone.local import run_in_background
    from hf_pinecone.local.endpoint_server import HashEmbedder, create_endpoint_app

    app = create_endpoint_app(
        embedder=None if args.model else HashEmbedder(args.hash_dim),
        max_batch_size=args.max_batch_size,
        delay=args.delay,
        per_item_delay=args.per_item_delay,
        replicas=args.replicas,
        max_concurrent_requests=args.max_concurrent,
    )
    with run_in_background(stats_app(app)) as url:
        print(f"listening on {url}", flush=True)
        sys.stdin.read()  # the parent closes our stdin to stop us


if __name__ == "__main__":
    main()
