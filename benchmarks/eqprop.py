"""Seconds per training batch of EP (one-sided, symmetric) and truncated BPTT, ours
against the original's way (an autograd graph of Φ rebuilt at every step, in the default
NCHW layout, re-implemented in `repro.eqprop.reference`: "autograd-Φ"), timed in this
process, alternately, on random inputs. The only ratios printed are against that
baseline; the original code's own times measured elsewhere (issues 4 and 15) are printed
as constants for reference, never divided:

    python benchmarks/eqprop.py                      # both settings, 2 threads
    python benchmarks/eqprop.py --setting quick --repeats 5

* quick: the small MNIST CNN of spec §5 (1-16-32, kernels 5, max-pools, fc 10,
  my_hard_sig, MSE), batch 64, T1 40, T2 10;
* cifar10: the paper's CIFAR-10 CNN (3-128-256-512-512, fc 10, my_hard_sig, MSE),
  batch 128, T1 10, T2 3.

Each (estimator, implementation) pair is timed alternately (median of `--repeats`),
so a busy machine slows both sides alike; wall and process CPU seconds are printed
(on a machine shared with other jobs the CPU-time ratio is the more reliable one).

`--original DIR`: also time the original code itself (`model_utils.py` of a checkout of
Laborieux-Axel/Equilibrium-Propagation: its `P_CNN` and the body of its `train`, with
the same weights), alternately with the other two; the speed-ups are then printed
against it as well:

    git --git-dir=<mirror> show HEAD:model_utils.py > /tmp/orig/model_utils.py  # (+ data_utils.py)
    python benchmarks/eqprop.py --setting cifar10 --original /tmp/orig
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import types
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from repro.eqprop import dynamics, estimators, reference  # noqa: E402
from repro.eqprop.model import EnergyNet  # noqa: E402
from repro.eqprop.nets import CIFAR10_CNN, MNIST_CNN  # noqa: E402

# Seconds per batch of the original code measured at other times on other loads (issue 4;
# issue 15: 0.295 / 0.242 s quick and 8.64 / 5.53 s CIFAR-10, symmetric / BPTT).
# Printed for orientation only: a ratio needs a baseline timed in the same run.
ORIGINAL_ELSEWHERE = {("quick", "symmetric"): "0.51 (issue 4), 0.295 (issue 15)",
                      ("quick", "bptt"): "0.44 (issue 4), 0.242 (issue 15)",
                      ("cifar10", "symmetric"): "20 (issue 4), 8.64 (issue 15)",
                      ("cifar10", "bptt"): "11 (issue 4), 5.53 (issue 15)"}  # fmt: skip

SETTINGS = {
    "quick": dict(
        net=MNIST_CNN,
        batch=64,
        t1=40,
        t2=10,
    ),
    "cifar10": dict(
        net=CIFAR10_CNN,
        batch=128,
        t1=10,
        t2=3,
    ),
}


def batch_fn(impl: str, estimator: str, model, x, y, t1: int, t2: int):
    if estimator == "bptt":
        update = estimators.bptt_update if impl == "ours" else reference.bptt_update
        return lambda: update(model, x, y, t1, t2)
    if impl == "ours":
        return lambda: estimators.ep_update(model, x, y, estimator, 0.5, t1, t2)
    return lambda: reference.ep_update(model, x, y, estimator, 0.5, t1, t2)


def original_fn(directory: str, net: dict, model, estimator: str, x, y, t1: int, t2: int):
    """One batch of the original code (`P_CNN`, the body of `train`: `--thirdphase` for
    symmetric, `--alg BPTT`), MSE read-out, my_hard_sig, the weights of `model`."""
    sys.modules.setdefault("torchvision", types.ModuleType("torchvision"))  # data only
    sys.path.insert(0, directory)
    import model_utils as mu  # noqa: PLC0415

    pools = [torch.nn.MaxPool2d(2, 2) for _ in net["pools"]]
    channels = [net["in_shape"][0], *net["channels"]]
    args = [list(net[key]) for key in ("kernels", "strides", "fc")]
    orig = mu.P_CNN(net["in_shape"][1], channels, *args, pools, list(net["paddings"]),
                    activation=mu.my_hard_sig, softmax=False)  # fmt: skip
    orig.load_state_dict(model.state_dict())
    crit, beta, mbs = torch.nn.MSELoss(reduction="none"), 0.5, len(x)

    def ep():
        neurons = orig(x, y, orig.init_neurons(mbs, x.device), t1, beta=0.0, criterion=crit)
        free = mu.copy(neurons)
        pos = mu.copy(orig(x, y, neurons, t2, beta=beta, criterion=crit))
        if estimator == "symmetric":
            neg = mu.copy(orig(x, y, mu.copy(free), t2, beta=-beta, criterion=crit))
            orig.compute_syn_grads(x, y, pos, neg, (beta, -beta), crit)
        else:
            orig.compute_syn_grads(x, y, free, pos, (0.0, beta), crit)

    def bptt():
        neurons = orig(x, y, orig.init_neurons(mbs, x.device), t1 - t2, beta=0.0, criterion=crit)
        xd = x.detach().requires_grad_()
        neurons = [n.detach().requires_grad_() for n in neurons]
        neurons = orig(xd, y, neurons, t2, beta=0.0, criterion=crit, check_thm=True)
        target = F.one_hot(y, num_classes=orig.nc).float()
        loss = 0.5 * crit(neurons[-1].float(), target).sum(dim=1).mean().squeeze()
        orig.zero_grad()
        loss.backward()

    return bptt if estimator == "bptt" else ep


def timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process); on a shared machine the CPU time is
    the fairer measure, the wall time is what an idle machine would show."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", choices=[*SETTINGS, "all"], default="all")
    parser.add_argument("--estimators", nargs="+", default=["one_sided", "symmetric", "bptt"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--original", metavar="DIR", help="also time the original code in DIR")
    parser.add_argument(
        "--no-early-stop",
        action="store_true",
        help="run every step even after an exact fixed point (ours stops there by default)",
    )
    args = parser.parse_args()
    dynamics.STOP_AT_FIXED_POINT = not args.no_early_stop
    torch.set_num_threads(args.threads)
    names = list(SETTINGS) if args.setting == "all" else [args.setting]
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), median of {args.repeats}, "
        f"early stop at exact fixed points: {dynamics.STOP_AT_FIXED_POINT}"
    )
    print(
        f"{'setting':8} {'estimator':10} {'impl':10} {'wall s':>8} {'cpu-s':>8}  speed-up of"
        f" ours (wall / cpu)  [original code s, measured elsewhere: not a ratio]"
    )
    for name in names:
        cfg = SETTINGS[name]
        torch.manual_seed(0)
        model = EnergyNet(**cfg["net"])
        x = torch.rand(cfg["batch"], *cfg["net"]["in_shape"])
        y = torch.randint(0, 10, (cfg["batch"],))
        for estimator in args.estimators:
            fns = {"ours": batch_fn("ours", estimator, model, x, y, cfg["t1"], cfg["t2"])}
            fns["autograd-Φ"] = batch_fn("reference", estimator, model, x, y, cfg["t1"], cfg["t2"])
            if args.original:
                fns["original"] = original_fn(
                    args.original, cfg["net"], model, estimator, x, y, cfg["t1"], cfg["t2"]
                )
            for fn in fns.values():  # warm-up
                fn()
            times = {impl: [] for impl in fns}
            for _ in range(args.repeats):
                for impl, fn in fns.items():
                    times[impl].append(timed(fn))
            med = {
                impl: tuple(statistics.median(t[i] for t in ts) for i in (0, 1))
                for impl, ts in times.items()
            }
            elsewhere = ORIGINAL_ELSEWHERE.get((name, estimator), "-")
            for impl, (wall, cpu) in med.items():
                ratio = f"{wall / med['ours'][0]:5.2f}x / {cpu / med['ours'][1]:5.2f}x"
                note = f"  [{elsewhere}]" if impl == list(fns)[-1] else ""
                ratio = "" if impl == "ours" else ratio
                print(
                    f"{name:8} {estimator:10} {impl:10} {wall:8.3f} {cpu:8.3f}  {ratio}{note}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
