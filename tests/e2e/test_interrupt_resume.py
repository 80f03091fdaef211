"""Interrupted fits: Ctrl-C / SIGTERM save a checkpoint that resumes to the exact file a clean run
writes; kill -9 leaves the last checkpoint and an earlier model.bin intact; resuming against another
video or an incompatible configuration is refused."""
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from inr_codec import api, container
from inr_codec.cli import main
from inr_codec.decode.reference import decode_frames
from inr_codec.errors import FitInterrupted, InputError
from inr_codec.io import Video, write_video
from inr_codec.train import trainer as trainer_module
from inr_codec.train.checkpoint import load_checkpoint
from tests.conftest import TINY, moving_gradient

# 6 frames, batch 2: 3 steps per epoch, 15 steps in all.
FIT = TINY + ["train.epochs=5", "train.checkpoint_every=1"]


def interrupt_at_step(monkeypatch, step: int, signum=signal.SIGINT):
    """Deliver a real signal to this process just before optimizer step ``step`` (1-based)."""
    original = trainer_module.Trainer._train_step
    calls = {"n": 0}

    def patched(self, idx, lr):
        calls["n"] += 1
        if calls["n"] == step:
            os.kill(os.getpid(), signum)
        return original(self, idx, lr)

    monkeypatch.setattr(trainer_module.Trainer, "_train_step", patched)


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    root = tmp_path_factory.mktemp("clean")
    clip = root / "clip.mkv"
    write_video(Video(moving_gradient(), Fraction(25)), str(clip), pix_fmt="rgb")
    summary = api.fit(clip, FIT, out=root / "clean.bin", outputs_root=root / "outputs", show_progress=False)
    return clip, Path(summary["file"])


def test_interrupted_mid_epoch_then_resumed_gives_the_same_file(clean, tmp_path, monkeypatch):
    clip, clean_file = clean
    out = tmp_path / "resumed.bin"
    interrupt_at_step(monkeypatch, 8)  # step 8 finishes, then the loop stops: epoch 2, batch 2 of 3
    with pytest.raises(FitInterrupted) as info:
        api.fit(clip, FIT, out=out, outputs_root=tmp_path / "outputs", show_progress=False)
    message = str(info.value)
    assert "\n" not in message and "Ctrl-C" in message and "epoch 2, batch 2 of 3" in message
    assert "inrcodec fit --resume" in message and not out.exists()
    run_dir = Path(message.rsplit("--resume ", 1)[1])
    state = load_checkpoint(run_dir / "checkpoints" / "fit.pt")["state"]
    assert (state["epoch"], state["batch"], state["step"]) == (2, 2, 8)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored

    monkeypatch.undo()
    summary = api.fit(resume=run_dir, show_progress=False)
    assert Path(summary["file"]) == out
    assert out.read_bytes() == clean_file.read_bytes()  # bit-identical to the uninterrupted run
    assert summary["epochs"] == 5


def test_interrupt_at_an_epoch_boundary_also_resumes_exactly(clean, tmp_path, monkeypatch):
    clip, clean_file = clean
    interrupt_at_step(monkeypatch, 3, signal.SIGTERM)  # the last step of epoch 0
    with pytest.raises(FitInterrupted, match=r"SIGTERM.*epoch 1, batch 0 of 3"):
        api.fit(clip, FIT, out=tmp_path / "m.bin", outputs_root=tmp_path / "outputs", show_progress=False)
    monkeypatch.undo()
    run_dir = next((tmp_path / "outputs" / "clip").iterdir())
    api.fit(resume=run_dir, show_progress=False)
    assert (tmp_path / "m.bin").read_bytes() == clean_file.read_bytes()


def test_decoding_twice_gives_identical_frames(clean):
    _, clean_file = clean
    cm = container.read(clean_file)
    a, b = decode_frames(cm), decode_frames(container.read(clean_file))
    assert a.dtype == np.uint8 and np.array_equal(a, b)


