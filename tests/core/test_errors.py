"""Build-time errors (S-ERRORS): raised while the frame is built, before any engine runs, as a
``UnistackError`` whose message names the problem and a fix. Run-time input and user-function errors are
wrapped too; a raw engine traceback never escapes."""

from __future__ import annotations

import datetime as dt
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import unistack as us
from unistack import errors


@pytest.fixture
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything tries to run a plan: build-time errors must come first."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("an engine was asked to run a plan")

    monkeypatch.setattr("unistack.execution.execute", refuse)


DF = us.from_dict({"price": [1.5], "name": ["x"], "qty": [2], "day": [dt.date(2024, 1, 1)],
                   "ts": [dt.datetime(2024, 1, 1)]})

# (id, build, error class, regex the message must match: the problem and the fix)
BUILD_ERRORS = [
    ("unknown column with suggestion", lambda: DF.select(us.col("prise")), us.ColumnNotFoundError,
     r"column 'prise' not found\. Did you mean 'price'\? Available columns: \['price', 'name', 'qty'"),
    ("unknown column without close name", lambda: DF.select("zzzz"), us.ColumnNotFoundError,
     r"column 'zzzz' not found\. Available columns"),
    ("unknown column in filter", lambda: DF.filter(us.col("qyt") > 1), us.ColumnNotFoundError, r"Did you mean 'qty'"),
    ("unknown column in sort", lambda: DF.sort("nmae"), us.ColumnNotFoundError, r"Did you mean 'name'"),
    ("unknown column in group_by", lambda: DF.group_by("nam"), us.ColumnNotFoundError, r"Did you mean 'name'"),
    ("unknown column in agg", lambda: DF.group_by("name").agg(us.col("pric").sum()), us.ColumnNotFoundError,
     r"Did you mean 'price'"),
    ("unknown join key", lambda: DF.join(DF, on="nme"), us.ColumnNotFoundError, r"Did you mean 'name'"),
    ("unknown column in rename", lambda: DF.rename({"qtty": "q"}), us.ColumnNotFoundError, r"Did you mean 'qty'"),
    ("unknown column in drop", lambda: DF.drop("prices"), us.ColumnNotFoundError, r"Did you mean 'price'"),
    ("unknown column in distinct", lambda: DF.distinct("nam"), us.ColumnNotFoundError, r"Did you mean 'name'"),
    ("unknown column in window", lambda: DF.select(us.col("qty").sum().over("nmae")), us.ColumnNotFoundError,
     r"Did you mean 'name'"),
    ("string + int", lambda: DF.select(us.col("name") + 1), us.InvalidTypeError,
     r"cannot apply '\+' to string and int64: arithmetic needs numbers\. To join strings use us\.concat_str"),
    ("string column * int column", lambda: DF.select(us.col("name") * us.col("qty")), us.InvalidTypeError,
     r"cannot apply '\*' to string and int64"),
    ("string compared with int", lambda: DF.filter(us.col("name") > us.col("qty")), us.InvalidTypeError,
     r"cannot compare string and int64\. Cast one side first"),
    ("naive timestamp compared with aware literal",
     lambda: DF.filter(us.col("ts") > dt.datetime(2024, 1, 1, tzinfo=dt.UTC)), us.InvalidTypeError,
     r"time-zone aware datetime literal with timestamp\[us\]; use a datetime with matching tzinfo"),
    ("mixed aggregate and column in select", lambda: DF.select(us.col("price").sum(), "name"),
     us.InvalidOperationError, r"select\(\) mixes aggregates with per-row columns: name\. Use group_by"),
    ("nested aggregate", lambda: DF.select(us.col("price").sum().max()), us.InvalidOperationError,
     r"nested aggregate.*Aggregate in two steps"),
    ("aggregate in filter", lambda: DF.filter(us.col("price") > us.col("price").mean()), us.InvalidOperationError,
     r"aggregate cannot be used inside filter\(\).*\.over\(\.\.\.\)"),
    ("non-aggregate in agg", lambda: DF.group_by("name").agg(us.col("price")), us.InvalidOperationError,
     r"price in agg\(\) is not an aggregate; wrap it"),
    ("window inside agg", lambda: DF.group_by("name").agg(us.col("qty").sum().over("name")),
     us.InvalidOperationError, r"not an aggregate"),
    ("duplicate output names in select", lambda: DF.select("price", us.col("qty").alias("price")), us.SchemaError,
     r"duplicate output column 'price' in select; give one of them another name with \.alias\(\)"),
    ("duplicate output names by default naming", lambda: DF.select(us.col("qty"), us.col("qty") + 1),
     us.SchemaError, r"duplicate output column 'qty'"),
    ("duplicate names in with_columns", lambda: DF.with_columns(a=us.col("qty"), b=us.col("qty")).with_columns(
        us.col("a").alias("z"), us.col("b").alias("z")), us.SchemaError, r"same output name; alias one"),
    ("duplicate names in agg", lambda: DF.group_by("name").agg(us.col("qty").sum(), us.col("qty").max()),
     us.SchemaError, r"duplicate output column 'qty' in group_by\(\)\.agg\(\)"),
    ("join key type mismatch", lambda: DF.join(us.from_dict({"qty": ["2"]}), on="qty"), us.InvalidTypeError,
     r"join keys have different types: 'qty' is int64 on the left and 'qty' is string on the right\. Cast one side"),
    ("join suffix collision", lambda: us.from_dict({"k": [1], "v": [1], "v_right": [2]}).join(
        us.from_dict({"k": [1], "v": [3]}), on="k"), us.SchemaError,
     r"two columns named 'v_right'; pass another suffix"),
    ("join with unknown kind", lambda: DF.join(DF, on="qty", how="outer"), us.InvalidOperationError,
     r"join how='outer' is not one of inner, left, right, full, semi, anti, cross"),
    ("join without keys", lambda: DF.join(DF), us.InvalidOperationError, r"needs keys: on='k' or left_on="),
    ("cross join with keys", lambda: DF.join(DF, on="qty", how="cross"), us.InvalidOperationError,
     r"cross join takes no keys"),
    ("concat type mismatch", lambda: us.concat([us.from_dict({"a": [1]}), us.from_dict({"a": [1.0]})]),
     us.SchemaError, r"frame 1 differs from frame 0: column 'a' is int64 vs double\. Use select\(\)/cast\(\)"),
    ("concat name mismatch", lambda: us.concat([us.from_dict({"a": [1]}), us.from_dict({"b": [1]})]),
     us.SchemaError, r"columns \['a'\] vs \['b'\]"),
    ("window function without over", lambda: DF.select(us.row_number()), us.InvalidOperationError,
     r"row_number\(\) must be used with \.over\(\.\.\.\)"),
    ("row_number without order", lambda: DF.select(us.row_number().over("name")), us.InvalidOperationError,
     r"needs order_by=\.\.\."),
    ("over on a plain expression", lambda: DF.select((us.col("qty") + 1).over("name")), us.InvalidOperationError,
     r"\.over\(\) applies to an aggregate"),
    ("expression used as a bool", lambda: bool(us.col("qty") > 1), us.InvalidOperationError,
     r"no truth value: use & and \|"),
    ("non-boolean filter", lambda: DF.filter(us.col("qty")), us.InvalidTypeError,
     r"filter\(\) needs a boolean expression, got int64"),
    ("& on integers", lambda: DF.filter(us.col("qty") & us.col("qty")), us.InvalidTypeError,
     r"'&' needs boolean operands.*Wrap comparisons in parentheses"),
    ("string function on a number", lambda: DF.select(us.col("qty").str.len()), us.InvalidTypeError,
     r"needs string input, got int64"),
    ("hour of a date", lambda: DF.select(us.col("day").dt.hour()), us.InvalidTypeError,
     r"needs timestamp input, got date32"),
    ("bad truncate unit", lambda: DF.select(us.col("ts").dt.truncate("fortnight")), us.InvalidOperationError,
     r"unit must be one of year, quarter, month, week, day, hour, minute, second; got 'fortnight'"),
    ("sum of strings", lambda: DF.select(us.col("name").sum()), us.InvalidTypeError,
     r"cannot sum values of type string"),
    ("mean of dates", lambda: DF.select(us.col("day").mean()), us.InvalidTypeError, r"mean needs numbers"),
    ("unknown type name", lambda: DF.select(us.col("qty").cast("int65")), us.InvalidTypeError,
     r"unknown type 'int65'\. Use a pyarrow type.*'int64'"),
    ("refused cast", lambda: DF.select(us.col("day").cast("int64")), us.InvalidTypeError,
     r"cannot cast date32\[day\] to int64"),
    ("integer literal too large", lambda: DF.select(us.col("qty") + 2**70), us.InvalidTypeError,
     r"does not fit in 64 bits"),
    ("is_in with a string", lambda: DF.select(us.col("name").is_in("abc")), us.InvalidTypeError,
     r"is_in\(\) takes a list of values"),
    ("is_in with wrong value type", lambda: DF.select(us.col("qty").is_in(["a"])), us.InvalidTypeError,
     r"cannot compare int64 and string"),
    ("when with a non-boolean condition", lambda: DF.select(us.when(us.col("qty")).then(1)), us.InvalidTypeError,
     r"when\(\) needs a boolean condition"),
    ("when branches of incompatible types",
     lambda: DF.select(us.when(us.col("qty") > 1).then(us.col("name")).otherwise(us.col("qty"))),
     us.InvalidTypeError, r"cannot combine the branches of when/then/otherwise: string and int64"),
    ("unary minus on a string", lambda: DF.select(-us.col("name")), us.InvalidTypeError, r"unary minus needs a number"),
    ("negative limit", lambda: DF.limit(-1), us.InvalidTypeError, r"limit\(\) takes a non-negative int, got -1"),
    ("sort flags of the wrong length", lambda: DF.sort("qty", "name", descending=[True]), us.InvalidOperationError,
     r"descending has 1 values but there are 2 keys"),
    ("drop every column", lambda: DF.drop(DF.columns), us.InvalidOperationError, r"would remove every column"),
    ("empty select", lambda: DF.select(), us.InvalidOperationError, r"needs at least one column"),
    ("empty concat", lambda: us.concat([]), us.InvalidOperationError, r"needs at least one frame"),
    ("replace of an empty string", lambda: DF.select(us.col("name").str.replace("", "x")), us.InvalidOperationError,
     r"needs a non-empty string"),
    ("map_batches with a non-function", lambda: DF.map_batches(3, {"a": "int64"}), us.InvalidTypeError,
     r"takes a function"),
    ("map_batches with an unknown type", lambda: DF.map_batches(lambda b: b, {"a": "nosuchtype"}),
     us.InvalidTypeError, r"unknown type 'nosuchtype'"),
    ("from_dict with unequal lengths", lambda: us.from_dict({"a": [1, 2], "b": [1]}), us.InvalidTypeError,
     r"Columns must be lists of equal length"),
    ("from_arrow with a list", lambda: us.from_arrow([1, 2]), us.InvalidTypeError, r"from_arrow\(\) takes Arrow data"),
    ("duplicate input names", lambda: us.from_arrow(pa.table([[1], [2]], names=["a", "a"])), us.SchemaError,
     r"duplicate column names"),
]


