"""`repro.training.eager_optimizer`: torch.optim's updates, bit for bit, without
importing torch._dynamo."""

import subprocess
import sys

import pytest
import torch

from repro.training import eager_optimizer

CASES = [
    (torch.optim.SGD, {"lr": 0.1}),
    (torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-3}),
    (torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4}),
    (torch.optim.Adam, {"lr": 0.01}),
    (torch.optim.Adam, {"lr": 0.01, "weight_decay": 1e-2, "eps": 1e-7}),
    (torch.optim.Adam, {"lr": 0.01, "fused": True}),
]


def _net(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))


def _train(make, steps, x, y, net, optimizer=None, scheduler=True):
    optimizer = optimizer or make(net)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, 7) if scheduler else None
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        optimizer.step()
        if schedule:
            schedule.step()
    return optimizer


@pytest.mark.parametrize(("cls", "hyper"), CASES, ids=lambda v: getattr(v, "__name__", str(v)))
def test_updates_bit_identical_to_torch(cls, hyper):
    x, y = torch.randn(16, 6), torch.randint(0, 2, (16,))
    reference, ours = _net(0), _net(0)

    def groups(net):  # two parameter groups with their own lr, as eqprop uses
        first, second = list(net[0].parameters()), list(net[2].parameters())
        return [{"params": first}, {"params": second, "lr": hyper["lr"] / 3}]

    _train(lambda n: cls(groups(n), **hyper), 12, x, y, reference)
    _train(lambda n: eager_optimizer(cls)(groups(n), **hyper), 12, x, y, ours)
    for a, b in zip(reference.parameters(), ours.parameters(), strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(next(_net(0).parameters()), next(ours.parameters()))  # it trained


@pytest.mark.parametrize(
    ("cls", "hyper"), CASES[1::2], ids=lambda v: getattr(v, "__name__", str(v))
)
def test_state_dict_resume_matches_uninterrupted(cls, hyper):
    x, y = torch.randn(16, 6), torch.randint(0, 2, (16,))
    make = lambda n: eager_optimizer(cls)(n.parameters(), **hyper)  # noqa: E731
    straight = _net(1)
    _train(make, 10, x, y, straight, scheduler=False)
    resumed = _net(1)
    state = _train(make, 4, x, y, resumed, scheduler=False).state_dict()
    again = make(resumed)
    again.load_state_dict(state)
    _train(make, 6, x, y, resumed, optimizer=again, scheduler=False)
    for a, b in zip(straight.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b)


def test_stepping_never_imports_dynamo():
    code = """
import sys, torch
from repro.training import eager_optimizer
net = torch.nn.Linear(3, 2)
for cls in (torch.optim.SGD, torch.optim.Adam):
    opt = eager_optimizer(cls)(net.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 3)
    net(torch.randn(4, 3)).sum().backward()
    opt.step(); sched.step(); opt.zero_grad(); opt.load_state_dict(opt.state_dict())
print("torch._dynamo" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
