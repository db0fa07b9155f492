"""Kafka sources: configuration-ready on the Spark and Flink stream engines, whose Kafka connectors are not
on PyPI (so no broker is tested here). What is checked: the source is built and validated, the local
executor refuses it with the way out, routing skips the local executor, Flink's table definition carries
the configuration, and each engine without its connector fails with an error that names the jar to add."""

from __future__ import annotations

import pyarrow as pa
import pytest
from test_stream_engines import stream_engine_installed

import unistack as us
from unistack.stream.flink import compile_stream
from unistack.stream.route import choose_stream_engine

SCHEMA = pa.schema({"ts": pa.timestamp("ms"), "user": pa.string(), "amount": pa.float64()})


def orders() -> us.StreamFrame:
    return us.read_stream(format="kafka", topic="orders", bootstrap_servers="broker:9092", schema=SCHEMA,
                          options={"security.protocol": "PLAINTEXT"})


def totals() -> us.StreamFrame:
    return orders().with_event_time("ts", watermark="5s").window(us.tumble("1m")).group_by("user").agg(
        total=us.col("amount").sum())


def test_a_kafka_source_is_validated_when_built() -> None:
    assert orders().schema.names == ["ts", "user", "amount"]
    with pytest.raises(us.SchemaError, match="schema"):
        us.read_stream(format="kafka", topic="orders", bootstrap_servers="broker:9092")
    with pytest.raises(us.UnistackError, match="topic"):
        us.read_stream(format="kafka", topic="", bootstrap_servers="broker:9092", schema=SCHEMA)
    with pytest.raises(us.UnistackError, match="starting_offsets"):
        us.read_stream(format="kafka", topic="t", bootstrap_servers="b:9092", schema=SCHEMA, starting_offsets="x")


def test_the_local_executor_refuses_kafka_and_routing_skips_it() -> None:
    with pytest.raises(us.UnsupportedOperationError, match="no Kafka client"):
        totals().write_stream(us.MemorySink(), engine="local")
    choice = choose_stream_engine(totals().plan, "1s")
    local = next(e for e in choice.estimates if e.engine == "local")
    assert not local.feasible and "spark.jars.packages" in local.reason
    assert choice.engine != "local"


def test_flinks_table_definition_carries_the_configuration() -> None:
    job = compile_stream(totals().plan, 1_000_000, available_now=True)
    ddl = " ".join(i.ddl for i in job.inputs if i.kind == "ddl")
    for part in ("'connector' = 'kafka'", "'topic' = 'orders'", "'properties.bootstrap.servers' = 'broker:9092'",
                 "'format' = 'json'", "'scan.startup.mode' = 'earliest-offset'",
                 "'scan.bounded.mode' = 'latest-offset'",
                 "'properties.security.protocol' = 'PLAINTEXT'"):
        assert part in ddl


@pytest.mark.skipif(not stream_engine_installed("flink"), reason="flink is not installed")
def test_flink_without_its_connector_says_which_jar_to_add() -> None:
    with pytest.raises(us.UnistackError, match="flink-sql-connector-kafka"):
        totals().write_stream(us.MemorySink(), engine="flink", trigger="available_now")


@pytest.mark.skipif(not stream_engine_installed("spark"), reason="spark is not installed")
def test_spark_without_its_connector_says_which_package_to_add() -> None:
    query = totals().write_stream(us.MemorySink(), engine="spark", trigger="available_now")
    with pytest.raises(us.UnistackError, match="spark-sql-kafka"):
        query.await_termination(120)
