"""repro.cost: extrapolation from progress lines, the budget hook, and one real measurement."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from repro import cost, runs
from repro.config import resolve_experiments, validate


def events(*rows):
    return [{"t": t, "cpu": c, "step": s, "total": n} for t, c, s, n in rows]


def test_extrapolation_is_last_time_plus_remaining_steps_at_the_phase_rate():
    # 10 s of setup, then 2 s per step: steps 1, 2, 3 of 10 at t = 12, 14, 16.
    e = events((12, 5, 1, 10), (14, 6, 2, 10), (16, 7, 3, 10))
    assert cost.rate(e) == pytest.approx(2.0)
    assert cost.extrapolate(e) == pytest.approx(16 + 7 * 2.0)  # 30 s
    assert cost.extrapolate(e, "cpu") == pytest.approx(7 + 7 * 1.0)


def test_only_the_current_phase_sets_the_rate():
    # phase 1 (total 5): 1 s per step; phase 2 (total 100): 0.5 s per step.
    e = events((1, 1, 1, 5), (2, 2, 2, 5), (5, 5, 5, 5), (10, 9, 0, 100), (15, 13, 10, 100))
    assert cost.rate(e) == pytest.approx(0.5)
    assert cost.extrapolate(e) == pytest.approx(15 + 90 * 0.5)


def test_no_interval_timed_gives_no_estimate():
    assert cost.extrapolate(events((3, 1, 1, 10))) is None
    assert cost.extrapolate(events((3, 1, 0, None), (4, 2, 0, None))) is None
    assert cost.extrapolate([]) is None


def _loop(run, n_steps, clock):
    for step in range(1, n_steps + 1):
        clock[0] += 1.0
        run.progress(step, n_steps)


def test_progress_hook_stops_a_long_run_and_lets_a_short_phase_finish(tmp_path, monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(cost.time, "time", lambda: clock[0])
    run = runs.Run("p", "e", 0, {}, tmp_path)
    budget = {"steps": 2, "min_remaining_s": 20.0}

    timer = cost.Timer(0.0, tmp_path / "long.jsonl", budget)
    monkeypatch.setattr(runs, "PROGRESS_HOOKS", [timer])
    with pytest.raises(cost.BudgetReached):
        _loop(run, 100, clock)  # 1 s per step: 97 s left after step 3 > 20 s
    assert [e["step"] for e in timer.events] == [1, 2, 3]
    assert cost.extrapolate(timer.events) == pytest.approx(100.0)

    timer = cost.Timer(clock[0], tmp_path / "short.jsonl", budget)
    monkeypatch.setattr(runs, "PROGRESS_HOOKS", [timer])
    _loop(run, 15, clock)  # never more than 20 s left: runs to its end
    assert len(timer.events) == 15
    assert len((tmp_path / "short.jsonl").read_text().splitlines()) == 15


def test_a_tick_reaches_the_cost_hook_without_a_log_line(tmp_path, monkeypatch, caplog):
    seen = []
    monkeypatch.setattr(runs, "PROGRESS_HOOKS", [lambda run, step, total: seen.append(step)])
    run = runs.Run("p", "e", 0, {}, tmp_path)
    with caplog.at_level("INFO"):
        run.tick(3, 10)
        assert not caplog.records
        run.progress(4, 10)
    assert seen == [3, 4] and len(caplog.records) == 1


def test_measure_runs_an_entry_point_in_a_child_and_reports_it():
    config = validate(yaml.safe_load(Path("config/config.yaml").read_text()))
    params = resolve_experiments(config, "optlab")["curv_adam"]
    record = cost.measure("optlab", "curv_adam", 0, params, device="cpu", log=lambda _: None)
    assert record["status"] == cost.COMPLETE  # one progress line: timed whole
    assert record["steps"] == params["steps"]
    assert record["estimated_s"] == pytest.approx(record["timed_s"])
    assert 50 < record["peak_mem_mb"] < 8000  # a Python process with torch
    assert record["timed_cpu_s"] > 0
    # the start-up (interpreter, torch, the paper's code) is part of the run, not all of it
    assert 0 < record["startup_s"] < record["timed_s"]
    assert 0 < record["startup_cpu_s"] < record["timed_cpu_s"]
    # without a next seed, a further seed costs the estimate less the start-up
    assert record["next_seed_cpu_s"] == pytest.approx(
        record["estimated_cpu_s"] - record["startup_cpu_s"], abs=1e-2
    )


def test_a_short_run_is_timed_again_on_the_next_seed_in_the_same_process():
    config = validate(yaml.safe_load(Path("config/config.yaml").read_text()))
    params = resolve_experiments(config, "optlab")["curv_adam"]
    record = cost.measure(
        "optlab", "curv_adam", 0, params, device="cpu", next_seed=1, log=lambda _: None
    )
    assert record["status"] == cost.COMPLETE
    # the first run alone is the estimate (not both runs); the second pays no start-up
    # (curv_adam's work is ~0.05 CPU-s, the interpreter and torch ~2)
    assert 0 < record["next_seed_cpu_s"] < record["startup_cpu_s"]
    assert record["estimated_cpu_s"] + record["next_seed_cpu_s"] <= record["timed_cpu_s"] + 0.05


def _measurement(**changes):
    return {"paper": "p", "experiment": "e", "timed_seed": 0, "status": cost.EXTRAPOLATED,
            "steps": 100, "steps_timed": 3, "seconds_per_step": 1.0, "estimated_s": 110.0,
            "estimated_cpu_s": 100.0, "startup_s": 10.0, "startup_cpu_s": 6.0,
            "next_seed_s": 95.0, "next_seed_cpu_s": 90.0,
            "peak_mem_mb": 500.0, "gpu_peak_mb": None, "device": "cpu", "load_1min": 1.0,
            **changes}  # fmt: skip


@pytest.mark.parametrize("shared", [False, True])
def test_one_job_for_every_seed_pays_the_start_up_once(tmp_path, shared):
    experiment = {"seeds": [0, 1, 2],
                  "resources": {"threads": 2, "gpu": 0, "mem_mb": 1000, "runtime": 10}}  # fmt: skip
    frame, totals = cost.table([_measurement()], {("p", "e"): experiment}, [], 2, shared)
    seconds = (frame["estimated_h"] * 3600).round(6).tolist()
    cpu = (frame["estimated_cpu_h"] * 3600).round(6).tolist()
    assert seconds == ([110.0, 95.0, 95.0] if shared else [110.0] * 3)
    assert cpu == ([100.0, 90.0, 90.0] if shared else [100.0] * 3)
    assert totals["CPU-hours (runs without a GPU; hours x threads)"] * 3600 == pytest.approx(
        2 * sum(seconds)
    )
    assert ("first seed only" in cost.markdown(frame, totals, "quick", shared)) == shared
