"""End to end: fit a tiny clip, write model.bin, read it, decode it, check what the user gets."""
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from inr_codec import api, container
from inr_codec.cli import main
from inr_codec.io import read_video
from inr_codec.metrics import video_psnr
from tests.conftest import TINY


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """One HNeRV fit shared by the tests of this module."""
    from tests.conftest import moving_gradient
    from inr_codec.io import Video, write_video
    root = tmp_path_factory.mktemp("fit")
    clip = root / "tiny.mkv"
    write_video(Video(moving_gradient(), Fraction(30000, 1001)), str(clip), pix_fmt="rgb")
    summary = api.fit(clip, TINY, outputs_root=root / "outputs", show_progress=False)
    return clip, summary


def test_summary_reports_the_written_file(fitted):
    clip, s = fitted
    f = Path(s["file"])
    assert f.name == "model.bin" and f.parent == Path(s["run_dir"])
    assert s["bytes"] == f.stat().st_size
    assert s["bpp"] == pytest.approx(8 * s["bytes"] / (37 * 23 * 6))
    assert (s["frames"], s["width"], s["height"], s["fps"]) == (6, 37, 23, "30000/1001")
    saved = json.loads((Path(s["run_dir"]) / "summary.json").read_text())
    for key in ("bytes", "bpp", "psnr", "frames", "width", "height", "fps", "params", "fit_seconds", "device", "model"):
        assert saved[key] == s[key]
    assert (Path(s["run_dir"]) / "config.yaml").is_file()
    assert (Path(s["run_dir"]) / "fit.log").read_text().count("epoch") >= 4
    assert (Path(s["run_dir"]) / "checkpoints" / "fit.pt").is_file()


def test_psnr_from_the_file_matches_the_summary(fitted):
    clip, s = fitted
    cm = container.read(s["file"])
    from inr_codec.decode.reference import decode_frames
    frames = decode_frames(cm)
    source = read_video(str(clip)).frames
    assert frames.shape == source.shape
    assert video_psnr(frames, source) == pytest.approx(s["psnr"], abs=1e-9)
    # The fit learned something: better than a flat grey frame.
    grey = np.full_like(source, 128)
    assert s["psnr"] > video_psnr(grey, source) + 1.0
    # Quantization costs a little quality but not much at 8 bits.
    assert abs(s["psnr_before_compression"] - s["psnr"]) < 1.5


@pytest.mark.parametrize("ext", [".mp4", ".mkv", ".y4m", ".yuv", ""])
def test_decode_restores_size_frames_and_rate(fitted, tmp_path, ext):
    clip, s = fitted
    out = tmp_path / f"out{ext}" if ext else tmp_path / "pngs"
    assert main(["decode", s["file"], "-o", str(out), "--device", "cpu"]) == 0
    kw = {"width": 37, "height": 23} if ext == ".yuv" else {}
    v = read_video(str(out), **kw)
    assert (v.num_frames, v.width, v.height) == (6, 37, 23)
    if ext in (".mp4", ".mkv", ".y4m"):
        assert v.fps == Fraction(30000, 1001)


def test_decode_a_frame_range(fitted, tmp_path):
    clip, s = fitted
    out = tmp_path / "part.y4m"
    assert main(["decode", s["file"], "-o", str(out), "--frames", "2:5", "--device", "cpu"]) == 0
    assert read_video(str(out)).num_frames == 3


def test_decoding_is_deterministic(fitted):
    from inr_codec.decode.reference import decode_frames
    cm = container.read(fitted[1]["file"])
    assert np.array_equal(decode_frames(cm), decode_frames(cm))


def test_eval_and_info_agree_with_the_fit(fitted, capsys):
    clip, s = fitted
    r = api.evaluate(s["file"], clip, device="cpu")
    assert r["psnr"] == pytest.approx(s["psnr"], abs=1e-9)
    assert 0 < r["msssim"] <= 1
    i = api.info(s["file"])
    assert i["bytes"] == s["bytes"] and i["params"] == s["params"]
    assert sum(sec["bytes"] for sec in i["sections"]) <= s["bytes"]
    assert main(["info", s["file"]]) == 0
    assert "sections" in capsys.readouterr().out


def test_nerv_fits_too(tiny_clip, tmp_path):
    out = tmp_path / "nerv.bin"
    s = api.fit(tiny_clip, TINY + ["model=nerv", "compress.bits=6"], out=out, outputs_root=tmp_path / "o",
                show_progress=False)
    assert s["model"] == "nerv" and out.stat().st_size == s["bytes"]
    assert container.read(out).model["name"] == "nerv"


