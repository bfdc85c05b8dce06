"""Backward step of enkf's ConvNet with and without subnormal floats flushed to zero.

A sigmoid network whose units saturate (an SGD seed stuck at its N(0, 1) init: its
pre-activations reach |x| ~ 90-100, where the sigmoid's slope is 1e-39 to 1e-44) carries
subnormal numbers through its backward pass, and x86 computes with them ~100x slower.
`repro.runs.execute` therefore calls `torch.set_flush_denormal(True)`. This prints, for
weights N(0, s^2) at several s (larger s: more saturated units), the share of subnormal
weight gradients and milliseconds per forward + backward step (batch 64, random images
in [0, 1]), flush off and on, timed alternately in this process.

    python benchmarks/subnormal.py [--threads 1] [--repeats 30]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from repro.enkf.model import ConvNet

TINY = torch.finfo(torch.float32).tiny  # smallest normal float32, 1.2e-38


def step_ms(net, x, y, repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        net.zero_grad()
        F.cross_entropy(net(x), y).backward()
    return 1e3 * (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(64, 1, 28, 28, generator=gen)
    y = torch.randint(0, 10, (64,), generator=gen)
    print(f"{'weight std':>10} {'subnormal grads':>16} {'ms/step, kept':>14} "
          f"{'flushed':>8} {'ratio':>6}")  # fmt: skip
    for std in (1.0, 10.0, 20.0, 40.0):
        net = ConvNet("sigmoid")
        with torch.no_grad():
            for w in net.parameters():
                w.copy_(torch.randn(w.shape, generator=gen) * std)
        torch.set_flush_denormal(False)
        net.zero_grad()
        F.cross_entropy(net(x), y).backward()
        grads = torch.cat([w.grad.flatten() for w in net.parameters()])
        share = ((grads != 0) & (grads.abs() < TINY)).float().mean().item()
        times = {False: [], True: []}
        for _ in range(3):  # alternate, so that a load change hits both
            for flush in (False, True):
                torch.set_flush_denormal(flush)
                step_ms(net, x, y, 2)
                times[flush].append(step_ms(net, x, y, args.repeats))
        kept, flushed = min(times[False]), min(times[True])
        print(f"{std:>10g} {share:>15.1%} {kept:>14.2f} {flushed:>8.2f} {kept / flushed:>5.1f}x")
    torch.set_flush_denormal(False)


if __name__ == "__main__":
    main()
