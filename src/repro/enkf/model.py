"""The paper's ConvNet (spec §2) and its forward pass for a whole ensemble at once.

Layers (NCHW, no biases): conv1 1->10 5x5, act, max-pool 2x2, conv2 10->20 5x5, act,
flatten 1280, fc1 1280->10 (logits). A member is one flat vector of P = 18 050 weights
in state_dict order (conv1.weight, conv2.weight, fc1.weight), row-major.

`ensemble_forward` never loops over members in Python: conv1 is one GEMM shared by
all members (the images are the same), conv2 one grouped convolution, fc1 one batched
matmul. Members are processed in chunks to bound memory (J = 10 000 on a GPU).
Because every activation used here is non-decreasing, max-pooling before the
activation gives exactly the same values as after it, with 4x fewer activations.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SHAPES = {"conv1.weight": (10, 1, 5, 5), "conv2.weight": (20, 10, 5, 5), "fc1.weight": (10, 1280)}
SIZES = {k: math.prod(s) for k, s in SHAPES.items()}
N_PARAMS = sum(SIZES.values())  # 18 050
MACS_PER_IMAGE = 10 * 25 * 24 * 24 + 20 * 250 * 8 * 8 + 10 * 1280  # 476 800
ACTIVATIONS = {"sigmoid": torch.sigmoid, "relu": torch.relu, "tanh": torch.tanh}


class ConvNet(nn.Module):
    """The plain single network (used by the gradient-descent baseline and the tests)."""

    def __init__(self, activation: str = "sigmoid"):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5, bias=False)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5, bias=False)
        self.fc1 = nn.Linear(1280, 10, bias=False)
        self.act = ACTIVATIONS[activation]

    def forward_with_activations(self, x: torch.Tensor):
        """(logits, conv1 activation before pooling, conv2 activation)."""
        act1 = self.act(self.conv1(x))
        act2 = self.act(self.conv2(self.pool(act1)))
        return self.fc1(act2.flatten(1)), act1, act2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_activations(x)[0]


def load_flat(model: ConvNet, flat: torch.Tensor) -> ConvNet:
    """Copy one flat weight vector (P,) into `model` (in place)."""
    with torch.no_grad():
        torch.nn.utils.vector_to_parameters(flat.to(model.conv1.weight), model.parameters())
    return model


def split(U: torch.Tensor):
    """Per-member weight views of an ensemble U (J, P): conv1 (J,10,25), conv2 (J,20,250),
    fc1 (J,10,1280)."""
    J = U.shape[0]
    a, b = SIZES["conv1.weight"], SIZES["conv1.weight"] + SIZES["conv2.weight"]
    return U[:, :a].view(J, 10, 25), U[:, a:b].view(J, 20, 250), U[:, b:].view(J, 10, 1280)


def pool_patches(x: torch.Tensor) -> torch.Tensor:
    """5x5 patches of images x (B,1,28,28), grouped by 2x2 pool offset: (4, B*144, 25).

    Row (k, b*144 + i*12 + j) is the patch under conv1 output pixel (2i + k//2, 2j + k%2).
    """
    B = x.shape[0]
    p = F.unfold(x, 5).view(B, 25, 12, 2, 12, 2)
    return p.permute(3, 5, 0, 2, 4, 1).reshape(4, B * 144, 25).contiguous()


def _forward_chunk(patches: torch.Tensor, U: torch.Tensor, act) -> torch.Tensor:
    w1, w2, w3 = split(U)
    J, B = U.shape[0], patches.shape[1] // 144
    w1 = w1.reshape(J * 10, 25).T
    h = patches[0] @ w1  # conv1 at pool offset 0: (B*144, 10J), NHWC
    for k in (1, 2, 3):  # max-pool as a running maximum over the other 3 offsets
        torch.maximum(h, patches[k] @ w1, out=h)
    h = act(h)  # activation after pooling (exact for monotone activations)
    h = h.view(B, 12, 12, J * 10).permute(0, 3, 1, 2)  # (B, 10J, 12, 12), channels-last
    h = act(F.conv2d(h, w2.reshape(J * 20, 10, 5, 5), groups=J))  # (B, 20J, 8, 8)
    h = h.reshape(B, J, 1280)
    return torch.bmm(h.transpose(0, 1), w3.transpose(1, 2))  # (J, B, 10)


@torch.no_grad()
def ensemble_forward(
    U: torch.Tensor,
    x: torch.Tensor,
    activation: str = "sigmoid",
    chunk: int | None = None,
    patches: torch.Tensor | None = None,
) -> torch.Tensor:
    """Logits of every member on every image: (J, B, 10). `U` is (J, P); `x` (B,1,28,28).

    `chunk` members at a time (None: all); `patches` = pool_patches(x), if precomputed.
    """
    act = ACTIVATIONS[activation]
    patches = pool_patches(x.to(U.dtype)) if patches is None else patches
    J = U.shape[0]
    chunk = J if not chunk else min(chunk, J)
    out = torch.empty(J, patches.shape[1] // 144, 10, dtype=U.dtype, device=U.device)
    for start in range(0, J, chunk):
        out[start : start + chunk] = _forward_chunk(patches, U[start : start + chunk], act)
    return out
