"""Statistics of plan sources: row counts, sizes, per-column min/max, null counts and distinct counts.

Where they come from (the ``source`` label shown by ``explain``):

``footer``
    Parquet footers: exact row counts, uncompressed byte sizes and min/max/null counts per column chunk.
``arrow``
    An in-memory Arrow table: exact rows and bytes; min/max computed on first use.
``sample``
    CSV/JSON: the total file size and a small sample from the head of the first file (rows are then an
    interval); distinct counts of every format are also estimated from a sample.
``default``
    Nothing known (e.g. an unreadable file); a wide interval.

Statistics are cached per file, keyed by path, size and modification time, so a changed file is read
again; in-memory tables are cached by their source key.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import functools
import math
import os
import threading
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from unistack.plan import nodes as pn

SAMPLE_BYTES = 256 * 1024  # head of a CSV/JSON file read to estimate rows per byte
SAMPLE_ROWS = 20_000  # values read to estimate a column's distinct count
SAMPLE_GROUPS = 8  # Parquet row groups a distinct-count sample is drawn from
MAX_FOOTERS = 64  # footers read per source; the rest are extrapolated from file sizes
DEFAULT_ROWS = (1_000, 100_000_000)


@dataclass(frozen=True)
class ColumnStats:
    """What is known about one column; any field may be ``None`` (unknown)."""

    min: Any = None
    max: Any = None
    null_count: int | None = None
    bytes: int | None = None  # uncompressed size of the column in memory (all rows)
    exact_bounds: bool = False  # min/max are true bounds (footer, arrow), not from a sample


@dataclass(frozen=True)
class Distinct:
    """An estimated number of distinct non-null values: an interval and a point estimate."""

    low: float
    high: float
    point: float
    source: str = "sample"


@dataclass
class SourceStats:
    """Statistics of one source (all of its files)."""

    rows_low: float
    rows_high: float
    rows: float  # point estimate
    source: str  # footer, arrow, engine (persisted), sample, default
    file_bytes: int = 0  # bytes on disk (0 for in-memory)
    columns: dict[str, ColumnStats] = field(default_factory=dict)
    exact: bool = False

    def column_width(self, name: str, dtype: pa.DataType | None = None) -> float:
        """Average in-memory bytes per row of a column."""
        col = self.columns.get(name)
        if col is not None and col.bytes is not None and self.rows > 0:
            return max(col.bytes / self.rows, 0.125)
        return type_width(dtype) if dtype is not None else 8.0


@functools.lru_cache(maxsize=512)
def type_width(dtype: pa.DataType) -> float:
    """Typical in-memory bytes per value of an Arrow type (strings: a guess of 16 bytes plus offsets).

    Examples
    --------
    >>> import pyarrow as pa
    >>> type_width(pa.int32())
    4.0
    """
    if pa.types.is_boolean(dtype):
        return 0.125
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or pa.types.is_binary(dtype) \
            or pa.types.is_large_binary(dtype):
        return 20.0
    if pa.types.is_dictionary(dtype):
        return 4.0
    try:
        return max(dtype.bit_width / 8, 0.125)
    except ValueError:  # nested types
        return 32.0


# -- caches ------------------------------------------------------------------------------------------------
_lock = threading.Lock()
_file_cache: dict[tuple[str, str], tuple[tuple[int, int], Any]] = {}
_arrow_cache: dict[str, SourceStats] = {}
_distinct_cache: dict[tuple[Any, ...], Distinct | None] = {}
_bounds_cache: dict[tuple[str, str], ColumnStats] = {}


def clear_cache() -> None:
    """Forget every cached statistic (tests use this)."""
    with _lock:
        _tokens.clear()
        _file_cache.clear()
        _arrow_cache.clear()
        _distinct_cache.clear()
        _bounds_cache.clear()
        _source_cache.clear()


def _file_signature(path: str) -> tuple[int, int] | None:
    memo = _local.sigs
    if memo is not None and path in memo:
        return memo[path]
    try:
        st = os.stat(path)
        sig: tuple[int, int] | None = (st.st_size, st.st_mtime_ns)
    except OSError:
        sig = None
    if memo is not None:
        memo[path] = sig
    return sig


def _cached_file(kind: str, path: str, compute: Any) -> Any:
    """``compute(path)`` cached by (kind, path) and invalidated when the file's size or mtime changes."""
    sig = _file_signature(path)
    if sig is None:
        return None
    key = (kind, path)
    with _lock:
        hit = _file_cache.get(key)
    if hit is not None and hit[0] == sig:
        return hit[1]
    value = compute(path)
    with _lock:
        _file_cache[key] = (sig, value)
    return value


