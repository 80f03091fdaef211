"""A latent-grid codec in the manner of Cool-chic and C3: the bits are in the latents, not the network.

Every frame has ``levels`` grids of one channel, level l of size ceil(H / 2**l) x ceil(W / 2**l); the
file stores them (``latents.level<l>``, one tensor of frames x h x w per level) as integer symbols under
the latent context model (``compress/entropy_models/latent_context.py``: each latent predicted from the
previous frame and a checkerboard of its own). Decoding a frame upsamples every level bilinearly to
the frame's size and runs a small synthesis network on the stacked levels: 1x1 convolutions (a
per-pixel MLP) to RGB, then one 3x3 refinement with a residual. A few hundred MACs per pixel.

The latents are optimised directly (no encoder), from zero; with ``compress=rd`` they train under
quantization noise and the rate term from the first step.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import INRModel
from .registry import register

# Latent decoding per latent: 5 multiplies of the prediction (latent_context), counted as MACs.
CONTEXT_MACS_PER_LATENT = 5
# Bilinear upsampling: 4 multiply-adds per output pixel for every level that is upsampled.
UPSAMPLE_MACS_PER_PIXEL = 4


def level_sizes(height: int, width: int, levels: int) -> list[list[int]]:
    return [[-(-height // 2 ** i), -(-width // 2 ** i)] for i in range(levels)]


class LatentGrids(nn.Module):
    def __init__(self, frames: int, sizes: list[list[int]]):
        super().__init__()
        for i, (h, w) in enumerate(sizes):
            self.register_parameter(f"level{i}", nn.Parameter(torch.zeros(frames, h, w)))
        self.levels = len(sizes)

    def grids(self) -> list[torch.Tensor]:
        return [getattr(self, f"level{i}") for i in range(self.levels)]


class Synthesis(nn.Module):
    """Stacked levels (B, L, H, W) → RGB in [0, 1]: ``layers`` 1x1 convolutions of ``hidden`` channels
    with GELU, a 1x1 to RGB, then a residual 3x3 refinement and a sigmoid."""

    def __init__(self, levels: int, hidden: int, layers: int):
        super().__init__()
        chans = [levels] + [hidden] * layers
        self.mlp = nn.ModuleList(nn.Conv2d(a, b, 1) for a, b in zip(chans[:-1], chans[1:]))
        self.to_rgb = nn.Conv2d(chans[-1], 3, 1)
        self.refine = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.mlp:
            x = F.gelu(conv(x))
        x = self.to_rgb(x)
        return torch.sigmoid(x + self.refine(x))


class LatentDecoder(nn.Module):
    def __init__(self, arch: dict):
        super().__init__()
        self.arch = arch
        self.latents = LatentGrids(arch["frames"], arch["level_sizes"])
        self.synthesis = Synthesis(len(arch["level_sizes"]), arch["hidden"], arch["layers"])

    def features(self, idx: torch.Tensor) -> torch.Tensor:
        """The levels of frames ``idx``, each upsampled to the frame's size: (B, levels, H, W)."""
        size = (self.arch["h0"], self.arch["w0"])
        out = []
        for g in self.latents.grids():
            x = g[idx][:, None]
            out.append(x if tuple(x.shape[-2:]) == size else
                       F.interpolate(x, size=size, mode="bilinear", align_corners=False))
        return torch.cat(out, dim=1)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.synthesis(self.features(idx))

    def extra_macs_per_frame(self) -> int:
        """What hooks on the convolutions miss: the upsampling and the context model's predictions."""
        h, w = self.arch["h0"], self.arch["w0"]
        latents = sum(a * b for a, b in self.arch["level_sizes"])
        return UPSAMPLE_MACS_PER_PIXEL * h * w * (len(self.arch["level_sizes"]) - 1) + CONTEXT_MACS_PER_LATENT * latents


@register("latent")
class LatentModel(INRModel):
    Decoder = LatentDecoder

    def __init__(self, arch: dict):
        super().__init__(arch)
        self.decoder = LatentDecoder(arch)

    @classmethod
    def solve_arch(cls, cfg: dict, frames: int, height: int, width: int) -> dict:
        levels = int(cfg["levels"])
        return dict(frames=frames, h0=height, w0=width, strides=[1], level_sizes=level_sizes(height, width, levels),
                    hidden=int(cfg["hidden"]), layers=int(cfg["layers"]))

    def forward(self, idx: torch.Tensor, frames: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(idx)
