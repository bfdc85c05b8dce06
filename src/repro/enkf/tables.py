"""enkf tables (one function per id in `repro.enkf.TABLES`) and scorecard rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from repro.aggregate import final, series
from repro.enkf import reported
from repro.enkf.figures import error_curve
from repro.tables import NOT_RUN, diverged, score, verdict_claim, verdict_numeric


def _at(values, i):
    return values[i] if i < len(values) else np.nan


def fig1(inputs) -> pd.DataFrame:
    steps, enkf, enkf_std, _ = error_curve(inputs, "enkf")
    _, sgd, sgd_std, _ = error_curve(inputs, "sgd", "test_updates")
    _, sgd_e, sgd_e_std, _ = error_curve(inputs, "sgd", "test_epoch")
    rows = []
    for i, step in enumerate(steps):
        rows.append(
            {
                "position": i + 1,
                "enkf_iteration": int(step),
                "enkf_error_mean": enkf[i],
                "enkf_error_std": enkf_std[i],
                "paper_enkf_error_mean": _at(reported.ENKF_ERROR_MEAN, i),
                "paper_enkf_error_std": _at(reported.ENKF_ERROR_STD, i),
                "sgd_error_mean": _at(sgd, i),
                "sgd_error_std": _at(sgd_std, i),
                "sgd_one_epoch_error_mean": _at(sgd_e, i),
                "sgd_one_epoch_error_std": _at(sgd_e_std, i),
                "paper_sgd_error_mean": _at(reported.SGD_ERROR_MEAN, i),
                "paper_sgd_error_std": _at(reported.SGD_ERROR_STD, i),
            }
        )
    return pd.DataFrame(rows)


def _scale(inputs, name: str) -> str:
    p = inputs.experiments[name]
    its = (p["train_batches"] or 937) * p["repetitions"]
    return f"J = {p['J']}, {its} iterations, {p['test_subset'] or 10000} test images"


def scorecard(inputs) -> list[dict]:
    preset, rows = inputs.preset, []

    def add(claim, rep, ours, verdict, detail=""):
        rows.append(score("enkf", claim, rep, ours, preset, verdict, detail))

    exps = inputs.experiments
    if "enkf" in exps:
        bad = diverged(inputs, "enkf")
        steps, mean, std, n = error_curve(inputs, "enkf")
        add(
            "Fig. 1: EnKF test error after one epoch (last checkpoint), mean ± std of 10 runs",
            "4.10 ± 0.24 %",
            f"{mean[-1]:.2f} ± {std[-1]:.2f} % ({n} runs, {_scale(inputs, 'enkf')})",
            verdict_numeric(mean[-1], reported.ENKF_ERROR_MEAN[-1], 1.0, diverged=bad),
            "tolerance ±1 point; only the paper preset can match (spec §5: the ~4 % needs "
            "J in the thousands and the full epoch)",
        )
        s = inputs.summary("enkf")
        first = {m: series(s, "test", m).iloc[0] for m in ("error", "top_class", "classes")}
        expected = series(s, "test", "top_class_error")["mean"].iloc[0]
        collapsed = (
            first["classes"]["mean"] == 1
            and first["top_class"]["mean"] == reported.COLLAPSE_CLASS
            and np.nan_to_num(first["top_class"]["std"]) == 0
        )
        add(
            "Fig. 1: first checkpoint 91.08 % error with zero spread: every run predicts one "
            "class (digit 5) after the first update",
            "91.08 ± 0.00 %",
            f"{first['error']['mean']:.2f} ± {np.nan_to_num(first['error']['std']):.2f} %; "
            f"classes predicted {first['classes']['mean']:g}, top class "
            f"{first['top_class']['mean']:g} (all-5 error on this test set {expected:.2f} %)",
            verdict_claim(collapsed and abs(first["error"]["mean"] - expected) < 1e-6, bad)
            if (exps["enkf"]["test_subset"] or 10000) < 10000
            else verdict_numeric(
                first["error"]["mean"], reported.FIRST_CHECKPOINT_ERROR, 0.005, diverged=bad
            ),
            "on a test subset the claim is: one class, digit 5, error = share of non-5s",
        )
        diffs = np.diff(mean)
        holds = bool(np.all(diffs <= 0.5) and mean[-1] < 60 and mean[0] > 85 and std[-1] < 5)
        add(
            "Quick scale: EnKF error falls monotonically from ~90 % to well below chance "
            "with small spread across seeds (~45-50 % for J = 100)",
            "spec §5",
            f"{mean[0]:.1f} → {mean[-1]:.1f} % (std {std[-1]:.2f}); largest rise "
            f"{max(diffs.max(), 0):.2f} points",
            verdict_claim(holds, bad),
            "monotone: no rise above 0.5 point; final < 60 %; final std < 5 points",
        )
    if "sgd" in exps:
        bad = diverged(inputs, "sgd")
        s = inputs.summary("sgd")
        last = final(s, "test_updates", "error")
        std_pop = float(last["std"]) * np.sqrt((last["n"] - 1) / last["n"])
        add(
            "Fig. 1: SGD (σ = 1) test error at the last checkpoint, mean ± std of 10 runs",
            "81.85 ± 24.02 %",
            f"{last['mean']:.2f} ± {std_pop:.2f} % ({int(last['n'])} runs, "
            f"after step {int(last['step'])})",
            verdict_numeric(last["mean"], reported.SGD_ERROR_MEAN[-1], 10.0, diverged=bad),
            "tolerance ±10 points (the paper's spread is ±24)",
        )
        finals = np.array([np.load(f)["test_error"][-1] for f in inputs.artifacts["sgd"]])
        stuck, learnt = int((finals > 80).sum()), int((finals < 30).sum())
        bimodal = stuck > 0 and learnt > 0 and stuck + learnt == len(finals)
        add(
            "Quick scale: SGD from N(0,1) is bimodal: most runs stay near 88-90 % error, the "
            "mean stays high with a very large std",
            "spec §5 (3 of 10 runs learn in the spec's check; Fig. 1: 81.85 ± 24.02 %)",
            f"after {exps['sgd']['epochs']} epoch(s): {stuck} of {len(finals)} runs > 80 %, "
            f"{learnt} < 30 % ({', '.join(f'{e:.1f}' for e in finals)}); mean "
            f"{finals.mean():.1f} ± {finals.std():.1f} %",
            verdict_claim(bool(bimodal and finals.mean() > 50 and finals.std() > 20), bad),
            "holds if every run is either > 80 % or < 30 % (both present), mean > 50 % and "
            "population std > 20 points; how many of 5 runs learn is itself noisy",
        )
    sizes = sorted(
        (p["J"], n) for n, p in exps.items() if n in ("enkf", "enkf_size1", "enkf_size2")
    )
    if len(sizes) == 3:
        finals = [error_curve(inputs, n)[1][-1] for _, n in sizes]
        add(
            "Fig. 8a ordering: larger ensembles give lower error at equal iterations",
            "J = 100 > 5000 > 10 000 in error (Fig. 8a)",
            ", ".join(f"J = {J}: {e:.1f} %" for (J, _), e in zip(sizes, finals, strict=True)),
            verdict_claim(
                bool(np.all(np.diff(finals) < 0)), diverged(inputs, *(n for _, n in sizes))
            ),
            "final-checkpoint error strictly decreasing in J",
        )
    adam = [n for n, p in exps.items() if p["kind"] == "gd" and p["optimizer"] == "adam"]
    sgd1 = [n for n, p in exps.items() if n.startswith("gd_sgd")]
    if adam and sgd1:
        curves = {n: series(inputs.summary(n), "test", "error")["mean"].to_numpy() for n in adam}
        slow = all(c[-1] < c[0] and c[-1] > 20 for c in curves.values())
        add(
            "Fig. 5 ordering: Adam with N(0,1) / N(0,9) initialisation improves only slowly",
            "spec §5 (Fig. 5)",
            ", ".join(
                f"Adam σ = {exps[n]['init_std']:g}: {c[0]:.1f} → {c[-1]:.1f} % after "
                f"{exps[n]['epochs']} epochs"
                for n, c in curves.items()
            ),
            verdict_claim(slow, diverged(inputs, *adam)),
            "holds if every Adam run improves on its initial error but stays above 20 %",
        )
    if not rows:
        add("enkf experiments", "-", "-", NOT_RUN)
    return rows
