"""The Pinecone side, one concept per module (the endpoint side's shape: a sans-IO core, thin transports).

- :mod:`.limits`: every Pinecone limit, id and name rule, metric and the API version, defined once.
- :mod:`.records`: pure record planning: the one metadata check and size rule, vectors, upsert batches.
- :mod:`.protocol`: sans-IO requests and answers of the control and data planes, and the one translator of
  HTTP answers and transport failures into :mod:`hf_pinecone.errors`.
- :mod:`.transport`: the sync and async HTTP transports over httpx2, each with exactly one retry loop.
- :mod:`.control`: ``ensure_index``, index description, creation, deletion, dimension discovery.

:class:`hf_pinecone.store.PineconeStore` is the LangChain face of all of it.
"""
