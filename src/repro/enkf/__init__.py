"""enkf: Yegenoglu et al., "Ensemble Kalman Filter Optimizing Deep Neural Networks" (LOD 2020).

Spec: shared/papers/enkf.md; choices: docs/enkf.md. This module only declares what
each figure, table and the scorecard are made from (torch-free).
"""

from repro.enkf.roles import MAIN, SGD
from repro.registry import Needs

# Outputs select by kind and parameters; only Fig. 1's two roles go by name (roles.py).
# The plain sigmoid / sigma 0.1 runs: a variant is compared with the one of equal J.
PLAIN = {
    "kind": "enkf",
    "activation": "sigmoid",
    "sigma": 0.1,
    "adaptive": False,
    "legacy_batch_shift": False,
}
# Fig. 1's dotted line: the plain EnKF run at the caption's larger sigma (1 in the configs;
# any sigma above 0.1 qualifies, so a run forced to another sigma still shows, labelled).
LARGE_SIGMA = {"kind": "enkf", "activation": "sigmoid", "sigma": lambda s: s > 0.1}
# the gradient-descent runs that record activation and gradient statistics
GD_STATS = ({"kind": "gd", "stats_epochs": bool},)
# Fig. 5: SGD and Adam from N(0, 1) (the statistics runs) and N(0, 9)
GD_FIG5 = (*GD_STATS, {"kind": "gd", "init_std": 3.0})

FIGURES = {
    "fig1": Needs(
        match=(PLAIN, LARGE_SIGMA),
        experiments=(MAIN, SGD),
        caption="Fig. 1: test error (%) of the EnKF ensemble-mean network and of SGD "
        "(N(0,1) init, lr 0.1, momentum 0.9) per checkpoint, mean ± 1 std (population) "
        "over seeds; a 100 % point is prepended at position 0 as in the paper. SGD in two "
        "cadences: one test per EnKF checkpoint period of SGD steps, and evenly spaced "
        "over one SGD epoch. Dotted: EnKF with the caption's sigma (1).",
    ),
    "fig3": Needs(
        match=GD_STATS,
        artifacts=True,
        caption="Fig. 3: per-iteration activation mean ± std (error bars every 10th "
        "iteration, first seed) in the first epoch of gradient descent, one panel per layer: "
        "conv1 sigmoid, conv2 sigmoid, and for the softmax of the logits (mean 1/10 by "
        "construction) the std of its outputs; SGD (left) and Adam (right), N(0,1) init, "
        "one line per seed.",
    ),
    "fig4": Needs(
        match=GD_STATS,
        artifacts=True,
        caption="Fig. 4: distributions of the back-propagated weight gradients (averaged "
        "over the output axis) per layer, one curve per snapshot of the first epoch; "
        "SGD (top) and Adam (bottom), first seed.",
    ),
    "fig5": Needs(
        match=GD_FIG5,
        caption="Fig. 5: test error (%) per epoch of gradient descent for SGD and Adam "
        "with N(0,1) and N(0,9) weight initialisation (epoch 0 = initial network); mean ± "
        "population std over the seeds (single runs in the paper).",
    ),
    "fig6": Needs(
        match=GD_STATS,
        artifacts=True,
        caption="Fig. 6: per-iteration weight-gradient mean ± std (error bars every 10th "
        "iteration) per layer over the saved epochs, concatenated; SGD (top), Adam "
        "(bottom), first seed.",
    ),
    "fig7": Needs(
        match=GD_STATS,
        artifacts=True,
        caption="Fig. 7: distributions (KDE) of the per-iteration activation means, one "
        "colour per saved epoch and one line style per seed, per layer; SGD (top), Adam "
        "(bottom). A layer stuck at one value is a spike, clipped and annotated.",
    ),
    "fig8a": Needs(
        match=(PLAIN,),
        caption="Fig. 8a: EnKF test error per checkpoint for three ensemble sizes, mean ± "
        "population std over the seeds (single runs in the paper).",
    ),
    "fig8b": Needs(
        match=(PLAIN, {"kind": "enkf", "activation": lambda a: a != "sigmoid"}),
        caption="Fig. 8b: EnKF test error per checkpoint with logistic (sigmoid), ReLU and "
        "tanh activations at the same J, mean ± population std over the seeds (single runs "
        "in the paper).",
    ),
    "fig9": Needs(
        match=({"kind": "enkf", "adaptive": True},),
        experiments=(MAIN,),  # the plain run of the adaptive run's starting J
        caption="Fig. 9: adaptive change of ensemble size and repetitions (spec §1.4). "
        "Left: test error per checkpoint, fixed vs adaptive (mean ± population std; thin: "
        "each adaptive run). Right: ensemble size (squares, left axis) and repetitions "
        "(stars, right axis) of every adaptive run over the iterations, each change marked.",
    ),
}

TABLES = {
    "fig1": Needs(
        experiments=(MAIN, SGD),
        caption="Fig. 1 numbers: test error (%) per checkpoint, ours (mean ± population "
        "std over seeds) beside the values digitised from the paper's figure.",
    ),
}

SCORECARD = Needs(kinds=("enkf", "gd"))
