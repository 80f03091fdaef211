"""The figures reported about a written file: bpp from its size, quality from decoding it, and its worst
frame (the source, the decoded frame and their error, for the picture ``fit`` leaves in the run directory)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .bench.evaluate import measure_batches, worst_key
from .container.records import CompressedModel, VideoMeta
from .decode.reference import decode_batches


@dataclass
class Worst:
    index: int              # frame index in the video
    by: str                 # the metric that picked it (psnr where measured, see bench/evaluate.worst_key)
    value: float
    source: np.ndarray      # uint8 (H, W, 3)
    decoded: np.ndarray


def bpp(nbytes: int, video: VideoMeta) -> float:
    """Bits per pixel of a file: 8 × bytes / (width × height × frames)."""
    return 8.0 * nbytes / (video.width * video.height * video.frames)


def _counted(batches, progress):
    for batch in batches:
        yield batch
        if progress is not None:
            progress(len(batch))


def measure_file(cm: CompressedModel, source: np.ndarray, device, metrics, decoder=None,
                 progress=None) -> dict[str, float]:
    """Mean metrics of the decoded frames against the source, one batch in memory at a time.

    With ``decoder`` (an in-memory network) the frames are converted exactly as the file's are;
    ``progress(n)`` is called after each batch of n frames."""
    return measure_worst(cm, source, device, metrics, decoder=decoder, progress=progress)[0]


@torch.no_grad()
def measure_worst(cm: CompressedModel, source: np.ndarray, device, metrics, decoder=None,
                  progress=None) -> tuple[dict[str, float], Worst]:
    """:func:`measure_file`'s means and the worst frame (eval's per-frame measurement, bench/evaluate.py)."""
    batches = _counted(decode_batches(cm, device=device, decoder=decoder), progress)
    per_frame, worst, img = measure_batches(batches, source, metrics, device=device)
    by = worst_key(per_frame)[0]
    return ({k: float(np.mean(v)) for k, v in per_frame.items()},
            Worst(worst, by, float(per_frame[by][worst]), source[worst], img))


@torch.no_grad()
def measure_file_stream(cm: CompressedModel, chunks, device, metrics=("psnr", "msssim"),
                        progress=None) -> tuple[dict[str, float], Worst]:
    """Mean metrics of a group-wise file against the source read chunk by chunk (chunk = gop = a group, and
    decoded batches of gop frames never cross a group, so they line up), and the worst frame."""
    cols: dict[str, list] = {}
    worst = None
    batches = _counted(decode_batches(cm, device=device, batch_size=cm.model["gop"]), progress)
    start = 0
    for ref in chunks:
        per_frame, i, img = measure_batches([next(batches)], ref, metrics, device=device)
        by, sign = worst_key(per_frame)
        if worst is None or sign * per_frame[by][i] < sign * worst.value:
            worst = Worst(start + i, by, float(per_frame[by][i]), ref[i].copy(), img)
        for k, v in per_frame.items():
            cols.setdefault(k, []).append(v)
        start += len(ref)
    return {k: float(np.mean(np.concatenate(v))) for k, v in cols.items()}, worst
