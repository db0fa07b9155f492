"""What is specific to the DuckDB engine: Arrow registration without copies, configuration, native
explain, capabilities, error wrapping, map_batches streaming, threads, and the SQL it generates."""

from __future__ import annotations

import datetime as dt
import decimal
import os
import threading
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

pytest.importorskip("duckdb")

import unistack as us
from unistack.backends.base import ALL_OPERATIONS
from unistack.backends.duckdb import DuckDBEngine
from unistack.backends.duckdb.engine import _ingestible, _Run, parse_memory
from unistack.backends.registry import get_engine
from unistack.planner.optimize import optimize


@pytest.fixture(scope="module")
def engine() -> DuckDBEngine:
    eng = get_engine("duckdb")
    assert isinstance(eng, DuckDBEngine)
    return eng


# -- Arrow in, without copies -------------------------------------------------------------------------


class _RecordingCursor:
    def __init__(self) -> None:
        self.registered: list[tuple[str, Any]] = []

    def register(self, name: str, obj: Any) -> None:
        self.registered.append((name, obj))

    def unregister(self, name: str) -> None:
        pass


def test_arrow_tables_are_registered_as_they_are(engine: DuckDBEngine) -> None:
    table = pa.table({"a": pa.array(range(1000)), "s": pa.array(["x"] * 1000, pa.large_string()),
                      "d": pa.array(["p", "q"] * 500).dictionary_encode()})
    cursor = _RecordingCursor()
    run = _Run(engine, cursor)  # type: ignore[arg-type]
    name = run.register_table(table)
    assert cursor.registered == [(name, table)]
    assert cursor.registered[0][1] is table  # the very object: DuckDB scans its buffers in place
    assert run.register_table(table) == name  # the same table read twice is registered once


def test_only_types_duckdb_cannot_scan_are_converted() -> None:
    plain = pa.table({"a": [1, 2], "b": ["x", "y"]})
    assert _ingestible(plain) is plain
    half = pa.table({"h": pa.array([1.5, None], pa.float16()), "b": ["x", "y"]})
    out = _ingestible(half)
    assert out.schema.types == [pa.float32(), pa.string()]
    # the other column is handed over, not copied
    assert out.column("b").chunks[0].buffers()[1].address == half.column("b").chunks[0].buffers()[1].address


def test_float16_input_runs() -> None:
    frame = us.from_arrow(pa.table({"h": pa.array([1.5, None, 2.0], pa.float16())}))
    out = frame.filter(us.col("h") > 1.6).collect(engine="duckdb")
    assert out.schema == pa.schema({"h": pa.float32()})
    assert out.to_pydict() == {"h": [2.0]}


