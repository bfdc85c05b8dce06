"""enkf tables (one function per id in `repro.enkf.TABLES`) and scorecard rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from repro.aggregate import diverged_seeds, final, population_std, seed_values, series
from repro.enkf import reported
from repro.enkf.figures import error_curve, reference
from repro.enkf.roles import MAIN, SGD
from repro.tables import NOT_RUN, Scorecard, verdict_claim, verdict_numeric


def _at(values, i):
    return values[i] if i < len(values) else np.nan


def fig1(inputs) -> pd.DataFrame:
    steps, enkf, enkf_std, _ = error_curve(inputs, MAIN)
    _, sgd, sgd_std, _ = error_curve(inputs, SGD, "test_updates")
    _, sgd_e, sgd_e_std, _ = error_curve(inputs, SGD, "test_epoch")
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


def _quick_scale(p: dict) -> bool:
    """The spec's §5 quick-scale EnKF setting: J = 100, 25 batches x 8 repetitions."""
    return p["J"] == 100 and p["train_batches"] == 25 and p["repetitions"] == 8


def _per_seed(values) -> str:
    return ", ".join(f"{v:.1f}" for v in values)


# (claim, reported) of every scorecard row; a row whose runs are absent is listed not run
ENKF_FINAL = (
    "Fig. 1: EnKF test error after one epoch (last checkpoint), mean ± std of 10 runs",
    "4.10 ± 0.24 %",
)
ENKF_QUICK = (
    "Quick scale (spec §5): EnKF, J = 100, 200 iterations, 2000 test images: test "
    "error ~45-50 % (spec's check: 49 % after 200 iterations)",
    "49 % (±5 points)",
)
ENKF_COLLAPSE = (
    "Fig. 1: first checkpoint 91.08 % error with zero spread: every run predicts one "
    "class (digit 5) after the first update",
    "91.08 ± 0.00 %",
)
ENKF_MONOTONE = (
    "Quick scale: EnKF error falls monotonically from ~90 % to well below chance "
    "with small spread across seeds (~45-50 % for J = 100)",
    "spec §5",
)
SGD_FINAL = (
    "Fig. 1: SGD (σ = 1) test error at the last checkpoint, mean ± std of 10 runs",
    "81.85 ± 24.02 %",
)
SGD_BIMODAL = (
    "Quick scale: SGD from N(0,1) is bimodal: most runs stay near 88-90 % error, the "
    "mean stays high with a very large std",
    "spec §5 (3 of 10 runs learn in the spec's check; Fig. 1: 81.85 ± 24.02 %)",
)
SIZE_ORDER = (
    "Fig. 8a ordering: larger ensembles give lower error at equal iterations",
    "J = 100 > 5000 > 10 000 in error (Fig. 8a)",
)
ADAM_SLOW = (
    "Fig. 5 ordering: Adam with N(0,1) / N(0,9) initialisation improves only slowly",
    "spec §5 (Fig. 5)",
)


