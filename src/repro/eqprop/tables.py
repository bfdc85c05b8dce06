"""eqprop tables (one function per id in `repro.eqprop.TABLES`) and scorecard rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from repro.aggregate import final, n_diverged, series
from repro.eqprop import reported
from repro.registry import dataset_label
from repro.tables import NOT_RUN, diverged, score, verdict_claim, verdict_numeric


def _network(p) -> str:
    if not p["channels"]:
        return "MLP " + "-".join(map(str, p["fc"]))
    return ("VF" if p["vf"] else "") + "CNN " + "-".join(map(str, [*p["channels"], *p["fc"]]))


def _method(p) -> str:
    if p["algorithm"] == "bptt":
        return "BPTT (truncated)"
    name = f"EP {p['estimator'].replace('one_sided', 'one-sided').replace('_', ' ')}"
    return name + (", same update" if p["vf"] and p["same_update"] else "")


def _errors(summary) -> dict:
    """Final test, best-epoch test and final train error (fractions): mean, std, per seed n."""
    out = {}
    for key, split, metric in (
        ("test", "test", "error"),
        ("best_test", "test", "best_error"),
        ("train", "train", "error"),
    ):
        row = final(summary, split, metric)
        out[key] = (float(row["mean"]), float(row["std"]), int(row["n"]))
    return out


def table_cifar10(inputs) -> pd.DataFrame:
    rows = []
    for name, p in inputs.experiments.items():
        s = inputs.summary(name)
        e = _errors(s)
        rows.append(
            {
                "experiment": name,
                "dataset": dataset_label(p["dataset"]),
                "network": _network(p),
                "loss": "CE (softmax read-out)" if p["loss"] == "ce" else "MSE",
                "method": _method(p),
                "beta": p["beta"] if p["algorithm"] == "ep" else np.nan,
                "T1": p["t1"],
                "T2": p["t2"],
                "epochs": p["epochs"],
                "runs": e["test"][2],
                "diverged": n_diverged(s),
                "test_error_final_mean": 100 * e["test"][0],
                "test_error_final_std": 100 * e["test"][1],
                "test_error_best_mean": 100 * e["best_test"][0],
                "test_error_best_std": 100 * e["best_test"][1],
                "train_error_final_mean": 100 * e["train"][0],
                "train_error_final_std": 100 * e["train"][1],
            }
        )
    return pd.DataFrame(rows)


def _find(inputs, **match) -> str | None:
    """The first train experiment whose hyperparameters match `match`."""
    for name, p in inputs.experiments.items():
        if p["kind"] == "train" and all(p.get(k) == v for k, v in match.items()):
            return name
    return None


def _seed_errors(inputs, name) -> np.ndarray:
    """Final test error of each seed (`train` records it at step = seed)."""
    s = series(inputs.summary(name), "final_by_seed", "test_error")
    return s["mean"].to_numpy()


def _mean_over_weights(summary, metric: str, beta: float) -> float:
    """A GDU metric at the β closest to `beta`, averaged over the weight tensors."""
    betas = series(summary, "beta", "value")["mean"].to_numpy()
    i = int(np.argmin(np.abs(betas - beta)))
    weights = sorted({x for x in summary["split"].unique() if x.startswith("W")})
    return float(np.mean([series(summary, w, metric)["mean"].iloc[i] for w in weights]))


def scorecard(inputs) -> list[dict]:
    preset = inputs.preset
    rows = []

    def add(claim, rep, ours, verdict, detail=""):
        rows.append(score("eqprop", claim, rep, ours, preset, verdict, detail))

    def err(name):
        return float(final(inputs.summary(name), "test", "error")["mean"])

    def where(name):
        p = inputs.experiments[name]
        return f"{dataset_label(p['dataset'])}, {p['epochs']} epochs"

    cnn = {"vf": False}
    sym_ce = _find(inputs, loss="ce", estimator="symmetric", algorithm="ep", **cnn)
    bptt_ce = _find(inputs, loss="ce", algorithm="bptt", **cnn)
    one_sided = _find(inputs, loss="mse", estimator="one_sided", **cnn)
    sym_mse = _find(inputs, loss="mse", estimator="symmetric", **cnn)
    rand_mse = _find(inputs, loss="mse", estimator="random_sign", **cnn)
    bptt_mse = _find(inputs, loss="mse", algorithm="bptt", **cnn)
    convs = [
        n for n in (sym_ce, bptt_ce, one_sided, sym_mse) if n and inputs.experiments[n]["channels"]
    ]
    on_cifar = bool(convs) and all(inputs.experiments[n]["dataset"] == "cifar10" for n in convs)
    not_cifar = "CIFAR-10 only in the paper preset; this preset trains on {} (spec §5)"

    # §4 numbers: symmetric EP with CE 11.7 %, one-sided EP 86 %.
    for claim, reported_value, name, tolerance in (
        (
            "CIFAR-10 test error, symmetric EP, cross-entropy + softmax read-out",
            reported.SYMMETRIC_CE_TEST_ERROR,
            sym_ce,
            0.01,
        ),
        (
            "CIFAR-10 test error, one-sided (standard) EP",
            reported.ONE_SIDED_TEST_ERROR,
            one_sided,
            0.05,
        ),
    ):
        if name is None:
            add(claim, f"{reported_value:.1%}", "-", NOT_RUN, "experiment not configured")
            continue
        ours = err(name)
        if on_cifar:
            add(
                claim,
                f"{reported_value:.1%}",
                f"{ours:.1%} (final epoch, {where(name)})",
                verdict_numeric(ours, reported_value, tolerance, diverged=diverged(inputs, name)),
                f"tolerance ±{tolerance:.0%} absolute; final epoch, mean over seeds",
            )
        else:
            add(
                claim,
                f"{reported_value:.1%}",
                f"{ours:.1%} on {where(name)} (not comparable)",
                NOT_RUN,
                not_cifar.format(where(name)),
            )

    # "approaches BPTT" (abstract), for CE and MSE.
    for loss, sym, bptt in (("cross-entropy", sym_ce, bptt_ce), ("MSE", sym_mse, bptt_mse)):
        if sym and bptt:
            gap = err(sym) - err(bptt)
            add(
                f"Symmetric EP approaches BPTT on the ConvNet ({loss})",
                "qualitative (abstract: 'approaches' BPTT)",
                f"symmetric {err(sym):.1%} vs BPTT {err(bptt):.1%} ({where(sym)})",
                verdict_claim(gap <= 0.03),
                "holds if symmetric EP's final test error is at most 3 points above BPTT's",
            )

    # One-sided EP collapses, symmetric / random sign do not (abstract; README 'mandatory').
    if one_sided and sym_mse:
        one = _seed_errors(inputs, one_sided)
        sym = _seed_errors(inputs, sym_mse)
        collapsed = np.mean(one >= 0.8) > 0.5
        add(
            "One-sided EP does not scale to the ConvNet (ends near chance) while symmetric EP "
            "trains",
            "qualitative (abstract: 86 % vs 11.7 % on CIFAR-10)",
            f"one-sided {', '.join(f'{e:.0%}' for e in one)}; symmetric "
            f"{', '.join(f'{e:.1%}' for e in sym)} ({where(sym_mse)})",
            verdict_claim(bool(collapsed and np.all(sym < 0.15))),
            "holds if one-sided ends at >= 80 % error in most seeds and symmetric below 15 % "
            "in every seed (spec §5 conclusion 2)",
        )
    if rand_mse and one_sided:
        rnd = _seed_errors(inputs, rand_mse)
        add(
            "Random-sign (or symmetric) nudging is needed for a stable ConvNet",
            "qualitative (README 9d180c3: 'mandatory' for CIFAR-10)",
            f"random sign {', '.join(f'{e:.1%}' for e in rnd)}; one-sided mean "
            f"{err(one_sided):.0%} ({where(rand_mse)})",
            verdict_claim(bool(np.all(rnd < 0.15) and err(one_sided) >= 0.8)),
            "holds if random sign ends below 15 % in every seed and one-sided near chance",
        )

    # GDU / bias argument on the tanh MLP (spec §5 Q1).
    for name, p in inputs.experiments.items():
        if p["kind"] != "gducheck" or p["channels"]:
            continue
        s = inputs.summary(name)
        betas = series(s, "beta", "value")["mean"].to_numpy()

        def rel(metric, beta, s=s):
            return _mean_over_weights(s, metric, beta)

        if not (np.isclose(betas, 0.01).any() and np.isclose(betas, 0.1).any()):
            continue
        one_slope = rel("rel_err_plus", 0.1) / rel("rel_err_plus", 0.01)
        sym_slope = rel("rel_err_sym", 0.1) / rel("rel_err_sym", 0.01)
        ratio = rel("rel_err_plus", 0.1) / rel("rel_err_sym", 0.1)
        add(
            "EP's gradient bias: one-sided O(β), symmetric O(β²); symmetric >= 5x closer to "
            "BPTT at β = 0.1",
            "abstract (bias argument); spec §5 Q1: 0.011 / 0.123 one-sided, < 5e-4 / 0.012 "
            "symmetric at β 0.01 / 0.1",
            f"β 0.01 -> 0.1: one-sided x{one_slope:.1f} ({rel('rel_err_plus', 0.01):.3g} -> "
            f"{rel('rel_err_plus', 0.1):.3g}), symmetric x{sym_slope:.0f} "
            f"({rel('rel_err_sym', 0.01):.2g} -> {rel('rel_err_sym', 0.1):.2g}); "
            f"one-sided / symmetric at 0.1: {ratio:.1f} ({p['label']})",
            verdict_claim(bool(5 <= one_slope <= 20 and sym_slope >= 40 and ratio >= 5)),
            "holds if the one-sided error grows 5-20x from β 0.01 to 0.1 (slope 1: 10x), the "
            "symmetric one >= 40x (slope 2: 100x) and symmetric is >= 5x smaller at 0.1",
        )
    return rows
