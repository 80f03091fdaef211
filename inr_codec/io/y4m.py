"""YUV4MPEG2 (.y4m) reading and writing in numpy, 8 and 10 bit.

Header tags read: W, H, F (frame rate num:den), C (colour space) and the FFmpeg extension
XCOLORRANGE=FULL|LIMITED (limited when absent). Colour spaces: 420jpeg, 420paldv, 420mpeg2,
420, 422, 444, mono and their 10-bit forms 420p10, 422p10, 444p10, mono10 (C absent means
420jpeg). Chroma siting variants are all read with the same centred bilinear upsampler
(see ``inr_codec.io.colour``). Written files carry ``C420jpeg`` (the siting our box
downsampler produces), ``C422``, ``C444``, ``Cmono`` or the ``p10`` forms, and
``XCOLORRANGE=LIMITED``.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from inr_codec.errors import VideoError
from inr_codec.io.colour import PixFmt, get_pix_fmt, yuv_to_rgb
from inr_codec.io.common import Source, require_file, select_range
from inr_codec.io.writer import PlanarFileWriter

_C_TO_PIX = {
    "420jpeg": "yuv420p", "420paldv": "yuv420p", "420mpeg2": "yuv420p", "420": "yuv420p",
    "422": "yuv422p", "444": "yuv444p", "mono": "gray",
    "420p10": "yuv420p10le", "422p10": "yuv422p10le", "444p10": "yuv444p10le", "mono10": "gray10le",
}
_PIX_TO_C = {"yuv420p": "420jpeg", "yuv422p": "422", "yuv444p": "444", "gray": "mono",
             "yuv420p10le": "420p10", "yuv422p10le": "422p10", "yuv444p10le": "444p10", "gray10le": "mono10"}
WRITE_PIX_FMTS = tuple(_PIX_TO_C)

_MAGIC = b"YUV4MPEG2"


class _Header:
    def __init__(self, width: int, height: int, fps: Fraction | None, fmt: PixFmt, full_range: bool, size: int):
        self.width, self.height, self.fps, self.fmt, self.full_range = width, height, fps, fmt, full_range
        self.size = size  # bytes of the stream header line, newline included


def _parse_header(f, path) -> _Header:
    line = f.readline(4096)
    if not line.startswith(_MAGIC) or not line.endswith(b"\n"):
        raise VideoError(f"{path} is not a YUV4MPEG2 (.y4m) file: bad stream header")
    width = height = None
    fps = None
    cs = "420jpeg"
    full = False
    for tok in line[len(_MAGIC):].decode("ascii", "replace").split():
        key, val = tok[0], tok[1:]
        try:
            if key == "W":
                width = int(val)
            elif key == "H":
                height = int(val)
            elif key == "F":
                num, den = (int(x) for x in val.split(":"))
                fps = Fraction(num, den) if num > 0 and den > 0 else None
            elif key == "C":
                cs = val
            elif key == "X" and val.upper().startswith("COLORRANGE="):
                full = val.split("=", 1)[1].upper() == "FULL"
        except (ValueError, ZeroDivisionError):
            raise VideoError(f"{path}: bad y4m header tag {tok!r}") from None
    if not width or not height or width < 1 or height < 1:
        raise VideoError(f"{path}: the y4m header lacks a valid width (W) and height (H)")
    if cs not in _C_TO_PIX:
        raise VideoError(f"{path}: unsupported y4m colour space C{cs}; supported: "
                         + ", ".join(_C_TO_PIX) + " (convert with ffmpeg -pix_fmt yuv420p)")
    return _Header(width, height, fps, get_pix_fmt(_C_TO_PIX[cs]), full, len(line))


def _frame_offsets(f, path, hdr: _Header, limit: int | None = None) -> list[int]:
    """Byte offsets of each frame's pixel data (scanning the FRAME headers, seeking past pixels)."""
    fb = hdr.fmt.frame_bytes(hdr.height, hdr.width)
    end = f.seek(0, 2)
    pos = hdr.size
    offsets = []
    while pos < end and (limit is None or len(offsets) < limit):
        f.seek(pos)
        line = f.readline(1024)
        if not line.startswith(b"FRAME") or not line.endswith(b"\n"):
            raise VideoError(f"{path}: bad y4m frame header at byte {pos} (frame {len(offsets)}); "
                             "the file is corrupted or not a y4m file")
        data = pos + len(line)
        if data + fb > end:
            raise VideoError(f"{path} is truncated: frame {len(offsets)} has {end - data} of {fb} bytes; "
                             "re-create or re-download it")
        offsets.append(data)
        pos = data + fb
    return offsets


