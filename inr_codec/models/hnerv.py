"""HNeRV (Chen et al., 2023): a ConvNeXt encoder turns each frame into a tiny embedding
that the file stores; the decoder upsamples embeddings to frames with kernels that grow
toward the output and channels that shrink by a fixed ratio."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import INRModel
from .layers import OutputHead, UpBlock, channel_schedule, choose_strides, solve_width
from .registry import register


class LayerNorm2d(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.norm = nn.LayerNorm(c, eps=1e-6)

    def forward(self, x):
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = LayerNorm2d(c)
        self.pw1 = nn.Conv2d(c, 4 * c, 1)
        self.pw2 = nn.Conv2d(4 * c, c, 1)

    def forward(self, x):
        return x + self.pw2(F.gelu(self.pw1(self.norm(self.dw(x)))))


class Encoder(nn.Module):
    """Downsamples a frame by the decoder's strides to an embed_dim × h0 × w0 embedding.

    Stage i has min(width, 16·2^i) channels: thin where the maps are large, so the
    encoder (which the file does not store) costs little of the fitting time.
    """

    def __init__(self, strides: list[int], width: int, embed_dim: int):
        super().__init__()
        layers, c_in = [], 3
        for i, s in enumerate(strides):
            c = min(width, 16 * 2 ** i)
            layers += [nn.Conv2d(c_in, c, s, stride=s), LayerNorm2d(c), ConvNeXtBlock(c)]
            c_in = c
        layers.append(nn.Conv2d(c_in, embed_dim, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class HNeRVBody(nn.Module):
    """Embedding → frame. Kernel of block i: min(k_min + 2i, k_max)."""

    def __init__(self, arch: dict):
        super().__init__()
        chans = arch["channels"]
        self.stem = nn.Conv2d(arch["embed_dim"], chans[0], 1)
        self.blocks = nn.ModuleList(
            UpBlock(chans[i], chans[i + 1], k, s)
            for i, (k, s) in enumerate(zip(arch["kernels"], arch["strides"]))
        )
        self.head = OutputHead(chans[-1])

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.stem(emb))
        for block in self.blocks:
            x = block(x)
        return self.head(x)


class HNeRVDecoder(nn.Module):
    def __init__(self, arch: dict):
        super().__init__()
        self.arch = arch
        self.embeddings = nn.Parameter(
            torch.zeros(arch["frames"], arch["embed_dim"], arch["h0"], arch["w0"]), requires_grad=False)
        self.body = HNeRVBody(arch)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.body(self.embeddings[idx])


@register("hnerv")
class HNeRV(INRModel):
    Decoder = HNeRVDecoder

    def __init__(self, arch: dict):
        super().__init__(arch)
        self.decoder = HNeRVDecoder(arch)
        self.encoder = Encoder(arch["strides"], arch["encoder_width"], arch["embed_dim"])

    @staticmethod
    def layout(cfg: dict, height: int, width: int) -> tuple[list[int], int, int]:
        """(strides, h0, w0): the upsampling strides and the embedding's side for a frame of height x width."""
        return choose_strides(height, width, cfg["blocks"], cfg["latent_side"])

    @classmethod
    def solve_arch(cls, cfg: dict, frames: int, height: int, width: int) -> dict:
        strides, h0, w0 = cls.layout(cfg, height, width)
        n = len(strides)
        kernels = [min(cfg["kernel_min"] + 2 * i, cfg["kernel_max"]) for i in range(n)]
        base = dict(frames=frames, h0=h0, w0=w0, strides=strides, kernels=kernels,
                    embed_dim=cfg["embed_dim"], encoder_width=cfg["encoder_width"])

        def arch_for(c0: int) -> dict:
            return dict(base, channels=channel_schedule(c0, n + 1, cfg["ratio"], cfg["min_channels"]))

        budget = int(cfg["size_m"] * 1e6)
        c0 = solve_width(lambda c: HNeRVBody(arch_for(c)), budget)
        return arch_for(c0)

    def forward(self, idx: torch.Tensor, frames: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder.body(self.encoder(frames))

    @torch.no_grad()
    def export_decoder(self, frames_fn: Callable[[torch.Tensor], torch.Tensor]) -> nn.Module:
        total = self.arch["frames"]
        for start in range(0, total, 16):
            idx = torch.arange(start, min(start + 16, total), device=self.decoder.embeddings.device)
            self.decoder.embeddings[idx] = self.encoder(frames_fn(idx))
        return self.decoder
