"""The speed switches (precision, compile, fused Adam), the centre crop and the B1 fit benchmark."""
import csv

import numpy as np
import pytest
import torch

from inr_codec import api
from inr_codec.bench.fit_speed import crossing, main as bench_fit
from inr_codec.errors import InputError, VideoError
from inr_codec.io import Video, centre_crop, parse_crop
from inr_codec.train import accel
from tests.conftest import TINY


def test_precision_auto_follows_the_hardware(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(accel, "native_bf16", lambda d: True)
    assert accel.resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(accel, "native_bf16", lambda d: False)
    assert accel.resolve_precision("auto", cpu) == "fp32"
    assert accel.resolve_precision("bf16", cpu) == "bf16"  # asked for: honoured (with a warning)
    assert accel.resolve_precision("fp32", cpu) == "fp32"
    with pytest.raises(InputError, match="train.precision=fp16"):
        accel.resolve_precision("fp16", cpu)


def test_bad_speed_switches_are_refused_up_front(tiny_clip, tmp_path):
    for bad, what in (("train.precision=fp8", "train.precision"), ("train.compile=maybe", "train.compile")):
        with pytest.raises(InputError, match=what):
            api.fit(tiny_clip, TINY + [bad], outputs_root=tmp_path, show_progress=False)
    assert not list(tmp_path.rglob("model.bin"))


def test_parse_crop():
    assert parse_crop(None) is None
    assert parse_crop("1280x640") == (1280, 640)
    assert parse_crop("37X21") == (37, 21)
    for bad in ("1280", "axb", "0x10", "12x-3"):
        with pytest.raises(VideoError, match="data.crop"):
            parse_crop(bad)


def test_centre_crop_takes_the_middle():
    frames = np.arange(2 * 6 * 8 * 3, dtype=np.uint8).reshape(2, 6, 8, 3)
    v = centre_crop(Video(frames, 25), 4, 3)
    assert v.frames.shape == (2, 3, 4, 3)
    assert np.array_equal(v.frames, frames[:, 1:4, 2:6])
    with pytest.raises(VideoError, match="must fit inside"):
        centre_crop(Video(frames, 25), 9, 3)


def test_fit_with_a_crop_stores_the_cropped_geometry(tiny_clip, tmp_path):
    s = api.fit(tiny_clip, TINY + ["data.crop=31x17", "train.epochs=4"], outputs_root=tmp_path, show_progress=False)
    assert (s["width"], s["height"], s["frames"]) == (31, 17, 6)
    r = api.evaluate(s["file"], tiny_clip, overrides=["data.crop=31x17"])
    assert r["psnr"] == pytest.approx(s["psnr"], abs=1e-6)


def test_crossing_is_the_first_epoch_at_the_threshold():
    hist = [(1, 1.0, 0.1, 20.0), (2, 2.0, 0.05, 25.0), (3, 3.0, 0.04, 24.0), (4, 4.0, 0.02, 30.0)]
    assert crossing(hist, 25.0) == (2, 2.0)
    assert crossing(hist, 29.0) == (4, 4.0)
    assert crossing(hist, 31.0) is None


def test_bench_fit_prints_curves_and_a_profile(tiny_clip, tmp_path, capsys):
    out = tmp_path / "b1.csv"
    rc = bench_fit([str(tiny_clip), *TINY, "--epochs", "3,5", "--threshold", "5", "--csv", str(out),
                    "--outputs", str(tmp_path / "runs"), "--profile-steps", "2"])
    text = capsys.readouterr().out
    assert rc == 0
    lines = [ln.split() for ln in text.splitlines() if ln.strip()[:1].isdigit()]
    assert [int(ln[0]) for ln in lines[:2]] == [3, 5]
    assert "reached 5 dB" in text and "epoch 1 at" in text  # the tiny clip starts above 5 dB
    rows = list(csv.DictReader(out.open()))
    assert [int(r["epochs_run"]) for r in rows] == [3] * 3 + [5] * 5
    assert all(float(r["train_psnr"]) > 5 for r in rows)
    assert "ms/step" in text and "backward" in text


def test_bench_fit_bad_input_is_one_line(tmp_path, capsys):
    assert bench_fit([str(tmp_path / "missing.mkv"), "--outputs", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert err.strip().startswith("error:") and "missing.mkv" in err and "\n" not in err.strip()
    assert out == ""  # not even the table's header


def test_nirvana_fit_honours_the_crop(tiny_clip, tmp_path):
    nv = ["model=nirvana", "device=cpu", "model.head=mlp", "model.grid_ch=0", "model.gop=3", "model.segment=2", "model.patch=4", "model.hidden=8",
          "model.layers=2", "model.pe_levels=2", "model.key_steps=5", "model.steps=3", "data.crop=29x15"]
    s = api.fit(tiny_clip, nv, outputs_root=tmp_path, show_progress=False)
    assert (s["width"], s["height"], s["frames"]) == (29, 15, 6)
    r = api.evaluate(s["file"], tiny_clip, overrides=["data.crop=29x15"])
    assert r["psnr"] == pytest.approx(s["psnr"], abs=1e-6)
    with pytest.raises(InputError, match="must fit inside"):
        api.fit(tiny_clip, nv[:-1] + ["data.crop=99x15"], outputs_root=tmp_path, show_progress=False)
