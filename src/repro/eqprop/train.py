"""eqprop entry points, one per experiment kind (docs/eqprop.md).

gducheck  step = index of β in `betas`; split = tensor (W1, b1, ..., s1 = neurons of
          layer 1), metrics rel_err_/rmse_/sign_err_{plus,minus,sym} and closeness;
          split "beta" holds β, split "regions" the share of neurons / max-pool windows
          leaving their linear piece in the +β / -β phase (changed_plus/minus); split
          "free_phase" the residual max|s(t+1) - s(t)| at T1 - T2 and T1. Artifacts:
          per-step EP(+β), EP(-β) and BPTT series of `curve_elements` random elements per
          tensor for every β, and the free phase's residual trace (`residual`). With
          `init_from`, the network is the trained one of that experiment, same seed.
train     step = epoch: train error/loss (running, on the free-phase predictions),
          test error, best test error so far, free-phase residual, lr, VF angles.
          Artifacts: the final weights (`weight:<name>`), the input of a GDU check.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from repro.data import load_images
from repro.eqprop import gdu
from repro.eqprop.dynamics import free_phase
from repro.eqprop.estimators import bptt_update, ep_update
from repro.eqprop.model import EnergyNet
from repro.training import built_on_cpu, eager_optimizer, minibatches

# Normalisation of the original `main.py`: MNIST raw [0, 1]; CIFAR-10 with 3x the std.
NORMALISATION = {
    "mnist": ((0.0,), (1.0,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (3 * 0.2023, 3 * 0.1994, 3 * 0.2010)),
}
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _images(raw: np.ndarray, dataset: str, device, dtype=torch.float32) -> torch.Tensor:
    cpu = torch.device("cpu")  # normalised on the CPU, then moved
    mean, std = (
        torch.tensor(v, dtype=dtype, device=cpu).view(1, -1, 1, 1) for v in NORMALISATION[dataset]
    )
    x = torch.from_numpy(raw).to(dtype) / 255.0
    return ((x - mean) / std).to(device)


def load(run, p, dtype=torch.float32, pick: int | None = None):
    """(x_train, y_train, x_test, y_test) on the run's device, first N of each split; with
    `pick`, (x, y): `pick` training images drawn at random (a seeded shuffle's first)."""
    if p["dataset"] not in NORMALISATION:
        raise ValueError(f"eqprop has no preprocessing for dataset {p['dataset']!r}")
    if p["dataset"] != "cifar10":
        run.note(
            f"data: {p['dataset']} (the paper's ConvNet results are on CIFAR-10; spec §5 "
            "quick scale uses MNIST: a small ConvNet that trains in minutes on a CPU)"
        )
    data = load_images(run.manifests[p["dataset"]])
    if pick is not None:  # only the picked images are converted
        order = torch.randperm(len(data.x_train), device="cpu")[:pick].numpy()
        x = _images(data.x_train[order], p["dataset"], run.device, dtype)
        return x, torch.from_numpy(data.y_train[order]).to(run.device)
    n_train, n_test = p.get("train_subset"), p.get("test_subset")
    x_train = _images(data.x_train[:n_train], p["dataset"], run.device, dtype)
    x_test = _images(data.x_test[:n_test], p["dataset"], run.device, dtype)
    y_train = torch.from_numpy(data.y_train[:n_train]).to(run.device)
    y_test = torch.from_numpy(data.y_test[:n_test]).to(run.device)
    return x_train, y_train, x_test, y_test


def augment(x: torch.Tensor) -> torch.Tensor:
    """RandomHorizontalFlip(0.5) then RandomCrop(32, padding 4, padding_mode 'edge')."""
    n, c, h, w = x.shape
    cpu = torch.device("cpu")  # draws from the CPU generator: the same on any device
    flip = (torch.rand(n, device=cpu) < 0.5).to(x.device)
    x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
    padded = F.pad(x, (4, 4, 4, 4), mode="replicate")
    top, left = (torch.randint(0, 9, (n,), device=cpu).to(x.device) for _ in range(2))
    rows = (top[:, None] + torch.arange(h, device=x.device)).view(n, 1, h, 1)
    cols = (left[:, None] + torch.arange(w, device=x.device)).view(n, 1, 1, w)
    batch = torch.arange(n, device=x.device).view(n, 1, 1, 1)
    channel = torch.arange(c, device=x.device).view(1, c, 1, 1)
    return padded[batch, channel, rows, cols]


def build_model(p, in_shape) -> EnergyNet:
    """The experiment's network (default PyTorch initialisation)."""
    if not p["channels"]:
        in_shape = (int(np.prod(in_shape)),)
    return EnergyNet(
        in_shape,
        channels=p["channels"],
        kernels=p["kernels"],
        strides=p["strides"],
        paddings=p["paddings"],
        pools=p["pools"],
        fc=p["fc"],
        activation=p["activation"],
        loss=p["loss"],
        vf=p.get("vf", False),
        same_update=p.get("same_update", False),
        dropouts=p.get("dropouts"),
    )


WEIGHT = "weight:"  # artifact key prefix of the trained weights


def load_trained(model: EnergyNet, artifacts: str) -> None:
    """The final weights a `train` run stored in its artifacts.npz."""
    with np.load(artifacts) as saved:
        state = {
            k[len(WEIGHT) :]: torch.from_numpy(saved[k]) for k in saved if k.startswith(WEIGHT)
        }
    model.load_state_dict(state)


# ------------------------------------------------------------------ gducheck
def _curve_elements(bptt: np.ndarray, count: int) -> np.ndarray:
    """Random flat indices among the elements with a sizeable BPTT gradient (above the
    median magnitude of the non-zero ones), so the curves are not flat at 0."""
    total = np.abs(bptt.reshape(len(bptt), -1).sum(0))
    nonzero = total[total > 0]
    pool = np.flatnonzero(total >= np.median(nonzero)) if nonzero.size else np.arange(total.size)
    return pool[torch.randperm(len(pool), device="cpu")[:count].numpy()]


def gducheck(run) -> None:
    """Spec §1.6 on the first `n_images` of a shuffled training set, one net for all β."""
    p = run.params
    dtype = DTYPES[p["dtype"]]
    x, y = load(run, p, dtype, pick=p["n_images"])
    model = built_on_cpu(build_model, "cpu", p, x.shape[1:])  # same draws on any device
    if p.get("init_from"):
        load_trained(model, run.init)
        run.note(f"network: the trained {p['init_from']} (seed {run.seed}), {run.init}")
    model = model.to(run.device, dtype)
    trace = gdu.residual_trace(model, x, y, p["t1"])
    run.artifacts["residual"] = trace
    run.record(
        0, "free_phase", residual=trace[-1], residual_bptt_start=trace[p["t1"] - p["t2"] - 1]
    )
    curves: dict[str, list] = {}
    chosen: dict[str, np.ndarray] = {}
    bptt = gdu.bptt_series(model, x, y, p["t1"], p["t2"])  # the same for every β
    free = gdu.free_state(model, model.context(x, y), x, p["t1"])
    for i, beta in enumerate(p["betas"]):
        result = gdu.check(model, x, y, p["t1"], p["t2"], beta, bptt=bptt, free=free)
        run.record(i, "beta", value=beta)
        run.record(i, "regions", **result["regions"])
        for name, metrics in result["metrics"].items():
            run.record(i, name, **metrics)
            if name not in chosen:
                chosen[name] = _curve_elements(result["bptt"][name], p["curve_elements"])
            for series in ("plus", "minus", "bptt"):
                flat = result[series][name].reshape(p["t2"], -1)[:, chosen[name]].T
                curves.setdefault(f"{name}_{series}", []).append(flat)
        sym = {k: v["rel_err_sym"] for k, v in result["metrics"].items() if k.startswith("W")}
        plus = {k: v["rel_err_plus"] for k, v in result["metrics"].items() if k.startswith("W")}
        run.progress(
            i + 1,
            len(p["betas"]),
            beta=beta,
            one_sided_rel_err=float(np.mean(list(plus.values()))),
            symmetric_rel_err=float(np.mean(list(sym.values()))),
            **result["regions"],
        )
    for key, value in curves.items():
        run.artifacts[key] = np.stack(value)  # (beta, element, t)
    run.artifacts["betas"] = np.asarray(p["betas"])


# ------------------------------------------------------------------ train
def make_optimizer(model: EnergyNet, p):
    """Per-layer lr and (coupled L2) weight decay; B_n with the group of W_{n+1}."""
    groups = model.param_groups()
    if len(p["lrs"]) != len(groups) or len(p["weight_decay"]) != len(groups):
        raise ValueError(
            f"lrs and weight_decay need one value per synapse layer ({len(groups)}), got "
            f"{len(p['lrs'])} and {len(p['weight_decay'])}"
        )
    params = [
        {"params": [t for _, t in g], "lr": lr, "weight_decay": wd}
        for g, lr, wd in zip(groups, p["lrs"], p["weight_decay"], strict=True)
    ]
    if p["optimizer"] == "sgd":
        return eager_optimizer(torch.optim.SGD)(params, momentum=p["momentum"])
    return eager_optimizer(torch.optim.Adam)(params)


@torch.no_grad()
def evaluate(model: EnergyNet, x, y, t1: int, batch_size: int) -> float:
    """Test error of the free-phase prediction after T1 steps (the original `evaluate`)."""
    wrong = 0
    for start in range(0, len(x), batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        _, s, _ = free_phase(model, xb, yb, t1)
        wrong += int((model.predict(s) != yb).sum())
    return wrong / len(x)


def train(run) -> None:
    """EP (one-sided / random sign / symmetric) or truncated BPTT, one update per batch."""
    p, device = run.params, run.device
    x_train, y_train, x_test, y_test = load(run, p)
    model = built_on_cpu(build_model, device, p, x_train.shape[1:])
    optimizer = make_optimizer(model, p)
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, p["t_max"], eta_min=p["eta_min"])
        if p["lr_decay"]
        else None
    )
    best = {"epoch": 0, "test_error": 1.0}
    start, state = run.resume()
    if state:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        best = state["best"]
    algorithm, estimator = p["algorithm"], p["estimator"]
    if algorithm == "ep" and estimator is None:
        raise ValueError("algorithm 'ep' needs an estimator")

    if start == 0 and model.vf:
        run.record(0, "angle", **{f"B{n}": a for n, a in enumerate(model.angles(), start=1)})
    test_error = state["test_error"] if state else float("nan")
    for epoch in range(start + 1, p["epochs"] + 1):
        model.train()
        wrong = seen = 0
        losses, residuals = [], []
        for batch in minibatches(len(x_train), p["batch_size"], shuffle=True):
            batch = batch.to(device)
            x, y = x_train[batch], y_train[batch]
            if p["data_aug"]:
                x = augment(x)
            model.draw_masks(x)  # dropout runs only (spec §1.8), fixed for all phases
            if algorithm == "ep":
                s, residual, _ = ep_update(model, x, y, estimator, p["beta"], p["t1"], p["t2"])
                residuals.append(residual)
            else:
                s, _ = bptt_update(model, x, y, p["t1"], p["t2"])
            optimizer.step()
            with torch.no_grad():
                wrong += (model.predict(s) != y).sum()
                losses.append(model.loss_terms(s, y).mean())
            seen += len(y)
        if scheduler is not None and epoch - 1 < p["t_max"]:  # constant eta_min afterwards
            scheduler.step()
        model.masks = None  # evaluation without dropout (the code's eval() masks)
        train_loss = float(torch.stack(losses).mean())
        train_error = float(wrong) / seen
        test_error = evaluate(model, x_test, y_test, p["t1"], p["eval_batch_size"])
        if test_error < best["test_error"]:
            best = {"epoch": epoch, "test_error": test_error}
        values = {
            "error": train_error,
            "loss": train_loss,
            "residual": float(np.mean(residuals)) if residuals else float("nan"),
        }
        run.record(epoch, "train", **values)
        run.record(epoch, "test", error=test_error, best_error=best["test_error"])
        run.record(
            epoch, "lr", **{f"layer{i + 1}": g["lr"] for i, g in enumerate(optimizer.param_groups)}
        )
        angles = {f"B{n}": a for n, a in enumerate(model.angles(), start=1)}
        if angles:
            run.record(epoch, "angle", **angles)
        run.progress(
            epoch,
            p["epochs"],
            train_error=train_error,
            test_error=test_error,
            residual=values["residual"],
            **angles,
        )
        if not run.check_finite(epoch, train_loss):
            break
        run.save_checkpoint(
            epoch,
            model=model.state_dict(),
            optimizer=optimizer.state_dict(),
            scheduler=scheduler.state_dict() if scheduler is not None else None,
            best=best,
            test_error=test_error,
        )
    run.record(best["epoch"], "best", epoch=best["epoch"], test_error=best["test_error"])
    for name, tensor in model.state_dict().items():
        run.artifacts[WEIGHT + name] = tensor.detach().cpu().numpy()


# Divergence bound (repro.runs.Run.check_finite) of the training loss (MSE or
# cross-entropy per example).
LOSS_BOUNDS = {"train": 1e4}

KINDS = {"gducheck": gducheck, "train": train}
