"""Command line: ``socketsvc serve`` (also ``python -m socketsvc serve``).

Every setting is a flag, derived from the fields of :class:`~socketsvc.config.Settings`, so
``socketsvc serve --help`` always lists them all with their defaults. Configuration problems
print one line naming the setting and exit with status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import sys
import typing
from collections.abc import Sequence
from typing import Any

from socketsvc import __version__, config
from socketsvc.errors import ConfigError

EXIT_CONFIG = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="socketsvc", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"socketsvc {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="run a socketsvc node",
        description="Run a socketsvc node. Precedence: defaults < --config file < "
        "SOCKETSVC_<NAME> environment variables < these flags.",
    )
    serve.add_argument("--config", metavar="FILE", help="TOML settings file (or $SOCKETSVC_CONFIG)")
    for f in dataclasses.fields(config.Settings):
        if config.is_table(f.name):
            continue
        kind = config.field_type(f.name)
        default = f.default if f.default is not dataclasses.MISSING else None
        shown = ",".join(default) if isinstance(default, tuple) else default
        help_text = f"{f.metadata['doc']} (default: {shown!s}; env SOCKETSVC_{f.name.upper()})"
        flag = "--" + f.name.replace("_", "-")
        if kind is bool:
            serve.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=None, help=help_text
            )
            continue
        choices = f.metadata.get("choices") if typing.get_origin(kind) is not tuple else None
        serve.add_argument(
            flag, dest=f.name, default=None, metavar=f.name.upper(), choices=choices, help=help_text
        )
    commands.add_parser(
        "hash-password",
        help="print a bcrypt hash for admin_password_hash",
        description="Read a password (prompted, or one line on standard input) and print its "
        "bcrypt hash, the form admin_password_hash takes.",
    )
    return parser


def settings_from_args(args: argparse.Namespace) -> config.Settings:
    overrides: dict[str, Any] = {}
    for f in dataclasses.fields(config.Settings):
        raw = getattr(args, f.name, None)
        if raw is not None:
            overrides[f.name] = config.cast(f.name, raw, f"--{f.name.replace('_', '-')}")
    return config.load(args.config, overrides=overrides)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "hash-password":
        return hash_password()
    try:
        settings = settings_from_args(args)
    except ConfigError as exc:
        print(f"socketsvc: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    from socketsvc.app.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format, config.node_name(settings))
    from socketsvc.app.runner import serve
    from socketsvc.app.tuning import run, tune_gc

    tune_gc()
    try:
        run(serve(settings))
    except ConfigError as exc:
        print(f"socketsvc: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:
        print(
            f"socketsvc: cannot listen on {settings.host}:{settings.port}: {exc}", file=sys.stderr
        )
        return 1
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
