"""The figures reported about a written file: bpp from its size, quality from decoding it."""
from __future__ import annotations

import numpy as np
import torch

from .container.records import CompressedModel, VideoMeta
from .decode.reference import decode_batches


def bpp(nbytes: int, video: VideoMeta) -> float:
    """Bits per pixel of a file: 8 × bytes / (width × height × frames)."""
    return 8.0 * nbytes / (video.width * video.height * video.frames)


@torch.no_grad()
def measure_file(cm: CompressedModel, source: np.ndarray, device, metrics, decoder=None) -> dict[str, float]:
    """Mean metrics of the decoded frames against the source, one batch in memory at a time.

    With ``decoder`` (an in-memory network) the frames are converted exactly as the file's are.
    """
    from .metrics.frames import FrameMeter
    meter = FrameMeter(source, metrics, device=device)
    for batch in decode_batches(cm, device=device, decoder=decoder):
        meter.add(batch)
    return meter.means()


def measure_file_stream(cm: CompressedModel, chunks, device, metrics=("psnr", "msssim")) -> dict[str, float]:
    """Mean metrics of a group-wise file against the source read chunk by chunk (chunk = gop = a group, and
    decoded batches of gop frames never cross a group, so they line up)."""
    from .metrics.frames import FrameMeter
    cols: dict[str, list] = {}
    batches = decode_batches(cm, device=device, batch_size=cm.model["gop"])
    for ref in chunks:
        meter = FrameMeter(ref, metrics, device=device)
        meter.add(next(batches))
        for k, v in meter.per_frame().items():
            cols.setdefault(k, []).append(v)
    return {k: float(np.mean(np.concatenate(v))) for k, v in cols.items()}
