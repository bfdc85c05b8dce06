"""levelsets: the walk's invariants, closed forms, the baseline penalty, exact-key
aggregation, and (slow) the quick preset's conclusions."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from repro.aggregate import read_summary, summarize
from repro.levelsets import walk
from repro.levelsets.nets import ARCHITECTURES, Net, flat_grad, nonzero_columns
from repro.levelsets.results import baseline_finals
from repro.levelsets.train import adam, data_loss, lam_key, penalty, split_name
from repro.registry import Needs

torch.set_default_dtype(torch.float32)


# --------------------------------------------------------------------------- networks
@pytest.mark.parametrize(
    "name, size",
    [
        ("MNIST_FF", 99_710),
        ("MNIST_CONV", 54_930),
        ("CIFAR10_CONV", 685_450),
        ("IRIS_FF", 31_103),
        ("MPG_FF", 31_401),
    ],
)
def test_parameter_counts_match_spec(name, size):
    net = Net(name)
    assert net.size == size
    w = net.init(2, torch.Generator().manual_seed(0))
    x = torch.rand(2, 3, *ARCHITECTURES[name]["input"])
    assert net.forward(net.views(w), x).shape == (2, 3, ARCHITECTURES[name]["outputs"])


def test_glorot_normal_is_truncated_and_biases_zero():
    net = Net("MNIST_FF")
    w = net.init(1, torch.Generator().manual_seed(0))[0]
    first = net.tensors[0]
    kernel = w[first.start : first.stop]
    sigma = math.sqrt(2 / (784 + 100)) / 0.87962566103423978
    assert kernel.abs().max() <= 2 * sigma
    # a normal truncated at ±2σ has std 0.8796 σ: Keras' rescaling makes it the Glorot std
    assert kernel.std().item() == pytest.approx(math.sqrt(2 / 884), rel=0.02)
    biases = ~net.kernel_mask()
    assert torch.count_nonzero(w[biases]) == 0


def test_members_train_independently():
    """E members in one flat tensor under Adam = E separate trainings (Adam is element-wise)."""
    net = Net("IRIS_FF")
    gen = torch.Generator().manual_seed(1)
    w = net.init(3, gen)
    x, y = torch.randn(3, 16, 4, generator=gen), torch.randint(0, 3, (3, 16), generator=gen)
    p = {"lr": 1e-3, "adam_eps": 1e-7}

    def train(w):
        w = w.clone()
        opt, params = adam(w, p), net.views(w, grad=True)
        for _ in range(5):
            w.grad = flat_grad(
                data_loss(net.forward(params, x[: len(w)]), y[: len(w)], False).sum(), params
            )
            opt.step()
        return w

    together = train(w)
    for j in range(3):
        xj, yj = x[j : j + 1], y[j : j + 1]
        alone = w[j : j + 1].clone()
        opt, params = adam(alone, p), net.views(alone, grad=True)
        for _ in range(5):
            alone.grad = flat_grad(data_loss(net.forward(params, xj), yj, False).sum(), params)
            opt.step()
        torch.testing.assert_close(alone[0], together[j], rtol=1e-5, atol=1e-6)


def _reference_forward(net: Net, params: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The spec's network written plainly, one member at a time: conv 3x3 valid + bias,
    tanh, 2x2 average pool (floor), flatten (C, H, W), dense layers with tanh between."""
    members = []
    for j in range(x.shape[0]):
        h, index = x[j], 0
        for _ in range(net.n_conv):
            conv = torch.nn.functional.conv2d(h, params[index][j], params[index + 1][j])
            h = torch.nn.functional.avg_pool2d(torch.tanh(conv), 2)
            index += 2
        h = h.flatten(1)
        while index < len(params):
            h = h @ params[index][j] + params[index + 1][j]
            h = torch.tanh(h) if index + 2 < len(params) else h
            index += 2
        members.append(h)
    return torch.stack(members)


