"""FoRDE training entry points (`KINDS`): image ensembles and the two toy problems.

Every member of an ensemble is trained in the same process and the same step, as one
stacked network (`repro.models.ensemble`). Runs with the same seed share the
initialisation, the batch order and the augmentation draws, whatever the method, so
seeds pair DE with FoRDE.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np
import torch

from repro.data import check_manifest, load_images, reader_of
from repro.forde import corruption, kernel, metrics
from repro.forde import data as fdata
from repro.forde.step import (
    Repulsion,
    forward_with_input_grads,
    make_optimizer,
    train_step,
    training_layout,
)
from repro.forde.toys import toy_classification, toy_regression
from repro.training import built_on_cpu, minibatches

METHODS = ("de", "forde_pca", "forde_identity", "forde_tuned")
SUBSTITUTE_NOTE = (
    "dataset substituted: the paper trains on {paper}; this preset uses {data} "
    "(spec section 5) with synthetic corruptions"
)


# ----------------------------------------------------------------------- pieces
def lr_factor(t: float, milestones=(0.5, 0.9), ratio: float = 0.01) -> float:
    """The code's LrScheduler: 1 up to m1, linear to `ratio` at m2, then `ratio`."""
    m1, m2 = milestones
    if t <= m1:
        return 1.0
    if t <= m2:
        return 1.0 - (1.0 - ratio) * (t - m1) / (m2 - m1)
    return ratio


def build_model(name: str, members: int, channels: int, classes: int, size: int):
    from repro.models.ensemble import EnsembleSmallCNN
    from repro.models.resnet import PreActResNet18, ResNet18

    if name == "small_cnn":
        return EnsembleSmallCNN(members, channels, classes, size)
    if name == "resnet18":
        return ResNet18(members, classes, channels)
    if name == "preact_resnet18":
        return PreActResNet18(members, classes, channels)
    raise ValueError(f"unknown model {name!r}")


def kernel_projection(run, p, n_train: int, channels: int, device) -> tuple:
    """(U diag(sqrt(w)), w0) of the method, from resources/pca/<dataset>.npz; (None, 0)
    = identity. w0 > 0 only for a PCA of fewer images than pixels (`kernel_basis`)."""
    if p["method"] in ("de", "forde_identity"):
        return None, 0.0
    if not run.pca:
        raise ValueError(f"method {p['method']} needs `pca: true` (the dataset's PCA)")
    from repro import pca as pca_io

    mean, std = fdata.NORMALISATION[p["dataset"]]
    found = pca_io.load(run.pca)
    eigenvalues, basis = kernel.kernel_basis(found, n_train, mean, std, channels)
    dims = found.components.shape[1]
    if len(eigenvalues) < dims:
        run.note(f"PCA of fewer images than pixels: kernel basis of rank {len(eigenvalues)}")
    mode = "pca" if p["method"] == "forde_pca" else "tuned"
    run.artifacts["pca_eigenvalues"] = np.pad(eigenvalues, (0, dims - len(eigenvalues))).astype(
        np.float32
    )
    return kernel.low_rank_projection(
        eigenvalues, basis, dims, mode, p["alpha"] or 0.0, p["tuned_form"], device=device
    )


def fast_forward_copy(model):
    """An eval-mode copy of `model` for the evaluation's forward passes (`predict`,
    `input_gradients`): channels-last on the CPU, where oneDNN's convolutions and
    max-pools cost about a third of NCHW's in a forward pass and 0.7x in an input-gradient
    pass (same arithmetic, float rounding apart). Training stays NCHW: there
    channels-last does not pay for FoRDE's double backward. On other devices: `model`."""
    device = next(model.parameters()).device
    if device.type != "cpu":
        return model
    return copy.deepcopy(model).eval().to(memory_format=torch.channels_last)


@torch.no_grad()
def predict(model, x, normalise, batch: int) -> torch.Tensor:
    """Member logits (M, N, K) in eval mode, x uint8 or [0, 1] float (CPU)."""
    device = next(model.parameters()).device
    channels_last = device.type == "cpu" and x.dim() == 4
    out = []
    for start in range(0, len(x), batch):
        xb = x[start : start + batch].to(device)
        xb = normalise(fdata.to_unit(xb) if xb.dtype == torch.uint8 else xb)
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        out.append(model(xb).float().cpu())
    return torch.cat(out, dim=1)


