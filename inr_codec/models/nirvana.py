"""NIRVANA: one small patch-wise network per group of frames (see docs/architecture.md).

The frame is cut into ``patch`` x ``patch`` tiles on a ``grid_h`` x ``grid_w`` grid (the frame
is padded up to a whole number of tiles). For tile (i, j) of frame t of a group, the network
maps the Fourier features of (x_j, y_i, t) to the tile's ``patch*patch*3`` pixels at once:

    x_j = (j + 0.5) / grid_w * 2 - 1,  y_i = (i + 0.5) / grid_h * 2 - 1,  t = (t + 0.5) / gop * 2 - 1
    features(c) = [sin(2^l * pi * c), cos(2^l * pi * c) for l < pe_levels]      (6 * pe_levels inputs)
    tile = sigmoid(Linear(GELU(Linear(... GELU(Linear(features))))))           (``layers`` hidden layers)

Why tiles, not pixels: one forward row yields patch^2 pixels, so a group of 8 frames at 256x144 is
4,608 rows instead of 295k, and the network stays small (its weights are what the file stores, per
group). The first layer is split into a spatial part, computed once per tile, and a temporal part,
computed once per frame, and summed: the same affine map, without building a (frames x tiles) input.

``head: conv`` (``ConvDecoder``) replaces the tile MLP with an upsampling decoder per group: a learned
``grid_ch`` x ``grid_h`` x ``grid_w`` feature grid (one cell per tile) at ``grid_t`` instants of the
group, linearly interpolated at frame t, plus a per-channel offset from Linear(fourier(t)), then
log2(patch) ``UpBlock`` stages (conv 3x3 + PixelShuffle(2) + GELU; ``hidden`` channels, halved per
stage, at least 8) and a 3x3 conv to RGB. Why: convolutions share their weights over every position
of the frame, so a stored weight draws more detail than in the tile MLP's output layer.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from ..errors import InputError
from .base import INRModel
from .layers import OutputHead, UpBlock
from .registry import register

HEADS = ("mlp", "conv")  # stored in the file as their index
RESIDUAL_TRAIN = ("all", "content")  # what a residual group trains (train/groups.py)


def fourier(c: torch.Tensor, levels: int) -> torch.Tensor:
    """(N,) or (N, d) coordinates in [-1, 1] → (N, 2 * levels * d) sin/cos features."""
    c = c.reshape(c.shape[0], -1)
    freqs = (2.0 ** torch.arange(levels, dtype=torch.float32, device=c.device)) * math.pi
    x = (c[:, :, None] * freqs).reshape(c.shape[0], -1)
    return torch.cat([torch.sin(x), torch.cos(x)], dim=1)


def grid_lerp_macs(dec: nn.Module) -> int:
    """MACs per frame of interpolating a learned grid between its ``grid_t`` instants (2 multiplies a value),
    which no Linear/Conv2d hook sees (``models/macs.py``); both decoders' ``extra_macs_per_frame``."""
    a = dec.arch
    return 2 * a.get("grid_ch", 0) * a["grid_h"] * a["grid_w"] if a.get("grid_t", 1) > 1 else 0


class PatchDecoder(nn.Module):
    """Local frame indices (B,) → frames (B, 3, grid_h * patch, grid_w * patch) in [0, 1]."""

    def __init__(self, arch: dict):
        super().__init__()
        self.arch = arch
        p, levels, hidden = arch["patch"], arch["pe_levels"], arch["hidden"]
        gh, gw = arch["grid_h"], arch["grid_w"]
        self.space = nn.Linear(4 * levels, hidden)            # first layer, spatial columns (with the bias)
        self.time = nn.Linear(2 * levels, hidden, bias=False)  # first layer, temporal columns
        self.hidden = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(arch["layers"] - 1))
        self.head = nn.Linear(hidden, p * p * 3)
        if arch.get("mix", 0):  # a depthwise 3x3 conv over the tile grid before the head: neighbours see each other
            self.mix = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        c, gt = arch.get("grid_ch", 0), arch.get("grid_t", 1)
        if c:  # a learned code per tile at grid_t instants of the group, linearly interpolated in t
            self.grid = nn.Parameter(torch.randn(c, gt, gh * gw) * 0.1)
            self.proj = nn.Linear(c, hidden, bias=False)
        ys = (torch.arange(gh, dtype=torch.float32) + 0.5) / gh * 2 - 1
        xs = (torch.arange(gw, dtype=torch.float32) + 0.5) / gw * 2 - 1
        grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).reshape(-1, 2)  # row-major tiles
        self.register_buffer("tiles", fourier(grid, levels), persistent=False)  # not stored: built from arch

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        a = self.arch
        p, gh, gw = a["patch"], a["grid_h"], a["grid_w"]
        tc = (t.to(torch.float32) + 0.5) / a["gop"] * 2 - 1
        h = self.space(self.tiles)[None] + self.time(fourier(tc, a["pe_levels"]).to(self.time.weight.dtype))[:, None]  # (B, tiles, hidden)
        if a.get("grid_ch", 0):
            h = h + self.proj(self._codes(t))
        h = nn.functional.gelu(h)
        for layer in self.hidden:
            h = nn.functional.gelu(layer(h))
        if a.get("mix", 0):
            m = h.reshape(-1, gh, gw, h.shape[-1]).permute(0, 3, 1, 2)
            h = h + self.mix(m).permute(0, 2, 3, 1).reshape(h.shape)
        out = torch.sigmoid(self.head(h))                                    # (B, tiles, p*p*3)
        out = out.reshape(-1, gh, gw, 3, p, p).permute(0, 3, 1, 4, 2, 5)     # (B, 3, gh, p, gw, p)
        return out.reshape(-1, 3, gh * p, gw * p)

    extra_macs_per_frame = grid_lerp_macs

    def _codes(self, t: torch.Tensor) -> torch.Tensor:
        """(B,) local frame indices → (B, tiles, grid_ch): the grid linearly interpolated at each frame."""
        gt, gop = self.grid.shape[1], self.arch["gop"]
        if gt == 1:
            return self.grid[:, 0].T[None].expand(len(t), -1, -1)
        u = t.to(torch.float32) * ((gt - 1) / max(gop - 1, 1))       # position among the grid_t instants
        lo = u.floor().clamp(max=gt - 2).long()
        w = (u - lo).to(self.grid.dtype)[:, None, None]
        g = self.grid.permute(1, 2, 0)                                 # (gt, tiles, C)
        return g[lo] * (1 - w) + g[lo + 1] * w


