"""Comparing results through Arrow, under the rules of the conformance suite.

- the schema must equal the expected schema exactly (names, order, Arrow types);
- row order is ignored unless ``ordered`` (a plan that ends in a sort);
- floats compare with a relative tolerance of 1e-9 (absolute 1e-12 near zero); NaN equals NaN;
- null equals null and nothing else.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

REL_TOL = 1e-9
ABS_TOL = 1e-12


def _key(value: Any) -> tuple[int, Any]:
    """A total order over mixed values (None last, NaN after numbers) for order-insensitive comparison."""
    if value is None:
        return (3, 0)
    if isinstance(value, float) and math.isnan(value):
        return (2, 0)
    if isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool):
        return (1, float(value))
    if isinstance(value, (bytes, str, bool, _dt.date, _dt.datetime, _dt.timedelta)):
        return (0, (type(value).__name__, value if not isinstance(value, _dt.datetime) or value.tzinfo is None
                    else value.astimezone(_dt.UTC).replace(tzinfo=None)))
    return (0, (type(value).__name__, repr(value)))


def values_equal(a: Any, b: Any) -> bool:
    """Equality of two Python values from Arrow, with the tolerance and NaN rules above."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
            return False
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        if math.isinf(a) or math.isinf(b):
            return a == b
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(values_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b))
    return (bool(a == b) and type(a) is type(b)) or (isinstance(a, int) and isinstance(b, int) and a == b)


def rows_of(table: pa.Table | Mapping[str, Sequence[Any]]) -> list[tuple[Any, ...]]:
    data = table.to_pydict() if isinstance(table, pa.Table) else dict(table)
    cols = list(data.values())
    n = len(cols[0]) if cols else 0
    return [tuple(c[i] for c in cols) for i in range(n)]


def diff_tables(actual: pa.Table, expected: pa.Table | Mapping[str, Sequence[Any]], *, ordered: bool = False,
                schema: pa.Schema | None = None) -> str | None:
    """A description of the first difference, or ``None`` when the tables are equal."""
    if schema is not None and not actual.schema.equals(schema):
        return f"schema differs:\nactual:\n{actual.schema}\nexpected:\n{schema}"
    exp_names = expected.schema.names if isinstance(expected, pa.Table) else list(expected)
    if actual.schema.names != list(exp_names):
        return f"columns differ: {actual.schema.names} vs {list(exp_names)}"
    a_rows, e_rows = rows_of(actual), rows_of(expected)
    if len(a_rows) != len(e_rows):
        return f"row counts differ: {len(a_rows)} vs {len(e_rows)}\nactual: {a_rows[:20]}\nexpected: {e_rows[:20]}"
    if not ordered:
        a_rows = sorted(a_rows, key=lambda r: tuple(_key(v) for v in r))
        e_rows = sorted(e_rows, key=lambda r: tuple(_key(v) for v in r))
    for i, (ra, re_) in enumerate(zip(a_rows, e_rows)):
        if not all(values_equal(x, y) for x, y in zip(ra, re_)):
            return f"row {i} differs: {ra!r} vs expected {re_!r}\nactual: {a_rows[:20]}\nexpected: {e_rows[:20]}"
    return None


def assert_table_equal(actual: pa.Table, expected: pa.Table | Mapping[str, Sequence[Any]], *,
                       ordered: bool = False, schema: pa.Schema | None = None) -> None:
    """Assert two results are equal under the conformance rules (see module docstring).

    Examples
    --------
    >>> import pyarrow as pa
    >>> assert_table_equal(pa.table({"a": [2.0, float("nan")]}), {"a": [float("nan"), 2.0]})
    """
    problem = diff_tables(actual, expected, ordered=ordered, schema=schema)
    if problem is not None:
        raise AssertionError(problem)
