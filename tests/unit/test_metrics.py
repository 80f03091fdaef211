"""Metrics against independent computations on inputs whose answers are known."""
import math

import numpy as np
import pytest
import torch

from inr_codec.errors import InputError
from inr_codec.metrics import PSNR_CAP, frame_psnr_yuv, ms_ssim, psnr_from_mse, rgb_to_yuv444, video_psnr
from inr_codec.metrics.frames import FrameMeter, parse_metrics


def _grey(value, t=3, h=24, w=40):
    return np.full((t, h, w, 3), value, np.uint8)


def test_identical_frames_give_the_cap_not_inf_or_nan():
    a = np.random.default_rng(0).integers(0, 256, (4, 16, 20, 3), dtype=np.uint8)
    assert video_psnr(a, a) == PSNR_CAP
    yuv = frame_psnr_yuv(a, a)
    assert yuv.shape == (4, 4) and np.all(yuv == PSNR_CAP)
    x = torch.from_numpy(a).permute(0, 3, 1, 2).float() / 255
    assert torch.allclose(ms_ssim(x, x), torch.ones(4), atol=1e-5)


def test_known_noise_gives_the_known_psnr():
    # +/-d in a checkerboard on every channel: MSE is exactly d^2, PSNR = 20 log10(255 / d).
    d = 5
    a = _grey(128, t=2)
    sign = np.where((np.indices(a.shape[1:3]).sum(0) % 2) == 0, 1, -1)[None, :, :, None]
    b = (a.astype(int) + d * sign).astype(np.uint8)
    assert video_psnr(a, b) == pytest.approx(20 * math.log10(255 / d), abs=1e-12)  # 34.1514 dB
    assert video_psnr(a, b) == pytest.approx(34.15140352195873, abs=1e-9)


def test_psnr_is_the_mean_of_per_frame_values():
    a = _grey(100, t=2)
    b = a.copy()
    b[0] += 1   # frame 0: MSE 1 -> 48.13 dB
    b[1] += 10  # frame 1: MSE 100 -> 28.13 dB
    expected = (10 * math.log10(255 ** 2 / 1) + 10 * math.log10(255 ** 2 / 100)) / 2
    assert video_psnr(a, b) == pytest.approx(expected, abs=1e-12)
    assert psnr_from_mse(0.0) == PSNR_CAP


def test_yuv_conversion_matches_the_bt709_formula():
    rgb = np.random.default_rng(1).integers(0, 256, (2, 8, 10, 3), dtype=np.uint8)
    r, g, b = (rgb[..., i].astype(np.float64) / 255 for i in range(3))
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    expected = np.stack([16 + 219 * y, 128 + 224 * (b - y) / 1.8556, 128 + 224 * (r - y) / 1.5748], -1)
    got = rgb_to_yuv444(rgb).astype(np.float64)
    assert np.abs(got - expected).max() <= 0.5 + 1e-4  # rounded to integers


def test_yuv_psnr_of_a_grey_shift_is_known():
    # Grey 100 vs grey 110: Y = round(16 + 219*v/255) = 102 vs 110 (error 8 everywhere); Cb = Cr = 128 in both.
    a, b = _grey(100), _grey(110)
    p = frame_psnr_yuv(a, b)
    y = 10 * math.log10(255 ** 2 / 64)
    assert p[:, 0] == pytest.approx(y, abs=1e-12)
    assert np.all(p[:, 1:3] == PSNR_CAP)
    assert p[:, 3] == pytest.approx((6 * y + 2 * PSNR_CAP) / 8, abs=1e-12)


def test_yuv_average_weights_six_one_one():
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-20, 21, a.shape), 0, 255).astype(np.uint8)
    p = frame_psnr_yuv(a, b)
    assert np.allclose(p[:, 3], (6 * p[:, 0] + p[:, 1] + p[:, 2]) / 8)
    ya, yb = rgb_to_yuv444(a).astype(float), rgb_to_yuv444(b).astype(float)
    mse_u = ((ya[..., 1] - yb[..., 1]) ** 2).mean(axis=(1, 2))
    assert np.allclose(p[:, 1], 10 * np.log10(255 ** 2 / mse_u))


def test_frame_meter_collects_every_metric_per_frame():
    a = _grey(90, t=5, h=40, w=48)
    b = a.copy()
    b[3] += 7
    m = FrameMeter(a, ("psnr", "msssim"))
    m.add(b[:2])
    m.add(b[2:])
    pf = m.per_frame()
    assert set(pf) == {"psnr", "psnr_y", "psnr_u", "psnr_v", "psnr_yuv", "msssim"}
    assert all(len(v) == 5 for v in pf.values())
    assert int(np.argmin(pf["psnr"])) == 3 and pf["psnr"][3] == pytest.approx(20 * math.log10(255 / 7))
    assert m.means()["psnr"] == pytest.approx(np.mean(pf["psnr"]))
    with pytest.raises(InputError, match="unknown metric"):
        parse_metrics("psnr,vmaf")


def test_lpips_with_a_random_backbone_is_zero_for_identical_frames():
    pytest.importorskip("lpips")
    from inr_codec.metrics.lpips import frame_lpips, load_lpips
    net = load_lpips(random_backbone=True)
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (2, 48, 64, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 41, a.shape), 0, 255).astype(np.uint8)
    assert np.allclose(frame_lpips(a, a, net), 0, atol=1e-6)
    d = frame_lpips(a, b, net)
    assert d.shape == (2,) and np.all(d > 0)


def test_lpips_without_backbone_weights_names_the_path(tmp_path, monkeypatch):
    pytest.importorskip("lpips")
    from inr_codec.metrics.lpips import load_lpips
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(InputError) as e:
        load_lpips()
    msg = str(e.value)
    assert "\n" not in msg and str(tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth") in msg
