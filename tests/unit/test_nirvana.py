"""NIRVANA's pieces: the patch network, group coding (key + residual) through the container, the chain
decoder, the residual grid and bits, and the config rules."""
from fractions import Fraction

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from inr_codec import container
from inr_codec.compress.codec import decode_symbols
from inr_codec.compress.groupcode import apply_group, code_group
from inr_codec.compress.qat import FakeQuant
from inr_codec.compress.quantize import quantize
from inr_codec.config import compose, validate
from inr_codec.container import format as fmt
from inr_codec.container.records import CompressedModel, VideoMeta
from inr_codec.decode.groups import GroupChain, decode_batches
from inr_codec.errors import ContainerError, InputError
from inr_codec.data import FrameSet
from inr_codec.models.nirvana import Nirvana, PatchDecoder, make_decoder, pad_size
from inr_codec.train.groups import CONTENT, GroupFitter, plan_groups, residual_bits

ARCH = Nirvana.solve_arch({"gop": 3, "segment": 2, "patch": 4, "pe_levels": 3, "hidden": 8, "layers": 2}, 8, 10, 13)


def _plan(bits, scales=None):
    def plan(name, ndim):
        return bits, (0 if ndim > 1 else -1), None if scales is None else scales[name]
    return plan


def _file(n_groups=3) -> CompressedModel:
    """A group-wise model of random weights: groups 0 (key), 1 (residual), 2 (key) over 8 frames."""
    rng = np.random.default_rng(0)
    state = {n: t.numpy() for n, t in PatchDecoder(ARCH).state_dict().items()}
    groups, prev = [], None
    for i, (start, frames) in enumerate([(0, 3), (3, 3), (6, 2)][:n_groups]):
        key = i % ARCH["segment"] == 0
        w = {n: (a + 0.01 * rng.standard_normal(a.shape)).astype(np.float32) for n, a in state.items()}
        g, prev = code_group(i, start, frames, w, None if key else prev, _plan(8 if key else 5))
        groups.append(g)
    pad_h, pad_w = pad_size(ARCH)
    meta = VideoMeta(width=13, height=10, frames=8, fps=Fraction(25), pad_width=pad_w, pad_height=pad_h)
    return CompressedModel(video=meta, model={"name": "nirvana", **ARCH}, groups=groups)


def test_patch_decoder_shapes_and_range():
    with torch.no_grad():
        out = PatchDecoder(ARCH)(torch.arange(3))
    assert out.shape == (3, 3, 12, 16)  # 10x13 padded to whole 4x4 tiles
    assert float(out.min()) >= 0 and float(out.max()) <= 1


def test_tile_grid_and_mix_options_decode_from_a_file():
    arch = Nirvana.solve_arch({"gop": 3, "segment": 2, "patch": 4, "pe_levels": 3, "hidden": 8, "layers": 2,
                               "grid_ch": 2, "grid_t": 2, "mix": True}, 3, 10, 13)
    net = PatchDecoder(arch).eval()
    assert net.grid.shape == (2, 2, 12) and "mix.weight" in net.state_dict()
    assert "mix.weight" not in PatchDecoder(ARCH).state_dict() and "grid" not in PatchDecoder(ARCH).state_dict()
    with torch.no_grad():
        codes = net._codes(torch.tensor([0, 1, 2]))  # gop 3, 2 instants: frame 0, the midpoint, frame 2
        assert torch.equal(codes[0], net.grid[:, 0].T) and torch.allclose(codes[2], net.grid[:, 1].T)
        assert torch.allclose(codes[1], 0.5 * (net.grid[:, 0].T + net.grid[:, 1].T))
        expected = net(torch.arange(3))
    state = {n: t.numpy() for n, t in net.state_dict().items()}
    g, decoded = code_group(0, 0, 3, state, None, _plan(16))
    pad_h, pad_w = pad_size(arch)
    meta = VideoMeta(width=13, height=10, frames=3, fps=Fraction(25), pad_width=pad_w, pad_height=pad_h)
    cm = container.from_bytes(container.to_bytes(CompressedModel(video=meta, model={"name": "nirvana", **arch},
                                                                 groups=[g])))
    frames = np.concatenate(list(decode_batches(cm)))
    assert frames.shape == (3, 10, 13, 3)
    ref = np.round(expected.permute(0, 2, 3, 1).numpy()[:, :10, :13] * 255)
    assert np.abs(frames.astype(np.float64) - ref).max() <= 1  # 16-bit weights: within one level
    plain = _file()  # a file written before the options existed: no grid_ch/grid_t/mix keys, both off
    for k in ("grid_ch", "grid_t", "mix"):
        del plain.model[k]
    assert len(np.concatenate(list(decode_batches(container.from_bytes(container.to_bytes(plain)))))) == 8


