"""Mixed precision by sensitivity: ``compress.layer_bits=auto``.

After fitting, each weight tensor alone is quantized (and range-coded) at a few bit depths
around ``compress.bits`` while every other tensor stays float, which gives per layer the
distortion it adds and the bytes it costs at each depth. Layers are nearly independent at
these bit depths, so the allocation minimises the summed added distortion under the bytes
the uniform ``compress.bits`` would take: a Lagrangian search over the slope λ (each layer
takes its argmin of ΔD + λ·R; the smallest λ whose total fits the budget wins). In practice
the first and last layers, small and sensitive, go up, and large tolerant ones go down.
"""
from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn as nn

from ..data import FrameSet
from .codec import code_tensor, decode_tensor
from .entropy import table_bytes
from .pipeline import EMBEDDINGS, tensor_plan

log = logging.getLogger("inr_codec.compress")

OFFSETS = (-1, 0, 1, 3)  # candidate depths around compress.bits (kept within 2..16)


@torch.no_grad()
def _mse(decoder: nn.Module, frames: FrameSet) -> float:
    total = 0.0
    for start in range(0, len(frames), 16):
        idx = torch.arange(start, min(start + 16, len(frames)), device=frames.device)
        out = frames.crop(decoder(idx).float().clamp(0, 1))
        total += float(((out - frames.crop(frames.batch(idx))) ** 2).mean()) * len(idx)
    return total / len(frames)


@torch.no_grad()
def sensitivities(decoder: nn.Module, frames: FrameSet, cfg) -> dict[str, dict[int, tuple[float, int]]]:
    """{weight name: {bits: (added MSE, coded bytes)}} with only that tensor quantized."""
    was_training = decoder.training
    decoder.eval()
    base = _mse(decoder, frames)
    state = decoder.state_dict()
    out: dict[str, dict[int, tuple[float, int]]] = {}
    for name, p in decoder.named_parameters():
        if p.ndim <= 1 or name == EMBEDDINGS:
            continue
        bits, axis = tensor_plan(name, p.ndim, cfg)
        original = state[name].clone()
        array = original.to("cpu", torch.float32).numpy()
        out[name] = {}
        for b in sorted({min(max(bits + o, 2), 16) for o in OFFSETS}):
            ct = code_tensor(name, array, b, axis)
            state[name].copy_(torch.from_numpy(decode_tensor(ct).reshape(array.shape)))
            out[name][b] = (_mse(decoder, frames) - base, len(ct.payload) + table_bytes(ct.frequencies))
        state[name].copy_(original)
    decoder.train(was_training)
    return out


def choose(table: dict[str, dict[int, tuple[float, int]]], budget: int) -> dict[str, int]:
    """Bits per layer minimising the summed added distortion with at most ``budget`` bytes in total
    (the cheapest choice everywhere when even that does not fit)."""
    def pick(lam: float) -> dict[str, int]:
        return {n: min(opts, key=lambda b: (opts[b][0] + lam * opts[b][1], -b)) for n, opts in table.items()}

    def size(choice: dict[str, int]) -> int:
        return sum(table[n][b][1] for n, b in choice.items())

    lo, hi = -30.0, 5.0  # log10 of λ (MSE per byte)
    if size(pick(10.0 ** lo)) <= budget:
        return pick(10.0 ** lo)
    for _ in range(60):
        mid = (lo + hi) / 2
        if size(pick(10.0 ** mid)) <= budget:
            hi = mid
        else:
            lo = mid
    return pick(10.0 ** hi)


def allocate(decoder: nn.Module, frames: FrameSet, cfg) -> dict[str, int]:
    """The ``layer_bits`` mapping (every weight tensor by name) for ``compress.layer_bits=auto``."""
    table = sensitivities(decoder, frames, cfg)
    uniform = {n: tensor_plan(n, 2, cfg)[0] for n in table}
    choice = choose(table, sum(table[n][b][1] for n, b in uniform.items()))
    for n, b in choice.items():
        log.info("layer_bits=auto: %s %d bits (added MSE %.2e, %d bytes alone)", n, b, *table[n][b])
    return choice
