#!/usr/bin/env python
"""Coverage-guided fuzzing of the model.bin reader and the entropy decoder, with atheris (libFuzzer).

CI runs the property-based version (tests/unit/test_container.py, a few thousand examples); this
runs as long as you like, on demand:

    pip install atheris
    python scripts/fuzz_container.py fuzz-corpus/ -max_total_time=600

The corpus folder is created and seeded with valid model files when empty. Every input must
parse or fail with a one-line ContainerError; anything else (another exception, a crash, more
than -timeout seconds or -rss_limit_mb of memory, by default 5 s and 2048 MB) stops the run and
leaves the input in crash-*/timeout-*/oom-*; replay it with
``python scripts/fuzz_container.py crash-<hash>``.
"""
from __future__ import annotations

import sys
from pathlib import Path

try:
    import atheris
except ImportError:
    sys.exit("scripts/fuzz_container.py needs atheris, which is not installed: pip install atheris "
             "(Linux/macOS, CPython 3.8-3.11 wheels; otherwise it builds with clang). "
             "Without it, run the property-based fuzz tests: python -m pytest tests/unit/test_container.py")

with atheris.instrument_imports(include=["inr_codec"]):
    from inr_codec import container
    from inr_codec.compress.codec import decode_tensor
    from inr_codec.errors import ContainerError

MAX_DECODED = 1 << 16  # elements per tensor we entropy-decode per input (bounded work)


def test_one_input(data: bytes) -> None:
    try:
        cm = container.from_bytes(data)
    except ContainerError as e:
        if "\n" in str(e) or "\r" in str(e):
            raise AssertionError(f"multi-line error message: {e!r}") from None
        return
    for t in cm.tensors:
        n = 1
        for d in t.shape:
            n *= d
        if n <= MAX_DECODED:
            try:
                decode_tensor(t)
            except ContainerError as e:
                if "\n" in str(e):
                    raise AssertionError(f"multi-line error message: {e!r}") from None


def seed_corpus(folder: Path) -> None:
    """A few valid files (several bit depths, coders, shapes) for the fuzzer to mutate."""
    from fractions import Fraction

    import numpy as np

    from inr_codec.compress.codec import code_tensor
    from inr_codec.container.records import CompressedModel, VideoMeta

    rng = np.random.default_rng(0)
    video = VideoMeta(width=37, height=23, frames=6, fps=Fraction(30000, 1001), pad_width=40, pad_height=24,
                      source_pix_fmt="yuv420p")
    shapes = [(4, 2, 3, 3), (4,), (3, 4, 1, 1), (), (0, 3), (5, 5)]
    for i, bits in enumerate((2, 6, 8, 16)):
        tensors = [code_tensor(f"t{j}", (rng.standard_normal(s) * 0.1).astype(np.float32), bits, 0)
                   for j, s in enumerate(shapes)]
        tensors.append(code_tensor("const", np.full((3, 3), 0.5, np.float32), bits, -1))
        cm = CompressedModel(video=video, model={"name": "nerv", "strides": [2, 2], "x": [1.5, None, "s"]},
                             tensors=tensors, extra={"seed": i} if i % 2 else {})
        (folder / f"seed-{bits}bit.bin").write_bytes(container.to_bytes(cm))


def main(argv: list[str]) -> None:
    args = list(argv)
    dirs = [Path(a) for a in args[1:] if not a.startswith("-") and not Path(a).is_file()]
    for d in dirs[:1]:
        d.mkdir(parents=True, exist_ok=True)
        if not any(d.iterdir()):
            seed_corpus(d)
    for flag, default in (("-timeout=", "5"), ("-rss_limit_mb=", "2048")):
        if not any(a.startswith(flag) for a in args):
            args.append(flag + default)
    atheris.Setup(args, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
