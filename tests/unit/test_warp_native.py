"""The motion fetch in C (models/warp_native.py) against grid_motion's torch path: the output and both
gradients (the level's slices, the velocity) on random inputs, odd sizes, positions past the borders, whole
and sub-pixel shifts, one and two frames, a frame blending one slice with itself, a zero weight.

Tolerance: the output to 1e-5 of its scale, each gradient to 1e-5 of its largest entry. The positions are
computed as torch's kernel does (multiply-adds contracted as in its x86 build: the taps, the clipping and
the velocity's gradient match it to the bit here); only sums run in another order."""
import os
import subprocess
import sys

import pytest
import torch

from inr_codec.models import grid_motion as gm
from inr_codec.models import warp_native
from inr_codec.models.latent import LatentModel

pytestmark = pytest.mark.skipif(warp_native._lib() is None, reason="no C compiler")


def _torch(g, slices, weights, offsets, still, v):
    blend = 0
    for i, weight, offset in zip(slices, weights, offsets):
        grid = torch.addcmul(still, offset[:, None, None, None], v)
        blend = blend + gm._sample_grid(g[i], grid) * weight[:, None, None]
    return blend


def _compare(g, slices, weights, offsets, size, v):
    still = gm._still_grid(size, "cpu", torch.float32)
    go = torch.randn(len(v), *size)
    got, want = [], []
    for fn, out in ((warp_native.fetch, got), (_torch, want)):
        gg, vv = g.clone().requires_grad_(), v.clone().requires_grad_()
        y = fn(gg, slices, weights, offsets, still, vv)
        assert y is not None
        out += [y.detach(), *torch.autograd.grad(y, (gg, vv), go)]
    scale = max(1.0, want[0].abs().max().item())
    torch.testing.assert_close(got[0], want[0], atol=1e-5 * scale, rtol=0)
    for a, b in zip(got[1:], want[1:]):
        torch.testing.assert_close(a, b, atol=1e-5 * max(b.abs().max().item(), 1e-6), rtol=0)


CASES = [  # slices and level (T, h, w), frame (H, W), frames B, velocity scale (grid units)
    (3, 7, 9, 13, 11, 2, 0.3),  # odd sizes, many positions past the borders
    (2, 5, 8, 36, 64, 1, 0.05),
    (4, 18, 32, 36, 64, 2, 0.02),
    (3, 36, 64, 36, 64, 2, 0.01),  # the frame's own resolution
    (2, 2, 2, 9, 7, 2, 1.0),  # the smallest level the kernel takes, mostly clipped
    (5, 11, 3, 17, 19, 2, 0.1),
]


@pytest.mark.parametrize("case", CASES)
def test_the_fetch_and_its_gradients_equal_torch(case):
    t, h, w, hh, ww, b, scale = case
    torch.manual_seed(hash(case) % 1000)
    g = torch.randn(t, h, w)
    v = torch.randn(b, hh, ww, 2) * scale
    i0 = torch.randint(0, t, (b,))
    i1 = (i0 + 1).clamp(max=t - 1)
    wt = torch.rand(b)
    offsets = (torch.randn(b) * 4, torch.randn(b) * 4)
    _compare(g, (i0, i1), (1 - wt, wt), offsets, (hh, ww), v)


def test_whole_and_half_pixel_shifts_one_slice_twice_and_a_zero_weight():
    torch.manual_seed(3)
    size = (12, 20)
    for h, w in ((12, 20), (6, 10), (5, 7)):
        g = torch.randn(3, h, w)
        pix = torch.tensor([2.0 / size[1], 2.0 / size[0]])
        for shift in (0.0, 1.0, -2.0, 0.5, 3.0, 25.0):  # whole frame pixels (integer taps at full resolution)
            v = torch.full((2, *size, 2), shift) * pix
            v[1, ..., 1] *= -1
            same = torch.tensor([1, 2])  # frame 0 blends slice 1 with itself, frame 1 gives slice 2 no weight
            _compare(g, (same, torch.tensor([1, 2])), (torch.tensor([0.25, 1.0]), torch.tensor([0.75, 0.0])),
                     (torch.tensor([1.0, -1.0]), torch.tensor([-3.0, 2.0])), size, v)


