"""``unistack engines`` and ``unistack config``."""

from __future__ import annotations

import argparse
import importlib


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="engines_command")
    sub.add_parser("list", help="engines, whether installed, and their status")
    install = sub.add_parser("install", help="provision an engine's own runtime (e.g. flink)")
    install.add_argument("name")
    install.add_argument("--force", action="store_true", help="recreate the environment")


def run(args: argparse.Namespace) -> int:
    from unistack.backends.registry import BUILTIN, engine_names, is_installed
    from unistack.errors import UnistackError

    if getattr(args, "engines_command", None) == "install":
        if args.name == "flink":
            provision = importlib.import_module("unistack.backends.flink.provision")
            provision.install(force=args.force)
            return 0
        extra = BUILTIN.get(args.name, ("", "", args.name, ()))[2]
        raise UnistackError(f"engine {args.name!r} installs with pip: pip install 'unistack[{extra}]'")
    for name in engine_names():
        print(f"{name:8} {'installed' if is_installed(name) else 'not installed'}")
    return 0


def show_config(args: argparse.Namespace) -> int:
    from unistack.config import describe_options

    print(describe_options())
    return 0
