"""docs/results.md's figures come from its recorded points: the BD-rates scripts/results_figures.py computes
from docs/results/points.csv agree with those docs/experiments.md recorded from the fits' own files, and the
plots are drawn."""
from pathlib import Path

import pytest

from inr_codec.bench.results import bd_rows, figures, load

POINTS = Path(__file__).parents[2] / "docs" / "results" / "points.csv"

# (clip, curve, anchor) -> BD-rate recorded in docs/experiments.md
LATENT, X265, AV1 = "latent, 100 epochs at 1e-2", "x265 slow", "SVT-AV1 preset 6"
STILL50, MOTION = "latent without motion, 50 epochs at 3e-2", "latent with motion (default)"
LONG_SAMPLE, LONG_CLIP = "latent with motion, 160 epochs at 2e-2", "latent with motion, 200 epochs at 2e-2"
LONG320 = "latent with motion, 320 epochs at 2e-2"
RECORDED = {("sample", LATENT, X265): 80.7, ("sample", LATENT, AV1): 222.6, ("sample", "HNeRV rd", X265): 144.3,
            ("sample", "HNeRV full", X265): 299.8, ("clip", LATENT, X265): 45.3, ("clip", LATENT, AV1): 168.3,
            ("clip", "HNeRV rd", X265): 68.3, ("clip", "HNeRV full", X265): 124.0,
            ("sample", STILL50, X265): 73.9, ("sample", STILL50, AV1): 222.1, ("clip", STILL50, X265): 40.0,
            ("sample", MOTION, X265): 32.2, ("sample", MOTION, AV1): 110.0, ("clip", MOTION, X265): 14.4,
            ("clip", MOTION, AV1): 105.7, ("sample", LONG_SAMPLE, X265): 5.4, ("sample", LONG_SAMPLE, AV1): 65.9,
            ("clip", LONG_CLIP, X265): -0.5, ("clip", LONG_CLIP, AV1): 77.7,
            ("sample", LONG320, X265): -0.6, ("sample", LONG320, AV1): 56.3, ("clip", LONG320, X265): -4.1,
            ("clip", LONG320, AV1): 71.2}


def test_the_recomputed_bd_rates_match_the_recorded_ones():
    found = {(clip, r["test"], r["anchor"]): r["bd_rate_pct"] for clip, curves in load(POINTS).items()
             for r in bd_rows(curves)}
    for key, recorded in RECORDED.items():
        assert found[key] == pytest.approx(recorded, abs=0.5), key


def test_a_single_point_is_compared_at_equal_psnr_not_by_bd():
    rows = bd_rows([{"label": "a", "kind": "anchor", "bpp": [0.1, 0.2], "psnr": [28.0, 30.0]},
                    {"label": "one", "kind": "inr", "bpp": [0.3], "psnr": [29.0]},
                    {"label": "far", "kind": "inr", "bpp": [0.3], "psnr": [35.0]}])
    assert rows[0]["bd_rate_pct"] is None and 0.3 / 0.2 < rows[0]["ratio"] < 0.3 / 0.1
    assert rows[1]["ratio"] is None  # outside the anchor's PSNR: not extrapolated


def test_the_plots_are_drawn(tmp_path):
    figures(POINTS, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results_clip_psnr.png", "results_sample_psnr.png"]
