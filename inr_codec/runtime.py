"""Where a command runs and what it reads: the bundled sample, the device, the input video as the
configuration selects it (range, raw-yuv layout, crop). Torch is imported only where a device is named, so
the command line's checks (inr_codec/preflight.py) can use the rest before torch loads."""
from __future__ import annotations

import os
import platform
from importlib import resources
from pathlib import Path

from .config import parse_fps
from .errors import BackendError, InputError
from .io import Video, centre_crop, iter_video, parse_crop, probe_video, read_video
from .resources import check_fit_memory

SAMPLE_CLIP = "bunny_256x144_48f.mkv"


def sample_clip() -> Path:
    """The bundled sample: 48 frames of Big Buck Bunny at 256x144 (c) Blender Foundation, CC-BY 3.0."""
    return Path(str(resources.files("inr_codec.assets") / SAMPLE_CLIP))


def resolve_device(name: str):
    """The torch.device ``auto``/``cpu``/``cuda``/``cuda:N`` names; one-line errors for the rest."""
    import torch
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise InputError(f"device={name} is not a device; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BackendError(f"device={name} asked for, but this machine has no usable CUDA GPU; use device=cpu")
    if dev.type not in ("cpu", "cuda"):
        raise InputError(f"device={name} is not supported; use auto, cpu, cuda or cuda:N")
    return dev


def device_name(device) -> str:
    import torch
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def video_selection(cfg) -> dict:
    """The reader arguments ``data.*`` selects (raw layout, frame rate, range), for read/probe/iter_video."""
    d = cfg.data
    return dict(width=d.width, height=d.height, pix_fmt=d.pix_fmt, fps=parse_fps(d.fps), max_frames=d.max_frames,
                start=d.start or 0)


def load_video(path: str | Path, cfg, progress=None) -> Video:
    """The video as ``data.*`` selects it; ``progress(n)`` after every n frames read (then read in chunks
    into one array of the probed length: the same frames as ``read_video``, a bar's worth of feedback)."""
    if progress is None:
        video = read_video(str(path), **video_selection(cfg))
    else:
        video = _read_counted(path, cfg, progress)
    crop = parse_crop(cfg.data.get("crop"))
    return centre_crop(video, *crop) if crop else video


def _read_counted(path, cfg, progress) -> Video:
    import numpy as np
    sel = video_selection(cfg)
    n = probe_video(str(path), **sel)[0]
    frames, got = None, 0
    with iter_video(str(path), chunk=8, **sel) as chunks:
        for c in chunks:
            if frames is None:
                frames = np.empty((n,) + c.shape[1:], dtype=np.uint8)
            if got + len(c) > n:  # a container whose probed count was short: keep every frame read
                frames = np.concatenate([frames[:got], c])
            else:
                frames[got:got + len(c)] = c
            got += len(c)
            progress(len(c))
        fps, pix = chunks.fps, chunks.source_pix_fmt
    if frames is None:
        return read_video(str(path), **sel)  # no frame at all: read_video's own error
    return Video(frames=np.ascontiguousarray(frames[:got]), fps=fps, source_pix_fmt=pix, path=str(path))


def check_video_memory(path: str | Path, cfg) -> None:
    """Refuse up front (with the numbers) a video whose frames would not fit in memory."""
    n, h, w, _ = probe_video(str(path), **video_selection(cfg))
    check_fit_memory(path, n, h, w)
