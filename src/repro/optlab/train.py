"""optlab training entry points, one per experiment kind (see docs/optlab.md).

Each takes a `repro.runs.Run` and records metrics (step, split, metric, value):

mnist_mlp      step = batch in epoch 1 (split train_batch) or epoch (train, val); test
               at the last epoch.
init_diag      step = Linear layer index (0, 2, 4, 6, 8); splits activation, gradient,
               weight; metric variance. Raw values go to artifacts for the histograms.
curvature      step = update index t; w1, w2, f recorded before update t.
optim_compare  step = epoch (train loss/accuracy, val loss/accuracy); test accuracy of
               the best-validation model at the last step.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F

from repro.data import load_images
from repro.models.mlp import MLP
from repro.optlab import optim
from repro.optlab.init import initialise
from repro.training import built_on_cpu, eager_optimizer, evaluate, minibatches

N_CLASSES = 10


# transforms.Normalize((mean,), (std,)) after ToTensor: None = ToTensor only (/255, lab
# part 1); "lab" = the lab's (0.5, 0.5), pixels in [-1, 1] (part 2); "uva" = the UvA
# tutorial's FashionMNIST mean and std (0.2861, 0.3530), inputs standardised.
NORMALISATION = {None: (0.0, 1.0), "lab": (0.5, 0.5), "uva": (0.2861, 0.3530)}


def _flat_pixels(images: np.ndarray, normalisation: str | None) -> torch.Tensor:
    """uint8 (N, 1, 28, 28) -> float32 (N, 784), (x / 255 - mean) / std."""
    mean, std = NORMALISATION[normalisation]
    x = torch.from_numpy(images.reshape(len(images), -1)).float() / 255.0
    return (x - mean) / std if normalisation else x


def _fashion_split(run, p, normalisation: str) -> tuple[torch.Tensor, ...]:
    """FashionMNIST normalised, split like `random_split(train, [N - val, val])` seeded."""
    data = load_images(run.manifests[p["dataset"]])
    x, y = _flat_pixels(data.x_train, normalisation), torch.from_numpy(data.y_train)
    generator = torch.Generator(device="cpu").manual_seed(p["split_seed"])
    order = torch.randperm(len(x), generator=generator, device="cpu")
    train_idx, val_idx = order[: len(x) - p["val_size"]], order[len(x) - p["val_size"] :]
    x_test, y_test = _flat_pixels(data.x_test, normalisation), torch.from_numpy(data.y_test)
    return x[train_idx], y[train_idx], x[val_idx], y[val_idx], x_test, y_test


def mnist_mlp(run) -> None:
    """Lab part 1: MLP 784-128-10 (ReLU, dropout) on MNIST with torch.optim.SGD."""
    p, device = run.params, run.device
    data = load_images(run.manifests[p["dataset"]])
    x_all, y_all = _flat_pixels(data.x_train, None), torch.from_numpy(data.y_train)
    order = np.random.RandomState(p["split_seed"]).permutation(len(x_all))
    cut = int(len(x_all) * (1 - p["val_fraction"]))
    train_idx, val_idx = order[:cut][: p["train_subset"]], order[cut:]
    x_train, y_train = x_all[train_idx].to(device), y_all[train_idx].to(device)
    x_val, y_val = x_all[val_idx].to(device), y_all[val_idx].to(device)
    x_test = _flat_pixels(data.x_test, None)[: p["test_subset"]].to(device)
    y_test = torch.from_numpy(data.y_test)[: p["test_subset"]].to(device)

    model = built_on_cpu(
        MLP, device, [x_train.shape[1], *p["hidden"], N_CLASSES], "relu", p["dropout"]
    )
    optimizer = eager_optimizer(torch.optim.SGD)(model.parameters(), lr=p["lr"])
    start, state = run.resume()
    if state:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])

    for epoch in range(start + 1, p["epochs"] + 1):
        model.train()
        losses = []
        for batch in minibatches(len(x_train), p["batch_size"], shuffle=True, device=device):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x_train[batch]), y_train[batch])
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())
        losses = torch.stack(losses).cpu().numpy().astype(float)
        if epoch == 1:
            for index, value in enumerate(losses, start=1):
                run.record(index, "train_batch", loss=value)
        val_loss, val_acc = evaluate(model, x_val, y_val)
        run.record(epoch, "train", loss=losses.mean())
        run.record(epoch, "val", loss=val_loss, accuracy=val_acc)
        run.progress(
            epoch, p["epochs"], train_loss=losses.mean(), val_loss=val_loss, val_accuracy=val_acc
        )
        if not run.check_finite(epoch, float(losses.mean())):
            break
        run.save_checkpoint(epoch, model=model.state_dict(), optimizer=optimizer.state_dict())
    test_loss, test_acc = evaluate(model, x_test, y_test)
    run.record(p["epochs"], "test", loss=test_loss, accuracy=test_acc)
    run.progress(p["epochs"], p["epochs"], test_loss=test_loss, test_accuracy=test_acc)


def init_diag(run) -> None:
    """Lab part 2: activation and weight-gradient statistics of one (activation, init)."""
    p, device = run.params, run.device
    x_train, y_train, *_ = _fashion_split(run, p, "lab")  # compared with the solved lab
    images, labels = x_train[: p["n_images"]].to(device), y_train[: p["n_images"]].to(device)
    with torch.device("cpu"):  # initial draws from the CPU generator, as on any device
        model = MLP([images.shape[1], *p["hidden"], N_CLASSES], p["activation"])
        initialise(model, p["init"], p["init_scale"])
    model.to(device)
    model.eval()
    model.zero_grad()
    F.cross_entropy(model(images), labels).backward()
    with torch.no_grad():
        activations = model.linear_outputs(images)
    for index, layer in enumerate(model.layers):
        if not isinstance(layer, torch.nn.Linear):
            continue
        grad = layer.weight.grad.cpu().numpy()
        act = activations[index].cpu().numpy()
        run.record(index, "activation", variance=np.var(act, dtype=np.float64))
        run.record(index, "gradient", variance=np.var(grad, dtype=np.float64))
        run.record(
            index, "weight", variance=np.var(layer.weight.detach().cpu().numpy(), dtype=np.float64)
        )
        run.artifacts[f"activation_{index}"] = act
        run.artifacts[f"gradient_{index}"] = grad
    run.progress(0, None, layers=len(activations))


def curvature_loss(w1, w2):
    """tanh(w1)^2 + 0.01 |w1| + sigmoid(w2): steep in w1, a slow slope in w2."""
    return torch.tanh(w1) ** 2 + 0.01 * torch.abs(w1) + torch.sigmoid(w2)


def curvature(run) -> None:
    """Lab part 3: the optimizer's path on the pathological curvature."""
    p = run.params
    weights = torch.nn.Parameter(torch.tensor(p["start"], dtype=torch.float32, device=run.device))
    optimizer = optim.make(p["optimizer"], [weights], p)
    for t in range(p["steps"]):
        loss = curvature_loss(weights[0], weights[1])
        run.record(t, "path", w1=weights[0].item(), w2=weights[1].item(), f=loss.item())
        if not run.check_finite(t, loss.item()):
            break
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    run.progress(
        p["steps"],
        p["steps"],
        w1=weights[0].item(),
        w2=weights[1].item(),
        f=curvature_loss(weights[0], weights[1]).item(),
    )


