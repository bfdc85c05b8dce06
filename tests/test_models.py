"""Model sizes against counts written out here (the ResNet18 of CIFAR has 11,173,962
parameters for 10 classes, the number every CIFAR ResNet18 reference quotes)."""

import torch

from repro.models.mlp import MLP
from repro.models.resnet import PreActResNet18, ResNet18


def _count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def _resnet18_count(classes: int, in_channels: int, preact: bool) -> int:
    """Stem conv (+BN unless pre-activation), 4 stages of 2 basic blocks, (final BN), head."""
    conv = lambda a, b, k: a * b * k * k  # noqa: E731
    bn = lambda c: 2 * c  # noqa: E731
    total = conv(in_channels, 64, 3) + (0 if preact else bn(64))
    c_in = 64
    for c_out, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        for s in (stride, 1):
            total += conv(c_in, c_out, 3) + conv(c_out, c_out, 3)
            total += bn(c_in) + bn(c_out) if preact else 2 * bn(c_out)
            if s != 1 or c_in != c_out:
                total += conv(c_in, c_out, 1) + (0 if preact else bn(c_out))
            c_in = c_out
    return total + (bn(512) if preact else 0) + 512 * classes + classes


def test_resnet18_parameter_count():
    assert _resnet18_count(10, 3, False) == 11_173_962
    assert _count(ResNet18(1, 10)) == 11_173_962


def test_stacked_resnet_scales_with_members_and_preact_count():
    model = ResNet18(2, 100)
    assert _count(model) == 2 * _resnet18_count(100, 3, False)
    out = model.eval()(torch.randn(3, 6, 8, 8))  # small images keep the test fast
    assert out.shape == (2, 3, 100) and torch.count_nonzero(out) == 0  # zero-initialised head
    assert _count(PreActResNet18(1, 200)) == _resnet18_count(200, 3, True)


def test_mlp_parameter_count():
    sizes = [784, 512, 256, 10]
    expected = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    assert _count(MLP(sizes)) == expected == 535_818
