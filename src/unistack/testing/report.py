"""Run the conformance suite on every installed engine and write docs/conformance.md.

Usage::

    python -m unistack.testing.report                      # every installed engine, docs/conformance.md
    python -m unistack.testing.report --engine polars --engine duckdb --examples 500 --output report.md

Each engine runs in its own ``pytest --pyargs unistack.testing.suite --unistack-engine=<name>`` subprocess
(heavy engines — Spark, Ray, Flink, Dask — under ``flock /tmp/unistack-heavy.lock`` when ``flock`` exists), with
``--unistack-results`` collecting one record per test. The page has one row per engine and one column per
operation family; a cell reads ``passed / declared unsupported / failed``, with known failures carrying a
``notimpl``/``notyet``/``never`` marker counted apart (``+n marked``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FAMILIES = ("scan_io", "projection", "filter", "aggregate", "join", "sort_limit", "distinct_union", "window",
            "map_batches", "types_casts", "semantics_edges", "differential")
HEAVY = ("spark", "ray", "flink", "dask")
LOCK = "/tmp/unistack-heavy.lock"


@dataclass
class EngineRun:
    """The outcome of the suite on one engine."""

    engine: str
    records: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    returncode: int = 0
    error: str = ""
    command: str = ""
    examples: int = 0
    output: str = ""


def load_run(path: Path, engine: str) -> EngineRun:
    """An engine run from a saved ``--unistack-results`` file (with ``seconds``/``examples`` if saved by us)."""
    data = json.loads(path.read_text())
    if isinstance(data, dict):
        return EngineRun(engine, data["records"], data.get("seconds", 0.0), examples=data.get("examples", 0))
    return EngineRun(engine, data)


def save_run(run: EngineRun, path: Path) -> None:
    path.write_text(json.dumps({"engine": run.engine, "seconds": run.seconds, "examples": run.examples,
                                "records": run.records, "output": run.output}, indent=1))


def run_engine(engine: str, examples: int, timeout: int = 3600, lock: bool = True) -> EngineRun:
    """Run the suite on one engine in a subprocess and collect its records.

    Examples
    --------
    >>> run = run_engine("polars", examples=5)  # doctest: +SKIP
    >>> {r["outcome"] for r in run.records} <= {"passed", "declared", "marked", "failed", "skipped"}  # doctest: +SKIP
    True
    """
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp) / "results.json"
        cmd = [sys.executable, "-m", "pytest", "--pyargs", "unistack.testing.suite", f"--unistack-engine={engine}",
               f"--unistack-results={results}", "-q", "-p", "no:cacheprovider", "-rfE"]
        if lock and engine in HEAVY and shutil.which("flock"):
            cmd = ["flock", LOCK, *cmd]
        env = {**os.environ, "UNISTACK_CONFORMANCE_EXAMPLES": str(examples)}
        start = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return EngineRun(engine, seconds=time.perf_counter() - start, returncode=-1,
                             error=f"timed out after {timeout} s", command=" ".join(cmd))
        seconds = time.perf_counter() - start
        records = json.loads(results.read_text()) if results.exists() else []
        error = "" if records else (proc.stdout[-1500:] + proc.stderr[-1500:])
        return EngineRun(engine, records, seconds, proc.returncode, error, " ".join(cmd), output=proc.stdout[-6000:])


def summarize(records: Sequence[dict[str, Any]]) -> dict[tuple[str, str], Counter[str]]:
    """Outcome counts per (engine, family).

    Examples
    --------
    >>> summarize([{"engine": "e", "family": "join", "outcome": "passed"}])[("e", "join")]["passed"]
    1
    """
    out: dict[tuple[str, str], Counter[str]] = {}
    for r in records:
        out.setdefault((r["engine"], r["family"]), Counter())[r["outcome"]] += 1
    return out


def cell(counts: Counter[str] | None) -> str:
    """One table cell: ``passed / declared / failed`` (+ marked, skipped).

    Examples
    --------
    >>> cell(Counter(passed=3, declared=1, marked=1))
    '3 / 1 / 0 (+1 marked)'
    """
    if not counts:
        return "–"
    text = f"{counts['passed']} / {counts['declared']} / {counts['failed']}"
    extra = [f"+{counts[k]} {k}" for k in ("marked", "skipped") if counts[k]]
    return text + (f" ({', '.join(extra)})" if extra else "")


def render(runs: Sequence[EngineRun], examples: int, command: str) -> str:
    """The markdown page for a set of engine runs."""
    records = [r for run in runs for r in run.records]
    table = summarize(records)
    families = [f for f in FAMILIES if any((run.engine, f) in table for run in runs)]
    families += sorted({f for (_, f) in table} - set(families))
    lines = [
        "# Conformance",
        "",
        f"Generated by `{command}` on {_dt.datetime.now(_dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}.",
        "",
        "Run the suite on one engine with `pytest --pyargs unistack.testing.suite --unistack-engine=<name>` "
        "(the `unistack.testing.plugin` pytest plugin is installed with unistack; engines registered through the "
        "`unistack.engines` entry point run it the same way).",
        "",
        "Each cell is **passed / declared unsupported / failed** for one engine and one operation family (one "
        "module of `unistack.testing.suite`). *Declared unsupported*: the plan needs an operation the engine "
        "declares in `capabilities().unsupported`, and the engine raised `UnsupportedOperationError` as it "
        "must. *Marked*: a known failure recorded with a `notimpl`/`notyet`/`never` marker and a reason "
        "(listed below). Regenerate with `python -m unistack.testing.report`.",
        "",
        "| engine | " + " | ".join(families) + " | total | plans per differential test | time |",
        "|---" * (len(families) + 4) + "|",
    ]
    for run in runs:
        if not run.records:
            lines.append(f"| {run.engine} | " + " | ".join("–" for _ in families)
                         + f" | not run: {_one_line(run.error)} | – | – |")
            continue
        total: Counter[str] = Counter()
        for f in families:
            total += table.get((run.engine, f), Counter())
        lines.append(f"| {run.engine} | " + " | ".join(cell(table.get((run.engine, f))) for f in families)
                     + f" | {cell(total)} | {run.examples or examples} | {run.seconds:.0f} s |")
    marked = [r for r in records if r["outcome"] == "marked"]
    failed = [r for r in records if r["outcome"] == "failed"]
    lines += ["", "## Known failures (marked)", ""]
    lines += [f"- `{r['nodeid']}`: {r['reason']}" for r in marked] or ["None."]
    lines += ["", "## Unexplained failures", ""]
    lines += [f"- `{r['nodeid']}`" for r in failed] or ["None."]
    lines += ["", "## Declared unsupported operations met by the suite", ""]
    for run in runs:
        reasons = sorted({r["reason"].split(": ", 1)[-1] for r in run.records if r["outcome"] == "declared"})
        if reasons:
            lines.append(f"- **{run.engine}**: " + "; ".join(reasons))
    if not any(r["outcome"] == "declared" for r in records):
        lines.append("None.")
    return "\n".join(lines) + "\n"


KEPT_SECTION = "## Long differential runs"


def kept_section(previous: str) -> str:
    """The hand-kept ``## Long differential runs`` section of a previous page (up to the next ``## ``), so
    regenerating the page keeps the record of long runs.

    >>> kept_section("# C\\n\\n## Long differential runs\\n\\n- dask: 5000 plans\\n\\n## Other\\n")
    '## Long differential runs\\n\\n- dask: 5000 plans\\n'
    >>> kept_section("# C\\n")
    ''
    """
    start = previous.find(KEPT_SECTION + "\n")
    if start < 0:
        return ""
    end = previous.find("\n## ", start + len(KEPT_SECTION))
    return previous[start:end + 1 if end >= 0 else len(previous)].rstrip("\n") + "\n"


def _one_line(text: str) -> str:
    last = [line for line in text.strip().splitlines() if line.strip()]
    return (last[-1] if last else "no results").replace("|", "/")[:120]


def default_engines() -> list[str]:
    """Every installed engine (built-in and entry-point plugins)."""
    from unistack.backends.registry import available_engines

    return available_engines()


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point (``python -m unistack.testing.report``)."""
    parser = argparse.ArgumentParser(prog="python -m unistack.testing.report", description=__doc__.splitlines()[0])
    parser.add_argument("--engine", action="append", help="engine to run (repeatable; default: all installed)")
    parser.add_argument("--examples", type=int, default=int(os.environ.get("UNISTACK_CONFORMANCE_EXAMPLES", "200")),
                        help="generated plans per differential test (default 200)")
    parser.add_argument("--examples-heavy", type=int, default=None,
                        help="plans per differential test on Spark, Ray, Flink and Dask (default: --examples)")
    parser.add_argument("--output", default="docs/conformance.md", help="markdown file to write")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds allowed per engine")
    parser.add_argument("--no-lock", action="store_true", help="do not wrap heavy engines in flock")
    parser.add_argument("--results-dir", default=None,
                        help="save each engine's records as <dir>/<engine>.json; with --reuse, read them instead of "
                             "running the engine again")
    parser.add_argument("--reuse", action="store_true", help="use saved results in --results-dir when present")
    parser.add_argument("--not-run", action="append", default=[], metavar="ENGINE=REASON",
                        help="list an engine as not run, with the reason (repeatable)")
    args = parser.parse_args(argv)
    engines = [e for item in (args.engine or default_engines()) for e in item.split(",") if e]
    runs = []
    for engine in engines:
        print(f"running the conformance suite on {engine} ...", flush=True)
        examples = args.examples_heavy if engine in HEAVY and args.examples_heavy is not None else args.examples
        saved = Path(args.results_dir) / f"{engine}.json" if args.results_dir else None
        if saved is not None and args.reuse and saved.exists():
            run = load_run(saved, engine)
        else:
            run = run_engine(engine, examples, args.timeout, lock=not args.no_lock)
            run.examples = examples
            if saved is not None and run.records:
                saved.parent.mkdir(parents=True, exist_ok=True)
                save_run(run, saved)
        counts = Counter(r["outcome"] for r in run.records)
        print(f"  {engine}: {dict(counts) or run.error[-300:]} in {run.seconds:.0f} s", flush=True)
        runs.append(run)
    for item in args.not_run:
        name, _, reason = item.partition("=")
        runs.append(EngineRun(name, error=reason or "not run"))
    shown = ["python -m unistack.testing.report"] + [f"--engine {e}" for e in engines] + [
        f"--examples {args.examples}"] + ([f"--examples-heavy {args.examples_heavy}"] if args.examples_heavy else [])
    text = render(runs, args.examples, " ".join(shown))
    previous = Path(args.output).read_text() if Path(args.output).exists() else ""
    if kept := kept_section(previous):
        text += "\n" + kept
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(text)
    print(f"wrote {args.output}")
    failed = any(r["outcome"] == "failed" for run in runs for r in run.records) or any(
        not run.records for run in runs if run.engine in engines)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
