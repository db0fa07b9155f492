"""TPC-H for unistack: data from ``tpchgen-cli``, all 22 queries in the unistack API, the official SQL text,
answer checks against DuckDB, and the benchmark harness (``unistack bench tpch``)."""
