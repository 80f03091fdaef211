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
