"""The `lookoutvision-emulator` command."""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from collections.abc import Sequence

from server import __version__
from server.settings import AUTH_MODES, DEVICES, Settings
from server.spec import data_path

READY_LINE = "lookoutvision-emulator ready on {url}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "data-path":
        print(data_path())
        return 0
    if args.command == "serve":
        return serve(args)
    if args.command == "train":
        from server.cli.train import train_command

        return train_command(args)
    if args.command == "import-model":
        from server.cli.import_model import import_model_command

        return import_model_command(args)
    parser.print_help()
    return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lookoutvision-emulator",
        description="A local Amazon Lookout for Vision: the L4V API, served on your machine.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command")
    serve_parser = commands.add_parser("serve", help="run the server")
    serve_parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve_parser.add_argument("--port", type=int, help="port to listen on; 0 picks a free one (default 5055)")
    serve_parser.add_argument("--data-dir", help="where state is kept (default: a per-user folder)")
    serve_parser.add_argument(
        "--in-memory", action="store_true", default=None, help="keep nothing on disk (throwaway runs)"
    )
    serve_parser.add_argument(
        "--region", help="region for requests without a SigV4 scope (default us-east-1)"
    )
    serve_parser.add_argument("--device", choices=DEVICES, help="where models run (default cpu)")
    serve_parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    serve_parser.add_argument("--access-log", action="store_true", default=None, help="log every request")
    serve_parser.add_argument(
        "--demo", action="store_true", default=None, help="create project 'demo' with its two models hosted"
    )
    serve_parser.add_argument(
        "--fixture-mode",
        action="store_true",
        default=None,
        help="for tests: state changes (hosting, stopping, packaging) complete before the call returns",
    )
    serve_parser.add_argument(
        "--s3-endpoint-url", help="S3-compatible endpoint (default: boto3's configuration)"
    )
    serve_parser.add_argument("--dataset-root", help="a folder whose manifests and images datasets may read")
    serve_parser.add_argument(
        "--auth",
        choices=AUTH_MODES,
        help="sigv4: L4V calls must be signed with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY of this "
        "environment or a key of --credentials-file (default none)",
    )
    serve_parser.add_argument(
        "--credentials-file", help="a file of ACCESS_KEY:SECRET lines whose keys may sign calls (# comments)"
    )
    commands.add_parser("data-path", help="print the folder to put on AWS_DATA_PATH")
    _import_parser(commands)
    trainer = commands.add_parser("train", help="train a model from folders of normal and anomalous images")
    trainer.add_argument("--project", required=True, help="project name (created if missing)")
    trainer.add_argument("--normal", required=True, help="folder of normal images (PNG or JPEG)")
    trainer.add_argument("--anomaly", required=True, help="folder of anomalous images")
    trainer.add_argument(
        "--masks",
        help="folder of masks, one per anomalous image with the same name (any of .png, .jpg, .jpeg): "
        "white background, each anomaly class in its colour; makes a segmentation model",
    )
    trainer.add_argument(
        "--class",
        dest="classes",
        action="append",
        default=[],
        metavar="NAME=#RRGGBB",
        help="the anomaly class a mask colour stands for (repeat for each colour in the masks)",
    )
    trainer.add_argument("--description", help="the model version's Description")
    trainer.add_argument("--data-dir", help="data directory to write to (default: the server's default)")
    trainer.add_argument("--region", help="region of the project (default us-east-1)")
    trainer.add_argument("--account", help="account id of the project (default 123456789012)")
    return parser


def serve(args: argparse.Namespace) -> int:
    try:
        settings = Settings.load(
            host=args.host,
            port=args.port,
            data_dir=args.data_dir,
            in_memory=args.in_memory,
            region=args.region,
            device=args.device,
            log_level=args.log_level,
            access_log=args.access_log,
            demo=args.demo,
            fixture_mode=args.fixture_mode,
            s3_endpoint_url=args.s3_endpoint_url,
            dataset_root=args.dataset_root,
            auth=args.auth,
            credentials_file=args.credentials_file,
        )
    except ValueError as error:
        print(f"lookoutvision-emulator: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    keys = settings.signing_keys()
    if keys:  # say so, so that an operator can see the port is not open to everyone
        logging.getLogger("lookoutvision_emulator").info(
            "SigV4 signatures required: %d access keys", len(keys)
        )
    try:
        listener = _listen(settings.host, settings.port)
    except OSError as error:
        print(
            f"lookoutvision-emulator: cannot listen on {settings.host}:{settings.port}: {error}",
            file=sys.stderr,
        )
        return 1

    # Imported here so `data-path` and `--help` stay instant.
    import uvicorn

    from server.app import create_app
    from server.slow_clients import head_deadline_protocol

    try:
        app = create_app(settings)
    except Exception as error:  # a broken data directory must say why, not dump a traceback
        print(f"lookoutvision-emulator: cannot open the data directory: {error}", file=sys.stderr)
        return 1
    host, port = listener.getsockname()[:2]
    url = f"http://{_url_host(host)}:{port}"
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level=settings.log_level,
        access_log=settings.access_log,
        lifespan="on",
        # Bounds on what a client can hold: idle connections close, and shutdown does not wait forever
        # for them. The header limit applies where uvicorn offers one (its h11 parser).
        timeout_keep_alive=settings.keep_alive_timeout,
        timeout_graceful_shutdown=10,
        h11_max_incomplete_event_size=settings.max_header_bytes,
        http=head_deadline_protocol(settings.header_timeout),  # slow request heads are cut off
    )
    _announcing_server(config, READY_LINE.format(url=url)).run(sockets=[listener])
    return 0


def _import_parser(commands) -> None:
    parser = commands.add_parser(
        "import-model",
        help="add an ONNX model (a bundle or an anomalib export) as a project's next version",
        description="Adds the model as the project's next version, in TRAINED, ready for StartModel. "
        "Without --url it writes to the data directory; with --url it uploads to a running server.",
    )
    parser.add_argument("--project", required=True, help="project name (created if missing)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--bundle", help="a bundle folder (model.onnx + model.json) or an anomalib export folder"
    )
    source.add_argument("--onnx", help="an ONNX file (anomalib 2.x, or 1.x with --metadata)")
    parser.add_argument("--metadata", help="anomalib 1.x metadata.json for --onnx")
    parser.add_argument("--image-size", help="WIDTHxHEIGHT that DetectAnomalies images must have")
    parser.add_argument(
        "--class-name", default="anomaly", help="anomaly class of a one-class segmentation model"
    )
    parser.add_argument("--class-color", default="#FF0000", help="its #RRGGBB colour in the mask")
    parser.add_argument("--description", help="the model version's Description")
    parser.add_argument("--data-dir", help="data directory to write to (default: the server's default)")
    parser.add_argument("--url", help="a running emulator to upload to, for example http://127.0.0.1:5055")
    parser.add_argument("--region", help="region of the project (default us-east-1)")
    parser.add_argument("--account", help="account id of the project (default 123456789012)")


def _announcing_server(config, line: str):
    """uvicorn's server, printing one stable line once it accepts connections."""
    import uvicorn

    class AnnouncingServer(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets=sockets)
            if not self.should_exit:
                print(line, flush=True)

    return AnnouncingServer(config)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only turns on TCP_NODELAY for sockets that name it, and without
    # it every response waits ~40 ms for the client's delayed ACK.
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    if sys.platform != "win32":
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(2048)
    listener.set_inheritable(True)
    return listener


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
