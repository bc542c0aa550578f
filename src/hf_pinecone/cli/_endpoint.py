"""``hf-pinecone endpoint create|status|wait|pause|resume|scale-to-zero|delete``: endpoint lifecycle.

Every command takes ``--namespace`` (default: the token's user), ``--token`` (default: ``HF_TOKEN``, then
``HUGGINGFACEHUB_API_TOKEN``, then the ``hf auth login`` token) and ``--json`` (one JSON object on stdout
instead of one human line). ``--api-url`` / ``HF_PINECONE_ENDPOINTS_API`` points at another management API
than Hugging Face's (e.g. the local stand-in, ``http://127.0.0.1:PORT/v2``), and ``--hub-url`` /
``HF_ENDPOINT`` at another Hub for ``whoami`` (used when ``--namespace`` is not given). Errors print one line
on stderr and exit 1; the token never appears.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Annotated, Any, TypeVar

import typer

from hf_pinecone import lifecycle
from hf_pinecone.errors import HfPineconeError, redact

app = typer.Typer(no_args_is_help=True)

T = TypeVar("T")

NameArg = Annotated[
    str, typer.Argument(help="Endpoint name (lowercase letters, digits and '-', at most 32).")
]
NamespaceOpt = Annotated[
    str | None,
    typer.Option("--namespace", "-n", help="User or organization owning the endpoint (default: you)."),
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token",
        help="Hugging Face token (default: HF_TOKEN, HUGGINGFACEHUB_API_TOKEN, then `hf auth login`).",
        envvar=["HF_TOKEN", "HUGGINGFACEHUB_API_TOKEN"],
        show_envvar=False,
        show_default=False,
    ),
]
ApiUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--api-url",
        help="Management API base URL (default: Hugging Face's). For a local stand-in: http://127.0.0.1:PORT/v2.",
        envvar=lifecycle.MANAGEMENT_API_ENV,
    ),
]
HubUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--hub-url", help="Hub base URL used to look up your user name.", envvar="HF_ENDPOINT", hidden=True
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a human line.")]
TimeoutOpt = Annotated[
    float, typer.Option("--timeout", help="Seconds to wait for the endpoint to run.", min=0)
]
PollOpt = Annotated[float, typer.Option("--poll-interval", help="Seconds between status polls.", min=0.001)]


@contextlib.contextmanager
def _session(api_url: str | None, hub_url: str | None, token: str | None) -> Iterator[None]:
    """Point huggingface_hub at ``api_url`` if given, and turn expected errors into one line + exit 1."""
    try:
        with contextlib.ExitStack() as stack:
            if api_url:
                stack.enter_context(lifecycle.use_management_api(api_url, hub_url=hub_url))
            yield
    except HfPineconeError as exc:
        typer.echo(f"error: {redact(str(exc), [token])}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from None


def _run(api_url: str | None, hub_url: str | None, token: str | None, fn: Callable[[], T]) -> T:
    with _session(api_url, hub_url, token):
        return fn()
    raise AssertionError("unreachable")  # pragma: no cover - _session re-raises as typer.Exit


def _label(info: lifecycle.EndpointInfo) -> str:
    return f"{info.namespace}/{info.name}"


def _emit(info: lifecycle.EndpointInfo, as_json: bool, human: str, **extra: Any) -> None:
    if as_json:
        typer.echo(json.dumps({**info.to_dict(), **extra}, sort_keys=True))
    else:
        typer.echo(human)


def _where(info: lifecycle.EndpointInfo) -> str:
    return f" at {info.url}" if info.url else ""


@app.command("create")
def create_cmd(
    name: NameArg,
    repository: Annotated[
        str,
        typer.Option(
            "--repository", "-r", help="Model repository, e.g. sentence-transformers/all-MiniLM-L6-v2."
        ),
    ],
    task: Annotated[str, typer.Option(help="Inference toolkit task.")] = lifecycle.DEFAULT_TASK,
    framework: Annotated[str, typer.Option(help="Model framework.")] = "pytorch",
    accelerator: Annotated[str, typer.Option(help="cpu or gpu.")] = "cpu",
    vendor: Annotated[str, typer.Option(help="Cloud vendor.")] = "aws",
    region: Annotated[str, typer.Option(help="Cloud region.")] = "us-east-1",
    instance_type: Annotated[str, typer.Option(help="Instance type.")] = lifecycle.DEFAULT_INSTANCE_TYPE,
    instance_size: Annotated[str, typer.Option(help="Instance size.")] = lifecycle.DEFAULT_INSTANCE_SIZE,
    max_replica: Annotated[int, typer.Option(help="Maximum replicas.", min=1)] = 1,
    scale_to_zero_timeout: Annotated[
        int, typer.Option(help="Minutes idle before scaling to zero; 0 keeps one replica up.", min=0)
    ] = 15,
    endpoint_type: Annotated[
        str, typer.Option("--type", help="authenticated (token required), public or private.")
    ] = "authenticated",
    engine: Annotated[
        str, typer.Option(help="toolkit (Hugging Face's image) or tei (text-embeddings-inference).")
    ] = ("toolkit"),
    image: Annotated[
        str | None, typer.Option(help="Container image overriding the engine's default.")
    ] = None,
    revision: Annotated[str | None, typer.Option(help="Model revision to pin.")] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until it is running.")] = True,
    timeout: TimeoutOpt = 1800.0,
    poll_interval: PollOpt = 5.0,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    api_url: ApiUrlOpt = None,
    hub_url: HubUrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an embeddings endpoint (reused if it already exists) and wait until it runs."""
    if engine not in ("toolkit", "tei"):
        typer.echo(f"error: --engine must be 'toolkit' or 'tei', got {engine!r}", err=True)
        raise typer.Exit(2)
    info = _run(
        api_url,
        hub_url,
        token,
        lambda: lifecycle.ensure_endpoint(
            name,
            repository=repository,
            namespace=namespace,
            task=task,
            framework=framework,
            accelerator=accelerator,
            vendor=vendor,
            region=region,
            instance_type=instance_type,
            instance_size=instance_size,
            max_replica=max_replica,
            scale_to_zero_timeout=scale_to_zero_timeout or None,
            endpoint_type=endpoint_type,
            engine="tei" if engine == "tei" else "toolkit",
            image=image,
            revision=revision,
            token=token,
            wait=wait,
            timeout=timeout,
            refresh_every=poll_interval,
        ),
    )
    if info.running:
        human = f"endpoint {_label(info)} is running at {info.url}"
    else:
        human = (
            f"endpoint {_label(info)} is {info.status}; "
            f"`hf-pinecone endpoint wait {info.name} --namespace {info.namespace}` waits until it runs"
        )
    _emit(info, as_json, human)


