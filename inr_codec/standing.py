"""Where a fit stands: the bytes x265 slow needs for the written file's PSNR, on the same frames.

After ``fit`` has measured the file, the frames it measured are encoded with x265 slow at a few CRFs through
``inrcodec bench``'s machinery (``bench/anchors.py``: BT.709 limited-range yuv420p through libswscale, decoded
back to RGB by the video readers' conversion) and measured with the same RGB PSNR as the file (mean over
frames, ``metrics.FrameMeter``). The CRFs are searched from ``START`` along ``CRFS`` until two of them bracket
the file's PSNR; between them log-bytes are interpolated linearly in PSNR. Outside the points the line says
so (with the bound the nearest point gives) instead of extrapolating.

``measure=`` selects: full/psnr run it where its estimated cost is under a tenth of the fit (else a note says
what it would cost), ``+x265`` always, ``-x265`` never; ``measure=none`` measures no PSNR and so no line.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from fractions import Fraction

import numpy as np

log = logging.getLogger("inr_codec")

CRFS = (12, 17, 22, 27, 32, 37, 42, 47, 51)  # the ladder searched (x265 takes 0 to 51)
START = 32                                    # the first CRF tried: about the middle of INR files' PSNR
SHARE = 0.1                                   # auto: run where the estimate is under this share of the fit
# Seconds of one x265 slow encode + decode + PSNR per million (padded) pixels, and per encode: measured on the
# 2-core x86_64 machine (bundled sample, 1.77 M pixels: 1.44 s at CRF 32, 1.20 s at 37, 0.83 s at 42), kept
# a little above; three encodes are expected (a bracket is usually found in two or three).
SECONDS_PER_MPIXEL, SECONDS_PER_ENCODE, EXPECTED_ENCODES = 0.85, 0.05, 3
LABEL = "x265 slow"


def mode(measure: str) -> str:
    """'auto', 'on' or 'off' for a ``measure=`` value (config.MEASURES)."""
    if measure == "none" or measure.endswith("-x265"):
        return "off"
    return "on" if measure.endswith("+x265") else "auto"


def estimate_s(frames: int, height: int, width: int) -> float:
    """The expected seconds of the x265 line for frames of this size (x265 gets multiples of 8, at least 64)."""
    ph, pw = (max(-(-n // 8) * 8, 64) for n in (height, width))
    return EXPECTED_ENCODES * (SECONDS_PER_ENCODE + SECONDS_PER_MPIXEL * frames * ph * pw / 1e6)


def psnr_of(decoded: np.ndarray, ref: np.ndarray) -> float:
    """RGB PSNR as ``fit`` reports it: the mean over frames of each frame's PSNR."""
    from .metrics.frames import FrameMeter
    meter = FrameMeter(ref, ("psnr",))
    for s in range(0, len(decoded), 16):
        meter.add(decoded[s:s + 16])
    return meter.means()["psnr"]


