"""The `lookoutvision-emulator` command: its parser and the dispatch to each subcommand."""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Sequence
from typing import Any

from server import __version__
from server.settings import Option, Settings
from server.spec import data_path

INTERRUPTED = 130  # what a shell reports for a command stopped by Ctrl-C (128 + SIGINT)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return _run(parser, args)
    except KeyboardInterrupt:  # Ctrl-C: one line instead of a traceback, and the shell's usual status
        print(f"lookoutvision-emulator {args.command}: interrupted", file=sys.stderr)
        return INTERRUPTED


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command == "data-path":
        print(data_path())
        return 0
    if args.command == "serve":
        from server.cli.serve import serve

        return serve(args)
    if args.command == "train":
        from server.cli.train import train_command

        return train_command(args)
    if args.command == "import-model":
        from server.cli.import_model import import_model_command

        return import_model_command(args)
    if args.command == "edge":
        from server.cli.edge import edge_command

        return edge_command(args)
    parser.print_help()
    return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lookoutvision-emulator",
        description="A local Amazon Lookout for Vision: the L4V API, served on your machine. "
        "Run `lookoutvision-emulator COMMAND --help` for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _serve_parser(commands)
    commands.add_parser(
        "data-path",
        help="print the folder to put on AWS_DATA_PATH",
        description="Prints the folder holding the lookoutvision service model in botocore's layout: put it "
        "on AWS_DATA_PATH and boto3 or the AWS CLI know the service again.",
    )
    _import_parser(commands)
    _train_parser(commands)
    from server.cli.edge import add_edge_parser  # grpc itself is imported only when the agent starts

    add_edge_parser(commands, {option.name: option for option in Settings.table()}, _help)
    return parser


def _serve_parser(commands: Any) -> None:
    options = Settings.table()
    parser = commands.add_parser(
        "serve",
        help="run the server",
        description=textwrap.fill(
            "Serves the Lookout for Vision API (and the emulator's /_emulator/ endpoints) until stopped "
            "with Ctrl-C or SIGTERM. Every flag has an environment variable; flags win."
        ),
        epilog=_environment_only(options),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for option in options:
        if option.flag is None:
            continue
        kwargs: dict[str, Any] = {"dest": option.name, "help": _help(option)}
        if option.kind == "bool":
            kwargs.update(action="store_true", default=None)
        else:
            kwargs.update(
                type={"int": int, "float": float}.get(option.kind, str), metavar=option.name.upper()
            )
        if option.choices:
            kwargs.update(choices=option.choices, metavar="{" + ",".join(option.choices) + "}")
        parser.add_argument(option.flag, **kwargs)


def _help(option: Option, doc: str | None = None) -> str:
    """The help text of a setting's flag: what it does, its variable and its default (argparse-escaped)."""
    return f"{doc or option.doc} [{option.env}; default: {option.default}]".replace("%", "%%")


def _environment_only(options: list[Option]) -> str:
    lines = ["settings without a flag (environment variables):"]
    for option in options:
        if option.flag is None:
            lines.append(f"  {option.env}")
            lines.append(f"      {option.doc} (default: {option.default})")
    return "\n".join(lines)


def _scope_flags(parser: argparse.ArgumentParser) -> None:
    """--data-dir, --region and --account of the offline commands: the same settings as `serve`'s."""
    options = {option.name: option for option in Settings.table()}
    parser.add_argument("--data-dir", help=_help(options["data_dir"], "data directory to write to"))
    parser.add_argument("--region", help=_help(options["region"], "region of the project"))
    parser.add_argument("--account", help=_help(options["account"], "account id of the project"))


def _import_parser(commands: Any) -> None:
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
    parser.add_argument("--url", help="a running emulator to upload to, for example http://127.0.0.1:5055")
    _scope_flags(parser)


def _train_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "train",
        help="train a model from folders of normal and anomalous images",
        description="Trains a model with the built-in trainer, without S3 or a running server, and writes "
        "it into the data directory as the project's next version, in TRAINED.",
    )
    parser.add_argument("--project", required=True, help="project name (created if missing)")
    parser.add_argument("--normal", required=True, help="folder of normal images (PNG or JPEG)")
    parser.add_argument("--anomaly", required=True, help="folder of anomalous images")
    parser.add_argument(
        "--masks",
        help="folder of masks, one per anomalous image with the same name (any of .png, .jpg, .jpeg): "
        "white background, each anomaly class in its colour; makes a segmentation model",
    )
    parser.add_argument(
        "--class",
        dest="classes",
        action="append",
        default=[],
        metavar="NAME=#RRGGBB",
        help="the anomaly class a mask colour stands for (repeat for each colour in the masks)",
    )
    parser.add_argument("--description", help="the model version's Description")
    _scope_flags(parser)
