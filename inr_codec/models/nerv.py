"""NeRV (Chen et al., 2021): frame index → positional encoding → MLP → upsampling conv blocks."""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from .base import INRModel
from .layers import OutputHead, UpBlock, channel_schedule, choose_strides, solve_width
from .registry import register


def positional_encoding(t: torch.Tensor, levels: int, base: float) -> torch.Tensor:
    """t in [0, 1], shape (B,) → (B, 2·levels): sin/cos(base^i · π · t)."""
    freqs = base ** torch.arange(levels, device=t.device, dtype=torch.float32) * math.pi
    angles = t.float()[:, None] * freqs[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


class NeRVDecoder(nn.Module):
    def __init__(self, arch: dict):
        super().__init__()
        self.arch = arch
        h0, w0, c_fc = arch["h0"], arch["w0"], arch["fc_channels"]
        self.stem = nn.Sequential(
            nn.Linear(2 * arch["pe_levels"], arch["mlp_hidden"]), nn.GELU(),
            nn.Linear(arch["mlp_hidden"], c_fc * h0 * w0), nn.GELU(),
        )
        chans = [c_fc] + arch["channels"]
        self.blocks = nn.ModuleList(
            UpBlock(chans[i], chans[i + 1], arch["kernel"], s) for i, s in enumerate(arch["strides"])
        )
        self.head = OutputHead(chans[-1])

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        a = self.arch
        t = idx.float() / max(a["frames"] - 1, 1)
        x = self.stem(positional_encoding(t, a["pe_levels"], a["pe_base"]))
        x = x.view(-1, a["fc_channels"], a["h0"], a["w0"])
        for block in self.blocks:
            x = block(x)
        return self.head(x)


@register("nerv")
class NeRV(INRModel):
    Decoder = NeRVDecoder

    def __init__(self, arch: dict):
        super().__init__(arch)
        self.decoder = NeRVDecoder(arch)

    @classmethod
    def solve_arch(cls, cfg: dict, frames: int, height: int, width: int) -> dict:
        strides, h0, w0 = choose_strides(height, width, cfg["blocks"], cfg["latent_side"])
        base = dict(frames=frames, h0=h0, w0=w0, strides=strides, kernel=cfg["kernel"],
                    pe_levels=cfg["pe_levels"], pe_base=cfg["pe_base"], mlp_hidden=cfg["mlp_hidden"],
                    fc_channels=cfg["fc_channels"])

        def arch_for(width_: int) -> dict:
            chans = channel_schedule(width_, len(strides), cfg["ratio"], cfg["min_channels"])
            return dict(base, channels=chans)

        budget = int(cfg["size_m"] * 1e6)
        w = solve_width(lambda c: NeRVDecoder(arch_for(c)), budget)
        return arch_for(w)

    def forward(self, idx: torch.Tensor, frames: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(idx)
