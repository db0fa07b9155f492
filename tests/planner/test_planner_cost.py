"""Cost arithmetic and feasibility reasons of the cost model."""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
import pytest
from planner_fakes import make_coef  # type: ignore[import-not-found]

import unistack as us
from unistack.planner.cost import EngineContext, engine_cost, features, predict, scaled, udf_cost
from unistack.planner.optimize import optimize
from unistack.planner.profile import EngineProfile

N = 10_000


def _frame() -> us.LazyFrame:
    t = pa.table({"k": [i % 10 for i in range(N)], "x": [float(i) for i in range(N)]})
    return us.from_arrow(t).group_by("k").agg(us.col("x").sum())


def _ctx(profile: EngineProfile, **kw: object) -> EngineContext:
    args: dict[str, object] = {"warm": True, "parallelism": 2.0, "memory_bytes": None}
    args.update(kw)
    return EngineContext("e", profile, **args)  # type: ignore[arg-type]


def test_features_of_a_group_by() -> None:
    pf = features(optimize(_frame().plan))
    v = pf.values["point"]
    assert v["job"] == 1 and v["stage"] == 1
    assert v["scan_row"] == N and v["agg_row"] == N and v["agg_group"] == 10
    assert v["arrow_in_byte"] == pytest.approx(N * 16)  # two 8-byte columns
    assert v["out_byte"] == pytest.approx(10 * 16)
    assert pf.values["low"] == pf.values["point"] == pf.values["high"]  # everything is exact here


def test_cost_arithmetic_start_compute_transfer() -> None:
    prof = EngineProfile(make_coef(startup=3.0, job=0.5, stage=0.25, scan_row=1e-6, agg_row=2e-6,
                                   agg_group=1e-3, arrow_in_byte=1e-7, out_byte=1e-6), parallelism=2)
    pf = features(optimize(_frame().plan))
    cold = engine_cost(pf, _ctx(prof, warm=False, parallelism=4.0))
    assert cold.feasible and cold.note == "no session yet"
    assert cold.start == pytest.approx(3.0)
    compute = 0.5 + 0.25 + (1e-6 * N + 2e-6 * N + 1e-3 * 10) / 4
    assert cold.compute == pytest.approx(compute)
    assert cold.transfer == pytest.approx(1e-7 * N * 16 + 1e-6 * 160)
    assert cold.total == pytest.approx(3.0 + compute + cold.transfer)
    warm = engine_cost(pf, _ctx(prof, warm=True, parallelism=4.0))
    assert warm.start == 0 and warm.total == pytest.approx(cold.total - 3.0)
    # Parallelism divides only the per-row terms.
    two = engine_cost(pf, _ctx(prof, parallelism=2.0))
    assert two.compute - 0.75 == pytest.approx(2 * (warm.compute - 0.75))
    assert cold.low <= cold.total <= cold.high


def test_python_functions_are_parallel_only_on_process_engines() -> None:
    @udf_cost(1e-4)
    def slow(batch: pa.RecordBatch) -> pa.RecordBatch:
        return batch

    frame = us.from_dict({"a": list(range(1000))}).map_batches(slow, {"a": "int64"})
    pf = features(optimize(frame.plan))
    assert pf.values["point"]["udf_cpu"] == pytest.approx(0.1)
    coef = make_coef(udf_cpu=1.0)
    inproc = engine_cost(pf, _ctx(EngineProfile(coef, python_parallel=False), parallelism=8.0))
    procs = engine_cost(pf, _ctx(EngineProfile(coef, python_parallel=True), parallelism=8.0))
    assert inproc.compute == pytest.approx(0.1)
    assert procs.compute == pytest.approx(0.1 / 8)


def test_resident_input_is_not_moved_again() -> None:
    frame = _frame()
    plan = optimize(frame.plan)
    pf = features(plan)
    key = next(iter(pf.arrow_inputs["point"]))
    prof = EngineProfile(make_coef(arrow_in_byte=1e-6))
    moved = engine_cost(pf, _ctx(prof))
    held = engine_cost(pf, _ctx(prof, resident=frozenset({key})))
    assert moved.transfer == pytest.approx(N * 16 * 1e-6)
    assert held.transfer == 0


def test_unsupported_operation_is_infeasible_with_reason() -> None:
    pf = features(optimize(_frame().plan))
    c = engine_cost(pf, _ctx(EngineProfile(make_coef())), missing={"agg:sum": "no decimal sums here"})
    assert not c.feasible and c.total == math.inf
    assert c.reason == "unsupported agg:sum: no decimal sums here"


