"""enkf training entry points, one per experiment kind (see docs/enkf.md).

enkf  EnKF training (spec §1.2-1.4). Split `test`, step = iteration it (0-based; the
      checkpoint at `it` is taken after update it): accuracy and error (%) of the
      ensemble-MEAN network, cross-entropy loss. Split `ensemble`: J, reps, spread (mean
      over weights of the std over members), wall_s. Split `adapt` (adaptive runs): one
      row per application of the §1.4 rule: J, reps, acc_prev, acc.
gd    Back-propagation baseline (spec §1.5). Split `test`, step = epoch (0 = initial
      network): error/accuracy (%), loss (Fig. 5). Splits `test_updates` (every
      `eval_every` steps) and `test_epoch` (`epoch_points` evenly spaced points of the
      first epoch), step = SGD step (Fig. 1 cadences). Artifacts: per-iteration
      activation/gradient mean and std of the `stats_epochs` (Figs. 3, 6, 7) and
      gradient snapshots every `snapshot_every` steps of epoch 0 (Fig. 4).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from repro.data import load_images
from repro.enkf import adaptive, kalman
from repro.enkf.model import N_PARAMS, ConvNet, ensemble_forward, load_flat, pool_patches
from repro.training import EVAL_BATCH, built_on_cpu, eager_optimizer, evaluate, minibatches

N_CLASSES = 10
CHANNELS_LAST = torch.channels_last


def _images(x: np.ndarray, device) -> torch.Tensor:
    """uint8 (N,1,28,28) -> float32 in [0, 1] (ToTensor + Normalize(0, 1))."""
    return torch.from_numpy(x).to(device).float().div_(255.0)


def _test_set(run, p, data):
    n = p["test_subset"] or len(data.x_test)
    x = _images(data.x_test[:n], run.device)
    return x, torch.from_numpy(data.y_test[:n]).to(run.device)


def _test(run, net, x_test, y_test, step, split):
    loss, acc = evaluate(net, x_test, y_test)
    run.record(step, split, accuracy=100 * acc, error=100 * (1 - acc), loss=loss)
    return 100 * acc, loss


@torch.no_grad()
def _test_mean(run, net, x_test, y_test, step) -> tuple[float, float]:
    """Test the ensemble-mean network; also record how many classes it predicts, its most
    predicted class and the error a constant prediction of that class would have (the
    first-checkpoint collapse of Fig. 1: 91.08 % = everything predicted as a 5)."""
    logits = torch.cat([net(x_test[i : i + EVAL_BATCH]) for i in range(0, len(x_test), EVAL_BATCH)])
    pred = logits.argmax(1)
    loss = F.cross_entropy(logits, y_test).item()
    acc = 100 * (pred == y_test).float().mean().item()
    top = torch.bincount(pred, minlength=N_CLASSES).argmax()
    run.record(
        step,
        "test",
        accuracy=acc,
        error=100 - acc,
        loss=loss,
        classes=len(pred.unique()),
        top_class=top.item(),
        top_class_error=100 * (y_test != top).float().mean().item(),
    )
    return acc, loss


# --------------------------------------------------------------------------- EnKF
def enkf(run) -> None:
    """EnKF over the training set in fixed order; each batch `repetitions` times."""
    p, device = run.params, run.device
    data = load_images(run.manifests[p["dataset"]])
    B = p["batch_size"]
    n_batches = len(data.x_train) // B  # the partial last batch is dropped (spec pitfall 10)
    if p["train_batches"]:
        n_batches = min(n_batches, p["train_batches"])
    x_train = _images(data.x_train[: n_batches * B], device)
    y_train = F.one_hot(torch.from_numpy(data.y_train[: n_batches * B]), N_CLASSES)
    y_train = y_train.float().to(device)
    x_test, y_test = _test_set(run, p, data)
    net = built_on_cpu(ConvNet, device, p["activation"]).eval()
    rule = (
        adaptive.Rule(
            p["adapt_eps"],
            *p["adapt_bounds"],
            p["adapt_step"],
            p["adapt_tolerance"],
            p["repetitions"],
        )
        if p["adaptive"]
        else None
    )

    # Initial ensemble drawn on the CPU (same numbers on any device), float32 (pitfall 7).
    U = (p["sigma"] * torch.randn(p["J"], N_PARAMS, device="cpu")).to(device)
    s = {"it": 0, "batch": 0, "rep": 0, "reps": p["repetitions"], "acc": None}
    start, saved = run.resume()
    if saved:
        U, s = saved["U"].to(device), saved["loop"]
        _advance(s)
    if p["legacy_batch_shift"]:
        run.note(
            "legacy_batch_shift: the first iteration on each new batch uses the previous "
            "batch's images with the new batch's labels (bug of the original run script)"
        )
    if rule:
        run.note(adaptive.MEMBER_POLICY)
    run.note(f"update form: {p['update_form']} (auto -> {kalman.choose_form(p['J'], N_PARAMS, B)})")

    patches_key, patches = None, None
    while s["batch"] < n_batches and s["it"] < n_batches * s["reps"]:
        k = s["batch"]
        shown = shown_batch(k, s["rep"], p["legacy_batch_shift"])
        if patches_key != shown:
            patches_key, patches = shown, pool_patches(x_train[shown * B : (shown + 1) * B])
        G = ensemble_forward(U, None, p["activation"], p["member_chunk"], patches=patches)
        U = kalman.analysis(U, G, y_train[k * B : (k + 1) * B], p["gamma"], p["update_form"])
        if s["it"] % p["checkpoint_every"] == 0:
            load_flat(net, U.mean(0))
            acc, loss = _test_mean(run, net, x_test, y_test, s["it"])
            spread = U.std(0).mean().item()
            run.record(s["it"], "ensemble", J=U.shape[0], reps=s["reps"], spread=spread)
            run.record(s["it"], "ensemble", wall_s=run.elapsed())
            run.progress(s["it"], n_batches * s["reps"], error=100 - acc, loss=loss, J=U.shape[0])
            if not run.check_finite(s["it"], loss):
                break
            if rule and s["acc"] is not None:
                U = _adapt(run, rule, U, s, acc, p["sigma"])
            s["acc"] = acc
            run.save_checkpoint(s["it"], U=U.cpu(), loop=dict(s))
        else:
            run.tick(s["it"], n_batches * s["reps"])
        _advance(s)
    run.artifacts["mean_weights"] = U.mean(0).cpu().numpy()
    run.progress(s["it"], None, J=U.shape[0], reps=s["reps"])


def shown_batch(batch: int, rep: int, legacy: bool) -> int:
    """Index of the batch whose images are forwarded; the labels are always `batch`'s.

    legacy: the first iteration on each new batch forwards the previous batch's images
    (spec pitfall 3: the original advanced its data iterator before the forward pass)."""
    return batch - 1 if legacy and rep == 0 and batch > 0 else batch


def _advance(s: dict) -> None:
    """Next iteration: same batch until it was used `reps` times (reps may have changed)."""
    s["it"] += 1
    s["rep"] += 1
    if s["rep"] >= s["reps"]:
        s["batch"], s["rep"] = s["batch"] + 1, 0


def _adapt(run, rule, U, s, acc, sigma):
    change = adaptive.decide(rule, U.shape[0], s["reps"], s["acc"], acc)
    if change is None:
        return U
    J, s["reps"] = change
    run.record(s["it"], "adapt", J=J, reps=s["reps"], acc_prev=s["acc"], acc=acc)
    return adaptive.resize(U, J, sigma)


# --------------------------------------------------------------------------- GD
def _init_normal(net: torch.nn.Module, std: float) -> None:
    with torch.no_grad():
        for w in net.parameters():
            w.normal_(0.0, std)


def _optimizer(p, params):
    if p["optimizer"] == "sgd":
        return eager_optimizer(torch.optim.SGD)(params, lr=p["lr"], momentum=p["momentum"])
    return eager_optimizer(torch.optim.Adam)(params, lr=p["lr"])


def gd(run) -> None:
    """ConvNet trained by back-propagation (SGD with momentum or Adam), N(0, std²) init."""
    p, device = run.params, run.device
    data = load_images(run.manifests[p["dataset"]])
    n = p["train_subset"] or len(data.x_train)
    # channels-last: the same network, about 2x faster convolutions on the CPU
    x_train = _images(data.x_train[:n], device).contiguous(memory_format=CHANNELS_LAST)
    y_train = torch.from_numpy(data.y_train[:n]).to(device)
    x_test, y_test = _test_set(run, p, data)
    x_test = x_test.contiguous(memory_format=CHANNELS_LAST)
    B = p["batch_size"]
    per_epoch = -(-n // B)
    updates = set(range(0, p["eval_points"] * p["eval_every"], p["eval_every"]))
    if updates and max(updates) >= p["epochs"] * per_epoch:
        raise ValueError(f"eval_every x eval_points needs more than {p['epochs']} epoch(s)")
    in_epoch = {round(k * per_epoch / p["epoch_points"]) for k in range(p["epoch_points"])}

    with torch.device("cpu"):  # on the CPU, contiguous: same draws on any device
        net = ConvNet(p["activation"])
        _init_normal(net, p["init_std"])
    net = net.to(device, memory_format=CHANNELS_LAST)
    optimizer = _optimizer(p, net.parameters())
    start, saved = run.resume()
    if saved:
        net.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
    else:
        _test(run, net, x_test, y_test, 0, "test")
    for epoch in range(start, p["epochs"]):
        stats = epoch in p["stats_epochs"]
        acts, grads, snaps, losses = [], [], [], []
        for i, idx in enumerate(minibatches(n, B, shuffle=True, device=device)):
            step = epoch * per_epoch + i
            logits, act1, act2 = net.forward_with_activations(x_train[idx])
            loss = F.cross_entropy(logits, y_train[idx])
            optimizer.zero_grad()
            loss.backward()
            losses.append(loss.detach())
            if stats:
                acts.append(_mean_std(act1, act2, logits.detach().softmax(1)))
                grads.append(_mean_std(*(w.grad for w in net.parameters())))
            if epoch == 0 and p["snapshot_every"] and i % p["snapshot_every"] == 0:
                snaps.append([w.grad.mean(0).flatten().cpu().numpy() for w in net.parameters()])
            optimizer.step()
            if step in updates:
                _test(run, net, x_test, y_test, step, "test_updates")
            if epoch == 0 and i in in_epoch:
                _test(run, net, x_test, y_test, step, "test_epoch")
        mean_loss = torch.stack(losses).mean().item()
        run.record(epoch + 1, "train", loss=mean_loss)
        acc, test_loss = _test(run, net, x_test, y_test, epoch + 1, "test")
        run.progress(epoch + 1, p["epochs"], train_loss=mean_loss, test_error=100 - acc)
        if stats:
            _append_stats(run, epoch, torch.stack(acts).cpu(), torch.stack(grads).cpu())
        if snaps:  # Fig. 4: (snapshots, 25 | 250 | 1280) per layer
            for layer, values in enumerate(zip(*snaps, strict=True), start=1):
                run.artifacts[f"grad_snapshot_{layer}"] = np.stack(values)
        if not run.check_finite(epoch + 1, mean_loss):
            break
        run.save_checkpoint(epoch + 1, model=net.state_dict(), optimizer=optimizer.state_dict())


def _mean_std(*tensors: torch.Tensor) -> torch.Tensor:
    """(mean, std) of each tensor: (len(tensors), 2), kept on the device."""
    return torch.stack([torch.stack([t.mean(), t.std()]) for t in tensors]).detach()


def _append_stats(run, epoch: int, acts: torch.Tensor, grads: torch.Tensor) -> None:
    """Artifacts act_stats / grad_stats: (saved epochs, iterations, layer 1-3, mean/std)."""
    art = run.artifacts
    art["stats_epochs"] = np.append(art.get("stats_epochs", np.zeros(0, int)), epoch)
    for name, values in (("act_stats", acts), ("grad_stats", grads)):
        new = values.numpy()[None]
        art[name] = np.concatenate([art[name], new]) if name in art else new


# Divergence bounds (repro.runs.Run.check_finite): cross-entropy; loose, because the
# sigma = 3 initialisations start far above chance (ln 10).
LOSS_BOUNDS = {"enkf": 1e4, "gd": 1e4}

KINDS = {"enkf": enkf, "gd": gd}
