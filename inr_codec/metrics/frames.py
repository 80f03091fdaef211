"""Per-frame metrics of decoded frames against the reference, shared by ``eval`` and ``bench``.

``FrameMeter`` takes batches of decoded uint8 RGB frames in order and records, per frame:
``psnr`` (RGB, see psnr.py), ``psnr_y``, ``psnr_u``, ``psnr_v``, ``psnr_yuv`` (BT.709 4:4:4,
6:1:1), ``msssim`` (RGB in [0, 1], see msssim.py) and ``lpips`` (alex, v0.1). ``means()`` gives
the mean over frames of each.
"""
from __future__ import annotations

import numpy as np
import torch


from .msssim import ms_ssim
from .names import METRICS, parse_metrics  # noqa: F401 (re-exported)
from .psnr import frame_mse, frame_psnr_yuv, psnr_from_mse

class FrameMeter:
    def __init__(self, ref: np.ndarray, metrics=("psnr", "msssim"), *, lpips_net=None, device="cpu"):
        self.ref = ref
        self.metrics = tuple(metrics)
        self.device = torch.device(device)
        self.lpips_net = lpips_net
        if "lpips" in self.metrics and lpips_net is None:
            from .lpips import load_lpips
            self.lpips_net = load_lpips(self.device)
        self.cols: dict[str, list[np.ndarray]] = {}
        self.count = 0

    def _put(self, name, values):
        self.cols.setdefault(name, []).append(np.asarray(values, dtype=np.float64))

    @torch.no_grad()
    def add(self, batch: np.ndarray) -> None:
        ref = self.ref[self.count:self.count + len(batch)]
        if ref.shape != batch.shape:
            raise ValueError(f"decoded frames {batch.shape} do not match the reference {ref.shape}")
        if "psnr" in self.metrics:
            self._put("psnr", psnr_from_mse(frame_mse(batch, ref)))
            yuv = frame_psnr_yuv(batch, ref)
            for i, k in enumerate(("psnr_y", "psnr_u", "psnr_v", "psnr_yuv")):
                self._put(k, yuv[:, i])
        if "msssim" in self.metrics:
            vals = []
            for s in range(0, len(batch), 4):
                a = torch.from_numpy(batch[s:s + 4]).to(self.device).permute(0, 3, 1, 2).float() / 255
                b = torch.from_numpy(ref[s:s + 4]).to(self.device).permute(0, 3, 1, 2).float() / 255
                vals.append(ms_ssim(a, b).double().cpu().numpy())
            self._put("msssim", np.concatenate(vals))
        if "lpips" in self.metrics:
            from .lpips import frame_lpips
            self._put("lpips", frame_lpips(batch, ref, self.lpips_net))
        self.count += len(batch)

    def per_frame(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate(v) for k, v in self.cols.items()}

    def means(self) -> dict[str, float]:
        return {k: float(np.mean(v)) for k, v in self.per_frame().items()}


def write_csv(path, per_frame: dict[str, np.ndarray], first_frame: int = 0) -> None:
    """One row per frame: frame index, then every metric (6 decimals)."""
    import csv
    keys = list(per_frame)
    n = len(next(iter(per_frame.values()))) if keys else 0
    from ..io.common import atomic_file
    with atomic_file(path) as tmp, open(tmp, "w", newline="") as f:  # a failure leaves no partial CSV
        w = csv.writer(f)
        w.writerow(["frame"] + keys)
        for i in range(n):
            w.writerow([first_frame + i] + [f"{per_frame[k][i]:.6f}" for k in keys])
