"""Calibration: NNLS, fitting coefficients from raw runs, profiles, refit from history, the CLI."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from planner_fakes import make_coef  # type: ignore[import-not-found]

import unistack as us
from unistack.planner import calibrate as cal
from unistack.planner.history import record
from unistack.planner.profile import FEATURES, EngineProfile, Profile, default_profile, load_profile


def test_nnls_matches_the_constrained_optimum() -> None:
    rng = np.random.default_rng(3)
    a = rng.random((40, 5))
    truth = np.array([0.5, 0.0, 2.0, 0.0, 1.0])
    b = a @ truth + rng.normal(0, 1e-3, 40)
    x = cal.nnls(a, b)
    assert (x >= 0).all()
    assert np.allclose(x, truth, atol=0.02)
    # A target that wants a negative coefficient gets zero there.
    y = cal.nnls(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([1.0, -3.0]))
    assert y.tolist() == [1.0, 0.0]


def test_fit_engine_recovers_coefficients_from_runs() -> None:
    rng = np.random.default_rng(4)
    truth = make_coef(startup=4.0, job=0.05, scan_row=2e-8, agg_row=6e-8, out_byte=1e-9)
    runs = []
    for _ in range(60):
        f = {"startup": float(rng.random() < 0.2), "job": 1.0, "scan_row": float(rng.integers(1e3, 1e7)),
             "agg_row": float(rng.integers(1e3, 1e7)), "out_byte": float(rng.integers(0, 1e8))}
        t = sum(truth[k] * v for k, v in f.items()) * rng.uniform(0.97, 1.03)
        runs.append({"features": f, "seconds": t})
    prior = EngineProfile(make_coef(job=0.01, spill_byte=7e-9))
    coef, stats = cal.fit_engine(runs, prior)
    for k in ("startup", "job", "agg_row", "out_byte"):
        assert coef[k] == pytest.approx(truth[k], rel=0.25), k
    assert coef["spill_byte"] == 7e-9  # never exercised: the prior's value is kept
    assert stats["median_rel_error"] < 0.05


def test_default_profile_ships_every_engine_and_feature() -> None:
    p = default_profile()
    assert {"polars", "duckdb", "dask", "spark", "ray", "flink"} <= set(p.engines)
    for e in p.engines.values():
        assert set(FEATURES) <= set(e.coef) and all(v >= 0 for v in e.coef.values())
    assert p.machine.get("cores") == 2


def test_profile_round_trip_and_machine_key(tmp_path: object) -> None:
    with us.config(cache_dir=str(tmp_path)):
        prof = Profile("mine", {"polars": EngineProfile(make_coef(job=0.123))}, created="2026-11-28",
                       machine={"cores": 2})
        path = prof.save()
        assert path.startswith(str(tmp_path)) and path.endswith(".json")
        loaded = load_profile()
        assert loaded.name == "mine" and loaded.engine("polars").c("job") == 0.123
        assert "spark" in loaded.engines  # filled in from the shipped default
        assert loaded.label() == "mine (2 cores), 2026-11-28"
        # An unknown engine gets the most pessimistic coefficients.
        assert loaded.engine("unknown").c("startup") >= loaded.engine("spark").c("startup")


def test_refit_from_history(tmp_path: object) -> None:
    with us.config(cache_dir=str(tmp_path), history=True):
        for i in range(30):
            rows = 1e4 * (i + 1)
            feats = {"job": 1.0, "scan_row": rows, "agg_row": rows}
            record({"engine": "polars", "status": "ok", "actual": 0.002 + 3e-7 * rows, "features": feats})
        record({"engine": "polars", "status": "failed", "actual": 9.0, "features": {"job": 1.0}})
        messages: list[str] = []
        prof = cal.refit_from_history(progress=messages.append)
        assert prof.source == "history"
        c = prof.engine("polars")
        predicted = c.c("job") + (c.c("scan_row") + c.c("agg_row")) * 1e5
        assert predicted == pytest.approx(0.002 + 3e-7 * 1e5, rel=0.1)
        assert any("30 history runs" in m for m in messages)
        assert load_profile().source == "history"


def test_cli_from_history_and_quick_calibration(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    from unistack.cli import main

    with us.config(cache_dir=str(tmp_path)):
        assert main(["calibrate", "--from-history"]) == 0
        out = os.path.join(str(tmp_path), "p.json")
        assert main(["calibrate", "--engines", "polars", "--sizes", "1e3,2e4", "--repeats", "1", "--quick",
                     "--output", out]) == 0
        text = capsys.readouterr().out
        assert "[polars] agg_few" in text and "fitted on" in text
        with open(out) as fh:
            data = json.load(fh)
        assert data["engines"]["polars"]["runs"] >= 8
        assert data["source"] == "calibrate"


def test_per_row_floors_for_engines_calibrated_on_little_data() -> None:
    engines = {"a": EngineProfile(make_coef(agg_row=2e-8, job=0.001), runs=100),
               "b": EngineProfile(make_coef(agg_row=5e-8, job=0.002), runs=100),
               "small": EngineProfile(make_coef(agg_row=0.0, job=0.5), runs=10)}
    cal.apply_floors(engines)
    assert engines["small"].c("agg_row") == 2e-8  # the cheapest well-calibrated engine's
    assert engines["small"].c("job") == 0.5  # fixed overheads are not floored
    assert engines["a"].c("agg_row") == 2e-8 and engines["b"].c("agg_row") == 5e-8


def test_incremental_fit_changes_only_the_named_features() -> None:
    rng = np.random.default_rng(7)
    prior = EngineProfile(make_coef(job=0.002, scan_row=1e-8, agg_row=3e-8))
    truth_decimal = 4e-8
    runs = []
    for _ in range(40):
        f = {"job": 1.0, "scan_row": float(rng.integers(1e4, 1e7)), "agg_row": float(rng.integers(1e4, 1e7)),
             "decimal_row": float(rng.integers(1e4, 1e7))}
        t = (prior.c("job") + prior.c("scan_row") * f["scan_row"] + prior.c("agg_row") * f["agg_row"]
             + truth_decimal * f["decimal_row"]) * rng.uniform(0.98, 1.02)
        runs.append({"features": f, "seconds": t})
    coef, stats = cal.fit_engine(runs, prior, only=["decimal_row"])
    assert coef["decimal_row"] == pytest.approx(truth_decimal, rel=0.1)
    for k in ("job", "scan_row", "agg_row"):
        assert coef[k] == prior.c(k), k  # kept exactly
    assert stats["median_rel_error"] < 0.05
    profile = cal.fit_profile({"polars": runs}, Profile("p", {"polars": prior}), source="calibrate",
                              progress=lambda s: None, only=["decimal_row"])
    assert profile.engines["polars"].c("decimal_row") == pytest.approx(truth_decimal, rel=0.1)
    assert profile.engines["polars"].c("agg_row") == prior.c("agg_row")


def test_calibration_workloads_exercise_the_new_features(tmp_path: object) -> None:
    from unistack.planner.choose import assess
    from unistack.planner.optimize import optimize

    ds = cal.make_dataset(40_000, str(tmp_path))
    loads = cal.workloads(ds)
    want = {"decimal": "decimal_row", "window_ordered": "window_sort_row", "udf_heavy": "udf_job"}
    for name, feature in want.items():
        cand = assess("polars", optimize(loads[name]().plan))
        assert cand.cost is not None and cand.cost.features[feature] > 0, name
    assert loads["decimal"]().collect(engine="polars").num_rows == 8
