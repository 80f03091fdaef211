"""model=nirvana resumes group by group: an interrupted fit keeps every coded group, and the resumed
fit writes the same bytes as one never stopped."""
from pathlib import Path

import pytest

from inr_codec import api
from inr_codec.cli import main
from inr_codec.errors import FitInterrupted, InputError
from inr_codec.train.groups import GroupFitter

# 6 frames, one per group, 3 groups per segment: keys 0 and 3, the others residuals; a few steps each.
NV = ["model=nirvana", "device=cpu", "model.head=mlp", "model.grid_ch=0", "model.batch=0", "model.gop=1",
      "model.segment=3", "model.patch=4", "model.hidden=16", "model.layers=2", "model.pe_levels=4",
      "model.key_steps=40", "model.steps=20", "measure=psnr"]


def _interrupt_at(monkeypatch, group_index):
    real = GroupFitter.fit_group
    fitted = []

    def fit_group(self, net, target, prev, bits, key_scales, steps, index=0):
        if index == group_index:
            raise KeyboardInterrupt
        fitted.append(index)
        return real(self, net, target, prev, bits, key_scales, steps, index)

    monkeypatch.setattr(GroupFitter, "fit_group", fit_group)
    return fitted


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    from tests.conftest import moving_gradient
    from fractions import Fraction
    from inr_codec.io import Video, write_video
    root = tmp_path_factory.mktemp("straight")
    clip = root / "tiny.mkv"
    write_video(Video(moving_gradient(), Fraction(30000, 1001)), str(clip), pix_fmt="rgb")
    s = api.fit(clip, NV, out=root / "m.bin", outputs_root=root / "o", show_progress=False)
    return clip, (root / "m.bin").read_bytes(), s


@pytest.mark.parametrize("stop_at", [2, 3])  # a residual next (on a restored residual), a segment's key next
def test_resumed_fit_writes_the_same_bytes(straight, tmp_path, monkeypatch, stop_at):
    clip, want, s0 = straight
    fitted = _interrupt_at(monkeypatch, stop_at)
    with pytest.raises(FitInterrupted, match=rf"after {stop_at} coded group\(s\) of 6.*--resume"):
        api.fit(clip, NV, out=tmp_path / "m.bin", outputs_root=tmp_path / "o", show_progress=False)
    assert fitted == list(range(stop_at)) and not (tmp_path / "m.bin").exists()
    (run_dir,) = (tmp_path / "o").glob("*/*")
    monkeypatch.undo()
    again = _interrupt_at(monkeypatch, -1)  # records what the resumed run fits
    s = api.fit(resume=run_dir, show_progress=False)
    assert again == list(range(stop_at, 6))  # the saved groups are not fitted again
    assert (tmp_path / "m.bin").read_bytes() == want
    assert s["psnr"] == s0["psnr"] and [g["bits"] for g in s["group_stats"]] == [g["bits"] for g in s0["group_stats"]]


def test_cli_interrupt_is_one_line_with_the_resume_command(straight, tmp_path, monkeypatch, capsys):
    clip, _, _ = straight
    monkeypatch.chdir(tmp_path)
    _interrupt_at(monkeypatch, 4)
    assert main(["fit", str(clip), *NV, "-q"]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "inrcodec fit --resume outputs/tiny/" in err, err


def test_resume_with_other_settings_is_refused_and_changes_nothing(straight, tmp_path, monkeypatch):
    clip, _, _ = straight
    _interrupt_at(monkeypatch, 4)
    with pytest.raises(FitInterrupted):
        api.fit(clip, NV, outputs_root=tmp_path / "o", show_progress=False)
    (run_dir,) = (tmp_path / "o").glob("*/*")
    before = (run_dir / "config.yaml").read_text()
    with pytest.raises(InputError, match="cannot resume: .*segment_00000.pt was made with other settings"):
        api.fit(resume=run_dir, overrides=["model.steps=21"], show_progress=False)
    assert (run_dir / "config.yaml").read_text() == before


def test_ctrl_c_during_a_segment_file_write_counts_only_the_saved_groups(straight, tmp_path, monkeypatch):
    import inr_codec.train.group_progress as gp
    clip, want, _ = straight
    real, calls = gp.save_checkpoint, []

    def save(path, state):  # the third write (group 2's) is interrupted: segment_00000.pt keeps groups 0 and 1
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        real(path, state)

    monkeypatch.setattr(gp, "save_checkpoint", save)
    with pytest.raises(FitInterrupted, match=r"after 2 coded group\(s\) of 6"):
        api.fit(clip, NV, out=tmp_path / "m.bin", outputs_root=tmp_path / "o", show_progress=False)
    monkeypatch.undo()
    (run_dir,) = (tmp_path / "o").glob("*/*")
    api.fit(resume=run_dir, show_progress=False)
    assert (tmp_path / "m.bin").read_bytes() == want


def test_ctrl_c_while_measuring_the_written_file_says_how_to_resume(straight, tmp_path, monkeypatch):
    import inr_codec.group_run
    clip, want, s0 = straight

    def measure(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(inr_codec.group_run, "measure_file_stream", measure)  # the groups' measurement
    with pytest.raises(FitInterrupted, match=r"after 6 coded group\(s\) of 6.*--resume"):
        api.fit(clip, NV, out=tmp_path / "m.bin", outputs_root=tmp_path / "o", show_progress=False)
    monkeypatch.undo()
    (run_dir,) = (tmp_path / "o").glob("*/*")
    assert api.fit(resume=run_dir, show_progress=False)["psnr"] == s0["psnr"]  # nothing fitted again
    assert (tmp_path / "m.bin").read_bytes() == want


def test_resume_on_a_changed_video_is_refused_and_keeps_the_runs_config(tmp_path, monkeypatch):
    from fractions import Fraction
    from inr_codec.io import Video, write_video
    from tests.conftest import moving_gradient
    frames, clip = moving_gradient(), tmp_path / "tiny.mkv"
    write_video(Video(frames, Fraction(30)), str(clip), pix_fmt="rgb")
    _interrupt_at(monkeypatch, 4)
    with pytest.raises(FitInterrupted):
        api.fit(clip, NV, outputs_root=tmp_path / "o", show_progress=False)
    monkeypatch.undo()
    (run_dir,) = (tmp_path / "o").glob("*/*")
    before = (run_dir / "config.yaml").read_text()
    frames[3] = 255 - frames[3]  # group 3 (saved, a segment's key) is no longer what was fitted
    write_video(Video(frames, Fraction(30)), str(clip), pix_fmt="rgb")
    with pytest.raises(InputError, match=r"the frames of group 3 differ .*\(the video changed\)"):
        api.fit(resume=run_dir, overrides=["measure=none"], show_progress=False)
    assert (run_dir / "config.yaml").read_text() == before
