"""Image data for the ensemble experiments: loading, normalisation and augmentation."""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Per-channel constants of the code's datasets.py, on the [0, 1] pixel scale
# (TinyImageNet's 0-255 statistics divided by 255: the same normalised values).
NORMALISATION = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "tinyimagenet": (
        tuple(v / 255 for v in (122.4786, 114.2755, 101.3963)),
        tuple(v / 255 for v in (70.4924, 68.5679, 71.8127)),
    ),
}


def normaliser(dataset: str, device):
    mean, std = NORMALISATION[dataset]
    mean = torch.tensor(mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(std, device=device).view(1, -1, 1, 1)
    return lambda x: (x - mean) / std


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 -> float in [0, 1]."""
    return images.float() / 255.0


def random_crop_flip(x: torch.Tensor, padding: int = 4, flip: bool = True) -> torch.Tensor:
    """RandomCrop(size, padding, zero fill) + RandomHorizontalFlip(0.5) of a batch of
    [0, 1] images, drawing from torch's global generator (on the CPU, so the draws do
    not depend on the device)."""
    batch, _, height, width = x.shape
    cpu = torch.device("cpu")
    offsets = torch.randint(0, 2 * padding + 1, (2, batch), device=cpu)
    flips = torch.rand(batch, device=cpu) < 0.5
    padded = F.pad(x, (padding,) * 4)
    rows = (offsets[0][:, None] + torch.arange(height, device=cpu)).to(x.device)  # (B, H)
    cols = (offsets[1][:, None] + torch.arange(width, device=cpu)).to(x.device)  # (B, W)
    if flip:
        cols = torch.where(flips[:, None].to(x.device), cols.flip(1), cols)
    index = torch.arange(batch, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[index, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()
