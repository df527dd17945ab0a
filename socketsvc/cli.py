"""Command line: ``socketsvc serve`` (also ``python -m socketsvc serve``), ``socketsvc
contract``, ``socketsvc new`` and ``socketsvc hash-password``.

Every setting is a flag, derived from the fields of :class:`~socketsvc.config.Settings`, so
``socketsvc serve --help`` always lists them all with their defaults. Configuration problems
print one line naming the setting and exit with status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import logging
import sys
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from socketsvc import __version__, config
from socketsvc.config import derived, sources
from socketsvc.errors import ConfigError, StartupError

EXIT_CONFIG = 2
DESCRIPTION = (
    "socketsvc: a Socket.IO-compatible real-time event server. Stock Socket.IO v4 clients "
    "(browsers, React Native, Swift, Java, Dart; JSON and msgpack parsers on one endpoint) "
    "connect to it, and your Python handler modules serve their namespaces. Rooms, acks both "
    "ways, JWT auth and Redis scale-out included."
)
SERVE_EPILOG = """\
Lists (--transports, --cors-origins, --trusted-proxies, --jwt-algorithms, --handler-path) are
comma-separated: --transports polling,websocket.

Two settings are tables and can only be set in the --config TOML file:
  [namespaces]      namespace -> "package.module:Class" of a handler module, e.g.
                    "/orders" = "myapp.orders:OrdersNamespace"
  [namespace_auth]  namespace -> required | optional | none, e.g. "/admin" = "required"
Handler modules are imported from --handler-path, the config file's directory, the working
directory, then the installed packages.

Secrets (--jwt-secret, --api-key) given as flags are visible to every user of the machine in
the process list: set SOCKETSVC_JWT_SECRET / SOCKETSVC_API_KEY or the config file instead.
"""

CONTRACT_EPILOG = """\
  socketsvc contract --config app.toml --format typescript --output src/contract.ts
  socketsvc contract --config app.toml --format asyncapi > asyncapi.json

