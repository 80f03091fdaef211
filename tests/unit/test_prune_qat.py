"""Pruning masks, quantization-aware fine-tuning, the rate estimate and rate targets."""
from fractions import Fraction

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from inr_codec import container
from inr_codec.compress import entropy, prune, qat
from inr_codec.container.records import VideoMeta
from inr_codec.compress.codec import code_tensor, decode_symbols, decode_tensor
from inr_codec.compress.pipeline import check_settings, compress_decoder, tensor_plan
from inr_codec.compress.quantize import dequantize, quantize
from inr_codec.errors import InputError
from inr_codec.models import get_model_class
from inr_codec.train import phases

CFG = OmegaConf.create({"bits": 5, "embed_bits": 6, "bias_bits": 8, "lmbda": 0.0, "prune": 0.0})
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


def test_noise_stage_perturbs_by_at_most_half_a_step_and_rounds_when_off():
    dec = decoder()
    quants = qat.attach(dec, CFG)
    w = dec.body.blocks[1].conv.parametrizations.weight.original.detach().clone()
    s = qat._scale(w, 5, 0)
    qat.set_noise(quants, True)
    noisy = dec.body.blocks[1].conv.weight.detach()
    assert 0 < float((noisy - w).abs().max()) <= float(s.max()) / 2
    assert not torch.equal(noisy, qat.FakeQuant(5, 0)(w))
    qat.set_noise(quants, False)
    np.testing.assert_array_equal(dec.body.blocks[1].conv.weight.detach().numpy(), qat.FakeQuant(5, 0)(w).numpy())


def test_qat_split_keeps_the_last_epochs_rounding():
    def cfg(noise, epochs=10):
        return OmegaConf.create({"compress": {"qat_epochs": epochs, "qat_noise": noise}})
    assert phases.qat_split(cfg(0.0)) == (0, 10)
    assert phases.qat_split(cfg(0.3)) == (3, 7)
    assert phases.qat_split(cfg(1.0)) == (9, 1)
    assert phases.qat_split(cfg(0.5, 0)) == (0, 0)


def test_layer_bits_give_a_module_its_own_bits_in_training_and_in_the_file():
    cfg = OmegaConf.merge(CFG, {"prune": 0.0, "layer_bits": {"body.blocks.1": 3, "body.head": 8}})
    assert tensor_plan("body.blocks.1.conv.weight", 4, cfg) == (3, 0)
    assert tensor_plan("body.blocks.10.conv.weight", 4, cfg) == (5, 0)  # a prefix ends at a dot
    assert tensor_plan("body.blocks.1.conv.bias", 1, cfg) == (8, -1)    # biases keep bias_bits
    dec = decoder()
    qat.attach(dec, cfg)
    step(dec)
    prune.bake(dec)
    cm = compress_decoder(dec, "hnerv", {}, None, cfg)
    bits = {ct.name: ct.bits for ct in cm.tensors}
    assert bits["body.blocks.1.conv.weight"] == 3 and bits["body.head.conv.weight"] == 8
    assert bits["body.blocks.0.conv.weight"] == 5
    ct = next(c for c in cm.tensors if c.name == "body.blocks.1.conv.weight")
    assert len(np.unique(decode_symbols(ct))) <= 7  # 3 bits: symbols -3..3
    np.testing.assert_array_equal(decode_tensor(ct), dec.state_dict()["body.blocks.1.conv.weight"].numpy())


def test_layer_bits_naming_no_layer_is_an_input_error():
    cfg = OmegaConf.merge(CFG, {"prune": 0.0, "layer_bits": {"body.block.1": 4}})
    with pytest.raises(InputError, match="names no weight of this model"):
        check_settings(cfg, list(decoder().state_dict()))
    with pytest.raises(InputError, match="out of range"):
        check_settings(OmegaConf.merge(CFG, {"prune": 0.0, "layer_bits": {"body.head": 1}}))


def test_pruned_qat_decoder_round_trips_through_the_file_with_identical_symbols():
    dec = decoder()
    prune.apply_masks(dec, 0.5)
    masks = {f"{n}": m.clone() for n, m in dec.state_dict().items() if n.endswith(".0.mask")}
    qat.attach(dec, CFG)
    step(dec)
    prune.bake(dec)
    video = VideoMeta(width=40, height=24, frames=4, fps=Fraction(25), pad_width=40, pad_height=24)
    cm = compress_decoder(dec, "hnerv", {}, video, CFG)
    back = container.from_bytes(container.to_bytes(cm))
    state = dec.state_dict()
    for ct in back.tensors:
        bits, axis = tensor_plan(ct.name, len(ct.shape), CFG)
        np.testing.assert_array_equal(decode_symbols(ct), quantize(state[ct.name].numpy(), bits, axis)[0])
        np.testing.assert_array_equal(decode_tensor(ct), state[ct.name].numpy())  # what training saw
    for key, mask in masks.items():  # pruned weights are zero symbols in the file
        name = key.replace("parametrizations.", "").replace(".0.mask", "")  # a.parametrizations.weight.0.mask
        ct = next(c for c in back.tensors if c.name == name)
        assert (decode_symbols(ct)[mask.numpy() == 0] == 0).all()
    assert masks


def test_auto_allocation_moves_bits_to_the_sensitive_layer_within_the_uniform_bytes():
    from inr_codec.compress.allocate import choose
    table = {"small": {4: (1e-2, 50), 5: (3e-3, 60), 6: (1e-3, 70), 8: (1e-4, 90)},   # sensitive and cheap
             "large": {4: (2e-4, 5000), 5: (1e-4, 6000), 6: (5e-5, 7000), 8: (1e-5, 9000)}}
    choice = choose(table, 6060)  # what uniform 5 bits costs
    assert choice == {"small": 8, "large": 4}
    assert choose(table, 10**6) == {"small": 8, "large": 8}
    assert choose(table, 1) == {"small": 4, "large": 4}  # nothing fits: the cheapest everywhere


def test_auto_layer_bits_measure_every_weight_and_fit_the_budget():
    from inr_codec.compress.allocate import allocate, sensitivities
    from inr_codec.data import FrameSet
    dec = decoder()
    frames = FrameSet(torch.randint(0, 255, (4, 24, 40, 3), dtype=torch.uint8).numpy(), 24, 40, torch.device("cpu"))
    table = sensitivities(dec, frames, CFG)
    weights = [n for n, p in dec.named_parameters() if p.ndim > 1 and n != "embeddings"]
    assert sorted(table) == sorted(weights) and all(sorted(t) == [4, 5, 6, 8] for t in table.values())
    assert all(t[4][1] < t[8][1] for t in table.values())  # fewer bits, fewer bytes
    choice = allocate(dec, frames, CFG)
    assert sum(table[n][b][1] for n, b in choice.items()) <= sum(t[5][1] for t in table.values())
    cfg = OmegaConf.merge(CFG, {"layer_bits": choice})
    assert all(tensor_plan(n, 4, cfg)[0] == b for n, b in choice.items())


def test_noise_draws_are_checkpointed_so_a_resume_draws_the_same_noise():
    w = torch.randn(6, 5, 3, 3)
    a = qat.FakeQuant(4, 0, stream=2)
    a.noise = True
    a(w)
    state = {k: v.clone() for k, v in a.state_dict().items()}
    expected = a(w)
    assert not torch.equal(expected, a(w))  # each draw is new noise
    b = qat.FakeQuant(4, 0, stream=2)
    b.noise = True
    b.load_state_dict(state)
    assert torch.equal(b(w), expected)
