"""Decode speed on the CPU: what ``inrcodec decode`` does for a whole file, minus writing the video.

Three timed stages, best of ``--repeats`` runs after a warm-up run, on ``--threads`` threads (1 by default):

* ``parse``: the file's bytes to a CompressedModel (``container.from_bytes``: framing, checksums, records);
* ``entropy``: the decoder built from it (``decode.reference.build_decoder``: every tensor's symbols
  range-decoded, with the re-encoding check of every payload, and dequantized; a group-wise file
  (NIRVANA) decodes its groups on demand, so for it this is part of ``frames``);
* ``frames``: every frame decoded and converted to uint8 RGB in batches of ``--batch``.

    python scripts/bench_decode_cpu.py model.bin [--threads 1] [--repeats 3] [--batch 8]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from .. import container
from ..decode.reference import build_decoder, decode_frames
from ..errors import InputError
from ..words import plural


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
            decoder = None if cm.groups else build_decoder(cm)  # group files decode each group on demand
            t2 = time.perf_counter()
            out = decode_frames(cm, device="cpu", batch_size=batch, decoder=decoder)
            t3 = time.perf_counter()
            run = (t1 - t0, t2 - t1, t3 - t2)
            best = run if best is None or sum(run) < sum(best) else best
    finally:
        torch.set_num_threads(before)
    frames = int(out.shape[0])
    parse_s, entropy_s, frames_s = best
    return dict(file=str(path), frames=frames, width=int(out.shape[2]), height=int(out.shape[1]), threads=threads,
                parse_s=round(parse_s, 4), entropy_s=round(entropy_s, 4), frames_s=round(frames_s, 4),
                fps=round(frames / sum(best), 2))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8)
    a = ap.parse_args(argv)
    for name in ("threads", "repeats", "batch"):
        if getattr(a, name) < 1:
            ap.error(f"--{name} must be at least 1")
    try:
        r = measure(a.model, a.threads, a.repeats, a.batch)
    except (OSError, InputError) as e:  # a missing, unreadable or damaged file: one line
        print(f"bench_decode_cpu: error: {a.model}: {getattr(e, 'strerror', None) or e}", file=sys.stderr)
        return 2
    print(f"{r['file']}: {r['frames']} frames of {r['width']}x{r['height']} on {plural(r['threads'], 'thread')}: "
          f"parse {r['parse_s']:.3f} s, entropy decoding {r['entropy_s']:.3f} s, frames {r['frames_s']:.3f} s: "
          f"{r['fps']:.1f} frames/s")
    return 0
