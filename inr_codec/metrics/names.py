"""The metric names ``eval`` and ``bench`` take (``--metrics``), checked without loading torch."""
from __future__ import annotations

from inr_codec.errors import InputError

METRICS = ("psnr", "msssim", "lpips")


def parse_metrics(spec: str | None) -> tuple[str, ...]:
    names = tuple(m.strip().lower().replace("-", "") for m in (spec or "psnr,msssim").split(",") if m.strip())
    bad = [m for m in names if m not in METRICS]
    if bad or not names:
        raise InputError(f"unknown metric {bad[0] if bad else spec!r}; use a comma list of {','.join(METRICS)}")
    return names
