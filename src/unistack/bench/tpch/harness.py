"""The TPC-H harness: every query on every engine, through the planner ("auto") and as hand-written
native baselines, warm and cold; raw results, a Markdown report and plots.

Each (scale factor, engine) runs in its own worker process (:mod:`unistack.bench.tpch.worker`), so a
timeout or an out-of-memory kill is recorded for that engine and query instead of ending the run.

Run: ``unistack bench tpch --sf 0.1 --sf 1 --engines all --runs 3``
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import os
import platform
import selectors
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable
from typing import Any

from unistack.bench.tpch.data import ensure_data
from unistack.bench.tpch.queries import QUERIES

BASELINES = ("native-polars", "native-duckdb")


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_worker(sf: float, engine: str, queries: list[int], runs: int, timeout: float, cold: bool = False
               ) -> list[dict[str, Any]]:
    """Run ``queries`` on ``engine`` in worker processes; a query that exceeds ``timeout`` seconds or a
    worker that dies is recorded as such and the next query starts in a fresh worker."""
    results: list[dict[str, Any]] = []
    pending = list(queries)
    while pending:
        batch = pending[:1] if cold else pending
        cmd = [sys.executable, "-m", "unistack.bench.tpch.worker", "--sf", f"{sf:g}", "--engine", engine,
               "--queries", ",".join(map(str, batch)), "--runs", "0" if cold else str(runs)]
        if cold:
            cmd.append("--no-check")
        else:
            cmd.append("--warm-session")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout * (2 if cold else 1) + (60 if engine in ("spark", "ray", "flink") else 0)
        while pending and pending[0] in batch:
            q = pending[0]
            ready = sel.select(timeout=max(0.0, deadline - time.monotonic()))
            line = proc.stdout.readline() if ready else ""
            if not ready:
                proc.kill()
                results.append({"sf": sf, "engine": engine, "query": q, "status": "timeout",
                                "error": f"no answer within {timeout:g} s"})
                pending.pop(0)
                break
            if not line:
                code = proc.wait()
                status = "oom-killed" if code == -9 else "crashed"
                results.append({"sf": sf, "engine": engine, "query": q, "status": status,
                                "error": f"worker exited with code {code}"})
                pending.pop(0)
                break
            try:
                rec = json.loads(line)
            except ValueError:
                rec = None
            if not isinstance(rec, dict):
                continue  # an engine's own output on stdout (Ray logs there), not a result
            if cold:
                rec["regime"] = "cold"
                rec["median_s"] = rec.get("first_s")
            results.append(rec)
            pending.pop(0)
            _progress(f"  SF {sf:g} {engine:14} Q{q:<2} {rec['status']:11} "
                      f"{rec.get('median_s') or 0:8.3f}s" + (f"  -> {rec['chosen']}" if rec.get("chosen") else ""))
            deadline = time.monotonic() + timeout
        try:  # a worker that answered everything exits by itself and cleans up (e.g. Dask's partd spill dirs)
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        sel.close()
    return results


def run(sfs: Iterable[float], engines: list[str], queries: list[int], runs: int, timeout: float,
        cold_queries: list[int], out_dir: str, merge: bool = False, with_auto: bool = True,
        with_baselines: bool = True) -> list[dict[str, Any]]:
    """Run the whole matrix and write raw results, the report and plots to ``out_dir``.

    The raw results are saved after every engine, so an interrupted run keeps what it measured. With
    ``merge``, results already in ``out_dir`` for other scale factors, engines or queries are kept and the
    report covers them all (e.g. SF 10 run later on the engines that can)."""
    sfs = list(sfs)
    kept = _load_raw(out_dir) if merge else []
    runners = [*engines, *(["auto"] if with_auto else []), *(BASELINES if with_baselines else ())]
    kept = [r for r in kept if not (r["sf"] in sfs and r["engine"] in runners and r["query"] in queries)]
    results: list[dict[str, Any]] = []
    for sf in sfs:
        ensure_data(sf)
        for engine in runners:
            _progress(f"SF {sf:g}: {engine} (warm, {runs} runs after a warm-up)")
            results += run_worker(sf, engine, queries, runs, timeout)
            if cold_queries and engine not in BASELINES:
                _progress(f"SF {sf:g}: {engine} (cold: a fresh process per query)")
                results += run_worker(sf, engine, cold_queries, 0, timeout, cold=True)
            _save_raw(kept + results, out_dir)
    write_report(kept + results, out_dir)
    return results


_ENGINE_ORDER = ("polars", "duckdb", "dask", "spark", "ray", "flink")


def write_report(results: list[dict[str, Any]], out_dir: str) -> None:
    """Raw files, report and plots for every scale factor and engine in ``results``."""
    sfs = sorted({float(r["sf"]) for r in results})
    names = {r["engine"] for r in results} - {"auto", *BASELINES}
    engines = sorted(names, key=lambda e: (_ENGINE_ORDER.index(e) if e in _ENGINE_ORDER else 99, e))
    write_outputs(results, sfs, engines, out_dir)


def _load_raw(out_dir: str) -> list[dict[str, Any]]:
    try:
        with open(os.path.join(out_dir, "tpch_raw.json")) as fh:
            return list(json.load(fh))
    except (OSError, ValueError):
        return []


def _save_raw(results: list[dict[str, Any]], out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "tpch_raw.json")
    with open(path + ".tmp", "w") as fh:
        json.dump(results, fh, indent=1, default=str)
    os.replace(path + ".tmp", path)


def _total_cell(summary: dict[str, Any], engine: str) -> str:
    """An engine's total over its successful queries (``*`` when some failed or did not run)."""
    if not any(summary["ok"].get(engine, ())):
        return "none ok"
    return _fmt(summary["totals"][engine]) + ("" if summary["complete"][engine] else "*")


