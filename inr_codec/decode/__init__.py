"""Decoders: ``reference`` (PyTorch, the ground truth), ``triton`` (the fused kernels) and ``fused`` (the
latent codec's tiled CPU decoder, ``latent_cpu``).

Each exposes ``decode_batches(cm, *, device, dtype, batch_size, frames)``, a generator of uint8
(B, H, W, 3) numpy batches, so a long video never has to be in memory at once.
"""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

from ..errors import InputError

BACKENDS = ("torch", "triton", "fused")


def resolve_backend(backend: str, cm, device, dtype: str) -> str:
    """``auto``: the fused CPU decoder for a latent file on the CPU in fp32 (several times the reference's
    frames per second, within one level of it: docs/experiments.md), the reference otherwise; any other name as
    given."""
    if backend != "auto":
        return backend
    fused = cm.model.get("name") == "latent" and device.type == "cpu" and dtype == "fp32"  # closed groups too
    return "fused" if fused else "torch"


def backend_batches(backend: str) -> Callable[..., Iterator[np.ndarray]]:
    """The ``decode_batches`` generator of a backend, by name (triton is imported only when asked for)."""
    if backend == "torch":
        from .reference import decode_batches
        return decode_batches
    if backend == "triton":
        from .triton import decode_batches
        return decode_batches
    if backend == "fused":
        from .latent_cpu import decode_batches
        return decode_batches
    raise InputError(f"unknown backend '{backend}'; choose one of: {', '.join(BACKENDS)}")
