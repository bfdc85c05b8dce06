"""Fully connected networks held as a flat ModuleList (Linear, activation[, dropout], ...)."""

from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = {"identity": nn.Identity, "tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid}


class MLP(nn.Module):
    """`sizes` = [inputs, hidden..., outputs]; the activation (and dropout, if any) follow
    every Linear but the last. Inputs are flattened first."""

    def __init__(self, sizes: list[int], activation: str = "relu", dropout: float = 0.0):
        super().__init__()
        act = ACTIVATIONS[activation]()  # one stateless instance, shared as in the lab
        layers: list[nn.Module] = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(nn.Linear(fan_in, fan_out))
            if i < len(sizes) - 2:
                layers.append(act)
                if dropout > 0:
                    layers.append(nn.Dropout(dropout))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for layer in self.layers:
            x = layer(x)
        return x

    def linear_outputs(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        """Output of every Linear layer (pre-activation), keyed by its index in `layers`."""
        outputs = {}
        x = x.flatten(1)
        for index, layer in enumerate(self.layers):
            x = layer(x)
            if isinstance(layer, nn.Linear):
                outputs[index] = x
        return outputs