def input_gradients(model, x, y, normalise, batch: int) -> torch.Tensor:
    """True-class input gradients (M, N, D) in eval mode (BN running statistics)."""
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(x), batch):
        xb = x[start : start + batch].to(device)
        xb = normalise(fdata.to_unit(xb) if xb.dtype == torch.uint8 else xb)
        _, g = forward_with_input_grads(model, xb, y[start : start + batch].to(device), False)
        out.append(g.cpu())
    return torch.cat(out, dim=1)


def corrupted_sets(run, p, x_test, y_test):
    """Yield (type, severity, images, labels) of the configured corrupted test sets."""
    spec = p["corruptions"]
    if spec["source"] == "synthetic":
        clean = fdata.to_unit(x_test[: p["corrupt_subset"]])
        labels = y_test[: p["corrupt_subset"]]
        for name in spec["types"]:
            for severity in range(1, 6):
                yield (
                    name,
                    severity,
                    corruption.corrupt(clean, name, severity, spec["seed"]),
                    labels,
                )
        return
    # the train rule gives the -C set's manifest (download_dataset fetched and checked it)
    manifest = Path(run.manifests[spec["source"]])
    reader = reader_of(check_manifest(manifest))
    sub = manifest.parent / reader["folder"]
    if reader["format"] == "cifar_c":
        types = spec["types"] or corruption.CIFAR_C_TYPES
        for name in types:
            for severity in range(1, 6):
                x, y = corruption.cifar_c(sub, name, severity, p["corrupt_subset"])
                yield name, severity, torch.from_numpy(x), torch.from_numpy(y)
        return
    if reader["format"] != "tinyimagenet_c":
        raise ValueError(f"{spec['source']}: no corrupted-set reader {reader['format']!r}")
    types = spec["types"] or corruption.tinyimagenet_c_types(sub)
    run.note(f"Tiny-ImageNet-C has {len(types)} corruption types here: {', '.join(types)}")
    # sorted wnids: the label order of repro.data's TinyImageNet loader
    classes = sorted(p.name for p in (sub / types[0] / "1").iterdir())
    for name in types:
        for severity in range(1, 6):
            x, y = corruption.tinyimagenet_c(sub, name, severity, classes)
            x, y = x[: p["corrupt_subset"]], y[: p["corrupt_subset"]]
            yield name, severity, torch.from_numpy(x), torch.from_numpy(y)


# ----------------------------------------------------------------------- image ensembles
def ensemble(run) -> None:
    """DE / FoRDE-PCA / FoRDE-Identity / FoRDE-Tuned on an image dataset (spec 1.5, 2)."""
    p, device = run.params, run.device
    if p["method"] not in METHODS:
        raise ValueError(f"unknown method {p['method']!r}")
    images = load_images(run.manifests[p["dataset"]])
    x_train, y_train, x_test, y_test = images.x_train, images.y_train, images.x_test, images.y_test
    n_full = len(x_train)  # the PCA file covers the whole training split, as the code's
    classes = int(max(y_train.max(), y_test.max())) + 1  # of the dataset, not of a subset
    x_train, y_train = x_train[: p["train_subset"]], y_train[: p["train_subset"]]
    x_test, y_test = x_test[: p["test_subset"]], y_test[: p["test_subset"]]
    if p["dataset"] in ("mnist", "fashion_mnist"):
        run.note(SUBSTITUTE_NOTE.format(paper="CIFAR-10/100", data=p["dataset"]))
    channels, size = x_train.shape[1], x_train.shape[2]
    normalise = fdata.normaliser(p["dataset"], device)
    xtr = torch.from_numpy(np.ascontiguousarray(x_train)).to(device)
    ytr = torch.from_numpy(y_train).to(device)
    xte, yte = torch.from_numpy(np.ascontiguousarray(x_test)), torch.from_numpy(y_test)

    model = built_on_cpu(build_model, device, p["model"], p["members"], channels, classes, size)
    model = training_layout(model, p["method"] != "de")
    optimizer = make_optimizer(model, p["lr"], p["momentum"], p["weight_decay"])
    rep = None
    if p["method"] != "de":
        projection, isotropic = kernel_projection(run, p, n_full, channels, device)
        rep = Repulsion(projection, p["eps"], p["kernel_variant"], isotropic=isotropic)
    steps_per_epoch = len(xtr) // p["batch_size"]
    total = p["epochs"] * steps_per_epoch

    start, state = run.resume()
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
    # Step cost: CPU seconds on the CPU (this process, its threads; a shared machine's
    # load leaves them alone where it stretches wall time), wall seconds on a GPU.
    clock = time.process_time if device.type == "cpu" else time.perf_counter
    step_times = []
    for epoch in range(start, p["epochs"]):
        model.train()
        sums = {"nll": 0.0, "repulsion": 0.0, "median": 0.0}
        for i, idx in enumerate(minibatches(len(xtr), p["batch_size"], drop_last=True)):
            step = epoch * steps_per_epoch + i
            t = (epoch / p["epochs"]) if p["schedule_unit"] == "epoch" else step / total
            lr = p["lr"] * lr_factor(t, tuple(p["milestones"]), p["lr_ratio"])
            for group in optimizer.param_groups:
                group["lr"] = lr
            xb = fdata.to_unit(xtr[idx.to(device)])
            if p["augment"]:
                xb = fdata.random_crop_flip(xb)
            tick = clock()
            out = train_step(model, optimizer, normalise(xb), ytr[idx.to(device)], rep)
            step_times.append(clock() - tick)
            for k in sums:
                sums[k] += out[k]
            if not run.check_finite(step, out["nll"] + out["repulsion"]):
                return
        means = {k: v / steps_per_epoch for k, v in sums.items()}
        run.record(epoch + 1, "train", lr=lr, **means)
        run.progress(epoch + 1, p["epochs"], **means)
        run.save_checkpoint(epoch + 1, model=model.state_dict(), optimizer=optimizer.state_dict())
    if step_times:
        seconds = float(np.mean(step_times))
        run.record(p["epochs"], "time", seconds_per_step=seconds)
    evaluate(run, model, normalise, xte, yte)


