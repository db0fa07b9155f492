"""Planning never starts or imports the heavy engines (Spark, Ray, Dask, Flink)."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys, unistack as us
frame = us.from_dict({"k": [1, 2], "x": [1.0, 2.0]}).group_by("k").agg(us.col("x").sum())
e = us.explain(frame, native=False)
print("ENGINES", [c.engine for c in e.candidates])
frame.collect()
heavy = sorted(m for m in ("pyspark", "ray", "dask", "distributed", "pyflink", "py4j") if m in sys.modules)
print("HEAVY", heavy)
"""


def test_planning_does_not_import_heavy_engines(tmp_path: object) -> None:
    """The first process on a machine may load each engine once to learn its capabilities (they are
    cached on disk); after that, planning imports none of them."""
    env = {"UNISTACK_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    first = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=300, env=env)
    assert first.returncode == 0, first.stderr
    proc = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stdout, proc.stdout
