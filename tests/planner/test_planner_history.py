"""History-based correction: observed times of a plan seen before replace the model's prediction."""

from __future__ import annotations

import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from planner_fakes import FakeEngine  # type: ignore[import-not-found]

import unistack as us
from unistack.plan import nodes as pn
from unistack.planner import history
from unistack.planner import stats as st
from unistack.planner.choose import choose
from unistack.planner.history import RECENT, observe, observed_path, observed_runs, plan_key
from unistack.planner.optimize import optimize

TABLE = pa.table({"k": [i % 7 for i in range(1000)], "x": [float(i) for i in range(1000)]})


def _frame(table: pa.Table = TABLE) -> us.LazyFrame:
    return us.from_arrow(table).filter(us.col("x") > 10).group_by("k").agg(us.col("x").sum())


def test_plan_key_is_stable_for_the_same_query_and_data_and_changes_with_either(tmp_path: object) -> None:
    a, b = optimize(_frame().plan), optimize(_frame().plan)
    keys = [next(n.source.key for n in p.walk() if isinstance(n, pn.Scan)) for p in (a, b)]  # type: ignore[attr-defined]
    assert keys[0] != keys[1]
    assert plan_key(a) == plan_key(b)  # per-call source keys do not matter
    other_query = optimize(us.from_arrow(TABLE).group_by("k").agg(us.col("x").mean()).plan)
    assert plan_key(other_query) != plan_key(a)
    bigger = pa.concat_tables([TABLE, TABLE])
    assert plan_key(optimize(_frame(bigger).plan)) != plan_key(a)  # another size class of input

    path = os.path.join(str(tmp_path), "t.parquet")
    pq.write_table(TABLE, path)
    q = lambda: optimize(us.read_parquet(path).group_by("k").agg(us.count().alias("n")).plan)  # noqa: E731
    before = plan_key(q())
    assert plan_key(q()) == before
    pq.write_table(pa.concat_tables([TABLE, TABLE]), path)
    os.utime(path, ns=(1, 1))  # a rewritten file: new size and modification time
    assert plan_key(q()) != before


def test_observed_runs_keep_the_last_few_per_engine_and_state(cache: str) -> None:
    for i in range(RECENT + 3):
        observe("key", "polars", True, float(i))
    observe("key", "polars", False, 9.0)
    observe("other", "polars", True, 1.0)
    assert observed_runs("key", "polars", True) == [float(i) for i in range(3, RECENT + 3)]
    assert observed_runs("key", "polars", False) == [9.0]
    assert observed_runs("key", "duckdb", True) == []
    # the reader is incremental: a line appended after a first read is seen on the next lookup
    observe("key", "duckdb", True, 0.5)
    assert observed_runs("key", "duckdb", True) == [0.5]
    with us.config(history=False):
        observe("key", "duckdb", True, 7.0)
    assert observed_runs("key", "duckdb", True) == [0.5]


def test_own_runs_are_taken_in_directly_and_other_writers_runs_still_read(cache: str) -> None:
    observe("key", "polars", True, 1.0)
    assert observed_runs("key", "polars", True) == [1.0]  # the first look reads the file
    observe("key", "polars", True, 2.0)  # taken in by this process without reading the file again
    with open(observed_path(), "a") as fh:  # another process's run, appended behind this one's back
        fh.write(json.dumps({"k": "key", "e": "duckdb", "w": True, "s": 0.5, "t": 0.0}) + "\n")
    observe("key", "polars", True, 3.0)  # written after the other's: the reader must not skip that line
    assert observed_runs("key", "polars", True) == [1.0, 2.0, 3.0]
    assert observed_runs("key", "duckdb", True) == [0.5]
    history._observed.__init__()  # a fresh reader (another process) sees the same runs in the file
    assert observed_runs("key", "polars", True) == [1.0, 2.0, 3.0]


def test_compaction_keeps_recent_runs_and_readers_follow(cache: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history, "MAX_OBSERVED_BYTES", 2000)
    for i in range(100):
        observe(f"k{i % 4}", "polars", True, float(i))
    assert observed_runs("k0", "polars", True)  # read once before the file is replaced
    for i in range(100, 120):
        observe(f"k{i % 4}", "polars", True, float(i))
    assert os.path.getsize(observed_path()) <= 2000 + 200
    runs = observed_runs("k0", "polars", True)
    assert runs == sorted(runs) and runs[-1] == 116.0 and len(runs) <= RECENT
    with open(observed_path()) as fh:
        for line in fh:
            json.loads(line)  # no torn lines


def test_observed_times_replace_the_model_and_can_change_the_choice(fakes: dict[str, FakeEngine]) -> None:
    plan = optimize(_frame().plan)
    model = choose(plan)
    assert model.engine == "fake_fast"
    fast = model.candidate("fake_fast")
    assert fast is not None and fast.cost is not None and fast.cost.history_runs == 0
    key = plan_key(plan)
    for s in (5.0, 4.0, 6.0):
        observe(key, "fake_fast", True, s)  # far slower than its prediction, in practice
    learned = choose(plan)
    assert learned.engine == "fake_slow"
    fast = learned.candidate("fake_fast")
    assert fast is not None and fast.cost is not None
    assert fast.cost.total == pytest.approx(5.0)  # the median of the observed runs
    assert fast.cost.history_runs == 3
    assert fast.cost.model_total == pytest.approx(model.candidate("fake_fast").cost.total)  # type: ignore[union-attr]
    assert "observed: median of 3 runs" in fast.note
    assert learned.history_key == key
    with us.config(history_correction=False):
        assert choose(plan).engine == "fake_fast"  # the model alone
        assert choose(plan).history_key is None
    # a cold engine's runs include its start-up: observations of a warm engine are not used when it is cold
    fakes["fake_fast"].warm = False
    cold = choose(plan).candidate("fake_fast")
    assert cold is not None and cold.cost is not None and cold.cost.history_runs == 0


