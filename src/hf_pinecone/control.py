"""Pinecone's control plane, public: describe, list, create (:func:`ensure_index`) and delete indexes.

Every function sends its requests through one retry layer and raises only :mod:`hf_pinecone.errors` types
(:class:`~hf_pinecone.errors.PineconeAuthError`, :class:`~hf_pinecone.errors.IndexNotFoundError`,
:class:`~hf_pinecone.errors.PineconeUnavailableError`, ...). The control-plane URL is ``host=``, else
``PINECONE_CONTROLLER_HOST``, else Pinecone's cloud.
"""

from hf_pinecone._pinecone.control import (
    IndexDescription,
    adescribe_index,
    check_index_args,
    controller_url,
    delete_index,
    describe_index,
    embedding_dimension,
    ensure_index,
    list_indexes,
)

__all__ = [
    "IndexDescription",
    "adescribe_index",
    "check_index_args",
    "controller_url",
    "delete_index",
    "describe_index",
    "embedding_dimension",
    "ensure_index",
    "list_indexes",
]
