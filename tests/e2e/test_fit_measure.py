"""measure=full|psnr|none: what `fit` measures on the written file (long videos skip MS-SSIM or everything)."""
import json
from pathlib import Path

import pytest

from inr_codec import api, container
from inr_codec.cli import main
from inr_codec.decode.reference import decode_frames
from inr_codec.errors import InputError
from inr_codec.io import read_video
from inr_codec.metrics import video_psnr
from tests.conftest import TINY

NV = ["model=nirvana", "device=cpu", "model.head=mlp", "model.grid_ch=0", "model.batch=0", "model.gop=3",
      "model.segment=1", "model.patch=4", "model.hidden=8", "model.layers=1", "model.pe_levels=2",
      "model.key_steps=5"]


def test_measure_psnr_reports_the_files_psnr_without_msssim(tiny_clip, tmp_path):
    s = api.fit(tiny_clip, TINY + ["train.epochs=3", "measure=psnr"], out=tmp_path / "m.bin",
                outputs_root=tmp_path / "o", show_progress=False)
    decoded = decode_frames(container.read(tmp_path / "m.bin"))
    assert s["psnr"] == pytest.approx(video_psnr(decoded, read_video(str(tiny_clip)).frames), abs=1e-9)
    assert s["msssim"] is None and s["psnr_before_compression"] is not None


def test_measure_none_writes_the_file_and_says_how_to_measure_it(tiny_clip, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the run directory goes under ./outputs
    out = tmp_path / "m.bin"
    assert main(["fit", str(tiny_clip), *TINY, "train.epochs=3", "measure=none", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "quality not measured (measure=none)" in printed and f"inrcodec eval {out} --ref VIDEO" in printed
    assert out.is_file() and "PSNR" not in printed


def test_measure_none_summary(tiny_clip, tmp_path):
    s = api.fit(tiny_clip, TINY + ["train.epochs=3", "measure=none"], out=tmp_path / "m.bin",
                outputs_root=tmp_path / "o", show_progress=False)
    assert (s["psnr"], s["msssim"], s["psnr_before_compression"]) == (None, None, None)
    saved = json.loads((Path(s["run_dir"]) / "summary.json").read_text())
    assert saved["psnr"] is None and saved["bytes"] == (tmp_path / "m.bin").stat().st_size


@pytest.mark.parametrize("measure,has", [("psnr", ("psnr",)), ("none", ())])
def test_measure_applies_to_nirvana(tiny_clip, tmp_path, measure, has):
    s = api.fit(tiny_clip, NV + [f"measure={measure}"], out=tmp_path / "m.bin", outputs_root=tmp_path / "o",
                show_progress=False)
    assert [k for k in ("psnr", "msssim") if s[k] is not None] == list(has)
    if has:
        decoded = decode_frames(container.read(tmp_path / "m.bin"))
        assert s["psnr"] == pytest.approx(video_psnr(decoded, read_video(str(tiny_clip)).frames), abs=1e-6)


def test_unknown_measure_is_one_line(tiny_clip, tmp_path):
    with pytest.raises(InputError, match=r"measure=ssim is not supported; use full, psnr, none"):
        api.fit(tiny_clip, TINY + ["measure=ssim"], outputs_root=tmp_path / "o", show_progress=False)