# -- Parquet -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _FooterStats:
    rows: int
    columns: dict[str, ColumnStats]


def _merge_bound(a: Any, b: Any, pick: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    try:
        return pick(a, b)
    except TypeError:
        return None


def _read_footer(path: str) -> _FooterStats | None:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except (OSError, pa.ArrowInvalid):
        return None
    cols: dict[str, dict[str, Any]] = {}
    for g in range(meta.num_row_groups):
        rg = meta.row_group(g)
        for c in range(rg.num_columns):
            chunk = rg.column(c)
            name = chunk.path_in_schema.split(".")[0]
            acc = cols.setdefault(name, {"min": None, "max": None, "nulls": 0, "bytes": 0, "ok": True})
            acc["bytes"] += chunk.total_uncompressed_size
            st = chunk.statistics if chunk.is_stats_set else None
            if st is None:
                acc["ok"] = False
                acc["nulls"] = None
                continue
            if acc["nulls"] is not None and st.has_null_count:
                acc["nulls"] += st.null_count
            else:
                acc["nulls"] = None
            if st.has_min_max and acc["ok"]:
                try:
                    lo, hi = st.min, st.max
                except (ValueError, TypeError, pa.ArrowException):
                    acc["ok"] = False
                    continue
                acc["min"] = _merge_bound(acc["min"], lo, min)
                acc["max"] = _merge_bound(acc["max"], hi, max)
            elif not st.has_min_max and st.num_values > (st.null_count if st.has_null_count else 0):
                acc["ok"] = False
    out = {}
    for name, acc in cols.items():
        ok = acc["ok"]
        out[name] = ColumnStats(acc["min"] if ok else None, acc["max"] if ok else None, acc["nulls"], acc["bytes"],
                                exact_bounds=ok)
    return _FooterStats(meta.num_rows, out)


def _parquet_stats(src: pn.FileSource) -> SourceStats:
    paths = src.paths
    read = paths[:MAX_FOOTERS]
    footers = [_cached_file("footer", p, _read_footer) for p in read]
    good = [(p, f) for p, f in zip(read, footers) if f is not None]
    total_size = sum((_file_signature(p) or (0, 0))[0] for p in paths)
    if not good:
        return _default_stats(total_size)
    rows = sum(f.rows for _, f in good)
    columns: dict[str, ColumnStats] = {}
    for _, f in good:
        for name, c in f.columns.items():
            prev = columns.get(name)
            if prev is None:
                columns[name] = c
                continue
            both_exact = prev.exact_bounds and c.exact_bounds
            columns[name] = ColumnStats(
                _merge_bound(prev.min, c.min, min) if both_exact else None,
                _merge_bound(prev.max, c.max, max) if both_exact else None,
                None if prev.null_count is None or c.null_count is None else prev.null_count + c.null_count,
                (prev.bytes or 0) + (c.bytes or 0),
                both_exact,
            )
    if len(good) == len(paths):
        return SourceStats(rows, rows, rows, "footer", total_size, columns, exact=True)
    # Extrapolate the unread files by their size on disk.
    read_size = sum((_file_signature(p) or (0, 0))[0] for p, _ in good) or 1
    scale = total_size / read_size
    est = rows * scale
    scaled = {n: ColumnStats(None, None, None if c.null_count is None else int(c.null_count * scale),
                             None if c.bytes is None else int(c.bytes * scale)) for n, c in columns.items()}
    return SourceStats(est * 0.7, est * 1.3, est, "footer", total_size, scaled)


# -- CSV / JSON --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _TextSample:
    lines: int
    sample_bytes: int
    table: pa.Table | None
    whole_file: bool


def _read_text_sample(path: str, fmt: str, options: tuple[tuple[str, Any], ...]) -> _TextSample:
    try:
        with open(path, "rb") as fh:
            block = fh.read(SAMPLE_BYTES)
            whole = len(fh.read(1)) == 0
    except OSError:
        return _TextSample(0, 0, None, False)
    if not whole:
        cut = block.rfind(b"\n")
        block = block[: cut + 1] if cut > 0 else block
    lines = block.count(b"\n") + (0 if block.endswith(b"\n") or not block else 1)
    opts = dict(options)
    table = None
    try:
        import io

        if fmt == "csv":
            import pyarrow.csv as pacsv

            header = opts.get("has_header", True)
            table = pacsv.read_csv(
                io.BytesIO(block),
                read_options=pacsv.ReadOptions(autogenerate_column_names=not header),
                parse_options=pacsv.ParseOptions(delimiter=opts.get("separator", ",")),
                convert_options=pacsv.ConvertOptions(null_values=list(opts.get("null_values", ("",))),
                                                     strings_can_be_null=True),
            )
            if header:
                lines -= 1
        else:
            import pyarrow.json as pajson

            table = pajson.read_json(io.BytesIO(block))
    except (pa.ArrowException, ValueError):
        table = None
    return _TextSample(max(lines, 0), len(block), table, whole)


def _text_stats(src: pn.FileSource) -> SourceStats:
    sizes = [(_file_signature(p) or (0, 0))[0] for p in src.paths]
    total = sum(sizes)
    first = src.paths[0]
    sample = _cached_file(f"text:{src.format}:{hash(src.options)}", first,
                          lambda p: _read_text_sample(p, src.format, src.options))
    if sample is None or sample.lines <= 0:
        return _default_stats(total)
    columns: dict[str, ColumnStats] = {}
    if sample.table is not None and sample.table.num_rows:
        for name, col in zip(sample.table.column_names, sample.table.columns):
            lo, hi = _min_max(col)
            frac = col.null_count / max(len(col), 1)
            rows_est = total / sample.sample_bytes * sample.lines
            columns[name] = ColumnStats(lo, hi, int(frac * rows_est),
                                        int(col.nbytes / max(len(col), 1) * rows_est), exact_bounds=False)
    if sample.whole_file and len(src.paths) == 1:
        n = sample.lines
        return SourceStats(n, n, n, "sample", total, columns, exact=True)
    per_byte = sample.lines / max(sample.sample_bytes, 1)
    est = total * per_byte
    return SourceStats(est * 0.75, est * 1.33, est, "sample", total, columns)


def _default_stats(total_bytes: int) -> SourceStats:
    if total_bytes > 0:
        est = total_bytes / 50  # ~50 bytes per row on disk
        return SourceStats(est / 10, est * 4, est, "default", total_bytes)
    lo, hi = DEFAULT_ROWS
    return SourceStats(lo, hi, math.sqrt(lo * hi), "default", 0)


# -- Arrow -------------------------------------------------------------------------------------------------
_tokens: dict[int, tuple[Any, str]] = {}  # id(table) -> (weak reference to it, token)


def table_token(src: pn.InMemorySource) -> str:
    """An identity of the Arrow table behind ``src``, shared by every source wrapping the same table.

    ``from_arrow`` gives each call a new source key, so keying statistics on the key would recompute
    them (and sample distinct values again) for every query over the same table. Statistics of a table
    are kept while the table lives.

    Examples
    --------
    >>> import pyarrow as pa
    >>> from unistack.plan.nodes import InMemorySource
    >>> t = pa.table({"a": [1]})
    >>> table_token(InMemorySource(t)) == table_token(InMemorySource(t))
    True
    """
    import weakref

    t = src.table
    with _lock:
        hit = _tokens.get(id(t))
        if hit is not None and hit[0]() is t:
            return str(hit[1])
    token = f"t{src.key}"
    try:
        def forget(_: Any, ident: int = id(t), tok: str = token) -> None:
            with _lock:
                cur = _tokens.get(ident)
                if cur is not None and cur[1] == tok:
                    del _tokens[ident]
                _arrow_cache.pop(tok, None)
                for k in [k for k in _bounds_cache if k[0] == tok]:
                    del _bounds_cache[k]
                for k in [k for k in _distinct_cache if k[0] == ("arrow", tok)]:
                    del _distinct_cache[k]

        ref = weakref.ref(t, forget)
    except TypeError:  # not weakly referenceable: fall back to the source's own key
        return src.key
    with _lock:
        _tokens[id(t)] = (ref, token)
    return token


def _arrow_stats(src: pn.InMemorySource) -> SourceStats:
    token = table_token(src)
    with _lock:
        hit = _arrow_cache.get(token)
    if hit is not None:
        return hit
    t = src.table
    cols = {}
    for name, col in zip(t.column_names, t.columns):
        try:
            nbytes = col.nbytes
        except (pa.ArrowException, ValueError):
            nbytes = int(type_width(col.type) * t.num_rows)
        cols[name] = ColumnStats(None, None, col.null_count, nbytes)
    n = t.num_rows
    out = SourceStats(n, n, n, "arrow", 0, cols, exact=True)
    with _lock:
        _arrow_cache[token] = out
    return out


def _persisted_stats(src: pn.PersistedSource) -> SourceStats:
    """Exact rows; column sizes, null counts and bounds scaled from the sample taken when it was persisted
    (the data itself stays in its engine)."""
    n = src.rows
    sample = src.sample
    share = n / sample.num_rows if sample.num_rows else 0.0
    cols = {}
    for name, col in zip(sample.column_names, sample.columns):
        lo, hi = _min_max(col)
        whole = sample.num_rows >= n
        try:
            nbytes = col.nbytes * share if sample.num_rows else type_width(col.type) * n
        except (pa.ArrowException, ValueError):
            nbytes = type_width(col.type) * n
        cols[name] = ColumnStats(lo, hi, int(col.null_count * share), int(nbytes), exact_bounds=whole)
    return SourceStats(n, n, n, "engine", 0, cols, exact=True)


def _min_max(col: pa.ChunkedArray | pa.Array) -> tuple[Any, Any]:
    import pyarrow.compute as pc

    t = col.type
    if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_temporal(t)
            or pa.types.is_decimal(t) or pa.types.is_string(t) or pa.types.is_large_string(t)):
        return None, None
    try:
        mm = pc.min_max(col)
        return mm["min"].as_py(), mm["max"].as_py()
    except (pa.ArrowException, ValueError, OverflowError):
        return None, None


