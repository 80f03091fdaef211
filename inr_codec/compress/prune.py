"""Global magnitude pruning as parametrizations, so model code never sees masks.

``apply_masks`` zeroes the smallest-magnitude fraction of all pruneable weights
(ndim > 1, embeddings excluded) across the whole decoder and keeps them zero
through fine-tuning: each weight becomes ``original * mask`` via
``torch.nn.utils.parametrize``. ``bake`` removes the parametrizations, leaving
plain tensors with exact zeros. Where the zeros are costs no side channel: the
range coder sees zero as one more (very likely) symbol of each tensor.
"""
from __future__ import annotations

import torch
import torch.nn as nn
from torch.nn.utils import parametrize


class Mask(nn.Module):
    def __init__(self, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("mask", mask)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return w * self.mask


def pruneable(module: nn.Module) -> list[tuple[nn.Module, str, torch.Tensor]]:
    """(owner module, attribute name, tensor) of every weight with ndim > 1."""
    out = []
    for mod in module.modules():
        for name, p in list(mod.named_parameters(recurse=False)):
            if p.ndim > 1 and name != "embeddings":
                out.append((mod, name, p))
    return out


@torch.no_grad()
def global_threshold(weights: list[torch.Tensor], fraction: float) -> float:
    mags = torch.cat([w.detach().abs().flatten().float().cpu() for w in weights])
    k = int(fraction * mags.numel())
    if k <= 0:
        return -1.0
    return float(torch.kthvalue(mags, k).values)


@torch.no_grad()
def apply_masks(module: nn.Module, fraction: float) -> int:
    """Mask the smallest ``fraction`` of weights; returns how many were pruned."""
    targets = pruneable(module)
    if fraction <= 0 or not targets:
        return 0
    thr = global_threshold([p for _, _, p in targets], fraction)
    pruned = 0
    for mod, name, p in targets:
        mask = (p.abs() > thr).to(p.dtype)
        pruned += int(mask.numel() - mask.sum())
        parametrize.register_parametrization(mod, name, Mask(mask))
    return pruned


def bake(module: nn.Module) -> None:
    """Replace every parametrized tensor by its current (masked, quantized) value."""
    for mod in list(module.modules()):
        if parametrize.is_parametrized(mod):
            for name in list(mod.parametrizations.keys()):
                parametrize.remove_parametrizations(mod, name, leave_parametrized=True)
