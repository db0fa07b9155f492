"""Configuration: us.config (and as a context manager), environment, TOML file, precedence, errors."""

from __future__ import annotations

import os

import pytest

import unistack as us
from unistack.config import OPTIONS, describe_options
from unistack.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_config(monkeypatch: pytest.MonkeyPatch, tmp_path):
    """Each test starts from defaults: no overrides, no UNISTACK_* variables, an empty config file."""
    for key in list(os.environ):
        if key.startswith("UNISTACK_") and key != "UNISTACK_TEST_ENGINES":
            monkeypatch.delenv(key)
    monkeypatch.setenv("UNISTACK_CONFIG", str(tmp_path / "absent.toml"))
    us.reset_config()
    yield
    us.reset_config()


def test_defaults() -> None:
    assert us.get_option("engine") == "auto"
    assert us.get_option("spark.shuffle_partitions") == 4
    assert us.get_option("polars.streaming") is False
    assert us.get_option("dask.scheduler") is None
    assert us.get_option("engines") == ()


def test_config_sets_and_context_manager_restores() -> None:
    us.config(spark_shuffle_partitions=8)
    assert us.get_option("spark.shuffle_partitions") == 8
    with us.config({"spark.shuffle_partitions": 2, "polars.streaming": "yes"}):
        assert us.get_option("spark.shuffle_partitions") == 2
        assert us.get_option("polars.streaming") is True
    assert us.get_option("spark.shuffle_partitions") == 8
    assert us.get_option("polars.streaming") is False


def test_values_are_parsed() -> None:
    us.config(engines="polars, duckdb", spark_conf="a=1,b=2", ray_object_store_memory="1000", flink_timeout="2.5")
    assert us.get_option("engines") == ("polars", "duckdb")
    assert us.get_option("spark.conf") == {"a": "1", "b": "2"}
    assert us.get_option("ray.object_store_memory") == 1000
    assert us.get_option("flink.timeout") == 2.5


def test_environment_overrides_file_and_config_overrides_environment(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('engine = "duckdb"\n[spark]\nshuffle_partitions = 16\nmaster = "local[2]"\n')
    monkeypatch.setenv("UNISTACK_CONFIG", str(path))
    us.reset_config()
    assert us.get_option("spark.shuffle_partitions") == 16
    assert us.get_option("spark.master") == "local[2]"
    assert us.get_option("engine") == "duckdb"
    monkeypatch.setenv("UNISTACK_SPARK_SHUFFLE_PARTITIONS", "32")
    assert us.get_option("spark.shuffle_partitions") == 32
    with us.config(spark_shuffle_partitions=1):
        assert us.get_option("spark.shuffle_partitions") == 1
    assert us.get_option("spark.shuffle_partitions") == 32


def test_unknown_option_suggests_close_names() -> None:
    with pytest.raises(ConfigError, match=r"unknown option 'spark.shuffle_partition'\. Did you mean "
                                          r"spark\.shuffle_partitions\b"):
        us.config({"spark.shuffle_partition": 3})
    with pytest.raises(ConfigError, match=r"unknown option 'nope'"):
        us.get_option("nope")


def test_bad_values_name_the_option_and_the_place(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"bad value 'many' for spark\.shuffle_partitions \(us\.config\)"):
        us.config(spark_shuffle_partitions="many")
    monkeypatch.setenv("UNISTACK_POLARS_STREAMING", "maybe")
    with pytest.raises(ConfigError, match=r"environment UNISTACK_POLARS_STREAMING"):
        us.get_option("polars.streaming")


def test_broken_config_file(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("engine = \n")
    monkeypatch.setenv("UNISTACK_CONFIG", str(path))
    us.reset_config()
    with pytest.raises(ConfigError, match=r"cannot read config file"):
        us.get_option("engine")


def test_engine_option_forces_the_engine() -> None:
    df = us.from_dict({"a": [1, 2]})
    with us.config(engine="nope"), pytest.raises(us.EngineNotAvailableError, match=r"unknown engine 'nope'"):
        df.collect()
    with us.config(engine="polars"):
        assert df.collect().to_pydict() == {"a": [1, 2]}


def test_describe_options_lists_every_option() -> None:
    text = describe_options()
    for key in OPTIONS:
        assert key in text


def test_polars_streaming_gives_the_same_results() -> None:
    left = us.from_dict({"k": [1, 2, 2, None], "v": [1.5, None, 2.5, 4.0]})
    right = us.from_dict({"k": [2, 1], "w": ["x", "y"]})
    frame = (left.join(right, on="k", how="left").group_by("w").agg(s=us.col("v").sum(), n=us.count())
             .sort("w"))
    expected = {"w": ["x", "y", None], "s": [2.5, 1.5, 4.0], "n": [2, 1, 1]}
    assert frame.collect(engine="polars").to_pydict() == expected
    with us.config(polars_streaming=True):
        assert frame.collect(engine="polars").to_pydict() == expected
