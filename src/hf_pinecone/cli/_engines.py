"""``hf-pinecone ingest --engine local|ray|spark``: where the records come from and which engine runs them.

Self-contained so that the data commands call it in a few lines: :func:`resolve_files` turns ``--file`` (one
file, a directory or a glob of parquet/jsonl/csv/txt files) into a file list, :func:`local_source` into what
:func:`hf_pinecone.ingest` reads, and :func:`distributed_ingest` runs the Ray or Spark path on it (or on a
Hugging Face dataset).
"""

from __future__ import annotations

import glob
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from hf_pinecone.errors import ConfigurationError

__all__ = ["ENGINES", "distributed_ingest", "local_source", "resolve_files"]

ENGINES = ("local", "ray", "spark")
_KINDS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "json",
    ".json": "json",
    ".ndjson": "json",
    ".csv": "csv",
    ".txt": "text",
    ".text": "text",
}


def _kind(path: Path) -> str | None:
    suffixes = [s.lower() for s in path.suffixes if s.lower() not in (".gz", ".bz2", ".zst", ".zstd")]
    return _KINDS.get(suffixes[-1]) if suffixes else None


def resolve_files(pattern: Path) -> tuple[str, list[Path]]:
    """The files ``--file`` names (a file, a directory or a glob) and their common kind.

    Raises:
        ConfigurationError: Nothing matches, a file has an unknown type, or the files mix types.
    """
    text = str(pattern.expanduser())
    if any(ch in text for ch in "*?["):
        candidates = [Path(p) for p in sorted(glob.glob(text, recursive=True)) if Path(p).is_file()]
    elif Path(text).is_dir():
        candidates = sorted(p for p in Path(text).rglob("*") if p.is_file() and not p.name.startswith((".", "_")))
    elif Path(text).is_file():
        candidates = [Path(text)]
    else:
        raise ConfigurationError(f"file not found: {text}")
    if not candidates:
        raise ConfigurationError(f"no files match {text}")
    kinds = {_kind(p) for p in candidates}
    if None in kinds:
        bad = next(p for p in candidates if _kind(p) is None)
        raise ConfigurationError(
            f"cannot read {bad}: unknown file type; expected .parquet, .jsonl/.json, .csv or .txt files"
        )
    if len(kinds) > 1:
        names = ", ".join(sorted(k or "" for k in kinds))
        raise ConfigurationError(f"{text} mixes file types ({names}); give files of one type")
    return str(kinds.pop()), candidates


def local_source(pattern: Path) -> Path:
    """What the single-process path reads for ``--file``: the file, or a glob of a directory's files."""
    if Path(pattern).expanduser().is_file():
        return pattern
    _, files = resolve_files(pattern)
    if len(files) == 1:
        return files[0]
    suffix = "".join(files[0].suffixes[-1:])
    if Path(pattern).expanduser().is_dir():
        return Path(pattern).expanduser() / "**" / f"*{suffix}"
    return pattern


def _ray_dataset(kind: str | None, files: list[Path] | None, hf_dataset: Any) -> Any:
    import ray.data

    if hf_dataset is not None:
        return ray.data.from_huggingface(hf_dataset)
    assert files is not None and kind is not None
    paths = [str(p) for p in files]
    if kind == "parquet":
        return ray.data.read_parquet(paths)
    if kind == "json":
        return ray.data.read_json(paths)
    if kind == "csv":
        return ray.data.read_csv(paths)
    # Blank lines separate paragraphs in text files; they are not records (as in the local path).
    return ray.data.read_text(paths).filter(lambda row: bool(str(row["text"]).strip()))


def _spark_frame(session: Any, kind: str | None, files: list[Path] | None, hf_dataset: Any, scratch: Path) -> Any:
    if hf_dataset is not None:
        target = scratch / "dataset.parquet"
        hf_dataset.to_parquet(str(target))
        return session.read.parquet(str(target))
    assert files is not None and kind is not None
    paths = [str(p) for p in files]
    if kind == "parquet":
        return session.read.parquet(*paths)
    if kind == "json":
        return session.read.json(paths)
    if kind == "csv":
        return session.read.option("header", True).csv(paths)
    from pyspark.sql import functions as F

    lines = session.read.text(paths).withColumnRenamed("value", "text")
    return lines.filter(F.length(F.trim(F.col("text"))) > 0)