def column_stats(src: pn.Source, name: str) -> ColumnStats | None:
    """Statistics of one column of a source (for Arrow tables, min/max are computed once and cached).

    Examples
    --------
    >>> import pyarrow as pa
    >>> from unistack.plan.nodes import InMemorySource
    >>> s = column_stats(InMemorySource(pa.table({"a": [3, 1, 2]})), "a")
    >>> (s.min, s.max, s.null_count)
    (1, 3, 0)
    """
    base = source_stats(src).columns.get(name)
    if isinstance(src, pn.InMemorySource):
        key = (table_token(src), name)
        with _lock:
            hit = _bounds_cache.get(key)
        if hit is not None:
            return hit
        if name not in src.table.column_names:
            return base
        lo, hi = _min_max(src.table.column(name))
        out = ColumnStats(lo, hi, base.null_count if base else None, base.bytes if base else None,
                          exact_bounds=lo is not None)
        with _lock:
            _bounds_cache[key] = out
        return out
    return base


class _Memo(threading.local):
    """Per-thread memo: planning in a stream's background thread must not share (or restore) another
    thread's memo, or file changes would go unseen."""

    stats: dict[int, tuple[pn.Source, SourceStats]] | None = None
    sigs: dict[str, tuple[int, int] | None] | None = None


