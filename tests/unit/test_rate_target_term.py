"""The rate target's term for learned quantization: slope lmbda at the target, steep above, flat below,
finite far above; and the symbol budget leaves room for the steps and headers."""
import math

import pytest
import torch

from inr_codec.compress import learned_quant as lq


def slope(bits: float, target: float) -> float:
    x = torch.tensor(bits, dtype=torch.float64, requires_grad=True)
    lq.target_penalty(x, target).backward()
    return float(x.grad)


def test_slope_is_one_at_the_target_and_e_fold_per_sharpness_step():
    assert slope(1000.0, 1000.0) == pytest.approx(1.0)
    step = 1.0 / lq.TARGET_SHARPNESS
    assert slope(1000.0 * (1 + step), 1000.0) == pytest.approx(math.e)
    assert slope(1000.0 * (1 - step), 1000.0) == pytest.approx(1 / math.e)


def test_far_above_the_target_the_term_is_linear_and_finite():
    top = slope(1000.0 * (1 + lq.TARGET_LINEAR_ABOVE), 1000.0)
    assert slope(1e7, 1000.0) == pytest.approx(top)
    assert math.isfinite(float(lq.target_penalty(torch.tensor(1e9), 1000.0)))
    edge = 1000.0 * (1 + lq.TARGET_LINEAR_ABOVE)
    below, above = (float(lq.target_penalty(torch.tensor(edge + d, dtype=torch.float64), 1000.0)) for d in (-1e-3, 1e-3))
    assert above - below == pytest.approx(top * 2e-3, rel=1e-3)  # continuous where it turns linear


def test_symbol_budget_leaves_the_side_information_out():
    w = torch.randn(8, 4, 3, 3)
    q = lq.LearnedQuant(w, 0, lq.model_kind("body.stem.weight", w.shape), 8, stream=0)
    assert lq.symbol_budget_bits([q], 10_000) == 8.0 * (10_000 - (4 * 8 + 32) - 256)
    assert lq.symbol_budget_bits([q], 100) == pytest.approx(8.0 * 10)  # never below a tenth of the target
