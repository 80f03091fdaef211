"""Streaming video I/O: iter_video's chunks against read_video, and the streaming writers' atomicity."""

from fractions import Fraction

import numpy as np
import pytest

from inr_codec.errors import VideoError
from inr_codec.io import Video, iter_video, read_video, write_video

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
        stream = iter_video(path, chunk=3, start=start, max_frames=max_frames, **kw)
        chunks = list(stream)
        assert [len(c) for c in chunks[:-1]] == [3] * (len(chunks) - 1) and 1 <= len(chunks[-1]) <= 3, kind
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
