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
        "mean +- 2 std (band) and training points (first seed); DE, weight-RDE, function-RDE, "
        "FoRDE. The text gives the std outside the data, mean over n seeds.",
    ),
    "fig3": Needs(
        kinds=("toy_classification",),
        artifacts=True,
        caption="Fig. 3: 2-D classification (5 Gaussian clusters), 16 members: entropy "
        "of the ensemble predictive (0 to ln 5), mean over the n seeds; DE, weight-RDE, "
        "function-RDE, FoRDE, and FoRDE - DE; dashed circles: the radius 10-15 ring where "
        "the scored far-ring entropy is measured.",
    ),
    "fig7": Needs(
        experiments=("de", "forde_pca"),
        caption="Fig. 7: input-gradient cosine distance between members and epistemic "
        "uncertainty vs corruption severity (0 = clean), DE vs FoRDE-PCA; bars: mean "
        "over seeds, error bars: std over seeds; right: FoRDE-PCA - DE per seed (paired: "
        "same initialisation and batch order), dots = seeds, bar = mean. Paper: ResNet18 "
        "/ CIFAR-100 (quick preset: small CNN on MNIST with synthetic corruptions, "
        "dataset substituted).",
    ),
    "fig11_12": Needs(
        kinds=("ensemble",),
        requires=(("method", "forde_tuned"),),  # made only where the alpha sweep runs
        caption="Figs. 11-12 (optional): accuracy of FoRDE-Tuned vs alpha on clean data, "
        "severities 1-3 and 4-5; DE dashed. Paper: ResNet18 on CIFAR-100 / CIFAR-10, "
        "3 seeds.",
    ),
}

TABLES = {
    "table1": Needs(
        kinds=("ensemble",),
        caption="Table 1: ResNet18 / CIFAR-100, clean NLL, accuracy, ECE and cA / cNLL / "
        "cECE over all corruption types and severities (mean +- std over seeds), paper "
        "values beside ours. Quick preset: its MNIST substitute runs.",
    ),
    "table2": Needs(
        kinds=("ensemble",),
        caption="Table 2: ResNet18 / CIFAR-10, same columns as Table 1, paper values "
        "beside ours. Quick preset: its MNIST substitute runs.",
    ),
    "table4": Needs(
        kinds=("ensemble",),
        requires=(("dataset", "tinyimagenet"),),  # made where the TinyImageNet runs are
        caption="Table 4: PreActResNet18 / TinyImageNet, same columns as Table 1, paper "
        "values beside ours.",
    ),
    "pairs": Needs(
        experiments=PAIRED,
        caption="FoRDE minus DE per seed (same initialisation and batch order): gradient "
        "cosine distance (clean; corrupted, mean over severities 1-5), clean accuracy "
        "and NLL, corrupted accuracy and NLL, time per step / DE's (spec section 5).",
    ),
}

SCORECARD = Needs(kinds=("ensemble", "toy_classification", "toy_regression"))
