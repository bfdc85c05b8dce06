"""Convolution and training-mode BatchNorm with an explicit input-gradient pass, for
FoRDE's double back-propagation (`repro.forde.step.forward_with_input_grads`).

Inside `input_gradient_pass()` the stacked layers (`EnsembleConv2d`, `EnsembleBatchNorm`)
run these autograd functions instead of the native ops; their forward passes are the
native ones (same kernels, same running-statistics update). Their backward inside the
pass computes the INPUT gradient only (the pass differentiates w.r.t. the input leaf),
and with `create_graph` it is a function whose own backward is written out here:

* convolution: g_x = conv_transpose(g_y, W). Its backward for an incoming gg_x is
  g_{g_y} = conv(gg_x, W) and g_W = the weight gradient of conv with input gg_x and
  output gradient g_y: one convolution and one native weight-gradient call. (PyTorch's
  generic `_convolution_double_backward` computes g_W as a convolution of transposed
  tensors, one per group, then concatenates: about 3x slower here.)
* BatchNorm (batch statistics, n values per channel, x^ the normalised input,
  s = gamma * invstd): g_x = s (g_y - mean g_y - x^ mean(g_y x^)) (native kernel,
  which also gives S_g = sum g_y and S_gx = sum g_y x^). For an incoming gg_x, with
  S_gg = sum gg_x, S_ggx = sum gg_x x^ (both from the same native kernel applied to
  gg_x, which gives g_{g_y}, the same formula as g_x), and a = sum gg_x g_y - S_gg S_g / n:
    g_{g_y}  = s (gg_x - S_gg / n - x^ S_ggx / n)
    g_gamma  = invstd (a - S_ggx S_gx / n)
    g_x      = gamma invstd^2 / n (-a x^ - S_gx (gg_x - S_gg / n) - S_ggx (g_y - S_g / n)
                                   + 3 S_ggx S_gx x^ / n)
  three element-wise passes instead of the generic `batchnorm_double_backward`'s dozens.

Outside the pass the layers use the native ops (a deep-ensemble step is unchanged); the
backward of the functions made inside the pass, run later without `create_graph`
(`loss.backward()`), gives the full gradients (input, weight, bias). Third derivatives
are not supported. `tests/test_forde_input_gradient.py` compares every gradient with
PyTorch's own double backward.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

# Process-wide, not thread-local: on CUDA the autograd engine runs the backward
# functions on its own device threads.
_DEPTH = [0]


@contextlib.contextmanager
def input_gradient_pass():
    """Layers built in this block use the explicit functions; backward calls made in
    it compute input gradients only."""
    _DEPTH[0] += 1
    try:
        yield
    finally:
        _DEPTH[0] -= 1


def active() -> bool:
    return _DEPTH[0] > 0


def _second_order_outside_the_pass():
    raise RuntimeError(
        "create_graph through these layers is supported only inside input_gradient_pass()"
    )


# ----------------------------------------------------------------------- convolution
def _conv_backward(gy, x, w, bias_sizes, stride, padding, groups, mask):
    return torch.ops.aten.convolution_backward(
        gy, x, w, bias_sizes, [stride] * 2, [padding] * 2, [1, 1], False, [0, 0], groups, mask
    )


class _Conv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, b, stride, padding, groups):
        ctx.save_for_backward(x, w)
        ctx.conf = (stride, padding, groups)
        ctx.has_bias = b is not None
        return F.conv2d(x, w, b, stride, padding, 1, groups)

    @staticmethod
    def backward(ctx, gy):
        x, w = ctx.saved_tensors
        stride, padding, groups = ctx.conf
        if active():  # the input-gradient pass: d/dx only
            if torch.is_grad_enabled():
                gx = _ConvInputGrad.apply(gy, w, x, stride, padding, groups)
            else:
                mask = [True, False, False]
                gx, _, _ = _conv_backward(gy, x, w, None, stride, padding, groups, mask)
            return gx, None, None, None, None, None
        if torch.is_grad_enabled():
            _second_order_outside_the_pass()
        need = ctx.needs_input_grad
        bias_sizes = [w.shape[0]] if ctx.has_bias else None
        mask = [need[0], need[1], ctx.has_bias and need[2]]
        gx, gw, gb = _conv_backward(gy, x, w, bias_sizes, stride, padding, groups, mask)
        return gx, gw, gb, None, None, None


class _ConvInputGrad(torch.autograd.Function):
    """g_x = conv_transpose(g_y, W), differentiable in g_y and W (x: shape only)."""

    @staticmethod
    def forward(ctx, gy, w, x, stride, padding, groups):
        ctx.save_for_backward(gy, w, x)
        ctx.conf = (stride, padding, groups)
        return _conv_backward(gy, x, w, None, stride, padding, groups, [True, False, False])[0]

    @staticmethod
    @once_differentiable
    def backward(ctx, ggx):
        gy, w, x = ctx.saved_tensors
        stride, padding, groups = ctx.conf
        g_gy = g_w = None
        if ctx.needs_input_grad[0]:
            g_gy = F.conv2d(ggx, w, None, stride, padding, 1, groups)
        if ctx.needs_input_grad[1]:
            g_w = _conv_backward(gy, ggx, w, None, stride, padding, groups, [False, True, False])[1]
        return g_gy, g_w, None, None, None, None


def conv2d(x, w, b, stride, padding, groups):
    """F.conv2d, through `_Conv` inside the input-gradient pass when anything needs a
    gradient."""
    if active() and torch.is_grad_enabled():
        return _Conv.apply(x, w, b, stride, padding, groups)
    return F.conv2d(x, w, b, stride, padding, 1, groups)


# ----------------------------------------------------------------------- batch norm
def _bn_backward(gy, x, gamma, mean, invstd, eps, mask):
    return torch.ops.aten.native_batch_norm_backward(
        gy, x, gamma, None, None, mean, invstd, True, eps, mask
    )


class _BatchNorm(torch.autograd.Function):
    """Training-mode BatchNorm2d (batch statistics; running statistics updated in place
    by the native kernel, as nn.BatchNorm2d)."""

    @staticmethod
    def forward(ctx, x, gamma, beta, running_mean, running_var, momentum, eps):
        y, mean, invstd = torch.native_batch_norm(
            x, gamma, beta, running_mean, running_var, True, momentum, eps
        )
        ctx.save_for_backward(x, gamma, mean, invstd)
        ctx.eps = eps
        return y

    @staticmethod
    def backward(ctx, gy):
        x, gamma, mean, invstd = ctx.saved_tensors
        if active():
            if torch.is_grad_enabled():
                gx = _BatchNormInputGrad.apply(gy, x, gamma, mean, invstd, ctx.eps)
            else:
                gx = _bn_backward(gy, x, gamma, mean, invstd, ctx.eps, [True, False, False])[0]
            return gx, None, None, None, None, None, None
        if torch.is_grad_enabled():
            _second_order_outside_the_pass()
        need = ctx.needs_input_grad
        gx, gg, gb = _bn_backward(gy, x, gamma, mean, invstd, ctx.eps, list(need[:3]))
        return gx, gg, gb, None, None, None, None


class _BatchNormInputGrad(torch.autograd.Function):
    """g_x of training-mode BatchNorm, differentiable in g_y, x and gamma (the batch
    statistics are functions of x; the formulas are in the module docstring)."""

    @staticmethod
    def forward(ctx, gy, x, gamma, mean, invstd, eps):
        gx, s_gx, s_g = _bn_backward(gy, x, gamma, mean, invstd, eps, [True, True, True])
        ctx.save_for_backward(gy, x, gamma, mean, invstd, s_gx, s_g)
        ctx.eps = eps
        return gx

    @staticmethod
    @once_differentiable
    def backward(ctx, ggx):
        gy, x, gamma, mean, invstd, s_gx, s_g = ctx.saved_tensors
        n = x.numel() // x.shape[1]
        g_gy, s_ggx, s_gg = _bn_backward(ggx, x, gamma, mean, invstd, ctx.eps, [True, True, True])
        # sum gg_x g_y per channel: the native kernel's sum g_out (x - mean) invstd with
        # x = g_y, mean 0, invstd 1 (one fused pass, no product tensor)
        ones = torch.ones_like(invstd)
        s_ggg = _bn_backward(
            ggx, gy, None, torch.zeros_like(mean), ones, ctx.eps, [False, True, False]
        )[1]
        a = s_ggg - s_gg * s_g / n
        g_gamma = invstd * (a - s_ggx * s_gx / n)
        # g_x = A x + B gg_x + C g_y + D, per channel (x^ = (x - mean) invstd folded in)
        k = gamma * invstd * invstd / n
        coef_xhat = k * (3 * s_ggx * s_gx / n - a)
        shape = (1, -1, 1, 1)
        coef_x = (coef_xhat * invstd).view(shape)
        const = k * (s_gx * s_gg + s_ggx * s_g) / n - coef_xhat * invstd * mean
        g_x = torch.addcmul(const.view(shape), coef_x, x)
        g_x.addcmul_((-k * s_gx).view(shape), ggx)
        g_x.addcmul_((-k * s_ggx).view(shape), gy)
        if not ctx.needs_input_grad[0]:
            g_gy = None
        return g_gy, g_x, g_gamma, None, None, None


def batch_norm(module: torch.nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
    """module(x), through `_BatchNorm` inside the input-gradient pass in training mode
    (same statistics and running-average update as nn.BatchNorm2d with a momentum)."""
    if not (
        active() and module.training and module.momentum is not None and torch.is_grad_enabled()
    ):
        return torch.nn.BatchNorm2d.forward(module, x)
    if module.num_batches_tracked is not None:
        module.num_batches_tracked.add_(1)
    return _BatchNorm.apply(
        x,
        module.weight,
        module.bias,
        module.running_mean,
        module.running_var,
        module.momentum,
        module.eps,
    )