@app.command("status")
def status_cmd(
    name: NameArg,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    api_url: ApiUrlOpt = None,
    hub_url: HubUrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the endpoint's state and URL."""
    info = _run(
        api_url, hub_url, token, lambda: lifecycle.endpoint_status(name, namespace=namespace, token=token)
    )
    _emit(info, as_json, f"endpoint {_label(info)} is {info.status}{_where(info)} (model {info.repository})")


@app.command("wait")
def wait_cmd(
    name: NameArg,
    timeout: TimeoutOpt = 1800.0,
    poll_interval: PollOpt = 5.0,
    wake: Annotated[
        bool, typer.Option("--wake/--no-wake", help="Wake a scaled-to-zero endpoint with a request.")
    ] = True,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    api_url: ApiUrlOpt = None,
    hub_url: HubUrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Wait until the endpoint is running and healthy (fails at once if it is paused or failed)."""
    info = _run(
        api_url,
        hub_url,
        token,
        lambda: lifecycle.wait_for_endpoint(
            name, namespace=namespace, token=token, timeout=timeout, refresh_every=poll_interval, wake=wake
        ),
    )
    _emit(info, as_json, f"endpoint {_label(info)} is running at {info.url}")


@app.command("pause")
def pause_cmd(
    name: NameArg,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    api_url: ApiUrlOpt = None,
    hub_url: HubUrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Pause the endpoint (no cost; `resume` restarts it)."""
    info = _run(
        api_url, hub_url, token, lambda: lifecycle.pause_endpoint(name, namespace=namespace, token=token)
    )
    _emit(info, as_json, f"endpoint {_label(info)} is {info.status}")


@app.command("resume")
def resume_cmd(
    name: NameArg,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until it is running.")] = True,
    timeout: TimeoutOpt = 1800.0,
    poll_interval: PollOpt = 5.0,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    api_url: ApiUrlOpt = None,
    hub_url: HubUrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Resume a paused or scaled-to-zero endpoint (a running one is left alone)."""
    info = _run(
        api_url,
        hub_url,
        token,
        lambda: lifecycle.resume_endpoint(
            name, namespace=namespace, token=token, wait=wait, timeout=timeout, refresh_every=poll_interval
        ),
    )
    _emit(info, as_json, f"endpoint {_label(info)} is {info.status}{_where(info)}")


@app.command("scale-to-zero")
def scale_to_zero_cmd(
    name: NameArg,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    api_url: ApiUrlOpt = None,
    hub_url: HubUrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Scale the endpoint to zero replicas (no cost; the next request wakes it after a cold start)."""
    info = _run(
        api_url,
        hub_url,
        token,
        lambda: lifecycle.scale_endpoint_to_zero(name, namespace=namespace, token=token),
    )
    _emit(info, as_json, f"endpoint {_label(info)} is {info.status}")


@app.command("delete")
def delete_cmd(
    name: NameArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    missing_ok: Annotated[bool, typer.Option("--missing-ok", help="Succeed if it does not exist.")] = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    api_url: ApiUrlOpt = None,
    hub_url: HubUrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete the endpoint (irreversible)."""
    where = f"{namespace}/{name}" if namespace else name
    if not yes and not typer.confirm(
        f"Delete Inference Endpoint {where}? This cannot be undone", default=False
    ):
        typer.echo("aborted", err=True)
        raise typer.Exit(1)
    deleted = _run(
        api_url,
        hub_url,
        token,
        lambda: lifecycle.delete_endpoint(name, namespace=namespace, token=token, missing_ok=missing_ok),
    )
    if as_json:
        typer.echo(json.dumps({"name": name, "namespace": namespace, "deleted": deleted}, sort_keys=True))
    else:
        typer.echo(
            f"deleted endpoint {where}" if deleted else f"endpoint {where} does not exist; nothing to delete"
        )