_local = _Memo()


class memo_scope:
    """Within this context, :func:`source_stats` is computed once per source (files are checked once).

    Examples
    --------
    >>> with memo_scope():
    ...     pass
    """

    def __enter__(self) -> memo_scope:
        self._outer = (_local.stats, _local.sigs)
        if _local.stats is None:
            _local.stats, _local.sigs = {}, {}
        return self

    def __exit__(self, *exc: object) -> None:
        _local.stats, _local.sigs = self._outer


def source_stats(src: pn.Source) -> SourceStats:
    """Statistics of a whole source (memoised inside :class:`memo_scope`).

    Examples
    --------
    >>> import pyarrow as pa
    >>> from unistack.plan.nodes import InMemorySource
    >>> st = source_stats(InMemorySource(pa.table({"a": [1, 2, 3]})))
    >>> (st.rows, st.source)
    (3, 'arrow')
    """
    memo = _local.stats
    if memo is not None:
        hit = memo.get(id(src))
        if hit is not None and hit[0] is src:
            return hit[1]
        out = _source_stats(src)
        memo[id(src)] = (src, out)
        return out
    return _source_stats(src)


_source_cache: dict[tuple[Any, ...], tuple[tuple[Any, ...], SourceStats]] = {}


def _source_stats(src: pn.Source) -> SourceStats:
    """:func:`source_stats` without the memo (file sources are cached until one of their files changes)."""
    if isinstance(src, pn.InMemorySource):
        return _arrow_stats(src)
    if isinstance(src, pn.PersistedSource):
        return _persisted_stats(src)
    if isinstance(src, pn.FileSource):
        key = (src.format, src.paths, src.options)
        sigs = tuple(_file_signature(p) for p in src.paths)
        with _lock:
            hit = _source_cache.get(key)
        if hit is not None and hit[0] == sigs:
            return hit[1]
        out = _parquet_stats(src) if src.format == "parquet" else _text_stats(src)
        with _lock:
            _source_cache[key] = (sigs, out)
        return out
    rows = getattr(src, "estimated_rows", None)
    if isinstance(rows, (int, float)):
        return SourceStats(rows, rows, rows, "default")
    return _default_stats(0)


