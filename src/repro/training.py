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
