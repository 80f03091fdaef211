"""A folder of PNG files as a video: frames in natural sort order of the file names."""

from __future__ import annotations

import re
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from inr_codec.errors import VideoError
from inr_codec.io.common import Source, check_frames, select_range
from inr_codec.io.writer import FrameWriter

DEFAULT_FPS = Fraction(25)

# PIL mode -> the pix_fmt name reported as Video.source_pix_fmt
_MODE_PIX_FMT = {"RGB": "rgb24", "RGBA": "rgba", "L": "gray", "LA": "ya8", "P": "pal8",
                 "I;16": "gray16", "I;16B": "gray16", "I": "gray16", "1": "monob", "RGB;16": "rgb48"}


def _natural_key(name: str):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def list_pngs(folder) -> list[Path]:
    d = Path(folder)
    files = sorted((p for p in d.iterdir() if p.suffix.lower() == ".png" and p.is_file()),
                   key=lambda p: _natural_key(p.name))
    if not files:
        raise VideoError(f"{folder} is a folder with no .png files; give a video file or a folder of PNG frames")
    return files


def _bomb(path, e: Exception) -> VideoError:
    return VideoError(f"cannot read {path}: {str(e).split(', could be')[0]} (Pillow's safety limit); "
                      "scale the frames down first")


def _open(path: Path) -> Image.Image:
    try:
        with warnings.catch_warnings():  # large frames are fine below Pillow's hard limit
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
            im.load()
        return im
    except Image.DecompressionBombError as e:
        raise _bomb(path, e) from None
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        raise VideoError(f"cannot read {path}: not a readable PNG ({e})") from None


def _to_rgb8(im: Image.Image) -> np.ndarray:
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im, dtype=np.float64)
        a = np.clip(np.rint(a * (255.0 / 65535.0)), 0, 255).astype(np.uint8)
        return np.repeat(a[..., None], 3, axis=2)
    if im.mode != "RGB":
        im = im.convert("RGB")  # drops alpha; expands palette and gray
    return np.asarray(im, dtype=np.uint8)


def probe(folder) -> tuple[int, int, int, Fraction, str]:
    files = list_pngs(folder)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(files[0]) as im:
                w, h, mode = im.width, im.height, im.mode
    except Image.DecompressionBombError as e:
        raise _bomb(files[0], e) from None
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        raise VideoError(f"cannot read {files[0]}: not a readable PNG ({e})") from None
    return len(files), h, w, DEFAULT_FPS, _MODE_PIX_FMT.get(mode, mode.lower())


def open_frames(folder, *, fps=None, start=0, max_frames=None) -> Source:
    """List the PNGs and check the first one now; the frames come later, one file at a time.
    All must have one size. fps defaults to 25."""
    files = list_pngs(folder)
    start, count = select_range(len(files), start, max_frames, folder)
    files = files[start:start + count]
    first = _open(files[0])
    return Source(_frames(folder, files, first), DEFAULT_FPS if fps is None else fps,
                  _MODE_PIX_FMT.get(first.mode, first.mode.lower()), count)


def _frames(folder, files: list[Path], first: Image.Image):
    for i, f in enumerate(files):
        im = first if i == 0 else _open(f)
        if (im.height, im.width) != (first.height, first.width):
            raise VideoError(f"{folder}: {f.name} is {im.width}x{im.height} but {files[0].name} is "
                             f"{first.width}x{first.height}; all PNG frames must share one size")
        yield _to_rgb8(im)


class Writer(FrameWriter):
    """Streaming PNG folder writer: ``frame_00001.png``, ... into a new (or empty) folder.

    Names have max(5, digits of ``total``) digits; without ``total`` they are widened at the end
    if the count needs more, so the names are those a one-call write of the same frames gives.
    """

    folder = True
    MIN_DIGITS = 5

    def __init__(self, folder, *, total: int | None = None):
        self._digits = max(self.MIN_DIGITS, len(str(total or 0)))
        super().__init__(folder)

    def _name(self, i: int, digits: int) -> Path:
        return self.tmp / f"frame_{i:0{digits}d}.png"

    def _put(self, frames: np.ndarray) -> None:
        for k, fr in enumerate(frames, self.count + 1):
            Image.fromarray(fr, "RGB").save(self._name(k, self._digits), compress_level=1)

    def _finish(self) -> None:
        digits = max(self._digits, len(str(self.count)))
        if digits != self._digits:
            for k in range(1, self.count + 1):
                self._name(k, self._digits).rename(self._name(k, digits))


def write(frames: np.ndarray, folder) -> None:
    """Write the frames into a new (or empty) ``folder`` in one call (see :class:`Writer`)."""
    frames = check_frames(frames, folder)
    with Writer(folder, total=len(frames)) as w:
        w.write(frames)
