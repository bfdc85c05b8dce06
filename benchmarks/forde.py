"""Seconds per training step of a deep ensemble (DE) and FoRDE, and their ratio.

    python benchmarks/forde.py                       # quick CNN + ResNet18, M = 2 and 4
    python benchmarks/forde.py --models resnet18 --members 2 --threads 2

Settings: the quick preset's small CNN on 28x28x1 inputs (batch 128) and ResNet18 on
random 32x32x3 inputs (batch 32), all members in one stacked network, one full step
(forward, input gradients with create_graph for FoRDE, backward, Nesterov SGD).
Reference (spec / brief): the original JAX code on this 2-core machine takes 41 s per
FoRDE step and 18 s per DE step (ResNet18, M = 2, batch 32); the paper reports a
FoRDE/DE ratio of about 3 on a GPU. Timings on a shared machine are noisy: the median
of `--repeats` steps after one warm-up step is printed, with the machine's load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import torch  # noqa: E402

from repro.forde.step import Repulsion, make_optimizer, train_step  # noqa: E402
from repro.forde.train import build_model  # noqa: E402

SETTINGS = {  # model: (channels, size, classes, batch)
    "small_cnn": (1, 28, 10, 128),
    "resnet18": (3, 32, 10, 32),
}


def seconds_per_step(model_name, members, method, repeats, device):
    channels, size, classes, batch = SETTINGS[model_name]
    torch.manual_seed(0)
    model = build_model(model_name, members, channels, classes, size).to(device)
    torch.nn.init.normal_(model.head.weight, std=0.01)  # a trained-like head: g != 0
    optimizer = make_optimizer(model, 0.05)
    x = torch.randn(batch, channels, size, size, device=device)
    y = torch.randint(0, classes, (batch,), device=device)
    rep = None if method == "de" else Repulsion(projection=None)
    times = []
    for i in range(repeats + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        tick = time.perf_counter()
        train_step(model, optimizer, x, y, rep)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i:  # the first step warms up the allocator and kernels
            times.append(time.perf_counter() - tick)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--members", nargs="+", type=int, default=[2, 4])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"device {device}, {args.threads} thread(s), load average {os.getloadavg()[0]:.1f}")
    print(f"{'model':10} {'M':>2} {'batch':>5} {'DE s/step':>10} {'FoRDE s/step':>13} {'ratio':>6}")
    for name in args.models:
        for members in args.members:
            de = seconds_per_step(name, members, "de", args.repeats, device)
            forde = seconds_per_step(name, members, "forde", args.repeats, device)
            batch = SETTINGS[name][3]
            print(
                f"{name:10} {members:>2} {batch:>5} {de:>10.3f} {forde:>13.3f} {forde / de:>6.2f}"
            )
    print("JAX reference (ResNet18, M = 2, batch 32, this machine): DE 18 s, FoRDE 41 s per step")
    print(f"load average at the end {os.getloadavg()[0]:.1f} (other jobs make these numbers noisy)")


if __name__ == "__main__":
    main()