class ConvDecoder(nn.Module):
    """Local frame indices (B,) → frames (B, 3, grid_h * patch, grid_w * patch) in [0, 1] (``head: conv``)."""

    def __init__(self, arch: dict):
        super().__init__()
        self.arch = arch
        c0, gt = arch["grid_ch"], arch["grid_t"]
        self.grid = nn.Parameter(torch.randn(c0, gt, arch["grid_h"], arch["grid_w"]) * 0.1)
        self.time = nn.Linear(2 * arch["pe_levels"], c0)
        chans = conv_channels(arch)
        self.blocks = nn.ModuleList(UpBlock(a, b, 3, 2) for a, b in zip([c0] + chans[:-1], chans))
        self.head = OutputHead(chans[-1])

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        a = self.arch
        gt, gop = self.grid.shape[1], a["gop"]
        g = self.grid.transpose(0, 1)                                   # (gt, C, gh, gw)
        if gt == 1:
            x = g[[0] * len(t)]
        else:
            u = t.to(torch.float32) * ((gt - 1) / max(gop - 1, 1))
            lo = u.floor().clamp(max=gt - 2).long()
            w = (u - lo).to(g.dtype)[:, None, None, None]
            x = g[lo] * (1 - w) + g[lo + 1] * w
        tc = (t.to(torch.float32) + 0.5) / gop * 2 - 1
        x = x + self.time(fourier(tc, a["pe_levels"]).to(g.dtype))[:, :, None, None]
        for block in self.blocks:
            x = block(x)
        return self.head(x)

    extra_macs_per_frame = grid_lerp_macs


def conv_channels(arch: dict) -> list[int]:
    """Output channels of the conv head's stages: ``hidden``, halved per stage, at least 8."""
    n = arch["patch"].bit_length() - 1
    return [max(8, arch["hidden"] >> i) for i in range(n)]


def make_decoder(arch: dict) -> nn.Module:
    """The group network of ``arch`` (``head`` 0: the tile MLP, 1: the conv decoder)."""
    return ConvDecoder(arch) if arch.get("head", 0) == 1 else PatchDecoder(arch)


@register("nirvana")
class Nirvana(INRModel):
    """The group-wise model; ``train/groups.py`` fits one ``Decoder`` per group of ``gop`` frames."""

    Decoder = staticmethod(make_decoder)


    def __init__(self, arch: dict):
        super().__init__(arch)
        self.decoder = make_decoder(arch)

    @classmethod
    def solve_arch(cls, cfg: dict, frames: int, height: int, width: int) -> dict:
        p = int(cfg["patch"])
        head = str(cfg.get("head", "mlp"))
        if head not in HEADS:
            raise InputError(f"model.head={head} is unknown; use mlp or conv")
        if head == "conv" and (p < 2 or p & (p - 1) or int(cfg.get("grid_ch", 0)) < 1):
            raise InputError(f"model.head=conv needs model.patch a power of two >= 2 (got {p}) and model.grid_ch >= 1")
        train = cfg.get("residual_train", "all")  # checked here, before any work; not stored (decoding needs none)
        if train not in RESIDUAL_TRAIN:
            raise InputError(f"model.residual_train={train} is unknown; use all or content")
        return {"gop": int(cfg["gop"]), "segment": int(cfg["segment"]), "patch": p,
                "pe_levels": int(cfg["pe_levels"]), "hidden": int(cfg["hidden"]), "layers": int(cfg["layers"]),
                "grid_h": -(-height // p), "grid_w": -(-width // p),
                "grid_ch": int(cfg.get("grid_ch", 0)), "grid_t": int(cfg.get("grid_t", 1)),
                "mix": int(bool(cfg.get("mix", False))), "head": HEADS.index(head)}

    def forward(self, idx: torch.Tensor, frames: torch.Tensor | None) -> torch.Tensor:
        return self.decoder(idx)


def pad_size(arch: dict) -> tuple[int, int]:
    """(pad_height, pad_width) of a NIRVANA architecture."""
    return arch["grid_h"] * arch["patch"], arch["grid_w"] * arch["patch"]
