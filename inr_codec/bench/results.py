"""docs/results.md's figures from its recorded points (docs/results/points.csv): per clip, every curve's
BD-rate against each anchor (``metrics.bdrate``, as ``inrcodec bench`` computes it) and the RD plot.

The points are the measured bytes and RGB PSNR that docs/experiments.md records (each row names its section
and date); the clips' pixel counts turn bytes into bpp. ``python scripts/results_figures.py`` prints the BD
table and redraws docs/img/results_<clip>_psnr.png.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

from inr_codec.metrics.bdrate import bd_rate, rate_at_psnr

# width x height x frames of each clip: the bundled sample, and its source's 132 frames at the same size
PIXELS = {"sample": 256 * 144 * 48, "clip": 256 * 144 * 132}
TITLES = {"sample": "bundled sample: 256x144, 48 frames",
          "clip": "132-frame clip (scripts/make_sample_clip.py --frames 132): 256x144"}


def load(path) -> dict[str, list[dict]]:
    """{clip: [{label, kind, bpp, psnr, bytes, setting}]} of the curves in the points file, in its order."""
    curves: dict[str, dict[str, dict]] = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            clip = r["clip"]
            c = curves.setdefault(clip, {}).setdefault(r["curve"], {"label": r["curve"], "kind": r["kind"],
                                                                    "bpp": [], "psnr": [], "bytes": [],
                                                                    "setting": []})
            c["bytes"].append(int(r["bytes"]))
            c["bpp"].append(8.0 * int(r["bytes"]) / PIXELS[clip])
            c["psnr"].append(float(r["psnr"]))
            c["setting"].append(r["setting"])
    return {clip: list(cs.values()) for clip, cs in curves.items()}


def bd_rows(curves: list[dict]) -> list[dict]:
    """Every INR curve against every anchor: BD-rate (%) where both have two points or more, else the single
    point's bytes against the anchor's at its PSNR (``rate_at_psnr``; None outside the anchor's points)."""
    rows = []
    for c in (c for c in curves if c["kind"] == "inr"):
        for a in (a for a in curves if a["kind"] == "anchor"):
            if len(c["bpp"]) >= 2:
                r = bd_rate(a["bpp"], a["psnr"], c["bpp"], c["psnr"])
                rows.append({"test": c["label"], "anchor": a["label"], "bd_rate_pct": None if math.isnan(r) else r,
                             "ratio": None})
            else:
                need = rate_at_psnr(a["bpp"], a["psnr"], c["psnr"][0])
                rows.append({"test": c["label"], "anchor": a["label"], "bd_rate_pct": None,
                             "ratio": None if math.isnan(need) else c["bpp"][0] / need})
    return rows


def figures(points, img_dir, *, plots: bool = True) -> dict[str, list[dict]]:
    """The BD rows of every clip; with ``plots``, docs/img/results_<clip>_psnr.png drawn from the points."""
    out = {}
    for clip, curves in load(points).items():
        out[clip] = bd_rows(curves)
        if plots:
            from .plots import rd_plot
            rd_plot(Path(img_dir) / f"results_{clip}_psnr.png", curves, "psnr", TITLES.get(clip, clip))
    return out
