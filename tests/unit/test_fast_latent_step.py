"""The latent model's training step computed faster (issue 26) is the same math as the reference:
the tiled per-pixel MLP, the upsampling by matmuls, laplace_nb's rate as one convolution and the weights'
rates in one pass each give the reference's values and gradients within float rounding."""
import pytest
import torch
import torch.nn.functional as F

from inr_codec.compress import learned_quant
from inr_codec.compress.entropy_models import laplace
from inr_codec.compress.entropy_models.latent_neighbours import (CURRENT, FEATURES_A, MEAN_COEFFS, OFFSETS, B0,
                                                                 PHASES, LatentNeighbours)
from inr_codec.compress.entropy_models.slice_coding import anchors, training_slices
from inr_codec.config import compose
from inr_codec.models import mlp_native, pixel_mlp
from inr_codec.models.latent import LatentModel, linear_interpolation
from inr_codec.train import accel

CFG = dict(levels=4, hidden=8, layers=2, latent_lr_scale=10, t_stride_max=4, act="relu")


def _grads(out, tensors):
    return torch.autograd.grad(out, tensors)


@pytest.mark.parametrize("tile", [7, 64, 100000])  # tiles that split the pixels unevenly, and one tile
@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("width", [12, 16])  # 16: the backward's C glue (mlp_native, multiples of 8) where it builds
def test_the_tiled_mlp_equals_the_convolutions_forward_and_backward(monkeypatch, tile, layers, width):
    monkeypatch.setattr(pixel_mlp, "TILE", tile)
    torch.manual_seed(layers)
    chans = [5] + [width] * layers + [3]
    convs = [torch.nn.Conv2d(a, b, 1) for a, b in zip(chans[:-1], chans[1:])]
    x = torch.randn(2, 5, 9, 13, requires_grad=True)
    params = [x] + [p for c in convs for p in c.parameters()]

    h = x
    for c in convs[:-1]:
        h = F.relu(c(h))
    ref = convs[-1](h)
    weights = torch.randn_like(ref)
    g_ref = _grads((ref * weights).sum(), params)

    out = pixel_mlp.relu_mlp(x.transpose(0, 1).reshape(5, -1), [c.weight.flatten(1) for c in convs],
                             [c.bias for c in convs]).view(3, 2, 9, 13).transpose(0, 1)
    assert torch.allclose(out, ref, atol=1e-5)
    for a, b in zip(_grads((out * weights).sum(), params), g_ref):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-4)


def test_the_mlp_glue_kernel_is_taken_for_widths_of_eight():
    ws = [torch.zeros(16, 5), torch.zeros(16, 16), torch.zeros(3, 16)]
    assert mlp_native.fits(ws) and not mlp_native.fits([torch.zeros(12, 5), torch.zeros(3, 12)])
    assert not mlp_native.fits([w.double() for w in ws]) and not mlp_native.fits(ws[-1:])


def test_interpolation_matrices_upsample_as_f_interpolate():
    x = torch.randn(2, 5, 7, dtype=torch.float64)
    ref = F.interpolate(x[:, None], size=(9, 20), mode="bilinear", align_corners=False)[:, 0]
    rows, cols = linear_interpolation(5, 9).double(), linear_interpolation(7, 20).double()
    assert torch.allclose(rows @ x @ cols.t(), ref, atol=1e-6)  # the weights are float32


def test_the_training_path_of_the_latent_model_equals_its_reference_path():
    torch.manual_seed(0)
    m = LatentModel.create(CFG, 8, 17, 23)
    for g in m.decoder.latents.grids():
        g.data.normal_()
    idx = torch.tensor([1, 6])
    params = list(m.parameters())
    with torch.no_grad():
        ref = m.decoder(idx)                                       # eval: convolutions, F.interpolate
    fast = m.decoder(idx)                                          # grad enabled: tiled, matmul upsampling
    assert torch.allclose(fast, ref, atol=1e-6)
    weights = torch.randn_like(ref)
    g_fast = _grads((fast * weights).sum(), params)
    g_ref = _grads((m.decoder.synthesis(m.decoder.features(idx)) * weights).sum(), params)
    for a, b in zip(g_fast, g_ref):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4)


def test_gelu_keeps_the_convolutions():
    m = LatentModel.create(dict(CFG, act="gelu"), 4, 8, 8)
    assert not m.decoder.synthesis.tiled and m.decoder(torch.tensor([0])).shape == (1, 3, 8, 8)


def _neighbours_rate_by_features(y, log_b, aux, frames):
    """laplace_nb's training rate written as its docstring states it: 13 shifted features, one weight each."""
    y, yr, prev, scale = training_slices(y, frames)
    h, w = y.shape[-2:]
    mask = torch.from_numpy(anchors(h, w))
    cur = torch.where(mask, yr, torch.zeros_like(yr))
    pp, pc = F.pad(prev, (1, 1, 1, 1)), F.pad(cur, (1, 1, 1, 1))
    f = [pp[:, 1 + dy:1 + dy + h, 1 + dx:1 + dx + w] for dy, dx in OFFSETS]
    f += [pc[:, 1 + dy:1 + dy + h, 1 + dx:1 + dx + w] for dy, dx in CURRENT]
    c, d, floor = aux[:MEAN_COEFFS], aux[MEAN_COEFFS:].abs(), log_b.exp()
    mu_a = sum(c[i] * f[i] for i in range(FEATURES_A))
    mu_b = sum(c[FEATURES_A + i] * f[i] for i in range(13))
    act_a = floor[0] + sum(d[i] * f[i].abs() for i in range(FEATURES_A))
    act_b = floor[1] + sum(d[FEATURES_A + i] * f[i].abs() for i in range(13))
    mu = torch.where(mask, mu_a, mu_b)
    mu = mu + (torch.round(mu * PHASES) / PHASES - mu).detach()
    b = torch.where(mask, act_a, act_b).clamp_min(B0 / 4)
    return laplace.rate_bits(y - mu, b).sum() * scale


@pytest.mark.parametrize("frames", [None, torch.tensor([0, 3, 4])])
def test_the_neighbours_rate_as_one_convolution_equals_its_features(frames):
    torch.manual_seed(1)
    y = (2 * torch.randn(6, 11, 14)).requires_grad_()
    aux = torch.randn(44).requires_grad_()
    log_b = torch.randn(2).requires_grad_()
    ref = _neighbours_rate_by_features(y, log_b, aux, frames)
    got = LatentNeighbours.rate_bits(y, log_b, aux, frames)
    assert got.item() == pytest.approx(ref.item(), rel=1e-6)
    for a, b in zip(_grads(got, [y, aux, log_b]), _grads(ref, [y, aux, log_b])):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-4)


def test_the_weights_rates_in_one_pass_equal_their_sum():
    torch.manual_seed(2)
    m = LatentModel.create(CFG, 4, 8, 8)
    quants = learned_quant.attach(m.decoder, compose(["model=latent", "compress=latent"]).compress)
    m.decoder(torch.tensor([0, 2]))  # every tensor's values under noise
    idx = torch.tensor([0, 2])
    total = learned_quant.rate_bits(quants, idx)
    one_by_one = sum(q.rate_bits(idx) for q in quants if q.last_y is not None)
    assert total.item() == pytest.approx(one_by_one.item(), rel=1e-6)
    assert sum(1 for q in quants if type(q.model).__name__ == "Factorized") >= 4  # the batched ones exist


def test_keeping_freed_memory_is_asked_once_and_says_whether_it_applied():
    assert accel.keep_freed_memory() in (True, False)
    assert accel.keep_freed_memory.cache_info().currsize == 1
