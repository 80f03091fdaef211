"""Traditional-codec anchors: x264, x265 and SVT-AV1 through PyAV on the same frames.

Each point: the uint8 RGB frames are converted by libswscale to BT.709 limited-range
yuv420p (bilinear, accurate rounding; the same call ``inrcodec decode`` uses for .mp4), the
stream is tagged bt709/tv, encoded at one CRF by a bare encoder (no container, so the
parameter sets are in-band and counted), and the packets are decoded again and converted back
to RGB by the same function the video readers use (``inr_codec.io.pyav._to_rgb``: libswscale,
bilinear chroma upsampling, the stream's matrix and range). The rate is
``bpp = 8 × (sum of packet bytes + extradata bytes) / (width × height × frames)``.
Odd widths or heights are padded by repeating the last column/row for the encoder (4:2:0
needs even sizes; libx265 gets multiples of 8 and at least 64x64, as it corrupts the heap on
some smaller frames) and cropped after decoding; the pixel count in bpp is the source's.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from fractions import Fraction

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace

from inr_codec.errors import InputError
from inr_codec.io.pyav import _INTERP, _to_rgb

PIX_FMT = "yuv420p"


@dataclass(frozen=True)
class Encoder:
    key: str          # the name on the command line
    codec: str        # the FFmpeg encoder
    decoder: str      # the FFmpeg decoder used to read it back
    options: dict     # encoder options besides crf
    crfs: tuple       # default CRF list
    crf_range: tuple  # valid CRF values
    label: str
    align: int = 2    # the encoder gets frames padded to a multiple of this...
    min_side: int = 0  # ...and to at least this many pixels each way


ENCODERS = {
    "x264": Encoder("x264", "libx264", "h264", {"preset": "veryslow"}, (22, 27, 32, 37, 42, 47), (0, 51),
                    "x264 veryslow"),
    "x265": Encoder("x265", "libx265", "hevc", {"preset": "slow", "x265-params": "log-level=error"},
                    (22, 27, 32, 37, 42, 47), (0, 51), "x265 slow", 8, 64),  # see the module docstring
    "av1": Encoder("av1", "libsvtav1", "libdav1d", {"preset": "6"}, (24, 34, 44, 52, 58, 63), (1, 63),
                   "SVT-AV1 preset 6"),
}


@dataclass
class AnchorPoint:
    codec: str
    crf: int
    bytes: int
    bpp: float
    encode_s: float
    decoded: np.ndarray = field(repr=False)
    reported: str = ""  # the encoder's own settings string, where it writes one


def parse_codecs(spec: str) -> list[Encoder]:
    out = []
    for name in (s.strip().lower() for s in spec.split(",") if s.strip()):
        name = {"h264": "x264", "avc": "x264", "hevc": "x265", "h265": "x265", "svtav1": "av1"}.get(name, name)
        if name not in ENCODERS:
            raise InputError(f"unknown codec '{name}' in --codecs; use a comma list of {','.join(ENCODERS)}")
        try:
            av.codec.Codec(ENCODERS[name].codec, "w")
            av.codec.Codec(ENCODERS[name].decoder, "r")
        except Exception:  # noqa: BLE001 (PyAV raises several types for a missing codec)
            raise InputError(f"this FFmpeg build lacks {ENCODERS[name].codec} or {ENCODERS[name].decoder}; "
                             f"leave {name} out of --codecs") from None
        if ENCODERS[name] not in out:
            out.append(ENCODERS[name])
    if not out:
        raise InputError("--codecs is empty; use e.g. --codecs x264,x265,av1")
    return out


def parse_crfs(specs: list[str] | None, encoders: list[Encoder]) -> dict[str, list[int]]:
    """``--crfs 22,32`` (every codec) or ``--crfs x265=22,32`` (one codec), repeatable."""
    crfs = {e.key: list(e.crfs) for e in encoders}
    for spec in specs or []:
        key, _, values = spec.rpartition("=")
        keys = [key] if key else list(crfs)
        if key and key not in crfs:
            raise InputError(f"--crfs {spec}: {key} is not among the benchmarked codecs ({','.join(crfs)})")
        try:
            vals = sorted({int(v) for v in values.split(",") if v.strip()})
        except ValueError:
            raise InputError(f"--crfs {spec} is not a comma list of integers, e.g. --crfs 22,27,32") from None
        if not vals:
            raise InputError(f"--crfs {spec} gives no values")
        for k in keys:
            lo, hi = ENCODERS[k].crf_range
            if vals[0] < lo or vals[-1] > hi:
                raise InputError(f"--crfs {spec}: {ENCODERS[k].codec} takes CRF {lo} to {hi}")
            crfs[k] = vals
    return crfs


def settings(enc: Encoder, crf: int | None = None) -> dict:
    """Every setting the encoder is given, as logged in the benchmark's CSV and JSON."""
    opts = dict(enc.options)
    if crf is not None:
        opts["crf"] = str(crf)
    return {"encoder": enc.codec, "options": opts, "pix_fmt": PIX_FMT, "colorspace": "bt709",
            "color_range": "tv (limited)", "color_primaries": "bt709", "color_trc": "bt709",
            "rgb_to_yuv": "libswscale bilinear+accurate_rnd, BT.709 limited", "decoder": enc.decoder,
            "gop": "encoder default", "rate_control": f"crf {crf}" if crf is not None else "crf"}


