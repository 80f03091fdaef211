"""SSIM and MS-SSIM (Wang et al., 2003) in PyTorch, differentiable, for images in [0, 1].

Gaussian window 11, sigma 1.5, K1 0.01, K2 0.03, the five standard scale weights.
Frames too small for five scales use as many scales as fit (weights renormalised).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _window(size: int, sigma: float, channels: int, device, dtype) -> torch.Tensor:
    x = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def _ssim_parts(x: torch.Tensor, y: torch.Tensor, win: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    c = x.shape[1]
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    mu_x = F.conv2d(x, win, groups=c)
    mu_y = F.conv2d(y, win, groups=c)
    sxx = F.conv2d(x * x, win, groups=c) - mu_x ** 2
    syy = F.conv2d(y * y, win, groups=c) - mu_y ** 2
    sxy = F.conv2d(x * y, win, groups=c) - mu_x * mu_y
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    lum = (2 * mu_x * mu_y + c1) / (mu_x ** 2 + mu_y ** 2 + c1)
    return (lum * cs).flatten(1).mean(1), cs.flatten(1).mean(1)


def ssim(x: torch.Tensor, y: torch.Tensor, win_size: int = 11) -> torch.Tensor:
    """Per-image SSIM of (B, C, H, W) tensors in [0, 1]."""
    win_size = min(win_size, x.shape[-1], x.shape[-2])
    win = _window(win_size, 1.5, x.shape[1], x.device, x.dtype)
    return _ssim_parts(x, y, win)[0]


def ms_ssim(x: torch.Tensor, y: torch.Tensor, win_size: int = 11) -> torch.Tensor:
    """Per-image MS-SSIM of (B, C, H, W) tensors in [0, 1]."""
    side = min(x.shape[-2:])
    scales = 1
    while scales < len(WEIGHTS) and side // (2 ** scales) >= win_size:
        scales += 1
    w = torch.tensor(WEIGHTS[:scales], device=x.device, dtype=x.dtype)
    w = w / w.sum()
    win = _window(min(win_size, side), 1.5, x.shape[1], x.device, x.dtype)
    values = []
    for i in range(scales):
        s, cs = _ssim_parts(x, y, win)
        values.append(s if i == scales - 1 else cs)
        if i < scales - 1:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    v = torch.stack(values, dim=1).clamp_min(1e-6)  # relu-like guard against negative cs
    return torch.prod(v ** w[None, :], dim=1)
