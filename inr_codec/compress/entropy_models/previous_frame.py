"""A context model for per-frame latents (HNeRV's embeddings, shape frames x channels x h x w).

Each frame's symbol is predicted by the symbol at the same place in the previous frame (the
decoder has it already); the difference is coded under a discretised Laplace per channel:
``d[t] = q[t] - q[t-1]`` (``q[-1] = 0``), ``P(d[t, c]) = Laplace(b_c)``. Consecutive frames of a
video give close embeddings, so the differences are small. The means are integers the decoder
holds exactly, so the rule needs no float arithmetic to be identical on every machine. Coding
order: channel by channel, each channel's differences in (frame, y, x) order.
"""
from __future__ import annotations

import numpy as np
import torch

from . import laplace
from .base import EntropyModel


class PreviousFrame(EntropyModel):
    coder = "laplace_prev"
    zero_inflated = False

    def model_count(self, shape):
        return shape[1] if len(shape) >= 2 else 1

    def streams(self, q):
        q = np.asarray(q, dtype=np.int64)
        d = np.diff(q, axis=0, prepend=np.zeros_like(q[:1]))
        return [np.ascontiguousarray(d[:, c]).reshape(-1) for c in range(q.shape[1])]

    def unstream(self, streams, shape):
        d = np.stack([s.reshape((shape[0],) + tuple(shape[2:])) for s in streams], axis=1)
        q = np.cumsum(d, axis=0)
        if q.size and np.abs(q).max() > 2 ** 31 - 1:
            raise ValueError("decoded latents overflow")
        return q.astype(np.int32)

    @staticmethod
    def rate_bits(y: torch.Tensor, log_b: torch.Tensor, aux: torch.Tensor | None = None) -> torch.Tensor:
        # The prediction is the previous frame's rounded symbol (straight-through, so training also
        # sees how a frame's value changes its successor's cost).
        prev = torch.cat([torch.zeros_like(y[:1]), y[:-1]], dim=0)
        prev = prev + (torch.round(prev) - prev).detach()
        b = log_b.exp().reshape((1, -1) + (1,) * (y.ndim - 2))
        return laplace.rate_bits(y - prev, b).sum()

    @staticmethod
    def b_shape(shape) -> tuple[int, ...]:
        return (shape[1],)
