"""Arithmetic: result types, division by zero, floor semantics, overflow wrap, rounding, decimals."""

from __future__ import annotations

import decimal
import math

import pyarrow as pa

import unistack as us

D = decimal.Decimal
NAN = math.nan
I64_MIN, I64_MAX = -(2**63), 2**63 - 1


def test_add_sub_mul_with_nulls(check):
    # S-NULL-PROPAGATE
    df = us.from_dict({"a": [1, -2, None], "b": [10, 3, 5]})
    out = df.select(s=us.col("a") + us.col("b"), d=us.col("a") - us.col("b"), p=us.col("a") * us.col("b"),
                    r=10 - us.col("a"), n=-us.col("a"))
    check(out, {"s": [11, 1, None], "d": [-9, -5, None], "p": [10, -6, None], "r": [9, 12, None], "n": [-1, 2, None]})


def test_large_integer_literal_meets_float_column(check):
    # found by a 5,000-plan conformance run on Dask: Arrow refused int64 max as a float64 literal
    df = us.from_dict({"f": [1.0, -0.5, None]})
    out = df.select(p=us.col("f") * I64_MAX, s=us.col("f") + 2**53 + 1)
    check(out, {"p": [float(I64_MAX), -float(I64_MAX) / 2, None],
                "s": [float(2**53 + 1) + 1.0, float(2**53 + 1) - 0.5, None]})


def test_true_division_is_float64(check):
    # S-DIV-FLOAT
    df = us.from_dict({"a": [7, -7, 1], "b": [2, 2, 3]}, schema={"a": "int32", "b": "int32"})
    out = df.select(q=us.col("a") / us.col("b"), h=us.col("a") / 2)
    assert out.schema == pa.schema([("q", pa.float64()), ("h", pa.float64())])
    check(out, {"q": [3.5, -3.5, 1 / 3], "h": [3.5, -3.5, 0.5]})


def test_division_by_zero_is_null_for_every_numeric_type(check):
    # S-DIV-ZERO
    df = us.from_dict({"i": [7, 0, None], "z": [0, 0, 0], "f": [1.5, -1.0, 0.0], "fz": [0.0, -0.0, 0.0],
                       "d": [D("1.50"), D("2.00"), D("0.00")], "dz": [D("0.00"), D("0.00"), D("0.00")]},
                      schema={"i": "int64", "z": "int64", "f": "float64", "fz": "float64",
                              "d": "decimal(5, 2)", "dz": "decimal(5, 2)"})
    out = df.select(
        a=us.col("i") / us.col("z"), b=us.col("i") // us.col("z"), c=us.col("i") % us.col("z"),
        e=us.col("f") / us.col("fz"), g=us.col("f") // us.col("fz"), h=us.col("f") % us.col("fz"),
        k=us.col("d") / us.col("dz"), m=us.col("d") % us.col("dz"),
    )
    check(out, {k: [None, None, None] for k in "abceghkm"})


