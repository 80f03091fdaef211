"""model=latent model.gop=N end to end: closed groups fitted one by one into one file (format 1.7) that decodes to
the PSNR the fit reports, whose ranges (across a group boundary too) decode as the whole file does, that two
torchrun ranks write byte for byte as one process does, and that an interrupted fit resumes to; bad values and
the settings that cannot act on closed groups are one line."""
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch.distributed as dist

from inr_codec import api, container
from inr_codec.cli import main
from inr_codec.container import format as fmt
from inr_codec.decode import reference
from inr_codec.errors import FitInterrupted
from inr_codec.io import Video, read_video, write_video
from inr_codec.train.latent_groups import LatentGroupFitter
from tests.conftest import moving_gradient

ROOT = Path(__file__).resolve().parents[2]
# 7 frames in groups of 3: two full groups and a last one of 1 frame; motion on (8-pixel blocks), threads=1 so
# that one process and two torchrun ranks compute alike.
GOP = ["model=latent", "model.gop=3", "model.levels=3", "model.hidden=8", "model.t_strides=[2,2,4]",
       "model.motion_block=8", "model.motion_t_stride=2", "train.epochs=12", "compress.qat_epochs=2",
       "compress.lmbda=0.001", "train.lr=2e-2", "device=cpu", "measure=psnr-x265", "threads=1"]


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    root = tmp_path_factory.mktemp("gop")
    clip = root / "tiny.mkv"
    write_video(Video(moving_gradient(7), Fraction(30000, 1001)), str(clip), pix_fmt="rgb")
    s = api.fit(clip, GOP, out=root / "m.bin", outputs_root=root / "o", show_progress=False)
    return clip, root / "m.bin", s


def test_a_gop_fit_decodes_to_the_psnr_it_reports_and_any_range_as_the_whole(straight, tmp_path):
    clip, out, s = straight
    cm = container.read(out)
    assert out.read_bytes()[5] == fmt.MINOR_LATENT_GROUPS and cm.model["gop"] == 3 and not cm.tensors
    assert [(g.start, g.frames, g.key) for g in cm.groups] == [(0, 3, True), (3, 3, True), (6, 1, True)]
    assert s["groups"] == 3 and s["bytes"] == out.stat().st_size and s["psnr"] > 15
    assert api.evaluate(out, clip, metrics=["psnr"])["psnr"] == pytest.approx(s["psnr"], abs=1e-6)
    whole = reference.decode_frames(cm)
    for lo, hi in ((3, 5), (2, 4), (5, 7), (6, 7)):  # at, across and after the group boundaries
        assert np.array_equal(reference.decode_frames(cm, frames=(lo, hi)), whole[lo:hi])
    part = tmp_path / "part"  # PNGs: lossless RGB; the command line, the fused CPU decoder (auto on the CPU)
    assert main(["decode", str(out), "-o", str(part), "--frames", "2:5", "--backend", "auto"]) == 0
    diff = np.abs(read_video(str(part)).frames.astype(int) - whole[2:5].astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() <= 1e-3
    r = api.info(out)
    assert r["format"] == "1.7" and len(r["groups"]) == 3 and r["macs_per_pixel"] > 0


def _interrupt_at(monkeypatch, group_index):
    real = LatentGroupFitter.fit
    fitted = []

    def fit(self, span, frames, groups):
        if span.index == group_index:
            raise KeyboardInterrupt
        fitted.append(span.index)
        return real(self, span, frames, groups)

    monkeypatch.setattr(LatentGroupFitter, "fit", fit)
    return fitted


def test_an_interrupted_gop_fit_resumes_to_the_same_bytes(straight, tmp_path, monkeypatch):
    clip, out, s0 = straight
    fitted = _interrupt_at(monkeypatch, 2)
    with pytest.raises(FitInterrupted, match=r"after 2 coded group\(s\) of 3.*--resume"):
        api.fit(clip, GOP, out=tmp_path / "m.bin", outputs_root=tmp_path / "o", show_progress=False)
    assert fitted == [0, 1] and not (tmp_path / "m.bin").exists()
    (run_dir,) = (tmp_path / "o").glob("*/*")
    monkeypatch.undo()
    again = _interrupt_at(monkeypatch, -1)  # records what the resumed run fits
    s = api.fit(resume=run_dir, show_progress=False)
    assert again == [2]  # the kept groups are not fitted again
    assert (tmp_path / "m.bin").read_bytes() == out.read_bytes() and s["psnr"] == s0["psnr"]


def test_the_cli_says_the_resume_command_in_one_line(straight, tmp_path, monkeypatch, capsys):
    clip = straight[0]
    monkeypatch.chdir(tmp_path)
    _interrupt_at(monkeypatch, 1)
    assert main(["fit", str(clip), *GOP, "-q"]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "after 1 coded group(s) of 3" in err and "inrcodec fit --resume outputs/tiny/" in err


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                    reason="torch.distributed with gloo is not available")
def test_two_torchrun_ranks_write_the_bytes_of_one_process(straight, tmp_path):
    clip, out, _ = straight
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("WORLD_SIZE", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "inr_codec",
           "fit", str(clip), *GOP, "-q", "--outputs", str(tmp_path / "o"), "-o", str(tmp_path / "ddp.bin")]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "ddp.bin").read_bytes() == out.read_bytes()
    (log,) = (tmp_path / "o").rglob("fit.log")
    assert "closed groups of 3 frames, 2 processes" in log.read_text()


@pytest.mark.parametrize("overrides, says", [
    (["model.gop=0"], "model.gop=0 is invalid"), (["model.gop=abc"], "model.gop=abc is invalid"),
    (["model.gop=1.5"], "model.gop=1.5 is invalid"),
    (["model.gop=3", "compress.target_kb=2"], "do not apply to model.gop"),
    (["model.gop=3", "train.candidates=2"], "train.candidates does not apply to model.gop")])
def test_settings_that_cannot_act_are_one_line(straight, tmp_path, capsys, overrides, says):
    clip = straight[0]
    assert main(["fit", str(clip), "device=cpu", *overrides, "-q", "--outputs", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err, err