@pytest.mark.parametrize(("build", "cls", "pattern"), [c[1:] for c in BUILD_ERRORS], ids=[c[0] for c in BUILD_ERRORS])
def test_build_time_error(no_engine: None, build, cls: type[Exception], pattern: str) -> None:
    with pytest.raises(cls, match=pattern) as info:
        build()
    assert isinstance(info.value, us.UnistackError)


def test_error_classes_are_also_builtin_exceptions() -> None:
    # so existing `except KeyError/TypeError/ValueError/OSError` code keeps working
    assert issubclass(us.ColumnNotFoundError, KeyError)
    assert issubclass(us.InvalidTypeError, TypeError)
    assert issubclass(us.InvalidOperationError, ValueError)
    assert issubclass(us.DataSourceError, OSError)
    assert issubclass(us.UnsupportedOperationError, NotImplementedError)
    assert issubclass(us.EngineError, RuntimeError)
    assert issubclass(errors.ConfigError, ValueError)
    # KeyError would otherwise show the message in quotes
    assert str(us.ColumnNotFoundError("b", ["a"])) == "column 'b' not found. Available columns: ['a']."


def test_column_not_found_lists_at_most_twenty_columns() -> None:
    df = us.from_dict({f"c{i}": [i] for i in range(30)})
    with pytest.raises(us.ColumnNotFoundError) as info:
        df.select("zz")
    assert str(info.value).endswith("'c18', 'c19', ...].")
    assert info.value.name == "zz"