def _root_cause(trace: str) -> str:
    """The innermost ``Caused by:`` of a Java stack trace in a failure record, as a suffix (or '').

    Examples
    --------
    >>> _root_cause("x\\nCaused by: java.lang.OutOfMemoryError: too large\\n\\tat a.b(C.java:1)")
    ' (caused by java.lang.OutOfMemoryError: too large)'
    """
    causes = [line.split("Caused by:", 1)[1].strip() for line in trace.splitlines() if "Caused by:" in line]
    return f" (caused by {causes[-1]})" if causes else ""


def _fmt(x: float | None) -> str:
    return "-" if x is None else (f"{x:.3f}" if x < 10 else f"{x:.1f}")


def summarise(results: list[dict[str, Any]], sf: float, engines: list[str]) -> dict[str, Any]:
    warm = {(r["engine"], r["query"]): r for r in results if r["sf"] == sf and r.get("regime", "warm") == "warm"}
    queries = sorted({q for (_, q) in warm})
    regrets, within, overhead = [], 0, []
    per_query = []
    for q in queries:
        times: dict[str, float] = {e: float(warm[(e, q)]["median_s"]) for e in engines
                                   if warm.get((e, q), {}).get("status") == "ok"}
        auto = warm.get(("auto", q), {})
        best = min(times.values()) if times else None
        regret = float(auto["median_s"]) / best if best and auto.get("status") == "ok" else None
        if regret is not None:
            regrets.append(regret)
            within += regret <= 1.10
        nat = warm.get(("native-polars", q), {})
        if nat.get("status") == "ok" and "polars" in times:
            overhead.append(times["polars"] / nat["median_s"])
        per_query.append((q, times, auto, best, regret))
    totals = {e: sum(warm[(e, q)]["median_s"] for q in queries if warm.get((e, q), {}).get("status") == "ok")
              for e in [*engines, "auto", *BASELINES]}
    complete = {e: all(warm.get((e, q), {}).get("status") == "ok" for q in queries) for e in totals}
    ok = {e: [warm.get((e, q), {}).get("status") == "ok" for q in queries] for e in totals}
    return {
        "per_query": per_query, "regrets": regrets, "within": within, "overhead": overhead, "totals": totals,
        "complete": complete, "ok": ok, "queries": queries,
        "geo_regret": statistics.geometric_mean(regrets) if regrets else None,
        "geo_overhead": statistics.geometric_mean(overhead) if overhead else None,
    }


