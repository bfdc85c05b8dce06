"""levelsets: Tahir & Katz 2020, "Numerical exploration of training loss level-sets in
deep neural networks" (arXiv:2011.04189).

Spec: shared/papers/levelsets.md; choices: docs/levelsets.md. This module only declares
what each figure, table and the scorecard are made from (torch-free).

Experiments are named after the paper's scripts: `<EXP>` is the level-set traversal
(kind `traversal`) and `L2_<EXP>` the weight-decay grid (kind `weight_decay`). An
experiment missing from the config (CIFAR10_CONV in the quick preset: no CIFAR-10
images in the data mirror) gives a figure or table row that says it was not run.
"""

from repro.registry import Needs

EXPERIMENTS = ("MNIST_FF", "MNIST_CONV", "CIFAR10_CONV", "IRIS_FF", "MPG_FF")
BASELINE_PREFIX = "L2_"
NOT_RUN = {
    "CIFAR10_CONV": "CIFAR10_CONV not run: CIFAR-10 images are not in the data mirror "
    "(only batches.meta); configured in the paper preset",
}
FIG7_LAMBDA = 1e-3  # the weight-decay endpoint of Fig. 7 (index 5 of the paper's grid)


def not_run_note(experiment: str) -> str:
    return NOT_RUN.get(experiment, f"{experiment} not run: not configured in this preset")


FIGURES = {
    **{
        f"fig2_{exp}": Needs(
            optional=True,
            experiments=(exp,),
            caption=f"Fig. 2 ({exp}): along the level-set walk, angle between ∇R and ∇L, "
            "R = ||w||², test loss and test metric vs predictor step; mean ± std "
            "(population) over the runs.",
        )
        for exp in EXPERIMENTS
    },
    "fig7": Needs(
        optional=True,
        experiments=("MNIST_FF", "L2_MNIST_FF"),
        artifacts=True,
        caption="Fig. 7 (MNIST_FF): PCA (6 components, z-scored coordinates) of the last "
        "weight snapshots of every run; (a) explained variance, (b) PC1-3 and PC4-6 with "
        "run centroids (red stars), the mean traversal endpoint (blue P) and the mean "
        "weight-decay endpoint at lambda = 1e-3 (black pentagon).",
    ),
    "wd_lambda": Needs(
        kinds=("weight_decay",),
        caption="Weight-decay baseline: final-epoch test loss and test metric vs lambda "
        "(mean ± std over runs); dashed: the best constant predictor.",
    ),
}

TABLES = {
    "table1": Needs(
        kinds=("traversal", "weight_decay"),
        caption="Table 1 (tidy): final test loss and test metric, mean and population std "
        "over runs, for every lambda of the weight-decay grid and for the level-set walk.",
    ),
    "table1_summary": Needs(
        kinds=("traversal", "weight_decay"),
        caption="Table 1: level-set walk (final logged point) vs weight decay at lambda = 0 "
        "and at the lambda with the lowest mean test loss.",
    ),
}

SCORECARD = Needs(kinds=("traversal", "weight_decay"))
