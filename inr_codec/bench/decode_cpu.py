"""Decode speed on the CPU: what ``inrcodec decode`` does for a whole file, minus writing the video.

Three timed stages, best of ``--repeats`` runs after a warm-up run, on ``--threads`` threads (1 by default):

* ``parse``: the file's bytes to a CompressedModel (``container.from_bytes``: framing, checksums, records);
* ``entropy``: the decoder built from it (``decode.reference.build_decoder``: every tensor's symbols
  range-decoded, with the re-encoding check of every payload, and dequantized; a group-wise file
  (NIRVANA) decodes its groups on demand, so for it this is part of ``frames``);
* ``frames``: every frame decoded and converted to uint8 RGB in batches of ``--batch``, by ``--backend``
  (``torch``: the reference; ``fused``: the latent codec's tiled decoder, ``decode/latent_cpu.py``).

``--synthetic WxH`` measures a latent file of the default architecture (``model=latent compress=latent``)
made on the spot for ``--frames`` frames of that size: random grids and synthesis, the file's real coding
(``--save PATH`` keeps it).

    python scripts/bench_decode_cpu.py model.bin [--threads 1] [--repeats 3] [--batch 8] [--backend fused]
    python scripts/bench_decode_cpu.py --synthetic 832x480 --frames 32 --backend fused
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from .. import container
from ..decode import BACKENDS, backend_batches
from ..decode.reference import build_decoder
from ..errors import InputError
from ..words import plural
from .synthetic import latent_file

CPU_BACKENDS = tuple(b for b in BACKENDS if b != "triton")


def measure(source: Path | bytes, threads: int = 1, repeats: int = 3, batch: int = 8, backend: str = "torch") -> dict:
    """Seconds of each stage and frames per second for a file (a path, or its bytes)."""
    if backend not in CPU_BACKENDS:
        raise InputError(f"unknown CPU backend '{backend}'; choose one of: {', '.join(CPU_BACKENDS)}")
    batches_of = backend_batches(backend)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        data = source if isinstance(source, bytes) else source.read_bytes()
        best = None
        for _ in range(repeats + 1):  # the first run warms up (allocations, lazy imports)
            t0 = time.perf_counter()
            cm = container.from_bytes(data)
            t1 = time.perf_counter()
            decoder = None if cm.groups else build_decoder(cm)  # group files decode each group on demand
            t2 = time.perf_counter()
            frames, shape = 0, None
            for b in batches_of(cm, device="cpu", batch_size=batch, decoder=decoder):
                frames, shape = frames + len(b), b.shape
            t3 = time.perf_counter()
            run = (t1 - t0, t2 - t1, t3 - t2)
            best = run if best is None or sum(run) < sum(best) else best
    finally:
        torch.set_num_threads(before)
    parse_s, entropy_s, frames_s = best
    return dict(file=str(source) if isinstance(source, Path) else "synthetic", frames=frames, width=int(shape[2]),
                height=int(shape[1]), threads=threads, backend=backend, parse_s=round(parse_s, 4),
                entropy_s=round(entropy_s, 4), frames_s=round(frames_s, 4), fps=round(frames / sum(best), 2))


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT, e.g. 832x480") from None
    if w < 1 or h < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must have a positive width and height")
    return w, h


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path, nargs="?", help="a model.bin (or --synthetic)")
    ap.add_argument("--synthetic", type=_size, metavar="WxH", help="a default-architecture latent file of this size")
    ap.add_argument("--frames", type=int, default=32, help="frames of the synthetic file (default 32)")
    ap.add_argument("--save", type=Path, help="also write the synthetic file here")
    ap.add_argument("--backend", default="torch", choices=CPU_BACKENDS)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8)
    a = ap.parse_args(argv)
    for name in ("threads", "repeats", "batch", "frames"):
        if getattr(a, name) < 1:
            ap.error(f"--{name} must be at least 1")
    if (a.model is None) == (a.synthetic is None):
        ap.error("give a model file or --synthetic WxH, not both")
    try:
        source = a.model
        if a.synthetic:
            source = latent_file(a.frames, a.synthetic[1], a.synthetic[0])
            if a.save:
                a.save.write_bytes(source)
        r = measure(source, a.threads, a.repeats, a.batch, a.backend)
    except (OSError, InputError) as e:  # a missing, unreadable or damaged file: one line
        print(f"bench_decode_cpu: error: {a.model or 'synthetic'}: {getattr(e, 'strerror', None) or e}",
              file=sys.stderr)
        return 2
    print(f"{r['file']}: {r['frames']} frames of {r['width']}x{r['height']} on {plural(r['threads'], 'thread')}, "
          f"{r['backend']} backend: parse {r['parse_s']:.3f} s, entropy decoding {r['entropy_s']:.3f} s, "
          f"frames {r['frames_s']:.3f} s: {r['fps']:.1f} frames/s")
    return 0
