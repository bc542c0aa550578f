"""Wire the endpoint, the index and the store together from :class:`~hf_pinecone.config.Settings`.

The rules are those of :mod:`hf_pinecone.config`: no ``HF_ENDPOINT_URL`` starts the bundled local endpoint in
this process; no ``PINECONE_API_KEY`` and no ``PINECONE_CONTROLLER_HOST`` starts the local Pinecone server in
this process, persisted under ``HF_PINECONE_HOME`` so that ``hf-pinecone ingest`` and a later ``hf-pinecone
query`` see the same data. Local servers are shared within a process (one model load, one lock on the data
directory) and stop when the last user leaves.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import functools
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from hf_pinecone.config import LOCAL_PINECONE_API_KEY, Settings
from hf_pinecone.errors import (
    ConfigurationError,
)

if TYPE_CHECKING:
    from pinecone import Pinecone

    from hf_pinecone._pinecone.control import IndexDescription
    from hf_pinecone.embeddings import InferenceEndpointEmbeddings
    from hf_pinecone.store import PineconeStore
    from hf_pinecone.writer import IndexWriter

__all__ = ["PineconeTarget", "Stack", "from_env", "open_endpoint", "open_pinecone", "open_stack"]

_SETTINGS_FIELDS = frozenset(f.name for f in dataclasses.fields(Settings))


def check_index_name(name: str) -> str:
    """Return ``name`` if Pinecone accepts it as an index name, else raise :class:`ConfigurationError`."""
    from hf_pinecone._pinecone.limits import index_name_problem

    problem = index_name_problem(name)
    if problem is not None:
        raise ConfigurationError(problem)
    return name


# --------------------------------------------------------------------------------------------------- local se
class _Shared:
    """A local server shared by every user in this process, started on first use, stopped after the last."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Any, tuple[str, int, contextlib.ExitStack]] = {}

    @contextlib.contextmanager
    def use(self, key: Any, start: Callable[[contextlib.ExitStack], str]) -> Iterator[str]:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                stack = contextlib.ExitStack()
                try:
                    url = start(stack)
                except BaseException:
                    stack.close()
                    raise
                entry = (url, 0, stack)
            url, users, stack = entry
            self._entries[key] = (url, users + 1, stack)
        try:
            yield url
        finally:
            with self._lock:
                url, users, stack = self._entries[key]
                if users <= 1:
                    del self._entries[key]
                    stack.close()
                else:
                    self._entries[key] = (url, users - 1, stack)

    def close_all(self) -> None:
        with self._lock:
            entries, self._entries = self._entries, {}
        for _, _, stack in entries.values():
            stack.close()


_SERVERS = _Shared()
_PROCESS_STACK = contextlib.ExitStack()  # what from_env() opened: lives until the interpreter exits


@atexit.register
def _close_process_resources() -> None:
    _PROCESS_STACK.close()
    _SERVERS.close_all()


def _start_local_endpoint(stack: contextlib.ExitStack) -> str:
    try:
        from hf_pinecone.local.endpoint_server import serve_endpoint
    except ImportError as exc:
        raise ConfigurationError(
            "HF_ENDPOINT_URL is not set and the local endpoint needs the 'local' extra: "
            f"pip install 'hf-pinecone[local]' ({exc})"
        ) from exc
    url: str = stack.enter_context(serve_endpoint())
    return url


def _lock_data_dir(stack: contextlib.ExitStack, data_dir: Path) -> None:
    """Hold an exclusive lock on the local data directory (released by the OS even on ``kill -9``)."""
    from filelock import FileLock, Timeout

    data_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(data_dir.parent / f"{data_dir.name}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise ConfigurationError(
            f"the local Pinecone data in {data_dir} is in use by another hf-pinecone process; wait for it to "
            f"finish, or share one server: run `hf-pinecone serve pinecone --data-dir {data_dir}` and set "
            "PINECONE_CONTROLLER_HOST to the URL it prints"
        ) from None
    stack.callback(lock.release)


def _start_local_pinecone(data_dir: Path) -> Callable[[contextlib.ExitStack], str]:
    def start(stack: contextlib.ExitStack) -> str:
        try:
            from hf_pinecone.local.pinecone_server import serve_pinecone
        except ImportError as exc:
            raise ConfigurationError(
                "PINECONE_API_KEY is not set and the local Pinecone server needs the 'local' extra: "
                f"pip install 'hf-pinecone[local]' ({exc})"
            ) from exc
        _lock_data_dir(stack, data_dir)
        url: str = stack.enter_context(serve_pinecone(data_dir=data_dir))
        return url

    return start


@contextlib.contextmanager
def open_endpoint(settings: Settings) -> Iterator[str]:
    """Yield the endpoint URL: the configured one, or the local endpoint's (started if needed)."""
    if settings.endpoint_url is not None:
        yield settings.endpoint_url
        return
    with _SERVERS.use("endpoint", _start_local_endpoint) as url:
        yield url


