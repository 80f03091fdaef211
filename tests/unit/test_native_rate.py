"""The training rates' C kernels (compress/entropy_models/rate_native.py) give the torch reference's values
and gradients: the plain Laplace's and laplace_nb's, every slice or a batch's, within float rounding (the
sums in another order: a relative 1e-5 on the bits, 1e-4 on the gradients)."""
import logging

import pytest
import torch

from inr_codec.compress.entropy_models import laplace, rate_native
from inr_codec.compress.entropy_models.latent_neighbours import LatentNeighbours
from inr_codec.train import native

pytestmark = pytest.mark.skipif(rate_native._lib() is None, reason="no C compiler")


def _grads(out, tensors):
    return torch.autograd.grad(out, tensors)


def test_the_laplace_rate_kernel_equals_the_reference():
    torch.manual_seed(0)
    y = torch.cat([3 * torch.randn(4967), torch.arange(-16, 17) / 8]).requires_grad_()  # |y| = 1/2 among them
    b = torch.cat([torch.rand(4990) * 4 + 1e-4, torch.tensor([1e-5, 0.01, 0.02, 50.0, 1e-3] * 2)]).requires_grad_()
    ref = laplace.rate_bits(y, b).sum()
    got = rate_native.laplace_rate_sum(y, b)
    assert got.item() == pytest.approx(ref.item(), rel=1e-5)
    for a, r in zip(_grads(got, [y, b]), _grads(ref, [y, b])):
        assert torch.allclose(a, r, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("frames", [None, torch.tensor([0, 3, 4]), torch.tensor([5, 2, 2])])
@pytest.mark.parametrize("rounded", [False, True])  # True: as under straight-through rounding (residuals in eighths)
def test_the_neighbours_rate_kernel_equals_the_reference(monkeypatch, frames, rounded):
    torch.manual_seed(1)
    y = 2 * torch.randn(6, 11, 14)
    y = (torch.round(y) if rounded else y).requires_grad_()
    aux = torch.randn(44).requires_grad_()
    log_b = torch.randn(2).requires_grad_()
    got = LatentNeighbours.rate_bits(y, log_b, aux, frames)
    monkeypatch.setenv("INRCODEC_NATIVE", "0")
    monkeypatch.setattr(native, "library", lambda *args: None)
    ref = LatentNeighbours.rate_bits(y, log_b, aux, frames)
    assert got.grad_fn is not None and type(got.grad_fn).__name__ != type(ref.grad_fn).__name__
    assert got.item() == pytest.approx(ref.item(), rel=1e-5)
    for a, r in zip(_grads(got, [y, aux, log_b]), _grads(ref, [y, aux, log_b])):
        assert torch.allclose(a, r, rtol=1e-4, atol=1e-4)


def test_without_a_compiler_one_line_and_the_torch_path(monkeypatch, caplog):
    native.library.cache_clear()
    native._warn_no_compiler.cache_clear()
    monkeypatch.setenv("CC", "")
    monkeypatch.setattr(native.shutil, "which", lambda name: None)
    try:
        with caplog.at_level(logging.WARNING, logger="inr_codec.train"):
            assert rate_native.laplace_rate_sum(torch.ones(3, requires_grad=True), torch.ones(3)) is None
        assert len(caplog.records) == 1 and "no C compiler" in caplog.records[0].getMessage()
    finally:
        native.library.cache_clear()


def test_a_training_step_with_and_without_the_c_kernels_is_the_same(monkeypatch):
    """The latent model's loss (distortion + rate) and every gradient, with the C kernels (rate, refinement,
    the MLP's backward glue at a hidden width of 8) and with torch's path, at the same noise."""
    from inr_codec.compress import learned_quant
    from inr_codec.config import compose
    from inr_codec.models.latent import LatentModel

    torch.manual_seed(3)
    m = LatentModel.create(dict(levels=3, hidden=8, layers=2, latent_lr_scale=10, t_stride_max=4, act="relu"), 6, 12, 20)
    for g in m.decoder.latents.grids():
        g.data.normal_(0, 2)
    cfg = compose(["model=latent", "compress=latent"]).compress
    quants = learned_quant.attach(m.decoder, cfg)
    rate = learned_quant.RateTerm(quants, 0.016, 6 * 12 * 20)
    target, idx, params = torch.rand(2, 3, 12, 20), torch.tensor([1, 4]), list(m.parameters())

    def step():
        for q in quants:
            q.draws.fill_(7)
        loss = torch.mean((m.decoder(idx) - target) ** 2) + rate(idx)
        return loss.item(), torch.autograd.grad(loss, params, allow_unused=True)

    fast, g_fast = step()
    monkeypatch.setattr(native, "library", lambda *args: None)
    ref, g_ref = step()
    assert fast == pytest.approx(ref, rel=1e-6)
    for a, b in zip(g_fast, g_ref):
        if b is not None:
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-7)


def test_without_the_kernels_a_latent_fit_runs_on_torch(tiny_clip, tmp_path, monkeypatch):
    from inr_codec import api
    monkeypatch.setattr(native, "library", lambda *args: None)
    s = api.fit(tiny_clip, ["model=latent", "model.levels=3", "model.hidden=8", "train.epochs=1",
                            "compress.qat_epochs=1", "measure=psnr"], outputs_root=tmp_path, show_progress=False)
    assert s["bytes"] > 0 and s["psnr"] > 5
