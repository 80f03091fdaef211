"""The discretised Laplace: a one-parameter probability model of integer symbols.

``P(k) = F(k + 1/2) - F(k - 1/2)`` for a zero-mean Laplace of scale ``b`` (CDF ``F``). With
``s = exp(-1 / (2 b))`` in (0, 1) this is, exactly::

    P(0) = 1 - s            P(k) = (1 - s**2) / 2 * s**(2|k| - 1)   for k != 0

Training (``rate_bits``) evaluates the same formula on continuous values (the symbols with
uniform noise added, or rounded with a straight-through gradient) in float, so the rate is
differentiable in the values and in ``b``.

The file stores ``s`` as a 32-bit fixed-point integer ``S = round(s * 2**32)`` and the largest
magnitude ``K`` of the tensor's symbols. ``frequencies(S, K)`` derives the integer table of
``[-K, K]`` from those two integers with integer arithmetic only (Python ints), so the encoder
and every decoder build the same table whatever the machine, thread count or dtype; the coder
then turns the integers into its probabilities exactly as the stored-table coder does
(``entropy.coder_model``). Nothing of the table is stored.
"""
from __future__ import annotations

import math

import numpy as np
import torch

ONE = 1 << 32                 # fixed point of s
MAX_K = 65535                 # largest symbol magnitude a model covers
_LN2 = math.log(2.0)


def s_of_b(b: float) -> float:
    return math.exp(-0.5 / b)


def fixed_s(b: float) -> int:
    """The stored parameter for scale ``b``."""
    return int(min(max(round(s_of_b(b) * ONE), 1), ONE - 1))


def frequencies(S: int, K: int) -> np.ndarray:
    """Integer masses of symbols -K..K (uint64, all >= 1) from the stored parameters, exactly."""
    if not 1 <= S < ONE:
        raise ValueError(f"Laplace parameter {S} is outside 1..2**32-1")
    if not 0 <= K <= MAX_K:
        raise ValueError(f"Laplace range {K} is outside 0..{MAX_K}")
    s2 = (S * S) >> 32                      # s**2, Q32
    tail = []
    v = S                                   # s**(2k-1), Q32
    for _ in range(K):
        tail.append(max(((ONE - s2) * v) >> 33, 1))   # (1 - s**2) / 2 * s**(2k-1), Q32
        v = (v * s2) >> 32
    zero = max(ONE - S, 1)
    return np.array(tail[::-1] + [zero] + tail, dtype=np.uint64)


def rate_bits(y: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """-log2 P(y) elementwise (``b`` broadcasts against ``y``); differentiable in both."""
    a = y.abs()
    b = b.clamp_min(1e-3)
    # |y| >= 1/2: log(1/2) - (|y| - 1/2) / b + log(1 - exp(-1/b))
    far = math.log(0.5) - (a.clamp_min(0.5) - 0.5) / b + torch.log(-torch.expm1(-1.0 / b))
    # |y| < 1/2: 1 - (exp(-(1/2 + |y|) / b) + exp(-(1/2 - |y|) / b)) / 2
    an = a.clamp_max(0.5)
    near = torch.log((1.0 - 0.5 * (torch.exp(-(0.5 + an) / b) + torch.exp(-(0.5 - an) / b))).clamp_min(1e-12))
    logp = torch.where(a >= 0.5, far, near)
    return -logp.clamp_min(-60.0) / _LN2


def histogram_bits(values: np.ndarray, counts: np.ndarray, b: float) -> float:
    """Bits of symbols ``values`` (with ``counts``) under scale ``b``, in float: for fitting ``b``."""
    with torch.no_grad():
        bits = rate_bits(torch.from_numpy(values.astype(np.float64)), torch.tensor(float(b), dtype=torch.float64))
    return float((bits.numpy() * counts).sum())


def best_b(symbols: np.ndarray) -> float:
    """The scale that codes ``symbols`` in the fewest bits (a golden-section search on log b)."""
    values, counts = np.unique(np.asarray(symbols).reshape(-1), return_counts=True)
    if values.size == 0:
        return 1.0
    lo, hi = math.log(0.05), math.log(max(4.0 * float(np.abs(values).max()), 1.0) + 1.0)
    g = (math.sqrt(5) - 1) / 2
    x1, x2 = hi - g * (hi - lo), lo + g * (hi - lo)
    f1, f2 = histogram_bits(values, counts, math.exp(x1)), histogram_bits(values, counts, math.exp(x2))
    for _ in range(40):
        if f1 <= f2:
            hi, x2, f2 = x2, x1, f1
            x1 = hi - g * (hi - lo)
            f1 = histogram_bits(values, counts, math.exp(x1))
        else:
            lo, x1, f1 = x1, x2, f2
            x2 = lo + g * (hi - lo)
            f2 = histogram_bits(values, counts, math.exp(x2))
    return math.exp((lo + hi) / 2)




# -- the discretised Laplace about a fractional mean (laplace_nb, format 1.5) ----------------------------
PHASES = 8  # the mean's fraction is coded in eighths: j / PHASES, j = 0 .. PHASES - 1


def quarter_powers(S: int, n: int) -> list[int]:
    """s**(i/4) in Q32 for i = 0 .. n - 1: s**(1/4) by two exact integer square roots, then repeated
    products (each truncated), integers only, so every decoder derives the same values."""
    u = math.isqrt(math.isqrt(S << 32) << 32)  # s**(1/2), then s**(1/4), Q32
    out, v = [], ONE
    for _ in range(n):
        out.append(v)
        v = (v * u) >> 32
    return out


def phase_frequencies(S: int, K: int) -> list[np.ndarray]:
    """For each phase j, the integer masses (uint64, all >= 1) of symbols -K..K for a Laplace of parameter
    ``S`` about the mean ``j / PHASES``: symbol k lies x = k - j/8 from it and has mass

        |x| >= 1/2:  (1 - s**2) / 2 * s**(2|x| - 1)        |x| < 1/2:  1 - (s**(1 - 2x) + s**(1 + 2x)) / 2

    (the exponents are whole quarters, ``quarter_powers``)."""
    if not 1 <= S < ONE:
        raise ValueError(f"Laplace parameter {S} is outside 1..2**32-1")
    if not 0 <= K <= MAX_K:
        raise ValueError(f"Laplace range {K} is outside 0..{MAX_K}")
    pw = quarter_powers(S, 8 * K + 12)
    tail_scale = ONE - pw[8]  # 1 - s**2, Q32
    tables = []
    for j in range(PHASES):
        row = []
        for k in range(-K, K + 1):
            e = 8 * k - j  # 8x
            if e >= 4:
                m = (tail_scale * pw[e - 4]) >> 33
            elif e <= -4:
                m = (tail_scale * pw[-e - 4]) >> 33
            else:
                m = ONE - ((pw[4 - e] + pw[4 + e]) >> 1)
            row.append(max(m, 1))
        tables.append(np.array(row, dtype=np.uint64))
    return tables