A parameter, return value or ServerEvent payload whose annotation has no JSON Schema or
TypeScript form (a bytes Literal, a datetime sent to clients, a Python-only regex) is
reported naming the namespace, method and parameter, with exit status 2.
"""


NEW_EPILOG = """\
  socketsvc new auction && cd auction && socketsvc serve --config app.toml
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="socketsvc", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"socketsvc {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="run a socketsvc node (see: socketsvc serve --help)",
        description="Run a socketsvc node. Precedence: defaults < --config file < "
        "SOCKETSVC_<NAME> environment variables < these flags.",
        epilog=SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--config", metavar="FILE", help="TOML settings file (or $SOCKETSVC_CONFIG)")
    for f in dataclasses.fields(config.Settings):
        if sources.is_table(f.name):
            continue
        serve_flag(serve, f)
    contract = commands.add_parser(
        "contract",
        help="write the event contract as TypeScript types or an AsyncAPI document",
        description="Write the event contract of the namespaces a configuration serves (the\n"
        "same file and SOCKETSVC_* variables as serve): what clients send, the acks, what the\n"
        "server sends, read from the handler modules' annotations.",
        epilog=CONTRACT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    contract.add_argument(
        "--config", metavar="FILE", help="TOML settings file (or $SOCKETSVC_CONFIG)"
    )
    contract.add_argument(
        "--format",
        required=True,
        choices=("typescript", "asyncapi"),
        help="typescript: interfaces for socket.io-client's typed Socket; asyncapi: an "
        "AsyncAPI 3.0 document (JSON)",
    )
    contract.add_argument(
        "--output", metavar="PATH", help="write to this file instead of standard output"
    )
    new = commands.add_parser(
        "new",
        help="write a starter app (handler module, app.toml, client, Dockerfile, compose.yaml)",
        description="Write a starter app into DIR: the README's auction (a handler module, its\n"
        "app.toml, a client, a Dockerfile built on socketsvc's image and a compose.yaml that\n"
        "runs it on two nodes with Redis). Existing files are never overwritten.",
        epilog=NEW_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    new.add_argument("directory", metavar="DIR", nargs="?", default=".", help="default: .")
    commands.add_parser(
        "hash-password",
        help="print a bcrypt hash for admin_password_hash",
        description="Read a password (prompted, or one line on standard input) and print its "
        "bcrypt hash, the form admin_password_hash takes.",
    )
    return parser


def serve_flag(serve: argparse.ArgumentParser, f: dataclasses.Field[Any]) -> None:
    """One setting as a flag: its doc, its values when it has a fixed set, its default."""
    kind = sources.field_type(f.name)
    default = f.default if f.default is not dataclasses.MISSING else None
    is_list = typing.get_origin(kind) is tuple
    choices = f.metadata.get("choices")
    shown = ",".join(default) if isinstance(default, tuple) else default
    if f.metadata.get("secret"):
        shown = "empty"
    parts = [f.metadata["doc"]]
    if choices and is_list:
        parts.append(f"comma-separated, from: {', '.join(choices)}")
    elif choices:
        parts.append(f"one of: {', '.join(choices)}")
    elif is_list:
        parts.append("comma-separated")
    if f.metadata.get("secret"):
        parts.append("WARNING: a flag is visible in the process list, prefer the env variable")
    help_text = f"{'; '.join(parts)} (default: {shown!s}; env SOCKETSVC_{f.name.upper()})"
    flag = "--" + f.name.replace("_", "-")
    if kind is bool:
        serve.add_argument(
            flag, action=argparse.BooleanOptionalAction, default=None, help=help_text
        )
        return
    metavar = "{" + ",".join(choices) + "}" if choices and not is_list else f.name.upper()
    serve.add_argument(
        flag,
        dest=f.name,
        default=None,
        metavar=metavar,
        choices=None if is_list else choices,
        help=help_text.replace("%", "%%"),
    )


def settings_from_args(args: argparse.Namespace) -> config.Settings:
    overrides: dict[str, Any] = {}
    for f in dataclasses.fields(config.Settings):
        raw = getattr(args, f.name, None)
        if raw is not None:
            overrides[f.name] = sources.cast(f.name, raw, f"--{f.name.replace('_', '-')}")
    return config.load(args.config, overrides=overrides)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "hash-password":
        return hash_password()
    if args.command == "contract":
        return write_contract(args)
    if args.command == "new":
        return new_app(Path(args.directory))
    try:
        settings = settings_from_args(args)
    except ConfigError as exc:
        print(f"socketsvc: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    from socketsvc.app.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format, derived.node_name(settings))
    for f in dataclasses.fields(config.Settings):
        if f.metadata.get("secret") and getattr(args, f.name, None) is not None:
            logging.getLogger("socketsvc").warning(
                "--%s was given on the command line, where every user of this machine can "
                "read it: prefer SOCKETSVC_%s or the config file",
                f.name.replace("_", "-"),
                f.name.upper(),
            )
    if settings.workers > 1:
        from socketsvc.app.runner import LISTEN_BACKLOG
        from socketsvc.workers.primary import run_primary

        return run_primary(settings, LISTEN_BACKLOG, "socketsvc.app.worker")
    from socketsvc.app.runner import serve
    from socketsvc.app.tuning import run, tune_gc

    tune_gc()
    try:
        run(serve(settings))
    except ConfigError as exc:
        print(f"socketsvc: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except StartupError as exc:
        logging.getLogger("socketsvc").error("start-up failed", exc_info=exc.__cause__)
        print(f"socketsvc: start-up failed: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(
            f"socketsvc: cannot listen on {settings.host}:{settings.port}: {exc}", file=sys.stderr
        )
        return 1
    return 0


def write_contract(args: argparse.Namespace) -> int:
    """``socketsvc contract``: the contract on standard output or in ``--output`` (written
    whole or not at all); a configuration or annotation it cannot show exits with status 2."""
    from socketsvc.contract import ContractError, render

    try:
        text = render(config.load(args.config), args.format)
    except ConfigError as exc:
        print(f"socketsvc: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except ContractError as exc:
        print(f"socketsvc: contract: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.output is None:
        sys.stdout.write(text)
        return 0
    target = Path(args.output)
    partial = target.with_name(f".{target.name}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        partial.replace(target)
    except OSError as exc:
        print(f"socketsvc: cannot write {target}: {exc}", file=sys.stderr)
        return 1
    return 0


def new_app(directory: Path) -> int:
    """``socketsvc new DIR``: the starter app, and how to run it."""
    from socketsvc.scaffold import create

    try:
        written = create(directory)
    except (FileExistsError, OSError) as exc:
        print(f"socketsvc: new: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    for path in written:
        print(f"wrote {path}")
    where = "" if directory.resolve() == Path.cwd() else f"cd {directory} && "
    print(f"run it: {where}socketsvc serve --config app.toml  (then: node client.mjs)")
    return 0


def hash_password() -> int:
    """``socketsvc hash-password``: a bcrypt hash (cost 12) of a password read from the
    terminal, or of the first line of standard input when that is not a terminal."""
    import bcrypt

    if sys.stdin.isatty():
        password = getpass.getpass("Admin UI password: ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        print("socketsvc: the password must not be empty", file=sys.stderr)
        return EXIT_CONFIG
    print(bcrypt.hashpw(password.encode(), bcrypt.gensalt(12)).decode())
    return 0