# -- files -----------------------------------------------------------------------------------------------


def test_missing_file(no_engine: None, tmp_path) -> None:
    with pytest.raises(us.DataSourceError, match=r"file not found: '.*nope\.parquet'\. Check the path"):
        us.read_parquet(tmp_path / "nope.parquet")
    with pytest.raises(us.DataSourceError, match=r"file not found"):
        us.read_csv(tmp_path / "nope.csv")
    with pytest.raises(us.DataSourceError, match=r"file not found"):
        us.read_json(tmp_path / "nope.json")


def test_glob_without_match_and_empty_directory(no_engine: None, tmp_path) -> None:
    with pytest.raises(us.DataSourceError, match=r"no file matches '.*x\*\.parquet'\. Check the pattern"):
        us.read_parquet(str(tmp_path / "x*.parquet"))
    with pytest.raises(us.DataSourceError, match=r"holds no parquet files"):
        us.read_parquet(tmp_path)
    with pytest.raises(us.DataSourceError, match=r"no parquet path given"):
        us.read_parquet([])


def test_corrupt_parquet_is_caught_when_the_frame_is_built(no_engine: None, tmp_path) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"PAR1 this is not parquet at all")
    with pytest.raises(us.DataSourceError, match=r"is not a readable Parquet file .* Is it corrupt or truncated\?"):
        us.read_parquet(path)


