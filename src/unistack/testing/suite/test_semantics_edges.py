"""Semantics edge cases: nulls everywhere, NaN, empty and single-row inputs, extreme integers, unicode,
errors, declarations, and a check that every rule of docs/semantics.md has a case in this suite."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pyarrow as pa
import pytest

import unistack as us
from unistack.testing.plugin import require_engine

sem = pytest.mark.semantics
NAN = math.nan
I64_MAX, I64_MIN = 2**63 - 1, -(2**63)
SUITE = Path(__file__).parent


@sem("S-NULL-PROPAGATE", "S-AGG-NULLS", "S-AGG-COUNT")
def test_all_null_column_everywhere(us_check):
    table = pa.table({"k": pa.array([None, None], pa.int64()), "v": pa.array([None, None], pa.float64()),
                      "s": pa.array([None, None], pa.large_string())})
    df = us.from_arrow(table)
    us_check(df.select(x=us.col("v") + 1, n=us.col("s").str.len(), c=us.concat_str([us.col("s"), us.lit("a")])),
             {"x": [None, None], "n": [None, None], "c": [None, None]})
    us_check(df.group_by("k").agg(s=us.col("v").sum(), c=us.col("v").count(), n=us.count(), u=us.col("s").n_unique()),
             {"k": [None], "s": [None], "c": [0], "n": [2], "u": [0]})


@sem("S-AGG-EMPTY", "S-SCHEMA")
def test_empty_input_through_every_node(us_check):
    empty = us.from_arrow(pa.table({"k": pa.array([], pa.int64()), "v": pa.array([], pa.float64())}))
    other = us.from_dict({"k": [1], "w": ["x"]})
    frame = (empty.filter(us.col("v") > 0).with_columns(d=us.col("v") * 2).join(other, on="k", how="left")
             .sort("k").distinct())
    us_check(frame, {"k": [], "v": [], "d": [], "w": []})
    us_check(empty.select(n=us.count(), m=us.col("v").mean()), {"n": [0], "m": [None]})


def test_single_row_everything(us_check):
    df = us.from_dict({"k": ["a"], "v": [2.5]})
    us_check(df.group_by("k").agg(s=us.col("v").sum(), sd=us.col("v").std(), f=us.col("v").first()),
             {"k": ["a"], "s": [2.5], "sd": [None], "f": [2.5]})
    us_check(df.select("v", r=us.row_number().over(order_by="v"), s=us.col("v").shift(1).over(order_by="v")),
             {"v": [2.5], "r": [1], "s": [None]})


@sem("S-INT-WRAP", "S-CAST-TRUNC")
def test_extreme_integers(us_check):
    df = us.from_dict({"a": [I64_MAX, I64_MIN, 0]})
    us_check(df.select(n=-us.col("a"), p=us.col("a") * -1, m=us.col("a") % -1,
                       f=us.col("a").cast("float64").cast("int64")),
             {"n": [I64_MIN + 1, I64_MIN, 0], "p": [I64_MIN + 1, I64_MIN, 0], "m": [0, 0, 0], "f": [None, I64_MIN, 0]})


@sem("S-AGG-TYPES")
def test_extreme_integer_min_max(us_check):
    df = us.from_dict({"k": [1, 1, 2], "a": [I64_MAX, I64_MIN, I64_MIN]})
    us_check(df.group_by("k").agg(lo=us.col("a").min(), hi=us.col("a").max(), n=us.col("a").n_unique()),
             {"k": [1, 2], "lo": [I64_MIN, I64_MIN], "hi": [I64_MAX, I64_MIN], "n": [2, 1]})


@sem("S-STR-LEN", "S-STR-SLICE", "S-SORT-STRING")
def test_unicode_strings(us_check):
    df = us.from_dict({"s": ["😀x", "ñ", "e\u0301", "", None]})
    us_check(df.select(n=us.col("s").str.len(), h=us.col("s").str.slice(0, 1), u=us.col("s").str.upper()),
             {"n": [2, 1, 2, 0, None], "h": ["😀", "ñ", "e", "", None], "u": ["😀X", "Ñ", "E\u0301", "", None]})


@sem("S-NAN-EQ", "S-NULL-NAN")
def test_nan_everywhere(us_check):
    df = us.from_dict({"f": [NAN, NAN, None, 0.0]})
    us_check(df.distinct(), {"f": [NAN, None, 0.0]})
    us_check(df.group_by("f").agg(n=us.count()), {"f": [NAN, None, 0.0], "n": [2, 1, 1]})
    us_check(df.select(fn=us.col("f").fill_null(1.0)), {"fn": [NAN, NAN, 1.0, 0.0]})


@sem("S-ERRORS")
def test_build_time_errors_before_any_engine():
    df = us.from_dict({"price": [1], "s": ["x"]})
    with pytest.raises(us.ColumnNotFoundError, match="price"):
        df.select(us.col("prise"))
    with pytest.raises(us.InvalidTypeError):
        df.select(us.col("s") + 1)
    with pytest.raises(us.InvalidOperationError):
        df.filter(us.col("price").sum() > 1)
    with pytest.raises(us.SchemaError):
        df.select(us.col("price"), us.col("s").alias("price"))


@sem("S-ERRORS")
def test_join_key_type_mismatch_is_build_time_error():
    a = us.from_dict({"k": [1]})
    b = us.from_dict({"k": ["1"]})
    with pytest.raises(us.InvalidTypeError):
        a.join(b, on="k")


@sem("S-UNSUPPORTED")
def test_declarations_are_well_formed(us_engine):
    require_engine(us_engine)
    from unistack.backends.base import ALL_OPERATIONS
    from unistack.backends.registry import get_engine

    caps = get_engine(us_engine).capabilities()
    assert not (set(caps.supported) & set(caps.unsupported)), "an operation is both supported and unsupported"
    unknown = set(caps.supported) - ALL_OPERATIONS
    assert not unknown, f"unknown operation names declared supported: {sorted(unknown)}"
    for op, reason in caps.unsupported.items():
        assert isinstance(reason, str) and reason.strip(), f"{op} is declared unsupported without a reason"
    assert "node:Scan" in caps.supported and "source:arrow" in caps.supported, "the suite needs in-memory scans"


@sem("S-UNSUPPORTED")
def test_declared_unsupported_raises(us_engine):
    require_engine(us_engine)
    from unistack.backends.registry import get_engine

    caps = get_engine(us_engine).capabilities()
    frames = {
        "node:Sort": us.from_dict({"a": [1]}).sort("a"),
        "node:Distinct": us.from_dict({"a": [1]}).distinct(),
        "window:over": us.from_dict({"a": [1]}).select(us.col("a").sum().over()),
        "agg:std": us.from_dict({"a": [1.0]}).select(us.col("a").std()),
        "function:str_len": us.from_dict({"s": ["a"]}).select(us.col("s").str.len()),
    }
    declared = [op for op in frames if op in caps.unsupported]
    if not declared:
        pytest.skip(f"{us_engine} declares none of {sorted(frames)} unsupported")
    for op in declared:
        with pytest.raises(us.UnsupportedOperationError):
            frames[op].collect(engine=us_engine)


def _semantics_file() -> Path | None:
    for base in [Path.cwd(), *Path(us.__file__).resolve().parents]:
        candidate = base / "docs" / "semantics.md"
        if candidate.is_file():
            return candidate
    return None


def test_every_semantics_rule_has_a_case():
    path = _semantics_file()
    if path is None:
        pytest.skip("docs/semantics.md is not available (installed without the repository)")
    # stream rules are about stream engines, checked by the stream test set (tests/stream), not by this suite
    rules = {r for r in re.findall(r"\*\*(S-[A-Z0-9-]+)\*\*", path.read_text()) if r.split("-")[1] != "STREAM"}
    assert rules, "no rule ids found in docs/semantics.md"
    used: set[str] = set()
    for module in SUITE.glob("test_*.py"):
        used |= set(re.findall(r"\"(S-[A-Z0-9-]+)\"", module.read_text()))
    missing = sorted(rules - used)
    assert not missing, f"rules of docs/semantics.md without a conformance case: {missing}"
    unknown = sorted(used - rules)
    assert not unknown, f"the suite references rules that docs/semantics.md does not define: {unknown}"
