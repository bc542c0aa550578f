"""LangChain's standard embeddings suites (langchain-tests) for InferenceEndpointEmbeddings.

The integration suite runs against the real local endpoint server (bundled all-MiniLM-L6-v2) over loopback.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from hf_pinecone import InferenceEndpointEmbeddings


class TestInferenceEndpointEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[InferenceEndpointEmbeddings]:
        return InferenceEndpointEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        # Nothing listens on port 9: the unit suite must never reach the network.
        return {"endpoint_url": "http://127.0.0.1:9", "batch_size": 16}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return (
            {"HF_ENDPOINT_URL": "https://xyz.endpoints.huggingface.cloud", "HF_TOKEN": "hf_fromenvironment0"},
            {"batch_size": 8},
            {"endpoint_url": "https://xyz.endpoints.huggingface.cloud", "hf_token": "hf_fromenvironment0"},
        )


class TestInferenceEndpointEmbeddingsIntegration(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[InferenceEndpointEmbeddings]:
        return InferenceEndpointEmbeddings

    @pytest.fixture
    def model(self, endpoint_url: str) -> InferenceEndpointEmbeddings:
        return InferenceEndpointEmbeddings(endpoint_url=endpoint_url)
