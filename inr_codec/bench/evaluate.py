"""The work behind ``inrcodec eval``: decode a model file, measure every frame, keep the worst one."""
from __future__ import annotations

import numpy as np

from inr_codec.metrics.frames import FrameMeter


def worst_key(per_frame: dict[str, np.ndarray]) -> tuple[str, int]:
    """The metric that picks the worst frame (lowest RGB PSNR; else lowest MS-SSIM; else highest LPIPS)."""
    for key, sign in (("psnr", 1), ("msssim", 1), ("lpips", -1)):
        if key in per_frame:
            return key, sign
    raise ValueError("no metric measured")


def measure_batches(batches, ref: np.ndarray, metrics, *, device="cpu", lpips_net=None):
    """(per-frame metrics, worst frame index, that decoded frame) of decoded uint8 RGB batches."""
    meter = FrameMeter(ref, metrics, lpips_net=lpips_net, device=device)
    worst, worst_val, worst_img = -1, np.inf, None
    for batch in batches:
        start = meter.count
        meter.add(batch)
        key, sign = worst_key(meter.cols)
        vals = sign * meter.cols[key][-1]
        i = int(np.argmin(vals))
        if vals[i] < worst_val:
            worst, worst_val, worst_img = start + i, float(vals[i]), batch[i].copy()
    return meter.per_frame(), worst, worst_img
