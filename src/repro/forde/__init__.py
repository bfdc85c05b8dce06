"""forde: input-gradient repulsion ensembles (Trinh et al., ICLR 2024) vs deep ensembles.

Spec: shared/papers/forde.md; choices: docs/forde.md. This module only declares what
each figure, table and the scorecard are made from (torch-free). Image-ensemble
experiments are named by method (`de`, `forde_pca`, `forde_identity`, ...); the quick
preset runs them on MNIST, the paper preset on CIFAR-100 (Table 1, Fig. 7) and adds
`c10_*` experiments on CIFAR-10 (Table 2).
"""

from repro.registry import Needs

PAIRED = ("de", "forde_pca", "forde_identity")

FIGURES = {
    "fig2": Needs(
        kinds=("toy_regression",),
        artifacts=True,
        caption="Fig. 2: 1-D regression, 16 members: member functions (thin), ensemble "
        "mean +- 2 std (band) and training points; DE vs FoRDE.",
    ),
    "fig3": Needs(
        kinds=("toy_classification",),
        artifacts=True,
        caption="Fig. 3: 2-D classification (5 Gaussian clusters), 16 members: entropy "
        "of the ensemble predictive (0 to ln 5); DE vs FoRDE.",
    ),
    "fig7": Needs(
        experiments=("de", "forde_pca"),
        caption="Fig. 7: input-gradient cosine distance between members and epistemic "
        "uncertainty vs corruption severity (0 = clean), DE vs FoRDE-PCA; bars: mean "
        "over seeds, error bars: std over seeds (the FoRDE - DE gap is paired by seed: see "
        "table 'pairs'). Paper: ResNet18 / CIFAR-100 (quick preset: "
        "small CNN on MNIST with synthetic corruptions, dataset substituted).",
    ),
    "fig11_12": Needs(
        kinds=("ensemble",),
        caption="Figs. 11-12 (optional): accuracy of FoRDE-Tuned vs alpha on clean data, "
        "severities 1-3 and 4-5; DE dashed. Paper: ResNet18 on CIFAR-100 / CIFAR-10, "
        "3 seeds.",
    ),
}

TABLES = {
    "table1": Needs(
        kinds=("ensemble",),
        caption="Table 1: ResNet18 / CIFAR-100, clean NLL, accuracy, ECE and cA / cNLL / "
        "cECE over all corruption types and severities (mean +- std over seeds). Quick "
        "preset: its MNIST substitute runs.",
    ),
    "table2": Needs(
        kinds=("ensemble",),
        caption="Table 2: ResNet18 / CIFAR-10, same columns as Table 1. Quick preset: "
        "its MNIST substitute runs.",
    ),
    "pairs": Needs(
        experiments=PAIRED,
        artifacts=True,
        caption="FoRDE minus DE per seed (same initialisation and batch order): gradient "
        "cosine distance, clean accuracy, corrupted NLL and accuracy (spec section 5).",
    ),
}

SCORECARD = Needs(
    kinds=("ensemble", "toy_classification", "toy_regression"),
    artifacts=True,
)
