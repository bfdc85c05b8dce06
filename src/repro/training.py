"""Small helpers shared by classification training loops."""

from __future__ import annotations

import functools
import importlib

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


@functools.cache
def eager_optimizer(cls: type[torch.optim.Optimizer]) -> type[torch.optim.Optimizer]:
    """`cls` (torch.optim.SGD, Adam, ...) running torch's own update code, minus the
    torch.compile guards around it.

    torch.optim's `step`, `zero_grad`, `add_param_group` and state-dict methods, and the
    functional updates they call, import `torch._dynamo` (and sympy) on first use so that
    torch.compile can skip them: 1.4 CPU-s in every training process, half a short job's
    start-up, for a guard this project (which never compiles) does not need. This marks
    those functions as already "dynamo-disabled" (as torch caches it after the import)
    and runs `step` under `no_grad` as its guard does. The updates are bit-identical to
    `cls` (tests/test_training.py). If torch's internals change, `cls` is returned as is.
    """
    raw_step = getattr(cls.step, "__wrapped__", None)
    if raw_step is None:
        return cls
    base = torch.optim.Optimizer
    guarded = [base.add_param_group, base.state_dict, base.load_state_dict, base.zero_grad]
    functional = importlib.import_module(cls.__module__)  # torch.optim.sgd holds sgd()
    guarded.append(getattr(functional, cls.__name__.lower(), None))
    for fn in filter(None, guarded):
        while hasattr(fn, "__wrapped__"):
            fn = fn.__wrapped__
        fn.__dynamo_disable = fn  # what torch._compile._disable_dynamo looks up

    @functools.wraps(raw_step)
    def step(self, closure=None):
        with torch.no_grad():
            return raw_step(self, closure)

    return type(cls.__name__, (cls,), {"step": step, "__module__": __name__})


# Images per forward when testing: enkf's ConvNet's first activation for 1000 images is
# 23 MB, under the 32 MiB above which glibc maps every block afresh and the kernel zeroes
# its pages (4096 images: 94 MB per test, 2-3 CPU-s of kernel time per job; repro.runs).
EVAL_BATCH = 1000


@torch.no_grad()
def evaluate(model, x: torch.Tensor, y: torch.Tensor, batch_size: int = EVAL_BATCH):
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
