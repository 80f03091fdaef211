"""Checkpoints of a fit in progress (not the bitstream: these are torch files for resuming)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from ..errors import InputError


def save_checkpoint(path: Path, state: dict) -> None:
    """Write atomically, so a kill at any moment leaves the previous checkpoint intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".ckpt-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_checkpoint(path: Path) -> dict:
    if not path.is_file():
        raise InputError(f"no checkpoint at {path}; nothing to resume")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # a torn or foreign file
        raise InputError(f"cannot read checkpoint {path}: {e.__class__.__name__}") from None
