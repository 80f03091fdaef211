"""``quality=N``: a rung of the compress preset's ladder of rate-term weights (``compress.ladder``), the knob
people know from other codecs, beside ``compress.lmbda`` (the weight itself) and ``compress.target_kb`` /
``target_bpp`` (a size). 1 is the smallest file, the ladder's last rung the best quality; the ladder and each
rung's measured bytes and PSNR are in the preset's YAML (conf/compress/latent.yaml).
"""
from __future__ import annotations

from .errors import InputError


def apply(cfg, given: dict[str, str], preset: str) -> None:
    """Set ``compress.lmbda`` from ``quality=N`` (in place); one-line InputError where it cannot act.
    ``given``: the keys set on the command line (``knobs.given``); ``preset``: the compress option chosen."""
    q = cfg.get("quality")
    if q is None:
        return
    ladder = cfg.compress.get("ladder")
    if not ladder:
        raise InputError(f"quality={q} picks compress.lmbda from a compress preset's ladder, and compress={preset} "
                         f"has none (model=latent compress=latent has one); set compress.lmbda or compress.target_kb")
    n = len(ladder)
    if isinstance(q, bool) or not isinstance(q, int) or not 1 <= q <= n:
        raise InputError(f"quality={q} is invalid: give a whole number from 1 (smallest file) to {n} (best quality)")
    for key in ("compress.lmbda", "compress.target_kb", "compress.target_bpp"):
        if key in given:
            raise InputError(f"quality={q} and {key} both set the rate; give one of them")
    cfg.compress.lmbda = float(ladder[q - 1])
