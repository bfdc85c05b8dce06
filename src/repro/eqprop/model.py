"""Energy-based networks of the paper: the primitive function Φ and its neuron gradient.

One class covers the four networks of spec §1.2 and §1.7: `channels` empty gives the
MLP (`P_MLP` / `VF_MLP`), otherwise conv layers (with 2x2 max `m`, avg `a` or no `i`
pooling) then fully connected ones (`P_CNN` / `VF_CNN`); `vf=True` adds the backward
weights B_n. Layers: s_0 = x (clamped), neuron layers s_1..s_N; synapse k (0-based)
maps layer k to layer k + 1. With `loss="ce"` the last synapse is the softmax read-out
and not part of the dynamics (`--loss cel --softmax`).

Two ways to get ∂Φ/∂s, which the tests pin to each other:
* `phi` builds Φ (or the per-layer Φ_n of a VF net) from module calls, like the
  original code; autograd of it gives ∂Φ/∂θ for the EP update and, in
  `repro.eqprop.reference`, the original's dynamics;
* `drive` computes ∂Φ/∂s in closed form (forward conv + max-pool indices, transposed
  conv of the un-pooled upper layer), with the per-batch constants in a `Context`:
  the drive of s_1 by the clamped input. No graph is built
  unless gradients are enabled (truncated BPTT differentiates through it).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def _my_hard_sig(u, inplace=False):  # (1 + hardtanh(u - 1)) / 2 = clip(u / 2, 0, 1)
    return u.clamp_(0.0, 2.0).mul_(0.5) if inplace else u.clamp(0.0, 2.0).mul(0.5)


def _hard_sigmoid(u, inplace=False):  # (1 + hardtanh(2u - 1)) / 2 = clip(u, 0, 1)
    return u.clamp_(0.0, 1.0) if inplace else u.clamp(0.0, 1.0)


def _ctrd_hard_sig(u, inplace=False):  # hardtanh(2u) / 2
    return u.clamp_(-0.5, 0.5) if inplace else u.clamp(-0.5, 0.5)


def _mysig(u, inplace=False):  # 1 / (1 + exp(-4 (u - 0.5)))
    return torch.sigmoid(4.0 * (u - 0.5))


def _tanh(u, inplace=False):
    return u.tanh_() if inplace else u.tanh()


def _sigmoid(u, inplace=False):
    return u.sigmoid_() if inplace else u.sigmoid()


ACTIVATIONS = {
    "my_hard_sig": _my_hard_sig,
    "hard_sigmoid": _hard_sigmoid,
    "ctrd_hard_sig": _ctrd_hard_sig,
    "mysig": _mysig,
    "tanh": _tanh,
    "sigmoid": _sigmoid,
}
LOSSES = ("mse", "ce")


@dataclass
class Context:
    """Per-batch constants of the dynamics (valid until the weights change)."""

    x: torch.Tensor
    y: torch.Tensor
    onehot: torch.Tensor
    drive0: torch.Tensor  # forward drive of s_1 by the clamped input
    kernels: dict  # synapse index (or ("B", n)) -> its conv kernel in channels-last layout
    x_in: torch.Tensor | None = None  # synapse 0's input (masked under dropout)
    pool0: tuple | None = None  # synapse 0's pooling (indices, pre-pool shape), conv nets


def channels_last(t: torch.Tensor) -> torch.Tensor:
    """Conv-layer tensors live in channels-last layout: on CPU, max-pooling with indices
    is ~10x and the convolutions ~1.5x faster than in NCHW (same values, same arg-max
    tie-breaking). A no-op for tensors already in that layout and for non-4-D ones."""
    return t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t


def tile(t: torch.Tensor, n: int) -> torch.Tensor:
    """A state of batch b (b divides n) repeated to batch n: sample i of the result is
    sample i mod b. States are kept at the smallest batch that holds their distinct
    values: batch 1 while every sample shares them (the first free steps from s = 0),
    batch B while the +β and -β halves of a 2B nudged batch share them."""
    return t if len(t) == n else channels_last(t.repeat(n // len(t), *([1] * (t.dim() - 1))))


def _add(a: torch.Tensor, b: torch.Tensor, inplace: bool) -> torch.Tensor:
    """a + b at the larger of their batches (see `tile`), in a's storage if allowed."""
    n = max(len(a), len(b))
    return a.add_(tile(b, n)) if inplace and len(a) == n else tile(a, n) + tile(b, n)


def per_sample(beta, like: torch.Tensor):
    """β as a float, or a per-sample tensor shaped to broadcast against `like`."""
    if isinstance(beta, torch.Tensor):
        return beta.reshape(-1, *([1] * (like.dim() - 1))).to(like.dtype)
    return float(beta)


