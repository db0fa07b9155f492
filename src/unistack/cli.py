"""The ``unistack`` command line.

Subcommands are thin: each calls a function of the package that can also be used from Python.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# subcommand -> (module, function, help); each function takes the parsed argparse namespace.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "engines": ("unistack.cli_engines", "run", "list engines, or install one (e.g. 'engines install flink')"),
    "calibrate": ("unistack.planner.calibrate", "cli", "measure this machine and fit the cost model"),
    "bench": ("unistack.bench", "cli", "run benchmarks (e.g. 'bench tpch --sf 1 --engines all')"),
    "config": ("unistack.cli_engines", "show_config", "show every option and its current value"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="unistack", description="One dataframe API, the right engine.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command")
    for name, (module, _, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        add = getattr(mod, "add_arguments", None)
        if add is not None:
            add(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``unistack`` command."""
    from unistack.errors import UnistackError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from unistack import __version__

        print(__version__)
        return 0
    if not args.command:
        parser.print_help()
        return 0
    module, func, _ = COMMANDS[args.command]
    try:
        fn = getattr(importlib.import_module(module), func)
        result = fn(args)
    except UnistackError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
