"""Helpers shared by the format modules: argument checks, frame selection, atomic writes."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from fractions import Fraction
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from inr_codec.errors import VideoError
from inr_codec.words import plural


@dataclass
class Source:
    """An opened input, checked before any frame is decoded: its metadata and a generator of frames.

    ``frames`` yields uint8 RGB (H, W, 3) frames of the selected range in order, opening the file
    itself (and closing it when exhausted or closed); ``count`` is None where only decoding can tell
    (PyAV containers). Readers build one; ``read_video`` and ``iter_video`` share it.
    """

    frames: Iterator[np.ndarray]
    fps: Fraction | None
    pix_fmt: str
    count: int | None


def to_fraction(fps, path) -> Fraction:
    """Turn an int / float / str ("30000/1001", "29.97") / Fraction frame rate into a positive Fraction."""
    try:
        f = fps if isinstance(fps, Fraction) else Fraction(str(fps).strip())
    except (ValueError, ZeroDivisionError, TypeError):
        raise VideoError(f"{path}: bad frame rate {fps!r}; give a positive number such as 25 or 30000/1001") from None
    if f <= 0:
        raise VideoError(f"{path}: bad frame rate {fps!r}; give a positive number such as 25 or 30000/1001")
    return f


def select_range(total: int, start: int, max_frames: int | None, path) -> tuple[int, int]:
    """Validate ``start``/``max_frames`` against ``total`` frames; return (start, count)."""
    check_selection(start, max_frames, path)
    if total <= 0:
        raise VideoError(f"{path} holds no frames; check that it is a complete, non-empty video")
    if start >= total:
        raise VideoError(f"{path}: start={start} but the video has only {plural(total, 'frame')}; use a smaller start")
    count = total - start if max_frames is None else min(max_frames, total - start)
    return start, count


def check_selection(start: int, max_frames: int | None, path) -> None:
    if not isinstance(start, (int, np.integer)) or start < 0:
        raise VideoError(f"{path}: start must be a frame index >= 0, got {start!r}")
    if max_frames is not None and (not isinstance(max_frames, (int, np.integer)) or max_frames < 1):
        raise VideoError(f"{path}: max_frames must be >= 1 (or None for all frames), got {max_frames!r}")


def require_file(path) -> Path:
    p = Path(path)
    if not p.exists():
        raise VideoError(f"no such file: {path}")
    if p.is_dir():
        raise VideoError(f"{path} is a directory, not a video file")
    return p


def check_frames(frames: np.ndarray, path) -> np.ndarray:
    """Check that ``frames`` is a non-empty (T, H, W, 3) uint8 array; return it C-contiguous."""
    if not isinstance(frames, np.ndarray) or frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        desc = f"{getattr(frames, 'dtype', type(frames).__name__)} {getattr(frames, 'shape', '')}"
        raise VideoError(f"cannot write {path}: frames must be uint8 of shape (T, H, W, 3), got {desc}")
    if min(frames.shape[:3]) < 1:
        raise VideoError(f"cannot write {path}: the video is empty (shape {frames.shape})")
    return np.ascontiguousarray(frames)


def _check_parent(path: Path) -> Path:
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise VideoError(f"cannot write {path}: directory {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise VideoError(f"cannot write {path}: directory {parent} is not writable")
    return parent


def _reason(exc: BaseException) -> str:
    if getattr(exc, "strerror", None):  # OSError and av.FFmpegError: the message without paths
        return str(exc.strerror)
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class AtomicPath:
    """A temporary file (or folder) next to ``path`` that becomes ``path`` on :meth:`commit` and is
    removed by :meth:`discard`: the state a streaming writer keeps between its batches.

    The temporary keeps the target's suffix so that tools guessing the format from the name still work.
    A folder target must not exist or be an empty folder (which is replaced).
    """

    def __init__(self, path, *, folder: bool = False):
        self.path, self.folder = path, folder
        target = Path(path)
        parent = _check_parent(target)
        if folder and target.exists():
            if not target.is_dir():
                raise VideoError(f"cannot write {path}: a file of that name exists")
            if any(target.iterdir()):
                raise VideoError(f"cannot write {path}: the folder is not empty; choose a new or empty folder")
        if not folder and target.is_dir():
            raise VideoError(f"cannot write {path}: a directory of that name exists")
        try:
            if folder:
                self.tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".{target.name}.", suffix=".tmp"))
            else:
                fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{target.name}.", suffix=f".tmp{target.suffix}")
                os.close(fd)
                self.tmp = Path(tmp)
        except OSError as e:
            raise VideoError(f"cannot write {path}: {_reason(e)}") from None

    def commit(self) -> None:
        target = Path(self.path)
        try:
            if self.folder:
                if target.exists():
                    target.rmdir()  # empty (checked above); os.replace onto it would also work on POSIX
                os.chmod(self.tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
            else:
                os.chmod(self.tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
            os.replace(self.tmp, target)
        except OSError as e:
            self.discard()
            raise VideoError(f"cannot write {self.path}: {_reason(e)}") from None

    def discard(self) -> None:
        if self.folder:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                self.tmp.unlink()

    def fail(self, e: BaseException) -> BaseException:
        """Discard, and turn ``e`` into the one-line error to raise (KeyboardInterrupt and the like as they are)."""
        self.discard()
        if isinstance(e, VideoError) and str(e).startswith(f"cannot write {self.path}"):
            return e
        if isinstance(e, Exception):
            err = VideoError(f"cannot write {self.path}: {_reason(e)}")
            err.__cause__ = e
            return err
        return e


@contextlib.contextmanager
def atomic_file(path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success move it onto ``path``.

    On any failure the temporary is removed and ``VideoError("cannot write <path>: ...")``
    is raised, so a partial output never appears under the target name.
    """
    yield from _atomic(AtomicPath(path))


@contextlib.contextmanager
def atomic_dir(path) -> Iterator[Path]:
    """Like :func:`atomic_file` for a folder: fill a temporary folder, then rename it to ``path``.

    ``path`` must not exist or be an empty folder (which is replaced).
    """
    yield from _atomic(AtomicPath(path, folder=True))


def _atomic(a: AtomicPath):
    try:
        yield a.tmp
    except BaseException as e:
        err = a.fail(e)
        if err is e:
            raise
        raise err from e
    a.commit()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
