"""Video quality metrics: PSNR (RGB, BT.709 Y/U/V), SSIM / MS-SSIM, LPIPS, BD-rate, the per-frame meter.

The names below load on first use (PEP 562), so ``metrics.names`` (what the command line checks before any
work) imports without torch.
"""
import importlib

_WHERE = {"bd_psnr": "bdrate", "bd_rate": "bdrate", "ms_ssim": "msssim", "ssim": "msssim",
          **{n: "psnr" for n in ("PSNR_CAP", "frame_mse", "frame_mse_yuv", "frame_psnr_yuv", "psnr_from_mse",
                                 "rgb_to_yuv444", "video_psnr")}}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
