"""Corrupted test sets (spec sections 2.5, 5).

Quick preset: deterministic corruptions of the test images, five severities each,
written from the definitions of Hendrycks & Dietterich (2019) with their ImageNet-C
severity constants (the CIFAR-C ones barely change MNIST digits: 96.5 % corrupted vs
96.8 % clean accuracy in our first run); images are float tensors in [0, 1], shape
(N, C, H, W). The maintained `imagecorruptions` 1.1.2 package does not run with the
project's scikit-image/SciPy (it passes the removed `multichannel=` argument) and pulls
in OpenCV, so the few the spec lists are written here. Each (type, severity) draws its
noise from its own seeded generator, so every method and seed sees the same images.

Paper preset: CIFAR-10-C / CIFAR-100-C (`<type>.npy`, uint8 (50000, 32, 32, 3),
severities 1..5 in blocks of 10 000, plus `labels.npy`) and Tiny-ImageNet-C
(`<type>/<severity>/<wnid>/*.JPEG`), read from a verified dataset folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

CIFAR_C_TYPES = (
    "saturate",
    "shot_noise",
    "gaussian_noise",
    "zoom_blur",
    "glass_blur",
    "brightness",
    "contrast",
    "motion_blur",
    "pixelate",
    "snow",
    "speckle_noise",
    "spatter",
    "gaussian_blur",
    "frost",
    "defocus_blur",
    "elastic_transform",
    "impulse_noise",
    "jpeg_compression",
    "fog",
)  # fmt: skip  (the order of the code's datasets.py)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator(device="cpu").manual_seed(seed)


def gaussian_noise(x, severity, gen):
    c = (0.08, 0.12, 0.18, 0.26, 0.38)[severity - 1]
    return x + c * torch.randn(x.shape, generator=gen, device=x.device)


def shot_noise(x, severity, gen):
    c = (60, 25, 12, 5, 3)[severity - 1]
    return torch.poisson(x * c, generator=gen) / c


def impulse_noise(x, severity, gen):
    """Salt and pepper on a fraction `amount` of the values (skimage 's&p', half each)."""
    amount = (0.03, 0.06, 0.09, 0.17, 0.27)[severity - 1]
    u = torch.rand(x.shape, generator=gen, device=x.device)
    salt = torch.rand(x.shape, generator=gen, device=x.device) < 0.5
    hit = u < amount
    return torch.where(hit & salt, 1.0, torch.where(hit, 0.0, x))


def speckle_noise(x, severity, gen):
    c = (0.15, 0.2, 0.35, 0.45, 0.6)[severity - 1]
    return x + x * c * torch.randn(x.shape, generator=gen, device=x.device)


def contrast(x, severity, gen):
    c = (0.4, 0.3, 0.2, 0.1, 0.05)[severity - 1]
    means = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - means) * c + means


def brightness(x, severity, gen):
    """ImageNet-C adds c to the HSV value; for grey images that is adding c to the pixel."""
    c = (0.1, 0.2, 0.3, 0.4, 0.5)[severity - 1]
    if x.shape[1] == 1:
        return x + c
    value = x.max(1, keepdim=True).values
    return x * ((value + c).clamp(0, 1) / value.clamp_min(1e-12))  # scale V, keep H and S


def pixelate(x, severity, gen):
    c = (0.6, 0.5, 0.4, 0.3, 0.25)[severity - 1]
    h, w = x.shape[-2:]
    small = F.interpolate(x, size=(int(h * c), int(w * c)), mode="area")  # PIL BOX down
    return F.interpolate(small, size=(h, w), mode="nearest")  # PIL BOX up


def box_blur(x, severity, gen):
    """Mean over a k x k window, k = 2..6 (edge pixels replicated)."""
    k = severity + 1
    padded = F.pad(x, ((k - 1) // 2, k // 2, (k - 1) // 2, k // 2), mode="replicate")
    return F.avg_pool2d(padded, k, stride=1)


SYNTHETIC = {
    f.__name__: f
    for f in (
        gaussian_noise,
        shot_noise,
        impulse_noise,
        speckle_noise,
        contrast,
        brightness,
        pixelate,
        box_blur,
    )
}


def corrupt(x: torch.Tensor, name: str, severity: int, seed: int = 0) -> torch.Tensor:
    """Corrupted copy of images x (N, C, H, W) in [0, 1], quantised to 8 bits like a
    saved CIFAR-C image; deterministic in (name, severity, seed)."""
    if name not in SYNTHETIC:
        raise KeyError(f"unknown synthetic corruption {name!r}; known: {', '.join(SYNTHETIC)}")
    if not 1 <= severity <= 5:
        raise ValueError("severity is 1..5")
    index = list(SYNTHETIC).index(name)
    out = SYNTHETIC[name](x.float().cpu(), severity, _gen(seed * 1000 + index * 10 + severity))
    return torch.round(out.clamp(0, 1) * 255) / 255


# ----------------------------------------------------------------------- downloaded sets
def cifar_c(folder: str | Path, name: str, severity: int, limit: int | None = None):
    """(uint8 images (N, 3, 32, 32), labels) of one CIFAR-10/100-C type and severity.

    Each `<type>.npy` stacks severities 1-5 in equal blocks (10 000 images each in the
    released sets; the block size is read from `labels.npy`)."""
    folder = Path(folder)
    labels = np.load(folder / "labels.npy", mmap_mode="r")
    per = len(labels) // 5
    sl = slice((severity - 1) * per, (severity - 1) * per + min(limit or per, per))
    images = np.load(folder / f"{name}.npy", mmap_mode="r")[sl]
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2)), np.asarray(labels[sl], np.int64)


def tinyimagenet_c_types(folder: str | Path) -> list[str]:
    """Corruption types present in a Tiny-ImageNet-C folder (spec 6.2 item 8: count them)."""
    return sorted(p.name for p in Path(folder).iterdir() if p.is_dir())


def tinyimagenet_c(folder: str | Path, name: str, severity: int, classes: list[str]):
    """(uint8 images (N, 3, 64, 64), labels) read from `<type>/<severity>/<wnid>/*`."""
    from PIL import Image

    images, labels = [], []
    for label, wnid in enumerate(classes):
        for path in sorted((Path(folder) / name / str(severity) / wnid).iterdir()):
            images.append(np.asarray(Image.open(path).convert("RGB")).transpose(2, 0, 1))
            labels.append(label)
    return np.stack(images), np.asarray(labels, dtype=np.int64)