def evaluate(run, model, normalise, xte, yte) -> None:
    """Clean and corrupted metrics after the last epoch (spec 2.5), BN in eval mode."""
    p = run.params
    model.eval()
    bins, batch, n_grad = p["ece_bins"], p["eval_batch"], p["grad_points"]
    fast = fast_forward_copy(model)
    clean = metrics.ensemble_metrics(predict(fast, xte, normalise, batch), yte, bins)
    grads = input_gradients(fast, xte[:n_grad], yte[:n_grad], normalise, batch)
    clean["grad_cos"] = metrics.gradient_cosine_distance(grads)
    run.record(p["epochs"], "test", **clean)
    run.record(
        0, "corrupt", **{k: clean[k] for k in ("accuracy", "nll", "ece", "epistemic", "grad_cos")}
    )
    pooled: dict[int, list] = {}
    cells = []
    for name, severity, x, y in corrupted_sets(run, p, xte, yte):
        logits = predict(fast, x, normalise, batch)
        cell = metrics.ensemble_metrics(logits, y, bins)
        g = input_gradients(fast, x[:n_grad], y[:n_grad], normalise, batch)
        cell["grad_cos"] = metrics.gradient_cosine_distance(g)
        run.record(severity, f"c_{name}", **{k: cell[k] for k in ("accuracy", "nll", "ece")})
        cells.append(cell)
        pooled.setdefault(severity, []).append((logits, y, cell["grad_cos"]))
    if not cells:
        return
    for severity, parts in sorted(pooled.items()):
        logits = torch.cat([lg for lg, _, _ in parts], dim=1)
        y = torch.cat([t for _, t, _ in parts])
        m = metrics.ensemble_metrics(logits, y, bins)
        m["grad_cos"] = float(np.mean([g for _, _, g in parts]))
        run.record(
            severity,
            "corrupt",
            **{k: m[k] for k in ("accuracy", "nll", "ece", "epistemic", "grad_cos")},
        )
        pooled[severity] = m
    run.record(
        p["epochs"],
        "corrupt_mean",
        accuracy=float(np.mean([c["accuracy"] for c in cells])),
        nll=float(np.mean([c["nll"] for c in cells])),
        ece=float(np.mean([c["ece"] for c in cells])),
        ece_pooled=float(np.mean([m["ece"] for m in pooled.values()])),
    )
    run.progress(
        p["epochs"],
        p["epochs"],
        accuracy=clean["accuracy"],
        nll=clean["nll"],
        c_accuracy=float(np.mean([c["accuracy"] for c in cells])),
        grad_cos=clean["grad_cos"],
    )


# Divergence bound (repro.runs.Run.check_finite) of a step's NLL + repulsion.
LOSS_BOUNDS = {"ensemble": 1e4}

KINDS = {
    "ensemble": ensemble,
    "toy_classification": toy_classification,
    "toy_regression": toy_regression,
}
