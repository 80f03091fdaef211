"""The x265 line after a fit (inr_codec/standing.py): the search, the interpolation, the out-of-range case, the
cost rule, and a real x265 slow run on a tiny clip."""
import json
import math
from fractions import Fraction

import numpy as np
import pytest

from tests.conftest import TINY, moving_gradient
from inr_codec import standing
from inr_codec.cli import main


def fake_encoder(curve):
    """x265 stand-in: CRF -> (bytes, PSNR) from a dict, recording the CRFs asked."""
    asked = []

    def encode(crf):
        asked.append(crf)
        return curve[crf]
    return encode, asked


ANY = np.zeros((6, 23, 37, 3), np.uint8)  # frames for the fake encoder (it does not read them)
# bytes halve and PSNR drops 2 dB every 5 CRF steps, as on the sample
CURVE = {crf: (int(40000 * 2 ** (-(crf - 22) / 5)), 33.0 - 2.0 * (crf - 22) / 5) for crf in standing.CRFS}


def test_interpolation_is_linear_in_log_bytes_between_the_bracketing_points():
    pts = [{"crf": 32, "bytes": 10000, "psnr": 30.0}, {"crf": 37, "bytes": 5000, "psnr": 28.0}]
    assert standing.interpolate(pts, 29.0) == pytest.approx(math.sqrt(10000 * 5000))
    assert standing.interpolate(pts, 30.0) == pytest.approx(10000)
    assert standing.interpolate(pts, 30.5) is None and standing.interpolate(pts, 27.9) is None


def test_the_search_starts_in_the_middle_and_stops_at_the_first_bracket():
    encode, asked = fake_encoder(CURVE)
    pts = standing.search(None, 25, 28.5, encode)  # between CRF 32 (29.0 dB) and 37 (27.0 dB)
    assert asked == [32, 37] and [p["crf"] for p in pts] == [32, 37]
    encode, asked = fake_encoder(CURVE)
    standing.search(None, 25, 31.5, encode)  # above CRF 32: towards smaller CRFs
    assert asked == [32, 27, 22]


def test_the_ratio_is_the_files_bytes_over_x265s_at_the_same_psnr():
    encode, _ = fake_encoder(CURVE)
    r = standing.stand(ANY, 25, (6, 23, 37), 30000, 28.5, fit_seconds=100, measure="full+x265", encode=encode)
    lo, hi = CURVE[37][0], CURVE[32][0]
    assert lo < r["bytes"] < hi and r["in_range"]
    assert r["ratio"] == pytest.approx(30000 / r["bytes"], rel=1e-4) and 30000 / hi < r["ratio"] < 30000 / lo
    assert f"would need {r['bytes']:,} bytes for the same PSNR (28.50 dB): this file is {r['ratio']:.2f}x" in r["text"]


@pytest.mark.parametrize("psnr, word, crf", [(10.0, "below", 51), (40.0, "above", 12)])
def test_outside_x265s_points_it_says_so_instead_of_extrapolating(psnr, word, crf):
    encode, asked = fake_encoder(CURVE)
    r = standing.stand(ANY, 25, (6, 23, 37), 30000, psnr, fit_seconds=100, measure="psnr+x265", encode=encode)
    assert r["bytes"] is None and r["ratio"] is None and not r["in_range"]
    assert f"is {word} x265 slow's" in r["text"] and f"CRF {crf}" in r["text"] and "not extrapolated" in r["text"]
    assert asked[-1] == crf  # it walked to the end of the ladder


def test_auto_runs_only_under_a_tenth_of_the_fit_and_minus_x265_or_none_never():
    encode, asked = fake_encoder(CURVE)
    dims = (48, 144, 256)
    cost = standing.estimate_s(*dims)
    skipped = standing.stand(ANY, 25, dims, 30000, 28.5, fit_seconds=5 * cost, measure="full", encode=encode)
    assert skipped["skipped"] and asked == [] and "measure=full+x265 runs it" in skipped["text"]
    ran = standing.stand(ANY, 25, dims, 30000, 28.5, fit_seconds=20 * cost, measure="psnr", encode=encode)
    assert not ran["skipped"] and asked
    for measure in ("full-x265", "psnr-x265", "none"):
        assert standing.stand(ANY, 25, dims, 30000, 28.5, fit_seconds=1e9, measure=measure, encode=encode) is None
    assert standing.stand(ANY, 25, dims, 30000, None, fit_seconds=1e9, measure="full", encode=encode) is None


def test_real_x265_on_a_tiny_clip_brackets_and_bounds_the_ratio():
    frames = moving_gradient()
    pts = {p["crf"]: p for p in standing.search(frames, Fraction(25), 0.0)}  # walks the ladder to CRF 51
    assert list(pts) == [c for c in standing.CRFS if c >= 32]
    mid = (pts[37]["psnr"] + pts[42]["psnr"]) / 2
    r = standing.stand(frames, Fraction(25), frames.shape[:3], 2000, mid, fit_seconds=1, measure="psnr+x265")
    assert r["in_range"] and r["seconds"] > 0
    assert min(pts[37]["bytes"], pts[42]["bytes"]) <= r["bytes"] <= max(pts[37]["bytes"], pts[42]["bytes"])
    assert r["ratio"] == pytest.approx(2000 / r["bytes"], rel=1e-3)


NV = ["model=nirvana", "device=cpu", "model.head=mlp", "model.grid_ch=0", "model.batch=0", "model.gop=3",
      "model.segment=1", "model.patch=4", "model.hidden=8", "model.layers=1", "model.pe_levels=2", "model.key_steps=5"]


@pytest.mark.parametrize("fit", [[*TINY, "train.epochs=2"], NV], ids=["one network", "nirvana: read again"])
def test_a_fit_prints_the_line_and_keeps_it_in_its_summary(fit, tiny_clip, tmp_path, capsys):
    assert main(["fit", str(tiny_clip), *fit, "measure=psnr+x265", "-q", "--outputs", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    summary = json.loads(next((tmp_path / "o").rglob("summary.json")).read_text())
    x265 = summary["x265"]
    assert x265["text"] in out and x265["points"] and x265["seconds"] > 0
    assert x265["psnr"] == pytest.approx(summary["psnr"], abs=1e-4)  # the file's PSNR, the same frames
