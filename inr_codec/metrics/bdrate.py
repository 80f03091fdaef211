"""Bjøntegaard delta rate and delta PSNR (VCEG-M33) with piecewise cubic interpolation.

The JCT-VC / JVET common-test-conditions spreadsheets (and the FAU-LMS ``bjontegaard``
package, which matches them) interpolate each rate-distortion curve with a piecewise cubic
Hermite interpolating polynomial (PCHIP, Fritsch-Carlson slopes) instead of VCEG-M33's single
cubic fit, and integrate it exactly:

* BD-rate: log-rate as a function of PSNR for each curve; both are integrated over the PSNR
  range the two curves share; the mean difference d (natural log) gives ``(exp(d) - 1) · 100``,
  the average rate change of the test curve at equal quality, in percent (negative = saves bits).
* BD-PSNR: PSNR as a function of log-rate, over the shared log-rate range; the mean difference
  in dB (positive = the test curve is better).

Points are sorted along the interpolation axis; that axis must not repeat a value. Curves whose
ranges do not overlap have no BD value: ``nan`` is returned.
"""
from __future__ import annotations

import math

import numpy as np


def _curve(x, y, what: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"{what}: rate and quality lists differ in length")
    if len(x) < 2:
        raise ValueError(f"{what}: a curve needs at least 2 points, got {len(x)}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError(f"{what}: values must be finite")
    order = np.argsort(x)
    x, y = x[order], y[order]
    if np.any(np.diff(x) <= 0):
        raise ValueError(f"{what}: two points share the value {x[np.argmin(np.diff(x))]:.6g}")
    return x, y


def _mean_difference(xa, ya, xb, yb) -> float:
    from scipy.interpolate import PchipInterpolator
    lo, hi = max(xa[0], xb[0]), min(xa[-1], xb[-1])
    if not hi > lo:
        return math.nan
    ia = PchipInterpolator(xa, ya).integrate(lo, hi)
    ib = PchipInterpolator(xb, yb).integrate(lo, hi)
    return float((ib - ia) / (hi - lo))


def _positive(rate, what):
    r = np.asarray(rate, dtype=np.float64)
    if np.any(r <= 0):
        raise ValueError(f"{what}: rates must be positive")
    return np.log(r)


def bd_rate(rate_anchor, psnr_anchor, rate_test, psnr_test) -> float:
    """Average rate difference (%) of the test curve against the anchor at equal PSNR."""
    xa, ya = _curve(psnr_anchor, _positive(rate_anchor, "anchor"), "anchor")
    xb, yb = _curve(psnr_test, _positive(rate_test, "test"), "test")
    d = _mean_difference(xa, ya, xb, yb)
    return math.nan if math.isnan(d) else (math.exp(d) - 1.0) * 100.0


def bd_psnr(rate_anchor, psnr_anchor, rate_test, psnr_test) -> float:
    """Average PSNR difference (dB) of the test curve against the anchor at equal rate."""
    xa, ya = _curve(_positive(rate_anchor, "anchor"), psnr_anchor, "anchor")
    xb, yb = _curve(_positive(rate_test, "test"), psnr_test, "test")
    return _mean_difference(xa, ya, xb, yb)


def overlap(rate_anchor, psnr_anchor, rate_test, psnr_test) -> dict:
    """The shared PSNR range (dB) and rate range (as given) of two curves; empty ranges are None."""
    pa, pb = np.asarray(psnr_anchor, float), np.asarray(psnr_test, float)
    ra, rb = np.asarray(rate_anchor, float), np.asarray(rate_test, float)
    p = (max(pa.min(), pb.min()), min(pa.max(), pb.max()))
    r = (max(ra.min(), rb.min()), min(ra.max(), rb.max()))
    return {"psnr": p if p[1] > p[0] else None, "rate": r if r[1] > r[0] else None}


def rate_at_psnr(rate, psnr, target: float) -> float:
    """The rate a curve needs for ``target`` PSNR, read off the same PCHIP of log-rate over PSNR
    (``nan`` outside the curve's PSNR range): compares a single point with a curve."""
    from scipy.interpolate import PchipInterpolator
    x, y = _curve(psnr, _positive(rate, "curve"), "curve")
    if not x[0] <= target <= x[-1]:
        return math.nan
    return float(math.exp(PchipInterpolator(x, y)(target)))