# -- distinct counts ---------------------------------------------------------------------------------------
MIN_PAIRS = 200  # adjacent pairs needed before their share of differing values caps a distinct count


def _adjacent_pairs(col: pa.Array | pa.ChunkedArray, runs: int = 16, per: int = 256) -> tuple[int, int]:
    """Adjacent (non-null) row pairs looked at in evenly spaced stretches of ``col``, and how many of them
    differ. A column has at most as many distinct values as runs of equal adjacent values, so
    ``rows * differing / pairs`` bounds its distinct count: tight for a clustered column (a foreign key
    stored in order, each value repeated on consecutive rows), which an evenly spaced sample sees as a key.
    """
    import numpy as np
    import pyarrow.compute as pc

    n = len(col)
    if n < 2:
        return 0, 0
    per = min(per, n)
    pairs = differ = 0
    for st in sorted({int(i) for i in np.linspace(0, n - per, runs)}):
        part = col.slice(st, per)
        if pa.types.is_string_view(part.type) or pa.types.is_binary_view(part.type):
            part = part.cast(pa.large_string() if pa.types.is_string_view(part.type) else pa.large_binary())
        ne = pc.not_equal(part.slice(0, per - 1), part.slice(1))
        pairs += (per - 1) - ne.null_count
        differ += int(pc.sum(ne).as_py() or 0)
    return pairs, differ


def _sample_column(src: pn.Source, name: str) -> pa.Array | pa.ChunkedArray | None:
    return _sample_with_runs(src, name)[0]


