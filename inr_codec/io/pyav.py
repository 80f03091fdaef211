"""Container formats (mp4, mkv, mov, avi, webm, ...) through PyAV / FFmpeg.

Reading: frames are returned in the decoder's output (presentation) order and converted
to rgb24 by libswscale (bilinear chroma upsampling, accurate rounding). The matrix is the
one the stream states; where a YUV stream leaves it unspecified, BT.709 is used (FFmpeg's
own default would be BT.601). The range is the stream's (limited unless it says full, or
the pix_fmt is a yuvj* one). fps is ``stream.average_rate``, else ``stream.guessed_rate``;
variable-frame-rate inputs thus get their average rate and every decoded frame is kept
(no frames are dropped or duplicated to follow timestamps). Rotation metadata is ignored.

Writing: RGB is converted by libswscale to BT.709 limited range and the stream is tagged
bt709/tv. Codecs: libx264 (mp4, mkv, mov, avi; crf 18 by default) and libvpx-vp9 (webm).
``pix_fmt="rgb"`` writes lossless RGB: ffv1 (bgr0) in mkv/avi, libx264rgb at crf 0 in
mp4/mov, lossless VP9 (gbrp) in webm. 4:2:0 and 4:2:2 need even sizes in x264, so for an
odd width (or odd height with 4:2:0) a 4:4:4 format of the same bit depth is written
instead, which keeps the exact width and height (no padding, no cropping). Frame
timestamps are 0, 1, 2, ... in a time base of 1/fps, so the exact rational rate
(e.g. 30000/1001) is stored.
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, Interpolation

from inr_codec.errors import VideoError
from inr_codec.words import plural
from inr_codec.io.common import Source, require_file, select_range
from inr_codec.io.writer import FrameWriter

CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mkv": "matroska", ".mov": "mov", ".avi": "avi", ".webm": "webm"}
YUV_PIX_FMTS = ("yuv420p", "yuv422p", "yuv444p", "yuv420p10le", "yuv422p10le", "yuv444p10le")
RGB_ALIASES = ("rgb", "rgb24", "gbrp", "bgr0")
DEFAULT_CRF = 18

_INTERP = Interpolation.BILINEAR | Interpolation.ACCURATE_RND
_UNSPECIFIED_SPACES = (2, 3)  # AVCOL_SPC_UNSPECIFIED, AVCOL_SPC_RESERVED
_AV_ERRORS = (av.FFmpegError, OSError, ValueError, RuntimeError, EOFError, UnicodeError)


def _why(e: BaseException) -> str:
    if getattr(e, "strerror", None):  # OSError and av.FFmpegError: the message without paths
        return str(e.strerror)
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def _open(path):
    require_file(path)
    try:
        container = av.open(str(path), "r")
    except _AV_ERRORS as e:
        raise VideoError(f"cannot read {path}: not a video file FFmpeg can read, or truncated ({_why(e)})") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path} has no video stream (audio-only or data file); give a video file")
    return container


def _rate(stream) -> Fraction | None:
    for r in (stream.average_rate, stream.guessed_rate):
        if r is not None and r > 0:
            return Fraction(r.numerator, r.denominator)
    return None


def _to_rgb(frame) -> np.ndarray:
    kw = {}
    name = frame.format.name
    is_yuv = name.startswith(("yuv", "nv", "p01", "gray", "y2", "uyv", "yuyv"))
    if is_yuv and int(frame.colorspace) in _UNSPECIFIED_SPACES:
        kw["src_colorspace"] = Colorspace.ITU709
    return frame.to_ndarray(format="rgb24", interpolation=_INTERP, **kw)


def probe(path) -> tuple[int, int, int, Fraction | None, str]:
    """(frames, height, width, fps or None, source pix_fmt); decodes to count frames only
    where the container does not state the count."""
    container = _open(path)
    try:
        stream = container.streams.video[0]
        cc = stream.codec_context
        n, h, w = int(stream.frames or 0), cc.height, cc.width
        pix = cc.pix_fmt or ""
        if n <= 0 or not h or not w or not pix:
            n = 0
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                if n == 0:
                    h, w, pix = frame.height, frame.width, frame.format.name
                n += 1
        return n, h, w, _rate(stream), pix
    except _AV_ERRORS as e:
        raise VideoError(f"cannot read {path}: decoding failed ({_why(e)}); the file may be truncated or corrupted") from None
    finally:
        container.close()


def open_frames(path, *, fps=None, start=0, max_frames=None) -> Source:
    """Open the file and check its stream and rate now; the frames come later, decoded once in order
    (the ones before ``start`` are decoded and dropped), as uint8 RGB (see module docstring)."""
    select_range(1 << 62, start, max_frames, path)  # validates the arguments only
    container = _open(path)
    try:
        stream = container.streams.video[0]
        rate = fps if fps is not None else _rate(stream)
        pix = stream.codec_context.pix_fmt or ""
        stated = int(stream.frames or 0)  # 0 where the container does not say (mkv, webm)
        if not pix:  # the codec leaves it to the first frame
            pix = next((f.format.name for f in container.decode(stream)), "")
    except _AV_ERRORS as e:
        raise VideoError(f"cannot read {path}: decoding failed ({_why(e)}); the file may be truncated or corrupted") from None
    finally:
        container.close()
    if rate is None:
        raise VideoError(f"{path} does not state a frame rate; give one with data.fps= (e.g. data.fps=25)")
    return Source(_frames(path, start, max_frames, stated), rate, pix, None)


def _frames(path, start: int, max_frames: int | None, stated: int):
    container = _open(path)
    total = kept = 0
    shape = None
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            if total >= start:
                rgb = _to_rgb(frame)
                if shape is None:
                    shape = rgb.shape
                elif rgb.shape != shape:
                    raise VideoError(f"{path}: the frame size changes mid-stream ({sorted([shape, rgb.shape])}); "
                                     "re-encode it at one size first")
                kept += 1
                yield rgb
            total += 1
            if max_frames is not None and kept >= max_frames:
                break
    except _AV_ERRORS as e:
        raise VideoError(f"cannot read {path}: decoding failed after {plural(total, 'frame')} ({_why(e)}); "
                         "the file may be truncated or corrupted") from None
    finally:
        container.close()
    if total == 0:
        raise VideoError(f"{path}: no frames could be decoded; the file is empty, truncated or corrupted")
    if not kept:
        raise VideoError(f"{path}: start={start} but the video has only {plural(total, 'frame')}; use a smaller start")
    wanted = stated - start if max_frames is None else min(max_frames, stated - start)
    if stated > 0 and wanted - kept > 2:  # a frame or two of slack for edit lists
        raise VideoError(f"{path} states {stated} frames but only {total} decode; the file is truncated or "
                         f"corrupted: re-create it, or fit the frames that decode with data.max_frames={kept}")


def _choose(ext: str, pix_fmt: str | None, width: int, height: int, crf: int | None, path):
    """Pick (codec, encoder pix_fmt, options, is_rgb) for a container extension and request."""
    req = pix_fmt or "yuv420p"
    if req in RGB_ALIASES:
        if ext in (".mkv", ".avi"):
            return "ffv1", "bgr0", {}, True
        if ext in (".mp4", ".m4v", ".mov"):
            return "libx264rgb", "bgr24", {"crf": str(0 if crf is None else crf), "preset": "medium"}, True
        return "libvpx-vp9", "gbrp", {"lossless": "1", "row-mt": "1"}, True
    if req not in YUV_PIX_FMTS:
        raise VideoError(f"cannot write {path}: pix_fmt {req!r} is not supported; use one of "
                         f"{', '.join(YUV_PIX_FMTS + ('rgb',))}")
    crf = DEFAULT_CRF if crf is None else crf
    if not 0 <= int(crf) <= 63:
        raise VideoError(f"cannot write {path}: crf must be between 0 and 51 (x264) or 63 (vp9), got {crf}")
    if (width % 2 and ("420" in req or "422" in req)) or (height % 2 and "420" in req):
        req = req.replace("420", "444").replace("422", "444")  # exact odd sizes; see module docstring
    if ext == ".webm":
        return "libvpx-vp9", req, {"crf": str(crf), "b": "0", "row-mt": "1", "deadline": "good",
                                   "cpu-used": "4"}, False
    return "libx264", req, {"crf": str(crf), "preset": "medium"}, False


class Writer(FrameWriter):
    """Streaming encoder: uint8 RGB batches to ``path`` with the exact frame count, size and rate."""

    def __init__(self, path, fps: Fraction, *, pix_fmt: str | None = None, crf: int | None = None):
        self.ext = "." + str(path).rsplit(".", 1)[-1].lower()
        _choose(self.ext, pix_fmt, 2, 2, crf, path)  # a bad pix_fmt or crf fails before any temporary
        self.fps, self._pix_fmt, self._crf = fps, pix_fmt, crf
        self._container = self._stream = None
        super().__init__(path)

    def _encoder_error(self, e: BaseException) -> VideoError:
        return VideoError(f"cannot write {self.path}: the {self._codec} encoder failed with pix_fmt {self._enc_pix} "
                          f"({_why(e)}); try another pix_fmt or container")

    def _begin(self, h: int, w: int) -> None:
        self._codec, self._enc_pix, options, self._is_rgb = _choose(self.ext, self._pix_fmt, w, h, self._crf,
                                                                    self.path)
        try:
            self._container = av.open(str(self.tmp), "w", format=CONTAINERS[self.ext])
        except _AV_ERRORS as e:
            raise VideoError(f"cannot write {self.path}: {_why(e)}") from None
        try:
            stream = self._stream = self._container.add_stream(self._codec, rate=self.fps)
            stream.width, stream.height, stream.pix_fmt = w, h, self._enc_pix
            stream.time_base = Fraction(1) / self.fps
            stream.codec_context.time_base = Fraction(1) / self.fps
            stream.options = options
            if not self._is_rgb:
                cc = stream.codec_context
                cc.colorspace, cc.color_range, cc.color_primaries, cc.color_trc = 1, 1, 1, 1  # bt709, tv
        except _AV_ERRORS as e:
            raise self._encoder_error(e) from None

    def _put(self, frames: np.ndarray) -> None:
        stream = self._stream
        try:
            for i, rgb in enumerate(frames, self.count):
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                if self._is_rgb:
                    frame = frame.reformat(format=self._enc_pix)
                else:
                    frame = frame.reformat(format=self._enc_pix, dst_colorspace=Colorspace.ITU709,
                                           dst_color_range=ColorRange.MPEG, interpolation=_INTERP)
                frame.pts = i
                frame.time_base = stream.codec_context.time_base
                self._container.mux(stream.encode(frame))
        except _AV_ERRORS as e:
            raise self._encoder_error(e) from None

    def _finish(self) -> None:
        try:
            self._container.mux(self._stream.encode(None))
        except _AV_ERRORS as e:
            raise self._encoder_error(e) from None
        finally:
            self._release()

    def _release(self) -> None:
        if self._container is not None:
            container, self._container = self._container, None
            container.close()


def write(frames: np.ndarray, fps: Fraction, path, *, pix_fmt: str | None = None, crf: int | None = None) -> None:
    """Encode uint8 RGB frames to ``path`` in one call (see :class:`Writer`)."""
    with Writer(path, fps, pix_fmt=pix_fmt, crf=crf) as w:
        w.write(frames)