def test_parquet_files_with_different_schemas(no_engine: None, tmp_path) -> None:
    pq.write_table(pa.table({"a": [1]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"a": ["x"]}), tmp_path / "b.parquet")
    with pytest.raises(us.SchemaError, match=r"Parquet files have different schemas"):
        us.read_parquet(tmp_path)


def test_file_corrupted_after_build_is_a_data_source_error(tmp_path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": list(range(1000))}), path)
    df = us.read_parquet(path)
    data = bytearray(path.read_bytes())
    data[8:400] = b"\xff" * 392  # the footer stays valid, the data pages do not
    path.write_bytes(bytes(data))
    with pytest.raises(us.DataSourceError, match=r"cannot read input"):
        df.collect(engine="polars")


def test_file_removed_after_build_is_a_data_source_error(tmp_path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": [1]}), path)
    df = us.read_parquet(path)
    os.remove(path)
    with pytest.raises(us.DataSourceError, match=r"cannot read input.*No such file"):
        df.collect(engine="polars")


def test_csv_value_not_matching_its_schema(tmp_path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a\n1\nabc\n")
    with pytest.raises(us.DataSourceError, match=r"cannot read input: could not parse `abc`"):
        us.read_csv(path, schema={"a": "int64"}).collect(engine="polars")


def test_malformed_json(no_engine: None, tmp_path) -> None:
    path = tmp_path / "t.json"
    path.write_text('{"a": 1}\n{not json\n')
    with pytest.raises(us.DataSourceError, match=r"cannot read JSON"):
        us.read_json(path)


def test_write_into_missing_directory(no_engine: None, tmp_path) -> None:
    with pytest.raises(us.DataSourceError, match=r"does not exist; create it first"):
        DF.write_parquet(tmp_path / "no" / "such" / "dir.parquet")


# -- user functions (checked at run time) ---------------------------------------------------------------


def test_map_batches_returning_wrong_columns() -> None:
    df = us.from_dict({"a": [1]}).map_batches(lambda b: pa.record_batch({"b": b["a"]}), {"a": "int64"}, name="f")
    with pytest.raises(us.UserFunctionError, match=r"'f' returned columns \['b'\], declared \['a'\]"):
        df.collect(engine="polars")


def test_map_batches_returning_uncastable_types() -> None:
    df = us.from_dict({"a": [1]}).map_batches(lambda b: pa.record_batch({"a": pa.array(["x"])}), {"a": "int64"},
                                              name="f")
    with pytest.raises(us.UserFunctionError, match=r"'f' returned .* which does not fit the declared"):
        df.collect(engine="polars")


def test_map_batches_returning_something_else() -> None:
    df = us.from_dict({"a": [1]}).map_batches(lambda b: [1, 2], {"a": "int64"}, name="f")
    with pytest.raises(us.UserFunctionError, match=r"'f' returned list; return a pyarrow\.RecordBatch"):
        df.collect(engine="polars")


def test_map_batches_function_raising() -> None:
    def fails(batch: pa.RecordBatch) -> pa.RecordBatch:
        return batch.column(5)  # IndexError

    df = us.from_dict({"a": [1]}).map_batches(fails, {"a": "int64"})
    with pytest.raises(us.UserFunctionError, match=r"map_batches function 'fails' raised IndexError"):
        df.collect(engine="polars")


# -- engines ---------------------------------------------------------------------------------------------


def test_unsupported_operation_names_engine_and_operation() -> None:
    # S-UNSUPPORTED
    from unistack.backends.base import Capabilities, EngineStatus, require_supported

    class NoJoins:
        name = "nojoins"

        def capabilities(self) -> Capabilities:
            from unistack.backends.polars.compile import implemented_operations

            return Capabilities.from_translator(implemented_operations(), {"node:Join": "joins are not translated"})

        def status(self) -> EngineStatus:
            return EngineStatus(installed=True)

    plan = DF.join(DF, on="qty").plan
    with pytest.raises(us.UnsupportedOperationError,
                       match=r"engine 'nojoins' does not support node:Join\. Reason: joins are not translated\. "
                             r"Run it on another engine, e.g\. collect\(engine='polars'\)") as info:
        require_supported(NoJoins(), plan)  # type: ignore[arg-type]
    assert info.value.engine == "nojoins"


def test_unknown_engine() -> None:
    with pytest.raises(us.EngineNotAvailableError, match=r"unknown engine 'nope'\. Known engines: polars"):
        DF.collect(engine="nope")


def test_engine_failure_is_wrapped_as_engine_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from unistack.backends.polars.engine import PolarsEngine

    def crash(self: PolarsEngine, plan: object) -> pa.Table:
        raise MemoryError("out of memory")

    monkeypatch.setattr(PolarsEngine, "execute", crash)
    with pytest.raises(us.EngineError, match=r"engine 'polars' failed: MemoryError: out of memory") as info:
        DF.collect(engine="polars")
    assert info.value.engine == "polars"
