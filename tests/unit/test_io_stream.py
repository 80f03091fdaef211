"""Streaming video I/O: iter_video's chunks against read_video, and the streaming writers' atomicity."""

from fractions import Fraction

import numpy as np
import pytest

from inr_codec.errors import VideoError
from inr_codec.io import Video, iter_video, open_writer, png, read_video, write_video

FPS = Fraction(30000, 1001)


def noise(t=7, h=10, w=14, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def _inputs(tmp_path):
    """One small clip in every input kind (lossless where the format allows)."""
    frames = noise()
    paths = {"png": tmp_path / "frames", "y4m": tmp_path / "c.y4m", "yuv": tmp_path / "c.yuv",
             "mkv": tmp_path / "c.mkv"}
    for kind, p in paths.items():
        write_video(Video(frames, FPS), p, pix_fmt="rgb" if kind in ("png", "mkv") else "yuv444p")
    return paths


@pytest.mark.parametrize("start,max_frames", [(0, None), (2, 4), (5, None), (1, 100)])
def test_chunks_equal_read_video_for_every_kind(tmp_path, start, max_frames):
    for kind, path in _inputs(tmp_path).items():
        kw = {"width": 14, "height": 10, "pix_fmt": "yuv444p"} if kind == "yuv" else {}
        whole = read_video(path, start=start, max_frames=max_frames, **kw)
        chunk = 1 if start == 5 else 3
        stream = iter_video(path, chunk=chunk, start=start, max_frames=max_frames, **kw)
        chunks = list(stream)
        assert [len(c) for c in chunks[:-1]] == [chunk] * (len(chunks) - 1), kind
        assert 1 <= len(chunks[-1]) <= chunk, kind
        assert all(c.dtype == np.uint8 and c.flags["C_CONTIGUOUS"] for c in chunks)
        np.testing.assert_array_equal(np.concatenate(chunks), whole.frames, err_msg=kind)
        assert (stream.fps, stream.source_pix_fmt) == (whole.fps, whole.source_pix_fmt), kind
        assert stream.num_frames == (None if kind == "mkv" else whole.num_frames), kind


def test_iter_video_fails_early_with_read_videos_errors(tmp_path):
    paths = _inputs(tmp_path)
    for path, kw in [(tmp_path / "missing.mp4", {}), (paths["y4m"], {"start": 7}), (paths["png"], {"start": -1}),
                     (paths["yuv"], {}), (paths["y4m"], {"max_frames": 0})]:
        with pytest.raises(VideoError) as read_err:
            read_video(path, **kw)
        with pytest.raises(VideoError) as iter_err:
            iter_video(path, **kw)  # before any chunk is asked for
        assert str(iter_err.value) == str(read_err.value) and "\n" not in str(iter_err.value)
    with pytest.raises(VideoError, match="chunk must be"):
        iter_video(paths["y4m"], chunk=0)
    with pytest.raises(VideoError, match="width=20"):  # a stated size that disagrees: at the first chunk
        next(iter_video(paths["y4m"], width=20, height=10))
    with pytest.raises(VideoError, match="start=9 but the video has only 7 frames"):  # PyAV: known once decoded
        next(iter_video(paths["mkv"], start=9))


def test_iter_video_close_releases_the_pyav_container(tmp_path):
    path = _inputs(tmp_path)["mkv"]
    with iter_video(path, chunk=2) as stream:
        first = next(stream)
    assert first.shape == (2, 10, 14, 3)
    with pytest.raises(StopIteration):  # closed: no more chunks
        next(stream)


# ---------------------------------------------------------------- streaming writers

OUTPUTS = [("c.y4m", {}), ("c.yuv", {"pix_fmt": "yuv422p"}), ("frames", {}), ("c.mp4", {}), ("c.mov", {"crf": 30})]


@pytest.mark.parametrize("name,kw", OUTPUTS)
def test_batches_give_the_bytes_of_one_call(tmp_path, name, kw):
    frames = noise(t=7, h=11, w=13)
    write_video(Video(frames, FPS), tmp_path / f"one_{name}", **kw)
    with open_writer(tmp_path / f"many_{name}", FPS, **kw) as w:  # no total: PNG names settle at the end
        for batch in (frames[:3], frames[3], frames[4:6], frames[6:]):
            w.write(batch)
        assert not (tmp_path / f"many_{name}").exists()  # nothing at the name before the end
    assert w.count == 7
    one, many = tmp_path / f"one_{name}", tmp_path / f"many_{name}"
    if one.is_dir():
        assert sorted(p.name for p in one.iterdir()) == sorted(p.name for p in many.iterdir())
        pairs = [(one / p.name, many / p.name) for p in one.iterdir()]
    else:
        pairs = [(one, many)]
    for a, b in pairs:
        if a.suffix in (".mp4", ".mov"):  # an encoder's bytes are not promised repeatable: the frames are
            np.testing.assert_array_equal(read_video(a).frames, read_video(b).frames)
        else:
            assert a.read_bytes() == b.read_bytes()


def test_png_names_widen_when_the_count_needs_it(tmp_path, monkeypatch):
    monkeypatch.setattr(png.Writer, "MIN_DIGITS", 1)
    with open_writer(tmp_path / "f", FPS) as w:
        for fr in noise(t=11, h=3, w=4):
            w.write(fr)
    assert sorted(p.name for p in (tmp_path / "f").iterdir())[:2] == ["frame_01.png", "frame_02.png"]
    np.testing.assert_array_equal(read_video(tmp_path / "f").frames, noise(t=11, h=3, w=4))


@pytest.mark.parametrize("name", ["c.y4m", "c.yuv", "frames", "c.mkv"])
@pytest.mark.parametrize("error", [RuntimeError("decoder broke"), KeyboardInterrupt()])
def test_failure_midway_leaves_nothing_and_passes_the_error_on(tmp_path, name, error):
    frames = noise()
    with pytest.raises(type(error)) as got:
        with open_writer(tmp_path / name, FPS) as w:
            w.write(frames[:3])
            assert len(list(tmp_path.iterdir())) == 1  # the temporary
            raise error
    assert got.value is error  # the caller's error, not one of the writer's
    assert list(tmp_path.iterdir()) == []


def test_writer_errors_are_one_line_and_close_the_writer(tmp_path):
    frames = noise()
    w = open_writer(tmp_path / "c.y4m", FPS)
    w.write(frames[:2])
    with pytest.raises(VideoError, match="every frame must have one size"):
        w.write(noise(t=1, h=12, w=14))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(VideoError, match="the writer is closed"):
        w.write(frames)
    with pytest.raises(VideoError, match="no frames were written"):
        with open_writer(tmp_path / "d.mp4", FPS):
            pass
    with pytest.raises(VideoError, match="pix_fmt 'rgb' is not supported for .y4m"):
        open_writer(tmp_path / "e.y4m", FPS, pix_fmt="rgb")
    assert list(tmp_path.iterdir()) == []
