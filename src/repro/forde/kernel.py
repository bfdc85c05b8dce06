"""FoRDE's input-gradient kernel and repulsion (spec sections 1.3, 1.4, 1.7).

Shapes: M members, B samples, D input dimensions (flattened C, H, W - the order of
`repro.pca` and of PyTorch's NCHW tensors), K = D basis components.

`repulsion(grads)` is the repulsion "loss" R = (1/B) sum_i log sum_j k(theta_i, theta_j)
of the released code (`get_repulsive_term`): unit-normalised gradients, optional
projection onto a basis with per-component weights (PCA: the eigenvalues), pairwise
squared distances against stop-gradient copies, a median-heuristic bandwidth per
(j, b) over i (including the zero self-distance; JAX's median = torch.quantile's), and
log sum_j k as logsumexp over (j, b) minus log B. `variant="paper"` is Algorithm 1
instead: distances halved, one bandwidth per sample over all M^2 pairs,
h_b = median / (2 ln M).
"""

from __future__ import annotations

import math

import numpy as np
import torch

MEDIAN_FLOOR = 1e-12  # added to the bandwidth (code); keeps 0/0 out at a zero-init head


def unit_normalise(grads: torch.Tensor, eps: float) -> torch.Tensor:
    """s = g / sqrt(||g||^2 + eps) along the last axis (eps is added to the SQUARED norm)."""
    return grads / torch.sqrt(grads.square().sum(-1, keepdim=True) + eps)


def pairwise_sqdist(s: torch.Tensor) -> torch.Tensor:
    """D[i, j, b] = ||s[i, b] - stopgrad(s[j, b])||^2 for s of shape (M, B, K).

    The difference form keeps the diagonal exactly 0 with an exactly zero gradient."""
    diff = s.unsqueeze(1) - s.detach().unsqueeze(0)  # (M, M, B, K)
    return diff.square().sum(-1)


def median(x: torch.Tensor, dim) -> torch.Tensor:
    """Median averaging the two middle values for even counts (as jnp.median).

    `torch.quantile(x, 0.5, dim)`'s arithmetic (sort, then lerp of the two middle values
    with weight 0.5 (n - 1) - floor(0.5 (n - 1)); NaN if the slice holds a NaN) without
    its checks and copies, which cost more than the sort on these small slices."""
    if isinstance(dim, tuple):  # flatten the leading dims named in `dim` (0, 1)
        x, dim = x.reshape(-1, *x.shape[len(dim) :]), 0
    n = x.shape[dim]
    rank = 0.5 * (n - 1)
    below = int(rank)
    ordered = torch.sort(x, dim=dim).values
    lo = ordered.narrow(dim, below, 1).squeeze(dim)
    hi = ordered.narrow(dim, min(below + 1, n - 1), 1).squeeze(dim)
    out = torch.lerp(lo, hi, rank - below)
    return torch.where(x.isnan().any(dim), torch.full_like(out, float("nan")), out)


def log_kernel(sqdist: torch.Tensor, variant: str = "code", med=None) -> torch.Tensor:
    """log kappa[i, j, b] from squared distances (M, M, B); bandwidths on stop-gradient
    values (`med`: median(sqdist.detach(), 0) if the caller has it already)."""
    members = sqdist.shape[0]
    if members < 2:
        raise ValueError("the repulsion needs at least two members (log M = 0)")
    d = sqdist.detach()
    if variant == "code":
        med = median(d, 0) if med is None else med
        bandwidth = med / math.log(members) + MEDIAN_FLOOR  # (M_j, B)
        return -sqdist / bandwidth.unsqueeze(0)
    if variant == "paper":
        bandwidth = median(d / 2, (0, 1)) / (2 * math.log(members)) + MEDIAN_FLOOR  # (B,)
        return -(sqdist / 2) / bandwidth
    raise ValueError(f"unknown kernel variant {variant!r} (code | paper)")


