"""levelsets training entry points, one per experiment kind (see docs/levelsets.md).

traversal     phase 1 (Adam to a near-zero loss L0 on the fixed subset S) then the
              phase-2 walk on the level set L = L0 (`repro.levelsets.walk`).
              split phase1: step = epoch, train_loss (mean of the epoch's batches);
              split walk: step = predictor index k (model before step k): angle, R,
              train_loss, gap (= L - L0), train_metric, test_loss, test_metric, eta_p,
              and gap_after (L - L0 right after step k, before any corrector; for the
              last step the loss recomputed at the final weights by `evaluate`);
              a run stopped by the corrector cap is `diverged` and its walk rows are
              renamed `walk_diverged`, so summaries average complete walks only;
              split levelset, step 0: L0, counts, speed, the largest gap after a
              predictor step, how many steps landed outside the band, and final_gap
              (L recomputed at the final weights - L0). Artifacts: weight snapshots
              (after predictor step 1 and every `snapshot_every`), final weights.
weight_decay  the baseline: Adam on data loss + lambda * sum of squared kernels, every
              lambda of the grid trained side by side as members of one flat tensor.
              splits `train@<lambda>` (loss incl. penalty, metric: running means of the
              epoch) and `test@<lambda>` (loss, metric), step = epoch; lambda is written
              as repr(float) so summaries aggregate by exact (lambda, seed) keys.

The metric is accuracy (fraction) for classification and MSE for Auto-MPG.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from repro.levelsets import walk
from repro.levelsets.datasets import Split, load
from repro.levelsets.nets import Net, flat_grad, nonzero_columns
from repro.training import eager_optimizer

CHECKPOINT_SECONDS = 300.0
# Largest first-layer activation tensor of one chunk of a full-batch pass (evaluation, and
# the walk's loss and gradient): 8 MB, about the L2 + L3 share of one job (chunks of 155
# MNIST_CONV images run a walk step in ~0.6x the CPU time of one 500-image pass).
CHUNK_FLOATS = 2**21


def lam_key(lam: float) -> str:
    """Exact text key of a lambda value (spec pitfall 7: never match by substring)."""
    return repr(float(lam))


def split_name(part: str, lam: float) -> str:
    return f"{part}@{lam_key(lam)}"


def member_seed(seed: int, index: int) -> int:
    """Seed of baseline member `index` of run `seed`: its own init and data subset."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


# --------------------------------------------------------------------------- losses
def data_loss(out: torch.Tensor, y: torch.Tensor, regression: bool) -> torch.Tensor:
    """Per-member mean loss, (E,): cross-entropy from logits, or MSE. `y` is (B,) when
    the members share targets, (E, B) otherwise."""
    if regression:
        return (out.squeeze(-1) - y).square().mean(dim=-1)
    y = y.expand(out.shape[0], -1) if y.dim() == 1 else y
    return F.cross_entropy(out.transpose(1, 2), y, reduction="none").mean(dim=-1)


def data_metric(out: torch.Tensor, y: torch.Tensor, regression: bool) -> torch.Tensor:
    """Per-member accuracy (fraction) or MSE, (E,)."""
    if regression:
        return (out.squeeze(-1) - y).square().mean(dim=-1)
    return (out.argmax(dim=-1) == y).float().mean(dim=-1)


# Largest set of first-layer patches `prepared` keeps (128 MB): a fixed image set (S, the
# test subset) is unfolded once instead of at every pass over it.
PATCH_FLOATS = 2**25


