"""One optimisation step for all M members at once (spec section 1.5).

loss = sum_i CE_i + R, CE_i the batch-mean cross-entropy of member i, R the repulsion
of `repro.forde.kernel` (left out for a deep ensemble). The input gradients come from
the same train-mode forward pass as the logits: the input is replicated per member as
a leaf `(B, M*C, H, W)`, one backward pass of sum_i,b f_i(x_b)_{y_b} with
`create_graph=True` gives every member's gradient, and `loss.backward()` then
differentiates through it (double back-prop). Weight decay and Nesterov momentum are
torch.optim.SGD's update (coupled L2 on every parameter, as the code).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from repro.forde.kernel import repulsion
from repro.models.input_gradient import input_gradient_pass
from repro.training import eager_optimizer


@dataclass
class Repulsion:
    """How the repulsion is computed; `projection` None = identity lengthscales."""

    projection: torch.Tensor | None = None
    eps: float = 1e-24
    variant: str = "code"
    weight: float = 1.0  # multiplies R (1 in the paper; the toys can scale it)
    isotropic: float = 0.0  # w0 of a low-rank basis (kernel.low_rank_projection)


def replicate(x: torch.Tensor, members: int, member_major: bool = False) -> torch.Tensor:
    """One input copy per member: (B, C, ...) -> (B, M*C, ...) (member-major channels),
    or (M, B, C, ...) for a model whose activations are member-major (`EnsembleMLP`)."""
    if member_major:
        return x.unsqueeze(0).repeat(members, *([1] * x.dim()))
    reps = [1, members] + [1] * (x.dim() - 2)
    return x.repeat(*reps)


def forward_with_input_grads(model, x, y, create_graph=True):
    """(logits (M, B, K), true-class input gradients (M, B, D), D in C,H,W order)."""
    members, batch = model.members, len(x)
    member_major = getattr(model, "member_major", False)
    leaf = replicate(x, members, member_major).requires_grad_(True)
    with input_gradient_pass():
        logits = model(leaf)
        picked = logits.gather(2, y.view(1, batch, 1).expand(members, batch, 1)).sum()
        (grad,) = torch.autograd.grad(picked, leaf, create_graph=create_graph)
    if member_major:
        return logits, grad.reshape(members, batch, -1)
    return logits, grad.reshape(batch, members, -1).transpose(0, 1)


def member_nll(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """sum_i mean_b -log softmax(f_i(x_b))_{y_b} for logits (M, B, K)."""
    members, batch, classes = logits.shape
    return F.cross_entropy(logits.reshape(-1, classes), y.repeat(members)) * members


def train_step(
    model, optimizer, x, y, rep: Repulsion | None = None, nll_fn=member_nll, index=None
) -> dict:
    """One optimiser step; returns the per-member mean NLL, R and the bandwidth median.

    `index`: the output whose input gradient is repelled (default: the label y)."""
    optimizer.zero_grad(set_to_none=True)
    if rep is None:
        logits = model(x)
        nll = nll_fn(logits, y)
        loss, r, med = nll, torch.zeros((), device=nll.device), torch.zeros((), device=nll.device)
    else:
        logits, grads = forward_with_input_grads(model, x, y if index is None else index)
        nll = nll_fn(logits, y)
        r, med = repulsion(grads, rep.projection, rep.eps, rep.variant, rep.isotropic)
        loss = nll + rep.weight * r
    loss.backward()
    optimizer.step()
    return {
        "nll": nll.item() / model.members,
        "repulsion": r.item(),
        "median": med.item(),
    }


def training_layout(model, repulsion: bool):
    """`model` in the memory layout its training steps are fastest in on the CPU:
    channels-last for a FoRDE step of a model that says so (`channels_last_forde`: the
    ResNets, whose explicit double backward (`repro.models.input_gradient`) runs ~4-6 %
    faster in it), NCHW otherwise (a ResNet18 deep-ensemble step is as fast or slower in
    channels-last). Converts in place; call it before building the optimizer."""
    device = next(model.parameters()).device
    if repulsion and device.type == "cpu" and getattr(model, "channels_last_forde", False):
        model.to(memory_format=torch.channels_last)
    return model


def make_optimizer(model, lr, momentum=0.9, weight_decay=5e-4, nesterov=True):
    return eager_optimizer(torch.optim.SGD)(
        model.parameters(), lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay
    )
