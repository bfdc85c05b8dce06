"""levelsets tables (Table 1) and scorecard rows (spec sections 4-5)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from repro.aggregate import divergence, n_diverged, n_runs
from repro.levelsets import BASELINE_PREFIX, EXPERIMENTS, not_run_note
from repro.levelsets.results import (
    baseline_finals,
    regression,
    run_value,
    walk_point,
)
from repro.tables import DIVERGED, NOT_RUN, diverged, score, verdict_claim

PAPER = "levelsets"
TIDY_COLUMNS = [
    "experiment",
    "method",
    "lambda",
    "n_runs",
    "test_loss_mean",
    "test_loss_std",
    "test_metric",
    "test_metric_mean",
    "test_metric_std",
    "diverged",
    "note",
]


def _metric_name(params: dict) -> str:
    return "mse" if regression(params) else "accuracy"


def _params(inputs, exp: str) -> dict | None:
    for name in (exp, BASELINE_PREFIX + exp):
        if name in inputs.experiments:
            return inputs.experiments[name]
    return None


def table1(inputs) -> pd.DataFrame:
    """Tidy: every lambda row and the level-set row per experiment (std: ddof = 0)."""
    rows = []
    for exp in EXPERIMENTS:
        params = _params(inputs, exp)
        if params is None:
            rows.append({"experiment": exp, "method": "not run", "note": not_run_note(exp)})
            continue
        metric = _metric_name(params)
        if exp in inputs.experiments:
            summary = inputs.summary(exp)
            loss, met = walk_point(summary, "test_loss", -1), walk_point(summary, "test_metric", -1)
            diverged = n_diverged(summary)
            rows.append(
                {
                    "experiment": exp,
                    "method": "level set",
                    "n_runs": loss["n"],
                    "test_loss_mean": loss["mean"],
                    "test_loss_std": loss["std"],
                    "test_metric": metric,
                    "test_metric_mean": met["mean"],
                    "test_metric_std": met["std"],
                    "diverged": _diverged(inputs, exp),
                    "note": (f"predictor step {loss['step']}" if loss["n"] else "no complete walk")
                    + (f"; {diverged} diverged run(s) excluded" if diverged else ""),
                }
            )
        if BASELINE_PREFIX + exp in inputs.experiments:
            finals = baseline_finals(inputs.summary(BASELINE_PREFIX + exp))
            if finals.empty:
                rows.append(
                    {
                        "experiment": exp,
                        "method": "weight decay",
                        "diverged": _diverged(inputs, BASELINE_PREFIX + exp),
                        "note": "no test evaluation (the run diverged before it)",
                    }
                )
            for _, r in finals.iterrows():
                rows.append(
                    {
                        "experiment": exp,
                        "method": "weight decay",
                        "lambda": r["lambda"],
                        "n_runs": int(r["n"]),
                        "test_loss_mean": r["loss_mean"],
                        "test_loss_std": r["loss_std"],
                        "test_metric": metric,
                        "test_metric_mean": r["metric_mean"],
                        "test_metric_std": r["metric_std"],
                        "diverged": _diverged(inputs, BASELINE_PREFIX + exp),
                        "note": f"epoch {int(r['epoch'])}",
                    }
                )
    return pd.DataFrame(rows, columns=TIDY_COLUMNS)


def _diverged(inputs, name: str) -> str:
    """ "k/n" runs of `name` that diverged."""
    return "{}/{}".format(*divergence(inputs.seeds(name))) if name in inputs.per_seed else ""


def _pm(mean, std, digits=4) -> str:
    if mean is None or not np.isfinite(mean):
        return "-"
    return f"{mean:.{digits}g} ± {std:.2g}"


def table1_summary(inputs) -> pd.DataFrame:
    """The rendered Table 1 of the proposal (one row per experiment)."""
    tidy = table1(inputs)
    rows = []
    for exp in EXPERIMENTS:
        part = tidy[tidy["experiment"] == exp]
        if (part["method"] == "not run").any():
            rows.append({"experiment": exp, "note": part["note"].iloc[0]})
            continue
        params = _params(inputs, exp)
        scale = 1.0 if regression(params) else 100.0
        unit = "MSE" if regression(params) else "acc. %"
        row = {"experiment": exp, "metric": unit}
        walk = part[part["method"] == "level set"]
        if len(walk):
            w = walk.iloc[0]
            row["level-set loss"] = _pm(w["test_loss_mean"], w["test_loss_std"])
            row["level-set metric"] = _pm(
                w["test_metric_mean"] * scale, w["test_metric_std"] * scale
            )
        wd = part[(part["method"] == "weight decay") & part["lambda"].notna()]
        if len(wd):
            zero = wd[wd["lambda"] == 0.0]
            if len(zero):
                z = zero.iloc[0]
                row["λ=0 loss"] = _pm(z["test_loss_mean"], z["test_loss_std"])
                row["λ=0 metric"] = _pm(z["test_metric_mean"] * scale, z["test_metric_std"] * scale)
            best = wd.loc[wd["test_loss_mean"].fillna(np.inf).idxmin()]
            row["best λ"] = f"{best['lambda']:g}"
            row["best-λ loss"] = _pm(best["test_loss_mean"], best["test_loss_std"])
            row["best-λ metric"] = _pm(
                best["test_metric_mean"] * scale, best["test_metric_std"] * scale
            )
        row["diverged"] = ", ".join(
            f"{m} {d}" for m, d in part.groupby("method")["diverged"].first().items()
        )
        row["note"] = "; ".join(n for n in walk["note"] if isinstance(n, str))
        rows.append(row)
    columns = [
        "experiment",
        "metric",
        "level-set loss",
        "level-set metric",
        "λ=0 loss",
        "λ=0 metric",
        "best λ",
        "best-λ loss",
        "best-λ metric",
        "diverged",
        "note",
    ]
    return pd.DataFrame(rows, columns=columns).fillna("-")


# --------------------------------------------------------------------------- scorecard
def _walk_rows(inputs, name: str, add) -> None:
    params, summary = inputs.experiments[name], inputs.summary(name)
    complete = n_runs(summary) - n_diverged(summary)
    runs = f"{complete}/{n_runs(summary)} runs complete"
    if complete == 0:
        add(f"{name}: level-set walk completes", "-", runs, DIVERGED, "every run diverged")
        return
    band = math.sqrt(params["tolerance"])
    outside = run_value(summary, "steps_outside_band")
    worst = run_value(summary, "max_abs_gap")
    add(
        f"{name}: training loss stays within the tolerance of L0 at every logged step",
        f"|L - L0| <= {band:g} (spec 1.4; abstract: fixed near-zero loss)",
        f"mean max |L - L0| {worst:.2e}; {outside:g} steps outside; {runs}",
        verdict_claim(outside == 0 and worst <= band),
    )
    increases = run_value(summary, "R_increases")
    r0, r1 = walk_point(summary, "R", 0)["mean"], walk_point(summary, "R", -1)["mean"]
    add(
        f"{name}: R = ||w||² decreases monotonically along the walk",
        "monotone decrease (spec section 5)",
        f"R {r0:.4g} -> {r1:.4g}; {increases:g} increasing steps per run",
        verdict_claim(increases == 0 and r1 < r0),
    )
    a0, a1 = walk_point(summary, "angle", 0)["mean"], walk_point(summary, "angle", -1)["mean"]
    add(
        f"{name}: the ∇R-∇L angle drifts upward (toward 180°)",
        "angle increases (spec section 5)",
        f"{a0:.2f}° -> {a1:.2f}°",
        verdict_claim(a1 > a0),
    )
    t0, t1 = walk_point(summary, "test_loss", 0), walk_point(summary, "test_loss", -1)
    add(
        f"{name}: test loss falls slightly along the walk",
        "decreases (abstract: 'a new strategy for reducing test loss'; spec section 5)",
        f"{t0['mean']:.4g} -> {t1['mean']:.4g} ({(t1['mean'] / t0['mean'] - 1):+.2%})",
        verdict_claim(t1["mean"] < t0["mean"]),
        "mean over runs, first vs last logged predictor step",
    )
    if not regression(params):
        m0, m1 = walk_point(summary, "test_metric", 0), walk_point(summary, "test_metric", -1)
        add(
            f"{name}: test accuracy stays about flat along the walk",
            "~flat (spec section 5)",
            f"{m0['mean']:.2%} -> {m1['mean']:.2%}",
            verdict_claim(abs(m1["mean"] - m0["mean"]) <= 0.02),
            "flat: within 2 points",
        )


def _baseline_rows(inputs, name: str, add) -> None:
    finals = baseline_finals(inputs.summary(name))
    broken = diverged(inputs, name)  # one run holds every lambda: a blow-up stops them all
    if finals["loss_mean"].notna().sum() < 2:
        add(
            f"{name.removeprefix(BASELINE_PREFIX)}: weight-decay test loss vs λ is U-shaped",
            "λ -> large: weights -> 0, constant predictions (spec sections 4-5)",
            f"{int(finals['loss_mean'].notna().sum())} λ with a finite test loss",
            DIVERGED if broken else NOT_RUN,
            f"{_diverged(inputs, name)} runs diverged" if broken else "",
        )
        return
    largest, constant = finals.iloc[-1], finals["constant_loss"].iloc[0]
    best = finals.loc[finals["loss_mean"].idxmin()]
    interior = 0 < finals["loss_mean"].idxmin() < len(finals) - 1
    degenerate = largest["loss_mean"] >= 0.9 * constant
    add(
        f"{name.removeprefix(BASELINE_PREFIX)}: weight-decay test loss vs λ is U-shaped / "
        "degenerates for large λ",
        "λ -> large: weights -> 0, constant predictions (spec sections 4-5)",
        f"test loss {largest['loss_mean']:.4g} at λ={largest['lambda']:g} vs "
        f"{best['loss_mean']:.4g} at the best λ={best['lambda']:g}; constant predictor "
        f"{constant:.4g}; minimum {'inside' if interior else 'at an end of'} the grid; "
        f"{'degenerate' if degenerate else 'not yet degenerate'} at the largest λ",
        verdict_claim(bool(largest["loss_mean"] > 1.5 * best["loss_mean"]), diverged=broken),
        "holds if the largest λ's test loss exceeds 1.5 x the best λ's; degenerate: "
        ">= 0.9 x the best constant predictor's test loss",
    )


def scorecard(inputs) -> list[dict]:
    rows = []

    def add(claim, reported, ours, verdict, detail=""):
        rows.append(score(PAPER, claim, reported, ours, inputs.preset, verdict, detail))

    for exp in EXPERIMENTS:
        if exp in inputs.experiments:
            _walk_rows(inputs, exp, add)
        if BASELINE_PREFIX + exp in inputs.experiments:
            _baseline_rows(inputs, BASELINE_PREFIX + exp, add)
        if _params(inputs, exp) is None:
            add(f"{exp}: level-set walk and baseline", "-", not_run_note(exp), NOT_RUN)
    return rows
