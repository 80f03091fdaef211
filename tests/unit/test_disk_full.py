"""A full disk or an unwritable output: one line on stderr, exit status 2, no partial file left.

Two simulations: ENOSPC injected into the model writer's os.write (in-process), and a real
RLIMIT_FSIZE in a subprocess, which makes every write past the limit fail (EFBIG) in Python,
torch and FFmpeg alike, the way a full disk does, without root or a special filesystem.
"""
import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from inr_codec import api, container
from inr_codec.cli import main
from inr_codec.container import writer as writer_module
from inr_codec.errors import InputError
from inr_codec.train import checkpoint as checkpoint_module
from tests.conftest import TINY

FAST = TINY + ["train.epochs=2"]


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("inrcodec: error: ")
    return lines[0]


def leftovers(folder: Path, keep=()) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    from fractions import Fraction

    from inr_codec.io import Video, write_video
    from tests.conftest import moving_gradient
    root = tmp_path_factory.mktemp("model")
    clip = root / "clip.mkv"
    write_video(Video(moving_gradient(), Fraction(25)), str(clip), pix_fmt="rgb")
    api.fit(clip, FAST, out=root / "model.bin", outputs_root=root / "outputs", show_progress=False)
    return clip, root / "model.bin"


def test_enospc_while_writing_model_bin(model_file, tmp_path, monkeypatch, capsys):
    clip, good = model_file
    real_write = os.write

    def full_disk(fd, data):
        if ".model.bin." in os.readlink(f"/proc/self/fd/{fd}"):
            real_write(fd, bytes(data[: len(data) // 2]))  # part of it lands, then the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(writer_module.os, "write", full_disk)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "model.bin").write_bytes(good.read_bytes())  # an earlier model survives
    assert main(["fit", str(clip), *FAST, "-q", "-o", str(out_dir / "model.bin"),
                 "--outputs", str(tmp_path / "runs")]) == 2
    line = one_line(capsys.readouterr().err)
    assert "No space left on device" in line and "model.bin" in line
    assert leftovers(out_dir) == ["model.bin"] and (out_dir / "model.bin").read_bytes() == good.read_bytes()


def test_enospc_while_writing_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    real_fdopen = os.fdopen
    calls = {"n": 0}

    class FullDisk:  # half of the checkpoint lands, then the disk is full
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            self.f.write(bytes(data[: len(data) // 2]))
            self.f.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def fdopen(fd, mode="r", *args, **kw):
        f = real_fdopen(fd, mode, *args, **kw)
        calls["n"] += 1
        return FullDisk(f) if calls["n"] == 2 else f

    monkeypatch.setattr(checkpoint_module.os, "fdopen", fdopen)
    path = tmp_path / "checkpoints" / "fit.pt"
    checkpoint_module.save_checkpoint(path, {"state": {"epoch": 1}})
    with pytest.raises(InputError, match="cannot write checkpoint .*No space left on device") as info:
        checkpoint_module.save_checkpoint(path, {"state": {"epoch": 2}})
    monkeypatch.undo()
    assert calls["n"] == 2 and "\n" not in str(info.value)
    assert leftovers(path.parent) == ["fit.pt"]
    assert checkpoint_module.load_checkpoint(path)["state"]["epoch"] == 1


def run_with_file_size_limit(limit: int, *args: str, cwd=None):
    code = ("import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
            f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit})); "
            "from inr_codec.cli import main; sys.exit(main(sys.argv[1:]))")
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300, cwd=cwd)
    return r.returncode, r.stderr


@pytest.mark.parametrize("name", ["out.y4m", "out.mp4", "frames"])  # numpy, FFmpeg, PNG folder
def test_decode_onto_a_full_disk_leaves_nothing(model_file, tmp_path, name):
    _, good = model_file
    code, err = run_with_file_size_limit(200, "decode", str(good), "-o", str(tmp_path / name))
    assert code == 2, err
    line = one_line(err)
    assert name in line and ("too large" in line or "space" in line), line
    assert leftovers(tmp_path) == []


def test_fit_onto_a_full_disk_fails_cleanly(model_file, tmp_path):
    clip, _ = model_file
    out = tmp_path / "m.bin"
    code, err = run_with_file_size_limit(20000, "fit", str(clip), *FAST, "-q", "-o", str(out),
                                         "--outputs", str(tmp_path / "runs"))
    assert code == 2, err
    line = one_line(err)
    assert "cannot write" in line and "too large" in line, line
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["runs"]
    run_dir = next((tmp_path / "runs").glob("*/*"))
    assert not [p for p in run_dir.rglob("*") if ".tmp" in p.name]  # no temporary file left


def test_unwritable_decode_output(model_file, tmp_path, capsys):
    _, good = model_file
    assert main(["decode", str(good), "-o", str(tmp_path / "missing" / "out.mp4")]) == 2
    assert "missing" in one_line(capsys.readouterr().err)
    with pytest.raises(InputError):
        container.write(tmp_path / "missing" / "m.bin", container.read(good))
    assert leftovers(tmp_path) == []
