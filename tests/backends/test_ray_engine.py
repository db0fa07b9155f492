"""The Ray Data engine: what is specific to it beyond the shared suite (tests/engines).

Native plans in explain, declared-unsupported operations, file types (decimal, string_view) read by
Ray's own readers, error wrapping, the session, and the Arrow expression evaluator it runs in workers.
One local Ray session serves the whole module (started by the first query, reused after).
"""

from __future__ import annotations

import datetime as dt
import decimal
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import unistack as us
from unistack.backends.ray import arrow_eval as ae
from unistack.plan import exprs as ex
from unistack.plan.typecheck import bind
from unistack.testing.compare import assert_table_equal

pytest.importorskip("ray")

D = decimal.Decimal
NAN = math.nan


# -- the Arrow evaluator (no Ray needed) ----------------------------------------------------------------------


def _eval(node: ex.ExprNode, table: pa.Table) -> list[object]:
    return ae.evaluate(bind(node, table.schema), table).to_pylist()


def test_arrow_eval_division_floor_and_wrapping():
    table = pa.table({"a": pa.array([7, -7, 7, 5, 127], pa.int8()), "b": pa.array([2, 2, -2, 0, 1], pa.int8())})
    assert _eval(ex.BinaryOp("//", ex.Column("a"), ex.Column("b")), table) == [3, -4, -4, None, 127]
    assert _eval(ex.BinaryOp("%", ex.Column("a"), ex.Column("b")), table) == [1, 1, -1, None, 0]
    assert _eval(ex.BinaryOp("/", ex.Column("a"), ex.Column("b")), table) == [3.5, -3.5, -3.5, None, 127.0]
    # int8 + int8 stays int8 and wraps around (two's complement)
    assert _eval(ex.BinaryOp("+", ex.Column("a"), ex.Column("b")), table) == [9, -5, 5, 5, -128]


def test_arrow_eval_nan_comparisons_and_kleene_logic():
    table = pa.table({"x": [NAN, 1.0, None], "p": [True, None, False]})
    assert _eval(ex.BinaryOp("==", ex.Column("x"), ex.Literal(NAN)), table) == [True, False, None]
    assert _eval(ex.BinaryOp(">", ex.Column("x"), ex.Literal(1.0)), table) == [True, False, None]
    assert _eval(ex.BinaryOp("|", ex.Column("p"), ex.Literal(True)), table) == [True, True, True]
    assert _eval(ex.BinaryOp("&", ex.Column("p"), ex.Literal(False)), table) == [False, False, False]


def test_arrow_eval_casts_and_strings():
    table = pa.table({"s": pa.array([" ab\t", "12", None, "日本語"], pa.large_string()),
                      "f": [2.7, -2.7, 1e20, NAN]})
    assert _eval(ex.Cast(ex.Column("s"), pa.int64()), table) == [None, 12, None, None]
    assert _eval(ex.Cast(ex.Column("f"), pa.int32()), table) == [2, -2, None, None]
    assert _eval(ex.Call("str_strip", (ex.Column("s"),)), table) == ["ab", "12", None, "日本語"]
    assert _eval(ex.Call("str_len", (ex.Column("s"),)), table) == [4, 2, None, 3]
    assert _eval(ex.Call("str_slice", (ex.Column("s"),), (-2, None)), table) == ["b\t", "12", None, "本語"]
    assert _eval(ex.Call("is_in", (ex.Column("s"),), (("12", None),)), table) == [False, True, None, False]


def test_arrow_eval_round_and_dates():
    table = pa.table({"x": [2.5, -2.5, 0.125], "t": pa.array([dt.datetime(2024, 3, 17, 13, 5)] * 3,
                                                             pa.timestamp("us", "Europe/Paris"))})
    assert _eval(ex.Call("round", (ex.Column("x"),), (0,)), table) == [3.0, -3.0, 0.0]
    assert _eval(ex.Call("dt_weekday", (ex.Column("t"),)), table) == [7, 7, 7]  # a Sunday, ISO 7
    assert _eval(ex.Call("dt_hour", (ex.Column("t"),)), table) == [14, 14, 14]  # 13:05 UTC is 14:05 in Paris


# -- the engine (one Ray session for the module) -----------------------------------------------------------


def test_capabilities_declare_windows_and_first_last_unsupported():
    from unistack.backends.registry import get_engine

    caps = get_engine("ray").capabilities()
    assert "window:over" not in caps.supported
    assert "Ray Data" in caps.unsupported["window:over"]
    assert "agg:first" in caps.unsupported
    assert {"node:Join", "join:cross", "node:Sort", "agg:n_unique", "function:dt_truncate"} <= caps.supported


