"""levelsets: Tahir & Katz 2020, "Numerical exploration of training loss level-sets in
deep neural networks" (arXiv:2011.04189).

Spec: shared/papers/levelsets.md; choices: docs/levelsets.md. This module only declares
what each figure, table and the scorecard are made from (torch-free).

Outputs select experiments by kind (`traversal`: the level-set walk; `weight_decay`: the
weight-decay grid) and `architecture` (the paper's five, below), never by name (the
configs name them after the paper's scripts, `<ARCH>` and `L2_<ARCH>`). A figure whose
architecture a preset does not run (CIFAR10_CONV in the quick preset: no CIFAR-10 images
in the data mirror) selects no experiment, so it is no target of that preset
(`Needs.made`); the scorecard lists the architecture as not run.
"""

from repro.registry import Needs

FIG7_LAMBDA = 1e-3  # the weight-decay endpoint of Fig. 7 (index 5 of the paper's grid)

# (type, size): dense -> units; conv -> output channels (3x3, valid, tanh, then 2x2 avg pool).
ARCHITECTURES = {
    "MNIST_FF": {"input": (784,), "conv": (), "dense": (100, 100, 100), "outputs": 10},
    "MNIST_CONV": {"input": (1, 28, 28), "conv": (20, 20), "dense": (100,), "outputs": 10},
    "CIFAR10_CONV": {"input": (3, 32, 32), "conv": (60, 60), "dense": (300,), "outputs": 10},
    "IRIS_FF": {"input": (4,), "conv": (), "dense": (100, 100, 100, 100), "outputs": 3},
    "MPG_FF": {"input": (9,), "conv": (), "dense": (100, 100, 100, 100), "outputs": 1},
}

FIGURES = {
    **{
        f"fig2_{arch}": Needs(
            match=({"kind": "traversal", "architecture": arch},),
            caption=f"Fig. 2 ({arch}): along the level-set walk, the change from predictor "
            "step 0 of the angle between ∇R and ∇L, R = ||w||², the test loss and the test "
            "metric (thin: each run; thick: mean), and abs(L − L0) right after each predictor "
            "step (before any corrector; log scale) against the tolerance band.",
        )
        for arch in ARCHITECTURES
    },
    "fig7": Needs(
        match=(
            {"kind": "traversal", "architecture": "MNIST_FF"},
            {"kind": "weight_decay", "architecture": "MNIST_FF"},
        ),
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