def repulsion(
    grads: torch.Tensor,
    projection: torch.Tensor | None = None,
    eps: float = 1e-24,
    variant: str = "code",
    isotropic: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(R, mean bandwidth median) for input gradients `grads` (M, B, D).

    `projection` (D, K) = U diag(sqrt(w)) maps a unit gradient to the kernel's space
    (None: identity lengthscales, FoRDE-Identity). `isotropic` w0 adds w0 ||d||^2 to the
    squared distances (the complement of a low-rank basis, see `low_rank_projection`).
    The gradient of R w.r.t. member i's gradients is (1/B) * sum_j grad k_ij / sum_j k_ij
    (the others held fixed)."""
    members, batch = grads.shape[:2]
    s = unit_normalise(grads, eps)
    if projection is not None:
        projected = s @ projection
        s = torch.cat([projected, math.sqrt(isotropic) * s], -1) if isotropic else projected
    sqdist = pairwise_sqdist(s)
    med = median(sqdist.detach(), 0)  # (M_j, B): the code variant's bandwidths, and logged
    logk = log_kernel(sqdist, variant, med)  # (M_i, M_j, B)
    log_sum = torch.logsumexp(logk.reshape(members, -1), dim=1) - math.log(batch)
    return log_sum.sum() / batch, med.mean()


# ----------------------------------------------------------------------- RDE baselines
def rbf_repulsion(particles: torch.Tensor) -> torch.Tensor:
    """sum_i log sum_j k(v_i, stopgrad v_j) for particle vectors `particles` (M, P): the
    KDE repulsion of weight- and function-space RDE (D'Angelo & Fortuin 2021, code
    `ratschlab/repulsive_ensembles`: `utils/kernel.py` RBF + `methods/WGD.py` 'kde').

    k = exp(-d^2 / (2h)), d^2 the squared Euclidean distance, h = median(d^2) /
    (2 ln(M + 1)) over all M^2 pairs (self-distances included, np.median) on
    stop-gradient values. Its gradient w.r.t. v_i is sum_j grad k_ij / sum_j k_ij."""
    members = particles.shape[0]
    sqdist = _sqdist_to_fixed(particles)
    h = median(sqdist.detach().reshape(-1), 0) / (2 * math.log(members + 1))
    logk = -sqdist / (2 * h + 1e-8)  # the code's gamma = 1 / (1e-8 + 2 sigma^2)
    return torch.logsumexp(logk, dim=1).sum()


def _sqdist_to_fixed(v: torch.Tensor) -> torch.Tensor:
    """D[i, j] = ||v_i - stopgrad v_j||^2 for v (M, P), without the (M, M, P) difference
    tensor (the cost of a weight-RDE step with thousands of parameters per member):
    ||a||^2 - 2 a.b + ||b||^2 on vectors centred by their (stop-gradient) mean, in
    float64, so the cancellation stays at rounding level; the gradient w.r.t. v_i,
    2 (v_i - v_j), is the difference form's. The diagonal is set to exactly 0 with a zero
    gradient, as the difference form has it."""
    centre = v.detach().mean(0, keepdim=True)
    a = (v - centre).double()
    b = a.detach()
    sq = a.square().sum(1, keepdim=True) - 2 * a @ b.T + b.square().sum(1)[None]
    off = 1.0 - torch.eye(len(v), dtype=sq.dtype, device=sq.device)
    return (sq.clamp_min(0) * off).to(v.dtype)


# ----------------------------------------------------------------------- lengthscales
def component_weights(eigenvalues, mode: str, alpha: float = 1.0, form: str = "paper"):
    """Inverse squared lengthscales per PCA component (spec 1.3, 1.7).

    pca:   w = lambda (Sigma^-1 = Lambda)
    tuned: paper  w = 1 / (alpha / lambda + 1 - alpha)   (Sigma_a = a Lambda^-1 + (1-a) I)
           site   w = (1 - alpha) + alpha * lambda       (Sigma_a^-1 interpolated)
    """
    lam = torch.as_tensor(eigenvalues, dtype=torch.float64, device="cpu").clamp_min(0.0)
    if mode == "pca":
        return lam
    if mode != "tuned":
        raise ValueError(f"unknown lengthscale mode {mode!r}")
    if form == "paper":
        return 1.0 / (alpha / lam.clamp_min(1e-30) + (1.0 - alpha))
    if form == "site":
        return (1.0 - alpha) + alpha * lam
    raise ValueError(f"unknown FoRDE-Tuned form {form!r} (paper | site)")


def projection_matrix(basis, weights, dtype=torch.float32, device="cpu") -> torch.Tensor:
    """U diag(sqrt(w)) (D, K): squared distances after it are d^T U W U^T d."""
    u = torch.as_tensor(basis, dtype=torch.float64, device="cpu")
    return (u * weights.cpu().sqrt().unsqueeze(0)).to(dtype=dtype, device=device)


def low_rank_projection(
    eigenvalues,
    basis,
    dims: int,
    mode: str,
    alpha=1.0,
    form="paper",
    dtype=torch.float32,
    device="cpu",
) -> tuple[torch.Tensor, float]:
    """(projection, w0) for a basis of K < D eigenvectors whose other eigenvalues are 0.

    The complement of the basis has eigenvalue 0, hence one weight w0 = w(0) (0 for
    `pca`, 1 for `tuned` at alpha 0, 1 - alpha for the site form), so the metric is
    U diag(w) U^T + w0 (I - U U^T) = U diag(w - w0) U^T + w0 I: the projection
    U diag(sqrt(w - w0)) plus `isotropic` w0 in `repulsion` give the same distances as
    the full D x D eigenbasis, without forming it (w is non-decreasing in lambda for
    every mode, so w - w0 >= 0)."""
    weights = component_weights(eigenvalues, mode, alpha, form)
    if len(weights) == dims:
        return projection_matrix(basis, weights, dtype, device), 0.0
    w0 = float(component_weights(torch.zeros(1, dtype=torch.float64), mode, alpha, form)[0])
    return projection_matrix(basis, (weights - w0).clamp_min(0.0), dtype, device), w0


# ----------------------------------------------------------------------- PCA basis
def second_moment(x: np.ndarray) -> np.ndarray:
    """X^T X / (N - 1) of the rows of x (float64): the code's UNcentred 'covariance'."""
    x = np.asarray(x, dtype=np.float64)
    return x.T @ x / (len(x) - 1)


def eig_desc(matrix) -> tuple[np.ndarray, np.ndarray]:
    """(eigenvalues, eigenvectors as columns), by decreasing eigenvalue, clipped at 0."""
    values, vectors = torch.linalg.eigh(torch.as_tensor(matrix, dtype=torch.float64, device="cpu"))
    order = torch.argsort(values, descending=True)
    return values[order].clamp_min(0).numpy(), vectors[:, order].numpy()


def kernel_basis(pca, n: int, mean, std, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """(eigenvalues, eigenvectors as columns) of `second_moment_from_pca`, by decreasing
    eigenvalue.

    A PCA of all D components (N > D images: every paper dataset) takes the D x D
    eigendecomposition. A PCA of K < D components (N <= D images) spans the data, so the
    second moment is F F^T with F = S^-1 [C^T diag(sqrt(var)), sqrt(N/(N-1)) (mu - m)]
    (D x (K+1)), and its non-zero eigenpairs come from the thin SVD of F: O(D K^2) instead
    of O(D^3) (a 12 288-pixel TinyImageNet basis from a few images); the D - K - 1 others
    are 0 (`low_rank_projection`)."""
    if len(pca.components) == np.shape(pca.components)[1]:
        return eig_desc(second_moment_from_pca(pca, n, mean, std, channels))
    factor = second_moment_from_pca(pca, n, mean, std, channels, factor=True)
    basis, singular, _ = np.linalg.svd(factor, full_matrices=False)
    return singular**2, basis


def second_moment_from_pca(
    pca, n: int, mean, std, channels: int, factor: bool = False
) -> np.ndarray:
    """The uncentred second moment of the per-channel-normalised images, from the
    foundation's centred PCA of pixels/255 (`repro.pca`, C,H,W order, ddof=1).

    sum_n (x_n - m)(x_n - m)^T / (N - 1) = Cov + N/(N-1) (mu - m)(mu - m)^T, then divided
    by std_d std_e; m, std repeat each channel's constant over its H*W pixels.
    `factor`: F (D x (K+1)) with F F^T that matrix, instead of the D x D matrix."""
    components = np.asarray(pca.components, dtype=np.float64)
    dims = components.shape[1]
    kept = float(np.sum(pca.explained_variance))
    # Fewer than D components are exact when they hold all the variance (N <= D images:
    # the covariance has rank < N, the rest of its eigenvalues are 0).
    if components.shape[0] != dims and abs(kept - pca.total_variance) > 1e-9 * max(kept, 1.0):
        raise ValueError(
            f"the PCA file holds {components.shape[0]} of {dims} components and "
            f"{kept / pca.total_variance:.6f} of the variance; the FoRDE kernel needs all of it"
        )
    variance = np.asarray(pca.explained_variance, dtype=np.float64)
    m = np.repeat(np.asarray(mean, dtype=np.float64), dims // channels)
    s = np.repeat(np.asarray(std, dtype=np.float64), dims // channels)
    delta = np.asarray(pca.mean, dtype=np.float64) - m
    if factor:
        columns = np.concatenate([components.T * np.sqrt(variance), delta[:, None]], axis=1)
        columns[:, -1] *= np.sqrt(n / (n - 1))
        return columns / s[:, None]
    cov = (components.T * variance) @ components
    second = cov + n / (n - 1) * np.outer(delta, delta)
    return second / np.outer(s, s)