def test_resume_against_another_video_or_config_is_refused(clean, tmp_path, monkeypatch, capsys):
    clip, _ = clean
    mine = tmp_path / "mine.mkv"
    mine.write_bytes(clip.read_bytes())
    interrupt_at_step(monkeypatch, 5)
    with pytest.raises(FitInterrupted):
        api.fit(mine, FIT, outputs_root=tmp_path / "outputs", show_progress=False)
    monkeypatch.undo()
    run_dir = next((tmp_path / "outputs" / "mine").iterdir())
    config_before = (run_dir / "config.yaml").read_text()
    ckpt_before = (run_dir / "checkpoints" / "fit.pt").read_bytes()

    other = tmp_path / "other.mkv"
    write_video(Video(moving_gradient()[::-1].copy(), Fraction(25)), str(other), pix_fmt="rgb")
    # another path
    assert main(["fit", str(other), "--resume", str(run_dir), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cannot resume" in err and "other.mkv" in err
    # an incompatible configuration (another architecture)
    assert main(["fit", "--resume", str(run_dir), "model.blocks=4", "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cannot resume" in err and "architecture" in err
    # the same path, but the file now holds another video
    mine.write_bytes(other.read_bytes())
    assert main(["fit", "--resume", str(run_dir), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cannot resume" in err and "video" in err
    # a refused resume leaves the run as it was
    assert (run_dir / "config.yaml").read_text() == config_before
    assert (run_dir / "checkpoints" / "fit.pt").read_bytes() == ckpt_before
    assert not (run_dir / "model.bin").exists()


def _start_fit(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "inr_codec", "fit", *args, "-q"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for_checkpoint(proc: subprocess.Popen, ckpt: Path, epochs: int) -> dict:
    """The checkpoint's state once it holds at least ``epochs`` epochs."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if ckpt.is_file():
            try:
                state = load_checkpoint(ckpt)["state"]
                if state["epoch"] >= epochs:
                    return state
            except InputError:  # replaced while we read it
                pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"no checkpoint of {epochs} epochs within 120 s")


def test_sigterm_then_kill_9_then_resume(clean, tmp_path):
    """SIGTERM: exit 130, one line naming the resume command, a resumable checkpoint. kill -9 of the
    resumed run at a random moment: the checkpoint and the model.bin of an earlier fit stay intact."""
    clip, clean_file = clean
    out = tmp_path / "model.bin"
    out.write_bytes(clean_file.read_bytes())  # a model.bin from an earlier fit
    proc = _start_fit(str(clip), *TINY, "train.epochs=100000", "train.checkpoint_every=1", "-o", str(out),
                      "--outputs", str(tmp_path / "outputs"))
    deadline = time.monotonic() + 120
    while not list((tmp_path / "outputs").glob("*/*/checkpoints")) and time.monotonic() < deadline:
        time.sleep(0.1)
    run_dir = next((tmp_path / "outputs").glob("*/*/checkpoints")).parent
    ckpt = run_dir / "checkpoints" / "fit.pt"
    _wait_for_checkpoint(proc, ckpt, 1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("inrcodec: fit interrupted (SIGTERM) at fit epoch ")
    assert lines[0].endswith(f"continue with: inrcodec fit --resume {run_dir}")
    state = load_checkpoint(ckpt)["state"]
    assert out.read_bytes() == clean_file.read_bytes()

    proc = _start_fit("--resume", str(run_dir))  # continues towards its 100000 epochs
    _wait_for_checkpoint(proc, ckpt, state["epoch"] + 1)
    time.sleep(np.random.default_rng().uniform(0, 0.3))  # any moment, checkpoint writes included
    proc.kill()
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert out.read_bytes() == clean_file.read_bytes()
    state = load_checkpoint(ckpt)["state"]
    assert state["epoch"] >= 2

    summary = api.fit(resume=run_dir, overrides=[f"train.epochs={state['epoch'] + 1}"], show_progress=False)
    assert Path(summary["file"]) == out and summary["epochs"] == state["epoch"] + 1
    assert container.read(out).video.frames == 6 and out.read_bytes() != clean_file.read_bytes()
    assert not list((run_dir / "checkpoints").glob(".ckpt-*"))  # a killed write's temporary is cleaned up


def test_resume_with_more_epochs_reruns_the_later_phases(tiny_clip, tmp_path):
    """A phase checkpoint made from other starting weights must not be loaded (it would restore the old model)."""
    from inr_codec import api
    from tests.conftest import TINY
    phases = ["compress.prune=0.2", "compress.prune_epochs=2", "compress.qat_epochs=2"]
    first = api.fit(tiny_clip, TINY + phases + ["train.epochs=3"], outputs_root=tmp_path / "o", show_progress=False)
    old = Path(first["file"]).read_bytes()
    again = api.fit(None, ["train.epochs=6"], resume=first["run_dir"], show_progress=False)
    assert again["epochs"] == 6
    assert again["psnr_before_compression"] != first["psnr_before_compression"]
    assert Path(again["file"]).read_bytes() != old
    log = (Path(first["run_dir"]) / "fit.log").read_text()
    assert "running the prune phase again" in log and "running the qat phase again" in log
