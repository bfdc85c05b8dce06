"""forde: the explicit input-gradient functions (`repro.models.input_gradient`) against
PyTorch's own double backward (the same step without `input_gradient_pass`) and against
finite differences: input gradients, every parameter gradient of NLL + R, the
BatchNorm running statistics, and the layers' behaviour outside the pass."""

import contextlib
import copy
import functools

import pytest
import torch
import torch.nn.functional as F

from repro.forde import kernel
from repro.forde.step import member_nll, replicate, training_layout
from repro.models import input_gradient
from repro.models.ensemble import EnsembleConv2d, EnsembleSmallCNN, batchnorm
from repro.models.resnet import PreActResNet18, ResNet18


def _grads(model, x, y, explicit: bool, channels_last: bool = False):
    """(input gradients, parameter gradients of NLL + R, buffers after the step's
    forward) of a copy of `model`; `explicit` = inside input_gradient_pass."""
    model = copy.deepcopy(model)
    if channels_last:
        model = training_layout(model, repulsion=True)
        assert model.stem.weight.is_contiguous(memory_format=torch.channels_last)
    members, batch = model.members, len(x)
    leaf = replicate(x, members).requires_grad_(True)
    with input_gradient.input_gradient_pass() if explicit else contextlib.nullcontext():
        logits = model(leaf)
        picked = logits.gather(2, y.view(1, batch, 1).expand(members, batch, 1)).sum()
        (g,) = torch.autograd.grad(picked, leaf, create_graph=True)
    grads = g.reshape(batch, members, -1).transpose(0, 1)
    r, _ = kernel.repulsion(grads)
    (member_nll(logits, y) + r).backward()
    params = {name: p.grad for name, p in model.named_parameters()}
    return g, params, dict(model.named_buffers())


@functools.cache
def _model(cls, seed=0):
    """A float64 model with non-trivial head and BN parameters (built once: ResNet18's
    initialisation costs seconds; callers copy it)."""
    torch.manual_seed(seed)
    if cls is EnsembleSmallCNN:
        model = EnsembleSmallCNN(3, 2, 5, 8)
    else:
        model = cls(2, 5, 3)
    model = model.double()
    torch.nn.init.normal_(model.head.weight, std=0.3)  # non-zero head: R has a gradient
    torch.nn.init.normal_(model.head.bias, std=0.1)
    for module in model.modules():  # BN scale and offset away from 1 and 0
        if isinstance(module, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(module.weight, 0.5, 1.5)
            torch.nn.init.normal_(module.bias, std=0.1)
    return model


@pytest.mark.parametrize(
    "cls, channels_last",
    [(ResNet18, False), (ResNet18, True), (PreActResNet18, True), (EnsembleSmallCNN, False)],
)
def test_explicit_double_backward_matches_autograd(cls, channels_last):
    """Stride-2 and 1x1 convolutions, grouped and shared-input, biases (small CNN),
    training-mode BatchNorm, max-pooling, the ResNets' channels-last FoRDE layout: every
    gradient equals autograd's generic double backward (NCHW) to float64 rounding;
    running statistics are the same."""
    model = _model(cls)
    channels, size = (2, 8) if cls is EnsembleSmallCNN else (3, 4)
    x = torch.randn(6, channels, size, size, dtype=torch.float64)
    y = torch.randint(0, 5, (6,))
    g_ref, p_ref, b_ref = _grads(model, x, y, explicit=False)
    g, p, b = _grads(model, x, y, explicit=True, channels_last=channels_last)
    # float64 rounding (channels-last sums in another order): ~1e-12 of the scale
    torch.testing.assert_close(g, g_ref, rtol=1e-9, atol=1e-11 * float(g_ref.detach().abs().max()))
    assert p.keys() == p_ref.keys()
    for name in p:
        assert p_ref[name] is not None and p[name] is not None, name
        scale = float(p_ref[name].abs().max())
        assert scale > 0, name
        torch.testing.assert_close(p[name], p_ref[name], rtol=1e-9, atol=1e-11 * scale, msg=name)
    for name in b:
        exact = 0 if not channels_last else 1e-14  # (a reduction order may differ)
        torch.testing.assert_close(b[name], b_ref[name], rtol=exact, atol=exact, msg=name)


def test_explicit_double_backward_matches_finite_differences():
    """d/dtheta of a function of the input gradients, for a stride-2 conv weight, a BN
    scale (train-mode statistics: every sample's gradient depends on the whole batch)
    and the weight of a convolution with a bias (the input gradients do not depend on
    the offsets)."""
    torch.manual_seed(3)
    members = 2
    conv1 = EnsembleConv2d(members, 2, 3, 3, stride=2, padding=1)
    bn = batchnorm(members, 3)
    conv2 = EnsembleConv2d(members, 3, 4, 3, padding=1, bias=True)
    torch.nn.ModuleList([conv1, bn, conv2]).double()  # in place
    torch.nn.init.uniform_(bn.weight, 0.5, 1.5)
    torch.nn.init.normal_(bn.bias, std=0.3)
    head = torch.randn(members * 4 * 3 * 3, dtype=torch.float64)

    def input_grads(create_graph):
        x = torch.randn(5, 2, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        leaf = replicate(x, members).requires_grad_(True)
        with input_gradient.input_gradient_pass():
            h = conv2(F.relu(bn(conv1(leaf))))
            out = (h.flatten(1) * head).sum()
            (g,) = torch.autograd.grad(out, leaf, create_graph=create_graph)
        return g.reshape(5, members, -1).transpose(0, 1)

    weights = torch.randn(members, 5, 2 * 6 * 6, dtype=torch.float64)

    def loss(g):  # any smooth function of the input gradients
        return (g * weights).sum() + (g * g).sum()

    with torch.no_grad():
        saved = [t.clone() for t in (bn.running_mean, bn.running_var)]
    loss(input_grads(True)).backward()
    for param, idx in [
        (conv1.weight, (1, 0, 2, 1)),
        (bn.weight, (1,)),
        (conv2.weight, (5, 2, 0, 1)),
    ]:
        values = []
        for sign in (1, -1):
            with torch.no_grad():
                param[idx] += sign * 1e-6
            values.append(loss(input_grads(False)))
            with torch.no_grad():
                param[idx] -= sign * 1e-6
        numeric = (values[0] - values[1]) / 2e-6
        assert abs(float(param.grad[idx])) > 1e-6
        torch.testing.assert_close(param.grad[idx], numeric, rtol=1e-6, atol=1e-9)
    assert not torch.equal(bn.running_mean, saved[0])  # updated by the training passes


def test_layers_outside_the_pass_are_the_native_ops():
    """A deep-ensemble step never builds the explicit functions; a forward inside the
    pass does; a second-order backward of it outside the pass is refused."""
    model = copy.deepcopy(_model(ResNet18))
    x = torch.randn(4, 3, 4, 4, dtype=torch.float64)
    assert model(x).grad_fn is not None
    names, todo = set(), [model(x).grad_fn]
    while todo:
        fn = todo.pop()
        if fn is not None and fn not in names:
            names.add(fn)
            todo.extend(nxt for nxt, _ in fn.next_functions)
    names = {fn.name() for fn in names}
    assert "ConvolutionBackward0" in names and "NativeBatchNormBackward0" in names
    assert not any(n.startswith("_") for n in names)
    leaf = replicate(x, 2).requires_grad_(True)
    with input_gradient.input_gradient_pass():
        out = model(leaf).sum()
    with pytest.raises(RuntimeError, match="input_gradient_pass"):
        torch.autograd.grad(out, leaf, create_graph=True)
