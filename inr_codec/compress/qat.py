"""Quantization-aware fine-tuning: fake quantization with the file's exact quantizer.

``FakeQuant`` maps a weight to ``round(w / scale) · scale`` with the per-channel
``scale = max|w_c| / (2^(bits-1) − 1)`` of ``quantize.channel_scales`` (the file's), so after
fine-tuning the stored symbols are exactly the ones training saw. Gradients pass
straight through the rounding (straight-through estimator); with ``noise=True`` the
rounding is replaced by additive uniform noise in [−scale/2, scale/2) (a smoother
surrogate used early in fine-tuning).

``rate_bits`` is a differentiable estimate of a tensor's coded size,
Σ log2(1 + |w / scale|) + 1 per element, which tracks the length of an
Exp-Golomb-like code for the symbols and so rewards small symbols; ``compress.lmbda``
weights it against the distortion.
"""
from __future__ import annotations

import torch
import torch.nn as nn
from torch.nn.utils import parametrize

from .pipeline import stored_tensors, tensor_plan
from .quantize import channel_scales, qmax


def _scale(w: torch.Tensor, bits: int, axis: int) -> torch.Tensor:
    # The file's scales (quantize.channel_scales), kept away from zero so that w / scale is finite
    # (an all-zero channel: symbols 0 either way).
    return channel_scales(w.detach(), bits, axis).clamp_min(1e-12)


class FakeQuant(nn.Module):
    """``scale`` given (a tensor broadcastable to the weight): a fixed grid, as ``quantize(..., scales=)``
    uses; a zero scale holds the value at 0, as the file does. ``stream`` seeds the noise stage."""

    def __init__(self, bits: int, axis: int, stream: int = 0, scale: torch.Tensor | None = None):
        super().__init__()
        self.bits, self.axis, self.noise, self.stream, self.scale = bits, axis, False, stream, scale
        # Noise draws so far: a buffer, so checkpoints carry it and a resumed noise phase draws the
        # same noise as an uninterrupted one (kept on the CPU: reading it never waits for a GPU).
        self.register_buffer("draws", torch.zeros((), dtype=torch.int64))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        fixed = self.scale is not None
        s = self.scale if fixed else _scale(w, self.bits, self.axis)
        if self.noise and self.training and not fixed:
            g = torch.Generator(device=w.device).manual_seed(self.stream * 1_000_003 + int(self.draws))
            self.draws += 1
            return w + (torch.rand(w.shape, generator=g, device=w.device, dtype=w.dtype) - 0.5) * s
        top = qmax(self.bits)
        # A fixed zero scale: w / 1e-30 clips to ±top, times 0 is 0, as the file holds it.
        q = torch.clamp(torch.round(w / s.clamp_min(1e-30)), -top, top) * s
        return w + (q - w).detach()  # straight-through


def attach(decoder: nn.Module, cfg) -> list[FakeQuant]:
    """Fake-quantize every stored tensor of ``decoder`` with the bits the file will use."""
    quants = []
    for full, mod, name in stored_tensors(decoder):  # masked weights too: quantize after the mask
        bits, axis = tensor_plan(full, getattr(mod, name).ndim, cfg)
        fq = FakeQuant(bits, axis, stream=len(quants))
        parametrize.register_parametrization(mod, name, fq)
        quants.append(fq)
    return quants


def set_noise(quants: list[FakeQuant], on: bool) -> None:
    for q in quants:
        q.noise = on


def rate_bits(decoder: nn.Module, cfg) -> torch.Tensor:
    """Differentiable estimate of the coded bits of every stored tensor (see module doc)."""
    total = None
    for mod_name, mod in decoder.named_modules():
        if not parametrize.is_parametrized(mod):
            continue
        for name in mod.parametrizations.keys():
            w = getattr(mod, name)  # masked and fake-quantized: what the file will hold
            full = f"{mod_name}.{name}" if mod_name else name
            bits, axis = tensor_plan(full, w.ndim, cfg)
            r = torch.log2(1.0 + (w / _scale(w, bits, axis)).abs()).sum() + w.numel()
            total = r if total is None else total + r
    return total if total is not None else torch.zeros(())