def test_groups_round_trip_through_the_container_with_identical_symbols():
    cm = _file()
    data = container.to_bytes(cm)
    assert data[4:6] == bytes([1, fmt.MINOR_GROUPS])  # group files are format 1.1
    back = container.from_bytes(data)
    assert [(g.index, g.start, g.frames, g.key) for g in back.groups] == [(0, 0, 3, True), (1, 3, 3, False),
                                                                           (2, 6, 2, True)]
    prev = None
    for a, b in zip(cm.groups, back.groups):
        for x, y in zip(a.tensors, b.tensors):
            assert np.array_equal(decode_symbols(x), decode_symbols(y))
        state_a, state_b = apply_group(prev, a), apply_group(prev, b)
        assert all(np.array_equal(state_a[n], state_b[n]) for n in state_a)
        prev = state_b
    assert [s for s, _ in container.section_sizes(data)][-3:] == ["group:0", "group:1", "group:2"]


def test_code_group_returns_what_the_decoder_reconstructs():
    state = {n: t.numpy() for n, t in PatchDecoder(ARCH).state_dict().items()}
    g0, s0 = code_group(0, 0, 3, state, None, _plan(8))
    moved = {n: a + np.float32(0.003) for n, a in state.items()}
    g1, s1 = code_group(1, 3, 3, moved, s0, _plan(6))
    assert not g1.key
    again = apply_group(apply_group(None, g0), g1)
    assert all(np.array_equal(again[n], s1[n]) for n in s1)
    assert all(np.abs(s1[n] - moved[n]).max() < 0.02 for n in s1)


def test_chain_decodes_only_the_groups_a_range_needs():
    cm = container.from_bytes(container.to_bytes(_file()))
    for frames, needed in (((3, 5), [0, 1]), ((6, 8), [2]), ((0, 2), [0]), ((0, 8), [0, 1, 2])):
        chain = GroupChain(cm)
        got = np.concatenate(list(decode_batches(cm, frames=frames, chain=chain, batch_size=2)))
        assert got.shape == (frames[1] - frames[0], 10, 13, 3)
        assert chain.decoded == needed


def test_group_files_refuse_damage():
    cm = _file()
    cm.groups[0].key = False
    with pytest.raises(RuntimeError, match="first group is not a key group"):
        container.from_bytes(container.to_bytes(cm))
    data = bytearray(container.to_bytes(_file()))
    data[5] = 0  # claims 1.0, which has no group sections
    with pytest.raises(ContainerError):
        container.from_bytes(bytes(data))
    bad = _file(n_groups=2)  # the groups hold 6 of the video's 8 frames
    with pytest.raises(Exception, match="groups hold 6 frames"):
        container.to_bytes(bad)


def test_fixed_grid_fake_quant_is_the_files_quantizer():
    w = torch.randn(5, 7)
    scales = (np.abs(w.numpy()).max(axis=1) / 7).astype(np.float32)
    symbols, _ = quantize(w.numpy(), 4, 0, scales)
    fq = FakeQuant(4, 0, torch.from_numpy(scales).reshape(-1, 1))(w)
    assert torch.equal(fq, torch.from_numpy(symbols.astype(np.float32) * scales[:, None]))


def test_plan_and_residual_bits():
    spans = plan_groups(7, 3, 2)
    assert [(s.start, s.frames, s.segment, key) for s, key in spans] == [(0, 3, 0, True), (3, 3, 0, False),
                                                                         (6, 1, 1, True)]
    m = OmegaConf.create({"residual_bits": 5, "adapt_bits": True})
    c = OmegaConf.create({"bits": 8})
    assert residual_bits(m, c, 1.0) == 5 and residual_bits(m, c, 16.0) == 7 and residual_bits(m, c, 1e6) == 8
    assert residual_bits(m, c, 0.25) == 4
    assert residual_bits(OmegaConf.create({"residual_bits": 5, "adapt_bits": False}), c, 16.0) == 5


@pytest.mark.parametrize("override, message", [
    ("model.gop=0", "model.gop=0 is invalid"),
    ("model.batch=-1", "model.batch=-1 is invalid"),
    ("model.residual_bits=9", "exceeds compress.bits"),
    ("model.adapt_bits=maybe", "model.adapt_bits=maybe must be true or false"),
    ("model.residual_l1=-1", "model.residual_l1=-1 is invalid"),
    ("compress.prune=0.2", "does not apply to model=nirvana"),
    ("train.budget_s=10", "does not apply to model=nirvana"),
])
def test_config_rules(override, message):
    with pytest.raises(InputError, match=message):
        validate(compose(["model=nirvana", override]))


def test_unknown_head_is_refused():
    with pytest.raises(InputError, match="model.head=cnn is unknown"):
        Nirvana.solve_arch({**OmegaConf.to_container(compose(["model=nirvana"]).model), "head": "cnn"}, 8, 16, 16)


def test_unknown_residual_train_is_refused():
    with pytest.raises(InputError, match="model.residual_train=grid is unknown"):
        Nirvana.solve_arch({**OmegaConf.to_container(compose(["model=nirvana"]).model), "residual_train": "grid"},
                           8, 16, 16)


