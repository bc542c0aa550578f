"""Benchmarks of hf-pinecone against the tutorial's code and the LangChain peer path.

Run every scenario and write ``BENCHMARKS.md``::

    python -m benchmarks.run            # full run (~15 min on 2 cores)
    python -m benchmarks.run --quick    # small sizes, one repetition (~1-2 min)

Servers (the local endpoint, the local Pinecone server) run in their own processes, so that the client being
measured does not share a GIL with them, as with a real remote endpoint and index.
"""
