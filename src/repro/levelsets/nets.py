"""The paper's five networks as pure functions of a flat parameter matrix.

Parameters live in one float32 tensor `w` of shape (E, P): E independent copies
("members") of a P-parameter network, so the weight-decay grid trains all its lambda
values in one pass (Adam is element-wise, so members never interact) and the level-set
walk (E = 1) gets the flat gradient it needs without concatenating anything.
`forward(w, x)` takes inputs of shape (E, B, ...) and returns (E, B, outputs).

Layer order inside a member (kernel then bias, layer by layer) follows Keras'
`model.trainable_variables`. Kernels are stored PyTorch-style: dense (in, out),
conv (out, in, k, k).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from repro.levelsets import ARCHITECTURES

KERNEL = 3


@dataclass(frozen=True)
class Tensor:
    """One trainable variable: its slice of the flat vector and its shape."""

    name: str
    start: int
    shape: tuple[int, ...]
    kernel: bool  # True for kernels (weight decay applies), False for biases
    fan_in: int = 0
    fan_out: int = 0

    @property
    def stop(self) -> int:
        return self.start + math.prod(self.shape)


class Net:
    """Layout and forward pass of one architecture of `ARCHITECTURES`."""

    def __init__(self, name: str):
        spec = ARCHITECTURES[name]
        self.name, self.outputs = name, spec["outputs"]
        self.input_shape = spec["input"]
        self.tensors: list[Tensor] = []
        channels, side = (spec["input"][0], spec["input"][-1]) if spec["conv"] else (0, 0)
        for i, out in enumerate(spec["conv"]):
            fans = (KERNEL * KERNEL * channels, KERNEL * KERNEL * out)
            self._add(f"conv{i}", (out, channels, KERNEL, KERNEL), fans)
            self._add(f"conv{i}_bias", (out,))
            channels, side = out, (side - KERNEL + 1) // 2
        width = channels * side * side if spec["conv"] else spec["input"][0]
        for i, units in enumerate((*spec["dense"], spec["outputs"])):
            self._add(f"dense{i}", (width, units), (width, units))
            self._add(f"dense{i}_bias", (units,))
            width = units
        self.n_conv = len(spec["conv"])
        side0 = spec["input"][-1]
        first = spec["conv"][0] * (side0 - KERNEL + 1) ** 2 if spec["conv"] else 0
        self.activation_size = max(first, *spec["dense"], spec["outputs"])  # per example
        if spec["conv"]:  # first-layer patches per example (`patches`), 4 x q² x 9 C_in
            self.taps = KERNEL * KERNEL * spec["input"][0]
            self.patch_size = 4 * ((side0 - KERNEL + 1) // 2) ** 2 * self.taps
            if self.taps == side0:  # `forward` tells patches from images by the last axis
                raise ValueError(f"{name}: 9 x input channels = image side, ambiguous")
        self.size = self.tensors[-1].stop

    def _add(self, name: str, shape: tuple[int, ...], fans: tuple[int, int] | None = None):
        start = self.tensors[-1].stop if self.tensors else 0
        fan_in, fan_out = fans or (0, 0)
        self.tensors.append(Tensor(name, start, shape, fans is not None, fan_in, fan_out))

    def kernel_mask(self, device="cpu") -> torch.Tensor:
        """(P,) bool: True on kernel entries (those the baseline's L2 penalty sees)."""
        mask = torch.zeros(self.size, dtype=torch.bool, device=device)
        for t in self.tensors:
            mask[t.start : t.stop] = t.kernel
        return mask

    def init(self, members: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
        """Keras GlorotNormal kernels (truncated at ±2σ, σ = sqrt(2/(fan_in+fan_out))/.8796),
        zero biases; (members, P) float32, on the CPU (the generator's draws are the same
        on any device; the caller moves `w` to the run's device)."""
        w = torch.zeros(members, self.size, device="cpu")
        for t in self.tensors:
            if t.kernel:
                std = math.sqrt(2.0 / (t.fan_in + t.fan_out)) / 0.87962566103423978
                block = torch.empty(members, t.stop - t.start, device="cpu")
                torch.nn.init.trunc_normal_(block, 0.0, std, -2 * std, 2 * std, generator=generator)
                w[:, t.start : t.stop] = block
        return w

    def views(self, w: torch.Tensor, grad: bool = False) -> list[torch.Tensor]:
        """Per-variable views (E, *shape) of the flat (E, P) matrix `w`.

        With `grad`, each view is a leaf that requires grad (`w` itself must not): the
        backward pass then skips the P-sized scatter a slice of one big leaf would cost,
        and updating `w` in place updates every view."""
        e = w.shape[0]
        views = [w[:, t.start : t.stop].view(e, *t.shape) for t in self.tensors]
        return [v.requires_grad_(True) for v in views] if grad else views

    def patches(self, x: torch.Tensor) -> torch.Tensor:
        """First-layer patches of images x (..., C, H, W): (..., 4, q*q, 9 C), which
        `forward` takes in place of the images (a fixed set is unfolded once)."""
        q = (x.shape[-1] - KERNEL + 1) // 2
        lead = x.shape[:-3]
        return _pool_patches(x.reshape(-1, *x.shape[-3:]), q).view(*lead, 4, q * q, self.taps)

    def forward(
        self, params: list[torch.Tensor], x: torch.Tensor, columns: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Outputs (E, B, outputs) (logits, or the regression value) for inputs (E, B, ...):
        features, images, or for a conv network the images' `patches`.

        `params`: the list `views` returns. `columns`: for a network without conv layers,
        the input features `x` keeps (`nonzero_columns`); the rows of the first kernel
        for features that are zero on every example contribute nothing and are skipped.
        """
        e, b = x.shape[:2]
        index = 0
        if self.n_conv:
            h = conv_stack(params[: 2 * self.n_conv], x)
            index = 2 * self.n_conv
        else:
            h = x
        n_dense = (len(params) - index) // 2
        for layer in range(n_dense):
            kernel, bias = params[index], params[index + 1]
            if layer == 0 and columns is not None:
                kernel = kernel.index_select(1, columns)
            h = torch.baddbmm(bias.unsqueeze(1), h, kernel)
            if layer < n_dense - 1:
                h = tanh(h)
            index += 2
        return h


# --------------------------------------------------------------------------- conv layers
# Each conv layer is conv 3x3 (valid) + bias, tanh, 2x2 average pooling (floor); members
# are conv groups. The same function as F.conv2d -> tanh -> F.avg_pool2d, in fewer passes
# over memory (a walk step on 500 MNIST images: about 0.5x the CPU time):
# * the first layer (1 or 3 input channels, where a convolution is a poor GEMM) is one
#   matrix product of the image patches under each of the 4 offsets of a pooling window
#   (a fixed image set's patches can be made once: `Net.patches`);
# * a conv output row/column that floor pooling drops (the last of an odd size) is never
#   computed: the input is cropped to 2 q + 2 for q pooled outputs;
# * tanh and pooling are one autograd function (`_WindowTanh`) on pre-activations scaled
#   by 2 (tanh x = 2 sigmoid(2x) - 1; the kernels and biases are doubled, an exact
#   scaling): one sigmoid pass forward, one sigmoid_backward pass backward.
# Activations travel as NHWC tensors (B, q, q, E*C): channels-last for the next conv.


def conv_stack(params: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Conv layers of members `params` (kernel (E, C_out, C_in, 3, 3), bias (E, C_out) per
    layer) on inputs x (E, B, C, H, W) (x.expand(E, ...) of one set is not copied):
    the flattened features (E, B, C*q*q) in NCHW-flatten order, as the dense layer reads."""
    e, b = x.shape[:2]
    h = _first_layer(params[0], params[1], x)
    for layer in range(1, len(params) // 2):
        kernel, bias = params[2 * layer], params[2 * layer + 1]
        q = (h.shape[1] - KERNEL + 1) // 2
        h = h[:, : 2 * q + KERNEL - 1, : 2 * q + KERNEL - 1]  # rows/columns pooling drops
        h = h.permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
        kernel2, bias2 = kernel.reshape(-1, *kernel.shape[2:]) * 2.0, bias.reshape(-1) * 2.0
        y2 = F.conv2d(h, kernel2, bias2, groups=e)  # (B, E*C, 2q, 2q) channels-last
        windows = y2.permute(0, 2, 3, 1).view(b, q, 2, q, 2, y2.shape[1])
        h = _WindowTanh.apply(windows, (2, 4))  # (B, q, q, E*C)
    q, channels = h.shape[1], h.shape[3] // e
    return h.view(b, q, q, e, channels).permute(3, 0, 4, 1, 2).reshape(e, b, -1)


def _first_layer(kernel: torch.Tensor, bias: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Conv + tanh + 2x2 average pool as patch products: NHWC (B, q, q, E*C_out).
    x: images (E, B, C, H, W) or their patches (E, B, 4, q*q, 9C) (`Net.patches`)."""
    e, b = x.shape[:2]
    out, taps = kernel.shape[1], kernel[0, 0].numel()
    if x.shape[-1] != taps:
        q = (x.shape[-1] - KERNEL + 1) // 2
        x = _pool_patches(x.flatten(0, 1), q).view(e, b, 4, q * q, taps)
    q = math.isqrt(x.shape[3])
    # row-major kernels: autograd gives a column-major matrix's gradient as (G^T A)^T, 6x
    # slower than A^T G for these (huge, 9C)^T x (huge, C_out) products
    k2 = (kernel.reshape(e, out, taps) * 2.0).transpose(1, 2)  # (E, 9C, C_out)
    if e == 1 or x.stride(0) == 0:  # one image set for every member: one product
        w2 = k2.transpose(0, 1).reshape(taps, e * out).contiguous()
        y2 = torch.addmm(bias.reshape(1, -1) * 2.0, x[0].reshape(-1, taps), w2)
        h = _WindowTanh.apply(y2.view(b, 4, q * q, e * out), (1,))  # (B, q*q, E*C_out)
    else:  # each member its own images (the weight-decay grid)
        y2 = torch.baddbmm(bias.unsqueeze(1) * 2.0, x.reshape(e, -1, taps), k2.contiguous())
        h = _WindowTanh.apply(y2.view(e, b, 4, q * q, out), (2,))  # (E, B, q*q, C_out)
        h = h.permute(1, 2, 0, 3)
    return h.reshape(b, q, q, e * out)


def _pool_patches(x: torch.Tensor, q: int) -> torch.Tensor:
    """3x3 patches of images x (N, C, H, W) under the conv outputs each 2x2 pool window
    averages, grouped by offset in the window: (N, 4, q*q, C*9); entry (n, k, i*q + j) is
    the patch of conv output pixel (2i + k//2, 2j + k%2) of image n."""
    n, c = x.shape[:2]
    side = 2 * q + KERNEL - 1
    p = F.unfold(x[..., :side, :side], KERNEL).view(n, c * KERNEL * KERNEL, q, 2, q, 2)
    return p.permute(0, 3, 5, 2, 4, 1).reshape(n, 4, q * q, c * KERNEL * KERNEL)


def _window_sum(s: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """s.sum(dims) for a contiguous s, one axis at a time as the middle axis of a 3-D view
    (torch's sum over axes (2, 4) of a (B, q, 2, q, 2, C) tensor is ~5x slower)."""
    for d in sorted(dims, reverse=True):
        shape = s.shape
        flat = s.reshape(math.prod(shape[:d]), shape[d], math.prod(shape[d + 1 :]))
        s = flat.sum(1).view(*shape[:d], *shape[d + 1 :])
    return s


class _WindowTanh(torch.autograd.Function):
    """Mean over the window axes `dims` of tanh(y2 / 2), for y2 = 2 x the pre-activation:
    mean(2 sigmoid(y2) - 1) = sum(sigmoid(y2)) * 2/n - 1 (n values per window)."""

    @staticmethod
    def forward(ctx, y2, dims):
        s = torch.sigmoid(y2)
        n = math.prod(y2.shape[d] for d in dims)
        ctx.save_for_backward(s)
        ctx.dims, ctx.scale = dims, 2.0 / n
        return _window_sum(s, dims).mul_(ctx.scale).sub_(1.0)

    @staticmethod
    def backward(ctx, grad):
        (s,) = ctx.saved_tensors
        spread = grad * ctx.scale
        for d in ctx.dims:
            spread = spread.unsqueeze(d)
        return torch.ops.aten.sigmoid_backward(spread.expand_as(s), s), None


def flat_grad(loss: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
    """d loss / d params as one (E, P) matrix (params: leaf views from `Net.views`)."""
    grads = torch.autograd.grad(loss, params, allow_unused=True, materialize_grads=True)
    return torch.cat([g.reshape(g.shape[0], -1) for g in grads], dim=1)


def nonzero_columns(*xs: torch.Tensor) -> torch.Tensor:
    """Indices of the features (last axis) not zero on every row of every `xs`."""
    used = torch.zeros(xs[0].shape[-1], dtype=torch.bool, device=xs[0].device)
    for x in xs:
        used |= (x.reshape(-1, x.shape[-1]) != 0).any(dim=0)
    return used.nonzero().squeeze(1)


class _Tanh(torch.autograd.Function):
    """tanh as 2 sigmoid(2x) - 1: the same function (|difference| < 2e-7 in float32),
    2-3x faster than torch.tanh on this CPU; backward 1 - y^2 as usual."""

    @staticmethod
    def forward(ctx, x):
        y = torch.sigmoid(x * 2.0).mul_(2.0).sub_(1.0)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return torch.ops.aten.tanh_backward(grad, y)


def tanh(x: torch.Tensor) -> torch.Tensor:
    return _Tanh.apply(x)
