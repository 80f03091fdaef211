"""The ``Video`` record and the read/write/probe entry points that dispatch on the path.

Readers, by what ``path`` is:
  a folder -> PNG frames (natural sort order), ``.y4m`` -> YUV4MPEG2, ``.yuv`` -> raw planar
  YUV (needs ``width`` and ``height``), anything else -> PyAV (mp4, mkv, mov, avi, webm, ...).
Writers, by what ``path`` is:
  an existing folder or a name without a suffix -> PNG folder (``frame_00001.png``, ...),
  ``.y4m``, ``.yuv``, or ``.mp4 .m4v .mkv .mov .avi .webm`` through PyAV.

``width``, ``height`` and ``pix_fmt`` describe a headerless ``.yuv`` file; for every other
format the file states them, and a given value that disagrees with the file is an error
(use :func:`resize_video` to rescale). ``fps`` overrides the file's rate (raw .yuv and PNG
folders default to 25). Every failure is a one-line :class:`~inr_codec.errors.VideoError`.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from inr_codec.errors import VideoError
from inr_codec.io import png, pyav, rawyuv, y4m
from inr_codec.io.common import Source, _check_parent, check_frames, check_selection, select_range, to_fraction
from inr_codec.io.writer import FrameWriter


@dataclass
class Video:
    """Decoded frames plus the metadata needed to write them back at the same size and rate."""

    frames: np.ndarray  # uint8, (T, H, W, 3), RGB, C-contiguous
    fps: Fraction
    source_pix_fmt: str = "rgb24"
    path: str = ""

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])


def _kind(path) -> str:
    p = Path(path)
    if p.is_dir():
        return "png"
    ext = p.suffix.lower()
    if ext == ".y4m":
        return "y4m"
    if ext == ".yuv":
        return "yuv"
    return "pyav"


def _check_stated(path, kind, width, height, pix_fmt, h, w, pix) -> None:
    if kind == "yuv":
        return
    if (width is not None and int(width) != w) or (height is not None and int(height) != h):
        raise VideoError(f"{path} is {w}x{h} but width={width}, height={height} were given; these describe "
                         "raw .yuv files only (leave them unset, or resize with resize_video)")
    if pix_fmt is not None and pix_fmt != pix:
        raise VideoError(f"{path} is stored as {pix} but pix_fmt={pix_fmt!r} was given; pix_fmt describes "
                         "raw .yuv files only (leave it unset)")


def _missing(path) -> None:
    if not os.path.exists(path):
        raise VideoError(f"no such file: {path}")


def _open_source(path, width, height, pix_fmt, fps, max_frames, start) -> tuple[str, Source]:
    """The checks ``read_video`` and ``iter_video`` share, done before any frame is decoded."""
    path = os.fspath(path)
    _missing(path)
    check_selection(start, max_frames, path)
    rate = None if fps is None else to_fraction(fps, path)
    kind = _kind(path)
    if kind == "yuv":
        return kind, rawyuv.open_frames(path, width=width, height=height, pix_fmt=pix_fmt, fps=rate, start=start,
                                        max_frames=max_frames)
    opener = {"png": png.open_frames, "y4m": y4m.open_frames, "pyav": pyav.open_frames}[kind]
    src = opener(path, fps=rate, start=start, max_frames=max_frames)
    if src.fps is None:
        raise VideoError(f"{path} does not state a frame rate; give one with data.fps= (e.g. data.fps=25)")
    return kind, src


def read_video(path, *, width=None, height=None, pix_fmt=None, fps=None, max_frames=None, start=0) -> Video:
    """Read a video as uint8 RGB frames (BT.709; 10-bit sources rounded to 8 bit).

    ``start`` is the first frame index, ``max_frames`` caps the number read (None: all).
    """
    path = os.fspath(path)
    kind, src = _open_source(path, width, height, pix_fmt, fps, max_frames, start)
    if src.count is None:  # PyAV: the count is known once decoded
        frames = np.stack(list(src.frames))
    else:  # one preallocated array, no list of copies
        frames = None
        for i, fr in enumerate(src.frames):
            if frames is None:
                frames = np.empty((src.count,) + fr.shape, dtype=np.uint8)
            frames[i] = fr
    _check_stated(path, kind, width, height, pix_fmt, frames.shape[1], frames.shape[2], src.pix_fmt)
    return Video(frames=np.ascontiguousarray(frames), fps=src.fps, source_pix_fmt=src.pix_fmt, path=path)


class VideoChunks:
    """Frames of a video in chunks, decoded as they are asked for; see :func:`iter_video`.

    Iterating yields uint8 RGB arrays of shape (n, H, W, 3), n = ``chunk`` except for a shorter last
    one; each chunk is a new array the caller may keep. An iterator: one pass; ``close()`` (or
    ``with``) releases the file before the end.
    """

    def __init__(self, path: str, kind: str, src: Source, chunk: int, checks):
        self.path, self.fps, self.source_pix_fmt = path, src.fps, src.pix_fmt
        self.num_frames = src.count  # None for PyAV containers (only decoding tells)
        self._kind, self._src, self._chunk, self._checks, self._first = kind, src, chunk, checks, True

    def __iter__(self):
        return self

    def __next__(self) -> np.ndarray:
        first = next(self._src.frames)  # StopIteration ends the iteration; a reader's error passes through
        if self._first:  # the size the caller stated, checked against the first frame as read_video does
            _check_stated(self.path, self._kind, *self._checks, first.shape[0], first.shape[1], self.source_pix_fmt)
            self._first = False
        out = np.empty((self._chunk,) + first.shape, dtype=np.uint8)
        out[0] = first
        n = 1
        while n < self._chunk and (fr := next(self._src.frames, None)) is not None:
            out[n] = fr
            n += 1
        return out if n == self._chunk else out[:n].copy()

    def close(self) -> None:
        self._src.frames.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def iter_video(path, *, chunk: int = 16, width=None, height=None, pix_fmt=None, fps=None, max_frames=None,
               start=0) -> VideoChunks:
    """Read a video ``chunk`` frames at a time: memory bounded by a chunk, not the video.

    Same arguments, frames and one-line errors as :func:`read_video`; everything that can be checked
    without decoding (missing file, bad range, no frame rate, raw .yuv layout, y4m headers) fails
    here, the rest (a truncated stream, a PyAV ``start`` past the end) at the chunk where it shows.
    The returned :class:`VideoChunks` carries ``fps``, ``source_pix_fmt`` and ``num_frames``.
    PyAV containers are decoded once in order; y4m and raw .yuv seek to each frame's offset;
    PNG folders open one file per frame.
    """
    path = os.fspath(path)
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise VideoError(f"{path}: chunk must be a number of frames >= 1, got {chunk!r}")
    kind, src = _open_source(path, width, height, pix_fmt, fps, max_frames, start)
    return VideoChunks(path, kind, src, int(chunk), (width, height, pix_fmt))


def probe_video(path, *, width=None, height=None, pix_fmt=None, fps=None, max_frames=None,
                start=0) -> tuple[int, int, int, Fraction]:
    """(frames, height, width, fps) that :func:`read_video` with the same arguments would give.

    Sizes come from headers and file sizes (y4m, yuv, PNG); PyAV containers that do not state
    their frame count are decoded (but not converted) to count frames.
    """
    path = os.fspath(path)
    _missing(path)
    check_selection(start, max_frames, path)
    st = os.stat(path)  # the cache holds a file's answer while the file is unchanged
    return _probe(path, st.st_size, st.st_mtime_ns, width, height, pix_fmt, fps, max_frames, start)


@functools.lru_cache(maxsize=32)
def _probe(path: str, _size: int, _mtime_ns: int, width, height, pix_fmt, fps, max_frames,
           start) -> tuple[int, int, int, Fraction]:
    """probe_video's work; a command's checks and its work probe once (a PyAV count may decode the file)."""
    kind = _kind(path)
    if kind == "yuv":
        n, h, w, rate, _ = rawyuv.probe(path, width=width, height=height, pix_fmt=pix_fmt)
    else:
        n, h, w, rate, pix = {"png": png.probe, "y4m": y4m.probe, "pyav": pyav.probe}[kind](path)
        _check_stated(path, kind, width, height, pix_fmt, h, w, pix)
    if fps is not None:
        rate = to_fraction(fps, path)
    if rate is None:
        raise VideoError(f"{path} does not state a frame rate; give one with data.fps= (e.g. data.fps=25)")
    _, count = select_range(n, start, max_frames, path)
    return count, h, w, rate


WRITE_EXTENSIONS = (".y4m", ".yuv") + tuple(pyav.CONTAINERS)


def open_writer(path, fps, *, pix_fmt=None, crf=None, total: int | None = None) -> FrameWriter:
    """A streaming writer for ``path`` (the extension picks the format, as in :func:`write_video`).

    ``with open_writer(path, fps) as w: w.write(batch) ...``: the output appears at ``path`` when the
    ``with`` block ends cleanly and not at all otherwise. ``total`` (the expected frame count, optional)
    only sets the digits of PNG names from the start.
    """
    path = os.fspath(path)
    p = Path(path)
    fps = to_fraction(fps, path)
    if p.is_dir() or p.suffix == "":
        if pix_fmt not in (None, "rgb", "rgb24"):
            raise VideoError(f"cannot write {path}: PNG folders are RGB; pix_fmt={pix_fmt!r} does not apply")
        return png.Writer(path, total=total)
    ext = p.suffix.lower()
    if ext == ".y4m":
        return y4m.Writer(path, fps, pix_fmt=pix_fmt)
    if ext == ".yuv":
        return rawyuv.Writer(path, pix_fmt=pix_fmt)
    if ext in pyav.CONTAINERS:
        return pyav.Writer(path, fps, pix_fmt=pix_fmt, crf=crf)
    raise VideoError(f"cannot write {path}: unsupported extension {p.suffix!r}; use one of "
                     f"{', '.join(WRITE_EXTENSIONS)} or a folder name for PNG frames")


def write_video(video: Video, path, *, pix_fmt=None, crf=None) -> None:
    """Write ``video`` to ``path`` atomically, with its exact frame count, width, height and fps.

    ``pix_fmt``: .y4m/.yuv: yuv420p (default), yuv422p, yuv444p, their 10-bit ``...10le`` forms,
    gray; PyAV containers: yuv420p (default), yuv422p, yuv444p (+10le), or "rgb" for lossless
    RGB. ``crf`` sets the quality of lossy codecs (default 18). PNG folders store no rate.
    One batch through :func:`open_writer`.
    """
    path = os.fspath(path)
    frames = check_frames(video.frames, path)
    with open_writer(path, video.fps, pix_fmt=pix_fmt, crf=crf, total=len(frames)) as w:
        w.write(frames)


def check_output(path) -> None:
    """Fail before the work, not after it: ``path`` has a writer and its folder takes files."""
    p = Path(os.fspath(path))
    if p.is_dir() or p.suffix == "":
        if p.is_dir() and any(p.iterdir()):
            raise VideoError(f"cannot write {path}: the folder is not empty; choose a new or empty folder")
    elif p.suffix.lower() not in WRITE_EXTENSIONS:
        raise VideoError(f"cannot write {path}: unsupported extension {p.suffix!r}; use one of "
                         f"{', '.join(WRITE_EXTENSIONS)} or a folder name for PNG frames")
    _check_parent(p)


def resize_video(video: Video, width: int, height: int) -> Video:
    """Resize every frame to ``width`` x ``height`` (antialiased bilinear, i.e. area-like when
    downscaling), returning a new uint8 :class:`Video` with the same fps and metadata."""
    import torch
    import torch.nn.functional as F

    if int(width) < 1 or int(height) < 1:
        raise VideoError(f"cannot resize {video.path or 'video'} to {width}x{height}: sizes must be positive")
    if (int(width), int(height)) == (video.width, video.height):
        return Video(video.frames.copy(), video.fps, video.source_pix_fmt, video.path)
    out = np.empty((video.num_frames, int(height), int(width), 3), dtype=np.uint8)
    with torch.no_grad():
        for i in range(0, video.num_frames, 16):
            x = torch.from_numpy(video.frames[i:i + 16]).permute(0, 3, 1, 2).float()
            y = F.interpolate(x, size=(int(height), int(width)), mode="bilinear", align_corners=False,
                              antialias=True)
            out[i:i + 16] = y.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return Video(out, video.fps, video.source_pix_fmt, video.path)


def parse_crop(spec) -> tuple[int, int] | None:
    """``data.crop`` as (width, height): 'WxH' (e.g. 1280x640), or None for no crop."""
    if spec in (None, "", "none"):
        return None
    try:
        w, h = (int(v) for v in str(spec).lower().split("x"))
    except ValueError:
        raise VideoError(f"data.crop={spec} is not a size; give WIDTHxHEIGHT, e.g. data.crop=1280x640") from None
    if w < 1 or h < 1:
        raise VideoError(f"data.crop={spec}: width and height must be positive")
    return w, h


def centre_crop(video: Video, width: int, height: int) -> Video:
    """The centre ``width`` x ``height`` region of every frame (offsets rounded down, as HNeRV's
    640x1280 Bunny crop). Asked for explicitly; the file then holds the cropped frames."""
    return Video(centre_crop_frames(video.frames, width, height, video.path), video.fps, video.source_pix_fmt,
                 video.path)


def centre_crop_frames(frames: np.ndarray, width: int, height: int, path=None) -> np.ndarray:
    """The centre region of uint8 frames (T, H, W, 3); see :func:`centre_crop`."""
    h, w = frames.shape[1:3]
    check_crop(w, h, width, height, path)
    y, x = (h - height) // 2, (w - width) // 2
    return np.ascontiguousarray(frames[:, y:y + height, x:x + width])


def check_crop(frame_width: int, frame_height: int, width: int, height: int, path=None) -> None:
    """A crop of ``width`` x ``height`` must fit inside a frame of ``frame_width`` x ``frame_height``."""
    if width > frame_width or height > frame_height:
        raise VideoError(f"cannot crop {path or 'video'} ({frame_width}x{frame_height}) to {width}x{height}: "
                         f"the crop must fit inside the frame")
