"""Round trips and error handling of inr_codec.io (all formats, tiny synthetic clips)."""

from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image

from inr_codec.errors import VideoError
from inr_codec.io import Video, probe_video, read_video, resize_video, write_video
from inr_codec.io import pyav as pyav_mod
from inr_codec.io import writer as writer_mod
from inr_codec.io.colour import rgb_to_yuv

SIZES = [(18, 34), (17, 33)]  # (H, W): even and odd


def smooth(t=5, h=18, w=34):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    frames = []
    for i in range(t):
        r = 30 + 190 * xx / max(w - 1, 1)
        g = 40 + 170 * yy / max(h - 1, 1)
        b = 128 + 70 * np.sin((xx + yy) / 6.0 + i * 0.4)
        frames.append(np.stack([r, g, b], -1))
    return np.ascontiguousarray(np.round(frames).astype(np.uint8))


def noise(t=5, h=18, w=34, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def no_leftovers(folder, keep):
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("h,w", SIZES)
def test_png_folder_exact(tmp_path, h, w):
    v = Video(noise(5, h, w), Fraction(25))
    out = tmp_path / "frames"
    write_video(v, out)
    assert sorted(p.name for p in out.iterdir()) == [f"frame_0000{i}.png" for i in range(1, 6)]
    r = read_video(out)
    assert r.frames.dtype == np.uint8 and r.frames.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(r.frames, v.frames)
    assert (r.num_frames, r.height, r.width, r.fps, r.source_pix_fmt) == (5, h, w, Fraction(25), "rgb24")
    assert probe_video(out) == (5, h, w, Fraction(25))
    assert no_leftovers(tmp_path, {"frames"}) == []


def test_png_folder_natural_order_modes_and_selection(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    frames = noise(11, 6, 8)
    for i, f in enumerate(frames):
        Image.fromarray(f).save(d / f"img{i}.png")  # img10 must sort after img9
    (d / "notes.txt").write_text("ignored")
    r = read_video(d, start=8, max_frames=5, fps="30000/1001")
    np.testing.assert_array_equal(r.frames, frames[8:11])
    assert r.fps == Fraction(30000, 1001)
    g = tmp_path / "gray"
    g.mkdir()
    Image.fromarray(np.full((4, 5), 77, np.uint8), "L").save(g / "a.png")
    rg = read_video(g)
    assert rg.source_pix_fmt == "gray" and (rg.frames == 77).all()


def test_png_write_into_empty_existing_dir_but_not_nonempty(tmp_path):
    v = Video(noise(2, 4, 6), Fraction(25))
    d = tmp_path / "out.d"
    d.mkdir()
    write_video(v, d)  # existing empty folder: replaced
    assert len(list(d.iterdir())) == 2
    with pytest.raises(VideoError, match="not empty") as e:
        write_video(v, d)
    assert str(d) in str(e.value)


@pytest.mark.parametrize("h,w", SIZES)
def test_y4m_444_near_exact(tmp_path, h, w):
    v = Video(noise(5, h, w), Fraction(30000, 1001))
    p = tmp_path / "a.y4m"
    write_video(v, p, pix_fmt="yuv444p")
    header = p.read_bytes().split(b"\n", 1)[0].decode()
    assert header.split()[1:5] == [f"W{w}", f"H{h}", "F30000:1001", "Ip"] and "C444" in header
    r = read_video(p)
    assert r.frames.shape == v.frames.shape and r.fps == Fraction(30000, 1001)
    assert r.source_pix_fmt == "yuv444p"
    assert np.abs(r.frames.astype(int) - v.frames).max() <= 2
    assert probe_video(p) == (5, h, w, Fraction(30000, 1001))


@pytest.mark.parametrize("h,w", SIZES)
def test_y4m_420_and_raw_yuv_smooth(tmp_path, h, w):
    v = Video(smooth(5, h, w), Fraction(25))
    write_video(v, tmp_path / "a.y4m")
    assert b"C420jpeg" in (tmp_path / "a.y4m").read_bytes()[:100]
    write_video(v, tmp_path / "a.yuv")
    assert (tmp_path / "a.yuv").stat().st_size == 5 * (h * w + 2 * ((h + 1) // 2) * ((w + 1) // 2))
    for r in (read_video(tmp_path / "a.y4m"), read_video(tmp_path / "a.yuv", width=w, height=h)):
        assert r.frames.shape == (5, h, w, 3) and r.fps == Fraction(25) and r.source_pix_fmt == "yuv420p"
        assert psnr(r.frames, v.frames) > 35
    assert probe_video(tmp_path / "a.yuv", width=w, height=h, start=1, max_frames=2) == (2, h, w, Fraction(25))


def test_y4m_readable_by_ffmpeg_with_same_rate_and_format(tmp_path):
    v = Video(noise(3, 8, 10), Fraction(24000, 1001))
    p = tmp_path / "a.y4m"
    write_video(v, p, pix_fmt="yuv444p")
    with av.open(str(p)) as c:
        s = c.streams.video[0]
        assert s.average_rate == Fraction(24000, 1001) and s.codec_context.pix_fmt == "yuv444p"
        n = sum(1 for _ in c.decode(s))
    assert n == 3


def _write_planes(f, planes):
    for pl in planes:
        f.write(np.ascontiguousarray(pl).astype(pl.dtype.newbyteorder("<")).tobytes())


def test_10bit_y4m_and_raw_read(tmp_path):
    h, w = 4, 6
    y = np.full((h, w), 940, np.uint16)  # white
    y[:, :3] = 64  # black
    c = np.full((h // 2, w // 2), 512, np.uint16)
    p = tmp_path / "a.y4m"
    with open(p, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F50:1 Ip C420p10\n".encode())
        for _ in range(2):
            f.write(b"FRAME\n")
            _write_planes(f, [y, c, c])
    r = read_video(p)
    assert r.source_pix_fmt == "yuv420p10le" and r.fps == Fraction(50) and r.frames.shape == (2, h, w, 3)
    assert (r.frames[:, :, :3] == 0).all() and (r.frames[:, :, 3:] == 255).all()

    smooth_rgb = smooth(3, 18, 34)
    raw = tmp_path / "a.yuv"
    with open(raw, "wb") as f:
        for fr in smooth_rgb:
            _write_planes(f, rgb_to_yuv(fr, "yuv420p10le"))
    r = read_video(raw, width=34, height=18, pix_fmt="yuv420p10le", fps=Fraction(30000, 1001))
    assert r.source_pix_fmt == "yuv420p10le" and r.fps == Fraction(30000, 1001)
    assert psnr(r.frames, smooth_rgb) > 38


def test_y4m_header_variants_full_range_and_mono(tmp_path):
    p = tmp_path / "m.y4m"
    with open(p, "wb") as f:
        f.write(b"YUV4MPEG2 W4 H2 F25:1 Cmono XCOLORRANGE=FULL\nFRAME\n" + bytes([0, 255, 128, 16] * 2))
    r = read_video(p)
    assert r.source_pix_fmt == "gray"
    assert r.frames[0, 0, :, 0].tolist() == [0, 255, 128, 16]  # full range: no 16..235 expansion


@pytest.mark.parametrize("fps", [Fraction(25), Fraction(30000, 1001)])
@pytest.mark.parametrize("h,w", SIZES)
def test_mp4_x264_round_trip(tmp_path, fps, h, w):
    v = Video(smooth(5, h, w), fps)
    p = tmp_path / "a.mp4"
    write_video(v, p)
    r = read_video(p)
    assert (r.num_frames, r.height, r.width) == (5, h, w)
    assert r.fps == fps and isinstance(r.fps, Fraction)
    assert r.source_pix_fmt == ("yuv420p" if h % 2 == 0 and w % 2 == 0 else "yuv444p")
    assert psnr(r.frames, v.frames) > 30
    assert probe_video(p) == (5, h, w, fps)
    assert no_leftovers(tmp_path, {"a.mp4"}) == []


@pytest.mark.parametrize("ext", [".mkv", ".avi", ".mov", ".webm"])
def test_other_containers_keep_count_size_rate(tmp_path, ext):
    v = Video(smooth(4, 17, 33), Fraction(30000, 1001))
    p = tmp_path / f"a{ext}"
    write_video(v, p, crf=20)
    r = read_video(p)
    assert (r.num_frames, r.height, r.width, r.fps) == (4, 17, 33, Fraction(30000, 1001))
    assert psnr(r.frames, v.frames) > 30
    assert probe_video(p) == (4, 17, 33, Fraction(30000, 1001))


@pytest.mark.parametrize("ext", [".mkv", ".mp4", ".webm"])
def test_lossless_rgb_exact(tmp_path, ext):
    v = Video(noise(3, 17, 33), Fraction(24))
    p = tmp_path / f"a{ext}"
    write_video(v, p, pix_fmt="rgb")
    r = read_video(p)
    np.testing.assert_array_equal(r.frames, v.frames)
    assert r.fps == Fraction(24)


def test_pyav_selection_and_bt709_tag(tmp_path):
    frames = smooth(6, 18, 34)
    p = tmp_path / "a.mkv"
    write_video(Video(frames, Fraction(25)), p, pix_fmt="rgb")
    r = read_video(p, start=2, max_frames=3)
    np.testing.assert_array_equal(r.frames, frames[2:5])
    assert probe_video(p, start=4) == (2, 18, 34, Fraction(25))
    write_video(Video(frames, Fraction(25)), tmp_path / "b.mp4")
    with av.open(str(tmp_path / "b.mp4")) as c:
        f = next(c.decode(video=0))
        assert int(f.colorspace) == 1 and int(f.color_range) == 1  # bt709, limited


def test_untagged_yuv_decodes_as_bt709():
    rgb = noise(1, 8, 8)[0]
    planes = rgb_to_yuv(rgb, "yuv444p")  # BT.709 limited
    frame = av.VideoFrame(8, 8, "yuv444p")
    for plane, arr in zip(frame.planes, planes):
        np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, :8] = arr
    assert np.abs(pyav_mod._to_rgb(frame).astype(int) - rgb).max() <= 2


def test_resize_video():
    v = Video(smooth(3, 18, 34), Fraction(25), "yuv420p", "x")
    s = resize_video(v, 17, 9)
    assert s.frames.shape == (3, 9, 17, 3) and s.frames.dtype == np.uint8
    assert (s.fps, s.source_pix_fmt) == (Fraction(25), "yuv420p")
    assert abs(float(s.frames.mean()) - float(v.frames.mean())) < 2


# ---------------------------------------------------------------- errors


def _err(fn, *args, match=None, **kw):
    with pytest.raises(VideoError) as e:
        fn(*args, **kw)
    msg = str(e.value)
    assert "\n" not in msg
    if match:
        assert match in msg, msg
    return msg


def test_missing_file(tmp_path):
    for name in ("nope.mp4", "nope.y4m", "nope.yuv", "nodir"):
        p = tmp_path / name
        assert _err(read_video, p, width=4, height=4) == f"no such file: {p}"
        assert str(p) in _err(probe_video, p, width=4, height=4)


def test_folder_without_pngs_and_mixed_sizes(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    assert str(d) in _err(read_video, d, match="no .png files")
    Image.fromarray(noise(1, 4, 4)[0]).save(d / "1.png")
    Image.fromarray(noise(1, 5, 4)[0]).save(d / "2.png")
    assert str(d) in _err(read_video, d, match="share one size")


def test_not_a_video(tmp_path):
    p = tmp_path / "fake.mp4"
    p.write_text("this is not a video\n" * 50)
    assert str(p) in _err(read_video, p)
    assert str(p) in _err(probe_video, p)


def test_audio_only(tmp_path):
    p = tmp_path / "sound.wav"
    with av.open(str(p), "w") as c:
        s = c.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        c.mux(s.encode(frame))
        c.mux(s.encode(None))
    assert str(p) in _err(read_video, p, match="has no video stream")


def test_zero_frames_and_truncated(tmp_path):
    p = tmp_path / "empty.mkv"
    with av.open(str(p), "w") as c:
        s = c.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = 16, 16, "bgr0"
    assert str(p) in _err(read_video, p)
    good = tmp_path / "good.mkv"
    write_video(Video(noise(3, 16, 16), Fraction(25)), good, pix_fmt="rgb")
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(good.read_bytes()[:300])
    assert str(cut) in _err(read_video, cut)
    mp4 = tmp_path / "good.mp4"
    write_video(Video(smooth(3, 16, 16), Fraction(25)), mp4)
    cut4 = tmp_path / "cut.mp4"
    cut4.write_bytes(mp4.read_bytes()[: mp4.stat().st_size // 2])
    assert str(cut4) in _err(read_video, cut4)


def test_y4m_truncated_and_bad_header(tmp_path):
    p = tmp_path / "a.y4m"
    write_video(Video(noise(2, 4, 6), Fraction(25)), p)
    data = p.read_bytes()
    p.write_bytes(data[:-5])
    assert str(p) in _err(read_video, p, match="truncated")
    p.write_bytes(b"NOTY4M W4 H4\n")
    assert str(p) in _err(read_video, p)
    p.write_bytes(b"YUV4MPEG2 W4 H2 F25:1 C411\nFRAME\n" + bytes(16))
    assert str(p) in _err(read_video, p, match="C411")


def test_raw_yuv_errors(tmp_path):
    p = tmp_path / "a.yuv"
    p.write_bytes(bytes(4 * 4 * 3 // 2 * 2 + 1))
    assert str(p) in _err(read_video, p, match="width and height")
    msg = _err(read_video, p, width=4, height=4)
    assert str(p) in msg and "whole number" in msg
    assert str(p) in _err(read_video, p, width=4, height=4, pix_fmt="nv12")
    p.write_bytes(bytes(24 * 3))
    assert read_video(p, width=4, height=4).num_frames == 3
    assert str(p) in _err(read_video, p, width=4, height=4, start=3, match="only 3 frames")


def test_stated_size_mismatch(tmp_path):
    p = tmp_path / "a.y4m"
    write_video(Video(noise(1, 4, 6), Fraction(25)), p)
    assert str(p) in _err(read_video, p, width=8, height=4, match="raw .yuv")


def test_write_errors_leave_nothing(tmp_path, monkeypatch):
    v = Video(smooth(3, 8, 8), Fraction(25))
    bad = tmp_path / "a.gif"
    assert str(bad) in _err(write_video, v, bad, match="unsupported extension")
    missing = tmp_path / "no" / "dir" / "a.mp4"
    assert str(missing) in _err(write_video, v, missing, match="does not exist")
    (tmp_path / "afile").write_text("x")
    under_file = tmp_path / "afile" / "a.y4m"
    assert str(under_file) in _err(write_video, v, under_file)
    assert str(tmp_path / "x.mp4") in _err(write_video, Video(v.frames[..., 0], v.fps), tmp_path / "x.mp4")
    assert no_leftovers(tmp_path, {"afile"}) == []

    calls = {"n": 0}
    real = writer_mod.rgb_to_yuv

    def failing(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        return real(*a, **k)

    monkeypatch.setattr(writer_mod, "rgb_to_yuv", failing)  # the planar writers convert there
    target = tmp_path / "b.y4m"
    msg = _err(write_video, v, target)
    assert msg.startswith(f"cannot write {target}") and "No space left" in msg
    assert not target.exists() and no_leftovers(tmp_path, {"afile"}) == []

    monkeypatch.setattr(pyav_mod, "_INTERP", "not-a-flag")  # the encoder fails on the first frame
    target = tmp_path / "c.mp4"
    assert _err(write_video, v, target).startswith(f"cannot write {target}")
    assert not target.exists() and no_leftovers(tmp_path, {"afile"}) == []


def test_png_write_failure_leaves_nothing(tmp_path, monkeypatch):
    from inr_codec.io import png as png_mod

    real = png_mod.Image.fromarray
    calls = {"n": 0}

    def failing(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real(*a, **k)

    monkeypatch.setattr(png_mod.Image, "fromarray", failing)
    target = tmp_path / "frames"
    assert _err(write_video, Video(noise(4, 4, 4), Fraction(25)), target).startswith(f"cannot write {target}")
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments(tmp_path):
    p = tmp_path / "a.y4m"
    write_video(Video(noise(2, 4, 6), Fraction(25)), p)
    assert str(p) in _err(read_video, p, max_frames=0)
    assert str(p) in _err(read_video, p, start=-1)
    assert str(p) in _err(read_video, p, fps=0)
    assert str(p) in _err(read_video, p, start=2, match="only 2 frames")
    out = tmp_path / "o.mp4"
    assert str(out) in _err(write_video, Video(noise(2, 4, 6), Fraction(25)), out, pix_fmt="yuv411p")


def test_variable_frame_rate_keeps_every_frame(tmp_path):
    p = tmp_path / "vfr.mkv"
    frames = noise(5, 8, 8)
    with av.open(str(p), "w") as c:
        s = c.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = 8, 8, "bgr0"
        s.codec_context.time_base = Fraction(1, 1000)
        for pts, f in zip([0, 40, 120, 130, 300], frames):
            vf = av.VideoFrame.from_ndarray(f, "rgb24").reformat(format="bgr0")
            vf.pts, vf.time_base = pts, Fraction(1, 1000)
            c.mux(s.encode(vf))
        c.mux(s.encode(None))
    r = read_video(p)
    np.testing.assert_array_equal(r.frames, frames)
    assert isinstance(r.fps, Fraction) and r.fps > 0
    assert read_video(p, fps=Fraction(30000, 1001)).fps == Fraction(30000, 1001)