def test_memory_above_available_is_infeasible_unless_the_engine_spills() -> None:
    pf = features(optimize(_frame().plan))
    need = pf.peak_bytes * 2.0
    no_spill = EngineProfile(make_coef(job=0.01), spills=False, memory_factor=2.0)
    c = engine_cost(pf, _ctx(no_spill, memory_bytes=need / 2))
    assert not c.feasible and "estimated peak memory" in c.reason and "does not spill" in c.reason
    assert engine_cost(pf, _ctx(no_spill, memory_bytes=need * 2)).feasible
    spill = EngineProfile(make_coef(job=0.01, spill_byte=1e-6), spills=True, memory_factor=2.0)
    s = engine_cost(pf, _ctx(spill, memory_bytes=need / 2))
    assert s.feasible and s.features["spill_byte"] == pytest.approx(need / 2)
    assert s.compute == pytest.approx(0.01 + 1e-6 * need / 2) and "spills" in s.note


def test_streaming_plan_on_batch_only_engine_is_infeasible() -> None:
    from dataclasses import dataclass

    from unistack.plan import nodes as pn

    @dataclass(frozen=True, eq=False)
    class Stream(pn.InMemorySource):
        unbounded: bool = True

    plan = pn.Scan(Stream(pa.table({"a": [1]})))
    pf = features(plan)
    assert pf.unbounded
    prof = EngineProfile(make_coef())
    c = engine_cost(pf, _ctx(prof, streaming=False))
    assert not c.feasible and "batch-only" in c.reason
    assert engine_cost(pf, _ctx(prof, streaming=True)).feasible
    bounded = features(optimize(_frame().plan))
    c2 = engine_cost(bounded, _ctx(prof, batch=False, streaming=True))
    assert not c2.feasible and "streaming-only" in c2.reason


def test_scaled_and_predict_split_components() -> None:
    prof = EngineProfile(make_coef(startup=1.0, job=2.0, out_byte=3.0))
    x = scaled({"job": 1.0, "out_byte": 1.0, "scan_row": 10.0}, _ctx(prof, warm=False, parallelism=5.0))
    assert x["startup"] == 1.0 and x["scan_row"] == 2.0
    assert predict(x, prof) == {"start": 1.0, "compute": 2.0, "transfer": 3.0}


def test_decimal_operations_are_counted_per_row() -> None:
    import decimal

    n = 1000
    t = pa.table({"k": [i % 4 for i in range(n)],
                  "price": pa.array([decimal.Decimal(i) / 100 for i in range(n)], pa.decimal128(15, 2)),
                  "disc": pa.array([decimal.Decimal(i % 10) / 100 for i in range(n)], pa.decimal128(15, 2)),
                  "f": [float(i) for i in range(n)]})
    # Q1's shape: one decimal product of a decimal difference, two decimal sums, a decimal mean
    q1 = us.from_arrow(t).group_by("k").agg((us.col("price") * (1 - us.col("disc"))).sum(), us.col("price").sum()
                                            .alias("p"), us.col("disc").mean())
    assert features(optimize(q1.plan)).values["point"]["decimal_row"] == pytest.approx(5 * n)
    floats = us.from_arrow(t).group_by("k").agg((us.col("f") * (1 - us.col("f"))).sum().alias("a"), us.col("f").mean())
    assert features(optimize(floats.plan)).values["point"]["decimal_row"] == 0
    projected = us.from_arrow(t).select((us.col("price") + us.col("disc")).alias("s"), "f")
    assert features(optimize(projected.plan)).values["point"]["decimal_row"] == pytest.approx(n)
    # the feature is per row and parallel: an engine with a decimal coefficient pays for it
    pf = features(optimize(q1.plan))
    slow = EngineProfile(make_coef(job=0.001, decimal_row=1e-6), parallelism=2)
    fast = EngineProfile(make_coef(job=0.001), parallelism=2)
    gap = engine_cost(pf, _ctx(slow)).total - engine_cost(pf, _ctx(fast)).total
    assert gap == pytest.approx(5 * n * 1e-6 / 2)


def test_ordered_windows_sort_their_input_and_python_functions_count_jobs() -> None:
    n = 4096
    t = pa.table({"g": [i % 50 for i in range(n)], "x": [float(i) for i in range(n)]})
    ranked = us.from_arrow(t).with_columns(us.row_number().over("g", order_by="x").alias("rn"))
    v = features(optimize(ranked.plan)).values["point"]
    assert v["window_row"] == n and v["window_sort_row"] == pytest.approx(n * math.log2(n + 2))
    unordered = us.from_arrow(t).with_columns(us.col("x").sum().over("g").alias("s"))
    v = features(optimize(unordered.plan)).values["point"]
    assert v["window_row"] == n and v["window_sort_row"] == 0

    def double(batch: pa.RecordBatch) -> pa.RecordBatch:
        return pa.record_batch({"y": pa.compute.multiply(batch.column(0), 2.0)})

    two = us.from_arrow(t).select("x").map_batches(udf_cost(1e-6)(double), {"y": "float64"}) \
        .map_batches(udf_cost(1e-6)(double), {"y": "float64"})
    v = features(optimize(two.plan)).values["point"]
    assert v["udf_job"] == 2 and v["udf_cpu"] == pytest.approx(2 * n * 1e-6)