def nonzero(beta) -> bool:
    return bool((beta != 0).any()) if isinstance(beta, torch.Tensor) else beta != 0.0


def _conv_transpose(u, weight, conv: nn.Conv2d, pre_shape) -> torch.Tensor:
    """The input-gradient of `conv` (no bias) for output-gradient u, shaped like its input."""
    output_padding = [
        pre_shape[i + 2]
        - (
            (u.shape[i + 2] - 1) * conv.stride[i]
            - 2 * conv.padding[i]
            + conv.dilation[i] * (conv.kernel_size[i] - 1)
            + 1
        )
        for i in range(2)
    ]
    return F.conv_transpose2d(
        u, weight, None, conv.stride, conv.padding, output_padding, 1, conv.dilation
    )


class EnergyNet(nn.Module):
    """A convergent recurrent network defined by its primitive function Φ (spec §1)."""

    def __init__(
        self,
        in_shape: tuple[int, ...],
        channels=(),
        kernels=(),
        strides=(),
        paddings=(),
        pools: str = "",
        fc=(10,),
        activation: str = "my_hard_sig",
        loss: str = "mse",
        vf: bool = False,
        same_update: bool = False,
        dropouts=None,
    ):
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, not {loss!r}")
        if not (len(channels) == len(kernels) == len(strides) == len(paddings) == len(pools)):
            raise ValueError(
                "channels, kernels, strides, paddings and pools need one entry per conv"
            )
        self.activation_name, self.loss_name = activation, loss
        # Keep probabilities of [x, s_1, ..., s_N] (branch `dropout`, spec §1.8); `masks`
        # holds the batch's masks (Bernoulli(p)/p per neuron) while training, else None.
        self.dropouts = None if dropouts is None else [float(p) for p in dropouts]
        self.masks: list[torch.Tensor] | None = None
        self.activation = ACTIVATIONS[activation]
        self.softmax = loss == "ce"
        self.vf, self.same_update = vf, same_update
        self.n_conv, self.pools, self.n_classes = len(channels), pools, fc[-1]
        self.synapses = nn.ModuleList()
        self.shapes: list[tuple[int, ...]] = []  # neuron layer shapes (no batch dim)
        shape = tuple(in_shape)
        for c, k, st, p, pool in zip(channels, kernels, strides, paddings, pools, strict=True):
            self.synapses.append(nn.Conv2d(shape[0], c, k, stride=st, padding=p))
            size = (shape[1] + 2 * p - k) // st + 1
            shape = (c, size // 2 if pool in "ma" else size, size // 2 if pool in "ma" else size)
            self.shapes.append(shape)
        width = int(torch.Size(shape).numel())
        for units in fc:
            self.synapses.append(nn.Linear(width, units))
            self.shapes.append((units,))
            width = units
        if self.softmax:
            self.shapes.pop()  # the read-out is not a neuron layer
        if self.dropouts is not None:
            if len(self.dropouts) != len(self.shapes) + 1 or vf:
                raise ValueError(
                    f"dropouts need one keep probability per layer [x, s_1..s_N] "
                    f"({len(self.shapes) + 1}) and a symmetric net"
                )
        self.backward_synapses = nn.ModuleList()  # B_n mirrors synapse n (n = 1..N-1)
        if vf:
            for k in range(1, len(self.shapes)):
                syn = self.synapses[k]
                if k < self.n_conv:
                    self.backward_synapses.append(
                        nn.Conv2d(
                            syn.in_channels,
                            syn.out_channels,
                            syn.kernel_size,
                            syn.stride,
                            syn.padding,
                            bias=False,
                        )
                    )
                else:
                    self.backward_synapses.append(
                        nn.Linear(syn.in_features, syn.out_features, bias=False)
                    )

    # ------------------------------------------------------------------ helpers
    @property
    def n_layers(self) -> int:
        return len(self.shapes)

    def init_neurons(self, batch: int, device=None, dtype=torch.float32) -> list[torch.Tensor]:
        """s(0) = 0 for every neuron layer."""
        return [
            channels_last(torch.zeros(batch, *shape, device=device, dtype=dtype))
            for shape in self.shapes
        ]

    def param_groups(self) -> list[list[tuple[str, nn.Parameter]]]:
        """Named parameters per synapse layer; B_n joins the group of synapse n (spec §6.2.14)."""
        groups = [list(syn.named_parameters()) for syn in self.synapses]
        for n, b in enumerate(self.backward_synapses, start=1):
            groups[n] += list(b.named_parameters())
        return groups

    def tensor_names(self) -> dict[str, nn.Parameter]:
        """Short names: W1, b1 (synapse 1), ..., B1 (backward weights of layer 1)."""
        names = {}
        for k, syn in enumerate(self.synapses, start=1):
            names[f"W{k}"], names[f"b{k}"] = syn.weight, syn.bias
        for n, b in enumerate(self.backward_synapses, start=1):
            names[f"B{n}"] = b.weight
        return names

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.n_conv else x.flatten(1)

    def draw_masks(self, x: torch.Tensor) -> None:
        """The batch's dropout masks, Bernoulli(p)/p per neuron of [x, s_1..s_N], held
        fixed through every phase (the code's `create_mask` in training mode)."""
        if self.dropouts is None:
            return
        shapes = [tuple(self._input(x).shape[1:]), *self.shapes]
        self.masks = [
            channels_last(
                torch.bernoulli(torch.full((len(x), *shape), p, dtype=x.dtype, device=x.device)) / p
            )
            for shape, p in zip(shapes, self.dropouts, strict=True)
        ]

    def _mask(self, n: int, t: torch.Tensor) -> torch.Tensor:
        """Mask of layer n (0 = input), stacked to t's batch (phases run side by side)."""
        m = self.masks[n]
        return m if len(m) >= len(t) else m.repeat(len(t) // len(m), *([1] * (m.dim() - 1)))

    def _masked(self, layers: list[torch.Tensor]) -> list[torch.Tensor]:
        if self.masks is None:
            return layers
        return [t * self._mask(n, t) for n, t in enumerate(layers)]

    def _drive_factor(self, n: int, t: torch.Tensor):
        """The code multiplies ∂Φ/∂s_n by mask_n (inside Φ) and by p: layer n uses
        dropouts[n]; the last layer dropouts[-2] (code: `grads[-1] * self.dropouts[-2]`)."""
        p = self.dropouts[n if n < self.n_layers else n - 1]
        return self._mask(n, t) * p

    def _forward(self, module, k: int, inp: torch.Tensor, kernel=None, pool_cl=False):
        """Synapse-shaped `module` (synapse k or B mirroring it) on layer k, pooled as layer k+1.
        `pool_cl`: pool in channels-last whatever the layout of the convolution's output
        (~10x faster than NCHW on CPU; same values and arg-max).

        Returns (output, info) where info lets `_transpose` route feedback back."""
        if k < self.n_conv:
            z = module(inp) if kernel is None else module._conv_forward(inp, kernel, module.bias)
            z = channels_last(z) if pool_cl else z
            pool = self.pools[k]
            if pool == "m":
                out, idx = F.max_pool2d(z, 2, 2, return_indices=True)
                return out, (idx, z.shape)
            if pool == "a":
                return F.avg_pool2d(z, 2, 2), (None, z.shape)
            return z, (None, z.shape)
        return module(inp.flatten(1)), None

    def _pooled_forward(self, module, k: int, inp: torch.Tensor) -> torch.Tensor:
        return self._forward(module, k, inp)[0]

    def _unpool(self, k: int, post, info) -> torch.Tensor:
        """(∂/∂z) <post, P(z)> for conv synapse k's pre-pool output z (info: its pooling)."""
        idx, zshape = info
        pool = self.pools[k]
        if pool == "m":  # F.max_unpool2d's kernel without its Python size checks (which
            # import sympy: 0.4 CPU-s per job)
            u = torch._C._nn.max_unpool2d(post, idx, list(zshape[-2:]))
        elif pool == "a":
            u = post.repeat_interleave(2, -1).repeat_interleave(2, -2).mul(0.25)
            u = F.pad(u, (0, zshape[-1] - u.shape[-1], 0, zshape[-2] - u.shape[-2]))
        else:
            u = post
        return u

    def _transpose(self, weight, k: int, post, info, pre_shape, module) -> torch.Tensor:
        """(∂/∂ layer k) <post, P(module(layer k))>: un-pool `post`, transposed conv/linear."""
        if k >= self.n_conv:
            return (post @ weight).view(pre_shape)
        return _conv_transpose(
            channels_last(self._unpool(k, post, info)), weight, module, pre_shape
        )

    def add_first_synapse_grad(self, ctx: Context, post: torch.Tensor) -> None:
        """p.grad += ∂/∂θ_1 Σ_b <post_b, P(W_1 x_b + b_1)> for synapse 1 (x: the context's
        input, masked under dropout). This is Φ's only term in θ_1; its input and (for a
        conv) its pooling are fixed per batch, so a contrast of two states needs it once,
        with `post` the weighted sum of their first layers (masked under dropout)."""
        syn = self.synapses[0]
        if self.n_conv:  # in NCHW: with a channels-last output gradient it is ~7x slower
            idx, zshape = ctx.pool0
            pool0 = (None if idx is None else idx.contiguous(), zshape)
            _, gw, gb = torch.ops.aten.convolution_backward(
                self._unpool(0, post.contiguous(), pool0).contiguous(),
                ctx.x_in,
                syn.weight,
                [syn.out_channels],
                syn.stride,
                syn.padding,
                syn.dilation,
                False,
                [0, 0],
                1,
                [False, True, True],
            )
        else:
            gw, gb = post.T @ ctx.x_in, post.sum(0)
        for param, g in ((syn.weight, gw), (syn.bias, gb)):
            param.grad = g if param.grad is None else param.grad + g

    # ------------------------------------------------------------------ Φ (autograd)
    def loss_terms(self, s: list[torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        """Per-sample ℓ: ½ Σ (s_N - onehot)² (MSE) or CE of the softmax read-out (of the
        masked last layer under dropout, as the code's BPTT loss and predictions)."""
        if self.masks is not None:
            s = [*s[:-1], s[-1] * self._mask(self.n_layers, s[-1])]
        return self._loss(s, y)

    def _loss(self, s: list[torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        if self.softmax:
            return F.cross_entropy(self.logits(s), y, reduction="none")
        target = F.one_hot(y, self.n_classes).to(s[-1].dtype)
        return 0.5 * (s[-1] - target).pow(2).sum(1)

    def logits(self, s: list[torch.Tensor]) -> torch.Tensor:
        """The read-out (softmax net) or the output neurons (MSE net)."""
        return self.synapses[-1](s[-1].flatten(1)) if self.softmax else s[-1]

    def predict(self, s: list[torch.Tensor]) -> torch.Tensor:
        if self.masks is not None:
            s = [*s[:-1], s[-1] * self._mask(self.n_layers, s[-1])]
        return self.logits(s).argmax(1)

    def layer_phis(self, x, y, s, beta=0.0, post=None, skip=0) -> list[torch.Tensor]:
        """Per-sample terms of Φ^β by layer: Φ_n = <s_n, P(W_n s_{n-1})> (+ <s_{n+1},
        P(B_n s_n)> in a VF net) and - βℓ in the last. Their sum is Φ^β (spec §1.2); for a
        VF net, Φ_n is layer n's own function (§1.7).

        `post` (VF update only): the states paired with W_n's output, B_n's input and ℓ,
        while `s` is used everywhere else (the original's `neurons_2`). `skip` leaves out
        the terms of the first `skip` synapses (and their B_n): synapse 1's term <s_1,
        P(W_1 x)> (`add_first_synapse_grad`) and, in a contrast of two states, the terms
        between layers both states share (they cancel)."""
        layers = self._masked([self._input(x), *s])
        posts = [layers[0], *(self._masked([self._input(x), *post])[1:] if post else layers[1:])]

        def dot(a, b):  # per-sample <a, b> at the batch of x (a layer may be shared: `tile`)
            m = max(len(a), len(b))
            return tile((tile(a, m) * tile(b, m)).flatten(1).sum(1), len(x))

        terms = []
        for k in range(self.n_layers):
            if k < skip:
                terms.append(torch.zeros(len(x), dtype=layers[1].dtype, device=x.device))
                continue
            terms.append(dot(self._pooled_forward(self.synapses[k], k, layers[k]), posts[k + 1]))
        for n, b in enumerate(self.backward_synapses, start=1):  # <s_{n+1}, P(B_n s_n)>
            if n >= skip:
                terms[n - 1] = terms[n - 1] + dot(
                    self._pooled_forward(b, n, posts[n]), layers[n + 1]
                )
        if nonzero(beta):
            ell = self._loss([tile(posts[-1], len(x))], y)
            scale = beta.to(ell.dtype) if isinstance(beta, torch.Tensor) else beta
            terms[-1] = terms[-1] - scale * ell
        return terms

    def phi(self, x, y, s, beta=0.0, post=None, skip=0) -> torch.Tensor:
        """Per-sample Φ^β = Φ - βℓ (spec §1.2), or Σ_n Φ_n^β for a VF net (§1.7)."""
        return sum(self.layer_phis(x, y, s, beta, post, skip))

    # ------------------------------------------------------------------ ∂Φ/∂s (closed form)
    def context(self, x: torch.Tensor, y: torch.Tensor) -> Context:
        """Constants of the dynamics for this batch: s_1's input drive and the one-hot target."""
        x = channels_last(self._input(x))
        xm = x * self._mask(0, x) if self.masks is not None else x
        drive0, pool0 = self._forward(self.synapses[0], 0, xm, pool_cl=True)  # x: 1 channel
        drive0 = channels_last(drive0)
        onehot = F.one_hot(y, self.n_classes).to(drive0.dtype)
        return Context(x, y, onehot, drive0, self.kernels(), xm, pool0)

    def kernels(self) -> dict:
        """Conv kernels of synapses 2.. (and B_n) in channels-last layout (recorded by
        autograd when gradients are enabled)."""
        kernels = {k: channels_last(self.synapses[k].weight) for k in range(1, self.n_conv)}
        for n, b in enumerate(self.backward_synapses[: max(self.n_conv - 1, 0)], start=1):
            kernels[("B", n)] = channels_last(b.weight)
        return kernels

    def drive(self, ctx: Context, s: list[torch.Tensor], beta=0.0, lowest=0, _masked=False):
        """∂Φ^β/∂s_n for every layer n >= `lowest` (0-based; None below), ∂Φ_n^β/∂s_n for
        a VF net. Under dropout, the drive of the masked states, each multiplied by its
        mask and keep probability."""
        inplace = not torch.is_grad_enabled()
        s = [channels_last(t) for t in s]
        if self.masks is not None and not _masked:  # masked Φ, times p (branch `dropout`)
            d = self.drive(ctx, self._masked([ctx.x, *s])[1:], beta, lowest, _masked=True)
            return [u if u is None else u * self._drive_factor(n, u) for n, u in enumerate(d, 1)]
        d = [ctx.drive0 if lowest == 0 else None, *[None] * (self.n_layers - 1)]
        # synapse k: layer k -> layer k + 1 (s[k-1] -> s[k])
        for k in range(max(lowest, 1), self.n_layers):
            syn = self.synapses[k]
            out, info = self._forward(syn, k, s[k - 1], ctx.kernels.get(k))
            d[k] = out
            if k - 1 < lowest:
                continue
            if self.vf:  # feedback through B_k, routed by the arg-max of P(B_k s_k)
                b = self.backward_synapses[k - 1]
                weight, module = ctx.kernels.get(("B", k), b.weight), b
                info = self._forward(b, k, s[k - 1], weight)[1] if k < self.n_conv else None
            else:
                weight, module = ctx.kernels.get(k, syn.weight), syn
            n = max(len(s[k - 1]), len(s[k]))  # feedback routed per sample of both
            if info is not None and info[0] is not None:  # max-pool arg-max
                info = (tile(info[0], n), info[1])
            fb = self._transpose(weight, k, tile(s[k], n), info, (n, *s[k - 1].shape[1:]), module)
            d[k - 1] = _add(d[k - 1], fb, inplace and k > 1)
        if nonzero(beta):
            n = max(len(s[-1]), len(ctx.onehot), len(beta) if isinstance(beta, torch.Tensor) else 1)
            last = tile(s[-1], n)
            if self.softmax:
                out = self.synapses[-1]
                logits = F.linear(last.flatten(1), out.weight, out.bias)
                grad = ((F.softmax(logits, 1) - tile(ctx.onehot, n)) @ out.weight).view(last.shape)
            else:
                grad = last - tile(ctx.onehot, n)
            d[-1] = _add(d[-1], -per_sample(beta, last) * grad, inplace and self.n_layers > 1)
        return d

    def step(self, ctx: Context, s: list[torch.Tensor], beta=0.0, lowest=0) -> list[torch.Tensor]:
        """One synchronous update s(t+1) = σ(∂Φ^β/∂s (x, s(t))) of every layer n >=
        `lowest` (0-based); the layers below keep their s(t)."""
        inplace = not torch.is_grad_enabled()
        d = self.drive(ctx, s, beta, lowest)
        if inplace and self.n_layers == 1 and lowest == 0:
            d[0] = d[0].clone()  # never overwrite the cached input drive
        return [
            t if u is None else self.activation(u, inplace=inplace)
            for t, u in zip(s, d, strict=True)
        ]

    # ------------------------------------------------------------------ VF diagnostics
    @torch.no_grad()
    def angles(self) -> list[float]:
        """Angle (degrees) between B_n and W_{n+1}, flattened (spec §1.7)."""
        out = []
        for n, b in enumerate(self.backward_synapses, start=1):
            w, bw = self.synapses[n].weight.flatten(), b.weight.flatten()
            cos = (w @ bw) / (w.norm() * bw.norm())
            out.append(float(torch.rad2deg(torch.acos(cos.clamp(-1.0, 1.0)))))
        return out
