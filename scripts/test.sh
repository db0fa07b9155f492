#!/usr/bin/env bash
# Install everything the tests need into .venv (created if missing) and run the whole test suite:
# the shared engine suite on every engine, the conformance suite, planner and engine-specific tests.
# Needs Python 3.11+ and Java 17 (for Spark and Flink); everything else comes from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
"$PY" -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ needed"'
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[all,test]'
if [ -f tests/thirdparty_engine/pyproject.toml ]; then
  .venv/bin/python -m pip install -q -e tests/thirdparty_engine
fi
# Flink lives in its own interpreter (apache-flink pins older pyarrow/pandas); provision it once.
if [ -d src/unistack/backends/flink ]; then
  .venv/bin/unistack engines install flink
fi
# Engines the shared suites (tests/engines, TPC-H answers) run on in CI. The conformance suite (200 generated
# plans per differential test) also runs on Flink; Flink's shared engine suite adds about 3 minutes more (each
# query is a Flink job): run it with UNISTACK_TEST_ENGINES=flink bash scripts/test.sh tests/engines
export UNISTACK_TEST_ENGINES="${UNISTACK_TEST_ENGINES:-polars,duckdb,dask,spark,ray}"
export UNISTACK_CONFORMANCE_SUITE_ENGINES="${UNISTACK_CONFORMANCE_SUITE_ENGINES:-$UNISTACK_TEST_ENGINES,flink}"
export UNISTACK_FLINK_PARALLELISM="${UNISTACK_FLINK_PARALLELISM:-1}"
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
