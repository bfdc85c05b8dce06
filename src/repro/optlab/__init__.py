"""optlab: PC lab 2 "Optimization for neural networks" (BioML UGent; UvA DL tutorial 4).

Spec: shared/papers/optimization_lab.md; choices: docs/optlab.md. This module only
declares what each figure, table and the scorecard are made from (torch-free).
"""

from repro.optlab.reported import INIT_SETTINGS, L1_LR
from repro.registry import Needs


def _init_match(setting: tuple) -> dict:
    return {
        "kind": "init_diag",
        **dict(zip(("activation", "init", "init_scale"), setting, strict=True)),
    }


FIGURES = {
    "L1": Needs(
        match=({"kind": "mnist_mlp", "lr": L1_LR},),
        caption="Lab fig. L1: loss of every mini-batch in the first epoch of SGD "
        "(lr 0.005) and its 50-batch moving average.",
    ),
    "L2": Needs(
        kinds=("mnist_mlp",),
        caption="Lab fig. L2 (exercise 1): train loss, validation loss and validation "
        "accuracy per epoch, one curve per learning rate.",
    ),
    "L3": Needs(
        kinds=("mnist_mlp",),
        caption="Lab fig. L3 (exercise 2): MNIST test accuracy after the last epoch "
        "per learning rate (lab target: about 96 %).",
    ),
    **{
        f"I{i}": Needs(
            match=(_init_match(setting),),
            artifacts=True,
            caption=f"Lab fig. I{i}: weight-gradient histograms (top) and "
            "activation densities (bottom) per Linear layer, first 1024 "
            "training images, first seed.",
        )
        for i, setting in enumerate(INIT_SETTINGS, start=1)
    },
    "I_variance": Needs(
        kinds=("init_diag",),
        caption="Lab figs. I1-I7 summarised: per-layer activation and "
        "weight-gradient variance for every (activation, init) pair.",
    ),
    "O1": Needs(
        caption="Lab fig. O1: the pathological curvature "
        "tanh(w1)^2 + 0.01|w1| + sigmoid(w2) over [-5, 5]^2."
    ),
    "O2": Needs(
        kinds=("curvature",),
        caption="Lab fig. O2: 100 updates of SGD (lr 10), SGD with momentum "
        "(lr 10, beta1 0.9) and Adam (lr 1) from (5, 5) on the curvature.",
    ),
    "O3": Needs(
        kinds=("optim_compare",),
        caption="UvA optimizer comparison (optional in the lab): train and validation "
        "accuracy per epoch, mean over seeds with its 95 % t-interval (axis cut at 100 %); "
        "legend: test accuracy of the best-validation epoch, mean ± std "
        "(UvA: SGD 89.09, momentum 88.83, Adam 89.46 % after 40 epochs).",
    ),
}

TABLES = {
    "L3": Needs(kinds=("mnist_mlp",), caption="Final MNIST accuracy per learning rate."),
    "init_variances": Needs(
        kinds=("init_diag",),
        caption="Per-layer activation and weight-gradient variance, "
        "ours beside the solved notebook's printout.",
    ),
    "O3": Needs(
        kinds=("optim_compare",),
        caption="Test accuracy of the best-validation epoch per optimizer, ours "
        "beside the UvA tutorial's saved results.",
    ),
}

SCORECARD = Needs(kinds=("mnist_mlp", "init_diag", "curvature", "optim_compare"))
