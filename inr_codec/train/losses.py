"""Distortion losses for fitting; inputs are (B, 3, H, W) in [0, 1]."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import InputError
from ..metrics.msssim import ms_ssim


def l2(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(pred, target)


def l1_msssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """0.7·L1 + 0.3·(1 − MS-SSIM), the mix HNeRV calls Fusion6."""
    return 0.7 * F.l1_loss(pred, target) + 0.3 * (1.0 - ms_ssim(pred, target).mean())


LOSSES = {"l2": l2, "l1+msssim": l1_msssim}


def get_loss(name: str):
    if name not in LOSSES:
        raise InputError(f"unknown train.loss '{name}'; choose one of: {', '.join(LOSSES)}")
    return LOSSES[name]
