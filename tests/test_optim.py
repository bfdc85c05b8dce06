"""repro.optim: SGD and Adam give torch.optim's parameters bit for bit (CPU, float32 and
float64), through learning-rate changes, parameters without a gradient on some steps, and
a state_dict round trip; and building them does not import torch._dynamo."""

import subprocess
import sys

import pytest
import torch

from repro import optim

CASES = {
    "sgd": (lambda p: optim.SGD(p, 0.05), lambda p: torch.optim.SGD(p, 0.05)),
    "sgd_momentum": (
        lambda p: optim.SGD(p, 0.05, momentum=0.9, weight_decay=1e-3),
        lambda p: torch.optim.SGD(p, 0.05, momentum=0.9, weight_decay=1e-3),
    ),
    "sgd_nesterov": (
        lambda p: optim.SGD(p, 0.05, momentum=0.9, weight_decay=5e-4, nesterov=True),
        lambda p: torch.optim.SGD(p, 0.05, momentum=0.9, weight_decay=5e-4, nesterov=True),
    ),
    "adam": (
        lambda p: optim.Adam(p, 1e-3, weight_decay=5e-4),
        lambda p: torch.optim.Adam(p, 1e-3, weight_decay=5e-4),
    ),
    "adam_betas": (
        lambda p: optim.Adam(p, 3e-3, betas=(0.8, 0.99), eps=1e-6),
        lambda p: torch.optim.Adam(p, 3e-3, betas=(0.8, 0.99), eps=1e-6),
    ),
}


def _params(dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    shapes = [(3, 4), (5,), (2, 2, 3)]
    return [torch.randn(*s, generator=g, dtype=dtype).requires_grad_(True) for s in shapes]


def _loss(params, step, partial):
    # the last parameter gets no gradient every fifth step (torch.optim skips it then)
    used = params[:2] if partial and step % 5 == 0 else params
    return sum(torch.sin(p * (k + 1)).sum() + (p**2).sum() for k, p in enumerate(used))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("partial", [False, True])
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch_optim_bit_for_bit(name, partial, dtype):
    ours_of, ref_of = CASES[name]
    ours, ref = _params(dtype), _params(dtype)
    a, b = ours_of(ours), ref_of(ref)
    for step in range(25):
        if step % 7 == 3:  # a schedule sets the group's lr between steps
            for group in a.param_groups + b.param_groups:
                group["lr"] *= 0.5
        for params in (ours, ref):
            _loss(params, step, partial).backward()
        a.step()
        b.step()
        a.zero_grad()
        b.zero_grad()
    for p, q in zip(ours, ref, strict=True):
        assert torch.equal(p, q)
        assert p.grad is None


@pytest.mark.parametrize("name", ["sgd_nesterov", "adam"])
def test_state_dict_round_trip_resumes_the_same_trajectory(name):
    ours_of, _ = CASES[name]
    straight, resumed = _params(torch.float64), _params(torch.float64)
    a = ours_of(straight)
    b = ours_of(resumed)
    for step in range(10):
        for params, opt in ((straight, a), (resumed, b)):
            _loss(params, step, False).backward()
            opt.step()
            opt.zero_grad()
        if step == 4:  # checkpoint b and rebuild it from the state dict
            state = b.state_dict()
            b = ours_of(resumed)
            b.load_state_dict(state)
    for p, q in zip(straight, resumed, strict=True):
        assert torch.equal(p, q)


def test_does_not_import_dynamo():
    code = (
        "import sys, torch; from repro import optim; "
        "p = [torch.zeros(2, requires_grad=True)]; "
        "o = optim.Adam(p); p[0].sum().backward(); o.step(); "
        "o = optim.SGD(p, 0.1, momentum=0.9, nesterov=True); o.step(); "
        "print('torch._dynamo' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