# --------------------------------------------------------------------------------------------------- Pinecone
@dataclass(frozen=True)
class PineconeTarget:
    """Where Pinecone lives: the control plane and the key to reach it.

    Attributes:
        api_key: The API key (``"local"`` for the local server).
        controller_host: Control-plane URL; ``None`` means Pinecone's cloud (https://api.pinecone.io).
        local: True when this process started the local Pinecone server.
        data_dir: Where the local server keeps its data.
    """

    api_key: SecretStr = dataclasses.field(repr=False)
    controller_host: str | None = None
    local: bool = False
    data_dir: Path | None = None

    def client(self) -> Pinecone:
        """A Pinecone SDK client for this target."""
        from pinecone import Pinecone

        return Pinecone(api_key=self.api_key.get_secret_value(), host=self.controller_host)

    @property
    def where(self) -> str:
        """Human-readable location (never contains the key)."""
        if self.local:
            return f"the local Pinecone server (data in {self.data_dir})"
        return self.controller_host or "Pinecone (api.pinecone.io)"

    def describe(self, name: str) -> IndexDescription:
        """Describe an index through the control plane.

        Raises:
            IndexNotFoundError: There is no index of that name.
            PineconeRequestError: Pinecone could not be reached or refused the request (a subclass says which).
        """
        from hf_pinecone._pinecone.control import describe_index

        return describe_index(name, api_key=self.api_key.get_secret_value(), host=self.controller_host)

    def index_host(self, name: str) -> str:
        """The data-plane host (a URL) of an existing index.

        Raises:
            IndexNotFoundError: There is no index of that name.
            PineconeRequestError: Pinecone could not be reached or refused the request.
        """
        return self.describe(name).url

    def stats(self, name: str) -> dict[str, Any]:
        """The index's ``describe_index_stats`` answer.

        Raises:
            IndexNotFoundError: There is no index of that name.
            PineconeRequestError: Pinecone could not be reached or refused the request.
        """
        from hf_pinecone._pinecone.data_plane import DataPlane

        plane = DataPlane(self.index_host(name), self.api_key.get_secret_value())
        try:
            return plane.describe_index_stats()
        finally:
            plane.close()

    def delete_index(self, name: str) -> None:
        """Delete an index.

        Raises:
            IndexNotFoundError: There is no index of that name.
            PineconeRequestError: Pinecone could not be reached or refused the request.
        """
        from hf_pinecone._pinecone.control import delete_index

        delete_index(name, api_key=self.api_key.get_secret_value(), host=self.controller_host)


@contextlib.contextmanager
def open_pinecone(settings: Settings) -> Iterator[PineconeTarget]:
    """Yield where Pinecone lives; starts the persisted local server when no key or controller host is set."""
    if not settings.uses_local_pinecone:
        key = settings.pinecone_api_key or SecretStr(LOCAL_PINECONE_API_KEY)
        yield PineconeTarget(api_key=key, controller_host=settings.controller_host, local=False)
        return
    data_dir = settings.local_pinecone_dir.resolve()
    with _SERVERS.use(("pinecone", data_dir), _start_local_pinecone(data_dir)) as url:
        yield PineconeTarget(
            api_key=SecretStr(LOCAL_PINECONE_API_KEY), controller_host=url, local=True, data_dir=data_dir
        )


# --------------------------------------------------------------------------------------------------- the stac
@dataclass(frozen=True)
class Stack:
    """A ready retrieval stack.

    Attributes:
        settings: The resolved settings.
        embeddings: Embeddings through the Inference Endpoint (or the local one).
        writer: Writes, fetches by id and deletes on the index, without LangChain (what ``ingest`` needs).
        index_name: Name of the index.
        index_host: Data-plane host of the index.
        endpoint_url: URL of the endpoint in use.
        pinecone: Where Pinecone lives.
    """

    settings: Settings
    embeddings: InferenceEndpointEmbeddings
    writer: IndexWriter
    index_name: str
    index_host: str
    endpoint_url: str
    pinecone: PineconeTarget

    @functools.cached_property
    def store(self) -> PineconeStore:
        """The LangChain vector store on the index, built on first access over :attr:`writer`.

        Built lazily because importing LangChain costs about 0.7 s of CPU, which a command that only writes
        (``hf-pinecone ingest``) does not need to pay.
        """
        from hf_pinecone.store import PineconeStore

        return PineconeStore._on_writer(self.writer, self.embeddings)

    @property
    def namespace(self) -> str | None:
        """The Pinecone namespace in use (``None``: the default one)."""
        return self.settings.namespace


