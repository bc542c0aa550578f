"""``hf-pinecone endpoint create|status|wait|pause|resume|scale-to-zero|delete``: endpoint lifecycle.

Every command takes ``--namespace`` (default: the token's user), ``--token`` (default: ``HF_TOKEN``, then
``HUGGINGFACEHUB_API_TOKEN``, then the ``hf auth login`` token) and ``--json`` (one JSON object on stdout
instead of one human line). ``--api-url`` / ``HF_PINECONE_ENDPOINTS_API`` points at another management API
than Hugging Face's (e.g. the local stand-in of ``hf-pinecone serve hf-api``, ``http://127.0.0.1:PORT/v2``,
which also answers ``whoami``: that one variable is enough). The hidden ``--hub-url`` / ``HF_ENDPOINT`` points
``whoami`` (used when ``--namespace`` is not given) at another Hub. Errors print one line on stderr and exit
1; the token never appears.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
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


_SHARED_OPTIONS = [
    inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=annotation)
    for name, annotation, default in (
        ("namespace", NamespaceOpt, None),
        ("token", TokenOpt, None),
        ("api_url", ApiUrlOpt, None),
        ("hub_url", HubUrlOpt, None),
        ("as_json", JsonOpt, False),
    )
]


@dataclass(frozen=True)
class _Shared:
    """The options every command takes (see the module docstring), and how a command runs and prints."""

    namespace: str | None
    token: str | None
    api_url: str | None
    hub_url: str | None
    as_json: bool

    def run(self, action: Callable[[], T]) -> T:
        """Run ``action`` against the chosen API; expected errors become one stderr line and exit 1."""
        api = (
            lifecycle.use_management_api(self.api_url, hub_url=self.hub_url)
            if self.api_url
            else contextlib.nullcontext()
        )
        try:
            with api:
                return action()
        except HfPineconeError as exc:
            typer.echo(f"error: {redact(str(exc), [self.token])}", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    def show(
        self, action: Callable[[], lifecycle.EndpointInfo], human: Callable[[lifecycle.EndpointInfo], str]
    ) -> None:
        """Run ``action`` and print the endpoint it returns: one JSON object with ``--json``, else ``human``."""
        info = self.run(action)
        typer.echo(json.dumps(info.to_dict(), sort_keys=True) if self.as_json else human(info))


def _command(name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register ``fn(opts, <own options>)`` as command ``name``, taking the shared options after its own.

    Typer reads a command's options from its signature, so the shared ones are appended to it here rather
    than repeated in every command.
    """

    def register(fn: Callable[..., None]) -> Callable[..., None]:
        own = list(inspect.signature(fn, eval_str=True).parameters.values())[1:]

        @functools.wraps(fn)
        def command(**options: Any) -> None:
            opts = _Shared(**{param.name: options.pop(param.name) for param in _SHARED_OPTIONS})
            fn(opts, **options)

        command.__signature__ = inspect.Signature([*own, *_SHARED_OPTIONS])  # type: ignore[attr-defined]
        app.command(name)(command)
        return fn

    return register


def _label(info: lifecycle.EndpointInfo) -> str:
    return f"{info.namespace}/{info.name}"


def _where(info: lifecycle.EndpointInfo) -> str:
    return f" at {info.url}" if info.url else ""


def _state_line(info: lifecycle.EndpointInfo) -> str:
    return f"endpoint {_label(info)} is {info.status}"


@_command("create")
def create_cmd(
    opts: _Shared,
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
) -> None:
    """Create an embeddings endpoint (reused if it already exists) and wait until it runs."""
    if engine not in ("toolkit", "tei"):
        typer.echo(f"error: --engine must be 'toolkit' or 'tei', got {engine!r}", err=True)
        raise typer.Exit(2)

    def human(info: lifecycle.EndpointInfo) -> str:
        if info.running:
            return f"endpoint {_label(info)} is running at {info.url}"
        return (
            f"{_state_line(info)}; "
            f"`hf-pinecone endpoint wait {info.name} --namespace {info.namespace}` waits until it runs"
        )

    opts.show(
        lambda: lifecycle.ensure_endpoint(
            name,
            repository=repository,
            namespace=opts.namespace,
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
            token=opts.token,
            wait=wait,
            timeout=timeout,
            refresh_every=poll_interval,
        ),
        human,
    )


@_command("status")
def status_cmd(opts: _Shared, name: NameArg) -> None:
    """Show the endpoint's state and URL."""
    opts.show(
        lambda: lifecycle.endpoint_status(name, namespace=opts.namespace, token=opts.token),
        lambda info: f"{_state_line(info)}{_where(info)} (model {info.repository})",
    )


@_command("wait")
def wait_cmd(
    opts: _Shared,
    name: NameArg,
    timeout: TimeoutOpt = 1800.0,
    poll_interval: PollOpt = 5.0,
    wake: Annotated[
        bool, typer.Option("--wake/--no-wake", help="Wake a scaled-to-zero endpoint with a request.")
    ] = True,
) -> None:
    """Wait until the endpoint is running and healthy (fails at once if it is paused or failed)."""
    opts.show(
        lambda: lifecycle.wait_for_endpoint(
            name, namespace=opts.namespace, token=opts.token, timeout=timeout, refresh_every=poll_interval, wake=wake
        ),
        lambda info: f"endpoint {_label(info)} is running at {info.url}",
    )


@_command("pause")
def pause_cmd(opts: _Shared, name: NameArg) -> None:
    """Pause the endpoint (no cost; `resume` restarts it)."""
    opts.show(
        lambda: lifecycle.pause_endpoint(name, namespace=opts.namespace, token=opts.token), _state_line
    )


@_command("resume")
def resume_cmd(
    opts: _Shared,
    name: NameArg,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until it is running.")] = True,
    timeout: TimeoutOpt = 1800.0,
    poll_interval: PollOpt = 5.0,
) -> None:
    """Resume a paused or scaled-to-zero endpoint (a running one is left alone)."""
    opts.show(
        lambda: lifecycle.resume_endpoint(
            name, namespace=opts.namespace, token=opts.token, wait=wait, timeout=timeout, refresh_every=poll_interval
        ),
        lambda info: f"{_state_line(info)}{_where(info)}",
    )


@_command("scale-to-zero")
def scale_to_zero_cmd(opts: _Shared, name: NameArg) -> None:
    """Scale the endpoint to zero replicas (no cost; the next request wakes it after a cold start)."""
    opts.show(
        lambda: lifecycle.scale_endpoint_to_zero(name, namespace=opts.namespace, token=opts.token),
        _state_line,
    )


@_command("delete")
def delete_cmd(
    opts: _Shared,
    name: NameArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    missing_ok: Annotated[bool, typer.Option("--missing-ok", help="Succeed if it does not exist.")] = False,
) -> None:
    """Delete the endpoint (irreversible)."""
    namespace = opts.namespace
    where = f"{namespace}/{name}" if namespace else name
    if not yes and not typer.confirm(
        f"Delete Inference Endpoint {where}? This cannot be undone", default=False
    ):
        typer.echo("aborted", err=True)
        raise typer.Exit(1)
    deleted = opts.run(
        lambda: lifecycle.delete_endpoint(name, namespace=namespace, token=opts.token, missing_ok=missing_ok)
    )
    if opts.as_json:
        typer.echo(json.dumps({"name": name, "namespace": namespace, "deleted": deleted}, sort_keys=True))
    else:
        typer.echo(
            f"deleted endpoint {where}" if deleted else f"endpoint {where} does not exist; nothing to delete"
        )
