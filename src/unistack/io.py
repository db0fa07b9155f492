"""Sources (files and in-memory data) and atomic writes."""

from __future__ import annotations

import glob as _glob
import os
import tempfile
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from unistack.errors import DataSourceError, InvalidTypeError, SchemaError
from unistack.frame import LazyFrame
from unistack.plan import nodes as pn
from unistack.plan.types import parse_dtype

if TYPE_CHECKING:
    import pandas
    import polars

PathLike = str | os.PathLike[str]
_EXTENSIONS = {"parquet": (".parquet", ".parq", ".pq"), "csv": (".csv", ".tsv", ".txt"),
               "json": (".json", ".jsonl", ".ndjson")}


def expand_paths(source: PathLike | Sequence[PathLike], fmt: str) -> tuple[str, ...]:
    """Turn a path, glob, directory or list of them into a sorted tuple of existing files."""
    items = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    if not items:
        raise DataSourceError(f"no {fmt} path given.")
    out: list[str] = []
    for item in items:
        path = os.fspath(item)
        if any(ch in path for ch in "*?["):
            matches = sorted(p for p in _glob.glob(path, recursive=True) if os.path.isfile(p))
            if not matches:
                raise DataSourceError(f"no file matches {path!r}. Check the pattern and the working directory.")
            out.extend(os.path.abspath(p) for p in matches)
        elif os.path.isdir(path):
            matches = sorted(
                os.path.join(root, f)
                for root, _, files in os.walk(path)
                for f in files
                if f.lower().endswith(_EXTENSIONS[fmt]) and not f.startswith((".", "_"))
            )
            if not matches:
                raise DataSourceError(f"directory {path!r} holds no {fmt} files.")
            out.extend(os.path.abspath(p) for p in matches)
        elif os.path.isfile(path):
            out.append(os.path.abspath(path))
        else:
            raise DataSourceError(f"file not found: {path!r}. Check the path (relative to {os.getcwd()!r}).")
    return tuple(out)


_FOOTER_SCHEMAS: dict[tuple[str, int, int], pa.Schema] = {}


def _parquet_schema(path: str) -> pa.Schema:
    """The schema in a Parquet footer, cached per (path, size, mtime) so rebuilding a frame is cheap."""
    import pyarrow.parquet as pq

    st = os.stat(path)
    key = (path, st.st_size, st.st_mtime_ns)
    cached = _FOOTER_SCHEMAS.get(key)
    if cached is None:
        try:
            cached = pq.read_schema(path).remove_metadata()
        except (pa.ArrowInvalid, OSError) as e:
            raise DataSourceError(f"{path!r} is not a readable Parquet file ({e}). Is it corrupt or truncated?") from e
        if len(_FOOTER_SCHEMAS) > 4096:
            _FOOTER_SCHEMAS.clear()
        _FOOTER_SCHEMAS[key] = cached
    return cached


def read_parquet(source: PathLike | Sequence[PathLike]) -> LazyFrame:
    """Scan Parquet files: a path, a glob (``data/*.parquet``), a directory or a list.

    The schema comes from the file footers; nothing else is read until ``collect``.

    Examples
    --------
    >>> import unistack as us, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "t.parquet")
    >>> us.from_dict({"a": [1, 2]}).write_parquet(path)
    >>> us.read_parquet(path).schema
    a: int64
    """
    paths = expand_paths(source, "parquet")
    schema: pa.Schema | None = None
    for path in paths[:64]:  # footers are small; checking many catches mixed schemas before any engine starts
        this = _parquet_schema(path)
        if schema is None:
            schema = this
        elif not schema.equals(this):
            raise SchemaError(f"Parquet files have different schemas: {paths[0]!r} and {path!r}.")
    assert schema is not None
    return LazyFrame(pn.Scan(pn.FileSource("parquet", paths, schema)))


def _polars_schema_to_arrow(schema: Any) -> pa.Schema:
    import polars as pl

    return pl.DataFrame(schema=schema).to_arrow().schema


def _user_schema(schema: pa.Schema | Mapping[str, Any]) -> pa.Schema:
    if isinstance(schema, pa.Schema):
        return schema
    return pa.schema([pa.field(k, parse_dtype(v)) for k, v in schema.items()])


def read_csv(
    source: PathLike | Sequence[PathLike],
    *,
    separator: str = ",",
    has_header: bool = True,
    schema: pa.Schema | Mapping[str, Any] | None = None,
    null_values: Sequence[str] = ("",),
    infer_schema_length: int = 1000,
) -> LazyFrame:
    """Scan CSV files. Types are inferred from the first rows (int64, float64, bool, string) unless
    ``schema`` gives them; every engine then reads with that schema.

    Examples
    --------
    >>> import unistack as us, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> _ = open(path, "w").write("a,b\\n1,x\\n2,\\n")
    >>> us.read_csv(path).collect().to_pydict()
    {'a': [1, 2], 'b': ['x', None]}
    """
    import polars as pl

    if len(separator) != 1:
        raise InvalidTypeError(f"separator must be one character, got {separator!r}.")
    paths = expand_paths(source, "csv")
    if schema is not None:
        file_schema = _user_schema(schema)
    else:
        try:
            inferred = pl.scan_csv(
                list(paths), separator=separator, has_header=has_header, null_values=list(null_values),
                infer_schema_length=infer_schema_length,
            ).collect_schema()
        except (pl.exceptions.PolarsError, OSError) as e:
            raise DataSourceError(f"cannot read CSV {paths[0]!r}: {e}") from e
        file_schema = _polars_schema_to_arrow(inferred)
    options = (("separator", separator), ("has_header", has_header), ("null_values", tuple(null_values)))
    return LazyFrame(pn.Scan(pn.FileSource("csv", paths, file_schema, options)))