def _residual_payloads(frames, **options):
    """Bytes per tensor of a residual group fitted (conv head, 6 bits) on a key group's decoded weights."""
    mcfg = OmegaConf.merge(compose(["model=nirvana"]).model,
                           {"gop": 3, "patch": 4, "hidden": 8, "grid_ch": 4, "grid_t": 2, "pe_levels": 3, "batch": 0,
                            "residual_lr": 3e-3, "residual_bits": 6, **options})
    ccfg = compose(["model=nirvana"]).compress
    arch = Nirvana.solve_arch(mcfg, 6, 16, 16)
    fitter = GroupFitter(arch, mcfg, ccfg, torch.device("cpu"), 0)
    key_set, next_set = (FrameSet(f, 16, 16) for f in (frames[:3], frames[3:]))
    net = fitter._net(0)
    plan = lambda name, ndim: fitter.plan(name, ndim, None, None)  # noqa: E731
    key, state = code_group(0, 0, 3, fitter.fit_group(net, key_set, None, None, None, 30), None, plan)
    scales = {ct.name: ct.scales for ct in key.tensors}
    weights = fitter.fit_group(make_decoder(arch), next_set, state, 6, scales, 30)
    group, _ = code_group(1, 3, 3, weights, state, lambda name, ndim: fitter.plan(name, ndim, 6, scales))
    symbols = {ct.name: decode_symbols(ct) for ct in group.tensors}
    return {ct.name: len(ct.payload) for ct in group.tensors}, symbols


def test_rate_options_make_residual_groups_smaller():
    """residual_train=content leaves the decoder's residual all zero symbols (empty payloads); residual_l1 pulls
    symbols to zero: both cost fewer bytes than training every tensor freely."""
    t = np.arange(6)[:, None, None]
    y, x = np.arange(16)[None, :, None], np.arange(16)[None, None, :]
    frames = np.stack([127 + 100 * np.sin(0.4 * x + 0.5 * t + 0 * y), 127 + 100 * np.cos(0.3 * y - 0.6 * t + 0 * x),
                       127 + 60 * np.sin(0.2 * (x + y) + 0.3 * t)], axis=-1).round().astype(np.uint8)
    free, free_symbols = _residual_payloads(frames, residual_train="all")
    content, symbols = _residual_payloads(frames, residual_train="content")
    penalised, penalised_symbols = _residual_payloads(frames, residual_train="all", residual_l1=0.05)
    decoder = [n for n in symbols if not n.startswith(CONTENT)]
    assert decoder and all(not symbols[n].any() and content[n] == 0 for n in decoder)
    assert any(free_symbols[n].any() for n in decoder)
    assert sum(content.values()) < 0.6 * sum(free.values())
    zeros = [sum(int((s == 0).sum()) for s in d.values()) for d in (free_symbols, penalised_symbols)]
    assert zeros[1] > zeros[0] and sum(penalised.values()) < sum(free.values())


def test_a_group_is_measured_and_trained_a_few_frames_at_a_time(monkeypatch):
    """mse() runs the network on at most 8 frames at once, and fit_group with model.batch converts only each
    step's frames to float: memory follows the batch, not the group (a 48-frame 720p group took 5.6 GiB)."""
    mcfg = OmegaConf.merge(compose(["model=nirvana"]).model,
                           {"gop": 20, "patch": 4, "hidden": 8, "grid_ch": 4, "grid_t": 2, "pe_levels": 3, "batch": 4})
    arch = Nirvana.solve_arch(mcfg, 20, 8, 8)
    fitter = GroupFitter(arch, mcfg, compose(["model=nirvana"]).compress, torch.device("cpu"), 0)
    frames = np.random.default_rng(0).integers(0, 256, (20, 8, 8, 3), dtype=np.uint8)
    target = FrameSet(frames, 8, 8)
    converted, run = [], []
    real_batch = FrameSet.batch
    monkeypatch.setattr(FrameSet, "batch", lambda self, idx: converted.append(len(idx)) or real_batch(self, idx))
    net = fitter._net(0)
    net.register_forward_pre_hook(lambda m, args: run.append(len(args[0])))
    state = fitter.fit_group(net, target, None, None, None, 5)
    assert converted == [4] * 5 and run == [4] * 5
    converted.clear(), run.clear()
    mse = fitter.mse(net, state, target)
    assert run == [8, 8, 4] and converted == [8, 8, 4]
    with torch.no_grad():  # the same figure as one pass over the whole group
        whole = net.__class__(arch)
        whole.load_state_dict({n: torch.from_numpy(a) for n, a in state.items()})
        ref = torch.nn.functional.mse_loss(whole(torch.arange(20)), real_batch(target, torch.arange(20)))
    assert mse == pytest.approx(float(ref), rel=1e-5)
