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

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from inr_codec.errors import VideoError
from inr_codec.io import png, pyav, rawyuv, y4m
from inr_codec.io.common import _check_parent, check_selection, select_range, to_fraction


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


def read_video(path, *, width=None, height=None, pix_fmt=None, fps=None, max_frames=None, start=0) -> Video:
    """Read a video as uint8 RGB frames (BT.709; 10-bit sources rounded to 8 bit).

    ``start`` is the first frame index, ``max_frames`` caps the number read (None: all).
    """
    path = os.fspath(path)
    _missing(path)
    check_selection(start, max_frames, path)
    rate = None if fps is None else to_fraction(fps, path)
    kind = _kind(path)
    if kind == "yuv":
        frames, rate, pix = rawyuv.read(path, width=width, height=height, pix_fmt=pix_fmt, fps=rate,
                                        start=start, max_frames=max_frames)
    else:
        reader = {"png": png.read, "y4m": y4m.read, "pyav": pyav.read}[kind]
        frames, rate, pix = reader(path, fps=rate, start=start, max_frames=max_frames)
        if rate is None:
            raise VideoError(f"{path} does not state a frame rate; give one with data.fps= (e.g. data.fps=25)")
        _check_stated(path, kind, width, height, pix_fmt, frames.shape[1], frames.shape[2], pix)
    return Video(frames=np.ascontiguousarray(frames), fps=rate, source_pix_fmt=pix, path=path)


def iter_video(path, chunk: int, *, width=None, height=None, pix_fmt=None, fps=None, max_frames=None, start=0,
               count: int | None = None):
    """The frames :func:`read_video` would give, as uint8 arrays of ``chunk`` frames (the last may be
    shorter): memory is bounded by one chunk. PyAV files are decoded in one pass; the other formats
    seek to each chunk. ``count``: the frame count :func:`probe_video` already gave for the same
    arguments (probing a container that does not state its count is itself a whole decode)."""
    if count is None:
        count = probe_video(path, width=width, height=height, pix_fmt=pix_fmt, fps=fps, max_frames=max_frames,
                            start=start)[0]
    if _kind(os.fspath(path)) == "pyav":
        yield from pyav.iter_read(os.fspath(path), chunk, start=start, count=count)
        return
    for first in range(start, start + count, chunk):
        yield read_video(path, width=width, height=height, pix_fmt=pix_fmt, fps=fps, start=first,
                         max_frames=min(chunk, start + count - first)).frames


def probe_video(path, *, width=None, height=None, pix_fmt=None, fps=None, max_frames=None,
                start=0) -> tuple[int, int, int, Fraction]:
    """(frames, height, width, fps) that :func:`read_video` with the same arguments would give.

    Sizes come from headers and file sizes (y4m, yuv, PNG); PyAV containers that do not state
    their frame count are decoded (but not converted) to count frames.
    """
    path = os.fspath(path)
    _missing(path)
    check_selection(start, max_frames, path)
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


def write_video(video: Video, path, *, pix_fmt=None, crf=None) -> None:
    """Write ``video`` to ``path`` atomically, with its exact frame count, width, height and fps.

    ``pix_fmt``: .y4m/.yuv: yuv420p (default), yuv422p, yuv444p, their 10-bit ``...10le`` forms,
    gray; PyAV containers: yuv420p (default), yuv422p, yuv444p (+10le), or "rgb" for lossless
    RGB. ``crf`` sets the quality of lossy codecs (default 18). PNG folders store no rate.
    """
    path = os.fspath(path)
    p = Path(path)
    fps = to_fraction(video.fps, path)
    frames = video.frames
    if p.is_dir() or p.suffix == "":
        if pix_fmt not in (None, "rgb", "rgb24"):
            raise VideoError(f"cannot write {path}: PNG folders are RGB; pix_fmt={pix_fmt!r} does not apply")
        png.write(frames, path)
    elif p.suffix.lower() == ".y4m":
        y4m.write(frames, fps, path, pix_fmt=pix_fmt)
    elif p.suffix.lower() == ".yuv":
        rawyuv.write(frames, path, pix_fmt=pix_fmt)
    elif p.suffix.lower() in pyav.CONTAINERS:
        pyav.write(frames, fps, path, pix_fmt=pix_fmt, crf=crf)
    else:
        raise VideoError(f"cannot write {path}: unsupported extension {p.suffix!r}; use one of "
                         f"{', '.join(WRITE_EXTENSIONS)} or a folder name for PNG frames")


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
    if width > w or height > h:
        raise VideoError(f"cannot crop {path or 'video'} ({w}x{h}) to {width}x{height}: "
                         f"the crop must fit inside the frame")
    y, x = (h - height) // 2, (w - width) // 2
    return np.ascontiguousarray(frames[:, y:y + height, x:x + width])
