"""Small helpers shared by classification training loops."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def minibatches(
    n: int, batch_size: int, shuffle: bool = True, drop_last: bool = False, device=None
):
    """Index tensors of one epoch. Shuffling draws from torch's global generator, whose
    state the run checkpoints, so a resumed run sees the same order."""
    cpu = torch.device("cpu")  # the global CPU generator: the same order on any device
    order = torch.randperm(n, device=cpu) if shuffle else torch.arange(n, device=cpu)
    if device is not None:
        order = order.to(device)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start : start + batch_size]


def built_on_cpu(factory, device, *args, **kwargs):
    """`factory(*args, **kwargs)` built on the CPU (initial draws from the CPU generator,
    so a seed gives the same initial network on any device), then moved to `device`."""
    with torch.device("cpu"):
        module = factory(*args, **kwargs)
    return module.to(device)


@torch.no_grad()
def evaluate(model, x: torch.Tensor, y: torch.Tensor, batch_size: int = 4096):
    """(mean cross-entropy, accuracy) of `model` in eval mode; restores the previous mode."""
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    for start in range(0, len(x), batch_size):
        logits = model(x[start : start + batch_size])
        target = y[start : start + batch_size]
        total_loss += F.cross_entropy(logits, target, reduction="sum").item()
        correct += (logits.argmax(dim=1) == target).sum().item()
    model.train(was_training)
    return total_loss / len(x), correct / len(x)


class SGD:
    """torch.optim.SGD (momentum, dampening 0, no Nesterov, coupled L2 weight decay) for
    plain CPU/GPU tensors, the same operations in the same order (the tests pin it to
    torch.optim.SGD bit for bit). Why not torch.optim: every torch.optim optimizer
    imports torch._dynamo (and sympy) on creation and on every `step`, ~1.2 CPU-s per job.

    `param_groups`: dicts with "params", "lr", "weight_decay" (default 0) and
    "momentum" (default `momentum`), as torch's; `state_dict` holds the momentum buffers."""

    def __init__(self, groups, momentum: float = 0.0):
        self.param_groups = [
            {"weight_decay": 0.0, "momentum": momentum, **g, "params": list(g["params"])}
            for g in groups
        ]
        self.buffers: list[list[torch.Tensor | None]] = [
            [None] * len(g["params"]) for g in self.param_groups
        ]

    @torch.no_grad()
    def step(self) -> None:
        for g, buffers in zip(self.param_groups, self.buffers, strict=True):
            lr, wd, momentum = g["lr"], g["weight_decay"], g["momentum"]
            for i, p in enumerate(g["params"]):
                if p.grad is None:
                    continue
                grad = p.grad
                if wd != 0:
                    grad = grad.add(p, alpha=wd)
                if momentum != 0:
                    if buffers[i] is None:
                        buffers[i] = torch.clone(grad).detach()
                    else:
                        buffers[i].mul_(momentum).add_(grad, alpha=1)
                    grad = buffers[i]
                p.add_(grad, alpha=-lr)

    def state_dict(self) -> dict:
        return {
            "lrs": [g["lr"] for g in self.param_groups],
            "buffers": [[b if b is None else b.clone() for b in bs] for bs in self.buffers],
        }

    def load_state_dict(self, state: dict) -> None:
        for g, lr in zip(self.param_groups, state["lrs"], strict=True):
            g["lr"] = lr
        self.buffers = [list(bs) for bs in state["buffers"]]


def cosine_lr_step(optimizer, epoch: int, t_max: int, eta_min: float) -> None:
    """torch.optim.lr_scheduler.CosineAnnealingLR's `step()` to `epoch` (1 <= epoch <=
    t_max), in the recursive form torch computes (each group from its current lr)."""
    import math

    if not 1 <= epoch <= t_max:
        raise ValueError(f"cosine schedule: epoch {epoch} outside 1..{t_max}")
    for g in optimizer.param_groups:
        g["lr"] = (1 + math.cos(math.pi * epoch / t_max)) / (
            1 + math.cos(math.pi * (epoch - 1) / t_max)
        ) * (g["lr"] - eta_min) + eta_min