def test_window_fails_with_clear_error_naming_engine_and_operation():
    df = us.from_dict({"g": [1, 1, 2], "x": [1, 2, 3]})
    frame = df.with_columns(s=us.col("x").sum().over("g"))
    with pytest.raises(us.UnsupportedOperationError) as info:
        frame.collect(engine="ray")
    assert info.value.engine == "ray"
    assert "window:over" in str(info.value)


def test_group_by_join_sort_semantics_on_ray():
    df = us.from_dict({"k": ["a", None, "a", None, "b"], "x": [1.0, NAN, None, 2.0, None]})
    out = df.group_by("k").agg(s=us.col("x").sum(), mx=us.col("x").max(), n=us.col("x").count(), c=us.count())
    got = out.collect(engine="ray")
    assert_table_equal(got, {"k": ["a", None, "b"], "s": [1.0, NAN, None], "mx": [1.0, NAN, None],
                             "n": [1, 2, 0], "c": [2, 2, 1]}, schema=out.schema)
    left = us.from_dict({"id": [1, None, 2], "l": ["p", "q", "r"]})
    right = us.from_dict({"id": [1, None, 3], "r": ["x", "y", "z"]})
    full = left.join(right, on="id", how="full")
    assert_table_equal(full.collect(engine="ray"),
                       {"id": [1, None, 2, None, 3], "l": ["p", "q", "r", None, None],
                        "r": ["x", None, None, "y", "z"]},
                       schema=full.schema)
    srt = df.sort("x", descending=True, nulls_last=False)
    assert_table_equal(srt.collect(engine="ray"), {"k": ["a", "b", None, None, "a"], "x": [None, None, NAN, 2.0, 1.0]},
                       ordered=False, schema=srt.schema)
    xs = srt.collect(engine="ray").column("x").to_pylist()
    assert xs[:2] == [None, None] and math.isnan(xs[2]) and xs[3:] == [2.0, 1.0]


def test_parquet_with_decimal_and_string_view_read_by_ray(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"sv": pa.array(["x", None, "日本"], pa.string_view()),
                             "dec": pa.array([D("1.10"), None, D("-99.99")], pa.decimal128(6, 2))}), path)
    frame = us.read_parquet(path).filter(us.col("dec").is_not_null()).select("sv", d2=us.col("dec") * 2)
    got = frame.collect(engine="ray")
    assert got.schema == frame.schema
    assert got.schema.field("sv").type == pa.large_string()
    assert_table_equal(got, {"sv": ["x", "日本"], "d2": [D("2.20"), D("-199.98")]}, schema=frame.schema)


def test_csv_and_json_read_with_declared_schema(tmp_path):
    csv = tmp_path / "t.csv"
    csv.write_text("a;b\n1;x\n;y\n3;\n")
    frame = us.read_csv(csv, separator=";", schema={"a": "int32", "b": "string"})
    assert_table_equal(frame.collect(engine="ray"), {"a": [1, None, 3], "b": ["x", "y", None]}, schema=frame.schema)
    js = tmp_path / "t.jsonl"
    js.write_text('{"a": 1, "b": "x"}\n{"a": null, "b": "y"}\n')
    jframe = us.read_json(js, schema={"a": "int64", "b": "string"})
    assert_table_equal(jframe.collect(engine="ray"), {"a": [1, None], "b": ["x", "y"]}, schema=jframe.schema)


def test_explain_includes_ray_dataset_plan():
    frame = us.from_dict({"a": [1, 2, 3]}).group_by("a").agg(n=us.count())
    text = str(us.explain(frame, engine="ray"))
    assert "== ray plan ==" in text
    assert "Aggregate" in text and "Physical Plan" in text


def test_user_function_error_is_not_an_engine_traceback():
    def boom(batch: pa.RecordBatch) -> pa.RecordBatch:
        raise ValueError("bad batch")

    frame = us.from_dict({"a": [1, 2]}).map_batches(boom, schema={"a": "int64"})
    with pytest.raises(us.UnistackError) as info:
        frame.collect(engine="ray")
    assert "bad batch" in str(info.value)


def test_missing_file_is_a_data_source_or_engine_error(tmp_path):
    path = tmp_path / "gone.parquet"
    pq.write_table(pa.table({"a": [1]}), path)
    frame = us.read_parquet(path)
    path.unlink()
    with pytest.raises((us.DataSourceError, us.EngineError)) as info:
        frame.collect(engine="ray")
    assert "gone.parquet" in str(info.value) or "ray" in str(info.value)


def test_status_reports_warm_session_and_cores():
    from unistack.backends.registry import get_engine

    us.from_dict({"a": [1]}).collect(engine="ray")
    status = get_engine("ray").status()
    assert status.installed and status.warm
    assert status.cores == 2
    assert status.detail.startswith("ray ")
