"""Every awkward input of docs/reliability.md's table: it fits correctly or fails with one clear line."""
import os
import struct
import zlib
from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image

from inr_codec import api, container, resources
from inr_codec.cli import main
from inr_codec.decode.reference import decode_frames
from inr_codec.io import Video, read_video, write_video
from tests.conftest import TINY, moving_gradient

FAST = TINY + ["train.epochs=1"]


def fails(capsys, tmp_path, video, *needles, overrides=()):
    """`inrcodec fit VIDEO` exits 2 with one line on stderr that holds every needle; nothing is written."""
    code = main(["fit", str(video), *FAST, *overrides, "-q", "--outputs", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("inrcodec: error: "), err
    for n in needles:
        assert n in lines[0], lines[0]
    assert not list(tmp_path.glob("runs/*/*/model.bin"))
    return lines[0]


def fits(tmp_path, video, frames, width, height, overrides=()):
    """The fit works, and the file decodes to exactly the source's size and frame count."""
    s = api.fit(video, [*FAST, *overrides], out=tmp_path / "m.bin", outputs_root=tmp_path / "runs",
                show_progress=False)
    assert (s["frames"], s["width"], s["height"]) == (frames, width, height)
    out = decode_frames(container.read(tmp_path / "m.bin"))
    assert out.shape == (frames, height, width, 3)
    return s


def _mkv(path, frames, fps=25):
    write_video(Video(frames, Fraction(fps)), str(path), pix_fmt="rgb")
    return path


# ---------------------------------------------------------------- clear failures

def test_missing_file(tmp_path, capsys):
    fails(capsys, tmp_path, tmp_path / "nope.mp4", "no such file", "nope.mp4")


def test_folder_without_images(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    fails(capsys, tmp_path, tmp_path / "empty", "no .png files")


@pytest.mark.parametrize("content", [b"", b"this is not a video\n", bytes(range(256)) * 20])
def test_not_a_video(tmp_path, capsys, content):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    fails(capsys, tmp_path, bad, "bad.mp4", "not a video file")


def test_audio_only(tmp_path, capsys):
    path = tmp_path / "audio.m4a"
    with av.open(str(path), "w", format="mp4") as c:
        s = c.add_stream("aac", rate=44100)
        for i in range(8):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 44100, i * 1024
            c.mux(s.encode(frame))
        c.mux(s.encode(None))
    fails(capsys, tmp_path, path, "no video stream", "audio-only")


def _mp4(path, n=12, faststart=False):
    with av.open(str(path), "w", options={"movflags": "faststart"} if faststart else {}) as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 32, 24, "yuv420p"
        for i, f in enumerate(moving_gradient(n, 24, 32)):
            frame = av.VideoFrame.from_ndarray(f, format="rgb24")
            frame.pts = i
            c.mux(s.encode(frame))
        c.mux(s.encode(None))
    return path.read_bytes()


@pytest.mark.parametrize("faststart,keep", [(False, 0.5), (False, 0.95), (True, 0.3), (True, 0.6), (True, 0.9)])
def test_truncated_mp4(tmp_path, capsys, faststart, keep):
    data = _mp4(tmp_path / "full.mp4", faststart=faststart)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * keep)])
    line = fails(capsys, tmp_path, cut, "cut.mp4")
    assert "truncated" in line or "not a video file" in line, line


def test_truncated_mp4_frames_that_decode_can_still_be_fitted(tmp_path):
    data = _mp4(tmp_path / "full.mp4", faststart=True)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.9)])
    n = read_video(str(cut), max_frames=3).num_frames
    fits(tmp_path, cut, n, 32, 24, overrides=[f"data.max_frames={n}"])


def test_zero_frames(tmp_path, capsys):
    path = tmp_path / "zero.y4m"
    path.write_bytes(b"YUV4MPEG2 W32 H24 F25:1 C420jpeg\n")
    fails(capsys, tmp_path, path, "holds no frames")


