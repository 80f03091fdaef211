"""Bad input exits with status 2 and one line on stderr, never a traceback or a partial file."""
import os
import subprocess
import sys

import pytest

from tests.conftest import TINY


def run(*args, cwd=None):
    r = subprocess.run([sys.executable, "-m", "inr_codec", *args], capture_output=True, text=True, cwd=cwd,
                       timeout=300)
    return r.returncode, r.stdout, r.stderr


def one_line_error(code, err, *needles):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("inrcodec: error: ")
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], lines[0]


def test_missing_video(tmp_path):
    code, _, err = run("fit", str(tmp_path / "nope.mp4"), *TINY, "--outputs", str(tmp_path / "o"))
    one_line_error(code, err, "nope.mp4")


def test_not_a_video(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video\n")
    code, _, err = run("fit", str(bad), *TINY, "--outputs", str(tmp_path / "o"))
    one_line_error(code, err, "notes.mp4")


def test_unknown_model_and_override(tiny_clip, tmp_path):
    code, _, err = run("fit", str(tiny_clip), "model=vit", "--outputs", str(tmp_path / "o"))
    one_line_error(code, err, "vit")
    code, _, err = run("fit", str(tiny_clip), "train.epoch=3", "--outputs", str(tmp_path / "o"))
    one_line_error(code, err, "train.epoch")
    code, _, err = run("fit", str(tiny_clip), "compress.bits=1", *TINY, "--outputs", str(tmp_path / "o"))
    one_line_error(code, err, "compress.bits")


def test_unwritable_output_leaves_nothing(tiny_clip, tmp_path):
    out = tmp_path / "missing_dir" / "model.bin"
    code, _, err = run("fit", str(tiny_clip), *TINY, "-o", str(out), "--outputs", str(tmp_path / "o"))
    one_line_error(code, err, "missing_dir")
    assert not out.parent.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_read_only_output_folder(tiny_clip, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    code, _, err = run("fit", str(tiny_clip), *TINY, "-o", str(ro / "m.bin"), "--outputs", str(tmp_path / "o"))
    one_line_error(code, err, "m.bin")
    assert list(ro.iterdir()) == []


def test_corrupted_and_truncated_model_files(tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00" * 100)
    for cmd in (["info", str(junk)], ["decode", str(junk), "-o", str(tmp_path / "x.mp4")]):
        code, _, err = run(*cmd)
        one_line_error(code, err, "junk.bin")
    assert not (tmp_path / "x.mp4").exists()
    code, _, err = run("info", str(tmp_path / "absent.bin"))
    one_line_error(code, err, "absent.bin")


def test_bad_frame_range_and_usage(tmp_path):
    code, _, err = run("decode")
    assert code == 2 and "usage" in err


def test_decode_refuses_a_bad_output_before_decoding(tmp_path):
    from pathlib import Path
    golden = Path(__file__).parents[1] / "golden" / "v1.0_hnerv_tiny.bin"
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("x")
    for out, needle in ((tmp_path / "x.gif", ".gif"), (full, "not empty"), (tmp_path / "no" / "x.mp4", "no")):
        code, _, err = run("decode", str(golden), "-o", str(out), "--device", "cpu")
        one_line_error(code, err, needle)


def test_override_errors_point_the_right_way(tiny_clip, tmp_path):
    for override, needle in (("+train.epoch=3", "did you mean train.epochs?"),
                             ("model=hnerf", "did you mean model=hnerv?")):
        code, _, err = run("fit", str(tiny_clip), override, "--outputs", str(tmp_path / "o"))
        one_line_error(code, err, needle)
        assert "search path" not in err and "provider=hydra" not in err
    assert not (tmp_path / "o").exists()
