"""ResNet18 (CIFAR) and PreActResNet18 (TinyImageNet) as in the FoRDE code (a Haiku
ResNet), for M stacked members (see `repro.models.ensemble`); `members=1` is one net.

ResNet18: conv3x3(64, stride 1, no bias)-BN-ReLU (no max-pool); stages of 2 basic
blocks with 64/128/256/512 channels and strides 1/2/2/2; block = conv3x3-BN-ReLU-
conv3x3-BN + shortcut, ReLU; projection shortcut = conv1x1(stride, no bias)-BN in the
first block of stages 2-4; global average pool; linear head (zero-initialised).

PreActResNet18: the same stem conv without BN; blocks BN-ReLU-conv3x3-BN-ReLU-conv3x3
+ shortcut, the 1x1 projection (no BN) applied to the first pre-activated tensor; a
final BN-ReLU before pooling.

Padding is PyTorch's symmetric `padding=1`; Haiku's "SAME" with stride 2 pads (0, 1).
Output shapes agree; the sampling grid is shifted by one pixel (noted in docs/forde.md).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from repro.models.ensemble import EnsembleConv2d, EnsembleLinear, batchnorm, member_outputs

STAGES = ((64, 1), (128, 2), (256, 2), (512, 2))


class BasicBlock(nn.Module):
    def __init__(self, members, c_in, c_out, stride):
        super().__init__()
        self.conv1 = EnsembleConv2d(members, c_in, c_out, 3, stride, 1)
        self.bn1 = batchnorm(members, c_out)
        self.conv2 = EnsembleConv2d(members, c_out, c_out, 3, 1, 1)
        self.bn2 = batchnorm(members, c_out)
        self.shortcut = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                EnsembleConv2d(members, c_in, c_out, 1, stride, 0), batchnorm(members, c_out)
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.shortcut is None else self.shortcut(x)))


class PreActBlock(nn.Module):
    def __init__(self, members, c_in, c_out, stride):
        super().__init__()
        self.bn1 = batchnorm(members, c_in)
        self.conv1 = EnsembleConv2d(members, c_in, c_out, 3, stride, 1)
        self.bn2 = batchnorm(members, c_out)
        self.conv2 = EnsembleConv2d(members, c_out, c_out, 3, 1, 1)
        self.shortcut = None
        if stride != 1 or c_in != c_out:
            self.shortcut = EnsembleConv2d(members, c_in, c_out, 1, stride, 0)

    def forward(self, x):
        pre = F.relu(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(pre)
        out = self.conv1(pre)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + skip


class _ResNet(nn.Module):
    block: type
    preact: bool
    channels_last_forde = True  # `repro.forde.step.training_layout`

    def __init__(self, members: int, classes: int, in_channels: int = 3):
        super().__init__()
        self.members = members
        self.stem = EnsembleConv2d(members, in_channels, 64, 3, 1, 1)
        self.stem_bn = None if self.preact else batchnorm(members, 64)
        blocks, c_in = [], 64
        for c_out, stride in STAGES:
            for s in (stride, 1):
                blocks.append(self.block(members, c_in, c_out, s))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.final_bn = batchnorm(members, 512) if self.preact else None
        self.head = EnsembleLinear(members, 512, classes, zero=True)

    def forward(self, x):
        x = self.stem(x)
        if self.stem_bn is not None:
            x = F.relu(self.stem_bn(x))
        x = self.blocks(x)
        if self.final_bn is not None:
            x = F.relu(self.final_bn(x))
        x = x.mean(dim=(2, 3))  # (B, M*512), member-major
        return member_outputs(self.head(x), self.members)


class ResNet18(_ResNet):
    block, preact = BasicBlock, False


class PreActResNet18(_ResNet):
    block, preact = PreActBlock, True
