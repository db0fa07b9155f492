"""Spark-specific tests: what the shared suite in tests/engines cannot see (session tuning, unsigned
types, file order, Spark's readers, native explain, failures). Semantics tests also run on Polars, the
reference, so both engines are held to the same literal answers.

Spark starts once for the whole test run (the engine keeps one session per process).
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

import unistack as us
from unistack.backends.registry import get_engine, is_installed
from unistack.backends.spark.engine import _compiled_key
from unistack.testing.compare import assert_table_equal

pytestmark = pytest.mark.skipif(not is_installed("spark"), reason="pyspark is not installed")

BOTH = ["polars", "spark"]


@pytest.fixture(scope="session")
def spark_engine():  # type: ignore[no-untyped-def]
    engine = get_engine("spark")
    engine.session()  # start once for the whole run
    return engine


def run(frame: us.LazyFrame, engine: str, expected: dict | pa.Table, ordered: bool = False) -> pa.Table:
    result = frame.collect(engine=engine)
    assert_table_equal(result, expected, ordered=ordered, schema=frame.schema)
    return result


# -- engine object and session --------------------------------------------------------------------------------


def test_import_unistack_does_not_import_pyspark() -> None:
    code = "import sys, unistack; assert 'pyspark' not in sys.modules and 'py4j' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_capabilities_cover_every_operation() -> None:
    from unistack.backends.base import ALL_OPERATIONS

    caps = get_engine("spark").capabilities()
    assert caps.supported == ALL_OPERATIONS
    assert dict(caps.unsupported) == {}


def test_session_is_started_once_and_tuned(spark_engine) -> None:  # type: ignore[no-untyped-def]
    spark = spark_engine.session()
    assert spark_engine.session() is spark
    conf = spark.conf
    assert conf.get("spark.sql.session.timeZone") == "UTC"
    assert conf.get("spark.sql.ansi.enabled") == "false"
    assert conf.get("spark.sql.caseSensitive") == "true"
    assert conf.get("spark.sql.shuffle.partitions") == str(us.get_option("spark.shuffle_partitions"))
    assert spark.sparkContext.getConf().get("spark.ui.enabled") == "false"
    status = spark_engine.status()
    assert status.installed and status.warm
    assert status.cores is not None and status.cores >= 1
    assert status.detail.startswith("pyspark 4")


def test_a_driver_out_of_memory_ends_the_jvm_instead_of_hanging(spark_engine) -> None:  # type: ignore[no-untyped-def]
    from unistack.backends.spark.session import EXIT_ON_OOM, SessionSettings

    java = spark_engine.session().sparkContext.getConf().get("spark.driver.extraJavaOptions")
    assert EXIT_ON_OOM in java
    own = SessionSettings("local[2]", None, 2, "1g", (("spark.driver.extraJavaOptions", "-Dmine=1"),)).conf()
    assert own["spark.driver.extraJavaOptions"] == f"-Dmine=1 {EXIT_ON_OOM}"  # the user's options are kept
    remote = SessionSettings("local[2]", "sc://host:15002", 2, "1g", ()).conf()
    assert "spark.driver.extraJavaOptions" not in remote  # a Spark Connect server is not ours to configure


def test_in_memory_input_is_shipped_once(spark_engine) -> None:  # type: ignore[no-untyped-def]
    frame = us.from_dict({"a": [3, 1, 2]})
    first = spark_engine._arrow_frame(frame.plan.source)
    frame.filter(us.col("a") > 1).collect(engine="spark")
    assert spark_engine._arrow_frame(frame.plan.source) is first


def test_compiled_plan_is_reused_until_its_file_changes(tmp_path, spark_engine) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": [1, 2, 3]}), path)
    frame = us.read_parquet(str(path)).filter(us.col("a") > 1).select(total=us.col("a").sum())
    first = spark_engine.compile(frame.plan)
    cached = spark_engine._compiled[_compiled_key(frame.plan)][1]
    again = spark_engine.compile(us.read_parquet(str(path)).filter(us.col("a") > 1)
                                 .select(total=us.col("a").sum()).plan)  # an equal plan, rebuilt
    assert again is not first  # a fresh DataFrame per run (a DataFrame that ran keeps its shuffle output)...
    assert spark_engine._compiled[_compiled_key(frame.plan)][1] is cached  # ...over the same compiled one
    run(frame, "spark", {"total": [5]})
    pq.write_table(pa.table({"a": [10, 20, 30, 40]}), path)  # rewritten: a new size, a new DataFrame
    run(frame, "spark", {"total": [100]})
    spark_engine.compile(frame.plan)
    assert spark_engine._compiled[_compiled_key(frame.plan)][1] is not cached


def test_explain_includes_spark_physical_plan(spark_engine) -> None:  # type: ignore[no-untyped-def]
    frame = us.from_dict({"k": ["a", "b", "a"], "v": [1, 2, 3]}).group_by("k").agg(us.col("v").sum())
    text = str(us.explain(frame, engine="spark"))
    assert "== spark plan ==" in text
    assert "Physical Plan" in text
    assert "HashAggregate" in text


def test_case_sensitive_and_dotted_column_names(spark_engine) -> None:  # type: ignore[no-untyped-def]
    frame = us.from_dict({"a": [1, 2], "A": [10, 20], "x.y": [5, 6], "sp ace`": [7, 8]})
    out = frame.select(us.col("A") + us.col("a"), us.col("x.y"), us.col("sp ace`") * 2)
    run(out, "spark", {"A": [11, 22], "x.y": [5, 6], "sp ace`": [14, 16]})


# -- semantics Spark needs help with (checked on the reference too) ------------------------------------------


@pytest.mark.parametrize("engine", BOTH)
def test_unsigned_arithmetic_wraps_in_its_type(engine: str, spark_engine) -> None:  # type: ignore[no-untyped-def]
    frame = us.from_dict(
        {"a": [250, 3, 0], "b": [10, 5, 1], "c": [2**32 - 1, 7, 0], "d": [2**64 - 1, 2**63, 5]},
        schema={"a": "uint8", "b": "uint8", "c": "uint32", "d": "uint64"},
    )
    out = frame.select(
        add=us.col("a") + us.col("b"), sub=us.col("a") - us.col("b"), mul=us.col("a") * us.col("b"),
        c2=us.col("c") * us.col("c"), d2=us.col("d") * 3, dsum=us.col("d") + us.col("d"),
    )
    assert out.schema.field("add").type == pa.uint8() and out.schema.field("d2").type == pa.uint64()
    run(out, engine, {
        "add": [4, 8, 1], "sub": [240, 254, 255], "mul": [196, 15, 0],
        "c2": [1, 49, 0], "d2": [2**64 - 3, 2**63, 15], "dsum": [2**64 - 2, 0, 10],
    })


@pytest.mark.parametrize("engine", BOTH)
def test_casts_to_unsigned_out_of_range_give_null(engine: str, spark_engine) -> None:  # type: ignore[no-untyped-def]
    frame = us.from_dict({"i": [-1, 255, 256], "f": [3.7, -0.5, 1e30]})
    out = frame.select(us.col("i").cast("uint8"), us.col("f").cast("uint64"))
    run(out, engine, {"i": [None, 255, None], "f": [3, 0, None]})


@pytest.mark.parametrize("engine", BOTH)
def test_first_last_follow_file_order_across_files(engine: str, tmp_path, spark_engine) -> None:  # type: ignore[no-untyped-def]
    # Spark packs file splits largest first; the biggest file comes last in path order here.
    sizes = [(1, "a"), (3, "b"), (400, "c")]
    for i, (n, tag) in enumerate(sizes):
        values = [f"{tag}{j}" for j in range(n)]
        pq.write_table(pa.table({"g": ["k"] * n, "v": values}), tmp_path / f"part-{i}.parquet")
    frame = us.read_parquet(str(tmp_path)).group_by("g").agg(
        first=us.col("v").first(), last=us.col("v").last(), n=us.count())
    run(frame, engine, {"g": ["k"], "first": ["a0"], "last": ["c399"], "n": [404]})


@pytest.mark.parametrize("engine", BOTH)
def test_first_last_after_sort_follow_the_sort(engine: str, spark_engine) -> None:  # type: ignore[no-untyped-def]
    frame = us.from_dict({"g": [1, 1, 1, 2, 2], "o": [3, 1, 2, 5, 4], "v": ["c", "a", None, "e", "d"]})
    out = frame.sort("o").group_by("g").agg(us.col("v").first(), last=us.col("v").last())
    run(out, engine, {"g": [1, 2], "v": ["a", "d"], "last": ["c", "e"]})


@pytest.mark.parametrize("engine", BOTH)
def test_sort_is_stable(engine: str, spark_engine) -> None:  # type: ignore[no-untyped-def]
    frame = us.from_dict({"k": [2, 1, 2, 1, 2, 1], "i": [0, 1, 2, 3, 4, 5]})
    run(frame.sort("k"), engine, {"k": [1, 1, 1, 2, 2, 2], "i": [1, 3, 5, 0, 2, 4]}, ordered=True)


@pytest.mark.parametrize("engine", BOTH)
def test_timestamps_in_other_zones_keep_zone_and_local_parts(engine: str, spark_engine) -> None:  # type: ignore[no-untyped-def]
    berlin = pa.array([dt.datetime(2024, 3, 31, 22, 30, tzinfo=dt.UTC), None], pa.timestamp("us", "UTC")).cast(
        pa.timestamp("us", "Europe/Berlin"))
    frame = us.from_arrow(pa.table({"t": berlin}))
    out = frame.select(
        "t", day=us.col("t").dt.day(), hour=us.col("t").dt.hour(), month=us.col("t").dt.truncate("month"))
    month_start = dt.datetime(2024, 3, 31, 22, 0, tzinfo=dt.UTC)  # 2024-04-01 00:00 in Berlin (CEST)
    result = run(out, engine, {
        "t": [dt.datetime(2024, 3, 31, 22, 30, tzinfo=dt.UTC), None], "day": [1, None], "hour": [0, None],
        "month": [month_start, None],
    })
    assert result.schema.field("t").type == pa.timestamp("us", "Europe/Berlin")


# -- Spark's own readers ------------------------------------------------------------------------------------


def test_parquet_nanosecond_and_unsigned_columns(tmp_path, spark_engine) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "ns.parquet"
    table = pa.table({
        "t": pa.array([1_700_000_000_123_456_789, None], pa.timestamp("ns")),
        "u": pa.array([4_000_000_000, 1], pa.uint32()),
        "b": pa.array([255, 0], pa.uint8()),
    })
    pq.write_table(table, path)  # INT64 TIMESTAMP(NANOS), which Spark reads only as a long
    frame = us.read_parquet(str(path))
    out = frame.select("t", "u", "b", sec=us.col("t").dt.second(), u1=us.col("u") + 1)
    expected = pa.table({
        "t": pa.array([1_700_000_000_123_456_000, None], pa.timestamp("ns")),  # Spark keeps microseconds
        "u": pa.array([4_000_000_000, 1], pa.uint32()), "b": pa.array([255, 0], pa.uint8()),
        "sec": pa.array([20, None], pa.int32()), "u1": pa.array([4_000_000_001, 2], pa.uint32()),
    })
    run(out, "spark", expected)


def test_csv_with_several_null_markers(tmp_path, spark_engine) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "n.csv"
    path.write_text('a;b;c\n1;x;2024-01-02\nNA;;NA\n3;"q;uote";\n')
    frame = us.read_csv(str(path), separator=";", null_values=["NA", ""],
                        schema={"a": "int64", "b": "string", "c": "date"})
    run(frame, "spark", {"a": [1, None, 3], "b": ["x", None, "q;uote"], "c": [dt.date(2024, 1, 2), None, None]})


@pytest.fixture(scope="session")
def tpch_dir(tmp_path_factory):  # type: ignore[no-untyped-def]
    exe = os.path.join(os.path.dirname(sys.executable), "tpchgen-cli")
    if not os.path.exists(exe):
        pytest.skip("tpchgen-cli is not installed")
    out = tmp_path_factory.mktemp("tpch")
    subprocess.run([exe, "parquet", "-s", "0.01", "--tables", "lineitem", "--output-dir", str(out)],
                   check=True, timeout=120, capture_output=True)
    return out


def test_tpch_parquet_from_tpchgen_cli(tpch_dir, spark_engine) -> None:  # type: ignore[no-untyped-def]
    # tpchgen-cli writes string_view strings and decimal128 money columns; Spark reads them as they are.
    lineitem = us.read_parquet(str(tpch_dir / "lineitem.parquet"))
    assert pq.read_schema(tpch_dir / "lineitem.parquet").field("l_returnflag").type == pa.string_view()
    price = us.col("l_extendedprice") * (1 - us.col("l_discount"))
    q1 = (
        lineitem.filter(us.col("l_shipdate") <= dt.date(1998, 9, 2))
        .group_by("l_returnflag", "l_linestatus")
        .agg(qty=us.col("l_quantity").sum(), revenue=price.sum(), n=us.count(),
             avg_disc=us.col("l_discount").mean())
        .sort("l_returnflag", "l_linestatus")
    )
    spark_result = q1.collect(engine="spark")
    polars_result = q1.collect(engine="polars")
    assert spark_result.schema == q1.schema
    assert spark_result.schema.field("l_returnflag").type == pa.large_string()
    assert pa.types.is_decimal(spark_result.schema.field("revenue").type)
    assert_table_equal(spark_result, polars_result, ordered=True)
    assert spark_result.column("l_returnflag").to_pylist() == ["A", "N", "N", "R"]
    assert spark_result.column("n").to_pylist() == [14876, 348, 29181, 14902]


# -- failures -------------------------------------------------------------------------------------------------


def test_missing_file_is_a_data_source_error(tmp_path, spark_engine) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "gone.csv"
    pacsv.write_csv(pa.table({"a": [1]}), path)
    frame = us.read_csv(str(path))
    path.unlink()
    with pytest.raises(us.UnistackError) as info:
        frame.collect(engine="spark")
    assert isinstance(info.value, (us.DataSourceError, us.EngineError))
    assert "gone.csv" in str(info.value)


def _crash(batch: pa.RecordBatch) -> pa.RecordBatch:
    os._exit(3)


def test_crashed_python_worker_is_an_engine_error(spark_engine) -> None:  # type: ignore[no-untyped-def]
    frame = us.from_dict({"a": [1, 2]}).map_batches(_crash, schema={"a": "int64"})
    with pytest.raises(us.EngineError) as info:
        frame.collect(engine="spark")
    assert info.value.engine == "spark"
    assert "Traceback" not in str(info.value)
    # the session survives and keeps working
    run(us.from_dict({"a": [1, 2]}).filter(us.col("a") > 1), "spark", {"a": [2]})


def test_spark_errors_never_escape_raw(spark_engine) -> None:  # type: ignore[no-untyped-def]
    from unistack.backends.spark.engine import translate_error

    err = translate_error(RuntimeError("boom\n\tat org.apache.spark.Foo(Foo.scala:1)"))
    assert isinstance(err, us.EngineError)
    assert str(err) == "engine 'spark' failed: RuntimeError: boom"
