"""B6, fitting on the CPU: how fast a training step runs and how soon a fit reaches a quality.

* **Step throughput**: the fit's own model, rate term and optimizer (``model=latent compress=latent`` unless
  the overrides say otherwise), ``--steps`` training steps timed after a warm-up, for each thread count of
  ``--threads``: frame-steps per second (frames a step x steps per second) and the FLOP/s that implies.
  A training step counts as 3x the decoder's forward multiply-accumulates (forward, then the gradients of
  the activations and of the weights), 2 FLOP each: the same convention as the profile in
  docs/experiments.md.
* **Time to quality**: one real ``inrcodec fit`` per entry of ``--budgets`` (``train.budget_s``, the whole
  fit and its fine-tuning within it) or ``--epochs``: the written file's bytes and PSNR against its fit
  seconds.

    python scripts/bench_fit_cpu.py --threads 1,2 --budgets 60,120,240 --csv b6.csv
    python scripts/bench_fit_cpu.py clip.mkv compress.lmbda=0.008 --epochs 25,50,100
"""
from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

from ..errors import InputError

DEFAULTS = ["model=latent", "compress=latent"]
TRAINING_FLOPS_PER_MAC = 2 * 3  # 2 FLOP a MAC; forward + the two halves of the backward pass


def build(video, overrides):
    """The fit's trainer for ``overrides`` (model, frames, rate term, optimizer), without a run directory."""
    import torch

    from .. import api
    from ..config import compose, model_settings, validate
    from ..fitting import _fit_rate, padded_frames
    from ..models import get_model_class
    from ..train.trainer import Trainer
    cfg = compose(list(overrides))
    validate(cfg)
    device = api.resolve_device(cfg.device)
    v = api.load_video(video if video is not None else api.sample_clip(), cfg)
    torch.manual_seed(int(cfg.seed))
    settings = model_settings(cfg, v.num_frames, v.height, v.width)
    model = get_model_class(settings["name"]).create(settings, v.num_frames, v.height, v.width).to(device)
    frames = padded_frames(model.arch, v.frames, device)
    extra = _fit_rate(model, frames, cfg) if cfg.compress.get("entropy", "static") == "learned" else None
    trainer = Trainer(model, frames, cfg.train, seed=int(cfg.seed), show_progress=False, extra_loss=extra)
    return trainer, v, settings["name"]


def step_throughput(video, overrides, steps: int, threads: int, warmup: int = 5) -> dict:
    """Median seconds of ``steps`` training steps on ``threads`` threads, as frame-steps and FLOP per second."""
    import torch

    from ..models.macs import macs_per_frame
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        trainer, v, name = build(video, overrides)
        bs, n = trainer.batch_size, len(trainer.frames)
        lr = float(trainer.cfg.lr)
        seconds = []
        for i in range(warmup + steps):
            t = time.perf_counter()
            trainer._train_step(torch.arange(i * bs, (i + 1) * bs, device=trainer.frames.device) % n, lr)
            seconds.append(time.perf_counter() - t)
    finally:
        torch.set_num_threads(before)
    step_s = statistics.median(seconds[warmup:])
    macs = macs_per_frame(name, trainer.model.arch)
    return {"threads": threads, "batch": bs, "ms_per_step": 1000 * step_s, "frame_steps_per_s": bs / step_s,
            "gflop_per_s": TRAINING_FLOPS_PER_MAC * macs * bs / step_s / 1e9, "macs_per_frame": macs,
            "size": f"{v.width}x{v.height}"}


def step_profile(video, overrides, reps: int = 20) -> dict[str, float]:
    """Where a training step of the latent model goes, in ms (medians of ``reps``, one thread as set by the
    caller): each part run alone with its backward pass, and the whole step; what the parts leave is the
    loop's own work (loss, gradients' bookkeeping, Python)."""
    import torch

    trainer, _, name = build(video, overrides)
    if name != "latent":
        raise InputError(f"--profile breaks down model=latent's step; this is model={name}")
    dec, rate, opt = trainer.model.decoder, trainer.extra_loss, trainer.optimizer
    bs, n = trainer.batch_size, len(trainer.frames)
    idx = torch.arange(bs) % n

    def timed(fn) -> float:
        seconds = []
        for i in range(reps + 3):
            opt.zero_grad(set_to_none=True)
            t = time.perf_counter()
            fn()
            seconds.append(time.perf_counter() - t)
        return 1000 * statistics.median(seconds[3:])

    levels = torch.stack(dec._levels(idx, by_matmul=True)).detach().requires_grad_()
    parts = {
        "levels: time blend and upsampling": timed(lambda: torch.stack(dec._levels(idx, by_matmul=True)).sum().backward()),
        "synthesis": timed(lambda: dec.synthesis.forward_channels_first(levels).sum().backward()),
    }
    whole_model = timed(lambda: dec(idx).sum().backward())
    if rate is not None:
        parts["rate term"] = timed(lambda: (dec(idx).sum() + rate(idx)).backward()) - whole_model
    parts["optimizer"] = timed(lambda: (dec(idx).sum().backward(), opt.step())) - whole_model
    lr = float(trainer.cfg.lr)
    whole = timed(lambda: trainer._train_step(idx, lr))
    parts["the rest: noise on the weights, loss, autograd, Python"] = whole - sum(parts.values())
    parts["whole step"] = whole
    return parts


