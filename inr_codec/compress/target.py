"""Rate targets: ``compress.target_kb`` or ``compress.target_bpp``.

Before fitting, the model is sized so that its file should land a little above the
target (``plan_params``); after fitting and fine-tuning, extra magnitude pruning is
searched by bisection until the real, coded file is within ``TOLERANCE`` of the
target (``prune_to_target``). Every size here is measured by coding the tensors,
not estimated.
"""
from __future__ import annotations

from typing import Callable


from ..container import to_bytes
from ..container.records import CompressedModel
from ..errors import InputError

TOLERANCE = 0.05
# Measured bits per stored weight after range coding, by quantization bits (sample clip, HNeRV):
# 8-bit PTQ weights coded to ~7.6 bits each. Lower bits save proportionally less; the plan
# overshoots and pruning brings the file down, so this only needs to be roughly right.
CODED_FRACTION = 0.95
OVERSHOOT = 1.1
# compress.entropy=learned: the model is sized so that its weights cost about this many bits each; the
# target term then steers the rate to the target. Measured on the sample (docs/experiments.md): the
# best learned files near 26 kB came from a 46k-parameter HNeRV at about 4 bits a weight; larger
# networks pushed to fewer bits each gave lower PSNR at the same bytes.
LEARNED_BITS_PER_WEIGHT = 4.0


def target_bytes(cfg, width: int, height: int, frames: int) -> int | None:
    kb, bpp = cfg.get("target_kb"), cfg.get("target_bpp")
    if kb is not None and bpp is not None:
        raise InputError("give compress.target_kb or compress.target_bpp, not both")
    if kb is not None:
        if not isinstance(kb, (int, float)) or kb <= 0:
            raise InputError(f"compress.target_kb={kb} must be a positive number of kB (1 kB = 1000 bytes)")
        return int(round(kb * 1000))
    if bpp is not None:
        if not isinstance(bpp, (int, float)) or bpp <= 0:
            raise InputError(f"compress.target_bpp={bpp} must be a positive number of bits per pixel")
        return int(round(bpp * width * height * frames / 8))
    return None


def plan_params(target: int, cfg, stored_overhead_values: int = 0) -> float:
    """Decoder parameters (millions) whose coded weights should slightly exceed ``target`` bytes."""
    if cfg.get("entropy", "static") == "learned":
        bits_per_weight = LEARNED_BITS_PER_WEIGHT
    else:
        bits_per_weight = int(cfg.bits) * CODED_FRACTION * (1.0 - 0.8 * float(cfg.prune))
    weights = OVERSHOOT * target * 8 / bits_per_weight - stored_overhead_values
    if weights < 2000:
        raise InputError(f"a target of {target} bytes is too small for any model of this video; aim higher")
    return round(weights / 1e6, 5)


def prune_to_target(build: Callable[[float], CompressedModel], target: int,
                    already: float = 0.0) -> tuple[CompressedModel, int, float]:
    """Find the smallest pruning fraction (of all weights, at least ``already``) whose file fits ``target``.

    ``build(fraction)`` returns the CompressedModel pruned to that fraction by magnitude.
    Returns (model, its size in bytes, the fraction used); the size is within TOLERANCE of
    the target unless even the unpruned file is smaller than that.
    """
    cm = build(already)
    size = len(to_bytes(cm))
    if size <= target * (1 + TOLERANCE):
        return cm, size, already
    lo, hi = already, 0.99
    best = None
    for _ in range(14):
        mid = (lo + hi) / 2
        cm_mid = build(mid)
        s = len(to_bytes(cm_mid))
        if s > target * (1 + TOLERANCE):
            lo = mid
        else:
            hi = mid
            best = (cm_mid, s, mid)
            if s >= target * (1 - TOLERANCE):
                break
    if best is None:
        raise InputError(f"cannot bring the file under {target} bytes even with 99% of the weights pruned; "
                         "aim higher or use fewer compress.bits")
    return best


def steps_to_target(build: Callable[[float], CompressedModel], target: int) -> tuple[CompressedModel, int, float]:
    """Learned quantization (``compress.entropy=learned``): scale every trained step by one factor,
    searched by bisection on log(factor), until the coded file is within TOLERANCE of ``target``.
    Returns (model, bytes, factor); factor 1 when the trained file is already within it."""
    import math
    cm = build(1.0)
    size = len(to_bytes(cm))
    if within(size, target):
        return cm, size, 1.0
    lo, hi = (0.0, math.log(64.0)) if size > target else (math.log(1 / 64.0), 0.0)
    best = (cm, size, 1.0)
    for _ in range(24):
        mid = (lo + hi) / 2
        cm_mid = build(math.exp(mid))
        s = len(to_bytes(cm_mid))
        if abs(s - target) < abs(best[1] - target):
            best = (cm_mid, s, math.exp(mid))
        if within(s, target):
            return cm_mid, s, math.exp(mid)
        lo, hi = (mid, hi) if s > target else (lo, mid)
    if not within(best[1], target):
        raise InputError(f"cannot bring the file within 5% of {target} bytes by its quantization steps "
                         f"(closest {best[1]} bytes); aim elsewhere or change compress.lmbda")
    return best


def within(size: int, target: int) -> bool:
    return abs(size - target) <= TOLERANCE * target


