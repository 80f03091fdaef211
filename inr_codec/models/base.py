"""What every architecture provides.

A model has two halves:

* ``Decoder``: everything the file stores and the decoder runs. Built from the
  architecture dict alone (``Decoder(arch)``), its ``state_dict()`` is exactly the
  set of tensors that go into model.bin, and ``forward(idx)`` maps frame indices
  to frames (B, 3, pad_height, pad_width) in [0, 1].
* the fitting model (the class itself): owns a ``decoder`` and whatever helps
  fitting but is not stored (HNeRV's encoder). ``forward(idx, frames)`` returns
  the prediction for a batch; ``export_decoder(frames_fn)`` finalises the decoder
  (e.g. fills HNeRV's embeddings from the encoder) for compression.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn


class INRModel(nn.Module):
    name = "base"
    Decoder: type[nn.Module]

    def __init__(self, arch: dict):
        super().__init__()
        self.arch = arch

    @classmethod
    def create(cls, cfg: dict, frames: int, height: int, width: int) -> "INRModel":
        """Solve the architecture (strides, widths) for this video and build the model."""
        return cls(cls.solve_arch(cfg, frames, height, width))

    @classmethod
    def solve_arch(cls, cfg: dict, frames: int, height: int, width: int) -> dict:
        raise NotImplementedError

    def forward(self, idx: torch.Tensor, frames: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def prime(self, frames) -> None:
        """Before the first step, with the fit's frames (a ``data.FrameSet``): start what the frames can tell
        (the latent model's velocity, by block matching). Nothing by default."""

    @torch.no_grad()
    def export_decoder(self, frames_fn: Callable[[torch.Tensor], torch.Tensor]) -> nn.Module:
        """The decoder with every stored tensor filled in. frames_fn(idx) gives padded frames in [0,1]."""
        return self.decoder

    def decoder_params(self) -> int:
        """Parameters of the stored network (embeddings excluded), the figure sizes refer to: the stored
        tensors only, not a rate-distortion fit's learned steps and entropy-model parameters."""
        from torch.nn.utils import parametrize
        from ..compress.pipeline import EMBEDDINGS, stored_tensors
        total = 0
        for full, mod, name in stored_tensors(self.decoder):
            if full != EMBEDDINGS:  # the original tensor: evaluating a parametrization would draw its noise
                t = mod.parametrizations[name].original if parametrize.is_parametrized(mod, name) else getattr(mod, name)
                total += t.numel()
        return total
