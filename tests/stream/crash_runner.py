"""Runs a checkpointed stream to completion (used by the crash-recovery test, which kills it with SIGKILL)."""

from __future__ import annotations

import sys
import time

import pyarrow as pa

import unistack as us


def slow(batch: pa.RecordBatch) -> pa.RecordBatch:
    time.sleep(0.1)  # make each micro-batch take long enough to be killed half-way through the stream
    return batch


def main(source: str, out: str, checkpoint: str) -> None:
    frame = us.read_stream(source, format="parquet", max_files_per_trigger=1)
    frame = frame.map_batches(slow, frame.schema).with_event_time("ts", watermark="1s")
    counts = frame.window(us.tumble("1s")).group_by("k").agg(n=us.count(), total=us.col("v").sum())
    query = counts.write_stream(out, format="parquet", checkpoint=checkpoint, trigger="available_now")
    query.await_termination()


if __name__ == "__main__":
    main(*sys.argv[1:4])
