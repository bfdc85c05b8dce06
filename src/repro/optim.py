"""SGD and Adam without `torch.optim`: the same arithmetic, none of its start-up cost.

Building any `torch.optim` optimizer imports `torch._dynamo` (its `_patch_step_function`
and `step` wrappers are `torch._disable_dynamo`-decorated), which pulls in sympy and
triton: about 1.5 CPU-s per training job, as much as a quick toy run's training itself.
These two classes apply the update of `torch.optim.SGD` / `torch.optim.Adam`'s
single-tensor CPU path op for op (tests compare them with `torch.optim` bit for bit),
with `_foreach` kernels so a step over many small tensors costs a few dispatches.

The interface is the part the training loops use: `param_groups[k]["lr"]` (settable),
`zero_grad`, `step`, `state_dict` / `load_state_dict` (for checkpoints).
"""

from __future__ import annotations

import torch


class _Optimizer:
    def __init__(self, params, defaults: dict):
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        self.defaults = dict(defaults)
        self.param_groups = [{"params": params, **defaults}]
        self.state: dict[int, dict] = {}  # by the parameter's position in the group

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.param_groups[0]["params"]:
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.detach_().zero_()

    def _with_grads(self):
        group = self.param_groups[0]
        index = [k for k, p in enumerate(group["params"]) if p.grad is not None]
        return group, index, [group["params"][k] for k in index]

    def state_dict(self) -> dict:
        hyper = {k: v for k, v in self.param_groups[0].items() if k != "params"}
        return {"state": {k: dict(v) for k, v in self.state.items()}, "hyper": hyper}

    def load_state_dict(self, state_dict: dict) -> None:
        params = self.param_groups[0]["params"]
        self.param_groups[0].update(state_dict["hyper"])
        self.state = {}
        for k, entry in state_dict["state"].items():
            self.state[int(k)] = {
                key: value.to(params[int(k)].device) if torch.is_tensor(value) else value
                for key, value in entry.items()
            }


class SGD(_Optimizer):
    """torch.optim.SGD(lr, momentum, dampening=0, weight_decay, nesterov): coupled L2
    weight decay g += wd p; v <- momentum v + g (v = g at the first step);
    p <- p - lr (g + momentum v) with Nesterov, p - lr v without."""

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
        if nesterov and momentum <= 0:
            raise ValueError("Nesterov momentum requires a momentum")
        super().__init__(
            params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay,
                     "nesterov": nesterov},
        )  # fmt: skip

    @torch.no_grad()
    def step(self) -> None:
        group, index, params = self._with_grads()
        if not params:
            return
        grads = [p.grad for p in params]
        wd, momentum, lr = group["weight_decay"], group["momentum"], group["lr"]
        if wd != 0:
            grads = torch._foreach_add(grads, params, alpha=wd)
        if momentum != 0:
            fresh = [k for k in index if "momentum_buffer" not in self.state.get(k, {})]
            for k, g in zip(index, grads, strict=True):
                if k in fresh:
                    self.state[k] = {"momentum_buffer": g.detach().clone()}
            old = [j for j, k in enumerate(index) if k not in fresh]
            if old:
                bufs = [self.state[index[j]]["momentum_buffer"] for j in old]
                torch._foreach_mul_(bufs, momentum)
                torch._foreach_add_(bufs, [grads[j] for j in old])
            bufs = [self.state[k]["momentum_buffer"] for k in index]
            if group["nesterov"]:
                grads = torch._foreach_add(grads, bufs, alpha=momentum)
            else:
                grads = bufs
        torch._foreach_add_(params, grads, alpha=-lr)


class Adam(_Optimizer):
    """torch.optim.Adam(lr, betas, eps, weight_decay) without amsgrad: coupled L2 weight
    decay g += wd p, m <- lerp(m, g, 1 - b1), v <- b2 v + (1 - b2) g^2,
    p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(
            params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay}
        )

    @torch.no_grad()
    def step(self) -> None:
        group, index, params = self._with_grads()
        if not params:
            return
        grads, wd = [p.grad for p in params], group["weight_decay"]
        for k, p in zip(index, params, strict=True):
            if k not in self.state:
                self.state[k] = {
                    "step": 0,
                    "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                    "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format),
                }
        states = [self.state[k] for k in index]
        for s in states:
            s["step"] += 1
        if wd != 0:
            grads = torch._foreach_add(grads, params, alpha=wd)
        # parameters that missed steps (no gradient) have their own bias corrections
        for t in sorted({s["step"] for s in states}):
            at = [j for j, s in enumerate(states) if s["step"] == t]
            self._update(
                [params[j] for j in at], [grads[j] for j in at], [states[j] for j in at], t
            )

    def _update(self, params, grads, states, t: int) -> None:
        group = self.param_groups[0]
        (beta1, beta2), lr, eps = group["betas"], group["lr"], group["eps"]
        exp_avg = [s["exp_avg"] for s in states]
        exp_avg_sq = [s["exp_avg_sq"] for s in states]
        torch._foreach_lerp_(exp_avg, grads, 1 - beta1)
        torch._foreach_mul_(exp_avg_sq, beta2)
        torch._foreach_addcmul_(exp_avg_sq, grads, grads, value=1 - beta2)
        step_size = lr / (1 - beta1**t)
        bias_correction2_sqrt = (1 - beta2**t) ** 0.5
        denom = torch._foreach_sqrt(exp_avg_sq)
        torch._foreach_div_(denom, bias_correction2_sqrt)
        torch._foreach_add_(denom, eps)
        torch._foreach_addcdiv_(params, exp_avg, denom, value=-step_size)