def _spark_session(workers: int | None) -> Any:
    from pyspark.sql import SparkSession

    # PySpark starts its Python workers with PYSPARK_PYTHON (else `python3` from PATH, which may not have
    # hf-pinecone): this interpreter, unless the user chose one.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("hf-pinecone-ingest")
    active = SparkSession.getActiveSession()
    if active is None and not os.environ.get("SPARK_MASTER"):
        builder = builder.master(f"local[{workers or '*'},4]")
    elif os.environ.get("SPARK_MASTER"):
        builder = builder.master(os.environ["SPARK_MASTER"])
    return builder.getOrCreate()


def distributed_ingest(
    engine: str,
    *,
    file: Path | None,
    hf_dataset: Any,
    workers: int | None,
    limit: int | None,
    errors_path: Path,
    **options: Any,
) -> Any:
    """Run ``hf-pinecone ingest`` on Ray or Spark; ``options`` are :func:`hf_pinecone.ray.ingest`'s.

    Ray joins the cluster at ``RAY_ADDRESS`` (else starts one on this machine); Spark uses the active session,
    else ``SPARK_MASTER``, else ``local[workers]``.

    Raises:
        ConfigurationError: The engine's extra is not installed, or the source is invalid.
    """
    kind, files = resolve_files(file) if file is not None else (None, None)
    try:
        if engine == "ray":
            import hf_pinecone.ray as engine_module
        else:
            import hf_pinecone.spark as engine_module  # type: ignore[no-redef]
    except ImportError as exc:
        raise ConfigurationError(
            f"--engine {engine} needs the {engine!r} extra: pip install 'hf-pinecone[{engine}]' ({exc.name} missing)"
        ) from None
    if engine == "ray":
        import ray

        if not ray.is_initialized():
            ray.init(log_to_driver=False)
        data = _ray_dataset(kind, files, hf_dataset)
        if limit is not None:
            data = data.limit(limit)
        return engine_module.ingest(data, workers=workers, errors_path=errors_path, **options)
    with tempfile.TemporaryDirectory(prefix="hf-pinecone-spark-") as scratch:
        session = _spark_session(workers)
        frame = _spark_frame(session, kind, files, hf_dataset, Path(scratch))
        if limit is not None:
            frame = frame.limit(limit)
        return engine_module.ingest(frame, workers=workers, errors_path=errors_path, **options)


def cli_options(args: dict[str, Any]) -> dict[str, Any]:
    """:func:`distributed_ingest`'s arguments from ``ingest_cmd``'s parameters."""
    hf_dataset = None
    if args["dataset"] is not None:
        import datasets

        try:
            hf_dataset = datasets.load_dataset(args["dataset"], args["config_name"], split=args["split"])
        except Exception as exc:  # offline, unknown name or split: datasets raises many types
            raise ConfigurationError(f"cannot load dataset {args['dataset']!r}: {' '.join(str(exc).split())}") from None
    errors = args["errors_file"]
    # A distributed run writes a parquet dataset (a directory), not the local path's JSONL file.
    errors_path = Path("hf-pinecone-errors") if str(errors) == "hf-pinecone-errors.jsonl" else Path(errors)
    options: dict[str, Any] = {
        "file": args["file"],
        "hf_dataset": hf_dataset,
        "workers": args["workers"],
        "limit": args["limit"],
        "errors_path": errors_path,
        "column": args["column"] or "text",
        "id_column": args["id_column"],
        "metadata_columns": args["metadata_column"] or None,
        "namespace": args["namespace"],
        "index_name": args["index"],
        "endpoint_url": args["endpoint_url"],
        "controller_host": args["controller_host"],
        "force": args["force"],
        "max_concurrency_total": args["concurrency"],
    }
    if args["batch_size"] is not None:
        options["embed_batch_size"] = args["batch_size"]
    return options
