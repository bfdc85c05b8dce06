"""levelsets: the predictor/corrector walk against closed forms on toy losses.

* the corrector moves by eta_c along sign(L - L0) grad L with the component along the
  last predictor direction removed (so it is orthogonal to that direction);
* the predictor step size follows a recurrence written out here: x1.1 while the
  direction keeps its heading, x0.1 (floored at eta_p,min) when it turns, reset to
  eta_p,min after a corrector, capped at eta_p,max;
* on an ellipse the walk ends at the closed-form minimiser of ||w||^2."""

import math

import pytest
import torch

from repro.levelsets import walk


def _quadratic(a):
    """L(w) = 1/2 w^T diag(a) w."""
    a = torch.as_tensor(a, dtype=torch.float64)

    def loss_grad(w):
        return float(0.5 * (a * w * w).sum()), a * w, None

    return loss_grad


def _linear(a):
    """L(w) = a . w (level sets are hyperplanes)."""
    a = torch.as_tensor(a, dtype=torch.float64)
    return lambda w: (float(a @ w), a.clone(), None)


SETTINGS = walk.Settings(eta_p_min=1e-3, eta_p_max=0.5, eta_c=0.01, tolerance=1e-10)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_corrector_moves_eta_c_orthogonally_to_the_last_predictor_direction(sign):
    torch.manual_seed(0)
    a = torch.tensor([1.0, 2.0, 3.0, 0.5], dtype=torch.float64)
    w = torch.randn(4, dtype=torch.float64)
    loss = float(0.5 * (a * w * w).sum())
    loss0 = loss - sign * 0.3  # the gap L - L0 has sign `sign`
    d_prev = torch.randn(4, dtype=torch.float64)
    d_prev /= d_prev.norm()
    state = walk.State(w=w.clone(), eta_p=0.1, last=walk.PREDICT, d_prev=d_prev)
    assert walk.step(state, loss0, _quadratic(a), SETTINGS) == walk.CORRECT
    moved = w - state.w
    grad = a * w
    e = sign * (grad - (grad @ d_prev) * d_prev)
    expected = SETTINGS.eta_c * e / e.norm()
    torch.testing.assert_close(moved, expected, rtol=1e-12, atol=1e-14)
    assert abs(float(moved @ d_prev)) < 1e-14
    assert float(moved.norm()) == pytest.approx(SETTINGS.eta_c, rel=1e-12)
    assert (state.last, state.n_corr, state.streak, state.n_pred) == (walk.CORRECT, 1, 1, 0)
    # the gap shrinks (the corrector descends c = (L - L0)^2)
    new_gap = _quadratic(a)(state.w)[0] - loss0
    assert abs(new_gap) < 0.3


def test_first_corrector_without_a_predictor_follows_the_gradient():
    a = torch.tensor([1.0, 4.0], dtype=torch.float64)
    w = torch.tensor([1.0, 1.0], dtype=torch.float64)
    state = walk.State(w=w.clone(), eta_p=0.1)
    walk.step(state, 1.0, _quadratic(a), SETTINGS)  # L = 2.5 > L0 = 1: move down grad L
    torch.testing.assert_close(w - state.w, 0.01 * torch.tensor([1.0, 4.0]).double() / 17**0.5)


def test_predictor_moves_along_grad_r_rejected_from_grad_l():
    a = torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64)
    w = torch.tensor([2.0, 0.0, 1.0], dtype=torch.float64)
    state = walk.State(w=w.clone(), eta_p=0.2)
    records = []
    # L = a.w = 2 = L0; grad R = 2w = (4, 0, 2); minus its part along a/sqrt2: (2, -2, 2)
    assert walk.step(state, 2.0, _linear(a), SETTINGS, records.append) == walk.PREDICT
    d = torch.tensor([1.0, -1.0, 1.0], dtype=torch.float64) / math.sqrt(3)
    torch.testing.assert_close(w - state.w, 0.2 * d)
    torch.testing.assert_close(state.d_prev, d)
    rec = records[0]
    assert (rec.index, rec.eta_p, rec.loss, rec.r) == (0, 0.2, 2.0, 5.0)
    # angle between grad R = (4, 0, 2) and grad L = (1, 1, 0): cos = 4 / (sqrt20 sqrt2)
    assert rec.angle == pytest.approx(math.degrees(math.acos(4 / math.sqrt(40))), rel=1e-12)
    assert state.last_angle == rec.angle


def test_predictor_uses_grad_r_itself_below_the_rms_floor():
    w = torch.tensor([3.0, 4.0], dtype=torch.float64)
    tiny = lambda w: (0.0, torch.tensor([1e-7, 0.0], dtype=torch.float64), None)  # noqa: E731
    state = walk.State(w=w.clone(), eta_p=0.5)
    walk.step(state, 0.0, tiny, SETTINGS)
    torch.testing.assert_close(state.w, w - 0.5 * w / 5)


def _reference_walk(x0, eta0, steps, eta_min, eta_max):
    """The predictor along a line, by hand: x <- x - eta sign(x); eta x1.1 (<= max) while
    the sign of x is unchanged, x0.1 (>= min) when it flips (a 180 degree turn)."""
    x, eta, prev, out = x0, eta0, None, []
    for _ in range(steps):
        heading = 1.0 if x > 0 else -1.0
        if prev is not None:
            eta = min(eta * 1.1, eta_max) if heading == prev else max(eta * 0.1, eta_min)
        out.append((x, eta))
        x -= eta * heading
        prev = heading
    return out


