"""A runnable streaming example on the local executor.

Sensor readings arrive as Parquet files in a directory (this script writes them while the stream runs).
The stream joins each reading with a static table of sensor locations, drops invalid readings, and
computes per-site statistics in 10-second tumbling windows of event time, with a 2-second watermark; results
go to a Parquet directory, exactly once thanks to the checkpoint.

Run: ``python examples/streaming.py``
"""

from __future__ import annotations

import datetime as dt
import os
import random
import tempfile
import threading
import time

import pyarrow as pa
import pyarrow.parquet as pq

import unistack as us

START = dt.datetime(2026, 1, 1, 12, 0, 0)


def produce(directory: str, files: int = 8, rows: int = 500) -> None:
    """Write ``files`` Parquet files of readings, a few out of order, one every 0.2 s."""
    rng = random.Random(7)
    for i in range(files):
        offsets = [i * 5 + rng.uniform(0, 5) - (3 if rng.random() < 0.05 else 0) for _ in range(rows)]
        table = pa.table({
            "ts": pa.array([START + dt.timedelta(seconds=o) for o in offsets], pa.timestamp("us")),
            "sensor": [f"s{rng.randrange(6)}" for _ in range(rows)],
            "celsius": [rng.gauss(21, 3) if rng.random() > 0.02 else -999.0 for _ in range(rows)],
        })
        tmp = os.path.join(directory, f".reading-{i:03d}.tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, os.path.join(directory, f"reading-{i:03d}.parquet"))  # appear complete, atomically
        time.sleep(0.2)


def main() -> None:
    with tempfile.TemporaryDirectory() as root:
        incoming, results, checkpoint = (os.path.join(root, d) for d in ("incoming", "results", "checkpoint"))
        os.makedirs(incoming)
        sites = us.from_dict({"sensor": [f"s{i}" for i in range(6)], "site": ["lab", "lab", "hall", "hall", "roof",
                                                                                 "roof"]})
        schema = pa.schema({"ts": pa.timestamp("us"), "sensor": pa.large_string(), "celsius": pa.float64()})
        readings = us.read_stream(incoming, format="parquet", schema=schema)
        per_site = (
            readings.filter(us.col("celsius") > -50)
            .join(sites, on="sensor")
            .with_event_time("ts", watermark="2s")
            .window(us.tumble("10s"))
            .group_by("site")
            .agg(readings=us.count(), mean_c=us.col("celsius").mean(), max_c=us.col("celsius").max())
        )
        print(per_site.explain(), "\n")
        producer = threading.Thread(target=produce, args=(incoming,))
        producer.start()
        query = per_site.write_stream(results, format="parquet", checkpoint=checkpoint, trigger="200ms")
        producer.join()
        time.sleep(1.0)
        query.stop()
        print("progress:", {k: v for k, v in query.progress.items() if k != "last_batch_seconds"})
        table = pq.read_table(results).sort_by([("window_start", "ascending"), ("site", "ascending")])
        print(table.to_pandas().round({"mean_c": 2, "max_c": 2}).to_string(index=False))


if __name__ == "__main__":
    main()
