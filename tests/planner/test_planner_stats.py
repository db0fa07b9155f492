"""Statistics: Parquet footers, in-memory Arrow, CSV/JSON samples, caching and invalidation."""

from __future__ import annotations

import datetime as dt
import os
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import unistack as us
from unistack.plan.nodes import FileSource, InMemorySource
from unistack.planner import stats


@pytest.fixture(autouse=True)
def _fresh() -> None:
    stats.clear_cache()


def _parquet(path: str, table: pa.Table, row_group_size: int | None = None) -> FileSource:
    pq.write_table(table, path, row_group_size=row_group_size)
    return FileSource("parquet", (path,), table.schema)


def test_parquet_footer_exact_rows_bounds_nulls_and_sizes(tmp_path: object) -> None:
    t = pa.table({"a": [5, 1, None, 9, 3, 7], "d": [dt.date(2020, 1, i) for i in range(1, 7)],
                  "s": ["x", "yy", None, None, "z", "w"]})
    src = _parquet(os.path.join(str(tmp_path), "t.parquet"), t, row_group_size=2)  # 3 row groups, merged
    s = stats.source_stats(src)
    assert (s.rows_low, s.rows, s.rows_high, s.source, s.exact) == (6, 6, 6, "footer", True)
    a = s.columns["a"]
    assert (a.min, a.max, a.null_count, a.exact_bounds) == (1, 9, 1, True)
    assert s.columns["d"].min == dt.date(2020, 1, 1) and s.columns["d"].max == dt.date(2020, 1, 6)
    assert s.columns["s"].null_count == 2
    assert all(c.bytes and c.bytes > 0 for c in s.columns.values())
    assert s.file_bytes == os.path.getsize(src.paths[0])


def test_parquet_many_files_are_summed(tmp_path: object) -> None:
    paths = []
    for i in range(3):
        p = os.path.join(str(tmp_path), f"p{i}.parquet")
        pq.write_table(pa.table({"a": list(range(i * 10, i * 10 + 10))}), p)
        paths.append(p)
    s = stats.source_stats(FileSource("parquet", tuple(paths), pa.schema([("a", pa.int64())])))
    assert s.rows == 30 and s.columns["a"].min == 0 and s.columns["a"].max == 29


def test_cache_is_invalidated_when_the_file_changes(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "t.parquet")
    src = _parquet(path, pa.table({"a": [1, 2, 3]}))
    assert stats.source_stats(src).rows == 3
    assert stats.source_stats(src).rows == 3  # cached
    time.sleep(0.01)
    pq.write_table(pa.table({"a": list(range(50))}), path)
    os.utime(path, ns=(time.time_ns(), time.time_ns()))
    assert stats.source_stats(src).rows == 50


def test_arrow_exact_rows_bytes_and_lazy_bounds() -> None:
    t = pa.table({"a": [3, None, 1], "s": ["a", "bb", "ccc"]})
    src = InMemorySource(t)
    s = stats.source_stats(src)
    assert (s.rows, s.source, s.exact) == (3, "arrow", True)
    assert s.columns["a"].null_count == 1 and s.columns["a"].bytes == t.column("a").nbytes
    c = stats.column_stats(src, "a")
    assert c is not None and (c.min, c.max, c.exact_bounds) == (1, 3, True)


def test_csv_rows_from_size_and_sample_interval_holds_the_truth(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "big.csv")
    n = 40_000
    with open(path, "w") as fh:
        fh.write("a,b\n")
        for i in range(n):
            fh.write(f"{i},{'x' * (i % 7)}\n")
    src = FileSource("csv", (path,), pa.schema([("a", pa.int64()), ("b", pa.string())]),
                     (("separator", ","), ("has_header", True), ("null_values", ("",))))
    s = stats.source_stats(src)
    assert s.source == "sample" and not s.exact
    assert s.rows_low <= n <= s.rows_high
    assert abs(s.rows - n) / n < 0.15
    assert s.columns["a"].min == 0  # from the sample, not a true bound
    assert not s.columns["a"].exact_bounds


def test_small_json_is_read_whole_and_exact(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "t.json")
    with open(path, "w") as fh:
        fh.write('{"a": 1}\n{"a": 2}\n{"a": 3}\n')
    s = stats.source_stats(FileSource("json", (path,), pa.schema([("a", pa.int64())])))
    assert (s.rows, s.exact, s.source) == (3, True, "sample")


def test_distinct_count_interval_contains_truth(tmp_path: object) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    n = 200_000
    t = pa.table({"few": rng.integers(0, 10, n), "many": rng.integers(0, 50_000, n), "uniq": np.arange(n)})
    path = os.path.join(str(tmp_path), "d.parquet")
    src = _parquet(path, t)
    few = stats.distinct_count(src, "few", n)
    assert few is not None and few.low == few.high == 10
    many = stats.distinct_count(src, "many", n)
    truth = len(np.unique(t.column("many").to_numpy()))
    assert many is not None and many.low <= truth <= many.high
    uniq = stats.distinct_count(src, "uniq", n)
    assert uniq is not None and uniq.high == n  # capped by rows and by max - min + 1
    mem = stats.distinct_count(InMemorySource(pa.table({"k": [1, 1, 2, None]})), "k", 4)
    assert mem is not None and (mem.low, mem.high, mem.source) == (2, 2, "arrow")


def test_unreadable_file_gives_default_interval(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "bad.parquet")
    with open(path, "wb") as fh:
        fh.write(b"not parquet at all" * 100)
    s = stats.source_stats(FileSource("parquet", (path,), pa.schema([("a", pa.int64())])))
    assert s.source == "default" and s.rows_low < s.rows < s.rows_high


def test_string_view_columns_and_odd_types_never_break_estimation() -> None:
    import unistack as us
    from unistack.planner.cardinality import estimate

    t = pa.table({"s": pa.array(["a", "b"] * 20_000, pa.string_view()), "x": list(range(40_000))})
    frame = us.from_arrow(t).group_by("s").agg(us.col("x").sum())
    rows = estimate(frame.plan)[frame.plan].rows
    assert rows.low <= 2 <= rows.high and rows.source == "distinct"


def test_a_clustered_foreign_key_is_not_taken_for_a_key(tmp_path: object) -> None:
    stats.clear_cache()
    n, repeat = 400_000, 4  # each value on 4 consecutive rows, as lineitem's l_orderkey
    keys = pa.array([(i // repeat) * 3 for i in range(n)], pa.int64())  # sparse values: the span is no help
    shuffled = pa.array([((i * 7919) % n // repeat) * 3 for i in range(n)], pa.int64())
    table = pa.table({"k": keys, "r": shuffled})
    path = os.path.join(str(tmp_path), "fk.parquet")
    pq.write_table(table, path, row_group_size=50_000)
    for src in (InMemorySource(table), us.read_parquet(path).plan.source):  # type: ignore[attr-defined]
        d = stats.distinct_count(src, "k", n)
        assert d is not None and 0.9 * n / repeat <= d.point <= 1.2 * n / repeat, d
        assert d.high <= 1.2 * n / repeat
        # the same values in no order: adjacent rows differ, so nothing is capped (a sample sees a key)
        r = stats.distinct_count(src, "r", n)
        assert r is not None and r.high > 2 * d.high
