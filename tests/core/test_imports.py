"""Engines are imported lazily: ``import unistack`` loads no engine library, and running on one engine
never imports the others."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("pyspark", "ray", "dask", "distributed", "duckdb", "polars", "pandas", "pyflink")


def _loaded_after(code: str) -> list[str]:
    script = f"import json, sys\n{code}\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_unistack_loads_no_engine() -> None:
    assert _loaded_after("import unistack") == []


def test_building_and_explaining_a_polars_plan_loads_no_other_engine() -> None:
    loaded = _loaded_after(
        "import unistack as us\n"
        "df = us.from_dict({'a': [1, 2]}).filter(us.col('a') > 1)\n"
        "_ = df.schema\n"
        "assert df.collect(engine='polars').num_rows == 1"
    )
    assert not {"pyspark", "ray", "dask", "distributed", "duckdb", "pyflink"} & set(loaded)
