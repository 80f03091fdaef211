"""Pruning masks, quantization-aware fine-tuning, the rate estimate and rate targets."""
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from inr_codec.compress import entropy, prune, qat
from inr_codec.compress.codec import code_tensor, decode_symbols, decode_tensor
from inr_codec.compress.quantize import dequantize, quantize
from inr_codec.models import get_model_class

CFG = OmegaConf.create({"bits": 5, "embed_bits": 6, "bias_bits": 8, "lmbda": 0.0})
HNERV = dict(name="hnerv", size_m=0.01, blocks=3, latent_side=2, embed_dim=8, encoder_width=16, kernel_min=1,
             kernel_max=5, ratio=1.2, min_channels=8)


def decoder():
    torch.manual_seed(0)
    m = get_model_class("hnerv").create(HNERV, 4, 24, 40)
    dec = m.decoder
    with torch.no_grad():
        dec.embeddings.normal_()
    for p in dec.parameters():
        p.requires_grad_(True)
    return dec


def step(dec, n=3):
    opt = torch.optim.Adam(dec.parameters(), lr=1e-2)
    for _ in range(n):
        loss = (dec(torch.arange(4)) - 0.3).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_masks_prune_the_global_fraction_and_stay_zero_through_training():
    dec = decoder()
    total = sum(p.numel() for _, _, p in prune.pruneable(dec))
    n = prune.apply_masks(dec, 0.4)
    assert abs(n - 0.4 * total) <= 2
    step(dec)
    prune.bake(dec)
    zeros = sum(int((p == 0).sum()) for _, _, p in prune.pruneable(dec))
    assert zeros >= n
    assert all("parametrizations" not in k for k in dec.state_dict())


def test_qat_weights_are_exactly_representable_by_the_file():
    dec = decoder()
    prune.apply_masks(dec, 0.3)
    qat.attach(dec, CFG)
    step(dec)
    prune.bake(dec)
    for name, w in dec.state_dict().items():
        a = w.numpy()
        bits = 6 if name == "embeddings" else (5 if a.ndim > 1 else 8)
        axis = 1 if name == "embeddings" else (0 if a.ndim > 1 else -1)
        ct = code_tensor(name, a, bits, axis)
        # Re-quantizing fine-tuned weights loses nothing: the file holds exactly what training saw.
        np.testing.assert_allclose(decode_tensor(ct).reshape(a.shape), a, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("shape,axis", [((6, 5, 3, 3), 0), ((4, 8, 2, 2), 1), ((7,), -1), ((3, 4), -1)])
def test_fake_quant_is_the_file_quantizer_bit_for_bit(shape, axis):
    torch.manual_seed(1)
    w = torch.randn(*shape) * torch.rand(shape[0]).reshape(-1, *[1] * (len(shape) - 1))
    w[0] = 0  # an all-zero channel (or element) too
    symbols, scales = quantize(w.numpy(), 4, axis)
    expected = dequantize(symbols, scales, axis)
    np.testing.assert_array_equal(qat.FakeQuant(4, axis)(w).detach().numpy(), expected)
    # one definition of the scales: the torch path and the numpy path give the same float32 bits
    np.testing.assert_array_equal(qat._scale(w, 4, axis).numpy().reshape(-1)[scales > 0], scales[scales > 0])


def test_rate_term_is_differentiable_and_shrinks_when_trained():
    dec = decoder()
    qat.attach(dec, CFG)
    opt = torch.optim.Adam(dec.parameters(), lr=1e-2)
    first = float(qat.rate_bits(dec, CFG).detach())
    for _ in range(30):
        r = qat.rate_bits(dec, CFG)
        opt.zero_grad()
        r.backward()
        opt.step()
    assert float(qat.rate_bits(dec, CFG).detach()) < first


@pytest.mark.parametrize("bits", [3, 6, 8])
def test_entropy_estimate_matches_the_coded_size(bits):
    # The stated tolerance: the range-coded payload is within 2% + 16 bytes of the empirical entropy.
    rng = np.random.default_rng(bits)
    w = rng.laplace(size=(64, 32, 3, 3)).astype(np.float32)
    ct = code_tensor("w", w, bits, 0)
    ideal = entropy.estimate_bits(decode_symbols(ct)) / 8
    assert len(ct.payload) <= ideal * 1.02 + 16
    assert len(ct.payload) >= ideal * 0.98 - 16
