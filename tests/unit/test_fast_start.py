"""The command line answers at once: help, usage and input errors come before torch is imported
(inr_codec/preflight.py), eval's and bench's data.* overrides go anywhere on the line, a reference of
another length names the selection the fit used, and fit's help lists every registered model."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from inr_codec.cli import fit_epilog, main
from inr_codec.io import Video, write_video
from tests.conftest import moving_gradient

GOLDEN = Path(__file__).parent.parent / "golden" / "v1.0_hnerv_tiny.bin"  # 37x23, 6 frames

PROBE = ("import json, sys\n"
         "from inr_codec.cli import main\n"
         "try:\n"
         "    code = main(sys.argv[1:])\n"
         "except SystemExit as e:  # argparse's usage errors\n"
         "    code = e.code\n"
         "print(json.dumps([code, sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))]))\n")


def run_fresh(*argv, cwd):
    """The CLI's main in a fresh interpreter: (exit code, torch modules it imported, stderr)."""
    r = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, cwd=cwd, timeout=120)
    code, torch_modules = json.loads(r.stdout.strip().splitlines()[-1])
    return code, torch_modules, r.stderr


@pytest.fixture
def files(tmp_path):
    (tmp_path / "notes.txt").write_text("not a model\n")
    (tmp_path / "notes.mp4").write_text("not a video\n")
    ro = tmp_path / "ro"
    ro.mkdir()
    return tmp_path


FAST_ERRORS = [
    (["decode", "missing.bin", "-o", "x.mp4"], "missing.bin"),
    (["decode", "notes.txt", "-o", "x.y4m"], "not an inrcodec model file"),
    (["decode", "--threads", "0", "missing.bin", "-o", "x.y4m"], "give a whole number of threads"),
    (["decode", "missing.bin", "-o", "x.webp"], "unsupported extension"),
    (["info", "notes.txt"], "not an inrcodec model file"),
    (["info", "ro"], "is a folder"),
    (["fit", "missing.mp4"], "no such file: missing.mp4"),
    (["fit", "notes.mp4"], "notes.mp4"),
    (["fit", "train.epoch=3"], "did you mean train.epochs?"),
    (["fit", "threads=abc"], "give a whole number of threads"),
    (["fit", "-o", "nowhere/m.bin"], "folder nowhere does not exist"),
    (["fit", "--resume", "ro"], "not a fit run directory"),
    (["eval", "missing.bin", "--ref", "missing.mp4", "data.max_frames=2"], "missing.bin"),
    (["eval", "notes.txt", "--ref", "x.mkv", "--metrics", "vmaf"], "unknown metric"),
    (["eval", "notes.txt", "--ref", "x.mkv", "--json", "nowhere/r.json"], "folder nowhere does not exist"),
    (["eval", "notes.txt", "--ref", "x.mkv", "--plots", "notes.mp4/plots"], "notes.mp4 is a file, not a folder"),
    (["bench", "missing.mp4"], "no such file: missing.mp4"),
    (["bench", "-o", "notes.txt/b"], "notes.txt is a file, not a folder"),
    (["bench", "--inr", "nowhere"], "--inr nowhere: no such file or folder"),
]


@pytest.mark.parametrize("argv,needle", FAST_ERRORS, ids=[" ".join(a) for a, _ in FAST_ERRORS])
def test_input_errors_are_one_line_before_torch(argv, needle, files):
    code, torch_modules, err = run_fresh(*argv, cwd=files)
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("inrcodec: error: ") and needle in err, err
    assert torch_modules == [], f"{argv} imported {torch_modules[:3]}"
    assert sorted(p.name for p in files.iterdir()) == ["notes.mp4", "notes.txt", "ro"]  # nothing written


@pytest.mark.parametrize("argv", [["--help"], ["fit", "--help"], ["decode", "--help"], ["eval", "--help"]])
def test_help_imports_no_torch(argv, tmp_path):
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "inr_codec", *argv], capture_output=True,
                       text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 0 and "usage: inrcodec" in r.stdout
    imported = [ln.split("|")[-1].strip() for ln in r.stderr.splitlines() if ln.startswith("import time:")]
    assert imported and not [m for m in imported if m.split(".")[0] == "torch"]


def test_usage_error_is_exit_2_before_torch(tmp_path):
    code, torch_modules, err = run_fresh("decode", cwd=tmp_path)
    assert code == 2 and "usage" in err and torch_modules == []


def test_fit_help_lists_every_registered_model():
    from inr_codec.models import MODELS, get_model_class
    get_model_class("hnerv")  # fills the registry with every model module
    text = fit_epilog()
    from inr_codec.overrides import group_options
    assert sorted(MODELS) == group_options("model")  # every registered model has its config, and no more
    for name in MODELS:
        assert f"\n  {name} " in text, name
    assert "model=" + "|".join(sorted(MODELS)) in text
    assert "latent (default)" in text and "hnerv (default)" not in text
    assert "-o names another file (the run directory is made all the same)" in text