def test_the_chosen_engine_wins_with_history_in_its_reason(fakes: dict[str, FakeEngine]) -> None:
    plan = optimize(_frame().plan)
    key = plan_key(plan)
    observe(key, "fake_fast", True, 0.002)
    observe(key, "fake_slow", True, 0.5)
    choice = choose(plan)
    assert choice.engine == "fake_fast"
    assert "observed over 1 runs" in choice.reason


def test_runs_are_recorded_per_plan_key_and_explain_shows_the_correction(fakes: dict[str, FakeEngine]) -> None:
    for _ in range(3):
        _frame().collect(engine="fake_slow")
    with us.config(history_correction=False):
        _frame().collect()  # the planner's own run (the model picks fake_fast) is observed too
    history.flush()
    key = plan_key(optimize(_frame().plan))
    assert len(observed_runs(key, "fake_slow", True)) == 3
    assert len(observed_runs(key, "fake_fast", True)) == 1
    e = us.explain(_frame(), native=False)
    assert e.history_runs == {"fake_fast": 1, "fake_slow": 3}
    assert e.history_key == key
    text = str(e)
    assert "history correction: observed times of this plan replaced the model for" in text
    assert "fake_slow (3 runs)" in text
    d = e.to_dict()
    assert d["history_runs"] == {"fake_fast": 1, "fake_slow": 3}
    slow = next(c for c in d["candidates"] if c["engine"] == "fake_slow")
    assert slow["history_runs"] == 3 and slow["model_total"] > 0
    with us.config(history_correction=False):
        plain = us.explain(_frame(), native=False)
    assert plain.history_runs == {} and "history correction" not in str(plain)
    # the history line of a corrected run keeps the model's own prediction next to the corrected one
    _frame().collect()
    history.flush()
    last = history.read_history()[-1]
    assert last["history_runs"] >= 1 and last["model_predicted"] != last["predicted"]


def test_statistics_of_one_arrow_table_are_shared_by_every_frame_over_it(monkeypatch: pytest.MonkeyPatch) -> None:
    st.clear_cache()
    calls = []
    real = st._compute_distinct

    def counting(src: object, name: str) -> object:
        calls.append(name)
        return real(src, name)  # type: ignore[arg-type]

    monkeypatch.setattr(st, "_compute_distinct", counting)
    t = pa.table({"k": [i % 7 for i in range(5000)]})
    for _ in range(4):
        choose(optimize(us.from_arrow(t).group_by("k").agg(us.count().alias("n")).plan), engine="polars",
               compare=True)
    assert calls == ["k"]  # sampled once, not once per from_arrow call
    other = pa.table({"k": [i % 7 for i in range(5000)]})  # equal content, another table
    choose(optimize(us.from_arrow(other).group_by("k").agg(us.count().alias("n")).plan), engine="polars",
           compare=True)
    assert calls == ["k", "k"]


def test_string_view_sample_is_drawn_without_casting_the_whole_column() -> None:
    n = 300_000
    values = pa.array([f"v{i % 1000}" for i in range(n)]).cast(pa.string_view())
    src = us.from_arrow(pa.table({"s": values})).plan.source  # type: ignore[attr-defined]
    sample = st._sample_column(src, "s")
    assert sample is not None and len(sample) <= st.SAMPLE_ROWS
    assert pa.types.is_large_string(sample.type)
    d = st.distinct_count(src, "s", n)
    assert d is not None and d.low <= 1000 <= d.high


def test_a_repeated_query_reuses_its_estimates_until_its_data_changes(tmp_path: object,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from unistack.planner import choose as choose_mod

    choose_mod.clear_caches()
    path = os.path.join(str(tmp_path), "m.parquet")
    pq.write_table(TABLE, path)
    calls = []
    real = choose_mod.estimate

    def counting(plan: object) -> object:
        calls.append(1)
        return real(plan)  # type: ignore[arg-type]

    monkeypatch.setattr(choose_mod, "estimate", counting)
    q = lambda: us.read_parquet(path).filter(us.col("x") > 500).group_by("k").agg(us.count().alias("n"))  # noqa: E731
    first = us.explain(q(), engine="polars", native=False)
    second = us.explain(q(), engine="polars", native=False)
    assert len(calls) == 1
    assert [r.point for r in second.rows] == [r.point for r in first.rows]  # bound to the new plan's nodes
    assert second.candidates[0].cost.total == pytest.approx(first.candidates[0].cost.total)  # type: ignore[union-attr]
    pq.write_table(pa.concat_tables([TABLE] * 3), path)
    os.utime(path, ns=(2, 2))
    third = us.explain(q(), engine="polars", native=False)
    assert len(calls) == 2 and third.rows[-1].point == 3 * first.rows[-1].point
    # in-memory inputs: the same table is the same data; the facts follow each call's source key
    a = choose_mod.plan_facts(optimize(_frame().plan))
    plan = optimize(_frame().plan)
    b = choose_mod.plan_facts(plan)
    scan_key = next(n.source.key for n in plan.walk() if isinstance(n, pn.Scan))  # type: ignore[attr-defined]
    assert list(b[1].arrow_inputs["point"]) == [scan_key] != list(a[1].arrow_inputs["point"])
    assert b[0][plan].rows.point == a[0][a[0].plan].rows.point
