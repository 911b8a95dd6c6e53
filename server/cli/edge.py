"""The Edge Agent from the command line: `edge serve` on its own, and the agent beside `serve --edge`."""

from __future__ import annotations

import argparse
import contextlib
import logging
import logging.config
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

from server.cli.logs import logging_config
from server.settings import Settings

if TYPE_CHECKING:
    from server.backend.assembly import Backend
    from server.edge.components import Catalog
    from server.edge.service import EdgeServer

EDGE_READY_LINE = "lookoutvision-emulator edge agent ready on {addresses}"
MISSING_GRPC = "the Edge Agent needs grpcio: pip install grpcio (or reinstall lookoutvision-emulator)"

log = logging.getLogger("lookoutvision_emulator.edge")


def edge_command(args: argparse.Namespace) -> int:
    if args.edge_command != "serve":
        print("lookoutvision-emulator edge: give a subcommand: serve", file=sys.stderr)
        return 2
    return edge_serve(args)


def edge_serve(args: argparse.Namespace) -> int:
    """`edge serve --models DIR|s3://... | --demo`: the agent alone, until Ctrl-C or SIGTERM."""
    names = ("edge_socket", "edge_tcp", "device", "log_level", "s3_endpoint_url", "region")
    try:
        settings = Settings.load(**{name: getattr(args, name) for name in names}, in_memory=True)
    except ValueError as error:
        print(f"lookoutvision-emulator: {error}", file=sys.stderr)
        return 2
    if not args.models and not args.demo:
        print("lookoutvision-emulator edge serve: give --models DIR (or s3://BUCKET/PREFIX) or --demo",
              file=sys.stderr)  # fmt: skip
        return 2
    logging.config.dictConfig(logging_config(settings.log_level))
    try:
        import grpc  # noqa: F401
    except ImportError:
        print(f"lookoutvision-emulator: {MISSING_GRPC}", file=sys.stderr)
        return 1
    scratch = None
    try:
        catalog, scratch = _catalog(args, settings)
    except (OSError, ValueError) as error:
        print(f"lookoutvision-emulator edge serve: {error}", file=sys.stderr)
        return 1
    try:
        server = start_agent(settings, catalog)
        if server is None:
            return 1
        stopped = threading.Event()
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, lambda *_: stopped.set())
        with contextlib.suppress(KeyboardInterrupt):
            stopped.wait()
        log.info("edge agent stopping")
        server.stop()
        return 0
    finally:
        if scratch is not None:
            scratch.cleanup()


def _catalog(args: argparse.Namespace, settings: Settings) -> tuple[Catalog, Any]:
    from pathlib import Path

    from server.edge.components import demo_catalog, folder_catalog, read_folder, s3_catalog

    if args.demo:
        from server.backend.scope import Scope
        from server.demo import demo_dir

        return demo_catalog(demo_dir(settings.demo_dir), Scope(settings.account, settings.region)), None
    source = str(args.models)
    if source.startswith("s3://"):
        from server.s3.client import S3, S3Error, S3Limits

        limits = S3Limits(settings.s3_connect_timeout, settings.s3_read_timeout, settings.s3_max_attempts)
        client = S3(settings.s3_endpoint_url or None, limits).client(settings.region)
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return s3_catalog(source, client)
        except (BotoCoreError, ClientError, S3Error) as error:
            raise ValueError(f"cannot read {source}: {error}") from None
    folder = Path(source).expanduser()
    if not folder.is_dir():
        raise ValueError(f"--models {source} is not a folder")
    if not read_folder(folder):
        log.warning("no model components in %s yet (each is a folder with model.onnx and model.json)", folder)
    return folder_catalog(folder), None


def start_agent(settings: Settings, catalog: Catalog) -> EdgeServer | None:
    """Start the agent's gRPC server and print its ready line; None (after saying why) if it cannot."""
    try:
        from server.edge.agent import EdgeAgent, EdgeSettings
        from server.edge.service import EdgeServer, EdgeStartError
    except ImportError:
        print(f"lookoutvision-emulator: {MISSING_GRPC}", file=sys.stderr)
        return None
    agent = EdgeAgent(
        catalog,
        EdgeSettings(
            device=settings.device,
            threads=settings.inference_threads,
            queue_per_unit=settings.queue_per_unit,
            max_running=settings.edge_max_running,
        ),
    )
    server = EdgeServer(agent, settings.edge_socket or None, settings.edge_tcp)
    try:
        server.start()
    except EdgeStartError as error:
        agent.close()
        print(f"lookoutvision-emulator: edge agent: {error}", file=sys.stderr)
        return None
    models = ", ".join(state.name for state in agent.list()) or "none yet"
    log.info("edge agent model components: %s", models)
    print(EDGE_READY_LINE.format(addresses=" ".join(server.addresses)), flush=True)
    return server


def start_beside(settings: Settings, backend: Backend) -> EdgeServer | None:
    """`serve --edge`: the agent in this process, with the server's models as components named
    <project>-<version> (the demo's are demo-1 and demo-2)."""
    from server.backend.scope import Scope

    try:
        from server.edge.components import backend_catalog
    except ImportError:
        print(f"lookoutvision-emulator: {MISSING_GRPC}", file=sys.stderr)
        return None
    return start_agent(settings, backend_catalog(backend, Scope(settings.account, settings.region)))


def add_edge_parser(commands: Any, options: dict[str, Any], help_for: Any) -> None:
    """`edge serve`: flags named and documented as `serve`'s settings are."""
    parser = commands.add_parser(
        "edge",
        help="run the Lookout for Vision Edge Agent gRPC API on its own",
        description="The Edge Agent API (DetectAnomalies, StartModel, StopModel, DescribeModel, ListModels "
        "over gRPC) serving packaged model components.",
    )
    edge_commands = parser.add_subparsers(dest="edge_command", metavar="COMMAND")
    serve = edge_commands.add_parser(
        "serve",
        help="serve model components until stopped",
        description="Serves the model components in --models (folders written by StartModelPackagingJob, "
        "<ComponentName>/<ComponentVersion>/ with model.onnx, model.json and recipe.json, on disk or under "
        "an s3:// prefix; a plain bundle folder counts as a component named after it), or the demo models "
        "(--demo: demo-1, demo-2), until stopped with Ctrl-C or SIGTERM.",
    )
    source = serve.add_mutually_exclusive_group()
    source.add_argument("--models", metavar="DIR|s3://BUCKET/PREFIX", help="where the model components are")
    source.add_argument("--demo", action="store_true", help="serve the shipped demo models as demo-1, demo-2")
    for name in ("edge_socket", "edge_tcp", "device", "log_level", "s3_endpoint_url", "region"):
        option = options[name]
        kwargs: dict[str, Any] = {"dest": name, "help": help_for(option)}
        if option.choices:
            kwargs.update(choices=option.choices)
        serve.add_argument("--" + name.replace("_", "-"), **kwargs)
