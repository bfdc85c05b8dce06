"""Phase 2: the predictor/corrector walk along the level set L(w) = L0 (spec 1.4).

Reproduces the released code, quirks included (spec section 6):

* predictor: d = ∇R minus its component along ∇L (∇R itself when RMS(∇L) < 1e-6),
  normalised; w <- w - eta_p d. eta_p grows x1.1 while consecutive directions turn less
  than 0.1°, shrinks x0.1 otherwise, and resets to eta_p,min after any corrector;
* corrector: e = ∇c = 2 (L - L0) ∇L minus its component along the last predictor
  direction, normalised; w <- w - eta_c e with eta_c fixed (the released adaptive block
  never fires, pitfall 1);
* tolerance on c = (L - L0)^2 is absolute (pitfall 3);
* new (spec section 5): more than `corrector_cap` consecutive correctors stop the walk,
  which the caller records as a diverged run (the original could loop forever); the
  paper preset sets no cap (`None`), as the released code.

Where the tolerance can fail: a logged point is on the level set by construction (the
predictor fires only inside the band), so the walk also measures the gap right after
each predictor step, before any corrector (`on_landed`, `State.max_landed_gap`,
`State.left_band`): the tangent step moves L only to second order in eta_p.

The walk only needs `loss_grad(w) -> (L, ∇L, extra)` on the flat parameter vector, so it
runs unchanged on a closed-form toy problem (tests) and on the networks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

PREDICT, CORRECT, CAPPED = "predict", "correct", "capped"


@dataclass(frozen=True)
class Settings:
    eta_p_min: float
    eta_p_max: float
    eta_c: float
    tolerance: float = 1e-10  # on c = (L - L0)^2
    corrector_cap: int | None = 200  # consecutive correctors before the run is called
    # diverged; None: no cap
    angle_threshold: float = 0.1  # degrees between consecutive predictor directions
    grow: float = 1.1
    shrink: float = 0.1
    rms_floor: float = 1e-6  # below this RMS(∇L) the predictor direction is ∇R itself


@dataclass
class State:
    """Everything the walk needs to continue (checkpointable)."""

    w: torch.Tensor
    eta_p: float
    last: str | None = None
    d_prev: torch.Tensor | None = None
    n_pred: int = 0
    n_corr: int = 0
    streak: int = 0  # current run of consecutive correctors
    max_streak: int = 0
    last_angle: float = float("nan")
    max_landed_gap: float = 0.0  # largest |L - L0| right after a predictor step
    left_band: int = 0  # predictor steps that landed outside the tolerance band
    capped: bool = False  # stopped by the corrector cap
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Predicted:
    """What is logged at a predictor step: the point before the step."""

    index: int  # 0-based predictor step
    w: torch.Tensor
    loss: float
    angle: float  # between ∇R and ∇L, degrees
    r: float  # ||w||^2
    eta_p: float  # step size used for this step
    extra: object  # whatever loss_grad returned beside (L, ∇L), e.g. outputs on S


def angle_deg(a: torch.Tensor, b: torch.Tensor) -> float:
    """Angle between two vectors in degrees; cosine clipped, zero norms guarded (90°)."""
    norms = float(a.norm()) * float(b.norm())
    if norms == 0.0 or not math.isfinite(norms):
        return 90.0 if norms == 0.0 else float("nan")
    cos = max(-1.0, min(1.0, float(a @ b) / norms))
    return math.degrees(math.acos(cos))


def reject(a: torch.Tensor, b_unit: torch.Tensor) -> torch.Tensor:
    """a minus its component along the unit vector b_unit."""
    return a - (a @ b_unit) * b_unit


def _unit(v: torch.Tensor) -> torch.Tensor:
    norm = v.norm()
    return v / norm if norm > 0 else v


def predictor_direction(g_r: torch.Tensor, g_l: torch.Tensor, rms_floor: float) -> torch.Tensor:
    """Unit vector along ∇R with the component along ∇L removed (code `get_rejection`)."""
    rms = float(g_l.square().mean().sqrt())
    d = reject(g_r, _unit(g_l)) if rms >= rms_floor else g_r
    return _unit(d)


def corrector_direction(g_l: torch.Tensor, gap: float, d_prev: torch.Tensor | None) -> torch.Tensor:
    """Unit vector along ∇c = 2 (L - L0) ∇L, orthogonal to the last predictor direction."""
    e = (2.0 * gap) * g_l
    if d_prev is not None:
        e = reject(e, d_prev)
    return _unit(e)


def step(
    state: State,
    loss0: float,
    loss_grad: Callable[[torch.Tensor], tuple[float, torch.Tensor, object]],
    settings: Settings,
    on_predict: Callable[[Predicted], None] | None = None,
    on_landed: Callable[[int, float], None] | None = None,
) -> str:
    """One iteration of the loop: a predictor or a corrector step (or CAPPED: a corrector
    beyond the cap was needed; nothing moved). Returns which. When the previous iteration
    was a predictor step, the loss computed here is the one it landed on: `on_landed(k,
    L - L0)` gets it with k the index of that predictor step."""
    w = state.w
    loss, g_l, extra = loss_grad(w)
    gap = loss - loss0
    if state.last == PREDICT:
        landed(state, gap, settings)
        if on_landed is not None:
            on_landed(state.n_pred - 1, gap)
    if gap * gap <= settings.tolerance:
        g_r = 2.0 * w
        angle = angle_deg(g_r, g_l)
        d = predictor_direction(g_r, g_l, settings.rms_floor)
        if state.last == PREDICT:
            turn = angle_deg(d, state.d_prev)
            if turn >= settings.angle_threshold:
                state.eta_p = max(round(state.eta_p * settings.shrink, 10), settings.eta_p_min)
            else:
                state.eta_p = min(round(state.eta_p * settings.grow, 10), settings.eta_p_max)
        elif state.last == CORRECT:
            state.eta_p = settings.eta_p_min
        if on_predict is not None:
            record = Predicted(state.n_pred, w, loss, angle, float(w @ w), state.eta_p, extra)
            on_predict(record)
        w.sub_(state.eta_p * d)
        state.d_prev, state.last, state.last_angle = d, PREDICT, angle
        state.n_pred += 1
        state.streak = 0
        return PREDICT
    if settings.corrector_cap is not None and state.streak >= settings.corrector_cap:
        state.capped = True  # one more corrector would exceed the cap: stop here
        return CAPPED
    e = corrector_direction(g_l, gap, state.d_prev)
    w.sub_(settings.eta_c * e)
    state.last = CORRECT
    state.n_corr += 1
    state.streak += 1
    state.max_streak = max(state.max_streak, state.streak)
    return CORRECT


def landed(state: State, gap: float, settings: Settings) -> None:
    """Book the gap L - L0 measured right after a predictor step."""
    state.max_landed_gap = max(state.max_landed_gap, abs(gap))
    state.left_band += int(gap * gap > settings.tolerance)


def keep_walking(state: State, steps: int, settings: Settings) -> bool:
    """The released loop condition plus the corrector cap."""
    below_180 = math.isnan(state.last_angle) or state.last_angle < 180.0
    return state.n_pred < steps and below_180 and not state.capped