def _sample_with_runs(src: pn.Source, name: str) -> tuple[pa.Array | pa.ChunkedArray | None, float | None]:
    """A sample of a column's values and, where measured, the share of adjacent rows whose values differ."""
    if isinstance(src, pn.InMemorySource):
        t = src.table
        if name not in t.column_names:
            return None, None
        col = t.column(name)
        n = len(col)
        if n <= SAMPLE_ROWS:
            return col, None
        import numpy as np

        pairs, differ = _adjacent_pairs(col, runs=64)
        runs = differ / pairs if pairs >= MIN_PAIRS else None

        if pa.types.is_string_view(col.type) or pa.types.is_binary_view(col.type):
            # No take kernel for views, and casting the whole column first costs milliseconds per million
            # rows: fewer evenly spaced single rows (zero-copy slices), cast once they are gathered. (Runs of
            # consecutive rows would be cheaper but see a clustered column's repeats as few distinct values.)
            idx = np.linspace(0, n - 1, SAMPLE_ROWS // 4).astype("int64")
            parts = [c for i in idx for c in col.slice(int(i), 1).chunks]
            target = pa.large_string() if pa.types.is_string_view(col.type) else pa.large_binary()
            return pa.chunked_array(parts, type=col.type).cast(target), runs
        idx = np.linspace(0, n - 1, SAMPLE_ROWS).astype("int64")
        return col.take(pa.array(idx)), runs
    if isinstance(src, pn.FileSource):
        if src.format == "parquet":
            import pyarrow.parquet as pq

            def read(path: str) -> tuple[pa.ChunkedArray, float | None] | None:
                # Values spread over up to SAMPLE_GROUPS row groups, evenly spaced inside each: a file
                # sorted by the column (common for keys) would otherwise show only its first values.
                import numpy as np

                try:
                    pf = pq.ParquetFile(path)
                    if name not in pf.schema_arrow.names:
                        return None
                    n_groups = pf.metadata.num_row_groups
                    if n_groups == 0:
                        return None
                    picks = sorted({int(i) for i in np.linspace(0, n_groups - 1, min(n_groups, SAMPLE_GROUPS))})
                    per_group = max(SAMPLE_ROWS // len(picks), 1)
                    parts = []
                    pairs = [0, 0]
                    for g in picks:
                        col = pf.read_row_group(g, columns=[name]).column(0)
                        if pa.types.is_string_view(col.type):  # no take kernel for views
                            col = col.cast(pa.large_string())
                        elif pa.types.is_binary_view(col.type):
                            col = col.cast(pa.large_binary())
                        p, d = _adjacent_pairs(col)
                        pairs[0] += p
                        pairs[1] += d
                        if len(col) > per_group:
                            col = col.take(pa.array(np.linspace(0, len(col) - 1, per_group).astype("int64")))
                        parts.extend(col.chunks)
                    if not parts:
                        return None
                    runs = pairs[1] / pairs[0] if pairs[0] >= MIN_PAIRS else None
                    return pa.chunked_array(parts, type=parts[0].type), runs
                except (OSError, pa.ArrowException, IndexError):
                    return None

            hit = _cached_file(f"sample:{name}", src.paths[0], read)
            return (None, None) if hit is None else (hit[0], hit[1])
        sample = _cached_file(f"text:{src.format}:{hash(src.options)}", src.paths[0],
                              lambda p: _read_text_sample(p, src.format, src.options))
        if sample is not None and sample.table is not None and name in sample.table.column_names:
            return sample.table.column(name), None
    if isinstance(src, pn.PersistedSource) and name in src.sample.column_names:
        return src.sample.column(name), None
    return None, None


def distinct_count(src: pn.Source, name: str, rows: float) -> Distinct | None:
    """Estimated distinct non-null values of a column of ``src`` holding ``rows`` rows in all.

    From a sample of up to :data:`SAMPLE_ROWS` values: ``d`` distinct values in ``n`` sampled, ``f1`` of them
    seen once. The interval is ``[d, d - f1 + f1 * rows / n]`` (every singleton stands for ``rows / n``
    unseen values at worst); the point is ``d - f1 + f1 * (rows / n) ** e`` with ``e`` between 1/2 (GEE, few
    singletons) and 1 (nearly all values singletons: a key). Integer and
    date columns are also capped by their value range from the statistics.

    Examples
    --------
    >>> import pyarrow as pa
    >>> from unistack.plan.nodes import InMemorySource
    >>> distinct_count(InMemorySource(pa.table({"k": [1, 2, 1, 2]})), "k", 4).point
    2.0
    """
    key = (_source_identity(src), name)
    with _lock:
        if key in _distinct_cache:
            hit = _distinct_cache[key]
            return None if hit is None else _scale_distinct(hit, rows)
    try:
        out = _compute_distinct(src, name)
    except Exception:  # statistics are best effort: never let them break planning
        out = None
    with _lock:
        _distinct_cache[key] = out
    return None if out is None else _scale_distinct(out, rows)


@dataclass(frozen=True)
class _SampleDistinct:
    n: int  # non-null values sampled
    d: int
    f1: int
    span: float | None  # max - min + 1 for integer-like columns
    whole: bool  # the sample is the whole column
    runs: float | None = None  # share of adjacent rows whose values differ (distinct <= rows * runs)


def _source_identity(src: pn.Source) -> Any:
    if isinstance(src, pn.InMemorySource):
        return ("arrow", table_token(src))
    if isinstance(src, pn.FileSource):
        return (src.format, src.paths[0], _file_signature(src.paths[0]), len(src.paths))
    if isinstance(src, pn.PersistedSource):
        return ("persisted", src.key)
    return ("other", id(src))


def _compute_distinct(src: pn.Source, name: str) -> Any:
    import pyarrow.compute as pc

    col, runs = _sample_with_runs(src, name)
    if col is None:
        return None
    try:
        if pa.types.is_string_view(col.type) or pa.types.is_binary_view(col.type):
            col = col.cast(pa.large_string() if pa.types.is_string_view(col.type) else pa.large_binary())
        col = col.drop_null()
        n = len(col)
        if n == 0:
            return _SampleDistinct(0, 0, 0, None, True)
        vc = pc.value_counts(col)
        counts = vc.field("counts")
        d = len(counts)
        f1 = int(pc.sum(pc.equal(counts, 1)).as_py() or 0)
    except (pa.ArrowException, ValueError):
        return None
    span = None
    cs = column_stats(src, name)
    if cs is not None and cs.exact_bounds:
        span = _span(cs.min, cs.max)
    whole = ((isinstance(src, pn.InMemorySource) and n == len(src.table.column(name).drop_null()))
             or (isinstance(src, pn.PersistedSource) and src.sample.num_rows >= src.rows))
    return _SampleDistinct(n, d, f1, span, whole, runs)


def _span(lo: Any, hi: Any) -> float | None:
    if isinstance(lo, bool) or isinstance(hi, bool):
        return 2.0
    if isinstance(lo, int) and isinstance(hi, int):
        return float(hi - lo + 1)
    if isinstance(lo, _dt.datetime) or isinstance(hi, _dt.datetime):
        return None
    if isinstance(lo, _dt.date) and isinstance(hi, _dt.date):
        return float((hi - lo).days + 1)
    if isinstance(lo, decimal.Decimal):
        return None
    return None


def _scale_distinct(s: Any, rows: float) -> Distinct:
    if s.whole or s.n == 0:
        d = float(s.d)
        return Distinct(d, d, d, "arrow" if s.whole else "sample")
    ratio = max(rows / s.n, 1.0)
    low = float(s.d)
    high = s.d - s.f1 + s.f1 * ratio
    # Singletons stand for unseen values: scaled by sqrt(ratio) (GEE) when few values are singletons, up to
    # the full ratio when nearly all are (a key-like column).
    exponent = min(1.0, max(0.5, s.f1 / s.d)) if s.d else 0.5
    point = s.d - s.f1 + s.f1 * ratio**exponent
    cap = rows if s.span is None else min(rows, s.span)
    if s.runs is not None:
        # No more distinct values than runs of equal adjacent values (10% margin for the sampling error).
        cap = min(cap, max(rows * min(1.0, s.runs * 1.1), low))
    high = max(min(high, cap), low)
    point = min(max(point, low), high)
    return Distinct(low, high, point, "sample")
