"""Checkpoints of a fit in progress (not the bitstream: these are torch files for resuming)."""
from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path

import torch

from ..errors import InputError

_TMP_PREFIX, _TMP_SUFFIX = ".ckpt-", ".tmp"


def save_checkpoint(path: Path, state: dict) -> None:
    """Write atomically (temporary file, fsync, rename), so a kill at any moment, even ``kill -9``,
    leaves the previous checkpoint intact; a full disk is a one-line InputError and leaves no
    temporary file behind."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Temporaries are named after their checkpoint: processes writing other checkpoints of the same
        # folder at the same time (NIRVANA's segments under torchrun) never remove each other's.
        prefix = f"{_TMP_PREFIX}{path.name}-"
        for stale in path.parent.glob(f"{prefix}*{_TMP_SUFFIX}"):  # left by a killed run
            with contextlib.suppress(OSError):
                stale.unlink()
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=_TMP_SUFFIX)
    except OSError as e:
        raise InputError(f"cannot write checkpoint {path}: {e.strerror or e}") from None
    try:
        # Serialise in memory first: torch's file writer turns a failed write (disk full) into an
        # opaque RuntimeError, while a plain write raises OSError with the reason.
        buf = io.BytesIO()
        torch.save(state, buf)
        with os.fdopen(fd, "wb") as f:
            f.write(buf.getbuffer())
            f.flush()
            os.fsync(f.fileno())
        del buf
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise InputError(f"cannot write checkpoint {path}: {e.strerror or e}") from None
        raise


def load_checkpoint(path: Path) -> dict:
    if not path.is_file():
        raise InputError(f"no checkpoint at {path}; nothing to resume")
    try:
        # weights_only: a checkpoint holds tensors, numbers, strings, lists and dicts, never code
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a torn or foreign file
        raise InputError(f"cannot read checkpoint {path}: {e.__class__.__name__}") from None