def write_outputs(results: list[dict[str, Any]], sfs: list[float], engines: list[str], out_dir: str) -> None:
    _save_raw(results, out_dir)
    fields = ["sf", "engine", "regime", "query", "status", "median_s", "first_s", "chosen", "error"]
    with open(os.path.join(out_dir, "tpch_raw.csv"), "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for r in results:
            w.writerow({"regime": "warm", **r})
    lines = [
        "# TPC-H on every engine, through the planner, and native baselines",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{_mem_gib():.0f} GiB RAM, Python {platform.python_version()}; {dt.date.today().isoformat()}.",
        "Data: tpchgen-cli Parquet as generated (decimal128 money columns, string_view strings).",
        "Warm: one warm-up (answer checked against DuckDB running the official SQL) then the median of the "
        "timed runs, in one worker process per engine. Cold: a fresh process per query (session start "
        "included). Times in seconds. `auto` is unistack's planner; regret = auto / best unistack engine.",
        "",
    ]
    for sf in sfs:
        s = summarise(results, sf, engines)
        cols = [*engines, "auto", *BASELINES]
        lines += [f"## SF {sf:g}", "", "| query | " + " | ".join(cols) + " | auto chose | regret |",
                  "|---|" + "---:|" * len(cols) + "---|---:|"]
        warm = {(r["engine"], r["query"]): r for r in results if r["sf"] == sf and r.get("regime", "warm") == "warm"}
        ran = {e for (e, _q) in warm}
        for q, _times, auto, _best, regret in s["per_query"]:
            cells = []
            for e in cols:
                r = warm.get((e, q), {})
                cells.append(_fmt(r.get("median_s")) if r.get("status") == "ok"
                             else r.get("status", "not run"))
            lines.append(f"| Q{q} | " + " | ".join(cells) + f" | {auto.get('chosen', '-')} | "
                         f"{_fmt(regret) if regret else '-'} |")
        lines.append("| total (ok queries) | " + " | ".join(
            _total_cell(s, e) if e in ran else "not run" for e in cols)
            + " | | |")
        n = len(s["regrets"])
        lines += [
            "",
            "\\* not every query succeeded or has a hand-written baseline; the total covers the ones that ran.",
            "",
            f"- unistack-on-Polars vs native Polars (queries with a hand-written baseline): geometric-mean ratio "
            f"{_fmt(s['geo_overhead'])} over {len(s['overhead'])} queries.",
            f"- planner: {s['within']} of {n} queries within 10% of the best engine "
            f"({100 * s['within'] / n if n else 0:.0f}%), geometric-mean regret {_fmt(s['geo_regret'])}, "
            f"worst {_fmt(max(s['regrets']) if s['regrets'] else None)}.",
        ]
        single = sorted({r["engine"] for r in results if r["sf"] == sf and r.get("regime", "warm") == "warm"
                         and r.get("status") == "ok" and not r.get("samples")})
        if single:
            lines += ["", f"- measured once (the run after starting the session, no repeats, to fit the time "
                          f"budget): {', '.join(single)}."]
        cold = [r for r in results if r["sf"] == sf and r.get("regime") == "cold"]
        if cold:
            lines += ["", "Cold (fresh process, session start included):", "",
                      "| engine | query | status | seconds |", "|---|---|---|---:|"]
            lines += [f"| {r['engine']} | Q{r['query']} | {r['status']} | {_fmt(r.get('median_s'))} |" for r in cold]
        failures = [r for r in results if r["sf"] == sf and r.get("status") not in ("ok", "n/a")]
        if failures:
            lines += ["", "Failures:", ""]
            lines += [f"- {r['engine']} Q{r['query']} ({r.get('regime', 'warm')}): {r['status']}: "
                      f"{r.get('error', '')}{_root_cause(r.get('trace', ''))}" for r in failures]
        lines.append("")
    plots = make_plots(results, sfs, engines, out_dir)
    lines += [f"![{os.path.basename(p)}]({os.path.basename(p)})" for p in plots]
    with open(os.path.join(out_dir, "tpch_report.md"), "w") as fh:
        fh.write("\n".join(lines) + "\n")


def _mem_gib() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        return float("nan")


def make_plots(results: list[dict[str, Any]], sfs: list[float], engines: list[str], out_dir: str) -> list[str]:
    """Per-query time by engine (one PNG per scale factor) and total time vs scale factor per engine."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    paths = []
    cols = [*engines, "auto", *BASELINES]
    for sf in sfs:
        warm = {(r["engine"], r["query"]): r for r in results if r["sf"] == sf and r.get("regime", "warm") == "warm"}
        queries = sorted({q for (_, q) in warm})
        fig, ax = plt.subplots(figsize=(max(8, len(queries) * 0.9), 4.5))
        width = 0.8 / len(cols)
        for i, e in enumerate(cols):
            ys = [float(warm[(e, q)]["median_s"]) if warm.get((e, q), {}).get("status") == "ok" else math.nan
                  for q in queries]
            ax.bar([j + i * width for j in range(len(queries))], ys, width, label=e)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(queries))], [f"Q{q}" for q in queries])
        ax.set_yscale("log")
        ax.set_ylabel("seconds (warm median, log scale)")
        ax.set_title(f"TPC-H SF {sf:g}: time per query by engine")
        ax.legend(fontsize=7, ncol=3)
        fig.tight_layout()
        path = os.path.join(out_dir, f"tpch_sf{sf:g}_per_query.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    if len(sfs) > 1:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for e in cols:
            xs: list[float] = []
            totals: list[float] = []
            for sf in sfs:
                s = summarise(results, sf, engines)
                if s["complete"].get(e):
                    xs.append(sf)
                    totals.append(s["totals"][e])
            if xs:
                ax.plot(xs, totals, marker="o", label=e)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("scale factor")
        ax.set_ylabel("total seconds, all queries (warm)")
        ax.set_title("TPC-H: total time vs scale factor")
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = os.path.join(out_dir, "tpch_time_vs_sf.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def parse_engines(spec: str) -> list[str]:
    from unistack.backends.registry import available_engines

    if spec == "all":
        return available_engines()
    return [e.strip() for e in spec.split(",") if e.strip()]


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    add_arguments(parser)
    return cli(parser.parse_args(argv))


def add_arguments(parser: Any) -> None:
    parser.add_argument("--sf", type=float, action="append", help="scale factor (repeatable; default 0.1)")
    parser.add_argument("--engines", default="all", help="'all' or a comma-separated list")
    parser.add_argument("--queries", default=",".join(map(str, QUERIES)))
    parser.add_argument("--runs", type=int, default=3, help="timed runs after one warm-up (median reported)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per query before it is a timeout")
    parser.add_argument("--cold-queries", default="1,6", help="queries also run cold ('' for none)")
    parser.add_argument("--out", default=os.path.join("benchmarks", "results"))
    parser.add_argument("--merge", action="store_true",
                        help="keep results already in --out for other scale factors or engines")
    parser.add_argument("--no-auto", action="store_true", help="skip the planner's own run ('auto')")
    parser.add_argument("--no-baselines", action="store_true", help="skip the hand-written native baselines")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite the report and plots from the raw results in --out; run nothing")


def cli(args: Any) -> int:
    sfs = args.sf or [0.1]
    engines = parse_engines(args.engines)
    queries = [int(q) for q in args.queries.split(",")]
    cold = [int(q) for q in args.cold_queries.split(",") if q.strip()]
    if args.report_only:
        write_report(_load_raw(args.out), args.out)
        print(f"wrote {os.path.join(args.out, 'tpch_report.md')} from the raw results")
        return 0
    results = run(sfs, engines, queries, args.runs, args.timeout, cold, args.out, merge=args.merge,
                  with_auto=not args.no_auto, with_baselines=not args.no_baselines)
    bad = [r for r in results if r.get("status") == "mismatch"]
    print(f"wrote {os.path.join(args.out, 'tpch_report.md')}; {len(bad)} answer mismatches")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
