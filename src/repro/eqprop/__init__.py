"""eqprop: Laborieux et al. 2021, "Scaling Equilibrium Propagation to Deep ConvNets by
Drastically Reducing Its Gradient Estimator Bias" (Frontiers in Neuroscience 15:633674).

Spec: shared/papers/equilibrium_prop.md; choices: docs/eqprop.md. This module only
declares what each figure, table and the scorecard are made from (torch-free).
Figure and table ids are ours (the paper body was not available, spec §3).
"""

from repro.registry import Needs

FIGURES = {
    "fig_gdu_curves": Needs(
        kinds=("gducheck",),
        artifacts=True,
        caption="GDU check (spec §1.6, cf. the repository's thirdphase5.png): cumulative "
        "EP estimates with +β and -β (one-sided, dotted), their mean (symmetric, dashed) "
        "and the truncated-BPTT gradient (solid) over the nudged steps, for random "
        "synapses of each layer on 20 training images, first seed, at the experiment's "
        "curve β; the net is untrained, or the trained A3 run in the paper preset "
        "(README --load-path). The max-pool / hard-sigmoid CNN is piecewise linear: its "
        "curve β (1e-4 in the quick preset) keeps the first seed's neurons and pool "
        "windows on their linear piece, where the GDU identity holds: all four curves "
        "overlap there (one-sided off by ~5e-5 relative); the one-sided/symmetric split "
        "over β and where it breaks are in fig_bias_vs_beta.",
    ),
    "fig_gdu_bars": Needs(
        kinds=("gducheck",),
        caption="GDU check per weight tensor: relative distance of the symmetric estimate "
        "to BPTT, 2‖sym − BPTT‖ / (‖EP(+β) − BPTT‖ + ‖EP(−β) − BPTT‖) (1 = as close as "
        "one-sided, 0.5 = twice closer; code `compare_estimate`), and the code's RMSE "
        "ratio of the one-sided and symmetric per-step series; mean ± std over seeds.",
    ),
    "fig_bias_vs_beta": Needs(
        kinds=("gducheck",),
        artifacts=True,
        caption="Top: bias of the EP estimates vs β, relative error ‖ĝ - g_BPTT‖ / "
        "‖g_BPTT‖ of the accumulated estimate, one-sided (±β) and symmetric, averaged "
        "over the weight tensors; mean ± std over seeds (thin lines: each seed, one-sided "
        "+β and symmetric); grey guides: slopes 1 and 2 "
        "through the one-sided value at the curve β. Middle: share of neurons and "
        "max-pool windows whose linear piece (σ between its kinks, pool arg-max) differs "
        "from the free phase's at some nudged step: while it is 0 the dynamics are one "
        "affine map and the bias is O(β) / O(β²); once nudging crosses kinks (the CNN "
        "from β ≈ 1e-3) the symmetric estimate loses its advantage. Bottom: free-phase "
        "residual max|s(t) - s(t-1)| per seed; 0 (floored) = an exact fixed point.",
    ),
    "fig_train_curves": Needs(
        kinds=("train",),
        caption="Training: running train error (on the free-phase predictions, dashed) and "
        "test error (solid) per epoch for every estimator and BPTT, one panel per network "
        "and loss (dropout: the code's branch `dropout`, spec §1.8); mean ± std over "
        "seeds, n per curve in the legend.",
    ),
    "fig_vf_angle": Needs(
        match=({"kind": "train", "vf": True, "algorithm": "ep"},),  # VF nets trained with EP
        caption="Asymmetric (VF) ConvNet trained with symmetric EP: angle between the "
        "backward weights B_n and the forward weights W_{n+1} per epoch, with different "
        "updates (default) and with --same-update; mean ± std over seeds.",
    ),
}

TABLES = {
    "table_cifar10": Needs(
        kinds=("train",),
        caption="Final and best-epoch test error and final train error (%), mean ± std "
        "over seeds. Best epoch = selected on the test set, as the code's model.pt "
        "(spec §6.2.3); the final epoch is the primary number.",
    ),
}

SCORECARD = Needs(kinds=("gducheck", "train"))
