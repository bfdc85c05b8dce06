"""The toy problems of Figs. 2-3: 1-D regression and 2-D classification (16 members).

Neither the paper nor the code gives their settings; the spec's (section 5) and ours
are in docs/forde.md.
2-D: five Gaussian clusters (sigma 1) with centres on a circle of radius 5, 40 train /
20 test points per class, NumPy seed 42 (the `ratschlab/repulsive_ensembles`
generator's setting). 1-D: two clusters of noisy points of a smooth curve, fed to the
network through Izmailov et al. (2019)'s features phi(x) = (x/2, (x/2)^2) - with a
scalar input a unit-normalised input gradient is just +-1 and the repulsion has no
gradient (docs/forde.md). Both train full-batch with Adam; FoRDE adds the same
repulsion R as the image ensembles (identity lengthscales unless `method: forde_pca`).
The baselines of Figs. 2-3, weight-RDE and function-RDE (D'Angelo & Fortuin 2021), add
the KDE repulsion of `kernel.rbf_repulsion` on the members' flattened parameters or on
their outputs at the training inputs, weighted 1/N like FoRDE's R (full batch: the
WGD update divided by N); function-RDE without the SSGE functional-prior term.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from repro import optim
from repro.forde import kernel, metrics
from repro.forde.step import Repulsion, train_step
from repro.models.ensemble import EnsembleMLP
from repro.training import built_on_cpu

TOY_METHODS = ("de", "forde_identity", "forde_pca", "weight_rde", "function_rde")
RDE_METHODS = ("weight_rde", "function_rde")


def two_d_clusters(per_class: int, classes=5, radius=5.0, sigma=1.0, seed=42):
    rng = np.random.RandomState(seed)
    angles = 2 * np.pi * np.arange(classes) / classes
    centres = radius * np.stack([np.cos(angles), np.sin(angles)], 1)
    x = np.concatenate([c + sigma * rng.randn(per_class, 2) for c in centres])
    y = np.repeat(np.arange(classes), per_class)
    return x.astype(np.float32), y


def one_d_data(n_per_cluster: int, noise: float, seed: int = 42):
    """x in U[-6, -3] and U[1, 4]; y = 0.5 + 0.5 sin(0.8 x) + N(0, noise^2)."""
    rng = np.random.RandomState(seed)
    x = np.concatenate([rng.uniform(-6, -3, n_per_cluster), rng.uniform(1, 4, n_per_cluster)])
    y = 0.5 + 0.5 * np.sin(0.8 * x) + noise * rng.randn(len(x))
    return x.astype(np.float32), y.astype(np.float32)


def features(x: torch.Tensor) -> torch.Tensor:
    """phi(x) = (x/2, (x/2)^2) (Izmailov et al. 2019's toy regression features)."""
    return torch.stack([x / 2, (x / 2) ** 2], dim=1)


def _repulsion(p, inputs: torch.Tensor) -> Repulsion | None:
    if p["method"] not in TOY_METHODS:
        raise ValueError(f"unknown toy method {p['method']!r}")
    if p["method"] == "de" or p["method"] in RDE_METHODS:
        return None
    projection = None
    if p["method"] == "forde_pca":
        eigenvalues, basis = kernel.eig_desc(kernel.second_moment(inputs.cpu().numpy()))
        weights = kernel.component_weights(eigenvalues, "pca")
        projection = kernel.projection_matrix(basis, weights, device=inputs.device)
    return Repulsion(projection, p["eps"], p["kernel_variant"], p["repulsion_weight"])


def rde_step(model, optimizer, x, y, nll_fn, method: str, weight: float = 1.0) -> dict:
    """One full-batch step of weight- or function-space RDE: loss = sum_i NLL_i + R / N,
    R = sum_i log sum_j k(v_i, stopgrad v_j), v = flattened parameters (weight_rde) or
    outputs on the batch (function_rde) of each member."""
    optimizer.zero_grad(set_to_none=True)
    out = model(x)  # (M, N, K)
    nll = nll_fn(out, y)
    members = model.members
    if method == "weight_rde":
        particles = torch.cat([q.reshape(members, -1) for q in model.parameters()], 1)
    elif method == "function_rde":
        particles = out.reshape(members, -1)
    else:
        raise ValueError(f"unknown RDE method {method!r}")
    r = kernel.rbf_repulsion(particles) / len(x)
    (nll + weight * r).backward()
    optimizer.step()
    return {"nll": nll.item() / members, "repulsion": r.item(), "median": 0.0}


def _fit(run, model, x, y, rep, nll_fn, index=None):
    p = run.params
    optimizer = optim.Adam(model.parameters(), lr=p["lr"], weight_decay=p["weight_decay"])
    every = max(1, p["steps"] // 20)
    for step in range(1, p["steps"] + 1):
        if p["method"] in RDE_METHODS:
            out = rde_step(model, optimizer, x, y, nll_fn, p["method"], p["repulsion_weight"])
        else:
            out = train_step(model, optimizer, x, y, rep, nll_fn, index)
        if not run.check_finite(step, out["nll"] + out["repulsion"]):
            return False
        if step % every == 0 or step == p["steps"]:
            run.record(step, "train", **out)
            run.progress(step, p["steps"], **out)
    return True


def toy_classification(run) -> None:
    p, device = run.params, run.device
    x, y = two_d_clusters(p["train_per_class"], seed=p["data_seed"])
    xt, yt = two_d_clusters(p["test_per_class"], seed=p["data_seed"] + 1)
    x, y = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    model = built_on_cpu(EnsembleMLP, device, p["members"], [2, *p["hidden"], 5])
    if not _fit(run, model, x, y, _repulsion(p, x), _class_nll):
        return
    model.eval()
    with torch.no_grad():
        xt, yt = torch.from_numpy(xt).to(device), torch.from_numpy(yt).to(device)
        test = metrics.ensemble_metrics(model(xt), yt)
        rng = np.random.RandomState(0)
        radius, angle = rng.uniform(10, 15, 2000), rng.uniform(0, 2 * np.pi, 2000)
        ring = torch.from_numpy(np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1))
        ring_entropy = _entropy(model(ring.float().to(device))).mean().item()
        lim, res = p["grid_extent"], p["grid_size"]
        axis = torch.linspace(-lim, lim, res, device=device)
        gx, gy = torch.meshgrid(axis, axis, indexing="xy")
        grid = _entropy(model(torch.stack([gx.ravel(), gy.ravel()], 1))).view(res, res)
        data_entropy = _entropy(model(x)).mean().item()
    run.record(p["steps"], "test", accuracy=test["accuracy"], nll=test["nll"])
    run.record(p["steps"], "entropy", far_ring=ring_entropy, train_points=data_entropy)
    run.artifacts.update(grid_entropy=grid.cpu().numpy(), x_train=x.cpu().numpy(),
                         y_train=y.cpu().numpy(),
                         extent=np.array(lim))  # fmt: skip


def _class_nll(logits, y):
    members, _, classes = logits.shape
    return (
        torch.nn.functional.cross_entropy(logits.reshape(-1, classes), y.repeat(members)) * members
    )


def _entropy(logits: torch.Tensor) -> torch.Tensor:
    log_pred = torch.logsumexp(torch.log_softmax(logits, -1), 0) - math.log(len(logits))
    return metrics.entropy(log_pred.exp())


def toy_regression(run) -> None:
    p, device = run.params, run.device
    x, y = one_d_data(p["points_per_cluster"], p["noise"], p["data_seed"])
    x, y = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    inputs = features(x)
    sigma = p["noise"]

    def gaussian_nll(out, target):  # sum over members of the batch-mean Gaussian NLL
        return ((out.squeeze(-1) - target) ** 2 / (2 * sigma**2)).mean(1).sum()

    model = built_on_cpu(EnsembleMLP, device, p["members"], [2, *p["hidden"], 1])
    zeros = torch.zeros(len(x), dtype=torch.long, device=device)
    if not _fit(run, model, inputs, y, _repulsion(p, inputs), gaussian_nll, zeros):
        return
    with torch.no_grad():
        grid = torch.linspace(-p["grid_extent"], p["grid_extent"], p["grid_size"], device=device)
        pred = model(features(grid)).squeeze(-1)  # (M, G)
        fit = model(inputs).squeeze(-1).mean(0)
    std = pred.std(0)
    inside = ((grid >= -6) & (grid <= -3)) | ((grid >= 1) & (grid <= 4))
    between = (grid > -3) & (grid < 1)
    outside = (grid < -6) | (grid > 4)
    run.record(
        p["steps"],
        "test",
        train_rmse=((fit - y) ** 2).mean().sqrt().item(),
        std_data=std[inside].mean().item(),
        std_between=std[between].mean().item(),
        std_outside=std[outside].mean().item(),
    )
    run.artifacts.update(
        grid=grid.cpu().numpy(),
        predictions=pred.cpu().numpy(),
        x_train=x.cpu().numpy(),
        y_train=y.cpu().numpy(),
    )