def optim_compare(run) -> None:
    """UvA extension: train the ReLU/Kaiming net with one hand-written optimizer; keep
    the best-validation weights and report their test accuracy."""
    p, device = run.params, run.device
    split = _fashion_split(run, p, p["normalisation"])
    x_train, y_train, x_val, y_val, x_test, y_test = (t.to(device) for t in split)
    x_train, y_train = x_train[: p["train_subset"]], y_train[: p["train_subset"]]
    with torch.device("cpu"):  # initial draws from the CPU generator, as on any device
        model = MLP([x_train.shape[1], *p["hidden"], N_CLASSES], "relu")
        initialise(model, "kaiming")
    model.to(device)  # same seed -> same initial model for every optimizer
    optimizer = optim.make(p["optimizer"], model.parameters(), p)
    best = {"epoch": 0, "val_accuracy": -1.0, "model": copy.deepcopy(model.state_dict())}
    start, state = run.resume()
    if state:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        best = state["best"]

    for epoch in range(start + 1, p["epochs"] + 1):
        model.train()
        losses, correct, count = [], 0, 0
        for batch in minibatches(
            len(x_train), p["batch_size"], shuffle=True, drop_last=True, device=device
        ):
            optimizer.zero_grad()
            logits = model(x_train[batch])
            loss = F.cross_entropy(logits, y_train[batch])
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())
            correct += (logits.argmax(1) == y_train[batch]).sum()
            count += len(batch)
        train_loss = torch.stack(losses).mean().item()
        train_acc = (correct / count).item()
        val_loss, val_acc = evaluate(model, x_val, y_val)
        run.record(epoch, "train", loss=train_loss, accuracy=train_acc)
        run.record(epoch, "val", loss=val_loss, accuracy=val_acc)
        run.progress(
            epoch,
            p["epochs"],
            train_loss=train_loss,
            train_accuracy=train_acc,
            val_accuracy=val_acc,
        )
        if not run.check_finite(epoch, train_loss):
            break
        if val_acc > best["val_accuracy"]:
            best = {
                "epoch": epoch,
                "val_accuracy": val_acc,
                "model": copy.deepcopy(model.state_dict()),
            }
        run.save_checkpoint(
            epoch, model=model.state_dict(), optimizer=optimizer.state_dict(), best=best
        )
    model.load_state_dict(best["model"])
    test_loss, test_acc = evaluate(model, x_test, y_test)
    run.record(p["epochs"], "test", loss=test_loss, accuracy=test_acc, best_epoch=best["epoch"])
    run.progress(p["epochs"], p["epochs"], best_epoch=best["epoch"], test_accuracy=test_acc)


# Divergence bounds (repro.runs.Run.check_finite): mean cross-entropy above 100 nats
# (chance is ln 10 = 2.3); the curvature loss is ~1 near its start.
LOSS_BOUNDS = {"mnist_mlp": 100.0, "optim_compare": 100.0, "curvature": 1e3}

KINDS = {
    "mnist_mlp": mnist_mlp,
    "init_diag": init_diag,
    "curvature": curvature,
    "optim_compare": optim_compare,
}
