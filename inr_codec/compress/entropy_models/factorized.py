"""Stored-parameter models of a whole tensor (weights, biases): every symbol under one model.

* ``Factorized`` (coder ``laplace``): one discretised Laplace (S, K);
* ``ZeroFactorized`` (coder ``laplace0``): one zero-inflated Laplace (Z, S, K), for weights that the
  rate term has made mostly zero (``zero_laplace``).
"""
from __future__ import annotations

import numpy as np
import torch

from . import laplace, zero_laplace
from .base import EntropyModel


class Factorized(EntropyModel):
    coder = "laplace"
    zero_inflated = False

    def model_count(self, shape):
        return 1

    def streams(self, q):
        return [np.asarray(q, dtype=np.int64).reshape(-1)]

    def unstream(self, streams, shape):
        return streams[0].reshape(shape).astype(np.int32)

    @staticmethod
    def rate_bits(y: torch.Tensor, log_b: torch.Tensor, aux: torch.Tensor | None = None) -> torch.Tensor:
        return laplace.rate_bits(y, log_b.exp()).sum()

    @staticmethod
    def b_shape(shape) -> tuple[int, ...]:
        return ()


class ZeroFactorized(Factorized):
    coder = "laplace0"
    zero_inflated = True
    params_per_model = 3  # Z, S, K

    def frequencies(self, p):
        return zero_laplace.frequencies(*p)

    def fit_model(self, s):
        return zero_laplace.fit_stream(s)

    def check_model(self, p):
        Z, S, K = p
        if not 1 <= Z < zero_laplace.Z_ONE:
            return f"zero probability {Z} is outside 1..2**16-1"
        return super().check_model((S, K))

    @staticmethod
    def rate_bits(y: torch.Tensor, log_b: torch.Tensor, aux: torch.Tensor | None = None) -> torch.Tensor:
        return zero_laplace.rate_bits(y, log_b.exp(), torch.sigmoid(aux)).sum()  # aux: the logit of P(0)
