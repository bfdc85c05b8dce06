"""The lab's hand-written optimizers (section 4 of the lab), with checkpointable state.

Update rules, g = current gradient:
  SGD            w <- w - lr * g
  SGDMomentum    m <- b1 * m + (1 - b1) * g;  w <- w - lr * m      (EMA form, not torch's)
  Adam           t += 1; m, v as EMAs of g and g^2; w <- w - lr * m_hat / (sqrt(v_hat) + eps)
The arithmetic follows the lab's order of operations, so float32 paths match it.
"""

from __future__ import annotations

import torch


class OptimizerTemplate:
    def __init__(self, params, lr: float):
        self.params = list(params)
        self.lr = lr
        self.state: list[dict] = [{} for _ in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            if p.grad is not None:
                p.grad.detach_()
                p.grad.zero_()

    def step(self) -> None:
        with torch.no_grad():  # a block, not a decorator: mutmut skips decorated functions
            for p, state in zip(self.params, self.state, strict=True):
                if p.grad is not None:
                    self.update_param(p, state)

    def update_param(self, p: torch.Tensor, state: dict) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {
            "state": [
                {k: v.clone() if torch.is_tensor(v) else v for k, v in s.items()}
                for s in self.state
            ]
        }

    def load_state_dict(self, state_dict: dict) -> None:
        self.state = [dict(s) for s in state_dict["state"]]


class SGD(OptimizerTemplate):
    def update_param(self, p, state):
        p.add_(-self.lr * p.grad)


class SGDMomentum(OptimizerTemplate):
    def __init__(self, params, lr: float, momentum: float = 0.0):
        super().__init__(params, lr)
        self.momentum = momentum

    def update_param(self, p, state):
        m = state.get("m", torch.zeros_like(p))
        state["m"] = (1 - self.momentum) * p.grad + self.momentum * m
        p.add_(-self.lr * state["m"])


class Adam(OptimizerTemplate):
    def __init__(
        self, params, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ):
        super().__init__(params, lr)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps

    def update_param(self, p, state):
        state["t"] = state.get("t", 0) + 1
        m = state.get("m", torch.zeros_like(p))
        v = state.get("v", torch.zeros_like(p))
        state["m"] = (1 - self.beta1) * p.grad + self.beta1 * m
        state["v"] = (1 - self.beta2) * p.grad**2 + self.beta2 * v
        m_hat = state["m"] / (1 - self.beta1 ** state["t"])
        v_hat = state["v"] / (1 - self.beta2 ** state["t"])
        p.add_(-(self.lr / (torch.sqrt(v_hat) + self.eps)) * m_hat)


def make(name: str, params, p: dict) -> OptimizerTemplate:
    """Build optimizer `name` (sgd | sgd_momentum | adam) from hyperparameters `p`."""
    if name == "sgd":
        return SGD(params, lr=p["lr"])
    if name == "sgd_momentum":
        return SGDMomentum(params, lr=p["lr"], momentum=p["beta1"])
    if name == "adam":
        return Adam(params, lr=p["lr"], beta1=p["beta1"], beta2=p["beta2"], eps=p["eps"])
    raise ValueError(f"unknown optimizer {name!r}")
