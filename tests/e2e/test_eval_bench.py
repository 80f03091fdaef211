"""``eval`` with per-frame CSV and plots, and ``bench`` on a tiny clip: CSV, BD table and PNG."""
import csv
import json
from fractions import Fraction

import numpy as np
import pytest

from inr_codec import api
from inr_codec.cli import main
from inr_codec.io import Video, write_video
from tests.conftest import TINY, moving_gradient

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """8 frames of 64x48, stored losslessly."""
    path = tmp_path_factory.mktemp("bench") / "clip.mkv"
    write_video(Video(moving_gradient(8, 48, 64), Fraction(25)), str(path), pix_fmt="rgb")
    return path


def test_eval_writes_json_csv_and_plots(clip, tmp_path, capsys):
    s = api.fit(clip, [*TINY, "train.epochs=3"], outputs_root=tmp_path / "o", show_progress=False)
    js, per_frame, plots = tmp_path / "e.json", tmp_path / "frames.csv", tmp_path / "plots"
    assert main(["eval", s["file"], "--ref", str(clip), "--device", "cpu", "--json", str(js), "--csv",
                 str(per_frame), "--plots", str(plots)]) == 0
    out = capsys.readouterr().out
    assert "YUV 6:1:1" in out and "MS-SSIM" in out
    r = json.loads(js.read_text())
    assert r["psnr"] == pytest.approx(s["psnr"], abs=1e-9)  # the definition fit prints
    for k in ("psnr_y", "psnr_u", "psnr_v", "psnr_yuv", "msssim", "bpp", "bytes"):
        assert k in r
    rows = list(csv.DictReader(per_frame.open()))
    assert len(rows) == 8 and float(rows[0]["psnr"]) > 0
    psnrs = [float(x["psnr"]) for x in rows]
    assert r["worst_frame"]["index"] == int(np.argmin(psnrs))
    assert np.mean(psnrs) == pytest.approx(r["psnr"], abs=1e-5)
    for name in ("psnr_per_frame.png", "worst_frame.png"):
        assert (plots / name).read_bytes()[:8] == PNG_MAGIC


def _fake_summary(path, bpp, psnr):
    path.parent.mkdir(parents=True, exist_ok=True)
    nbytes = int(bpp * 64 * 48 * 8 / 8)
    path.write_text(json.dumps({"bytes": nbytes, "bpp": bpp, "psnr": psnr, "frames": 8, "width": 64, "height": 48,
                                "model": "hnerv", "bits": 8, "file": str(path.parent / "missing.bin")}))


def test_bench_writes_csv_bd_table_and_plot(clip, tmp_path, capsys):
    runs = tmp_path / "sweep"
    _fake_summary(runs / "a" / "summary.json", 0.5, 30.0)
    _fake_summary(runs / "b" / "summary.json", 1.0, 33.0)
    out = tmp_path / "bench"
    code = main(["bench", str(clip), "--codecs", "x264,x265,av1", "--crfs", "x264=24,36", "--crfs", "x265=24,36",
                 "--crfs", "av1=30,50", "--inr", f"INR={runs}", "-o", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "BD-rate" in printed and "INR" in printed
    rows = list(csv.DictReader((out / "rd.csv").open()))
    assert [r["kind"] for r in rows].count("anchor") == 6 and [r["kind"] for r in rows].count("inr") == 2
    for r in rows:
        assert float(r["bpp"]) > 0 and 10 < float(r["psnr"]) < 100
        if r["kind"] == "anchor":
            assert "crf" in json.loads(r["settings"]) and r["psnr_yuv"] and r["msssim"]
    x264 = [r for r in rows if r["codec"] == "libx264"]
    assert float(x264[0]["bpp"]) > float(x264[1]["bpp"]) and float(x264[0]["psnr"]) > float(x264[1]["psnr"])
    bd = list(csv.DictReader((out / "bd.csv").open()))
    assert len(bd) == 4 * 3 - 3  # every curve against every other anchor
    assert (out / "rd_psnr.png").read_bytes()[:8] == PNG_MAGIC
    settings = json.loads((out / "bench.json").read_text())["encoders"]
    assert settings["x264"]["options"]["preset"] == "veryslow" and settings["x265"]["options"]["preset"] == "slow"
    assert settings["av1"]["options"]["preset"] == "6" and settings["x264"]["pix_fmt"] == "yuv420p"
    # What the encoders say they did: veryslow's motion search and frame (not slice) threads; slow's rd=4.
    x264_said = settings["x264"]["reported_by_encoder"]["24"]
    assert "subme=10" in x264_said and "sliced_threads=0" in x264_said and "crf=24.0" in x264_said
    assert " rd=4 " in settings["x265"]["reported_by_encoder"]["36"]


def test_bench_compares_each_inr_curve_with_the_ones_before_it(clip, tmp_path):
    base, new = tmp_path / "base", tmp_path / "new"
    for i, (bpp, psnr) in enumerate(((0.5, 30.0), (1.0, 33.0), (2.0, 35.0))):
        _fake_summary(base / str(i) / "summary.json", bpp, psnr)
        _fake_summary(new / str(i) / "summary.json", bpp / 2, psnr)  # the same quality at half the bits
    out = tmp_path / "bench"
    assert main(["bench", str(clip), "--codecs", "x264", "--crfs", "x264=24,36", "--inr", f"BASE={base}",
                 "--inr", f"NEW={new}", "-o", str(out)]) == 0
    bd = {(r["test"], r["anchor"]): r for r in csv.DictReader((out / "bd.csv").open())}
    assert float(bd[("NEW", "BASE")]["bd_rate_pct"]) == pytest.approx(-50.0, abs=0.01)
    assert ("BASE", "NEW") not in bd and ("NEW", "x264 veryslow") in bd


def test_bench_rejects_bad_arguments(clip, tmp_path, capsys):
    assert main(["bench", str(clip), "--codecs", "vp7", "-o", str(tmp_path)]) == 2
    assert "unknown codec" in capsys.readouterr().err
    assert main(["bench", str(clip), "--codecs", "x264", "--crfs", "x264=80", "-o", str(tmp_path)]) == 2
    assert "CRF" in capsys.readouterr().err
    bad = tmp_path / "s" / "summary.json"
    bad.parent.mkdir()
    bad.write_text(json.dumps({"bytes": 1, "bpp": 0.1, "psnr": 30, "frames": 9, "width": 64, "height": 48}))
    assert main(["bench", str(clip), "--codecs", "x264", "--inr", str(bad), "-o", str(tmp_path)]) == 2
    assert "fitted on" in capsys.readouterr().err


def test_anchors_keep_odd_sizes_and_count_the_source_pixels():
    from inr_codec.bench.anchors import ENCODERS, encode_decode
    frames = moving_gradient(3, 23, 37)
    for key in ("x264", "x265", "av1"):
        p = encode_decode(frames, Fraction(25), ENCODERS[key], 30)
        assert p.decoded.shape == frames.shape
        assert p.bpp == pytest.approx(8 * p.bytes / (37 * 23 * 3))
        assert np.abs(p.decoded.astype(int) - frames).mean() < 20  # it is the same picture
