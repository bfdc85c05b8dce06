"""Seconds per EnKF iteration (batch 64) for J = 100, 1000, 5000 on the current device.

One iteration = ensemble forward of every member on the 64 images (frozen outputs),
then the 64 sequential per-sample Kalman updates (`repro.enkf.kalman.analysis`, form
chosen by cost). Prints wall and CPU seconds per iteration, the achieved GFLOP/s of
the ensemble forward (2 x 476 800 x J x 64 flops: the floor of 0.48 M multiply-adds per
image per member) and peak memory. The original implementation takes 0.65 s per
iteration at J = 100 and 11-14 s at J = 1000 on a 2-core machine; the target is >= 4x
faster at both sizes. Random images and weights (the cost does not depend on them).

    python benchmarks/enkf.py [--sizes 100 1000 5000] [--threads 2] [--repeats 5]

Every core by default, like the original's runs (PyTorch's default thread count); on a
machine shared with other jobs, `--threads 1` gives steadier numbers.
"""

from __future__ import annotations

import argparse
import resource
import time

import torch
import torch.nn.functional as F

from repro.enkf import kalman
from repro.enkf.model import MACS_PER_IMAGE, N_PARAMS, ensemble_forward, pool_patches

ORIGINAL = {100: 0.65, 1000: 12.5}  # s per iteration, original code, 2-core machine


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench(J: int, device, chunk: int, repeats: int, B: int = 64) -> dict:
    gen = torch.Generator().manual_seed(0)
    U = (0.1 * torch.randn(J, N_PARAMS, generator=gen)).to(device)
    x = torch.rand(B, 1, 28, 28, generator=gen).to(device)
    Y = F.one_hot(torch.randint(0, 10, (B,), generator=gen), 10).float().to(device)
    patches = pool_patches(x)
    form = kalman.choose_form(J, N_PARAMS, B)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times, cpus, forward = [], [], []
    for rep in range(repeats + 1):  # the first is a warm-up
        sync(device)
        t0, c0 = time.perf_counter(), cpu_seconds()
        G = ensemble_forward(U, None, "sigmoid", chunk, patches=patches)
        sync(device)
        t1 = time.perf_counter()
        U = kalman.analysis(U, G, Y, 0.01, form)
        sync(device)
        if rep:
            times.append(time.perf_counter() - t0)
            cpus.append(cpu_seconds() - c0)
            forward.append(t1 - t0)
    t, f = min(times), min(forward)
    peak = (
        torch.cuda.max_memory_allocated() / 2**20
        if device.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    return {
        "J": J,
        "form": form,
        "s_per_it": t,
        "cpu_s_per_it": min(cpus),
        "forward_s": f,
        "update_s": t - f,
        "gflops": 2 * MACS_PER_IMAGE * J * B / f / 1e9,
        "peak_mb": peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--chunk", type=int, default=None, help="members per forward call")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    chunk = args.chunk or (500 if device.type == "cuda" else 10)
    print(f"device {device}, {torch.get_num_threads()} thread(s), member chunk {chunk}, B = 64")
    header = "J       form        s/it   cpu s/it  forward  update  fwd GFLOP/s  peak MB  vs orig"
    print(header)
    for J in args.sizes:
        r = bench(J, device, chunk, 1 if J >= 5000 else args.repeats)
        speedup = f"{ORIGINAL[J] / r['s_per_it']:.1f}x" if J in ORIGINAL else "-"
        print(
            f"{J:<7d} {r['form']:<10s} {r['s_per_it']:6.3f} {r['cpu_s_per_it']:9.3f} "
            f"{r['forward_s']:8.3f} {r['update_s']:7.3f} {r['gflops']:12.1f} "
            f"{r['peak_mb']:8.0f}  {speedup}"
        )


if __name__ == "__main__":
    main()
