"""Decode speed on the CPU: what ``inrcodec decode`` does for a whole file, minus writing the video.

Two timed stages, best of ``--repeats`` runs after a warm-up run, on ``--threads`` threads (1 by default):

* ``read``: the file's bytes to a CompressedModel (``container.from_bytes``: checks, entropy decoding
  of every tensor and the re-encoding check of every payload);
* ``frames``: the decoder built from it, every frame decoded and converted to uint8 RGB in batches
  of ``--batch`` (``decode.reference.decode_frames``).

    python scripts/bench_decode_cpu.py model.bin [--threads 1] [--repeats 3] [--batch 8]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from .. import container
from ..decode.reference import decode_frames


def measure(path: Path, threads: int = 1, repeats: int = 3, batch: int = 8) -> dict:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        data = path.read_bytes()
        best = None
        for _ in range(repeats + 1):  # the first run warms up (allocations, lazy imports)
            t0 = time.perf_counter()
            cm = container.from_bytes(data)
            t1 = time.perf_counter()
            out = decode_frames(cm, device="cpu", batch_size=batch)
            t2 = time.perf_counter()
            run = (t1 - t0, t2 - t1)
            best = run if best is None or sum(run) < sum(best) else best
    finally:
        torch.set_num_threads(before)
    frames = int(out.shape[0])
    read_s, frames_s = best
    return dict(file=str(path), frames=frames, width=int(out.shape[2]), height=int(out.shape[1]), threads=threads,
                read_s=round(read_s, 4), frames_s=round(frames_s, 4), fps=round(frames / (read_s + frames_s), 2))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8)
    a = ap.parse_args(argv)
    r = measure(a.model, a.threads, a.repeats, a.batch)
    print(f"{r['file']}: {r['frames']} frames of {r['width']}x{r['height']} on {r['threads']} thread(s): "
          f"read and entropy-decode {r['read_s']:.3f} s, frames {r['frames_s']:.3f} s, {r['fps']:.1f} frames/s")
    return 0