def test_in_memory_registrations_are_dropped_after_the_query(engine: DuckDBEngine) -> None:
    us.from_dict({"a": [1]}).collect(engine="duckdb")
    names = engine.connection.execute("SELECT table_name FROM duckdb_tables() UNION ALL "
                                      "SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
    assert not [n for (n,) in names if n.startswith("__unistack")]


# -- files through DuckDB's own readers ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("duckdb_files")
    table = pa.table({"id": [1, 2, 3, 4], "name": ["a", "b", None, "d"], "v": [1.5, 2.5, 3.5, None]})
    paths = {"parquet": str(d / "t.parquet"), "csv": str(d / "t.csv"), "json": str(d / "t.json")}
    pq.write_table(table, paths["parquet"])
    with open(paths["csv"], "w") as fh:
        fh.write("id,name,v\n1,a,1.5\n2,b,2.5\n3,,3.5\n4,d,\n")
    with open(paths["json"], "w") as fh:
        fh.write('{"id": 1, "name": "a", "v": 1.5}\n{"id": 2, "name": "b", "v": 2.5}\n'
                 '{"id": 3, "name": null, "v": 3.5}\n{"id": 4, "name": "d", "v": null}\n')
    return paths


@pytest.mark.parametrize("fmt", ["parquet", "csv", "json"])
def test_files_read_with_projection_and_filter(files: dict[str, str], fmt: str) -> None:
    frame = {"parquet": us.read_parquet, "csv": us.read_csv, "json": us.read_json}[fmt](files[fmt])
    out = frame.filter(us.col("id") >= 2).select("name", "id").sort("id").collect(engine="duckdb")
    assert out.to_pydict() == {"name": ["b", None, "d"], "id": [2, 3, 4]}
    assert out.schema == pa.schema({"name": pa.large_string(), "id": pa.int64()})


def test_parquet_pushdown_shows_in_duckdb_plan(files: dict[str, str], engine: DuckDBEngine) -> None:
    frame = us.read_parquet(files["parquet"]).filter(us.col("id") > 2).select("name")
    text = engine.explain_native(optimize(frame.plan))
    assert "READ_PARQUET" in text.upper() or "PARQUET_SCAN" in text.upper()
    assert "Filters:" in text or "Filter" in text


def test_missing_file_is_a_data_source_error(tmp_path: Any) -> None:
    path = str(tmp_path / "gone.parquet")
    pq.write_table(pa.table({"a": [1]}), path)
    frame = us.read_parquet(path)
    os.remove(path)
    with pytest.raises(us.DataSourceError):
        frame.collect(engine="duckdb")


# -- configuration, status, explain, capabilities ------------------------------------------------------------


def test_threads_and_memory_limit_follow_the_configuration(engine: DuckDBEngine) -> None:
    def current() -> tuple[int, int | None]:
        rows = engine.connection.execute(
            "SELECT current_setting('threads'), current_setting('memory_limit')").fetchall()
        return int(rows[0][0]), parse_memory(str(rows[0][1]))

    us.from_dict({"a": [1]}).collect(engine="duckdb")
    before = current()
    with us.config(duckdb_threads=1, duckdb_memory_limit="1GB"):
        assert us.from_dict({"a": [1, 2]}).filter(us.col("a") > 1).collect(engine="duckdb").num_rows == 1
        threads, memory = current()
        assert threads == 1
        assert memory is not None and 0.9e9 < memory <= 1.0e9
        assert engine.status().cores == 1
    us.from_dict({"a": [1]}).collect(engine="duckdb")  # settings are re-applied before each query
    assert current() == before


def test_status_is_cheap_and_reports_resources(engine: DuckDBEngine) -> None:
    fresh = DuckDBEngine()
    status = fresh.status()
    assert status.installed and not status.warm  # asking never starts the database
    us.from_dict({"a": [1]}).collect(engine="duckdb")
    status = engine.status()
    assert status.warm and status.cores and status.memory_bytes and status.memory_bytes > 0
    assert "duckdb" in status.detail


def test_explain_includes_duckdb_own_plan() -> None:
    frame = us.from_dict({"k": ["a", "b"], "v": [1, 2]}).group_by("k").agg(us.col("v").sum()).sort("k")
    text = str(us.explain(frame, engine="duckdb"))
    assert "== duckdb plan ==" in text
    assert "-- DuckDB physical plan (EXPLAIN)" in text
    native = text.split("-- DuckDB physical plan (EXPLAIN)")[1].upper().replace("_", " ")
    assert "HASH GROUP BY" in native
    assert "ORDER BY" in native
    assert "ARROW SCAN" in native


def test_explain_does_not_run_map_batches() -> None:
    calls = []

    def fn(batch: pa.RecordBatch) -> pa.RecordBatch:
        calls.append(batch.num_rows)
        return batch

    frame = us.from_dict({"a": [1, 2]}).map_batches(fn, {"a": "int64"})
    text = str(us.explain(frame, engine="duckdb"))
    assert "map_batches 'fn' reads" in text
    assert calls == []


def test_every_operation_is_implemented(engine: DuckDBEngine) -> None:
    caps = engine.capabilities()
    assert caps.supported >= ALL_OPERATIONS
    assert dict(caps.unsupported) == {}


def test_engine_failures_are_wrapped() -> None:
    big = decimal.Decimal("9" * 37)
    frame = us.from_dict({"d": [big] * 20}, schema={"d": "decimal(38, 0)"}).select(us.col("d").sum())
    with pytest.raises(us.EngineError, match="duckdb"):
        frame.collect(engine="duckdb")


def test_unsupported_operation_error_names_engine_and_operation(monkeypatch: pytest.MonkeyPatch,
                                                                 engine: DuckDBEngine) -> None:
    from unistack.backends import base
    from unistack.planner.choose import clear_caches

    real = base.Capabilities.from_translator
    monkeypatch.setattr(engine, "capabilities",
                        lambda: real(set(base.ALL_OPERATIONS) - {"join:anti"}, {"join:anti": "for the test"}))
    clear_caches()  # capabilities are computed once per engine instance
    try:
        left, right = us.from_dict({"k": [1, 2]}), us.from_dict({"k": [1]})
        with pytest.raises(us.UnsupportedOperationError, match=r"duckdb.*join:anti"):
            left.join(right, on="k", how="anti").collect(engine="duckdb")
    finally:
        monkeypatch.undo()
        clear_caches()


# -- map_batches: streaming, errors -----------------------------------------------------------------------


def test_map_batches_streams_batch_by_batch() -> None:
    sizes: list[int] = []

    def double(batch: pa.RecordBatch) -> pa.RecordBatch:
        sizes.append(batch.num_rows)
        return pa.record_batch({"x": pc.multiply(batch["a"], 2)})

    n = 300_000
    frame = us.from_arrow(pa.table({"a": pa.array(range(n))})).map_batches(double, {"x": "int64"})
    with us.config(duckdb_threads=1):  # a single DuckDB thread must not deadlock on the Python stream
        out = frame.filter(us.col("x") % 3 == 0).select(us.col("x").sum(), n=us.count()).collect(engine="duckdb")
    assert out.to_pydict() == {"x": [sum(2 * i for i in range(n) if (2 * i) % 3 == 0)], "n": [100_000]}
    assert sum(sizes) == n and len(sizes) > 1 and max(sizes) < n


def test_map_batches_errors_are_user_function_errors() -> None:
    def broken(batch: pa.RecordBatch) -> pa.RecordBatch:
        raise ValueError("boom")

    frame = us.from_dict({"a": [1, 2]}).map_batches(broken, {"a": "int64"})
    with pytest.raises(us.UserFunctionError, match="boom"):
        frame.collect(engine="duckdb")


def test_map_batches_inside_a_join_and_twice() -> None:
    def plus(batch: pa.RecordBatch) -> pa.RecordBatch:
        return pa.record_batch({"k": batch["k"], "w": pc.add(batch["v"], 100)})

    base_frame = us.from_dict({"k": [1, 2, 3], "v": [1, 2, 3]})
    mapped = base_frame.map_batches(plus, {"k": "int64", "w": "int64"})
    out = mapped.join(mapped.rename({"w": "w2"}), on="k").sort("k").collect(engine="duckdb")
    assert out.to_pydict() == {"k": [1, 2, 3], "w": [101, 102, 103], "w2": [101, 102, 103]}


# -- threads ---------------------------------------------------------------------------------------------------


def test_concurrent_queries_from_several_threads() -> None:
    results: dict[int, Any] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            frame = us.from_dict({"a": list(range(i * 100, i * 100 + 50))})
            results[i] = frame.select(us.col("a").sum()).collect(engine="duckdb").to_pydict()["a"][0]
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert results == {i: sum(range(i * 100, i * 100 + 50)) for i in range(6)}


# -- semantics enforced in the SQL (beyond the shared suite) ------------------------------------------------------


def test_integer_arithmetic_wraps_like_twos_complement() -> None:
    frame = us.from_dict({"a": [2**63 - 1, -(2**63)], "s": [127, -128]}, schema={"a": "int64", "s": "int8"})
    out = frame.select(p=us.col("a") + 1, m=us.col("a") * 2, n=-us.col("a"), q=us.col("a") // -1,
                       s=us.col("s") + 1, b=us.col("a").abs()).collect(engine="duckdb")
    assert out.to_pydict() == {"p": [-(2**63), -(2**63) + 1], "m": [-2, 0], "n": [-(2**63) + 1, -(2**63)],
                               "q": [-(2**63) + 1, -(2**63)], "s": [-128, -127], "b": [2**63 - 1, -(2**63)]}


def test_floor_division_modulo_and_division_by_zero() -> None:
    frame = us.from_dict({"a": [-7, 7, -7, 5], "b": [2, -2, 0, 0], "f": [-7.5, 7.5, 1.0, 0.0]})
    out = frame.select(d=us.col("a") // us.col("b"), m=us.col("a") % us.col("b"), t=us.col("a") / us.col("b"),
                       fd=us.col("f") // 2.0, fm=us.col("f") % -2.0).collect(engine="duckdb")
    assert out.to_pydict() == {"d": [-4, -4, None, None], "m": [1, -1, None, None], "t": [-3.5, -3.5, None, None],
                               "fd": [-4.0, 3.0, 0.0, 0.0], "fm": [-1.5, -0.5, -1.0, -0.0]}


def test_casts_fail_to_null_and_truncate() -> None:
    frame = us.from_dict({"s": ["12", "1.5", "abc", " 3"], "f": [2.9, -2.9, 1e30, float("nan")]})
    out = frame.select(i=us.col("s").cast("int64"), j=us.col("f").cast("int32")).collect(engine="duckdb")
    assert out.to_pydict() == {"i": [12, None, None, None], "j": [2, -2, None, None]}


def test_first_and_last_follow_input_order_after_a_sort() -> None:
    frame = us.from_dict({"k": ["a", "a", "a", "b", "b"], "t": [3, 1, 2, 5, 4], "v": [30, None, 20, 50, 40]})
    out = (frame.sort("t").group_by("k").agg(first=us.col("v").first(), last=us.col("v").last())
           .sort("k").collect(engine="duckdb"))
    assert out.to_pydict() == {"k": ["a", "b"], "first": [20, 40], "last": [30, 50]}


def test_time_zone_parts_use_the_column_zone() -> None:
    ts = pa.array([dt.datetime(2024, 3, 31, 23, 30, tzinfo=dt.UTC)], pa.timestamp("us", "Asia/Tokyo"))
    frame = us.from_arrow(pa.table({"t": ts}))
    out = frame.select(d=us.col("t").dt.day(), h=us.col("t").dt.hour(), w=us.col("t").dt.weekday(),
                       tr=us.col("t").dt.truncate("day")).collect(engine="duckdb")
    assert out.column("d").to_pylist() == [1] and out.column("h").to_pylist() == [8]
    assert out.column("w").to_pylist() == [1]  # Monday 1 April in Tokyo
    assert out.schema.field("tr").type == pa.timestamp("us", "Asia/Tokyo")
    assert out.column("tr").to_pylist()[0] == dt.datetime(2024, 3, 31, 15, 0, tzinfo=dt.UTC)


# -- the generated SQL --------------------------------------------------------------------------------------------


def test_generated_sql_names_user_columns_only_in_the_final_select(engine: DuckDBEngine) -> None:
    frame = us.from_dict({"Secret Name": [1, 2]}).filter(us.col("Secret Name") > 1).with_columns(
        other=us.col("Secret Name") * 2)
    sql = engine.to_sql(optimize(frame.plan))
    assert sql.count("Secret Name") == 1  # inner parts use positions c0, c1, ...
    assert sql.splitlines()[0] == 'SELECT "c0" AS "Secret Name", "c1" AS "other" FROM ('
    assert frame.collect(engine="duckdb").to_pydict() == {"Secret Name": [2], "other": [4]}


def test_a_reused_subtree_becomes_one_cte(engine: DuckDBEngine) -> None:
    """A frame used twice is one WITH part (DuckDB may compute it once); parts used once are nested."""
    agg = us.from_dict({"k": [1, 1, 2], "v": [1, 2, 5]}).group_by("k").agg(s=us.col("v").sum())
    top = agg.select(m=us.col("s").max())
    frame = agg.join(top, left_on="s", right_on="m", how="semi")
    sql = engine.to_sql(optimize(frame.plan))
    assert sql.count("GROUP BY") == 1 and sql.startswith('WITH "q1" AS MATERIALIZED (')
    assert frame.collect(engine="duckdb").to_pydict() == {"k": [2], "s": [5]}


@pytest.fixture(autouse=True)
def _no_leaked_config() -> Iterator[None]:
    yield
    us.reset_config()


def test_sorted_order_survives_projection_filter_limit_and_first_last_at_scale() -> None:
    n = 400_000
    v = pc.divide(pc.cast(pa.array([(i * 7919) % n for i in range(n)]), pa.float64()), float(n))
    frame = us.from_arrow(pa.table({"v": v, "g": pa.array([i % 7 for i in range(n)])}))
    with us.config(duckdb_threads=2):
        out = (frame.sort("v", descending=True).with_columns(w=us.col("v") * 2).filter(us.col("g") > 0)
               .limit(200_000).collect(engine="duckdb"))
        firsts = (frame.sort("v").group_by("g").agg(fi=us.col("v").first(), la=us.col("v").last())
                  .sort("g").collect(engine="duckdb"))
    got = out.column("v").to_pylist()
    assert len(got) == 200_000 and got == sorted(got, reverse=True)
    expected = frame.group_by("g").agg(fi=us.col("v").min(), la=us.col("v").max()).sort("g").collect(engine="polars")
    assert firsts.to_pydict() == expected.to_pydict()


def test_is_in_compares_in_the_common_type() -> None:
    frame = us.from_dict({"a": [1, 2, None]})
    out = frame.select(x=us.col("a").is_in([1.5, 2.0, None]), y=us.col("a").is_in([])).collect(engine="duckdb")
    assert out.to_pydict() == {"x": [False, True, None], "y": [False, False, None]}


def test_all_null_columns_keep_the_null_type() -> None:
    frame = us.from_dict({"a": [1, 2]}).with_columns(n=us.lit(None))
    out = us.concat([frame, frame]).collect(engine="duckdb")
    assert out.schema == pa.schema({"a": pa.int64(), "n": pa.null()})
    assert out.to_pydict() == {"a": [1, 2, 1, 2], "n": [None] * 4}


def test_a_window_above_a_sort_keeps_the_sorted_order() -> None:
    df = us.from_dict({"t": [3, 1, 2, 5, 4], "g": [1, 1, 2, 2, 1]})
    out = df.sort("t").with_columns(r=us.col("t").rank(descending=True).over("g"))
    expected = {"t": [1, 2, 3, 4, 5], "g": [1, 2, 1, 1, 2], "r": [3, 2, 2, 1, 1]}
    assert out.collect(engine="duckdb").to_pydict() == expected
    assert out.limit(2).collect(engine="duckdb").to_pydict() == {"t": [1, 2], "g": [1, 2], "r": [3, 2]}
    n = 200_000
    big = us.from_arrow(pa.table({"t": pa.array([(i * 7919) % n for i in range(n)]), "g": [i % 5 for i in range(n)]}))
    got = (big.sort("t", descending=True).with_columns(s=us.col("t").sum().over("g"), rn=us.row_number().over(
        "g", order_by="t")).collect(engine="duckdb").column("t").to_pylist())
    assert got == list(range(n - 1, -1, -1))
