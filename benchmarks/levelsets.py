"""Predictor steps per second of the level-set walk, MNIST_FF at the quick setting.

Runs the real `traversal` entry point (phase 1: 1000 images, 100 epochs; phase 2 with
test metrics on 2000 test images at every predictor step) and prints phase-1 time and
phase-2 predictor steps per second, correctors included. The released TensorFlow code
takes 1.26 s per predictor step on a 2-core machine; the target is >= 100 steps/s.

    REPRO_DATA_MIRROR=../shared/datasets python benchmarks/levelsets.py [--steps 1000]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import torch

from repro import config, data
from repro.levelsets.train import traversal
from repro.runs import Run

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument(
        "--threads", type=int, default=torch.get_num_threads(), help="default: every core"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    params = config.resolve_experiments(config.load(REPO / "config" / "config.yaml"), "levelsets")
    params = dict(params["MNIST_FF"], steps=args.steps, test_every=1)
    with tempfile.TemporaryDirectory() as tmp:
        manifest = data.fetch("mnist", Path(tmp) / "mnist", log=lambda *_: None)
        del manifest
        torch.manual_seed(args.seed)
        run = Run(
            "levelsets",
            "MNIST_FF",
            args.seed,
            params,
            Path(tmp) / "run",
            manifests={"mnist": Path(tmp) / "mnist" / "manifest.json"},
            log=logging.getLogger("bench"),
        )
        start = time.perf_counter()
        traversal(run)
        total = time.perf_counter() - start
    rows = {(split, metric): value for _, split, metric, value in run.rows if split == "levelset"}
    rate = rows[("levelset", "predictor_steps_per_s")]
    n_pred = int(rows[("levelset", "predictor_steps")])
    n_corr = int(rows[("levelset", "corrector_steps")])
    phase2 = n_pred / rate
    print(f"MNIST_FF quick: {args.threads} thread(s), seed {args.seed}")
    print(f"phase 1: {total - phase2:.1f} s (100 epochs, 1000 images, batch 32)")
    print(f"phase 2: {n_pred} predictor + {n_corr} corrector steps in {phase2:.1f} s")
    print(f"predictor steps per second (test metrics every step): {rate:.1f}")
    print(f"original TF implementation: {1 / 1.26:.2f} steps/s; speed-up x{rate * 1.26:.0f}")


if __name__ == "__main__":
    main()
