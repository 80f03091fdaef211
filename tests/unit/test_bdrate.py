"""BD-rate and BD-PSNR against worked examples whose answers are derived independently."""
import math

import numpy as np
import pytest

from inr_codec.metrics.bdrate import bd_psnr, bd_rate

# A curved (not log-linear) anchor: PSNR rises ever more slowly with rate.
RATE = np.array([0.02, 0.05, 0.11, 0.25, 0.6])
PSNR = np.array([27.0, 30.5, 33.1, 35.2, 36.9])


@pytest.mark.parametrize("factor", [0.5, 0.8, 1.0, 1.37])
def test_a_curve_shifted_in_rate_gives_exactly_that_bd_rate(factor):
    # Same PSNR values at factor x the rate: log-rate differs by log(factor) everywhere.
    assert bd_rate(RATE, PSNR, RATE * factor, PSNR) == pytest.approx((factor - 1) * 100, abs=1e-9)


def test_a_log_linear_curve_gives_the_analytic_bd_psnr():
    # PSNR = 30 + 5 ln(rate). The test curve needs 0.8x the rate for the same PSNR, so at equal
    # rate it is 5 ln(1/0.8) = 1.1157 dB better. PCHIP reproduces straight lines exactly.
    r = np.array([0.05, 0.1, 0.2, 0.4])
    p = 30 + 5 * np.log(r)
    r2 = np.array([0.03, 0.07, 0.15, 0.3])
    p2 = 30 + 5 * np.log(r2 / 0.8)
    assert bd_psnr(r, p, r2, p2) == pytest.approx(5 * math.log(1 / 0.8), abs=1e-9)
    assert bd_rate(r, p, r2, p2) == pytest.approx(-20.0, abs=1e-9)


def _pchip_reference(x, y, xs):
    """Fritsch-Carlson PCHIP written out (the formulas of Moler's pchip), evaluated at xs."""
    h = np.diff(x)
    delta = np.diff(y) / h
    n = len(x)
    d = np.zeros(n)
    for k in range(1, n - 1):
        if delta[k - 1] * delta[k] > 0:
            w1, w2 = 2 * h[k] + h[k - 1], h[k] + 2 * h[k - 1]
            d[k] = (w1 + w2) / (w1 / delta[k - 1] + w2 / delta[k])

    def end(h0, h1, d0, d1):
        s = ((2 * h0 + h1) * d0 - h0 * d1) / (h0 + h1)
        if np.sign(s) != np.sign(d0):
            return 0.0
        if np.sign(d0) != np.sign(d1) and abs(s) > abs(3 * d0):
            return 3 * d0
        return s

    d[0] = end(h[0], h[1], delta[0], delta[1])
    d[-1] = end(h[-1], h[-2], delta[-1], delta[-2])
    k = np.clip(np.searchsorted(x, xs) - 1, 0, n - 2)
    t = (xs - x[k]) / h[k]
    h00, h10, h01, h11 = 2 * t**3 - 3 * t**2 + 1, t**3 - 2 * t**2 + t, -2 * t**3 + 3 * t**2, t**3 - t**2
    return h00 * y[k] + h10 * h[k] * d[k] + h01 * y[k + 1] + h11 * h[k] * d[k + 1]


def _bd_rate_reference(r1, p1, r2, p2, n=200001):
    """PCHIP of ln(rate) over PSNR, integrated by Simpson's rule on a fine grid."""
    o1, o2 = np.argsort(p1), np.argsort(p2)
    lo, hi = max(min(p1), min(p2)), min(max(p1), max(p2))
    xs = np.linspace(lo, hi, n)
    v1 = _pchip_reference(np.asarray(p1)[o1], np.log(r1)[o1], xs)
    v2 = _pchip_reference(np.asarray(p2)[o2], np.log(r2)[o2], xs)
    diff = v2 - v1
    w = np.ones(n)
    w[1:-1:2], w[2:-1:2] = 4, 2
    mean = (diff * w).sum() * (xs[1] - xs[0]) / 3 / (hi - lo)
    return (math.exp(mean) - 1) * 100


# Test 1 of the FAU-LMS bjontegaard package (x265 presets; rate in kbps) and the "Sample 1" curves
# of the widely copied Bjontegaard_metric script.
EXAMPLES = [
    ([9487.76, 4593.60, 2486.44, 1358.24], [40.037, 38.615, 36.845, 34.851],
     [9787.80, 4469.00, 2451.52, 1356.24], [40.121, 38.651, 36.970, 34.987]),
    ([686.76, 309.58, 157.11, 85.95], [40.28, 37.18, 34.24, 31.42],
     [893.34, 407.8, 204.93, 112.75], [40.39, 37.21, 34.17, 31.24]),
]


@pytest.mark.parametrize("example", EXAMPLES)
def test_published_curves_match_an_independent_pchip(example):
    r1, p1, r2, p2 = (np.asarray(v, float) for v in example)
    assert bd_rate(r1, p1, r2, p2) == pytest.approx(_bd_rate_reference(r1, p1, r2, p2), abs=1e-6)


def test_published_example_values():
    # Pinned: PCHIP gives -4.4175 % here (single-cubic VCEG-M33 gives -4.4205 %) and +31.38 %
    # on the second pair (cubic: +31.40 %), as the reference above confirms.
    assert bd_rate(*EXAMPLES[0]) == pytest.approx(-4.41749, abs=1e-4)
    assert bd_rate(*EXAMPLES[1]) == pytest.approx(31.37988, abs=1e-4)
    assert bd_psnr(*EXAMPLES[0]) == pytest.approx(0.11969, abs=1e-4)


def test_order_does_not_matter_and_bad_curves_are_refused():
    a = bd_rate(RATE, PSNR, RATE * 0.9, PSNR + 0.1)
    assert bd_rate(RATE[::-1], PSNR[::-1], (RATE * 0.9)[[2, 0, 4, 1, 3]], (PSNR + 0.1)[[2, 0, 4, 1, 3]]) == \
        pytest.approx(a, abs=1e-12)
    assert math.isnan(bd_rate(RATE, PSNR, RATE, PSNR + 20))  # no shared PSNR range
    with pytest.raises(ValueError, match="at least 2"):
        bd_rate(RATE, PSNR, [0.1], [30.0])
    with pytest.raises(ValueError, match="share"):
        bd_rate(RATE, PSNR, [0.1, 0.2], [30.0, 30.0])


def test_rate_at_psnr_reads_the_same_interpolation():
    from inr_codec.metrics.bdrate import rate_at_psnr
    assert rate_at_psnr(RATE, PSNR, PSNR[2]) == pytest.approx(RATE[2], rel=1e-12)
    r = np.array([0.05, 0.1, 0.2, 0.4])
    assert rate_at_psnr(r, 30 + 5 * np.log(r), 30 + 5 * math.log(0.15)) == pytest.approx(0.15, rel=1e-12)
    assert math.isnan(rate_at_psnr(RATE, PSNR, 50.0))
