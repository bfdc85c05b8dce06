"""Seconds per training step of a deep ensemble (DE) and FoRDE, and their ratio.

    python benchmarks/forde.py                       # quick CNN + ResNet18, M = 2 and 4
    python benchmarks/forde.py --models resnet18 --members 2 --threads 2

Settings: the quick preset's small CNN on 28x28x1 inputs (batch 128) and ResNet18 on
random 32x32x3 inputs (batch 32), all members in one stacked network, one full step
(forward, input gradients with create_graph for FoRDE, backward, Nesterov SGD), each
method in the memory layout it trains in (`repro.forde.step.training_layout`).
DE and FoRDE steps alternate in one process and the ratio is the median of the
per-pair ratios (wall and CPU time), so a load change hits both alike; the machine's
load is printed. The original JAX code's times (issue 15) are printed as a reference
only; the paper reports a FoRDE/DE ratio of about 3 on a GPU.
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

from repro.forde.step import Repulsion, make_optimizer, train_step, training_layout  # noqa: E402
from repro.forde.train import build_model  # noqa: E402

SETTINGS = {  # model: (channels, size, classes, batch)
    "small_cnn": (1, 28, 10, 128),
    "resnet18": (3, 32, 10, 32),
}


def make_step(model_name, members, method, device):
    """A closure running one training step of `method` on fixed random data."""
    channels, size, classes, batch = SETTINGS[model_name]
    torch.manual_seed(0)
    model = build_model(model_name, members, channels, classes, size).to(device)
    torch.nn.init.normal_(model.head.weight, std=0.01)  # a trained-like head: g != 0
    model = training_layout(model, method != "de")  # as repro.forde.train does
    optimizer = make_optimizer(model, 0.05)
    x = torch.randn(batch, channels, size, size, device=device)
    y = torch.randint(0, classes, (batch,), device=device)
    rep = None if method == "de" else Repulsion(projection=None)

    def step():
        train_step(model, optimizer, x, y, rep)
        if device.type == "cuda":
            torch.cuda.synchronize()

    return step


def alternating(model_name, members, repeats, device):
    """Median seconds per step (wall and CPU) of DE and FoRDE, timed alternately in this
    process (DE, FoRDE, DE, FoRDE, ...) after one warm-up step each, and the median of
    the per-pair FoRDE/DE ratios (a load change hits both halves of a pair alike)."""
    steps = {m: make_step(model_name, members, m, device) for m in ("de", "forde")}
    for step in steps.values():
        step()
    wall = {m: [] for m in steps}
    cpu = {m: [] for m in steps}
    for _ in range(repeats):
        for method, step in steps.items():
            w, c = time.perf_counter(), time.process_time()
            step()
            wall[method].append(time.perf_counter() - w)
            cpu[method].append(time.process_time() - c)
    ratios = [f / d for f, d in zip(wall["forde"], wall["de"], strict=True)]
    cpu_ratios = [f / d for f, d in zip(cpu["forde"], cpu["de"], strict=True)]
    return (
        {m: statistics.median(v) for m, v in wall.items()},
        statistics.median(ratios),
        statistics.median(cpu_ratios),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--members", nargs="+", type=int, default=[2, 4])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"device {device}, {args.threads} thread(s), load average {os.getloadavg()}")
    print(
        f"{'model':10} {'M':>2} {'batch':>5} {'DE s/step':>10} {'FoRDE s/step':>13} "
        f"{'ratio (wall)':>12} {'ratio (CPU)':>11}"
    )
    for name in args.models:
        for members in args.members:
            seconds, ratio, cpu_ratio = alternating(name, members, args.repeats, device)
            batch = SETTINGS[name][3]
            print(
                f"{name:10} {members:>2} {batch:>5} {seconds['de']:>10.3f} "
                f"{seconds['forde']:>13.3f} {ratio:>12.2f} {cpu_ratio:>11.2f}"
            )
    print(
        "for reference, not divided into anything: the original JAX code, timed on this "
        "machine by the speed issue (15), ResNet18 M = 2 batch 32: DE 10.4 s, FoRDE 23.9 s "
        "per step, ratio 2.31"
    )
    print(f"load average at the end {os.getloadavg()} (other jobs make wall times noisy)")


if __name__ == "__main__":
    main()