def _open(path):
    p = require_file(path)
    try:
        return open(p, "rb")
    except OSError as e:
        raise VideoError(f"cannot read {path}: {e.strerror or e}") from None


def probe(path) -> tuple[int, int, int, Fraction | None, str]:
    with _open(path) as f:
        hdr = _parse_header(f, path)
        n = len(_frame_offsets(f, path, hdr))
    return n, hdr.height, hdr.width, hdr.fps, hdr.fmt.name


def open_frames(path, *, fps=None, start=0, max_frames=None) -> Source:
    """Check the header and every frame's header now; the frames come later, one at a time, as uint8 RGB
    (BT.709, range from XCOLORRANGE, limited by default), seeking to each frame's offset."""
    with _open(path) as f:
        hdr = _parse_header(f, path)
        offsets = _frame_offsets(f, path, hdr)
    start, count = select_range(len(offsets), start, max_frames, path)
    return Source(_frames(path, hdr, offsets[start:start + count]), hdr.fps if fps is None else fps,
                  hdr.fmt.name, count)


def _frames(path, hdr: _Header, offsets: list[int]):
    shapes = hdr.fmt.plane_shapes(hdr.height, hdr.width)
    fb = hdr.fmt.frame_bytes(hdr.height, hdr.width)
    with _open(path) as f:
        for off in offsets:
            f.seek(off)
            buf = f.read(fb)
            if len(buf) != fb:
                raise VideoError(f"{path}: short read at byte {off}; was the file changed while reading?")
            planes, pos = [], 0
            for h, w in shapes:
                n = h * w
                planes.append(np.frombuffer(buf, dtype=hdr.fmt.dtype, count=n, offset=pos).reshape(h, w))
                pos += n * hdr.fmt.dtype.itemsize
            yield yuv_to_rgb(planes, hdr.fmt, full_range=hdr.full_range)


class Writer(PlanarFileWriter):
    """Streaming .y4m writer (yuv420p unless ``pix_fmt`` says otherwise), BT.709 limited range."""

    _frame_marker = b"FRAME\n"

    def __init__(self, path, fps: Fraction, *, pix_fmt: str | None = None):
        pix_fmt = pix_fmt or "yuv420p"
        if pix_fmt not in _PIX_TO_C:
            raise VideoError(f"cannot write {path}: pix_fmt {pix_fmt!r} is not supported for .y4m; "
                             f"use one of {', '.join(WRITE_PIX_FMTS)}")
        self.fps, self.pix_fmt, self._fmt = fps, pix_fmt, get_pix_fmt(pix_fmt)
        super().__init__(path)

    def _header(self, h: int, w: int) -> bytes:
        return (f"YUV4MPEG2 W{w} H{h} F{self.fps.numerator}:{self.fps.denominator} Ip A1:1 "
                f"C{_PIX_TO_C[self.pix_fmt]} XCOLORRANGE=LIMITED\n").encode("ascii")


def write(frames: np.ndarray, fps: Fraction, path, *, pix_fmt: str | None = None) -> None:
    """Write uint8 RGB frames as .y4m in one call (see :class:`Writer`)."""
    with Writer(path, fps, pix_fmt=pix_fmt) as w:
        w.write(frames)
