"""Run directories: where a fit keeps its config, log, checkpoints, model.bin and summary."""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import tempfile
from pathlib import Path

from omegaconf import OmegaConf

from .errors import InputError
from .io.common import atomic_file


def new_run_dir(root: Path, stem: str) -> Path:
    stamp = dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    base = root / stem / stamp
    path, n = base, 1
    while True:  # mkdir is the test: fits started in the same second (a sweep's jobs) each get their own
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            n += 1
            path = base.with_name(f"{stamp}_{n}")
        except OSError as e:
            raise InputError(f"cannot create run directory {path}: {e.strerror}") from None


def check_writable(path: Path, example: str = "model.bin") -> None:
    """Fail before an hour of fitting, not after: the output's folder must exist and take files."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise InputError(f"cannot write {path}: it is a directory; give a file name such as {path / example}")
    if not folder.is_dir():
        raise InputError(f"cannot write {path}: folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".inrcodec-probe-")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror}") from None


def write_json(path: Path, data: dict) -> None:
    """Atomically: a full disk is a one-line InputError and leaves neither a partial file nor a temporary."""
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def write_yaml(path: Path, data: dict) -> None:
    """Like :func:`write_json`, in YAML (a run's config.yaml, which ``--resume`` and ``gather`` read back)."""
    with atomic_file(path) as tmp:
        tmp.write_text(OmegaConf.to_yaml(OmegaConf.create(data)))


def attach_log(run_dir: Path) -> logging.Handler:
    handler = logging.FileHandler(run_dir / "fit.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("inr_codec")
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    return handler


def detach_log(handler: logging.Handler) -> None:
    logging.getLogger("inr_codec").removeHandler(handler)
    handler.close()