def prepared(net: Net, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """x prepared for repeated passes, as a pair (inputs, columns) for `Net.forward`.
    Dense-input network: x without its all-zero features and their indices (MNIST pixels
    that are 0 in every image of x: ~22 % of the first layer's work). Conv network: the
    first layer's patches (`Net.patches`) if they fit in `PATCH_FLOATS`, else x."""
    if net.n_conv:
        fits = x.shape[:-3].numel() * net.patch_size <= PATCH_FLOATS
        return (net.patches(x) if fits else x), None
    columns = nonzero_columns(x)
    if len(columns) == x.shape[-1]:
        return x, None
    return x[..., columns].contiguous(), columns


@torch.no_grad()
def evaluate(net: Net, w: torch.Tensor, x, y: torch.Tensor, regression: bool):
    """(loss, metric), each (E,), of members `w` (E, P) on a shared set `x` (a tensor or
    a `prepared` pair), in chunks that bound the activation memory."""
    x, columns = x if isinstance(x, tuple) else (x, None)
    members, params = w.shape[0], net.views(w)
    chunk = chunk_size(net, members)
    loss = torch.zeros(members, device=w.device)
    metric = torch.zeros(members, device=w.device)
    for start in range(0, len(x), chunk):
        xb, yb = x[start : start + chunk], y[start : start + chunk]
        out = net.forward(params, xb.expand(members, *xb.shape), columns)
        loss += data_loss(out, yb, regression) * len(xb)
        metric += data_metric(out, yb, regression) * len(xb)
    return loss / len(x), metric / len(x)


def chunk_size(net: Net, members: int = 1) -> int:
    """Examples per chunk of a full-batch pass (`CHUNK_FLOATS`)."""
    return max(1, CHUNK_FLOATS // (members * net.activation_size))


def adam(w: torch.Tensor, p: dict) -> torch.optim.Adam:
    """Keras' Adam defaults: eps 1e-7 (PyTorch's is 1e-8), betas (0.9, 0.999). `w` is the
    flat (E, P) matrix, without requires_grad; the caller sets `w.grad` (`flat_grad`)."""
    return eager_optimizer(torch.optim.Adam)(
        [w], lr=p["lr"], betas=(0.9, 0.999), eps=p["adam_eps"], fused=True
    )


def batches(n: int, size: int) -> list[slice]:
    """Fixed-order batches: Keras caches the shuffled subset, so every epoch is alike."""
    return [slice(start, start + size) for start in range(0, n, size)]


# --------------------------------------------------------------------------- traversal
def phase1(run, net: Net, data: Split, w: torch.Tensor) -> float:
    """Adam for `phase1_epochs` on S in fixed batches; returns L0 = full-batch loss on S."""
    p = run.params
    optimizer = adam(w, p)
    params = net.views(w, grad=True)
    x, columns = prepared(net, data.x_train.unsqueeze(0))
    y = data.y_train
    for epoch in range(1, p["phase1_epochs"] + 1):
        losses = []
        for b in batches(data.n_train, p["batch_size"]):
            loss = data_loss(net.forward(params, x[:, b], columns), y[b], data.regression)
            w.grad = flat_grad(loss.sum(), params)
            optimizer.step()
            losses.append(loss.detach())
        mean = torch.cat(losses).mean().item()
        run.record(epoch, "phase1", train_loss=mean)
        if epoch % max(1, p["phase1_epochs"] // 5) == 0:
            run.progress(epoch, p["phase1_epochs"], phase1_loss=mean)
        if not run.check_finite(epoch, mean):
            break
    w.grad = None
    loss0, _ = evaluate(net, w, prepared(net, data.x_train), data.y_train, data.regression)
    return float(loss0[0])


def full_batch(net: Net, data: Split):
    """loss_grad(w) for the walk: L and ∇L on the whole of S (mean loss over S), the
    sum of `chunk_size` chunks' contributions (one chunk: one forward/backward)."""
    x, columns = prepared(net, data.x_train.unsqueeze(0))
    y, n = data.y_train, data.n_train
    chunks = batches(n, chunk_size(net))

    def loss_grad(w: torch.Tensor):
        params = net.views(w.unsqueeze(0), grad=True)
        loss, grad, outs = 0.0, None, []
        for b in chunks:
            out = net.forward(params, x[:, b], columns)
            part = data_loss(out, y[b], data.regression)[0]
            if len(chunks) > 1:
                part = part * (out.shape[1] / n)
            g = flat_grad(part, params)[0]
            grad = g if grad is None else grad.add_(g)
            loss += part.item()
            outs.append(out.detach())
        return loss, grad, outs[0] if len(outs) == 1 else torch.cat(outs, 1)

    return loss_grad


def settings(p: dict) -> walk.Settings:
    return walk.Settings(
        eta_p_min=p["eta_p_min"],
        eta_p_max=p["eta_p_max"],
        eta_c=p["eta_c"],
        tolerance=p["tolerance"],
        corrector_cap=p["corrector_cap"],
    )


def traversal(run) -> None:
    """Phase 1 + phase 2 for one seed (spec 1.3-1.4)."""
    p = run.params
    generator = torch.Generator(device="cpu").manual_seed(run.seed)
    data = load(p, run.manifests, generator).to(run.device)
    net = Net(p["architecture"])
    start, saved = run.resume()
    if saved:
        loss0, state, snapshots = saved["loss0"], walk.State(**saved["walk"]), saved["snapshots"]
        state.w = state.w.to(run.device)  # the checkpoint is read onto the CPU
    else:
        w = net.init(1).to(run.device)  # global generator, seeded by repro.runs.execute
        loss0 = phase1(run, net, data, w)
        test_loss, test_metric = evaluate(
            net, w, prepared(net, data.x_test), data.y_test, data.regression
        )
        run.record(
            0, "levelset", L0=loss0, phase1_test_loss=test_loss, phase1_test_metric=test_metric
        )
        run.progress(0, p["steps"], L0=loss0, test_loss=float(test_loss))
        state, snapshots = walk.State(w=w[0].clone(), eta_p=p["eta_p_min"]), []
        if run.diverged or not math.isfinite(loss0):
            return  # phase 1 diverged (run.check_finite marked the run)
    cfg = settings(p)
    loss_grad = full_batch(net, data)
    test_x = prepared(net, data.x_test)
    every = max(1, p["steps"] // 10)

    def log(point: walk.Predicted) -> None:
        k = point.index
        train_metric = data_metric(point.extra, data.y_train, data.regression)[0]
        values = dict(
            angle=point.angle,
            R=point.r,
            train_loss=point.loss,
            gap=point.loss - loss0,
            train_metric=float(train_metric),
            eta_p=point.eta_p,
        )
        if k % p["test_every"] == 0 or k == p["steps"] - 1:
            test_loss, test_metric = evaluate(
                net, point.w.unsqueeze(0), test_x, data.y_test, data.regression
            )
            values.update(test_loss=float(test_loss[0]), test_metric=float(test_metric[0]))
        run.record(k, "walk", **values)
        if k % every == 0:
            run.progress(k, p["steps"], angle=point.angle, R=point.r, gap=point.loss - loss0)

    def landed(k: int, gap: float) -> None:
        run.record(k, "walk", gap_after=gap)

    began, last_checkpoint = time.perf_counter(), time.perf_counter()
    while walk.keep_walking(state, p["steps"], cfg):
        kind = walk.step(state, loss0, loss_grad, cfg, on_predict=log, on_landed=landed)
        if kind == walk.PREDICT and (state.n_pred == 1 or state.n_pred % p["snapshot_every"] == 0):
            snapshots.append((state.n_pred, state.w.cpu().clone()))
        if time.perf_counter() - last_checkpoint > CHECKPOINT_SECONDS:
            run.save_checkpoint(
                state.n_pred, loss0=loss0, walk=state.as_dict(), snapshots=snapshots
            )
            last_checkpoint = time.perf_counter()
    seconds = time.perf_counter() - began
    # The loss at the final weights, recomputed by the chunked no-grad evaluation (not the
    # walk's loss_grad): where the last predictor step landed.
    final_loss, _ = evaluate(
        net, state.w.unsqueeze(0), prepared(net, data.x_train), data.y_train, data.regression
    )
    final_gap = float(final_loss[0]) - loss0
    if state.last == walk.PREDICT:
        walk.landed(state, final_gap, cfg)
        landed(state.n_pred - 1, final_gap)
    run.record(
        0,
        "levelset",
        predictor_steps=state.n_pred,
        corrector_steps=state.n_corr,
        max_corrector_streak=state.max_streak,
        predictor_steps_per_s=(state.n_pred - start) / max(seconds, 1e-9),
    )
    gaps = np.array([v for _, sp, m, v in run.rows if sp == "walk" and m == "gap"])
    norms = np.array([v for _, sp, m, v in run.rows if sp == "walk" and m == "R"])
    run.record(
        0,
        "levelset",
        max_abs_gap=np.abs(gaps).max(initial=0.0),  # logged points: inside by construction
        max_landed_gap=state.max_landed_gap,
        steps_left_band=state.left_band,
        final_gap=final_gap,
        R_increases=int((np.diff(norms) > 0).sum()),
    )
    run.artifacts["complete"] = np.array(not state.capped)
    run.artifacts["snapshot_steps"] = np.array([k for k, _ in snapshots], dtype=np.int64)
    run.artifacts["snapshots"] = torch.stack([s for _, s in snapshots]).cpu().numpy()
    run.artifacts["final_weights"] = state.w.cpu().numpy()
    if state.capped:
        run.mark_diverged(
            f"corrector cap: more than {cfg.corrector_cap} consecutive corrector steps "
            f"after predictor step {state.n_pred}"
        )
        run.rows = [(s, "walk_diverged" if sp == "walk" else sp, m, v) for s, sp, m, v in run.rows]
    run.progress(state.n_pred, p["steps"], correctors=state.n_corr, seconds=seconds)


# --------------------------------------------------------------------------- baseline
def weight_decay(run) -> None:
    """Keras `l2(lambda)` baseline (spec 1.5) for every lambda of the grid at once.

    Member j (lambda j) draws its own data subset/order and init from
    `member_seed(seed, j)`, like the original's one seed per (lambda, run)."""
    p = run.params
    lams = [float(v) for v in p["lambdas"]]
    net = Net(p["architecture"])
    members = len(lams)
    splits, inits = [], []
    for j in range(members):
        generator = torch.Generator(device="cpu").manual_seed(member_seed(run.seed, j))
        splits.append(load(p, run.manifests, generator).to(run.device))
        inits.append(net.init(1, generator))
    regression = splits[0].regression
    x, columns = prepared(net, torch.stack([s.x_train for s in splits]))  # (E, N, ...)
    y = torch.stack([s.y_train for s in splits])
    test_x, y_test = prepared(net, splits[0].x_test), splits[0].y_test
    w = torch.cat(inits).to(run.device)
    lam = torch.tensor(lams, device=run.device)
    optimizer = adam(w, p)
    params = net.views(w, grad=True)
    start, saved = run.resume()
    if saved:
        w.copy_(saved["w"])
        optimizer.load_state_dict(saved["optimizer"])
    for epoch in range(start + 1, p["epochs"] + 1):
        totals = torch.zeros(members, device=w.device)
        data_totals = torch.zeros(members, device=w.device)
        metrics = torch.zeros(members, device=w.device)
        for b in batches(x.shape[1], p["batch_size"]):
            out = net.forward(params, x[:, b], columns)
            fit = data_loss(out, y[:, b], regression)
            losses = fit + lam * penalty(net, params)
            w.grad = flat_grad(losses.sum(), params)
            optimizer.step()
            totals += losses.detach() * out.shape[1]
            data_totals += fit.detach() * out.shape[1]
            metrics += data_metric(out.detach(), y[:, b], regression) * out.shape[1]
        train_loss, train_metric = totals / x.shape[1], metrics / x.shape[1]
        test = epoch % p["test_every"] == 0 or epoch == p["epochs"]
        if test:
            test_loss, test_metric = evaluate(net, w, test_x, y_test, regression)
        for j, value in enumerate(lams):
            run.record(
                epoch, split_name("train", value), loss=train_loss[j], metric=train_metric[j]
            )
            if test:
                run.record(
                    epoch, split_name("test", value), loss=test_loss[j], metric=test_metric[j]
                )
        if epoch % max(1, p["epochs"] // 5) == 0:
            run.progress(
                epoch, p["epochs"], **{f"loss@{v:g}": train_loss[j] for j, v in enumerate(lams)}
            )
        else:  # a paper-scale MNIST_CONV epoch is ~10 s on a CPU: time each (repro.cost)
            run.tick(epoch, p["epochs"])
        # The data loss: with the paper's grid (lambda up to 1e6) the penalty alone is ~1e8
        # at the start, a large loss but no divergence; weights gone non-finite make the
        # data loss non-finite too.
        if not run.check_finite(epoch, float(data_totals.sum() / x.shape[1])):
            break
        if epoch % 50 == 0 and epoch < p["epochs"]:
            run.save_checkpoint(epoch, w=w.clone(), optimizer=optimizer.state_dict())
    run.record(0, "reference", constant_loss=constant_loss(splits[0], y_test))
    for value in p["keep_weights"]:
        run.artifacts[f"final_weights@{lam_key(value)}"] = w[lams.index(float(value))].cpu().numpy()


def penalty(net: Net, params: list[torch.Tensor]) -> torch.Tensor:
    """Keras l2 regulariser without lambda: sum of squared kernel entries per member (E,);
    biases are not penalised and there is no 1/2 (spec pitfall 8)."""
    kernels = [v for v, t in zip(params, net.tensors, strict=True) if t.kernel]
    return torch.stack([v.square().flatten(1).sum(1) for v in kernels]).sum(0)


def constant_loss(data: Split, y_test: torch.Tensor) -> float:
    """Test loss of the best constant prediction fitted on S (what a net with all kernels
    at zero outputs): class frequencies of S, or the mean MPG of S."""
    if data.regression:
        return float((y_test - data.y_train.mean()).square().mean())
    counts = torch.bincount(data.y_train, minlength=int(y_test.max()) + 1).float() + 1e-12
    log_p = (counts / counts.sum()).log()
    return float(-log_p[y_test].mean())


# Divergence bounds (repro.runs.Run.check_finite): phase-1 loss (cross-entropy, or the
# MSE of MPG in mpg^2, ~600 for a constant 0), and the members' summed penalised loss.
LOSS_BOUNDS = {"traversal": 1e6, "weight_decay": 1e6}

KINDS = {"traversal": traversal, "weight_decay": weight_decay}