def _png(width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def test_png_frames_of_absurd_size(tmp_path, capsys):
    folder = tmp_path / "huge"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.png").write_bytes(_png(100000, 100000))  # a 10-gigapixel header, a few bytes of file
    fails(capsys, tmp_path, folder, "0.png", "safety limit")


def test_too_large_for_memory_is_refused_up_front(tmp_path, capsys, monkeypatch):
    clip = _mkv(tmp_path / "clip.mkv", moving_gradient(6, 23, 37))
    monkeypatch.setattr(resources, "available_memory", lambda: 600 * 2**20)
    monkeypatch.setattr("inr_codec.fitting.load_video", lambda *a, **k: pytest.fail("decoded before the check"))
    monkeypatch.setattr(resources, "OVERHEAD", 600 * 2**20 - 37 * 23 * 3 * 3 * 4)  # room for 4 frames
    line = fails(capsys, tmp_path, clip, "6 frames of 37x23", "only 0.63 GB is available",
                 "data.max_frames=4")
    assert "memory" in line
    # a 12000x12000 PNG folder on a machine with 4 GB free: refused from the headers, nothing decoded
    folder = tmp_path / "big"
    folder.mkdir()
    for i in range(40):
        (folder / f"{i:02d}.png").write_bytes(_png(12000, 12000))
    monkeypatch.setattr(resources, "OVERHEAD", 512 * 2**20)
    monkeypatch.setattr(resources, "available_memory", lambda: 4 * 10**9)
    fails(capsys, tmp_path, folder, "40 frames of 12000x12000 need about 52 GB", "4.00 GB is available",
          "data.max_frames=2")


def test_frame_size_changing_mid_folder(tmp_path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.fromarray(moving_gradient(1, 20, 30)[0]).save(folder / "a1.png")
    Image.fromarray(moving_gradient(1, 22, 30)[0]).save(folder / "a2.png")
    fails(capsys, tmp_path, folder, "share one size")


# ---------------------------------------------------------------- inputs that work

def test_one_frame(tmp_path):
    fits(tmp_path, _mkv(tmp_path / "one.mkv", moving_gradient(1)), 1, 37, 23)


@pytest.mark.parametrize("height,width", [(1, 40), (40, 1), (3, 5)])
def test_tiny_and_degenerate_frame_sizes(tmp_path, height, width):
    src = moving_gradient(4, height, width)
    video = tmp_path / "frames"  # PNG folder: every size (FFV1 cannot store a width of 1)
    write_video(Video(src, Fraction(25)), str(video))
    fits(tmp_path, video, 4, width, height)
    api.decode(tmp_path / "m.bin", tmp_path / "out.mkv")
    back = read_video(str(tmp_path / "out.mkv"))
    assert back.frames.shape == (4, height, width, 3)


def test_grayscale_png_folder(tmp_path):
    folder = tmp_path / "gray"
    folder.mkdir()
    for i, f in enumerate(moving_gradient(3, 20, 30)):
        Image.fromarray(f[..., 1], "L").save(folder / f"{i:03d}.png")
    assert read_video(str(folder)).source_pix_fmt == "gray"
    fits(tmp_path, folder, 3, 30, 20)


@pytest.mark.parametrize("name", ["gray.y4m", "p10.y4m", "p10.mp4"])
def test_grayscale_and_10_bit(tmp_path, name):
    pix = "gray" if "gray" in name else "yuv420p10le"
    path = tmp_path / name
    write_video(Video(moving_gradient(3, 24, 32), Fraction(25)), str(path), pix_fmt=pix)
    v = read_video(str(path))
    assert v.source_pix_fmt == pix and v.frames.dtype == np.uint8
    s = fits(tmp_path, path, 3, 32, 24)
    assert container.read(s["file"]).video.source_pix_fmt == pix


def test_variable_frame_rate(tmp_path):
    path = tmp_path / "vfr.mkv"
    pts_ms = [0, 40, 80, 200, 240, 400]  # irregular gaps
    with av.open(str(path), "w") as c:
        s = c.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = 32, 24, "bgr0"
        s.time_base = Fraction(1, 1000)
        for t, f in zip(pts_ms, moving_gradient(6, 24, 32)):
            frame = av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="bgr0")
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            c.mux(s.encode(frame))
        c.mux(s.encode(None))
    v = read_video(str(path))
    assert v.num_frames == 6 and v.fps > 0  # every frame, at the container's average rate
    s = fits(tmp_path, path, 6, 32, 24)
    assert Fraction(s["fps"]) == v.fps