def test_fit_from_png_folder_and_sweep(tmp_path, capsys):
    from tests.conftest import moving_gradient
    from inr_codec.io import Video, write_video
    pngs = tmp_path / "frames"
    write_video(Video(moving_gradient(frames=4), Fraction(25)), str(pngs))
    code = main(["fit", str(pngs), "-m", "-q", "--outputs", str(tmp_path / "runs"), *TINY, "compress.bits=6,8"])
    assert code == 0
    bins = sorted((tmp_path / "runs" / "frames").glob("*/model.bin"))
    assert len(bins) == 2
    bits = sorted(json.loads((b.parent / "summary.json").read_text())["bits"] for b in bins)
    assert bits == [6, 8]
    sizes = {json.loads((b.parent / "summary.json").read_text())["bits"]: b.stat().st_size for b in bins}
    assert sizes[6] < sizes[8]
    import csv
    (sweep,) = (tmp_path / "runs" / "sweeps").iterdir()
    rows = list(csv.DictReader(open(sweep / "sweep.csv")))
    assert [r["overrides"].split()[-1] for r in rows] == ["compress.bits=6", "compress.bits=8"]
    assert sorted(int(r["bytes"]) for r in rows) == sorted(sizes.values())
    assert all(0 < float(r["msssim"]) <= 1 for r in rows)
    assert (sweep / "rd_psnr.png").stat().st_size > 1000


def test_full_pipeline_and_a_rate_target(tiny_clip, tmp_path):
    nosize = [t for t in TINY if not t.startswith("model.size_m")]
    s = api.fit(tiny_clip, nosize + ["compress=full", "compress.prune_epochs=3", "compress.qat_epochs=3",
                                     "compress.lmbda=0.001", "compress.target_kb=9"],
                outputs_root=tmp_path / "o", show_progress=False)
    assert abs(s["bytes"] - 9000) <= 0.05 * 9000
    assert s["prune"] >= 0.3 and s["bits"] == 6
    run = Path(s["run_dir"]) / "checkpoints"
    assert (run / "prune.pt").is_file() and (run / "qat.pt").is_file()
    assert video_psnr(__import__("inr_codec.decode.reference", fromlist=["x"]).decode_frames(
        container.read(s["file"])), read_video(str(tiny_clip)).frames) == pytest.approx(s["psnr"], abs=1e-9)


def test_time_budget_covers_the_fine_tuning_phases(tiny_clip, tmp_path):
    budget = 6.0
    s = api.fit(tiny_clip, TINY + ["train.epochs=100000", f"train.budget_s={budget}", "compress=full",
                                   "compress.prune_epochs=50000", "compress.qat_epochs=50000"],
                outputs_root=tmp_path / "o", show_progress=False)
    # Fit, pruned fine-tuning and QAT share the budget (by their epochs) and each decays within its share.
    assert s["fit_seconds"] <= budget + 2.0
    assert s["finetune_seconds"] >= 0.3 * budget
    assert Path(s["file"]).stat().st_size == s["bytes"]


def test_l1_msssim_loss_fits(tiny_clip, tmp_path):
    s = api.fit(tiny_clip, TINY + ["train.loss=l1+msssim", "train.epochs=10"], outputs_root=tmp_path / "o",
                show_progress=False)
    grey = np.full_like(read_video(str(tiny_clip)).frames, 128)
    assert s["psnr"] > video_psnr(grey, read_video(str(tiny_clip)).frames)
    assert 0 < s["msssim"] <= 1


def test_fast_path_matches_the_plain_path(tiny_clip, tmp_path):
    # The speed switches (bf16 autocast, channels-last) change the arithmetic, not the result.
    plain = api.fit(tiny_clip, TINY + ["train.precision=fp32"], outputs_root=tmp_path / "a", show_progress=False)
    fast = api.fit(tiny_clip, TINY + ["train.precision=bf16", "train.channels_last=true"],
                   outputs_root=tmp_path / "b", show_progress=False)
    assert plain["psnr"] > 20
    assert abs(fast["psnr"] - plain["psnr"]) < 0.3
    assert abs(fast["bytes"] - plain["bytes"]) <= 0.05 * plain["bytes"]


def test_compiled_fit_matches_the_eager_fit(tiny_clip, tmp_path):
    # torch.compile (C++ kernels from inductor on the CPU) on the smallest model: compiling is the slow part.
    small = TINY + ["model.blocks=1", "model.encoder_width=8", "train.epochs=6", "train.precision=fp32"]
    eager = api.fit(tiny_clip, small, outputs_root=tmp_path / "a", show_progress=False)
    compiled = api.fit(tiny_clip, small + ["train.compile=true"], outputs_root=tmp_path / "b", show_progress=False)
    assert abs(compiled["psnr"] - eager["psnr"]) < 0.05
    assert "compiled" in next((tmp_path / "b").rglob("fit.log")).read_text()


def test_compile_without_a_compiler_is_a_one_line_error(tiny_clip, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CXX", "no-such-compiler-inrcodec")
    assert main(["fit", str(tiny_clip), *TINY, "train.compile=true", "--outputs", str(tmp_path), "-q"]) != 0
    err = capsys.readouterr().err.strip()
    assert "train.compile=true" in err and "no-such-compiler-inrcodec" in err and "\n" not in err
    assert not list(tmp_path.rglob("model.bin"))
