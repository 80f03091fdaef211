"""The zero-inflated Laplace: symbol 0 with its own probability, a two-sided geometric tail beyond it.

Weights trained under a rate term are mostly zero (70-90% on the sample) with tails far heavier
than the one-parameter Laplace that matches that many zeros allows, so one shape parameter pays
for both. This family has two::

    P(0) = p0            P(k) = (1 - p0) / 2 * (1 - r) * r**(|k| - 1)   for k != 0

It is what a continuous density ``p0`` on (-1/2, 1/2) plus ``(1 - p0)`` times a Laplace of scale
``b`` shifted to start at +-1/2 gives on the unit bins, with ``r = exp(-1/b)``; ``rate_bits``
integrates that density over [y - 1/2, y + 1/2] for continuous ``y`` (noise training), exact
at the integers (straight-through rounding).

The file stores ``Z = round(p0 * 2**16)`` (1 .. 2**16 - 1), ``S = round(r * 2**32)`` and the
largest magnitude ``K``; ``frequencies(Z, S, K)`` derives the integer table with integer
arithmetic only, as ``laplace.frequencies`` does. ``fit_stream`` chooses the parameters in closed
form (the maximum-likelihood p0 and r of the symbols, i.e. the shortest code under this family).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .laplace import MAX_K, ONE

Z_ONE = 1 << 16                # fixed point of p0
_LN2 = math.log(2.0)


def frequencies(Z: int, S: int, K: int) -> np.ndarray:
    """Integer masses of symbols -K..K (uint64, all >= 1) from the stored parameters, exactly."""
    if not 1 <= Z < Z_ONE:
        raise ValueError(f"zero probability {Z} is outside 1..2**16-1")
    if not 1 <= S < ONE:
        raise ValueError(f"tail parameter {S} is outside 1..2**32-1")
    if not 0 <= K <= MAX_K:
        raise ValueError(f"Laplace range {K} is outside 0..{MAX_K}")
    zero = Z << 16                          # p0, Q32
    first = ((ONE - zero) * (ONE - S)) >> 33  # (1 - p0) / 2 * (1 - r), Q32
    tail, v = [], ONE                       # v = r**(k-1), Q32
    for _ in range(K):
        tail.append(max((first * v) >> 32, 1))
        v = (v * S) >> 32
    return np.array(tail[::-1] + [zero] + tail, dtype=np.uint64)


def rate_bits(y: torch.Tensor, b: torch.Tensor, p0: torch.Tensor) -> torch.Tensor:
    """-log2 of the probability of [y - 1/2, y + 1/2] elementwise; differentiable in y, b and p0."""
    a = y.abs()
    b = b.clamp_min(1e-3)
    p0 = p0.clamp(1e-6, 1 - 1e-6)
    log_tail = torch.log((1 - p0) / 2) + torch.log(-torch.expm1(-1.0 / b))
    # |y| >= 1: the bin lies in the tail
    far = log_tail - (a.clamp_min(1.0) - 1.0) / b
    # |y| < 1: part of the centre, part of the first tail bin
    an = a.clamp_max(1.0)
    near = torch.log((p0 * (1 - an) + (1 - p0) / 2 * (-torch.expm1(-an / b))).clamp_min(1e-12))
    logp = torch.where(a >= 1.0, far, near)
    return -logp.clamp_min(-60.0) / _LN2


def fit_stream(s: np.ndarray) -> tuple[int, int, int]:
    """(Z, S, K) for the symbols ``s``: the fraction of zeros and the geometric tail's maximum-likelihood
    ratio, in fixed point."""
    s = np.abs(np.asarray(s, dtype=np.int64).reshape(-1))
    k = int(s.max()) if s.size else 0
    if k > MAX_K:
        raise ValueError(f"symbols reach {k}, beyond the model's range {MAX_K}")
    n = s.size
    nonzero = s[s > 0]
    p0 = (n - nonzero.size) / n if n else 0.5
    Z = int(min(max(round(p0 * Z_ONE), 1), Z_ONE - 1))
    excess = float(nonzero.mean() - 1.0) if nonzero.size else 0.0   # mean of |k| - 1 over the tail
    r = excess / (1.0 + excess)
    S = int(min(max(round(r * ONE), 1), ONE - 1))
    return Z, S, k


def initial(y: torch.Tensor, dims=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(b, p0) to start training from, for values ``y`` over their step (reduced over ``dims``, all by default)."""
    a = y.abs()
    dims = tuple(range(y.ndim)) if dims is None else dims
    centre = (a < 0.5).float()
    p0 = centre.mean(dim=dims).clamp(0.02, 0.98)
    tail = ((a - 0.5).clamp_min(0) * (1 - centre)).sum(dim=dims) / (1 - centre).sum(dim=dims).clamp_min(1)
    return tail.clamp_min(0.05), p0