def test_predictor_step_size_grows_shrinks_and_is_capped_like_the_recurrence():
    # L = w_z: the level set L = 1 is a plane; grad R rejected from grad L points along
    # (w_x, w_y, 0): with w_y = 0 the walk is along x towards 0 and overshoots.
    loss_grad = _linear([0.0, 0.0, 1.0])
    settings = walk.Settings(eta_p_min=1e-3, eta_p_max=0.3, eta_c=0.01)
    state = walk.State(w=torch.tensor([3.05, 0.0, 1.0], dtype=torch.float64), eta_p=0.1)
    records = []
    keep = lambda r: records.append((r.eta_p, float(r.w[0])))  # noqa: E731 (w is live)
    for _ in range(60):
        assert walk.step(state, 1.0, loss_grad, settings, keep) == walk.PREDICT
    expected = _reference_walk(3.05, 0.1, 60, settings.eta_p_min, settings.eta_p_max)
    etas = [eta for eta, _ in records]
    xs = [x for _, x in records]
    # the code rounds eta to 10 decimals: abs 1e-9
    assert etas == pytest.approx([e for _, e in expected], rel=0, abs=1e-9)
    assert xs == pytest.approx([x for x, _ in expected], abs=1e-8)
    assert max(etas) == settings.eta_p_max  # the cap was reached
    shrunk = [b for a, b in zip(etas, etas[1:], strict=False) if b < a]
    assert shrunk and shrunk[0] == pytest.approx(0.03)  # 0.3 x 0.1 at the first overshoot
    assert min(etas) == settings.eta_p_min  # repeated overshoots reach the floor
    assert abs(xs[-1]) < 2 * settings.eta_p_min + 1e-12


def test_predictor_step_resets_to_the_minimum_after_a_corrector():
    loss_grad = _linear([0.0, 0.0, 1.0])
    state = walk.State(
        w=torch.tensor([3.0, 0.0, 1.0], dtype=torch.float64),
        eta_p=0.4,
        last=walk.CORRECT,
        d_prev=torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64),
    )
    walk.step(state, 1.0, loss_grad, SETTINGS)
    assert state.eta_p == SETTINGS.eta_p_min
    assert float(state.w[0]) == pytest.approx(3.0 - SETTINGS.eta_p_min, abs=1e-15)


def test_corrector_cap_stops_without_moving():
    settings = walk.Settings(eta_p_min=0.1, eta_p_max=1, eta_c=1e-6, corrector_cap=3)
    w = torch.tensor([1.0, 1.0], dtype=torch.float64)
    state = walk.State(w=w.clone(), eta_p=0.1)
    results = [walk.step(state, 100.0, _quadratic([1.0, 1.0]), settings) for _ in range(4)]
    assert results == [walk.CORRECT] * 3 + [walk.CAPPED]
    assert state.capped and state.max_streak == 3 and state.n_corr == 3
    assert float((w - state.w).norm()) == pytest.approx(3e-6, rel=1e-9)
    assert not walk.keep_walking(state, 10, settings)


def test_keep_walking_stops_at_the_step_budget_and_at_180_degrees():
    s = walk.State(w=torch.zeros(1), eta_p=0.1, n_pred=5)
    assert walk.keep_walking(s, 6, SETTINGS) and not walk.keep_walking(s, 5, SETTINGS)
    s.last_angle = 179.9
    assert walk.keep_walking(s, 6, SETTINGS)
    s.last_angle = 180.0
    assert not walk.keep_walking(s, 6, SETTINGS)


def test_walk_on_an_ellipse_reaches_the_closed_form_minimum_of_r():
    # L = (x^2 + 4 y^2) / 2 = L0 = 2: the minimum of R = ||w||^2 on it is R = 1 at (0, +-1)
    loss_grad = _quadratic([1.0, 4.0])
    settings = walk.Settings(eta_p_min=2e-3, eta_p_max=0.05, eta_c=2e-5, tolerance=1e-8)
    w = torch.tensor([0.5, 1.0], dtype=torch.float64)
    w *= math.sqrt(2.0 / loss_grad(w)[0])  # on the level set, R = 1.6
    state = walk.State(w=w, eta_p=settings.eta_p_min)
    for _ in range(5000):
        if not walk.keep_walking(state, 400, settings):
            break
        walk.step(state, 2.0, loss_grad, settings)
    assert state.n_pred == 400 and not state.capped and state.n_corr > 0
    assert float(state.w @ state.w) == pytest.approx(1.0, abs=1e-3)
    assert abs(float(state.w[0])) < 2 * settings.eta_p_min
    assert (loss_grad(state.w)[0] - 2.0) ** 2 < 1e-8


def test_angle_deg_closed_forms():
    e1, e2 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    assert walk.angle_deg(e1, e2) == pytest.approx(90.0)
    assert walk.angle_deg(e1, -e1) == pytest.approx(180.0)
    assert walk.angle_deg(e1, e1 + e2 / 2) == pytest.approx(45.0)
    assert walk.angle_deg(e1, torch.zeros(2)) == 90.0


@pytest.mark.parametrize(("turn", "factor"), [(0.0, 1.1), (0.099, 1.1), (0.101, 0.1), (90, 0.1)])
def test_predictor_step_size_depends_on_the_turn_against_0_1_degrees(turn, factor):
    # at w = (3, 0, 1) with L = w_z the new direction is (1, 0, 0); d_prev is rotated by `turn`
    rad = math.radians(turn)
    state = walk.State(
        w=torch.tensor([3.0, 0.0, 1.0], dtype=torch.float64),
        eta_p=0.2,
        last=walk.PREDICT,
        d_prev=torch.tensor([math.cos(rad), math.sin(rad), 0.0], dtype=torch.float64),
    )
    walk.step(state, 1.0, _linear([0.0, 0.0, 1.0]), SETTINGS)
    assert state.eta_p == pytest.approx(0.2 * factor, rel=1e-9)
    assert float(state.w[0]) == pytest.approx(3.0 - 0.2 * factor, rel=1e-9)
