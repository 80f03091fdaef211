"""Headerless planar YUV (.yuv) files: the caller states width, height, pix_fmt and fps.

Supported pix_fmts: yuv420p (default), yuv422p, yuv444p, yuv420p10le, yuv422p10le,
yuv444p10le, gray, gray10le. Samples are BT.709 limited range (see ``inr_codec.io.colour``);
10-bit samples are little-endian 16-bit words. Frame rate defaults to 25.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from inr_codec.errors import VideoError
from inr_codec.io.colour import PIX_FMTS, PixFmt, get_pix_fmt, yuv_to_rgb
from inr_codec.io.common import Source, require_file, select_range
from inr_codec.io.writer import PlanarFileWriter

DEFAULT_PIX_FMT = "yuv420p"
DEFAULT_FPS = Fraction(25)


def _fmt(pix_fmt: str | None, path, verb: str) -> PixFmt:
    name = pix_fmt or DEFAULT_PIX_FMT
    if name not in PIX_FMTS:
        raise VideoError(f"cannot {verb} {path}: pix_fmt {name!r} is not supported for raw .yuv; "
                         f"use one of {', '.join(PIX_FMTS)}")
    return get_pix_fmt(name)


def _layout(path, width, height, pix_fmt) -> tuple[PixFmt, int, int]:
    """Check the stated size against the file size; return (format, bytes per frame, frame count)."""
    p = require_file(path)
    if width is None or height is None:
        raise VideoError(f"{path} is a raw .yuv file without a header; give its width and height "
                         "(e.g. data.width=1920 data.height=1080) and, if not yuv420p, its pix_fmt")
    if int(width) < 1 or int(height) < 1:
        raise VideoError(f"{path}: width and height must be positive, got {width}x{height}")
    fmt = _fmt(pix_fmt, path, "read")
    fb = fmt.frame_bytes(int(height), int(width))
    try:
        size = p.stat().st_size
    except OSError as e:
        raise VideoError(f"cannot read {path}: {e.strerror or e}") from None
    if size == 0:
        raise VideoError(f"{path} is empty (0 bytes); give a non-empty .yuv file")
    if size % fb:
        raise VideoError(f"{path} has {size} bytes, not a whole number of {width}x{height} {fmt.name} frames "
                         f"({fb} bytes each); check width, height and pix_fmt")
    return fmt, fb, size // fb


def probe(path, *, width=None, height=None, pix_fmt=None) -> tuple[int, int, int, Fraction, str]:
    fmt, _, n = _layout(path, width, height, pix_fmt)
    return n, int(height), int(width), DEFAULT_FPS, fmt.name


def open_frames(path, *, width=None, height=None, pix_fmt=None, fps=None, start=0, max_frames=None) -> Source:
    """Check the layout against the file size now; the frames come later, read at their offsets, as
    uint8 RGB (BT.709, limited range)."""
    fmt, fb, n = _layout(path, width, height, pix_fmt)
    start, count = select_range(n, start, max_frames, path)
    return Source(_frames(path, fmt, int(width), int(height), fb, start, count),
                  DEFAULT_FPS if fps is None else fps, fmt.name, count)


def _frames(path, fmt: PixFmt, w: int, h: int, fb: int, start: int, count: int):
    shapes = fmt.plane_shapes(h, w)
    try:
        with open(path, "rb") as f:
            f.seek(start * fb)
            for i in range(count):
                buf = f.read(fb)
                if len(buf) != fb:
                    raise VideoError(f"{path}: short read at frame {start + i}; was the file changed while reading?")
                planes, pos = [], 0
                for ph, pw in shapes:
                    planes.append(np.frombuffer(buf, dtype=fmt.dtype, count=ph * pw, offset=pos).reshape(ph, pw))
                    pos += ph * pw * fmt.dtype.itemsize
                yield yuv_to_rgb(planes, fmt)
    except OSError as e:
        raise VideoError(f"cannot read {path}: {e.strerror or e}") from None


class Writer(PlanarFileWriter):
    """Streaming raw planar YUV writer (yuv420p by default), BT.709 limited range."""

    def __init__(self, path, *, pix_fmt: str | None = None):
        self._fmt = _fmt(pix_fmt, path, "write")
        super().__init__(path)


def write(frames: np.ndarray, path, *, pix_fmt: str | None = None) -> None:
    """Write uint8 RGB frames as raw planar YUV in one call (see :class:`Writer`)."""
    with Writer(path, pix_fmt=pix_fmt) as w:
        w.write(frames)
