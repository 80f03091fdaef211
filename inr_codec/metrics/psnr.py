"""PSNR of 8-bit RGB frames.

The video's PSNR is the mean over frames of each frame's PSNR, computed on the
uint8 RGB values (peak 255, MSE over all pixels and the three channels). A frame
that matches exactly has infinite PSNR; it is capped at ``PSNR_CAP`` dB so a mean
stays finite, and reported as such.
"""
from __future__ import annotations

import numpy as np
import torch

PSNR_CAP = 100.0


def frame_mse(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> np.ndarray:
    """Per-frame MSE of two uint8 (T, H, W, 3) arrays (or tensors), as float64."""
    a = torch.as_tensor(a)
    b = torch.as_tensor(b)
    if a.shape != b.shape:
        raise ValueError(f"frame shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    out = []
    for i in range(0, a.shape[0], 16):  # bounded memory for long videos
        d = a[i:i + 16].to(torch.float64) - b[i:i + 16].to(torch.float64)
        out.append(d.pow(2).flatten(1).mean(1))
    return torch.cat(out).numpy()


def psnr_from_mse(mse: np.ndarray | float, peak: float = 255.0) -> np.ndarray:
    mse = np.asarray(mse, dtype=np.float64)
    with np.errstate(divide="ignore"):
        p = 10.0 * np.log10(peak * peak / mse)
    return np.minimum(p, PSNR_CAP)


def video_psnr(a, b) -> float:
    """Mean of per-frame PSNR (dB) between two uint8 RGB videos."""
    return float(np.mean(psnr_from_mse(frame_mse(a, b))))


# --- PSNR in Y'CbCr -------------------------------------------------------------------------------
# Both videos (uint8 RGB) are converted to 8-bit BT.709 limited-range Y'CbCr 4:4:4 with
# inr_codec.io.colour.rgb_to_yuv (no chroma subsampling: every RGB pixel has its own Y, Cb, Cr,
# rounded to integers), then each plane's per-frame PSNR is taken with peak 255 and capped at
# PSNR_CAP like the RGB one. The combined figure is the 6:1:1 weighted mean of the three
# per-frame PSNR values, (6·Y + U + V) / 8 (the JVET / MPEG common-test-conditions weighting).

YUV_WEIGHTS = (6.0, 1.0, 1.0)


def rgb_to_yuv444(frames: np.ndarray) -> np.ndarray:
    """uint8 RGB (..., H, W, 3) → uint8 BT.709 limited-range Y'CbCr 4:4:4 of the same shape."""
    from inr_codec.io.colour import rgb_to_yuv
    planes = rgb_to_yuv(np.asarray(frames), "yuv444p")  # elementwise for 4:4:4: works on a stack of frames
    return np.stack(planes, axis=-1)


def frame_mse_yuv(a, b, chunk: int = 8) -> np.ndarray:
    """Per-frame, per-plane MSE (T, 3) of two uint8 RGB videos measured in BT.709 Y'CbCr 4:4:4."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"frame shapes differ: {a.shape} vs {b.shape}")
    out = []
    for i in range(0, a.shape[0], chunk):
        d = rgb_to_yuv444(a[i:i + chunk]).astype(np.float64) - rgb_to_yuv444(b[i:i + chunk]).astype(np.float64)
        out.append((d * d).mean(axis=(1, 2)))
    return np.concatenate(out)


def frame_psnr_yuv(a, b) -> np.ndarray:
    """Per-frame PSNR (T, 4): columns Y, U (Cb), V (Cr) and the 6:1:1 average, in dB."""
    p = psnr_from_mse(frame_mse_yuv(a, b))
    w = np.asarray(YUV_WEIGHTS)
    return np.concatenate([p, (p @ w / w.sum())[:, None]], axis=1)
