"""Building blocks shared by the architectures."""
from __future__ import annotations

import itertools
import logging
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

log = logging.getLogger("inr_codec.models")


class UpBlock(nn.Module):
    """conv(k×k, C_in → C_out·s²) + bias → PixelShuffle(s) → GELU: one decoder stage.

    This is the unit the Triton decode kernels fuse; keep its structure plain.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int):
        super().__init__()
        self.stride = stride
        self.conv = nn.Conv2d(c_in, c_out * stride * stride, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(F.pixel_shuffle(self.conv(x), self.stride))


class OutputHead(nn.Module):
    """Final conv to RGB; sigmoid keeps the output in [0, 1]."""

    def __init__(self, c_in: int, kernel: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(c_in, 3, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv(x))


def channel_schedule(c0: int, n: int, ratio: float, c_min: int) -> list[int]:
    """n channel counts starting at c0, each ``ratio`` times smaller than the last, never below c_min."""
    return [max(c_min, int(round(c0 / ratio ** i))) for i in range(n)]


def choose_strides(height: int, width: int, n_blocks: int, target_side: float,
                   allowed=(5, 4, 3, 2)) -> tuple[list[int], int, int]:
    """Pick upsampling strides (largest first) for a frame of height×width.

    The network's output is (h0·P)×(w0·P) with P the product of the strides and
    h0 = ceil(height/P), w0 = ceil(width/P): the frame is padded to that size for
    fitting and cropped back on decode. We minimise the padded area, preferring a
    smallest latent side near ``target_side``. Returns (strides, h0, w0).
    """
    best = None
    for strides in itertools.combinations_with_replacement(allowed, n_blocks):
        p = math.prod(strides)
        h0, w0 = -(-height // p), -(-width // p)
        waste = (h0 * p * w0 * p) / (height * width) - 1.0
        side = min(h0, w0)
        cost = waste + 0.25 * abs(math.log(side / target_side))
        key = (cost, -p)
        if best is None or key < best[0]:
            best = (key, list(strides), h0, w0)
    return best[1], best[2], best[3]


def count_params(make_module) -> int:
    """Parameters of ``make_module()`` (embeddings excluded), built on the meta device: no memory, no init."""
    with torch.device("meta"):
        m = make_module()
    return sum(p.numel() for n, p in m.named_parameters() if n != "embeddings")


def solve_width(make_module, budget: int, lo: int = 4, hi: int = 4096) -> int:
    """Largest width w whose ``make_module(w)`` stays within ``budget`` parameters (monotone search)."""
    def size(w: int) -> int:
        return count_params(lambda: make_module(w))
    if size(lo) > budget:
        log.warning("the smallest network of this shape has %d parameters, more than the budget of %d; "
                    "using it (lower model.blocks or give a larger model.size_m)", size(lo), budget)
        return lo
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if size(mid) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo
