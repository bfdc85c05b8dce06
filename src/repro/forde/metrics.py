"""Ensemble evaluation of spec section 2.5 (the code's `test_ensemble`).

Inputs are member logits (M, N, K). The predictive is the mean of the members'
softmax; NLL = -mean log p(y|x) (log-mean-exp of member log-probabilities); ECE uses
equal-width bins (lo, hi] on the top probability, as the code's `ece`. (torchmetrics
1.9's CalibrationError bins [lo, hi): for a confidence on an interior edge it differs
from the code, e.g. confidences (2/3 correct, 0.62 wrong) give 0.143 here and
0.477 there; so ECE is these few lines, checked against torchmetrics off the edges.)
"""

from __future__ import annotations

import math

import numpy as np
import torch


def ece(confidence: torch.Tensor, correct: torch.Tensor, bins: int = 15) -> float:
    """Expected calibration error with bins (lo, hi] (a confidence of 0 falls in none)."""
    confidence = confidence.double().cpu()
    edges = torch.from_numpy(np.linspace(0.0, 1.0, bins + 1))  # on the CPU, like the inputs
    index = torch.bucketize(confidence, edges, right=False) - 1  # edges[i] < c <= edges[i+1]
    valid = index >= 0
    index, confidence = index[valid], confidence[valid]
    correct = correct.double().cpu()[valid]
    cpu = torch.device("cpu")
    conf_sum = torch.zeros(bins, dtype=torch.float64, device=cpu).index_add_(0, index, confidence)
    acc_sum = torch.zeros(bins, dtype=torch.float64, device=cpu).index_add_(0, index, correct)
    total = len(valid)
    return float((conf_sum - acc_sum).abs().sum() / total)


def entropy(p: torch.Tensor) -> torch.Tensor:
    """Shannon entropy (nats) along the last axis; 0 log 0 = 0."""
    return torch.special.entr(p).sum(-1)


def ensemble_metrics(logits: torch.Tensor, y: torch.Tensor, bins: int = 15) -> dict:
    """accuracy (top-1/2/3), NLL, NLL on misclassified points, ECE, and the
    total / aleatoric / epistemic predictive entropies (mean over points)."""
    logits, y = logits.double(), y.to(logits.device)
    members = logits.shape[0]
    logp = torch.log_softmax(logits, -1)  # (M, N, K)
    log_pred = torch.logsumexp(logp, 0) - math.log(members)  # (N, K)
    pred = log_pred.exp()
    nll = -log_pred.gather(1, y[:, None]).squeeze(1)
    confidence, label = pred.max(1)
    correct = label == y
    top = pred.topk(min(3, pred.shape[1]), dim=1).indices
    total = entropy(pred)
    aleatoric = entropy(logp.exp()).mean(0)
    epistemic = total - aleatoric
    out = {
        "accuracy": correct.double().mean().item(),
        "nll": nll.mean().item(),
        "nll_miss": nll[~correct].mean().item() if (~correct).any() else float("nan"),
        "ece": ece(confidence, correct, bins),
        "entropy": total.mean().item(),
        "aleatoric": aleatoric.mean().item(),
        "epistemic": epistemic.mean().item(),
        "epistemic_std": epistemic.std().item() if len(y) > 1 else float("nan"),
    }
    for k in range(2, top.shape[1] + 1):
        out[f"top{k}"] = (top[:, :k] == y[:, None]).any(1).double().mean().item()
    return out


def gradient_cosine_distance(grads: torch.Tensor, eps: float = 1e-24) -> float:
    """Mean over member pairs i < j and points of 1 - cos(g_i, g_j); grads (M, N, D)."""
    members = grads.shape[0]
    unit = grads.double() / torch.sqrt(grads.double().square().sum(-1, keepdim=True) + eps)
    cos = torch.einsum("ind,jnd->ijn", unit, unit)
    i, j = torch.triu_indices(members, members, offset=1)
    return (1.0 - cos[i, j]).mean().item()
