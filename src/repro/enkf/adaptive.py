"""Adaptive ("dynamic") change of ensemble size and repetitions (spec §1.4).

Applied at every checkpoint after the first, with A = full-test accuracy (%) now and
A_prev at the previous checkpoint, only if A > eps:

    A >= A_prev:  J -= step if J > lower and A - A_prev <= tol;  reps -= 1 if reps > 0
    A <  A_prev:  J += step if J < upper and A_prev - A > tol;   reps += 1 if reps < max_reps

How members are removed or added is not specified anywhere; our choice (recorded in
run.json): remove = drop members uniformly at random; add = new members ū + ε,
ε ~ N(0, σ² I) with the initial σ.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

MEMBER_POLICY = (
    "adaptive ensemble size (spec §1.4, our assumption): members are removed uniformly at "
    "random; added members are the ensemble mean plus N(0, sigma^2 I) noise with the "
    "initial sigma"
)


@dataclass(frozen=True)
class Rule:
    eps: float = 90.0  # accuracy (%) above which the rule applies
    lower: int = 1000  # J is only decreased while J > lower
    upper: int = 9000  # J is only increased while J < upper
    step: int = 1000
    tol: float = 1.0  # accuracy points
    max_reps: int = 8


def decide(rule: Rule, J: int, reps: int, acc_prev: float, acc: float) -> tuple[int, int] | None:
    """New (J, reps), or None when the rule does not apply (A <= eps)."""
    if acc <= rule.eps:
        return None
    if acc >= acc_prev:
        if J > rule.lower and acc - acc_prev <= rule.tol:
            J -= rule.step
        if reps > 0:
            reps -= 1
    else:
        if J < rule.upper and acc_prev - acc > rule.tol:
            J += rule.step
        if reps < rule.max_reps:
            reps += 1
    return J, reps


def resize(U: torch.Tensor, J: int, sigma: float, generator=None) -> torch.Tensor:
    """Ensemble U (J0, P) with J members: a random subset, or U plus ū + N(0, σ²) members."""
    J0 = U.shape[0]
    if J < J0:
        keep = torch.randperm(J0, generator=generator, device="cpu")[:J].sort().values
        return U[keep.to(U.device)]
    if J > J0:
        noise = torch.randn(J - J0, U.shape[1], generator=generator, dtype=U.dtype, device="cpu")
        return torch.cat([U, U.mean(0) + sigma * noise.to(U.device)])
    return U