def _s(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"


def interpolate(points: list[dict], psnr: float) -> float | None:
    """The bytes at ``psnr`` between the two points that bracket it, log-bytes linear in PSNR; None outside."""
    pts = sorted(points, key=lambda p: p["psnr"])
    for lo, hi in zip(pts, pts[1:]):
        if lo["psnr"] <= psnr <= hi["psnr"]:
            if hi["psnr"] == lo["psnr"]:
                return float(min(lo["bytes"], hi["bytes"]))
            u = (psnr - lo["psnr"]) / (hi["psnr"] - lo["psnr"])
            return math.exp((1 - u) * math.log(lo["bytes"]) + u * math.log(hi["bytes"]))
    return None


def search(frames: np.ndarray, fps, psnr: float, encode=None) -> list[dict]:
    """x265 slow points ({crf, bytes, psnr}) from ``START`` along ``CRFS`` until two bracket ``psnr`` (or the
    ladder ends). ``encode(crf) -> (bytes, psnr)`` replaces the encoder (tests)."""
    if encode is None:
        from .bench.anchors import ENCODERS, encode_decode

        def encode(crf: int) -> tuple[int, float]:
            p = encode_decode(frames, Fraction(fps), ENCODERS["x265"], crf)
            return p.bytes, psnr_of(p.decoded, frames)
    points: list[dict] = []
    i = CRFS.index(START)
    step = 0
    while 0 <= i < len(CRFS):
        nbytes, p = encode(CRFS[i])
        points.append({"crf": CRFS[i], "bytes": int(nbytes), "psnr": round(float(p), 4)})
        if interpolate(points, psnr) is not None:
            break
        want = 1 if p > psnr else -1  # above the file's PSNR: a larger CRF (fewer bytes), else a smaller one
        if step and want != step:
            break  # the PSNR fell on the other side without a bracket (equal points): nothing more to learn
        step = want
        i += step
    return points


def stand(frames: np.ndarray | Callable[[], np.ndarray], fps, dims: tuple[int, int, int], nbytes: int,
          psnr: float | None, *, fit_seconds: float, measure: str, encode=None,
          announce: Callable[[str], None] | None = None) -> dict | None:
    """summary.json's ``x265``: the bytes x265 slow needs for ``psnr`` and this file's ratio to them, the
    points, the seconds; or why it was skipped (``text`` either way, the line ``fit`` prints). ``frames``: the
    uint8 RGB frames the PSNR was measured on, or a function that reads them (NIRVANA streams its input);
    ``dims``: their (frames, height, width); ``announce(text)`` before encoding. None: nothing to say
    (``measure=none`` or ``-x265``)."""
    how = mode(measure)
    if how == "off" or psnr is None:
        return None
    get = frames if callable(frames) else (lambda: frames)
    if how == "auto":
        cost = estimate_s(*dims)
        if cost > SHARE * fit_seconds:
            return {"skipped": True, "estimate_s": round(cost, 1),
                    "text": f"{LABEL} comparison skipped: about {_s(cost)}, more than a tenth of the fit's "
                            f"{_s(fit_seconds)} (measure={measure}+x265 runs it; inrcodec bench compares a curve)"}
    if announce is not None:
        announce(f"comparing with {LABEL}: the same frames at a few CRFs, the bytes it needs for {psnr:.2f} dB")
    t0 = time.perf_counter()
    data = get()
    if data is None:
        return {"skipped": True, "text": f"{LABEL} comparison skipped: the video's frames do not fit in memory at "
                                         "once (inrcodec bench on a part of it: data.max_frames=)"}
    points = search(data, fps, psnr, encode)
    seconds = round(time.perf_counter() - t0, 2)
    need = interpolate(points, psnr)
    out = {"skipped": False, "codec": LABEL, "psnr": round(psnr, 4), "points": points, "seconds": seconds,
           "bytes": None if need is None else int(round(need)),
           "ratio": None if need is None else round(nbytes / need, 4), "in_range": need is not None}
    cost = f"{len(points)} encodes, {_s(seconds)}"
    if need is not None:
        out["text"] = (f"{LABEL} would need {out['bytes']:,} bytes for the same PSNR ({psnr:.2f} dB): this file is "
                       f"{out['ratio']:.2f}x that ({cost})")
        return out
    lo, hi = min(points, key=lambda p: p["psnr"]), max(points, key=lambda p: p["psnr"])
    if psnr < lo["psnr"]:
        out["text"] = (f"{psnr:.2f} dB is below {LABEL}'s lowest point (CRF {lo['crf']}: {lo['bytes']:,} bytes at "
                       f"{lo['psnr']:.2f} dB): x265 would need fewer bytes than that; this file is more than "
                       f"{nbytes / lo['bytes']:.2f}x them ({cost}; not extrapolated)")
    else:
        out["text"] = (f"{psnr:.2f} dB is above {LABEL}'s highest point (CRF {hi['crf']}: {hi['bytes']:,} bytes at "
                       f"{hi['psnr']:.2f} dB): x265 would need more bytes than that; this file is under "
                       f"{nbytes / hi['bytes']:.2f}x them ({cost}; not extrapolated)")
    return out
