"""Decoding a group-wise file (NIRVANA): only the groups a frame range needs.

Frames of group k need group k's weights, which need the chain from the nearest key group at or
before k (``compress.groupcode.chain_start``). ``GroupChain`` keeps the last reconstructed group's
weights, so decoding frames in order entropy-decodes every needed group exactly once, and a range
inside one segment never touches the groups of other segments or those after the range.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from ..compress.groupcode import State, apply_group, chain_start
from ..container.records import CompressedModel
from ..errors import ContainerError
from ..models.nirvana import make_decoder, pad_size

ARCH_KEYS = ("gop", "segment", "patch", "pe_levels", "hidden", "layers", "grid_h", "grid_w", "grid_ch", "grid_t", "mix", "head")
LIMITS = {"gop": 1 << 20, "segment": 1 << 20, "patch": 256, "pe_levels": 32, "hidden": 8192, "layers": 64,
          "grid_h": 1 << 16, "grid_w": 1 << 16, "grid_ch": 256, "grid_t": 1 << 10, "mix": 1, "head": 1}
MINIMA = {"grid_ch": 0, "mix": 0, "head": 0}  # grid_ch=0: no learned tile grid; mix=0: no tile-mixing conv
OPTIONAL = {"grid_ch": 0, "grid_t": 1, "mix": 0, "head": 0}  # absent in files written before these options: off


def check_arch(cm: CompressedModel) -> dict:
    """The file's NIRVANA architecture, refused before anything is allocated if it is inconsistent."""
    arch = {k: cm.model.get(k, OPTIONAL.get(k)) for k in ARCH_KEYS}
    for k, v in arch.items():
        if not isinstance(v, int) or isinstance(v, bool) or not MINIMA.get(k, 1) <= v <= LIMITS[k]:
            raise ContainerError(f"the file's nirvana architecture has {k}={v!r}; the model file is corrupted")
    if arch["head"] == 1 and (arch["patch"] < 2 or arch["patch"] & (arch["patch"] - 1) or arch["grid_ch"] < 1):
        raise ContainerError("the file's nirvana conv head has a patch that is not a power of two or no grid; "
                             "the model file is corrupted")
    pad_h, pad_w = pad_size(arch)
    v = cm.video
    if (pad_h, pad_w) != (v.pad_height, v.pad_width):
        raise ContainerError(f"the file's network outputs {pad_w}x{pad_h} but its header says "
                             f"{v.pad_width}x{v.pad_height}")
    if any(g.frames > arch["gop"] for g in cm.groups):
        raise ContainerError(f"a group of the file holds more than its gop of {arch['gop']} frames")
    with torch.device("meta"):
        expected = {n: tuple(t.shape) for n, t in make_decoder(arch).state_dict().items()}
    for g in cm.groups:
        stored = {t.name: tuple(t.shape) for t in g.tensors}
        if stored != expected:
            raise ContainerError(f"group {g.index}'s tensors do not fit the file's nirvana architecture")
    return arch


class GroupChain:
    """Group weights on demand; ``decoded`` lists the groups entropy-decoded so far, in order."""

    def __init__(self, cm: CompressedModel):
        self.groups = cm.groups
        self.at: int | None = None
        self.state: State | None = None
        self.decoded: list[int] = []

    def weights(self, k: int) -> State:
        key = chain_start(self.groups, k)
        first = self.at + 1 if self.at is not None and key <= self.at <= k else key
        if self.at == k:
            return self.state
        for i in range(first, k + 1):
            self.state = apply_group(self.state if i > key else None, self.groups[i])
            self.decoded.append(i)
        self.at = k
        return self.state


@torch.no_grad()
def decode_batches(cm: CompressedModel, *, device="cpu", dtype: str = "fp32", batch_size: int = 8,
                   frames: tuple[int, int] | None = None, chain: GroupChain | None = None) -> Iterator[np.ndarray]:
    """uint8 frame batches (B, H, W, 3) in order, never crossing a group; memory: one group's network."""
    from .reference import DTYPES, frame_range, to_uint8
    arch = check_arch(cm)
    rng = frame_range(cm, frames)
    chain = chain or GroupChain(cm)
    net = make_decoder(arch).to(device=device, dtype=DTYPES[dtype]).eval()
    loaded = None
    for g in cm.groups:
        lo, hi = max(g.start, rng.start), min(g.start + g.frames, rng.stop)
        if lo >= hi:
            continue
        if loaded != g.index:
            state = chain.weights(g.index)
            net.load_state_dict({n: torch.from_numpy(a) for n, a in state.items()}, strict=True)
            loaded = g.index
        for s in range(lo, hi, batch_size):
            t = torch.arange(s, min(s + batch_size, hi), device=device) - g.start
            yield to_uint8(net(t), cm)