def _split_overrides(overrides: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    from hf_pinecone.embeddings import InferenceEndpointEmbeddings

    settings_kw: dict[str, Any] = {}
    embeddings_kw: dict[str, Any] = {}
    embedding_fields = set(InferenceEndpointEmbeddings.model_fields) - {"endpoint_url", "hf_token"}
    for key, value in overrides.items():
        if key in _SETTINGS_FIELDS:
            settings_kw[key] = value
        elif key in embedding_fields:
            if value is not None:
                embeddings_kw[key] = value
        else:
            known = ", ".join(sorted(_SETTINGS_FIELDS | embedding_fields))
            raise ConfigurationError(f"unknown option {key!r}; expected one of: {known}")
    return settings_kw, embeddings_kw


def _resolve_settings(settings: Settings | None, overrides: Mapping[str, Any]) -> Settings:
    if settings is None:
        return Settings.from_env(**overrides)
    clean = {k: v for k, v in overrides.items() if v is not None}
    for key in ("hf_token", "pinecone_api_key"):
        if isinstance(clean.get(key), str):
            clean[key] = SecretStr(clean[key])
    if isinstance(clean.get("home"), str):
        clean["home"] = Path(clean["home"]).expanduser()
    return dataclasses.replace(settings, **clean)


@contextlib.contextmanager
def open_stack(settings: Settings | None = None, *, create_index: bool = True, **overrides: Any) -> Iterator[Stack]:
    """Build the whole stack (endpoint, index, store) and tear down what it started on exit.

    Args:
        settings: Resolved settings; by default :meth:`Settings.from_env`.
        create_index: Create the index when it is missing (dimension probed from the embeddings). When False,
            a missing index raises :class:`~hf_pinecone.errors.IndexNotFoundError`.
        **overrides: :class:`~hf_pinecone.config.Settings` fields (``index_name``, ``namespace``,
            ``endpoint_url``, ``controller_host``, ``home``, ...) and
            :class:`~hf_pinecone.embeddings.InferenceEndpointEmbeddings` options (``batch_size``,
            ``max_concurrency``, ``timeout``, ...). ``None`` values are ignored.

    Yields:
        A :class:`Stack`.

    Raises:
        ConfigurationError: Invalid configuration (unknown option, invalid index name, data directory in use).
        IndexNotFoundError: ``create_index=False`` and the index does not exist.
        IndexMismatchError: The index exists with another dimension than the embeddings'.
    """
    settings_kw, embeddings_kw = _split_overrides(overrides)
    resolved = _resolve_settings(settings, settings_kw)
    check_index_name(resolved.index_name)
    from hf_pinecone._pinecone.control import ensure_index
    from hf_pinecone.embeddings import InferenceEndpointEmbeddings
    from hf_pinecone.writer import IndexWriter

    with contextlib.ExitStack() as resources:
        target = resources.enter_context(open_pinecone(resolved))
        # An unknown index is reported before the (slow) local endpoint is started.
        existing_host = None if create_index else target.index_host(resolved.index_name)
        endpoint_url = resources.enter_context(open_endpoint(resolved))
        embeddings = InferenceEndpointEmbeddings(
            endpoint_url=endpoint_url,
            hf_token=None if resolved.uses_local_endpoint else resolved.hf_token,
            **embeddings_kw,
        )
        resources.callback(embeddings.close)
        if existing_host is not None:
            index_host = existing_host
        else:
            index_host = ensure_index(
                resolved.index_name,
                embeddings=embeddings,
                api_key=target.api_key.get_secret_value(),
                host=target.controller_host,
            )
        writer = IndexWriter(
            host=index_host,
            namespace=resolved.namespace,
            pinecone_api_key=target.api_key.get_secret_value(),
        )
        resources.callback(writer.close)
        yield Stack(
            settings=resolved,
            embeddings=embeddings,
            writer=writer,
            index_name=resolved.index_name,
            index_host=index_host,
            endpoint_url=endpoint_url,
            pinecone=target,
        )


def from_env(**overrides: Any) -> PineconeStore:
    """Build the store (and through it the retriever) from the environment and ``overrides``.

    Same rules as the CLI (see :mod:`hf_pinecone.config`): without ``HF_ENDPOINT_URL`` the bundled local
    endpoint is started, and without ``PINECONE_API_KEY``/``PINECONE_CONTROLLER_HOST`` the local Pinecone
    server persisted under ``HF_PINECONE_HOME``; servers started here live until the process exits. The index
    is created if missing.

    Args:
        **overrides: :class:`~hf_pinecone.config.Settings` fields (``index_name``, ``namespace``,
            ``endpoint_url``, ``hf_token``, ``pinecone_api_key``, ``controller_host``, ``home``) and
            :class:`~hf_pinecone.embeddings.InferenceEndpointEmbeddings` options (``batch_size``, ...), plus
            ``create_index`` (default True).

    Returns:
        A ready :class:`~hf_pinecone.store.PineconeStore`; ``store.embeddings`` is the
        :class:`~hf_pinecone.embeddings.InferenceEndpointEmbeddings`.

    Example:
        >>> store = hf_pinecone.from_env(index_name="docs")  # doctest: +SKIP
        >>> store.as_retriever(search_kwargs={"k": 5}).invoke("a man playing guitar")  # doctest: +SKIP
    """
    create_index = bool(overrides.pop("create_index", True))
    # Entered on the process-wide stack: the servers and the embeddings' clients stay up for later calls.
    stack = _PROCESS_STACK.enter_context(open_stack(create_index=create_index, **overrides))
    return stack.store
