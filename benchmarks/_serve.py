"""Run a local Inference Endpoint for the benchmarks in this (sub)process until stdin closes.

``python -m benchmarks._serve [--hash-dim 384 | --model] [--delay S] [--per-item-delay S] [--replicas N]
[--max-concurrent N] [--max-batch-size N] [--reject-past N]`` prints ``listening on URL`` once ready. It is
:func:`hf_pinecone.local.serve_endpoint`'s app, plus ``GET /_bench/stats`` (the app's live counters), so that
benchmarks can report 429s and the endpoint's peak concurrency.

``--reject-past N`` is a BENCHMARK-ONLY gateway in front of the endpoint (:func:`reject_past_app`), not part of
the stand-in: TEI itself never answers 429 to a batch (its inputs wait for permits), so an endpoint that
refuses requests past a concurrency limit has to be modelled outside it.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import orjson


class Gateway:
    """Counters of the benchmark-only gateway (:func:`reject_past_app`); one event loop, no lock needed."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.in_flight = 0
        self.rejected = 0


# The stand-in's own 429 (TEI's: router/src/http/server.rs `ErrorType::Overloaded` -> 429, message "Model is
# overloaded"; body as hf_pinecone.local._endpoint_wire.error_response writes it). TEI sends no Retry-After,
# so neither does the gateway: the client's own backoff decides when to retry.
_OVERLOADED = orjson.dumps({"error": "Model is overloaded", "error_type": "Overloaded"})


def reject_past_app(app: Any, gateway: Gateway) -> Any:
    """BENCHMARK-ONLY: answer ``429 Overloaded`` to a POST that arrives while ``gateway.limit`` POSTs are in flight.

    Models an endpoint that refuses work past N concurrent requests instead of queueing it: a proxy or rate
    limiter with a concurrency cap in front of the endpoint, or TEI's own admission for single-input requests
    (router/src/http/server.rs ``embed``, ``InputBatch::Single``: ``infer.try_acquire_permit()`` fails with
    ``Overloaded`` when no permit is free), applied here to whole requests, whatever their size. TEI's batches
    never get that answer (``InputBatch::Batch``: each input awaits ``acquire_permit()``), which is why this
    lives in the benchmarks and not in the stand-in. Refused requests never reach the endpoint.
    """
    if gateway.limit is None:
        return app

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await app(scope, receive, send)
            return
        assert gateway.limit is not None
        if gateway.in_flight >= gateway.limit:
            gateway.rejected += 1
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(_OVERLOADED)).encode())]
            await send({"type": "http.response.start", "status": 429, "headers": headers})
            await send({"type": "http.response.body", "body": _OVERLOADED})
            return
        # Counted before the first await: the check and the increment run in one step of the event loop.
        gateway.in_flight += 1
        try:
            await app(scope, receive, send)
        finally:
            gateway.in_flight -= 1

    return wrapped


def stats_app(app: Any, gateway: Gateway | None = None) -> Any:
    """Wrap an endpoint app: ``GET /_bench/stats`` answers its :class:`EndpointStats` counters.

    With a ``gateway``, other requests go through :func:`reject_past_app` first. ``overloaded`` counts the
    endpoint's own ``429 Overloaded`` answers, ``gateway_overloaded`` those of the gateway (0 without one).
    """
    stats = app.state.stats
    embedder = app.state.embedder
    inner = app if gateway is None else reject_past_app(app, gateway)
    fields = ("requests", "served", "inputs", "overloaded", "max_in_flight", "max_active")

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/_bench/stats":
            counters = {name: getattr(stats, name, None) for name in fields}
            counters["gateway_overloaded"] = gateway.rejected if gateway is not None else 0
            counters["model_calls"] = getattr(embedder, "model_calls", None)  # fewer than requests when coalesced
            body = orjson.dumps(counters)
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
            )
            await send({"type": "http.response.body", "body": body})
            return
        await inner(scope, receive, send)

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
    parser.add_argument(
        "--reject-past",
        type=int,
        default=None,
        help="benchmark-only gateway: 429 Overloaded to a POST arriving while N POSTs are in flight",
    )
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
    if args.reject_past is not None and args.reject_past < 1:
        parser.error(f"--reject-past must be >= 1, got {args.reject_past}")
    gateway = Gateway(args.reject_past)
    with run_in_background(stats_app(app, gateway)) as url:
        print(f"listening on {url}", flush=True)
        sys.stdin.read()  # the parent closes our stdin to stop us


if __name__ == "__main__":
    main()
