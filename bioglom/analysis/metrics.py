"""Representation metrics (docs/design.md §8), each defined once with its formula."""

from __future__ import annotations

import math

import torch

from ..config import ConfigError

__all__ = ["linear_probe", "accuracy_stderr", "mean_norm", "dimension_std", "effective_rank", "alignment",
           "uniformity", "representation_metrics"]


def linear_probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
                 ridge: float = 1e-2, return_correct: bool = False, standardise: bool = True):
    """Accuracy of a linear read-out on held-out data, fitted in closed form (float64).

    Features are standardised with the training mean and std (``standardise=False``: used
    as they are, so the probe sees their scale: features shrunk toward 0 are swamped by
    the fixed ridge and accuracy falls, as it should under collapse); the read-out is ridge
    regression onto one-hot labels, ``W = (X^T X + ridge * n I)^{-1} X^T Y`` (with a bias
    column), and a test sample is assigned the class of its largest output.

    Parameters
    ----------
    train_x, test_x : ``[n, d]`` features. train_y, test_y : ``[n]`` integer labels.
    ridge : regularisation, relative to the number of training samples.

    Returns
    -------
    Fraction of test samples classified correctly (with ``return_correct``: the bool
    ``[n_test]`` of which were).
    """
    if train_x.dim() != 2 or test_x.dim() != 2 or train_x.shape[1] != test_x.shape[1]:
        raise ConfigError(f"probe features have shapes {tuple(train_x.shape)} and {tuple(test_x.shape)}; "
                          "they must be [n, d] with the same d")
    if len(train_x) != len(train_y) or len(test_x) != len(test_y):
        raise ConfigError("probe features and labels must have the same number of samples")
    x, xt = train_x.double().cpu(), test_x.double().cpu()
    if standardise:
        mu, sd = x.mean(0), x.std(0).clamp_min(1e-8)
        x, xt = (x - mu) / sd, (xt - mu) / sd
    x = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)
    xt = torch.cat([xt, torch.ones(len(xt), 1, dtype=xt.dtype)], 1)
    classes = int(max(train_y.max(), test_y.max())) + 1
    y = torch.nn.functional.one_hot(train_y.long().cpu(), classes).double()
    a = x.T @ x + ridge * len(x) * torch.eye(x.shape[1], dtype=x.dtype)
    w = torch.linalg.solve(a, x.T @ y)
    correct = (xt @ w).argmax(1) == test_y.long().cpu()
    return correct if return_correct else float(correct.double().mean())


def accuracy_stderr(acc: float, n: int) -> float:
    """Binomial standard error of an accuracy measured on ``n`` samples: ``sqrt(p (1 - p) / n)``."""
    return math.sqrt(max(acc * (1 - acc), 0.0) / n)


def _rows(x: torch.Tensor) -> torch.Tensor:
    if x.dim() != 2:
        raise ConfigError(f"embeddings have shape {tuple(x.shape)}; they must be [n, d]")
    return x.double()


def mean_norm(x: torch.Tensor) -> float:
    """Mean embedding norm, ``mean_i ||x_i||`` over the rows of ``x [n, d]``."""
    return float(_rows(x).norm(dim=1).mean())


def dimension_std(x: torch.Tensor) -> torch.Tensor:
    """Per-dimension standard deviation of the normalised embeddings, ``std_i (x_i / ||x_i||)_k``
    for each dimension ``k`` (``[d]``; population std). 0 for every dimension when all
    rows point the same way: the signature of collapse."""
    z = torch.nn.functional.normalize(_rows(x), dim=1)
    return z.std(0, unbiased=False)


def effective_rank(x: torch.Tensor, centre: bool = False) -> float:
    """Effective rank (Roy & Vetterli 2007): ``exp(-sum_k p_k log p_k)`` with
    ``p_k = sigma_k / sum_j sigma_j`` the normalised singular values of ``x [n, d]``,
    uncentred or, with ``centre=True``, of ``x - mean_i x_i`` (so a common offset, which
    every collapsed representation shares, does not count as a dimension). 1 for
    identical rows (uncentred; 0 centred: nothing varies); ``k`` for ``k`` orthonormal rows."""
    rows = _rows(x)
    if centre:
        rows = rows - rows.mean(0)
    s = torch.linalg.svdvals(rows)
    if s.sum() <= 1e-12 * max(float(_rows(x).abs().max()), 1e-300):
        return 0.0  # nothing varies
    p = s / s.sum().clamp_min(1e-300)
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def alignment(x: torch.Tensor, y: torch.Tensor, alpha: float = 2.0) -> float:
    """Alignment of positive pairs (Wang & Isola 2020): ``mean_i ||z_i - w_i||^alpha`` with
    ``z, w`` the l2-normalised rows of ``x`` and ``y`` (lower: positives closer)."""
    z = torch.nn.functional.normalize(_rows(x), dim=1)
    w = torch.nn.functional.normalize(_rows(y), dim=1)
    return float(((z - w).norm(dim=1) ** alpha).mean())


def uniformity(x: torch.Tensor, t: float = 2.0) -> float:
    """Uniformity (Wang & Isola 2020): ``log mean_{i<j} exp(-t ||z_i - z_j||^2)`` over distinct
    pairs of l2-normalised rows (lower: spread more evenly over the sphere)."""
    z = torch.nn.functional.normalize(_rows(x), dim=1)
    if len(z) < 2:
        raise ConfigError(f"uniformity needs at least 2 embeddings; got {len(z)}")
    d2 = torch.pdist(z) ** 2
    return float(torch.logsumexp(-t * d2, 0) - math.log(len(d2)))


def representation_metrics(x: torch.Tensor) -> dict:
    """What shows collapse in embeddings ``x [n, d]``: the mean norm ``mean_i ||x_i||``, the
    spread ``mean_i ||x_i - mean_j x_j||`` (toward 0 as the rows become one; layer-normalised
    states keep their norm, so only the spread shows it) and the centred effective rank."""
    return {"norm": mean_norm(x), "spread": mean_norm(x - x.mean(0)), "effective_rank": effective_rank(x, centre=True)}