def scorecard(inputs) -> list[dict]:
    card = Scorecard("enkf", inputs.preset)
    exps = inputs.experiments
    paper_scale = inputs.preset == "paper"
    plain = reference(inputs, exps[MAIN]["J"]) if MAIN in exps else None
    if plain:
        table = inputs.seeds(plain)
        diverged = bool(diverged_seeds(table))
        steps, mean, std, n = error_curve(inputs, plain)
        finals = seed_values(table, "test", "error")
        card.add(
            *ENKF_FINAL,
            f"{mean[-1]:.2f} ± {std[-1]:.2f} % (n = {n}, seeds {', '.join(map(str, finals.index))}"
            f"; {_scale(inputs, plain)})",
            verdict_numeric(mean[-1], reported.ENKF_ERROR_MEAN[-1], 1.0, paper_scale, diverged),
            "tolerance ±1 point. Only the paper preset runs the paper's setting (J = 5000, "
            "one epoch = 7496 iterations); at a smaller J and fewer iterations the number "
            "cannot be reached by construction (spec §5): 'other scale', and the spec's "
            "quick-scale expectation is scored in the next row",
        )
        p = exps[plain]
        card.add(
            *ENKF_QUICK,
            f"{mean[-1]:.1f} ± {std[-1]:.1f} % after iteration {int(steps[-1])}; per seed "
            f"{_per_seed(finals)} ({_scale(inputs, plain)})",
            verdict_numeric(mean[-1], 49.0, 5.0, _quick_scale(p), diverged),
            "scored at the spec's quick-scale setting; 'other scale' in any other preset",
        )
        s = inputs.summary(plain)
        claim = ENKF_COLLAPSE[0]
        needed = ("error", "top_class", "classes", "top_class_error")
        missing = [m for m in needed if series(s, "test", m).empty]
        if missing:
            card.add(claim, ENKF_COLLAPSE[1], "-", NOT_RUN, f"not recorded: test {missing}")
        else:
            first = {m: series(s, "test", m).iloc[0] for m in needed}
            expected = first["top_class_error"]["mean"]
            collapsed = (
                first["classes"]["mean"] == 1
                and first["top_class"]["mean"] == reported.COLLAPSE_CLASS
                and np.nan_to_num(first["top_class"]["std"]) == 0
            )
            card.add(
                claim,
                ENKF_COLLAPSE[1],
                f"{first['error']['mean']:.2f} ± {np.nan_to_num(first['error']['std']):.2f} % "
                f"(n = {int(first['error']['n'])}); classes predicted "
                f"{first['classes']['mean']:g}, top class {first['top_class']['mean']:g} "
                f"(all-5 error on this test set {expected:.2f} %)",
                verdict_claim(collapsed and abs(first["error"]["mean"] - expected) < 1e-6, diverged)
                if (p["test_subset"] or 10000) < 10000
                else verdict_numeric(
                    first["error"]["mean"], reported.FIRST_CHECKPOINT_ERROR, 0.005, True, diverged
                ),
                "on a test subset the claim is: one class, digit 5, error = share of non-5s",
            )
        diffs = np.diff(mean)
        holds = bool(np.all(diffs <= 0.5) and mean[-1] < 60 and mean[0] > 85 and std[-1] < 5)
        card.add(
            *ENKF_MONOTONE,
            f"{mean[0]:.1f} → {mean[-1]:.1f} % (population std {std[-1]:.2f}, n = {n}); "
            f"largest rise {max(diffs.max(), 0):.2f} points",
            verdict_claim(holds, diverged),
            "monotone: no rise above 0.5 point; final < 60 %; final std < 5 points",
        )
    else:
        for claim in (ENKF_FINAL, ENKF_QUICK, ENKF_COLLAPSE, ENKF_MONOTONE):
            card.not_run(*claim)
    # Fig. 1's SGD: the gd experiment tested at the EnKF cadence
    sgd = next((n for n, p in exps.items() if p["kind"] == "gd" and p["eval_points"]), None)
    if sgd:
        table = inputs.seeds(sgd)
        diverged = bool(diverged_seeds(table))
        last = final(inputs.summary(sgd), "test_updates", "error")
        std_pop = population_std(last)
        card.add(
            *SGD_FINAL,
            f"{last['mean']:.2f} ± {std_pop:.2f} % (n = {int(last['n'])}, after SGD step "
            f"{int(last['step'])})",
            verdict_numeric(last["mean"], reported.SGD_ERROR_MEAN[-1], 10.0, paper_scale, diverged),
            "tolerance ±10 points (the paper's spread is ±24); the paper's point is after "
            "7000 SGD steps (paper preset), the quick preset's after a few hundred: 'other "
            "scale' there, the quick-scale expectation is the bimodality row below",
        )
        finals = seed_values(table, "test", "error")  # after the last epoch, per seed
        stuck, learnt = int((finals > 80).sum()), int((finals < 30).sum())
        bimodal = stuck > 0 and learnt > 0 and stuck + learnt == len(finals)
        card.add(
            *SGD_BIMODAL,
            f"after {exps[sgd]['epochs']} epoch(s): {stuck} of {len(finals)} runs > 80 %, "
            f"{learnt} < 30 % (seeds {', '.join(map(str, finals.index))}: "
            f"{_per_seed(finals)}); mean {finals.mean():.1f} ± {finals.std(ddof=0):.1f} %",
            verdict_claim(
                bool(bimodal and finals.mean() > 50 and finals.std(ddof=0) > 20), diverged
            ),
            "holds if every run is either > 80 % or < 30 % (both present), mean > 50 % and "
            "population std > 20 points; how many of 5 runs learn is itself noisy",
        )
    else:
        card.not_run(*SGD_FINAL)
        card.not_run(*SGD_BIMODAL)
    sizes = sorted(
        (p["J"], n)
        for n, p in exps.items()
        if p["kind"] == "enkf" and reference(inputs, p["J"]) == n
    )
    if len(sizes) >= 3:
        finals = [error_curve(inputs, n)[1][-1] for _, n in sizes]
        runs = [error_curve(inputs, n)[3] for _, n in sizes]
        diverged = any(diverged_seeds(inputs.seeds(n)) for _, n in sizes)
        card.add(
            *SIZE_ORDER,
            ", ".join(
                f"J = {J}: {e:.1f} % (n = {k})"
                for (J, _), e, k in zip(sizes, finals, runs, strict=True)
            ),
            verdict_claim(bool(np.all(np.diff(finals) < 0)), diverged),
            "final-checkpoint mean error strictly decreasing in J",
        )
    else:
        card.not_run(*SIZE_ORDER, "needs plain EnKF runs at three ensemble sizes")
    adam = [n for n, p in exps.items() if p["kind"] == "gd" and p["optimizer"] == "adam"]
    if adam:
        curves = {n: series(inputs.summary(n), "test", "error") for n in adam}
        slow = all(c["mean"].iloc[-1] < c["mean"].iloc[0] and c["mean"].iloc[-1] > 20
                   for c in curves.values())  # fmt: skip
        diverged = any(diverged_seeds(inputs.seeds(n)) for n in adam)
        card.add(
            *ADAM_SLOW,
            ", ".join(
                f"Adam σ = {exps[n]['init_std']:g}: {c['mean'].iloc[0]:.1f} → "
                f"{c['mean'].iloc[-1]:.1f} % after {exps[n]['epochs']} epochs "
                f"(n = {int(c['n'].min())})"
                for n, c in curves.items()
            ),
            verdict_claim(slow, diverged),
            "holds if every Adam curve (mean over seeds) improves on its initial error but "
            "stays above 20 %",
        )
    else:
        card.not_run(*ADAM_SLOW)
    return card.rows
