"""eqprop tables (one function per id in `repro.eqprop.TABLES`) and scorecard rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from repro.aggregate import diverged_seeds, final, n_diverged, n_runs, seed_values, series
from repro.eqprop import reported
from repro.registry import dataset_label
from repro.tables import (
    OTHER_SCALE,
    QUICK_PRESETS,
    Scorecard,
    verdict_claim,
    verdict_numeric,
)


def _network(p) -> str:
    if not p["channels"]:
        return "MLP " + "-".join(map(str, p["fc"]))
    return ("VF" if p["vf"] else "") + "CNN " + "-".join(map(str, [*p["channels"], *p["fc"]]))


def _method(p) -> str:
    if p["algorithm"] == "bptt":
        return "BPTT (truncated)"
    name = f"EP {p['estimator'].replace('one_sided', 'one-sided').replace('_', ' ')}"
    return name + (", same update" if p["vf"] and p["same_update"] else "")


def _dropout(p) -> str:
    return " ".join(f"{k:g}" for k in p["dropouts"]) if p.get("dropouts") else "-"


def _errors(summary) -> dict:
    """Final test, best-epoch test and final train error (fractions): mean, std, n; NaN
    (n = 0) for a metric with no finite value (not recorded, or every run non-finite)."""
    out = {}
    for key, split, metric in (
        ("test", "test", "error"),
        ("best_test", "test", "best_error"),
        ("train", "train", "error"),
    ):
        try:
            row = final(summary, split, metric)
        except KeyError:
            out[key] = (np.nan, np.nan, 0)
            continue
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
                "dropout keep p": _dropout(p),
                "beta": p["beta"] if p["algorithm"] == "ep" else np.nan,
                "T1": p["t1"],
                "T2": p["t2"],
                "epochs": p["epochs"],
                "runs": n_runs(s),
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


def _find(inputs, conv: bool = True, with_dropout: bool = False, **match) -> str | None:
    """The first train experiment of a ConvNet (`conv`; else an MLP), with dropout if
    `with_dropout`, whose hyperparameters match `match`."""
    for name, p in inputs.experiments.items():
        if (
            p["kind"] == "train"
            and bool(p["channels"]) == conv
            and (bool(p.get("dropouts")) or not with_dropout)
            and all(p.get(k) == v for k, v in match.items())
        ):
            return name
    return None


def _seed_errors(inputs, name) -> pd.Series:
    """Final test error of each seed (index: seed), from the per-seed table."""
    return seed_values(inputs.seeds(name), "test", "error")


def _diverged(inputs, *names) -> bool:
    return any(diverged_seeds(inputs.seeds(n)) for n in names if n)


def _listing(errors: pd.Series, digits: int = 1) -> str:
    return ", ".join(f"{100 * e:.{digits}f} %" for e in errors.to_numpy())


def _mean_over_weights(summary, metric: str, beta: float) -> float:
    """A GDU metric at the β closest to `beta`, averaged over the weight tensors."""
    betas = series(summary, "beta", "value")["mean"].to_numpy()
    i = int(np.argmin(np.abs(betas - beta)))
    weights = sorted({x for x in summary["split"].unique() if x.startswith("W")})
    return float(np.mean([series(summary, w, metric)["mean"].iloc[i] for w in weights]))


# (claim, reported) of rows also listed when their runs are absent (not run)
GDU_MLP = (
    "EP's gradient bias: one-sided O(β), symmetric O(β²); symmetric >= 5x closer to BPTT "
    "at β = 0.1",
    "abstract (bias argument); spec §5 Q1: 0.011 / 0.123 one-sided, < 5e-4 / 0.012 "
    "symmetric at β 0.01 / 0.1",
)
GDU_CNN = (
    "GDU on the ConvNet (max-pool, hard sigmoid): the symmetric estimate tracks BPTT far "
    "closer than the one-sided ones where the nudged phases stay on the free phase's "
    "linear piece",
    "README thirdphase5.png (trained CIFAR-10 net, β 0.1); spec §5 Q2: not reliably at "
    "small β on an untrained small CNN",
)
QUICK_CE = (
    "Quick-scale expectation beside the 11.7 %: symmetric EP with CE trains the small "
    "ConvNet, with and without dropout",
    "spec §5: the CE variant trains above chance (we ask < 15 % in every seed)",
)
MLP_TRAINS = (
    "MNIST MLP 784-512-10: every estimator trains (one-sided, random sign, symmetric "
    "alike): EP works on MNIST, it is the ConvNet where one-sided EP fails",
    "spec §5 Q4: 16.5 / 16.8 / 16.9 % test error (10 000 images, 1 epoch; older README 9d180c3)",
)


def scorecard(inputs) -> list[dict]:
    card = Scorecard("eqprop", inputs.preset)

    def err(name):
        return float(_seed_errors(inputs, name).mean())

    def where(name):
        p = inputs.experiments[name]
        n = len(_seed_errors(inputs, name))
        return f"{dataset_label(p['dataset'])}, {p['epochs']} epochs, n={n}"

    cnn = {"vf": False}
    sym_ce = _find(inputs, loss="ce", estimator="symmetric", algorithm="ep", dropouts=None, **cnn)
    bptt_ce = _find(inputs, loss="ce", algorithm="bptt", dropouts=None, **cnn)
    sym_drop = _find(inputs, with_dropout=True, algorithm="ep")
    bptt_drop = _find(inputs, with_dropout=True, algorithm="bptt")
    one_sided = _find(inputs, loss="mse", estimator="one_sided", **cnn)
    sym_mse = _find(inputs, loss="mse", estimator="symmetric", **cnn)
    rand_mse = _find(inputs, loss="mse", estimator="random_sign", **cnn)
    bptt_mse = _find(inputs, loss="mse", algorithm="bptt", **cnn)
    convs = [
        n for n in (sym_ce, bptt_ce, one_sided, sym_mse) if n and inputs.experiments[n]["channels"]
    ]
    on_cifar = bool(convs) and all(inputs.experiments[n]["dataset"] == "cifar10" for n in convs)
    other = (
        "other scale: CIFAR-10 runs only in the paper preset; this preset trains a small "
        "ConvNet on {} (spec §5), the row below scores the spec's quick-scale expectation"
    )

    # §4: 11.7 % for symmetric EP with CE; the abstract does not say whether the run had
    # dropout (B1) or not (C1): the best of the two is scored, both are shown.
    candidates = [n for n in (sym_ce, sym_drop) if n]
    claim = (
        "CIFAR-10 test error, symmetric EP, cross-entropy + softmax read-out (best of B1 "
        "and the dropout run C1; the abstract does not say which)"
    )
    reported_value = reported.SYMMETRIC_CE_TEST_ERROR
    if not candidates:
        card.not_run(claim, f"{reported_value:.1%}")
        if inputs.preset in QUICK_PRESETS:
            card.not_run(*QUICK_CE)
    else:
        best = min(candidates, key=err)
        shown = "; ".join(f"{n} {err(n):.1%} ({where(n)})" for n in candidates)
        diverged = _diverged(inputs, *candidates)
        if on_cifar:
            card.add(
                claim,
                f"{reported_value:.1%}",
                f"{err(best):.1%} ({best}); {shown}",
                verdict_numeric(err(best), reported_value, 0.01, diverged=diverged),
                "tolerance ±1 point absolute; final epoch, mean over seeds",
            )
        else:
            card.add(claim, f"{reported_value:.1%}", shown, OTHER_SCALE, other.format(where(best)))
            errors = {n: _seed_errors(inputs, n) for n in candidates}
            card.add(
                *QUICK_CE,
                "; ".join(f"{n}: {_listing(e)}" for n, e in errors.items()),
                verdict_claim(
                    bool(all((e < 0.15).all() for e in errors.values())), diverged=diverged
                ),
                "holds if every seed of every symmetric-EP CE run ends below 15 % test error",
            )

    # §4: 86 % for one-sided EP; quick-scale expectation = spec §5 conclusion 2.
    claim = "CIFAR-10 test error, one-sided (standard) EP"
    reported_value = reported.ONE_SIDED_TEST_ERROR
    if one_sided is None:
        card.not_run(claim, f"{reported_value:.1%}")
    elif on_cifar:
        card.add(
            claim,
            f"{reported_value:.1%}",
            f"{err(one_sided):.1%} (final epoch, {where(one_sided)})",
            verdict_numeric(
                err(one_sided), reported_value, 0.05, diverged=_diverged(inputs, one_sided)
            ),
            "tolerance ±5 points absolute; final epoch, mean over seeds",
        )
    else:
        card.add(
            claim,
            f"{reported_value:.1%}",
            f"{err(one_sided):.1%} ({where(one_sided)})",
            OTHER_SCALE,
            other.format(where(one_sided)),
        )
    scale_claim = (
        "One-sided EP does not scale to the ConvNet (ends near chance) while symmetric EP "
        "trains" + ("" if on_cifar or not convs else " (quick-scale expectation beside the 86 %)"),
        "qualitative (abstract: 86 % vs 11.7 % on CIFAR-10); spec §5 conclusion 2",
    )
    if not (one_sided and sym_mse):
        card.not_run(*scale_claim)
    else:
        one, sym = _seed_errors(inputs, one_sided), _seed_errors(inputs, sym_mse)
        card.add(
            *scale_claim,
            f"one-sided {_listing(one, 0)}; symmetric {_listing(sym)} ({where(sym_mse)})",
            verdict_claim(
                bool((one >= 0.8).mean() > 0.5 and (sym < 0.15).all()),
                diverged=_diverged(inputs, sym_mse),
            ),
            "holds if one-sided ends at >= 80 % error in most seeds and symmetric below 15 % "
            "in every seed",
        )

    # "approaches BPTT" (abstract), CE, CE + dropout and MSE: paired by seed.
    for loss, sym, bptt in (
        ("cross-entropy", sym_ce, bptt_ce),
        ("cross-entropy + dropout", sym_drop, bptt_drop),
        ("MSE", sym_mse, bptt_mse),
    ):
        claim = (
            f"Symmetric EP approaches BPTT on the ConvNet ({loss})",
            "qualitative (abstract: 'approaches' BPTT); spec §5 conclusion 3",
        )
        if not (sym and bptt):
            card.not_run(*claim)
        else:
            gap = (_seed_errors(inputs, sym) - _seed_errors(inputs, bptt)).dropna()
            card.add(
                *claim,
                f"symmetric {err(sym):.1%} vs BPTT {err(bptt):.1%}; paired gap per seed "
                f"{', '.join(f'{100 * g:+.1f}' for g in gap)} points ({where(sym)})",
                verdict_claim(
                    bool(len(gap) and gap.mean() <= 0.03), diverged=_diverged(inputs, sym, bptt)
                ),
                "holds if symmetric EP's final test error is on average (paired by seed) at "
                "most 3 points above BPTT's",
            )
    claim = (
        "Random-sign (or symmetric) nudging is needed for a stable ConvNet",
        "qualitative (README 9d180c3: 'mandatory' for CIFAR-10)",
    )
    if not (rand_mse and one_sided):
        card.not_run(*claim)
    else:
        rnd = _seed_errors(inputs, rand_mse)
        card.add(
            *claim,
            f"random sign {_listing(rnd)}; one-sided mean {err(one_sided):.0%} ({where(rand_mse)})",
            verdict_claim(
                bool((rnd < 0.15).all() and err(one_sided) >= 0.8),
                diverged=_diverged(inputs, rand_mse),
            ),
            "holds if random sign ends below 15 % in every seed and one-sided near chance",
        )

    # Q4 (older README): on the MNIST MLP every estimator trains.
    mlps = {
        e: _find(inputs, conv=False, loss="mse", estimator=e)
        for e in ("one_sided", "random_sign", "symmetric")
    }
    if not all(mlps.values()):
        card.not_run(*MLP_TRAINS)
    else:
        errors = {e: _seed_errors(inputs, n) for e, n in mlps.items()}
        means = [float(v.mean()) for v in errors.values()]
        card.add(
            *MLP_TRAINS,
            "; ".join(f"{e.replace('_', ' ')} {_listing(v)}" for e, v in errors.items())
            + f" ({where(mlps['symmetric'])})",
            verdict_claim(
                bool(all((v < 0.2).all() for v in errors.values()) and np.ptp(means) <= 0.02),
                diverged=_diverged(inputs, *mlps.values()),
            ),
            "holds if every seed of every estimator ends below 20 % test error and the "
            "three estimators' means are within 2 points of each other",
        )

    # GDU / bias argument: tanh MLP (spec §5 Q1) and the ConvNet on its linear pieces.
    checks = [bool(p["channels"]) for p in inputs.experiments.values() if p["kind"] == "gducheck"]
    if False not in checks:
        card.not_run(*GDU_MLP)
    if True not in checks:
        card.not_run(*GDU_CNN)
    for name, p in inputs.experiments.items():
        if p["kind"] != "gducheck":
            continue
        s = inputs.summary(name)
        betas = series(s, "beta", "value")["mean"].to_numpy()
        n = len(p["seeds"])

        def rel(metric, beta, s=s):
            return _mean_over_weights(s, metric, beta)

        if not p["channels"]:
            if not (np.isclose(betas, 0.01).any() and np.isclose(betas, 0.1).any()):
                continue
            one_slope = rel("rel_err_plus", 0.1) / rel("rel_err_plus", 0.01)
            sym_slope = rel("rel_err_sym", 0.1) / rel("rel_err_sym", 0.01)
            ratio = rel("rel_err_plus", 0.1) / rel("rel_err_sym", 0.1)
            card.add(
                *GDU_MLP,
                f"β 0.01 -> 0.1: one-sided x{one_slope:.1f} ({rel('rel_err_plus', 0.01):.3g} "
                f"-> {rel('rel_err_plus', 0.1):.3g}), symmetric x{sym_slope:.0f} "
                f"({rel('rel_err_sym', 0.01):.2g} -> {rel('rel_err_sym', 0.1):.2g}); "
                f"one-sided / symmetric at 0.1: {ratio:.1f} ({p['label']}, n={n})",
                verdict_claim(bool(5 <= one_slope <= 20 and sym_slope >= 40 and ratio >= 5)),
                "holds if the one-sided error grows 5-20x from β 0.01 to 0.1 (slope 1: 10x), "
                "the symmetric one >= 40x (slope 2: 100x) and symmetric is >= 5x smaller "
                "at 0.1",
            )
            continue
        beta = float(betas[np.argmin(np.abs(betas - p["curve_beta"]))])
        i = int(np.argmin(np.abs(betas - beta)))
        table = inputs.seeds(name)
        weights = sorted({m for m in table["split"].unique() if m.startswith("W")})

        def per_seed(split, metric, step=i, table=table):
            return seed_values(table, split, metric, step=step)

        changed = np.maximum(
            per_seed("regions", "changed_plus"), per_seed("regions", "changed_minus")
        )
        one = sum(per_seed(w, "rel_err_plus") for w in weights) / len(weights)
        sym = sum(per_seed(w, "rel_err_sym") for w in weights) / len(weights)
        clean = changed[changed == 0].index
        crossing = [
            float(b)
            for j, b in enumerate(betas)
            if (
                np.maximum(
                    per_seed("regions", "changed_plus", j), per_seed("regions", "changed_minus", j)
                )
                > 0
            ).all()
        ]
        ratios = (one / sym)[clean]
        card.add(
            *GDU_CNN,
            f"at β {beta:g}: {len(clean)} of {len(changed)} seeds stay on their piece; on "
            f"those one-sided {', '.join(f'{v:.2g}' for v in one[clean])} vs symmetric "
            f"{', '.join(f'{v:.2g}' for v in sym[clean])}; other seeds: one-sided "
            f"{', '.join(f'{v:.2g}' for v in one.drop(clean))}, symmetric "
            f"{', '.join(f'{v:.2g}' for v in sym.drop(clean))}; every seed leaves its "
            f"piece from β {min(crossing) if crossing else float('nan'):g} "
            f"({p['label']}, T1 {p['t1']}, {p['dtype']}, n={len(changed)})",
            verdict_claim(bool(len(clean) and (ratios >= 5).all())),
            "holds if at the figure's β at least one seed's nudged phases stay on their "
            "linear piece and there the symmetric relative error is >= 5x smaller than the "
            "one-sided; a seed that crosses a kink loses the identity (docs/eqprop.md)",
        )
    return card.rows
