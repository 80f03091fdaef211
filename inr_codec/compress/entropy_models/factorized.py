"""A stored-parameter model: every symbol of the tensor under one discretised Laplace (weights, biases)."""
from __future__ import annotations

import numpy as np
import torch

from . import laplace
from .base import EntropyModel


class Factorized(EntropyModel):
    coder = "laplace"

    def model_count(self, shape):
        return 1

    def streams(self, q):
        return [np.asarray(q, dtype=np.int64).reshape(-1)]

    def unstream(self, streams, shape):
        return streams[0].reshape(shape).astype(np.int32)

    @staticmethod
    def rate_bits(y: torch.Tensor, log_b: torch.Tensor) -> torch.Tensor:
        return laplace.rate_bits(y, log_b.exp()).sum()

    @staticmethod
    def b_shape(shape) -> tuple[int, ...]:
        return ()
