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


@pytest.mark.parametrize("compress", ["rd", "full"])
def test_sizing_for_a_target_warns_of_no_probe_budget(compress, caplog):
    """The embedding's share is found from its shape: no "smallest network ... budget of 10000" line from a
    probe network, and the same size as with the embedding counted from the solved architecture."""
    from types import SimpleNamespace

    from inr_codec.compress.target import plan_params
    from inr_codec.config import compose, model_settings
    from inr_codec.fitting import _size_for_target
    from inr_codec.models import get_model_class
    cfg = compose(["model=hnerv", f"compress={compress}", "compress.target_kb=30"])  # the default is model=latent
    settings = model_settings(cfg, 48, 144, 256)
    video = SimpleNamespace(height=144, width=256, num_frames=48)
    with caplog.at_level("WARNING"):
        size = _size_for_target(settings, 30000, cfg.compress, video)
    assert not [r for r in caplog.records if "smallest network" in r.getMessage()]
    arch = get_model_class("hnerv").solve_arch(dict(settings, size_m=0.5), 48, 144, 256)
    values = arch["embed_dim"] * arch["h0"] * arch["w0"] * 48
    stored = int(values * 2 / 4.0) if compress == "rd" else int(values * int(cfg.compress.embed_bits) / int(cfg.compress.bits))
    assert size == plan_params(30000, cfg.compress, stored_overhead_values=stored)