def _run_dir_with_model(tmp_path, max_frames: int) -> Path:
    """A run directory as fit leaves it: model.bin (the golden 6-frame file) and a config.yaml recording
    the data.* selection (data.max_frames) the fit read its video with."""
    run = tmp_path / "outputs" / "clip" / "2026-01-01_00-00-00"
    run.mkdir(parents=True)
    shutil.copy(GOLDEN, run / "model.bin")
    data = OmegaConf.to_container(OmegaConf.load(Path(__file__).parents[2] / "conf" / "data" / "default.yaml"))
    data["max_frames"] = max_frames
    OmegaConf.save(OmegaConf.create({"video": str(tmp_path / "clip.y4m"), "overrides": [f"data.max_frames={max_frames}"],
                                     "config": {"data": data}}), run / "config.yaml")
    return run


def test_eval_mismatch_names_the_selection_the_run_used(tmp_path):
    from fractions import Fraction
    write_video(Video(moving_gradient(9, 23, 37), Fraction(30000, 1001)), str(tmp_path / "clip.y4m"))
    run = _run_dir_with_model(tmp_path, 6)
    code, torch_modules, err = run_fresh("eval", str(run / "model.bin"), "--ref", str(tmp_path / "clip.y4m"),
                                         cwd=tmp_path)
    assert code == 2 and err.count("\n") == 1, err
    assert "37x23, 9 frames" in err and "37x23, 6 frames" in err and "add data.max_frames=6" in err, err
    assert str(run / "config.yaml") in err and torch_modules == []
    # a model file outside a run directory: the general advice
    shutil.copy(GOLDEN, tmp_path / "loose.bin")
    code, _, err = run_fresh("eval", str(tmp_path / "loose.bin"), "--ref", str(tmp_path / "clip.y4m"), cwd=tmp_path)
    assert code == 2 and "give the video the file was fitted on" in err and "data.max_frames=" in err, err


def test_eval_takes_data_overrides_after_its_options(tmp_path, capsys):
    """docs/cli.md: `inrcodec eval FILE --ref VIDEO [options] [data.* overrides]`."""
    from fractions import Fraction
    frames = np.load(GOLDEN.with_name("v1.0_hnerv_tiny.frames.npz"))["frames"]  # what the golden file decodes to
    longer = np.concatenate([frames, moving_gradient(3, 23, 37)])
    write_video(Video(longer, Fraction(30000, 1001)), str(tmp_path / "clip.mkv"), pix_fmt="rgb")  # lossless
    run = _run_dir_with_model(tmp_path, 6)
    assert main(["eval", str(run / "model.bin"), "--ref", str(tmp_path / "clip.mkv"), "--device", "cpu",
                 "--metrics", "psnr", "data.max_frames=6"]) == 0
    out = capsys.readouterr().out
    assert "(6 frames)" in out, out
    assert float(out.split("PSNR ")[1].split(" dB")[0]) > 40, out  # against what the file decodes to
    assert main(["eval", str(run / "model.bin"), "data.max_frames=6", "--ref", str(tmp_path / "clip.mkv"),
                 "--metrics", "psnr", "--device", "cpu"]) == 0


def test_bench_mismatch_names_the_selection(tmp_path, capsys):
    from fractions import Fraction
    write_video(Video(moving_gradient(9, 23, 37), Fraction(30000, 1001)), str(tmp_path / "clip.y4m"))
    run = _run_dir_with_model(tmp_path, 6)
    (run / "summary.json").write_text(json.dumps({"bytes": 1, "bpp": 0.1, "psnr": 30, "frames": 6, "width": 37,
                                                  "height": 23, "file": str(run / "model.bin")}))
    assert main(["bench", str(tmp_path / "clip.y4m"), "--codecs", "x264", "--inr", str(run), "-o",
                 str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "add data.max_frames=6" in err and err.count("\n") == 1, err


def test_bench_takes_data_overrides_after_its_options(tiny_clip, tmp_path):
    """The override after --codecs reaches bench (a start past the 6 frames is refused, before torch)."""
    code, torch_modules, err = run_fresh("bench", str(tiny_clip), "--codecs", "x264", "data.start=100", "-o",
                                         str(tmp_path / "b"), cwd=tmp_path)
    assert code == 2 and "start=100 but the video has only 6 frames" in err and torch_modules == [], err
    code, _, err = run_fresh("bench", str(tiny_clip), "--codecs", "x264", "train.epochs=3", cwd=tmp_path)
    assert code == 2 and "bench takes only data.* overrides" in err, err