def encode_decode(frames: np.ndarray, fps: Fraction, enc: Encoder, crf: int) -> AnchorPoint:
    """Encode uint8 RGB frames (T, H, W, 3) at one CRF, decode them back to RGB; see the module docstring."""
    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its banner unless told errors only
    t, h, w, _ = frames.shape
    ph, pw = (max(-(-n // enc.align) * enc.align, enc.min_side) for n in (h, w))
    fps = Fraction(fps)
    cc = av.CodecContext.create(enc.codec, "w")
    cc.width, cc.height, cc.pix_fmt = pw, ph, PIX_FMT
    cc.time_base = Fraction(1) / fps
    cc.framerate = fps
    cc.colorspace, cc.color_range, cc.color_primaries, cc.color_trc = 1, 1, 1, 1  # bt709, tv
    cc.options = {**enc.options, "crf": str(crf)}
    cc.thread_type = "AUTO"  # frame threads as the ffmpeg CLI uses (PyAV's default, slices, costs x264 bits)
    packets = []
    t0 = time.perf_counter()
    for i, rgb in enumerate(frames):
        if (ph, pw) != (h, w):
            rgb = np.pad(rgb, ((0, ph - h), (0, pw - w), (0, 0)), mode="edge")
        f = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        f = f.reformat(format=PIX_FMT, dst_colorspace=Colorspace.ITU709, dst_color_range=ColorRange.MPEG,
                       interpolation=_INTERP)
        f.pts = i
        f.time_base = cc.time_base
        packets.extend(cc.encode(f))
    packets.extend(cc.encode(None))
    encode_s = time.perf_counter() - t0
    extradata = bytes(cc.extradata or b"")
    nbytes = sum(p.size for p in packets) + len(extradata)

    dec = av.CodecContext.create(enc.decoder, "r")
    if extradata:
        dec.extradata = extradata
    out = []
    for p in packets + [None]:
        for frame in dec.decode(p):
            out.append(_to_rgb(frame)[:h, :w])
    if len(out) != t:
        raise RuntimeError(f"{enc.codec} crf {crf}: {t} frames encoded but {len(out)} decoded")
    decoded = np.ascontiguousarray(np.stack(out))
    return AnchorPoint(enc.key, crf, nbytes, 8.0 * nbytes / (w * h * t), encode_s, decoded,
                       reported_options(extradata + (bytes(packets[0]) if packets else b"")))


def reported_options(data: bytes) -> str:
    """The settings string x264 and x265 write into their first SEI message ('' if none)."""
    for tag in (b"options: ", b"x265 ("):
        i = data.find(tag)
        if i >= 0:
            end = data.find(b"\x00", i)
            return data[i:end if end > 0 else i + 2000].decode("ascii", "replace")[:2000]
    return ""