@pytest.mark.parametrize("name", ["MNIST_CONV", "CIFAR10_CONV"])
@pytest.mark.parametrize("members, shared", [(1, True), (3, True), (3, False)])
def test_conv_forward_and_gradient_match_the_plain_network(name, members, shared):
    """The fused conv layers (patch products, cropped rows, tanh+pool in one function)
    compute the plain network: outputs and gradients against float64 conv/tanh/pool."""
    net = Net(name)
    gen = torch.Generator().manual_seed(0)
    w = net.init(members, gen)
    w[:, ~net.kernel_mask()] = 0.1 * torch.randn(int((~net.kernel_mask()).sum()), generator=gen)
    x = torch.rand(1 if shared else members, 5, *ARCHITECTURES[name]["input"], generator=gen)
    x = x.expand(members, *x.shape[1:]) if shared else x
    params = net.views(w, grad=True)
    out = net.forward(params, x)
    grad = flat_grad(out.sin().sum(), params)
    params64 = net.views(w.double(), grad=True)
    out64 = _reference_forward(net, params64, x.double())
    grad64 = flat_grad(out64.sin().sum(), params64)
    torch.testing.assert_close(out.double(), out64, rtol=0, atol=2e-6)
    torch.testing.assert_close(grad.double(), grad64, rtol=0, atol=2e-6 * grad64.abs().max().item())
    # the images' first-layer patches, made once, in place of the images
    patches = net.patches(x[:1]).expand(members, -1, -1, -1, -1) if shared else net.patches(x)
    assert patches.shape[-3:] == (4, net.patch_size // (4 * net.taps), net.taps)
    out_p = net.forward(params, patches)
    torch.testing.assert_close(out_p, out, rtol=0, atol=1e-6)


def test_full_batch_loss_grad_in_chunks_is_the_one_pass_mean(monkeypatch):
    """The walk's loss and gradient summed over chunks = mean loss over S in one pass."""
    from repro.levelsets import train
    from repro.levelsets.datasets import Split

    net = Net("MNIST_CONV")
    gen = torch.Generator().manual_seed(2)
    w = net.init(1, gen)[0]
    x, y = torch.rand(23, 1, 28, 28, generator=gen), torch.randint(0, 10, (23,), generator=gen)
    data = Split(x_train=x, y_train=y, x_test=x[:3], y_test=y[:3], regression=False)
    params = net.views(w.unsqueeze(0).double(), grad=True)
    loss64 = torch.nn.functional.cross_entropy(
        _reference_forward(net, params, x[None].double())[0], y
    )
    grad64 = flat_grad(loss64, params)[0]
    monkeypatch.setattr(train, "CHUNK_FLOATS", 5 * net.activation_size)  # chunks 5,5,5,5,3
    assert train.chunk_size(net) == 5
    loss, grad, out = train.full_batch(net, data)(w)
    assert out.shape == (1, 23, 10)
    assert loss == pytest.approx(loss64.item(), rel=1e-6)
    torch.testing.assert_close(grad.double(), grad64, rtol=0, atol=1e-6 * grad64.abs().max().item())


def test_pruned_columns_give_the_same_outputs_and_gradient():
    net = Net("MNIST_FF")
    w = net.init(1, torch.Generator().manual_seed(0))
    x = torch.rand(1, 50, 784)
    x[..., :300] = 0
    columns = nonzero_columns(x)
    assert len(columns) == 484
    params = net.views(w, grad=True)
    full = net.forward(params, x)
    g_full = flat_grad(full.square().sum(), params)
    part = net.forward(params, x[..., columns], columns)
    g_part = flat_grad(part.square().sum(), params)
    torch.testing.assert_close(full, part)
    torch.testing.assert_close(g_full, g_part)


# --------------------------------------------------------------------------- the walk
def test_predictor_direction_is_unit_and_orthogonal_to_grad_loss():
    gen = torch.Generator().manual_seed(0)
    g_r, g_l = torch.randn(1000, generator=gen), torch.randn(1000, generator=gen)
    d = walk.predictor_direction(g_r, g_l, rms_floor=1e-6)
    assert d.norm().item() == pytest.approx(1.0, abs=1e-6)
    assert abs((d @ g_l).item()) / g_l.norm().item() < 1e-6
    assert (d @ g_r).item() > 0  # still a descent direction for R (w <- w - eta d)
    tiny = g_l * 1e-9  # RMS below the floor: the direction is grad R itself
    torch.testing.assert_close(walk.predictor_direction(g_r, tiny, 1e-6), g_r / g_r.norm())


def _net_problem(seed=0):
    """An IRIS-sized network on random data: loss_grad(w) on the flat vector."""
    net = Net("IRIS_FF")
    gen = torch.Generator().manual_seed(seed)
    w = net.init(1, gen)[0]
    x, y = torch.randn(1, 60, 4, generator=gen), torch.randint(0, 3, (60,), generator=gen)

    def loss_grad(w):
        params = net.views(w.unsqueeze(0), grad=True)
        loss = data_loss(net.forward(params, x), y, False)[0]
        return loss.item(), flat_grad(loss, params)[0], None

    return w, loss_grad


def test_predictor_step_on_a_network_is_tangent_to_the_level_set():
    w, loss_grad = _net_problem()
    loss0, g_l, _ = loss_grad(w)
    state = walk.State(w=w.clone(), eta_p=1e-4)
    seen = []
    settings = walk.Settings(eta_p_min=1e-4, eta_p_max=0.1, eta_c=1e-4)
    assert walk.step(state, loss0, loss_grad, settings, on_predict=seen.append) == walk.PREDICT
    assert abs((state.d_prev @ g_l).item()) <= 1e-5 * g_l.norm().item()
    torch.testing.assert_close(state.w, w - 1e-4 * state.d_prev)
    assert seen[0].r == pytest.approx((w @ w).item(), rel=1e-6)


def test_corrector_sequence_returns_to_the_level_set():
    w, loss_grad = _net_problem(1)
    loss0, g_l, _ = loss_grad(w)
    state = walk.State(w=w + 2e-3 * g_l / g_l.norm(), eta_p=1e-4)  # pushed off: L > L0 + 1e-5
    assert loss_grad(state.w)[0] - loss0 > 1e-5
    settings = walk.Settings(eta_p_min=1e-4, eta_p_max=0.1, eta_c=1e-4)
    kinds = []
    while not kinds or kinds[-1] == walk.CORRECT:
        kinds.append(walk.step(state, loss0, loss_grad, settings))
        assert len(kinds) < settings.corrector_cap
    assert kinds.count(walk.CORRECT) >= 1 and kinds[-1] == walk.PREDICT
    # the predictor fired because the correctors had brought |L - L0| within 1e-5
    assert state.n_pred == 1 and state.n_corr == len(kinds) - 1


def test_corrector_cap_stops_the_walk():
    w, loss_grad = _net_problem(2)
    loss0 = loss_grad(w)[0] - 1.0  # unreachable with tiny fixed corrector steps
    settings = walk.Settings(eta_p_min=1e-4, eta_p_max=0.1, eta_c=1e-6, corrector_cap=5)
    state = walk.State(w=w.clone(), eta_p=1e-4)
    while walk.keep_walking(state, 10, settings):
        walk.step(state, loss0, loss_grad, settings)
    assert state.capped and state.n_corr == 5 and state.n_pred == 0


def test_step_size_rule_of_the_released_code():
    """eta_p: x1.1 while the direction turns < 0.1°, reset to the minimum after a corrector."""
    settings = walk.Settings(eta_p_min=1e-4, eta_p_max=0.1, eta_c=1e-4)
    w = torch.tensor([3.0, 4.0], dtype=torch.float64)
    state = walk.State(w=w.clone(), eta_p=1e-4)

    def flat(w):  # L constant: every step is a predictor along w (no turn)
        return 0.0, torch.zeros_like(w), None

    etas = []
    for _ in range(4):
        walk.step(state, 0.0, flat, settings, on_predict=lambda p: etas.append(p.eta_p))
    assert etas == [1e-4, 1.1e-4, 1.21e-4, 1.331e-4]
    state.last = walk.CORRECT
    walk.step(state, 0.0, flat, settings, on_predict=lambda p: etas.append(p.eta_p))
    assert etas[-1] == 1e-4


def _least_squares(seed=0, n=12, d=6, scale=0.5):
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(n, d, generator=gen, dtype=torch.float64) * scale
    b = torch.randn(n, generator=gen, dtype=torch.float64) * 3

    def loss_grad(w):
        r = a @ w - b
        return float(r @ r / n), 2 * a.T @ r / n, None

    return a, b, loss_grad


def _min_norm_on_level_set(a, b, level):
    """Closed form: min ||w||² s.t. mean((Aw - b)²) = level, w = ν (I + ν AᵀA)⁻¹ Aᵀ b."""
    u, s, _ = torch.linalg.svd(a, full_matrices=False)
    beta = u.T @ b
    outside = float(b @ b - beta @ beta)

    def residual(nu):
        return (float(((beta / (1 + nu * s**2)) ** 2).sum()) + outside) / len(b)

    lo, hi = 0.0, 1.0
    while residual(hi) > level:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if residual(mid) > level else (lo, mid)
    nu = (lo + hi) / 2
    return float(((nu * s * beta / (1 + nu * s**2)) ** 2).sum())


def test_walk_on_least_squares_decreases_R_to_the_closed_form_minimum():
    """L = mean((Aw - b)²): its level sets are ellipsoids and the point of smallest norm
    on one has a closed form. R must fall monotonically until the walk gets there (at
    the optimum ∇R ∥ ∇L, and the fixed minimal steps then jitter R by ~eta²)."""
    a, b, loss_grad = _least_squares()
    w_ls = torch.linalg.lstsq(a, b).solution
    gen = torch.Generator().manual_seed(3)
    w0 = w_ls + 0.5 * torch.randn(a.shape[1], generator=gen, dtype=torch.float64)
    loss0 = loss_grad(w0)[0]
    assert loss_grad(torch.zeros_like(w0))[0] > loss0  # the origin is off the level set
    settings = walk.Settings(eta_p_min=1e-4, eta_p_max=0.1, eta_c=1e-5)
    state = walk.State(w=w0.clone(), eta_p=settings.eta_p_min)
    norms, etas, landed = [], [], []

    def log(p):
        norms.append(p.r)
        etas.append(p.eta_p)

    while walk.keep_walking(state, 6000, settings):
        walk.step(state, loss0, loss_grad, settings, log, lambda k, gap: landed.append(gap))
    assert not state.capped and state.n_corr > 0
    target = _min_norm_on_level_set(a, b, loss0)
    norms = np.array(norms)
    assert norms[0] > 5 * target  # a long descent was needed
    descending = norms[: np.argmax(norms < target * (1 + 1e-4))]
    assert len(descending) > 100
    assert np.all(np.diff(descending) <= 0)  # R never increases on the way down
    # every landing (before any corrector) within the band + the second-order term
    curvature = 2 * float(torch.linalg.matrix_norm(a, 2) ** 2) / len(b)  # λmax of ∇²L
    bound = 1e-5 + 0.5 * np.array(etas[: len(landed)]) ** 2 * curvature
    assert np.all(np.abs(landed) <= bound)
    assert norms[-1] == pytest.approx(target, rel=1e-4)


def test_gap_after_a_predictor_step_is_the_closed_form_second_order_term():
    """Where the tolerance can fail: the gap right after each predictor step. On
    L(w) = ½ wᵀHw − bᵀw a step w − ηd with d ⟂ ∇L changes L by exactly ½ η² dᵀHd, so the
    landed gap is bounded by the step size: |Δ| <= ½ η² λmax(H). A predictor that is not
    tangent would add the first-order term −η ∇L·d; a wrong step size shows too."""
    h = torch.tensor([0.5, 1.0, 2.0, 4.0, 8.0], dtype=torch.float64)
    b = torch.tensor([1.0, -2.0, 0.5, 1.5, -1.0], dtype=torch.float64)

    def loss(w):
        return float(0.5 * (h * w * w).sum() - b @ w)

    def loss_grad(w):
        return loss(w), h * w - b, None

    w0 = torch.tensor([3.0, -1.0, 2.0, 1.0, -0.5], dtype=torch.float64)
    loss0 = loss(w0)
    settings = walk.Settings(eta_p_min=1e-3, eta_p_max=3e-3, eta_c=1e-6)
    state = walk.State(w=w0.clone(), eta_p=settings.eta_p_min)
    before, after = {}, {}

    def on_predict(p):
        before[p.index] = (p.w.clone(), p.eta_p, p.loss - loss0)

    while walk.keep_walking(state, 300, settings):
        walk.step(state, loss0, loss_grad, settings, on_predict, lambda k, g: after.update({k: g}))
    assert len(after) == 299 and state.n_corr > 0  # the last step's landing is not yet seen
    for k, gap in after.items():
        w, eta, gap_before = before[k]
        g_r, g_l = 2 * w, h * w - b
        d = g_r - (g_r @ g_l) / (g_l @ g_l) * g_l
        d = d / d.norm()
        second = 0.5 * eta**2 * float(d @ (h * d))
        assert gap == pytest.approx(loss(w - eta * d) - loss0, abs=1e-12)
        assert gap - gap_before == pytest.approx(second, rel=1e-6, abs=1e-13)
        assert abs(gap - gap_before) <= 0.5 * eta**2 * float(h.max()) + 1e-13
    gaps = np.array(list(after.values()))
    assert state.max_landed_gap == pytest.approx(np.abs(gaps).max())
    assert state.left_band == int((gaps**2 > settings.tolerance).sum()) > 0  # correctors ran


# --------------------------------------------------------------------------- baseline
def test_penalty_is_lambda_sum_of_squared_kernels_without_biases():
    net = Net("MNIST_CONV")
    w = net.init(2, torch.Generator().manual_seed(0))
    w[:, ~net.kernel_mask()] = 0.5  # non-zero biases must not count
    params = net.views(w, grad=True)
    value = penalty(net, params)
    expected = (w[:, net.kernel_mask()] ** 2).sum(dim=1)
    torch.testing.assert_close(value, expected)
    lam = torch.tensor([0.0, 1e-3])
    grad = flat_grad((lam * value).sum(), params)
    torch.testing.assert_close(
        grad[:, net.kernel_mask()], 2 * lam[:, None] * w[:, net.kernel_mask()]
    )
    assert torch.count_nonzero(grad[:, ~net.kernel_mask()]) == 0  # no 1/2, no biases


def test_baseline_aggregates_by_exact_lambda_keys(tmp_path):
    """λ = 1, 10, 1e-06, 1e-05 ... never mix (the released Viz code matched substrings)."""
    lams = [0.0, 1e-6, 1e-5, 1.0, 10.0, 100.0]
    runs = []
    for seed in range(2):
        rows = []
        for j, lam in enumerate(lams):
            value = 10.0 * j + seed  # mean over seeds = 10 j + 0.5
            rows += [
                (3, split_name("test", lam), "loss", value),
                (3, split_name("test", lam), "metric", -value),
            ]
            rows += [(1, split_name("test", lam), "loss", 1e9)]  # earlier epoch: ignored
        rows.append((0, "reference", "constant_loss", 2.3))
        metrics = tmp_path / f"m{seed}.csv"
        pd.DataFrame(rows, columns=["step", "split", "metric", "value"]).to_csv(
            metrics, index=False
        )
        record = tmp_path / f"r{seed}.json"
        record.write_text(f'{{"seed": {seed}, "status": "ok", "wall_time_s": 1.0}}')
        runs.append((metrics, record))
    summary_path = tmp_path / "summary.csv"
    summarize("L2_X", runs).to_csv(summary_path, index=False)
    finals = baseline_finals(read_summary(summary_path))
    assert finals["lambda"].tolist() == lams
    assert finals["loss_mean"].tolist() == pytest.approx([10.0 * j + 0.5 for j in range(6)])
    assert finals["loss_std"].tolist() == pytest.approx([0.5] * 6)  # population std
    assert (finals["n"] == 2).all() and (finals["epoch"] == 3).all()
    assert lam_key(1e-3) == "0.001" and lam_key(1) == "1.0"


# --------------------------------------------------------------------------- quick preset
@pytest.mark.slow
def test_quick_preset_conclusions(quick_workflow):
    from repro.levelsets.results import run_value, walk_point

    summaries = quick_workflow / "results" / "levelsets" / "summary"
    for exp in ("MNIST_FF", "MNIST_CONV", "IRIS_FF", "MPG_FF"):
        s = read_summary(summaries / f"{exp}.csv")
        # where the tolerance can fail: right after each predictor step, and at the final
        # weights recomputed by a separate evaluation
        assert run_value(s, "max_landed_gap") <= 2e-5, exp
        assert abs(run_value(s, "final_gap")) <= 1e-5, exp
        assert run_value(s, "R_increases") == 0, exp
        assert walk_point(s, "R", -1)["mean"] < walk_point(s, "R", 0)["mean"], exp
        assert walk_point(s, "angle", -1)["mean"] > walk_point(s, "angle", 0)["mean"], exp
    mnist = read_summary(summaries / "MNIST_FF.csv")
    first, last = walk_point(mnist, "test_metric", 0), walk_point(mnist, "test_metric", -1)
    assert abs(last["mean"] - first["mean"]) <= 0.02  # test accuracy about flat
    for exp in ("L2_MNIST_FF", "L2_IRIS_FF"):
        finals = baseline_finals(read_summary(summaries / f"{exp}.csv"))
        largest, best = finals.iloc[-1], finals["loss_mean"].min()
        assert largest["loss_mean"] >= 0.9 * largest["constant_loss"], exp  # degenerate
        assert largest["loss_mean"] > 1.5 * best, exp
    figures = quick_workflow / "results" / "figures" / "levelsets"
    if hasattr(Needs, "made"):  # a figure whose experiment the preset does not run
        assert not (figures / "fig2_CIFAR10_CONV.png").exists()
    table = pd.read_csv(quick_workflow / "results" / "tables" / "levelsets" / "table1.csv")
    assert "CIFAR-10" in table[table["experiment"] == "CIFAR10_CONV"]["note"].iloc[0]


# --------------------------------------------------------------------------- outputs
def _traversal_inputs(landed=(3e-6, 4e-6, 5e-6), final=(1e-6, -2e-6, 3e-6), diverged=()):
    """Inputs of one IRIS_FF traversal experiment with three seeds, from a per-seed
    table written out here: R falls by 1 per step, the angle rises 0.1° per step, the test
    loss of seed k changes by -(k + 1) * 1e-3 over the walk."""
    from repro.aggregate import summarize_per_seed
    from repro.outputs import Inputs

    rows = []
    for seed in range(3):
        split = "walk_diverged" if seed in diverged else "walk"
        for step in range(10):
            values = {
                "angle": 100 + 0.1 * step,
                "R": 500.0 - step,
                "gap": 1e-6,
                "gap_after": landed[seed] * (step + 1) / 10,
                "test_loss": 0.5 - (seed + 1) * 1e-4 * step,
                "test_metric": 0.9,
            }
            rows += [(seed, step, split, m, v) for m, v in values.items()]
        per_run = {
            "L0": 1e-4,
            "max_landed_gap": landed[seed],
            "steps_left_band": int(landed[seed] > 1e-5),
            "final_gap": final[seed],
            "R_increases": 0,
        }
        rows += [(seed, 0, "levelset", m, v) for m, v in per_run.items()]
        rows += [(seed, 0, "run", "diverged", float(seed in diverged))]
        rows += [(seed, 0, "run", "wall_time_s", 1.0)]
    table = pd.DataFrame(rows, columns=["seed", "step", "split", "metric", "value"])
    table.insert(0, "experiment", "IRIS_FF")
    params = {
        "kind": "traversal",
        "architecture": "IRIS_FF",
        "dataset": "iris",
        "tolerance": 1e-10,
        "seeds": [0, 1, 2],
    }
    return Inputs(
        paper="levelsets",
        preset="quick",
        experiments={"IRIS_FF": params},
        summaries={"IRIS_FF": summarize_per_seed(table)},
        per_seed={"IRIS_FF": table},
    )


def _verdicts(inputs):
    """claim (without the architecture, first 25 characters) -> row; not-run rows kept
    apart under their architecture."""
    from repro.levelsets.tables import scorecard

    return {
        r["claim"] if r["verdict"] == "not run" else r["claim"].split(": ", 1)[1][:25]: r
        for r in scorecard(inputs)
    }


def test_scorecard_scores_the_gap_measured_after_each_predictor_step():
    rows = _verdicts(_traversal_inputs())
    tolerance = rows["the training loss stays a"]
    assert tolerance["verdict"] == "qualitative claim holds"
    assert "5.00e-06" in tolerance["ours"]  # the largest landing over the runs
    assert rows["R = ||w||² decreases mono"]["verdict"] == "qualitative claim holds"
    assert "-9" in rows["R = ||w||² decreases mono"]["ours"]  # ΔR per run
    assert rows["the ∇R-∇L angle drifts up"]["verdict"] == "qualitative claim holds"
    falls = rows["test loss falls slightly "]
    assert falls["verdict"] == "qualitative claim holds"
    assert "-9.00e-04, -1.80e-03, -2.70e-03" in falls["ours"]  # paired, per seed
    # a landing one band too far, or a final loss off the level set: the claim fails
    far = _verdicts(_traversal_inputs(landed=(3e-6, 2.5e-5, 5e-6)))
    assert far["the training loss stays a"]["verdict"] == "differs"
    off = _verdicts(_traversal_inputs(final=(1e-6, 1.5e-5, 0.0)))
    assert off["the training loss stays a"]["verdict"] == "differs"
    # a run stopped by the corrector cap: every walk row of the experiment says so
    capped = _verdicts(_traversal_inputs(diverged=(1,)))
    walk_rows = [r for r in capped.values() if r["claim"].startswith("IRIS_FF")]
    assert len(walk_rows) == 6 and {r["verdict"] for r in walk_rows[:5]} == {"diverged"}
    # the four architectures without experiments, and IRIS_FF's baseline, are not run
    not_run = [r["claim"] for r in capped.values() if r["verdict"] == "not run"]
    assert len(not_run) == 5 and "IRIS_FF: weight-decay baseline" in not_run


def test_fig2_draws_each_run_as_its_change_and_the_landed_gap_on_a_log_axis():
    from repro.levelsets import figures

    fig = figures.fig2_IRIS_FF(_traversal_inputs(diverged=(2,)))
    axes = fig.axes
    r_lines = [line for line in axes[1].lines if line.get_label().startswith("seed")]
    assert len(r_lines) == 2  # the capped run (seed 2) is not drawn
    np.testing.assert_allclose(r_lines[0].get_ydata(), -np.arange(10.0))  # change from step 0
    assert axes[-1].get_yscale() == "log"
    band = [line for line in axes[-1].lines if "tolerance" in line.get_label()]
    assert band and band[0].get_ydata()[0] == pytest.approx(1e-5)
    assert "2 of 3 runs complete (1/3 diverged" in fig.get_suptitle()


@pytest.mark.parametrize("snapshots, colorbar", [(3, False), (8, True)])
def test_fig7_draws_a_short_walk_with_fewer_components(tmp_path, snapshots, colorbar):
    # 3 snapshots z-score to a PCA of 2 components: no 3-D panel can be drawn, and the
    # figure says so instead of failing; 8 give the 6 components of every panel
    import matplotlib

    matplotlib.use("Agg")
    from repro.levelsets import figures
    from repro.outputs import Inputs

    rng = np.random.default_rng(0)
    path = tmp_path / "artifacts.npz"
    np.savez(path, snapshots=rng.normal(size=(snapshots, 20)), final_weights=rng.normal(size=20))
    params = {"kind": "traversal", "steps": snapshots, "snapshot_every": 1}
    inputs = Inputs(
        "levelsets", "paper-tiny", {"MNIST_FF": params}, {}, artifacts={"MNIST_FF": {0: str(path)}}
    )
    fig = figures.fig7(inputs)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert ("fewer than 6 components" in texts) == (snapshots < 7)
    assert any(ax.get_label() == "<colorbar>" for ax in fig.axes) == colorbar


def test_the_paper_lambda_grid_is_no_divergence(manifests, tmp_path):
    """At the paper's grid top (lambda 1e6) the penalty alone is ~1e8 at the start: a large
    regularised loss, not a diverging run (the check reads the data loss)."""
    from repro import runs
    from repro.config import load, resolve_experiments

    params = resolve_experiments(load("config/config.yaml", "config/paper.yaml"), "levelsets")
    params = {**params["L2_IRIS_FF"], "epochs": 3}
    assert max(params["lambdas"]) >= 1e6
    record = runs.execute(
        "levelsets", "L2_IRIS_FF", 0, params, tmp_path, device="cpu",
        manifests={"iris": manifests("iris")},
    )  # fmt: skip
    assert record["status"] == "ok", record.get("status_reason")
    # a non-finite weight still stops the run
    bad = {**params, "lambdas": [0.0, float("inf")]}
    record = runs.execute(
        "levelsets", "L2_IRIS_FF", 0, bad, tmp_path / "bad", device="cpu",
        manifests={"iris": manifests("iris")},
    )  # fmt: skip
    assert record["status"] == "diverged"