def time_to_quality(video, overrides, setting: str, values: list, outputs: Path) -> list[dict]:
    """One fit per value of ``setting`` (train.budget_s or train.epochs): bytes, PSNR, fit seconds."""
    from .. import api
    rows = []
    for value in values:
        s = api.fit(video, [*overrides, f"{setting}={value}", "measure=psnr"], outputs_root=outputs,
                    show_progress=False)
        rows.append({setting: value, "fit_s": s["fit_seconds"], "epochs": s["epochs"], "bytes": s["bytes"],
                     "psnr": s["psnr"]})
    return rows


def _ints(text: str | None, what: str) -> list[int]:
    if not text:
        return []
    try:
        values = [int(x) for x in text.split(",")]
    except ValueError:
        raise InputError(f"{what} {text} is not a comma list of whole numbers") from None
    if any(x <= 0 for x in values):
        raise InputError(f"{what} {text}: every value must be positive")
    return values


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="bench_fit_cpu.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("video", nargs="?", help="video to fit (default: the bundled sample)")
    ap.add_argument("overrides", nargs="*", help=f"fit overrides (default {' '.join(DEFAULTS)} first)")
    ap.add_argument("--threads", default="1", help="comma list of thread counts for the step throughput")
    ap.add_argument("--steps", type=int, default=40, help="timed training steps per thread count (default 40)")
    ap.add_argument("--budgets", help="comma list of train.budget_s: one fit each (time to quality)")
    ap.add_argument("--epochs", help="comma list of train.epochs: one fit each (time to quality)")
    ap.add_argument("--outputs", default="outputs/bench_fit_cpu", help="root of the fits' run directories")
    ap.add_argument("--csv", help="write the time-to-quality rows here")
    ap.add_argument("--profile", action="store_true", help="break one thread's step of model=latent down by part")
    a = ap.parse_args(argv)
    if a.video is not None and "=" in a.video:  # only overrides given
        a.overrides, a.video = [a.video, *a.overrides], None
    overrides = [*DEFAULTS, *a.overrides]
    try:
        if a.budgets and a.epochs:
            raise InputError("--budgets and --epochs each make a time-to-quality curve; give one")
        threads, budgets, epochs = _ints(a.threads, "--threads"), _ints(a.budgets, "--budgets"), _ints(a.epochs, "--epochs")
        if a.steps <= 0:
            raise InputError(f"--steps {a.steps} must be positive")
        if a.video is not None:
            from ..io.common import require_file
            require_file(a.video)
        print(f"{'threads':>7} {'batch':>5} {'ms/step':>8} {'frame-steps/s':>13} {'GFLOP/s':>8}")
        for n in threads:
            r = step_throughput(a.video, overrides, a.steps, n)
            print(f"{n:>7} {r['batch']:>5} {r['ms_per_step']:>8.1f} {r['frame_steps_per_s']:>13.1f} "
                  f"{r['gflop_per_s']:>8.3g}   ({r['size']}, {r['macs_per_frame'] / 1e6:.1f} MMAC a frame)")
        if threads:
            from ..compress.entropy_models import rate_native
            print("C kernels of the step (train/native): " +
                  ("built" if rate_native._lib() is not None else "not built, torch's path (slower)"))
        if a.profile:
            import torch
            torch.set_num_threads(1)
            parts = step_profile(a.video, overrides)
            print("\none thread, ms a step:")
            for part, ms in parts.items():
                print(f"  {ms:7.1f}  {part}")
        setting, values = ("train.budget_s", budgets) if budgets else ("train.epochs", epochs)
        if values:
            rows = time_to_quality(a.video, overrides, setting, values, Path(a.outputs))
            print(f"\n{setting:>14} {'fit s':>8} {'epochs':>6} {'bytes':>9} {'PSNR':>7}")
            for r in rows:
                print(f"{r[setting]:>14} {r['fit_s']:>8.1f} {r['epochs']:>6} {r['bytes']:>9,} {r['psnr']:>7.2f}")
            if a.csv:
                from ..io.common import atomic_file
                with atomic_file(a.csv) as tmp, open(tmp, "w", newline="") as f:
                    w = csv.DictWriter(f, fieldnames=list(rows[0]))
                    w.writeheader()
                    w.writerows(rows)
                print(f"wrote {a.csv}")
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
