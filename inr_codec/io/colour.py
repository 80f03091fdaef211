"""RGB <-> Y'CbCr conversion in numpy: BT.709, 8 or 10 bit, 4:2:0 / 4:2:2 / 4:4:4 / gray.

Conventions (used by the y4m and raw .yuv readers and writers; PyAV sources are
converted by libswscale instead, see ``inr_codec.io.pyav``):

* Matrix: BT.709 (Kr = 0.2126, Kb = 0.0722).
* Range: limited ("tv"/"mpeg") by default: Y in [16, 235] and Cb/Cr in [16, 240]
  at 8 bit, scaled by 2**(bits-8) at higher depths. ``full_range=True`` gives
  Y in [0, 2**bits-1] and chroma centred on 2**(bits-1).
* Chroma downsampling (RGB -> 4:2:x): box average of each 2x1 / 2x2 block, with the
  last row/column replicated for odd sizes, so a chroma sample sits at the centre of
  its luma block (JPEG/MPEG-1 siting).
* Chroma upsampling (4:2:x -> RGB): bilinear, with the same centred siting
  (weights 3/4 and 1/4 from the two nearest chroma samples, edges replicated),
  which inverts the box average well on smooth content.
* Output RGB is uint8, rounded to nearest and clipped; 10-bit sources lose their
  two extra bits only at this last rounding step.

Planes are numpy arrays of shape (H, W) (luma) and (Hc, Wc) (chroma), uint8 for 8 bit
and uint16 for more.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KR, KB = 0.2126, 0.0722
KG = 1.0 - KR - KB


@dataclass(frozen=True)
class PixFmt:
    """A planar YUV or gray layout: chroma subsampling shifts and bit depth."""

    name: str
    sub_x: int  # log2 horizontal chroma subsampling (1 for 4:2:x)
    sub_y: int  # log2 vertical chroma subsampling (1 for 4:2:0)
    bits: int
    gray: bool = False

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8) if self.bits == 8 else np.dtype("<u2")

    def plane_shapes(self, height: int, width: int) -> list[tuple[int, int]]:
        if self.gray:
            return [(height, width)]
        ch = -(-height // (1 << self.sub_y))
        cw = -(-width // (1 << self.sub_x))
        return [(height, width), (ch, cw), (ch, cw)]

    def frame_bytes(self, height: int, width: int) -> int:
        return sum(h * w for h, w in self.plane_shapes(height, width)) * self.dtype.itemsize


PIX_FMTS: dict[str, PixFmt] = {
    f.name: f
    for f in [
        PixFmt("yuv420p", 1, 1, 8),
        PixFmt("yuv422p", 1, 0, 8),
        PixFmt("yuv444p", 0, 0, 8),
        PixFmt("yuv420p10le", 1, 1, 10),
        PixFmt("yuv422p10le", 1, 0, 10),
        PixFmt("yuv444p10le", 0, 0, 10),
        PixFmt("gray", 0, 0, 8, gray=True),
        PixFmt("gray10le", 0, 0, 10, gray=True),
    ]
}


def get_pix_fmt(name: str) -> PixFmt:
    """Look up a planar pixel format by its FFmpeg name; KeyError if unsupported."""
    return PIX_FMTS[name]


def _levels(bits: int, full_range: bool) -> tuple[float, float, float, float]:
    """(y_offset, y_scale, c_offset, c_scale) mapping [0,1] / [-0.5,0.5] to code values."""
    s = float(1 << (bits - 8))
    if full_range:
        m = float((1 << bits) - 1)
        return 0.0, m, 128.0 * s, m
    return 16.0 * s, 219.0 * s, 128.0 * s, 224.0 * s


def _downsample(c: np.ndarray, sub_y: int, sub_x: int) -> np.ndarray:
    """Box-average a float plane by 2 along the flagged axes (edge-replicating odd sizes)."""
    if sub_x:
        if c.shape[1] % 2:
            c = np.concatenate([c, c[:, -1:]], axis=1)
        c = 0.5 * (c[:, 0::2] + c[:, 1::2])
    if sub_y:
        if c.shape[0] % 2:
            c = np.concatenate([c, c[-1:]], axis=0)
        c = 0.5 * (c[0::2] + c[1::2])
    return c


def _upsample_axis(c: np.ndarray, axis: int, size: int) -> np.ndarray:
    """Centred bilinear x2 upsampling along ``axis``, cropped to ``size`` samples."""
    c = np.moveaxis(c, axis, 0)
    prev = np.concatenate([c[:1], c[:-1]], axis=0)
    nxt = np.concatenate([c[1:], c[-1:]], axis=0)
    out = np.empty((2 * c.shape[0],) + c.shape[1:], dtype=c.dtype)
    out[0::2] = 0.75 * c + 0.25 * prev
    out[1::2] = 0.75 * c + 0.25 * nxt
    return np.moveaxis(out[:size], 0, axis)


def rgb_to_yuv(rgb: np.ndarray, pix_fmt: str | PixFmt = "yuv420p", *, full_range: bool = False) -> list[np.ndarray]:
    """Convert one uint8 RGB frame (H, W, 3) to a list of planes [Y, Cb, Cr] (or [Y] for gray)."""
    fmt = pix_fmt if isinstance(pix_fmt, PixFmt) else get_pix_fmt(pix_fmt)
    x = rgb.astype(np.float32) / 255.0
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = KR * r + KG * g + KB * b
    yo, ys, co, cs = _levels(fmt.bits, full_range)
    hi = (1 << fmt.bits) - 1
    planes = [np.clip(np.rint(yo + ys * y), 0, hi).astype(fmt.dtype)]
    if fmt.gray:
        return planes
    cb = (b - y) / (2.0 * (1.0 - KB))
    cr = (r - y) / (2.0 * (1.0 - KR))
    for c in (cb, cr):
        c = _downsample(c, fmt.sub_y, fmt.sub_x)
        planes.append(np.clip(np.rint(co + cs * c), 0, hi).astype(fmt.dtype))
    return planes


def yuv_to_rgb(planes: list[np.ndarray], pix_fmt: str | PixFmt = "yuv420p", *, full_range: bool = False) -> np.ndarray:
    """Convert planes [Y, Cb, Cr] (or [Y]) of one frame to uint8 RGB (H, W, 3), C-contiguous."""
    fmt = pix_fmt if isinstance(pix_fmt, PixFmt) else get_pix_fmt(pix_fmt)
    yo, ys, co, cs = _levels(fmt.bits, full_range)
    y = (planes[0].astype(np.float32) - yo) / ys
    h, w = y.shape
    if fmt.gray:
        rgb = np.repeat(y[..., None], 3, axis=2)
    else:
        cb, cr = ((p.astype(np.float32) - co) / cs for p in planes[1:3])
        if fmt.sub_x:
            cb, cr = _upsample_axis(cb, 1, w), _upsample_axis(cr, 1, w)
        if fmt.sub_y:
            cb, cr = _upsample_axis(cb, 0, h), _upsample_axis(cr, 0, h)
        r = y + 2.0 * (1.0 - KR) * cr
        b = y + 2.0 * (1.0 - KB) * cb
        g = (y - KR * r - KB * b) / KG
        rgb = np.stack([r, g, b], axis=-1)
    return np.ascontiguousarray(np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8))
