"""The public API: every name `hf_pinecone` exports resolves to the object it names, whatever was imported first."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import types

import hf_pinecone


def test_exports_are_objects_not_submodules_after_every_submodule_is_imported() -> None:
    # Importing a submodule binds it as an attribute of the package; an exported function with the same name as a
    # module would then be shadowed (``from hf_pinecone import ingest`` returning a module).
    for module in pkgutil.walk_packages(hf_pinecone.__path__, "hf_pinecone."):
        if module.name.startswith("hf_pinecone.cli") or module.name == "hf_pinecone.testing":
            continue
        # The distributed engines are extras (ray, spark): without them their modules refuse to import.
        needs = {"hf_pinecone.ray": "ray", "hf_pinecone.spark": "pyspark"}.get(module.name)
        if needs is not None and importlib.util.find_spec(needs) is None:
            continue
        importlib.import_module(module.name)
    for name in hf_pinecone.__all__:
        value = getattr(hf_pinecone, name)
        assert not isinstance(value, types.ModuleType), f"hf_pinecone.{name} is a module, not the exported object"
    assert callable(hf_pinecone.ingest) and callable(hf_pinecone.aingest)
    from hf_pinecone import ingest

    assert ingest is hf_pinecone.ingestion.ingest


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        hf_pinecone.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")
