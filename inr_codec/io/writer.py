"""Streaming writers: frames go in batch by batch, the output appears whole or not at all.

Each format subclasses :class:`FrameWriter` (``y4m.Writer``, ``rawyuv.Writer``, ``png.Writer``,
``pyav.Writer``; :func:`inr_codec.io.video.open_writer` picks one by the path). A writer fills a
temporary next to the target; ``close()`` finishes it and renames it onto the target, and any failure
(a bad batch, a full disk, an exception or Ctrl-C in the ``with`` body) removes the temporary, so a
partial output never appears under the target name. Memory is what one batch needs.
"""

from __future__ import annotations

import os

import numpy as np

from inr_codec.errors import VideoError
from inr_codec.io.colour import rgb_to_yuv
from inr_codec.io.common import AtomicPath, check_frames


class FrameWriter:
    """Base class: ``with Writer(path, ...) as w: w.write(batch) ...`` commits on a clean exit.

    ``write`` takes uint8 RGB frames (T, H, W, 3) or one frame (H, W, 3); every batch must have the
    first one's size. After any error the writer is closed and its temporary gone.
    """

    folder = False  # True: the output is a folder (PNG frames)

    def __init__(self, path):
        self.path = os.fspath(path)
        self.count = 0  # frames written so far
        self.size: tuple[int, int] | None = None  # (H, W), fixed by the first batch
        self._atomic = AtomicPath(self.path, folder=self.folder)
        self.tmp = self._atomic.tmp
        self._closed = False

    # -- what a format provides
    def _begin(self, height: int, width: int) -> None:
        """Open the temporary for frames of this size (called once, at the first batch)."""

    def _put(self, frames: np.ndarray) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        """Flush and close the temporary (encoders drain here)."""

    def _release(self) -> None:
        """Close whatever is open, quietly: the temporary is about to be removed."""

    # -- the interface
    def write(self, frames) -> None:
        if self._closed:
            raise VideoError(f"cannot write {self.path}: the writer is closed")
        try:
            if isinstance(frames, np.ndarray) and frames.ndim == 3:
                frames = frames[None]
            frames = check_frames(frames, self.path)
            if self.size is None:
                self.size = (int(frames.shape[1]), int(frames.shape[2]))
                self._begin(*self.size)
            elif frames.shape[1:3] != self.size:
                raise VideoError(f"cannot write {self.path}: a batch of {frames.shape[2]}x{frames.shape[1]} frames "
                                 f"after {self.size[1]}x{self.size[0]} ones; every frame must have one size")
            self._put(frames)
        except BaseException as e:
            self._fail(e)
        self.count += len(frames)

    def close(self) -> None:
        """Finish the output and move it onto the target name (nothing to do if already closed)."""
        if self._closed:
            return
        try:
            if self.count == 0:
                raise VideoError(f"cannot write {self.path}: no frames were written (the video is empty)")
            self._finish()
        except BaseException as e:
            self._fail(e)
        self._closed = True
        self._atomic.commit()

    def abort(self) -> None:
        """Drop the output: the temporary is removed, the target left as it was."""
        if not self._closed:
            self._closed = True
            self._quiet_release()
            self._atomic.discard()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()  # the caller's exception goes on as it is
        return False

    def _quiet_release(self) -> None:
        try:
            self._release()
        except Exception:  # noqa: BLE001 - the temporary goes anyway; the first error is the one to report
            pass

    def _fail(self, e: BaseException):
        self._closed = True
        self._quiet_release()
        err = self._atomic.fail(e)
        if err is e:
            raise e
        raise err from e


class PlanarFileWriter(FrameWriter):
    """A writer of one binary file of planar YUV frames (y4m, raw .yuv): ``_header`` (none by default)
    once, then per frame ``_frame_marker`` and the planes of ``self._fmt``."""

    _frame_marker = b""

    def __init__(self, path):
        self._f = None
        super().__init__(path)

    def _header(self, height: int, width: int) -> bytes:
        return b""

    def _begin(self, height: int, width: int) -> None:
        self._f = open(self.tmp, "wb")
        self._f.write(self._header(height, width))

    def _put(self, frames: np.ndarray) -> None:
        for fr in frames:
            self._f.write(self._frame_marker)
            for p in rgb_to_yuv(fr, self._fmt):
                self._f.write(np.ascontiguousarray(p).tobytes())

    def _finish(self) -> None:
        self._f.close()

    def _release(self) -> None:
        if self._f is not None:
            self._f.close()
