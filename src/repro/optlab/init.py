"""The lab's initialisation schemes (d_x = fan-in = weight.shape[1], d_y = fan-out).

constant   every parameter, biases included, = c
normal     every parameter, biases included, ~ N(0, std^2)
equal_var  weights ~ N(0, 1/d_x), biases 0
xavier     weights ~ U(-a, a), a = sqrt(6 / (d_x + d_y)) (variance 2 / (d_x + d_y)), biases 0
kaiming    first layer N(0, 1/d_x), later layers N(0, 2/d_x), biases 0 (UvA tutorial)
"""

from __future__ import annotations

import math

import torch
from torch import nn


def initialise(model: nn.Module, scheme: str, scale: float | None = None) -> None:
    """Initialise every nn.Linear of `model` in place (schemes in the module docstring)."""
    # a `with` block, not the decorator: mutmut skips decorated functions (docs/testing.md)
    with torch.no_grad():
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        if scheme in ("constant", "normal") and scale is None:
            raise ValueError(f"init '{scheme}' needs init_scale (the constant or the std)")
        for index, layer in enumerate(linears):
            fan_out, fan_in = layer.weight.shape
            if scheme == "constant":
                layer.weight.fill_(scale)
                layer.bias.fill_(scale)
                continue
            if scheme == "normal":
                layer.weight.normal_(0.0, scale)
                layer.bias.normal_(0.0, scale)
                continue
            if scheme == "equal_var":
                layer.weight.normal_(0.0, 1.0 / math.sqrt(fan_in))
            elif scheme == "xavier":
                bound = math.sqrt(6.0) / math.sqrt(fan_in + fan_out)
                layer.weight.uniform_(-bound, bound)
            elif scheme == "kaiming":
                gain = 1.0 if index == 0 else 2.0  # the input of the first layer is not a ReLU
                layer.weight.normal_(0.0, math.sqrt(gain / fan_in))
            else:
                raise ValueError(f"unknown init scheme {scheme!r}")
            layer.bias.zero_()