def read_json(source: PathLike | Sequence[PathLike], *, schema: pa.Schema | Mapping[str, Any] | None = None,
              infer_schema_length: int = 1000) -> LazyFrame:
    """Scan newline-delimited JSON files (one object per line).

    Examples
    --------
    >>> import unistack as us, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "t.json")
    >>> _ = open(path, "w").write('{"a": 1, "b": "x"}\\n{"a": 2, "b": null}\\n')
    >>> us.read_json(path).collect().to_pydict()
    {'a': [1, 2], 'b': ['x', None]}
    """
    import polars as pl

    paths = expand_paths(source, "json")
    if schema is not None:
        file_schema = _user_schema(schema)
    else:
        try:
            inferred = pl.scan_ndjson(list(paths), infer_schema_length=infer_schema_length).collect_schema()
        except (pl.exceptions.PolarsError, OSError) as e:
            raise DataSourceError(f"cannot read JSON {paths[0]!r}: {e}") from e
        file_schema = _polars_schema_to_arrow(inferred)
    return LazyFrame(pn.Scan(pn.FileSource("json", paths, file_schema)))


def from_arrow(data: Any) -> LazyFrame:
    """A frame over Arrow data: Table, RecordBatch, RecordBatchReader, or any ``__arrow_c_stream__`` object.

    A reader is read once, into memory, so the frame can run more than once.

    Examples
    --------
    >>> import unistack as us, pyarrow as pa
    >>> us.from_arrow(pa.table({"a": [1, 2]})).collect().num_rows
    2
    """
    if isinstance(data, pa.Table):
        table = data
    elif isinstance(data, pa.RecordBatch):
        table = pa.Table.from_batches([data])
    elif isinstance(data, pa.RecordBatchReader):
        table = data.read_all()
    elif hasattr(data, "__arrow_c_stream__"):
        table = pa.RecordBatchReader.from_stream(data).read_all()
    elif hasattr(data, "__arrow_c_array__"):
        table = pa.Table.from_batches([pa.record_batch(data)])
    else:
        raise InvalidTypeError(
            f"from_arrow() takes Arrow data (Table, RecordBatch, RecordBatchReader or an object with "
            f"__arrow_c_stream__), got {type(data).__name__}."
        )
    if len(set(table.schema.names)) != len(table.schema.names):
        raise SchemaError(f"input has duplicate column names: {table.schema.names}.")
    return LazyFrame(pn.Scan(pn.InMemorySource(table)))


def from_pandas(df: pandas.DataFrame) -> LazyFrame:
    """A frame over a pandas DataFrame (the index is dropped).

    Examples
    --------
    >>> import unistack as us, pandas as pd
    >>> us.from_pandas(pd.DataFrame({"a": [1, 2]})).collect().to_pydict()
    {'a': [1, 2]}
    """
    try:
        table = pa.Table.from_pandas(df, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise InvalidTypeError(f"cannot convert the pandas DataFrame to Arrow: {e}") from e
    return from_arrow(table)


def from_polars(df: polars.DataFrame | polars.LazyFrame) -> LazyFrame:
    """A frame over a Polars DataFrame (a LazyFrame is collected first).

    Examples
    --------
    >>> import unistack as us, polars as pl
    >>> us.from_polars(pl.DataFrame({"a": [1, 2]})).collect().to_pydict()
    {'a': [1, 2]}
    """
    import polars as pl

    if isinstance(df, pl.LazyFrame):
        df = df.collect()
    if not isinstance(df, pl.DataFrame):
        raise InvalidTypeError(f"from_polars() takes a Polars DataFrame, got {type(df).__name__}.")
    return from_arrow(df.to_arrow(compat_level=pl.CompatLevel.oldest()))


def from_dict(mapping: Mapping[str, Any], schema: pa.Schema | Mapping[str, Any] | None = None) -> LazyFrame:
    """A frame from ``{column: values}``; types are inferred unless ``schema`` gives them.

    Examples
    --------
    >>> import unistack as us
    >>> us.from_dict({"a": [1, None], "b": ["x", "y"]}).schema
    a: int64
    b: large_string
    """
    if not isinstance(mapping, Mapping):
        raise InvalidTypeError(f"from_dict() takes a mapping of column name to values, got {type(mapping).__name__}.")
    try:
        table = pa.table(dict(mapping), schema=_user_schema(schema) if schema is not None else None)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as e:
        raise InvalidTypeError(
            f"cannot build a table from the dict: {e}. Columns must be lists of equal length with values of "
            "one type; pass schema= to set types."
        ) from e
    return from_arrow(table)


def write_table(frame: LazyFrame, path: str, fmt: str, engine: str | None) -> None:
    """Collect ``frame`` and write it to ``path`` atomically: a temporary file in the same directory is
    renamed into place only once it is complete, so a failure never leaves a partial file."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    directory = os.path.dirname(os.path.abspath(path)) or "."
    if not os.path.isdir(directory):
        raise DataSourceError(f"directory {directory!r} does not exist; create it first.")
    table = frame.collect(engine)
    fd, tmp = tempfile.mkstemp(prefix=".unistack-", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        if fmt == "parquet":
            pq.write_table(table, tmp)
        else:
            pacsv.write_csv(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