def test_string_operations_are_counted_in_filters_scans_and_projections(tmp_path: object) -> None:
    import os

    import pyarrow.parquet as pq

    n = 2000
    t = pa.table({"s": [f"item-{i % 97}" for i in range(n)], "x": [float(i) for i in range(n)]})
    eq_and_prefix = us.from_arrow(t).filter((us.col("s") == "item-3") | us.col("s").str.starts_with("item-1"))
    v = features(optimize(eq_and_prefix.plan)).values["point"]
    assert v["string_row"] == pytest.approx(2 * n)  # two string operations on every row read
    lengths = us.from_arrow(t).select(us.col("s").str.len().alias("n"), (us.col("x") > 3).alias("big"))
    assert features(optimize(lengths.plan)).values["point"]["string_row"] == pytest.approx(n)  # not x > 3
    path = os.path.join(str(tmp_path), "s.parquet")
    pq.write_table(t, path)
    pushed = us.read_parquet(path).filter(us.col("s") == "item-3").select("x")
    plan = optimize(pushed.plan)
    assert features(plan).values["point"]["string_row"] == pytest.approx(n)  # a filter pushed into the scan
    numeric = us.from_arrow(t).filter(us.col("x") > 10.0)
    assert features(optimize(numeric.plan)).values["point"]["string_row"] == 0


def test_in_memory_string_columns_are_counted_apart_and_not_moved_again_when_resident() -> None:
    n = 1000
    t = pa.table({"s": pa.array([f"v{i}" for i in range(n)]).cast(pa.string_view()), "x": [1.0] * n})
    pf = features(optimize(us.from_arrow(t).select(us.col("s").max(), us.col("x").sum()).plan))
    v = pf.values["point"]
    assert 0 < v["arrow_string_byte"] < v["arrow_in_byte"]
    assert v["arrow_in_byte"] - v["arrow_string_byte"] == pytest.approx(8 * n)  # the float column
    numbers = features(optimize(us.from_arrow(t).select(us.col("x").sum()).plan)).values["point"]
    assert numbers["arrow_string_byte"] == 0 and numbers["arrow_in_byte"] == pytest.approx(8 * n)
    prof = EngineProfile(make_coef(job=0.001, arrow_in_byte=1e-9, arrow_string_byte=1e-8), parallelism=2)
    key = next(iter(pf.arrow_inputs["point"]))
    moved = scaled(pf.values["point"], _ctx(prof), pf.arrow_inputs["point"])
    held = scaled(pf.values["point"], _ctx(prof, resident=frozenset({key})), pf.arrow_inputs["point"])
    assert moved["arrow_string_byte"] > 0 and held["arrow_string_byte"] == 0 and held["arrow_in_byte"] == 0


def _cgroup_tree(tmp_path: Any, v2: bool, limit: str, used: int, inactive: int) -> tuple[str, str]:
    proc = tmp_path / "cgroup"
    if v2:
        proc.write_text("0::/job\n")
        base = tmp_path / "fs" / "job"
        files, stat = ("memory.max", "memory.current"), f"anon 1\ninactive_file {inactive}\n"
    else:
        proc.write_text("5:cpu:/\n4:memory:/job\n")
        base = tmp_path / "fs" / "memory" / "job"
        files = ("memory.limit_in_bytes", "memory.usage_in_bytes")
        stat = f"cache 1\ntotal_inactive_file {inactive}\n"
    base.mkdir(parents=True)
    (base / files[0]).write_text(limit + "\n")
    (base / files[1]).write_text(f"{used}\n")
    (base / "memory.stat").write_text(stat)
    return str(proc), str(tmp_path / "fs")


@pytest.mark.parametrize("v2", [False, True])
def test_memory_left_in_a_control_group(tmp_path: Any, v2: bool) -> None:
    from unistack.planner.cost import cgroup_memory_left

    gib = 1 << 30
    proc, root = _cgroup_tree(tmp_path, v2, str(3 * gib), used=2 * gib, inactive=gib // 2)
    # the limit minus what the group holds, file pages the kernel can drop not counted
    assert cgroup_memory_left(proc, root) == 3 * gib - (2 * gib - gib // 2)


@pytest.mark.parametrize(("v2", "limit"), [(True, "max"), (False, str(9223372036854771712))])
def test_no_memory_limit_in_a_control_group(tmp_path: Any, v2: bool, limit: str) -> None:
    from unistack.planner.cost import cgroup_memory_left

    proc, root = _cgroup_tree(tmp_path, v2, limit, used=1 << 30, inactive=0)
    assert cgroup_memory_left(proc, root) is None
    assert cgroup_memory_left(str(tmp_path / "missing"), root) is None
