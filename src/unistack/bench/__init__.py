"""``unistack bench``: benchmarks that run on the user's own machine (``unistack bench tpch ...``)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench_command")
    from unistack.bench.tpch import harness

    harness.add_arguments(sub.add_parser("tpch", help="TPC-H on every engine, the planner and native baselines"))


def cli(args: argparse.Namespace) -> int:
    """Dispatch ``unistack bench <name>``."""
    if args.bench_command == "tpch":
        from unistack.bench.tpch import harness

        return harness.cli(args)
    print("usage: unistack bench tpch [--sf SF ...] [--engines all|a,b] [--runs N]")
    return 2