def test_a_level_one_sample_wide_or_off_the_cpu_types_is_left_to_torch():
    still = gm._still_grid((4, 4), "cpu", torch.float32)
    v = torch.zeros(1, 4, 4, 2)
    one = (torch.tensor([0]),) * 2
    args = (one, (torch.ones(1), torch.zeros(1)), (torch.zeros(1),) * 2, still)
    assert warp_native.fetch(torch.zeros(2, 1, 5), *args, v) is None
    assert warp_native.fetch(torch.zeros(2, 3, 5, dtype=torch.float64), *args, v) is None


def _model():
    cfg = dict(levels=4, hidden=8, layers=1, t_stride_base=2, t_stride_max=8, t_stride_first=4, act="relu",
               motion=True, motion_block=4, motion_t_stride=2)
    model = LatentModel.create(cfg, 12, 18, 26)
    with torch.no_grad():
        for p in model.decoder.latents.parameters():
            p.normal_()
    return model.decoder


def _levels_and_grads(dec, idx):
    dec.zero_grad()
    out = dec._levels(idx, by_matmul=True)
    sum((x * torch.linspace(-1, 1, x.numel()).view_as(x)).sum() for x in out).backward()
    return [x.detach() for x in out], [p.grad.clone() for p in dec.latents.parameters()]


def test_warped_levels_use_the_kernel_and_equal_the_torch_path(monkeypatch):
    torch.manual_seed(5)
    dec = _model()
    for idx in (torch.tensor([0, 7]), torch.tensor([11])):
        fast = _levels_and_grads(dec, idx)
        with monkeypatch.context() as m:
            m.setattr(warp_native, "_lib", lambda: None)
            slow = _levels_and_grads(dec, idx)
        for a, b in zip(fast[0] + fast[1], slow[0] + slow[1]):
            torch.testing.assert_close(a, b, atol=1e-5 * max(b.abs().max().item(), 1e-6), rtol=0)
    with torch.no_grad():  # decoding: one frame at a time, no gradients
        fast = dec._levels(torch.tensor([4]))
        with monkeypatch.context() as m:
            m.setattr(warp_native, "_lib", lambda: None)
            slow = dec._levels(torch.tensor([4]))
    for a, b in zip(fast, slow):
        torch.testing.assert_close(a, b, atol=1e-5 * b.abs().max().item(), rtol=0)


def test_inrcodec_native_0_runs_the_torch_path():
    code = ("import torch; from inr_codec.models import warp_native as w, grid_motion as gm; "
            "s = gm._still_grid((4, 4), 'cpu', torch.float32); o = (torch.tensor([0]),) * 2; "
            "print(w.fetch(torch.zeros(2, 3, 5), o, (torch.ones(1), torch.zeros(1)), (torch.zeros(1),) * 2, s, "
            "torch.zeros(1, 4, 4, 2)))")
    env = {**os.environ, "INRCODEC_NATIVE": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "None"


def test_the_velocity_by_matmul_equals_its_interpolation():
    torch.manual_seed(6)
    lat = _model().latents
    for idx in (torch.tensor([0, 5]), torch.tensor([11])):
        a = gm.velocity(lat, idx, (18, 26), by_matmul=True)
        b = gm.velocity(lat, idx, (18, 26))
        torch.testing.assert_close(a, b, atol=1e-6 * b.abs().max().item(), rtol=0)


def test_counting_macs_on_the_meta_device_leaves_the_velocity_s_matrices_real():
    from inr_codec.models import macs
    dec = _model()
    macs.macs_per_frame("latent", dec.arch)  # runs the decoder on the meta device
    with torch.no_grad():
        assert all(x.device.type == "cpu" for x in dec._levels(torch.tensor([3])))


def test_the_portable_c_without_avx2_equals_torch(monkeypatch):
    """The loops for CPUs without AVX2 and FMA (here they only finish a row of 8 pixels' remainder)."""
    lib = warp_native._lib("warp_portable", "#undef __AVX2__\n" + warp_native.SOURCE)
    assert lib is not None
    monkeypatch.setattr(warp_native, "_lib", lambda: lib)
    for case in CASES[:3]:
        test_the_fetch_and_its_gradients_equal_torch(case)