def test_floor_division_and_modulo(check):
    # S-DIV-FLOOR: -7 // 2 == -4, -7 % 2 == 1, 7 % -2 == -1
    df = us.from_dict({"a": [-7, 7, -7, 7, 6], "b": [2, -2, -2, 2, 3]})
    out = df.select(q=us.col("a") // us.col("b"), r=us.col("a") % us.col("b"))
    check(out, {"q": [-4, -4, 3, 3, 2], "r": [1, -1, -1, 1, 0]})


def test_floor_division_and_modulo_of_floats(check):
    # S-DIV-FLOOR
    df = us.from_dict({"a": [-7.5, 7.5], "b": [2.0, -2.0]})
    check(df.select(q=us.col("a") // us.col("b"), r=us.col("a") % us.col("b")), {"q": [-4.0, -4.0], "r": [0.5, -0.5]})


def test_power_is_float64(check):
    # S-POW-FLOAT
    df = us.from_dict({"a": [2, 2, 9, None], "b": [3, -1, 0, 2]})
    out = df.select(p=us.col("a") ** us.col("b"), s=us.col("a") ** 0.5)
    assert out.schema.field("p").type == pa.float64()
    check(out, {"p": [8.0, 0.5, 1.0, None], "s": [math.sqrt(2), math.sqrt(2), 3.0, None]})


def test_int64_overflow_wraps(check):
    # S-INT-WRAP
    df = us.from_dict({"a": [I64_MAX, I64_MIN, I64_MAX]})
    out = df.select(p=us.col("a") + 1, m=us.col("a") - 1, t=us.col("a") * 2, n=-us.col("a"))
    check(out, {"p": [I64_MIN, I64_MIN + 1, I64_MIN], "m": [I64_MAX - 1, I64_MAX, I64_MAX - 1],
                "t": [-2, 0, -2], "n": [I64_MIN + 1, I64_MIN, I64_MIN + 1]})


def test_small_int_arithmetic_stays_in_its_type_and_wraps(check):
    # S-INT-WRAP, S-TYPE-WEAK: int32 + 1 stays int32; int8 * int8 is int8
    df = us.from_dict({"i": [2147483647, 5], "b": [127, -128], "c": [2, 2], "u": [1, 0]},
                      schema={"i": "int32", "b": "int8", "c": "int8", "u": "uint8"})
    out = df.select(i=us.col("i") + 1, b=us.col("b") * us.col("c"), s=us.col("b") - 1, u=us.col("u") - 2)
    assert out.schema == pa.schema([("i", pa.int32()), ("b", pa.int8()), ("s", pa.int8()), ("u", pa.uint8())])
    check(out, {"i": [-2147483648, 6], "b": [-2, 0], "s": [126, 127], "u": [255, 254]})


def test_mixed_type_promotion(check):
    # S-TYPE-PROMOTE
    df = us.from_dict({"i32": [1, 2], "i64": [10, 20], "f": [0.5, 1.5], "f32": [1.0, 2.0]},
                      schema={"i32": "int32", "i64": "int64", "f": "float64", "f32": "float32"})
    out = df.select(a=us.col("i32") + us.col("i64"), b=us.col("i64") * us.col("f"), c=us.col("i32") + 1.5,
                    d=us.col("f32") * 2)
    assert [f.type for f in out.schema] == [pa.int64(), pa.float64(), pa.float64(), pa.float32()]
    check(out, {"a": [11, 22], "b": [5.0, 30.0], "c": [2.5, 3.5], "d": [2.0, 4.0]})


def test_round_half_away_from_zero(check):
    # S-ROUND
    df = us.from_dict({"x": [2.5, -2.5, 0.5, -0.5, 1.25, -1.25, 1.0625, None, NAN]})
    out = df.select(r0=us.col("x").round(), r1=us.col("x").round(1), r3=us.col("x").round(3))
    check(out, {"r0": [3.0, -3.0, 1.0, -1.0, 1.0, -1.0, 1.0, None, NAN],
                "r1": [2.5, -2.5, 0.5, -0.5, 1.3, -1.3, 1.1, None, NAN],
                "r3": [2.5, -2.5, 0.5, -0.5, 1.25, -1.25, 1.063, None, NAN]})


def test_round_integers_and_decimals(check):
    # S-ROUND: integers are unchanged; decimals keep their type
    df = us.from_dict({"i": [7, -7], "d": [D("2.345"), D("-2.345")]}, schema={"i": "int64", "d": "decimal(6, 3)"})
    out = df.select(i=us.col("i").round(2), d=us.col("d").round(2))
    assert out.schema.field("d").type == pa.decimal128(6, 3)
    check(out, {"i": [7, -7], "d": [D("2.350"), D("-2.350")]})


def test_abs(check):
    df = us.from_dict({"i": [-3, 0, None], "f": [-1.5, 0.0, NAN]})
    check(df.select(us.col("i").abs(), us.col("f").abs()), {"i": [3, 0, None], "f": [1.5, 0.0, NAN]})


def test_decimal_arithmetic_is_exact(check):
    # S-DECIMAL
    df = us.from_dict({"a": [D("0.10"), D("-1.25")], "b": [D("0.200"), D("3.000")], "n": [3, 2]},
                      schema={"a": "decimal(5, 2)", "b": "decimal(6, 3)", "n": "int64"})
    out = df.select(s=us.col("a") + us.col("b"), p=us.col("a") * us.col("b"), m=us.col("a") * us.col("n"),
                    q=us.col("a") / us.col("n"))
    assert [f.type for f in out.schema] == [pa.decimal128(7, 3), pa.decimal128(12, 5), pa.decimal128(25, 2),
                                            pa.float64()]
    check(out, {"s": [D("0.300"), D("1.750")], "p": [D("0.02000"), D("-3.75000")], "m": [D("0.30"), D("-2.50")],
                "q": [0.1 / 3, -0.625]})


def test_float_specials(check):
    # S-FLOAT-IEEE; S-NAN-CMP for NaN > 0
    df = us.from_dict({"x": [math.inf, -math.inf, NAN, 0.0]})
    out = df.select(a=us.col("x") + 1, b=us.col("x") * 0, c=us.col("x") > 0)
    check(out, {"a": [math.inf, -math.inf, NAN, 1.0], "b": [NAN, NAN, NAN, 0.0], "c": [True, False, True, False]})


def test_compare_int_with_float_literal(check):
    df = us.from_dict({"a": [1, 2, 3]})
    check(df.select(a=us.col("a") > 1.5, b=us.col("a") == 2.0), {"a": [False, True, True], "b": [False, True, False]})


def test_arithmetic_with_literal_on_the_left_and_bools(check):
    df = us.from_dict({"a": [1, 2], "t": [True, False]})
    check(df.select(x=100 // us.col("a"), y=2 ** us.col("a"), z=us.col("t") + 1), {"x": [100, 50], "y": [2.0, 4.0],
                                                                                   "z": [2, 1]})


def test_decimal_literals(check):
    # S-DECIMAL, S-TYPE-WEAK: a Decimal literal that fits takes the column's decimal type
    df = us.from_dict({"d": [D("1.25"), D("-3.50"), None]}, schema={"d": "decimal(6, 2)"})
    out = df.select(a=us.col("d") + D("0.75"), m=us.col("d") * D("2"), c=us.col("d") > D("1.00"),
                    lit=us.lit(D("1.5")))
    assert [f.type for f in out.schema] == [pa.decimal128(7, 2), pa.decimal128(13, 4), pa.bool_(),
                                            pa.decimal128(2, 1)]
    check(out, {"a": [D("2.00"), D("-2.75"), None], "m": [D("2.5000"), D("-7.0000"), None], "c": [True, False, None],
                "lit": [D("1.5"), D("1.5"), D("1.5")]})


def test_integer_floor_division_overflow_and_abs_wrap(check):
    # S-INT-WRAP: int64 min // -1 and abs(int64 min) wrap to int64 min
    df = us.from_dict({"a": [I64_MIN, 7], "b": [-1, -1]})
    check(df.select(q=us.col("a") // us.col("b"), r=us.col("a") % us.col("b"), a=us.col("a").abs()),
          {"q": [I64_MIN, -7], "r": [0, 0], "a": [I64_MIN, 7]})


def test_decimal_products_keep_every_digit(check):
    # S-DECIMAL: a product has scale s1 + s2 and is exact (TPC-H's price * (1 - discount) pattern);
    # found by comparing engines: Polars rounded products to the larger operand scale.
    df = us.from_dict({"p": [D("10.05"), D("901.99")], "d": [D("0.07"), D("0.04")], "n": [3, 2]},
                      schema={"p": "decimal(15, 2)", "d": "decimal(15, 2)", "n": "int64"})
    p, d, n = us.col("p"), us.col("d"), us.col("n")
    check(df.select(a=p * d, b=p * (1 - d), c=n * p * d),
          {"a": [D("0.7035"), D("36.0796")], "b": [D("9.3465"), D("865.9104")], "c": [D("2.1105"), D("72.1592")]})
    check(df.select(s=(us.col("p") * (1 - us.col("d"))).sum()), {"s": [D("875.2569")]})
