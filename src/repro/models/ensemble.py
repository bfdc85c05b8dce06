"""Ensembles of M networks held as ONE stacked network (members = channel groups).

Every layer keeps the M members' parameters side by side: a convolution is a grouped
convolution with `groups=M` (member-major channels), BatchNorm normalises the M*C
channels separately (per-member statistics), and the head is a batched matmul. A
forward pass computes all members at once; no member loop.

Inputs: `(B, C, H, W)` (shared by all members: the first convolution is then a dense
convolution with the same weights) or `(B, M*C, H, W)` (one copy per member, e.g. a
leaf tensor whose gradient gives every member's input gradient in one backward pass).
Outputs of the head: `(M, B, K)`.

Initialisation follows Haiku's defaults used by the original JAX code: convolution and
hidden linear weights ~ TruncatedNormal(0, 1/sqrt(fan_in)) cut at +-2 std (not
re-scaled), biases 0, BatchNorm scale 1 / offset 0, and the output layer all zeros.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from repro.models import input_gradient


def truncated_normal_(tensor: torch.Tensor, fan_in: int) -> torch.Tensor:
    """Haiku's TruncatedNormal(stddev=1/sqrt(fan_in)): cut at +-2 std, not re-scaled."""
    std = 1.0 / math.sqrt(fan_in)
    return nn.init.trunc_normal_(tensor, mean=0.0, std=std, a=-2 * std, b=2 * std)


class EnsembleConv2d(nn.Module):
    """M independent Conv2d(c_in -> c_out) as one grouped convolution."""

    def __init__(self, members, c_in, c_out, kernel_size, stride=1, padding=0, bias=False):
        super().__init__()
        self.members, self.c_in, self.stride, self.padding = members, c_in, stride, padding
        self.weight = nn.Parameter(torch.empty(members * c_out, c_in, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(members * c_out)) if bias else None
        truncated_normal_(self.weight, c_in * kernel_size * kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Shared input (C channels): a dense conv with the same weights gives every
        # member's output; per-member input (M*C channels): grouped conv.
        groups = 1 if x.shape[1] == self.c_in else self.members
        return input_gradient.conv2d(x, self.weight, self.bias, self.stride, self.padding, groups)


class EnsembleLinear(nn.Module):
    """M independent Linear(f_in -> f_out): (B, M*f_in) or (B, f_in) -> (B, M*f_out)."""

    def __init__(self, members, f_in, f_out, zero=False):
        super().__init__()
        self.members, self.f_in, self.f_out = members, f_in, f_out
        self.weight = nn.Parameter(torch.zeros(members, f_out, f_in))
        self.bias = nn.Parameter(torch.zeros(members, f_out))
        if not zero:
            truncated_normal_(self.weight, f_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == self.f_in and self.members > 1:
            out = torch.einsum("bf,mof->bmo", x, self.weight)
        else:
            out = torch.einsum("bmf,mof->bmo", x.view(len(x), self.members, self.f_in), self.weight)
        return (out + self.bias).reshape(len(x), self.members * self.f_out)


def member_outputs(flat: torch.Tensor, members: int) -> torch.Tensor:
    """(B, M*K) -> (M, B, K)."""
    return flat.view(len(flat), members, -1).transpose(0, 1)


class EnsembleMLP(nn.Module):
    """M ReLU MLPs `sizes = [in, hidden..., out]` (toy problems); output (M, B, out).

    Activations stay member-major, (M, B, F): every layer is one `baddbmm` on contiguous
    blocks (no per-layer transposes, in the backward passes either). Inputs: (B, in),
    shared by all members, or (M, B, in), one copy per member (`member_major`: the
    layout `repro.forde.step` gives the leaf whose gradient holds every member's input
    gradient)."""

    member_major = True

    def __init__(self, members: int, sizes: list[int], zero_head: bool = True):
        super().__init__()
        self.members = members
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(EnsembleLinear(members, a, b, zero=zero_head and i == len(sizes) - 2))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.expand(self.members, *x.shape)
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            # (M, B, f_in) @ (M, f_in, f_out) + bias: member i's x W_i^T + b_i
            x = torch.baddbmm(layer.bias.unsqueeze(1), x, layer.weight.transpose(1, 2))
            if i < last:
                x = F.relu(x)
        return x


class EnsembleSmallCNN(nn.Module):
    """The quick preset's CNN (spec section 5), M members:
    conv3x3(c->16)-ReLU-maxpool2 -> conv3x3(16->32)-ReLU-maxpool2 -> linear(32*H/4*W/4 -> K)."""

    def __init__(self, members: int, in_channels: int, classes: int, image_size: int = 28):
        super().__init__()
        self.members = members
        self.conv1 = EnsembleConv2d(members, in_channels, 16, 3, padding=1, bias=True)
        self.conv2 = EnsembleConv2d(members, 16, 32, 3, padding=1, bias=True)
        side = image_size // 4
        self.head = EnsembleLinear(members, 32 * side * side, classes, zero=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # relu(maxpool(.)) == maxpool(relu(.)), on a quarter of the values
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        # (B, M*32, h, w) -> (B, M*32*h*w): member-major, so each member's block is contiguous
        return member_outputs(self.head(x.flatten(1)), self.members)


class EnsembleBatchNorm(nn.BatchNorm2d):
    """nn.BatchNorm2d over the M*C member-major channels (per-member statistics); inside
    `input_gradient.input_gradient_pass()` in training mode, the explicit-double-backward
    function of `repro.models.input_gradient` (same forward)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return input_gradient.batch_norm(self, x)


def batchnorm(members: int, channels: int) -> nn.BatchNorm2d:
    """Per-member BatchNorm (Haiku: decay 0.9 = momentum 0.1, eps 1e-5, scale 1, offset 0)."""
    return EnsembleBatchNorm(members * channels, eps=1e-5, momentum=0.1)
