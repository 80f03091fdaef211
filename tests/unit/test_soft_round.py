"""compress.soft_round: the soft rounding function, its annealed temperature on the latent grids (and only
there), the noise mode that uses it, and the override's checks."""
import pytest
import torch

from inr_codec.compress import learned_quant as lq
from inr_codec.config import compose, validate
from inr_codec.errors import InputError


def test_soft_round_runs_from_the_identity_to_rounding_and_keeps_half_integers():
    y = torch.linspace(-2.5, 2.5, 101, dtype=torch.float64)
    assert torch.allclose(lq.soft_round(y, 1e-3), y, atol=1e-6)
    inner = y[(y - y.round()).abs() < 0.4]
    assert torch.allclose(lq.soft_round(inner, 50.0), inner.round(), atol=1e-3)
    halves = torch.tensor([-1.5, -0.5, 0.5, 1.5], dtype=torch.float64)
    assert torch.allclose(lq.soft_round(halves, 10.0), halves)
    s = lq.soft_round(y, 10.0)
    assert bool((s[1:] >= s[:-1]).all())  # monotone: never reorders the values
    # sharper than the identity near an integer: 0.25 is pulled towards 0
    assert 0 < float(lq.soft_round(torch.tensor(0.25), 1 / 0.3)) < 0.25


def _quants():
    grid = torch.zeros(3, 4, 5)
    weight = torch.randn(6, 4)
    return [lq.LearnedQuant(grid, -1, lq.model_kind("latents.level0", grid.shape), 8, stream=0),
            lq.LearnedQuant(weight, 0, lq.model_kind("synthesis.mlp.0.weight", weight.shape), 8, stream=1)]


def test_the_fit_anneals_the_latents_temperature_and_the_phases_hold_its_end():
    quants = _quants()
    term = lq.RateTerm(quants, 0.01, 100, soft_round=(0.3, 0.1))
    term.at(0.0)
    assert quants[0].alpha == pytest.approx(1 / 0.3) and quants[1].alpha is None  # weights keep plain noise
    term.at(0.5)
    assert quants[0].alpha == pytest.approx(1 / 0.2)
    term.at(1.0)
    assert quants[0].alpha == pytest.approx(1 / 0.1)
    held = lq.RateTerm(_quants(), 0.01, 100, soft_round=(0.3, 0.1), schedule="end")
    held.at(0.0)
    assert held.quants[0].alpha == pytest.approx(1 / 0.1)
    start = lq.RateTerm(_quants(), 0.01, 100, soft_round=(0.3, 0.1), schedule="start")
    start.at(0.9)
    assert start.quants[0].alpha == pytest.approx(1 / 0.3)
    plain = lq.RateTerm(_quants(), 0.01, 100)
    plain.at(0.5)
    assert plain.quants[0].alpha is None


def test_noise_mode_codes_soft_rounded_values_and_decodes_them_soft_rounded_again():
    w = torch.randn(2, 3, 4) * 3
    q = lq.LearnedQuant(w, -1, lq.model_kind("latents.level0", w.shape), 8, stream=0)
    q.alpha = 5.0
    out = q(w)
    step = q.step().detach()
    u = q.last_y.detach() - lq.soft_round(w / step, 5.0)
    assert float(u.abs().max()) <= 0.5  # the rate's values: soft-rounded plus uniform noise
    assert torch.allclose(out.detach(), lq.soft_round(q.last_y.detach(), 5.0) * step)
    q.mode = "ste"
    assert torch.equal(q(w).detach(), torch.round(w / step) * step)  # the file's values, whatever the temperature


@pytest.mark.parametrize("value", ["[0.3]", "[0.3,0]", "abc", "[0.3,20]"])
def test_bad_temperatures_are_one_line(value):
    with pytest.raises(InputError, match="compress.soft_round"):
        validate(compose(["compress=rd", f"compress.soft_round={value}"]))


def test_a_pair_of_temperatures_is_accepted():
    validate(compose(["model=latent", "compress=latent", "compress.soft_round=[0.3,0.1]"]))


def test_soft_rounding_other_models_is_one_line():
    with pytest.raises(InputError, match="model=latent's grids only"):
        validate(compose(["model=hnerv", "compress=rd", "compress.soft_round=[0.3,0.1]"]))  # default: latent
