"""B3, decode speed: frames per second for a whole model.bin, per backend and dtype, on one GPU.

For each provider two figures:
  * ``file_fps``: the whole file, as ``inrcodec decode`` does it minus the writing: entropy decoding
    and weight loading (``container.from_bytes`` → decoder or launch plan), every frame decoded and
    copied to host memory as uint8. Best of ``--repeats`` runs after one warm-up run (which compiles,
    autotunes and captures graphs).
  * ``net_fps``: the network alone in a steady state (frames stay on the GPU), from which the
    achieved TFLOP/s (2 × MACs) and the share of ``--peak`` come.

Without a model file it builds the HNeRV-1.5M 640x1280 configuration in memory with random weights
and sends it through the same CompressedModel bytes path; with ``--latent``, a latent file of the default
architecture at ``--size`` (``bench/synthetic.py``). ``--batch-size`` takes a comma list (``1,8``).
``--device cpu`` is a smoke mode for tests (a tiny model; triton only under TRITON_INTERPRET=1); real
figures need a CUDA GPU.
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .. import container
from ..errors import BackendError, InputError

GPU_PROVIDERS = ("eager_fp32", "eager_fp16_cl", "compile_fp16_cl", "triton_fp16", "triton_bf16")
ALL_PROVIDERS = GPU_PROVIDERS + ("triton_fp32",)
DEFAULT_PEAK_TFLOPS = 800.0  # dense fp16/bf16 tensor-core peak to compare against (H100/H200 class); --peak


@dataclass
class Result:
    provider: str
    device: str
    frames: int
    batch_size: int
    width: int
    height: int
    gmac_per_frame: float
    macs_per_pixel: float
    file_fps: float
    net_fps: float
    tflops: float
    peak_share: float


def synthetic_model(frames: int = 132, height: int = 640, width: int = 1280, size_m: float = 1.5,
                    extra: tuple[str, ...] = (), seed: int = 0) -> bytes:
    """model.bin bytes of an HNeRV of ``size_m`` million parameters for frames×height×width, random weights."""
    from fractions import Fraction

    from ..compress.pipeline import compress_decoder
    from ..config import compose, model_settings
    from ..container.records import VideoMeta
    from ..models import get_model_class

    cfg = compose(["model=hnerv", f"model.size_m={size_m}", *extra])
    settings = model_settings(cfg, frames, height, width)
    cls = get_model_class(settings["name"])
    torch.manual_seed(seed)
    model = cls.create(settings, frames, height, width)
    dec = model.decoder
    with torch.no_grad():
        dec.embeddings.normal_()
    p = int(np.prod(model.arch["strides"]))
    meta = VideoMeta(width=width, height=height, frames=frames, fps=Fraction(25), pad_width=model.arch["w0"] * p,
                     pad_height=model.arch["h0"] * p, source_pix_fmt="rgb24")
    return container.to_bytes(compress_decoder(dec, cls.name, model.arch, meta, cfg.compress))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _torch_decoder(cm, provider: str, device: torch.device):
    from ..decode.reference import build_decoder
    if provider == "eager_fp32":
        return build_decoder(cm, device, "fp32")
    dec = build_decoder(cm, device, "fp16").to(memory_format=torch.channels_last)
    if provider == "compile_fp16_cl":
        dec = torch.compile(dec, mode="max-autotune")
    return dec


def _prepare(cm, provider: str, device: torch.device):
    """(device step: idx → uint8 frames on the device, whole-file batches generator factory)."""
    from ..decode import reference
    if provider.startswith("triton_"):
        from ..decode import triton as tb
        plan = tb.build_plan(cm, device, provider.split("_")[1])
        return plan.run, lambda bs: tb.decode_batches(cm, batch_size=bs, plan=plan)
    dec = _torch_decoder(cm, provider, device)
    v = cm.video

    @torch.no_grad()
    def step(idx):
        x = dec(idx)[:, :, v.crop_top:v.crop_top + v.height, v.crop_left:v.crop_left + v.width]
        return (x.float() * 255.0).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()
    return step, lambda bs: reference.decode_batches(cm, device=device, batch_size=bs, decoder=dec)


def whole_file_seconds(data: bytes, provider: str, device: torch.device, batch_size: int) -> tuple[float, int]:
    """Seconds to decode every frame of ``data`` to host uint8 (entropy decoding and weight loading included)."""
    _sync(device)
    t0 = time.perf_counter()
    cm = container.from_bytes(data)
    _, batches = _prepare(cm, provider, device)
    n = sum(len(b) for b in batches(batch_size))
    _sync(device)
    return time.perf_counter() - t0, n


def network_fps(cm, provider: str, device: torch.device, batch_size: int, iters: int) -> float:
    step, _ = _prepare(cm, provider, device)
    n = cm.video.frames
    batches = [torch.arange(s, min(s + batch_size, n), device=device) % n for s in range(0, n, batch_size)]
    batches = [b for b in batches if len(b) == batch_size] or [torch.arange(batch_size, device=device) % n]
    for b in batches[:2]:
        step(b)  # warm-up: compile, autotune, capture
    _sync(device)
    t0, frames = time.perf_counter(), 0
    for i in range(iters):
        frames += len(step(batches[i % len(batches)]))
    _sync(device)
    return frames / (time.perf_counter() - t0)


def run(data: bytes, providers, device: torch.device, batch_sizes, repeats: int, iters: int,
        peak_tflops: float) -> list[Result]:
    from ..models.macs import macs_per_frame
    cm = container.from_bytes(data)
    macs = macs_per_frame(cm.model["name"], cm.model)
    v = cm.video
    out = []
    for batch_size in [batch_sizes] if isinstance(batch_sizes, int) else batch_sizes:
        for prov in providers:
            whole_file_seconds(data, prov, device, batch_size)  # warm-up
            best, n = min(whole_file_seconds(data, prov, device, batch_size) for _ in range(repeats))
            net = network_fps(cm, prov, device, batch_size, iters)
            tflops = 2 * macs * net / 1e12
            out.append(Result(prov, str(device), n, batch_size, v.width, v.height, macs / 1e9,
                              macs / (v.width * v.height), n / best, net, tflops, tflops / peak_tflops))
    return out


def _check_device(name: str, providers) -> torch.device:
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BackendError("the decode-speed benchmark needs a CUDA GPU; --device cpu runs a smoke test only")
    if device.type == "cpu":
        bad = [p for p in providers if p not in ("eager_fp32",) and not p.startswith("triton_")]
        if bad:
            raise BackendError(f"providers {', '.join(bad)} need a CUDA GPU")
    return device


def _batch_sizes(text: str) -> list[int]:
    try:
        sizes = [int(x) for x in str(text).split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise InputError(f"--batch-size {text} is not a whole number or a comma list of them, each at least 1")
    return sizes


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise InputError(f"--size {text} is not HEIGHTxWIDTH, e.g. 1080x1920") from None
    if h < 1 or w < 1:
        raise InputError(f"--size {text} must have a positive height and width")
    return h, w


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="bench_decode", description=__doc__.split("\n\n")[0])
    p.add_argument("model", nargs="?", help="a model.bin (default: synthetic HNeRV 1.5M, 640x1280, 132 frames)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--providers", help=f"comma list of {', '.join(ALL_PROVIDERS)} (default: the GPU set, "
                                       "or eager_fp32,triton_fp32 with --device cpu)")
    p.add_argument("--batch-size", default="32", help="frames per batch, or a comma list (1,8)")
    p.add_argument("--frames", type=int, default=132, help="frames of the synthetic model")
    p.add_argument("--size", default="640x1280", metavar="HxW", help="frame size of the synthetic model")
    p.add_argument("--size-m", type=float, default=1.5, help="millions of parameters of the synthetic model")
    p.add_argument("--tiny", action="store_true", help="a tiny synthetic model (smoke tests)")
    p.add_argument("--latent", action="store_true", help="a synthetic latent file of the default architecture without motion "
                   "(the Triton kernel does not take motion yet)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--iters", type=int, default=50, help="batches timed for the network-only figure")
    p.add_argument("--peak", type=float, default=DEFAULT_PEAK_TFLOPS, help="the GPU's peak TFLOP/s (default 800)")
    p.add_argument("--csv", help="also write the results here")
    a = p.parse_args(argv)
    try:
        default = GPU_PROVIDERS if a.device.startswith("cuda") else ("eager_fp32", "triton_fp32")
        providers = a.providers.split(",") if a.providers else list(default)
        unknown = [x for x in providers if x not in ALL_PROVIDERS]
        if unknown:
            raise InputError(f"unknown providers {', '.join(unknown)}; choose from {', '.join(ALL_PROVIDERS)}")
        device = _check_device(a.device, providers)
        batch_sizes = _batch_sizes(a.batch_size)
        if a.model:
            data = Path(a.model).read_bytes()
        elif a.latent:
            from .synthetic import latent_file
            h, w = _size(a.size)
            data = latent_file(a.frames, h, w, overrides=("model.motion=false",))  # the Triton kernel's
        elif a.tiny:
            data = synthetic_model(4, 24, 40, 0.004, ("model.blocks=3", "model.latent_side=2"))
        else:
            data = synthetic_model(a.frames, *_size(a.size), a.size_m)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        results = run(data, providers, device, batch_sizes, a.repeats, a.iters, a.peak)
    except (InputError, OSError, ValueError) as e:
        print(f"bench_decode: error: {e}", file=sys.stderr)
        return 2
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    r0 = results[0]
    print(f"{name}: {r0.frames} frames of {r0.width}x{r0.height}, "
          f"{r0.gmac_per_frame:.2f} GMAC/frame, {r0.macs_per_pixel:,.0f} MACs/pixel, peak {a.peak:g} TFLOP/s")
    print(f"{'provider':18s} {'batch':>5s} {'file fps':>10s} {'net fps':>10s} {'TFLOP/s':>9s} {'of peak':>8s}")
    for r in results:
        print(f"{r.provider:18s} {r.batch_size:5d} {r.file_fps:10.1f} {r.net_fps:10.1f} {r.tflops:9.2f} "
              f"{100 * r.peak_share:7.1f}%")
    if a.csv:
        from inr_codec.io.common import atomic_file
        try:
            with atomic_file(a.csv) as tmp, open(tmp, "w", newline="") as f:  # whole or not at all
                wr = csv.DictWriter(f, fieldnames=list(asdict(results[0])))
                wr.writeheader()
                wr.writerows(asdict(r) for r in results)
        except InputError as e:
            print(f"bench_decode: error: {e}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
