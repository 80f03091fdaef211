"""B1, fit speed and quality: PSNR against wall-clock seconds and epochs, the time to a threshold,
and where a training step's time goes.

One real ``inrcodec fit`` (file written, PSNR measured from it) per entry of ``--epochs``. For each:
the curve of training PSNR (the running mean over each epoch, before quantization) against
seconds and epochs, the first second at which it crossed ``--threshold``, and the final PSNR of
the model before compression and of the written file. ``--profile-steps N`` then times N steps of
the same configuration under torch.profiler and prints the share of forward, backward and
optimizer, and the costliest operators.
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import torch

from ..errors import InputError


def crossing(history, threshold: float) -> tuple[int, float] | None:
    """(epoch, seconds) of the first logged epoch whose PSNR reached ``threshold``, or None."""
    for epoch, seconds, _mse, psnr in history:
        if psnr >= threshold:
            return int(epoch), float(seconds)
    return None


def fit_curve(video, overrides, outputs: Path) -> dict:
    from .. import api
    from ..train.checkpoint import load_checkpoint
    s = api.fit(video, [*overrides, "train.log_every=1"], outputs_root=outputs, show_progress=False)
    ckpt = load_checkpoint(Path(s["run_dir"]) / "checkpoints" / "fit.pt")
    return {"summary": s, "history": [tuple(h) for h in ckpt["state"]["history"]]}


def profile_steps(video, overrides, steps: int, warmup: int = 3) -> dict:
    """Time ``steps`` training steps of the configuration (after ``warmup`` untimed ones)."""
    from torch.profiler import ProfilerActivity, profile, record_function

    from .. import api
    from .fit_cpu import build
    trainer, _, _ = build(video, overrides)  # the fit's own model, frames, rate term and optimizer
    frames, device, bs = trainer.frames, trainer.frames.device, trainer.batch_size
    lr = float(trainer.cfg.lr)

    def step(i: int) -> None:
        idx = torch.arange(i * bs, (i + 1) * bs, device=device) % len(frames)
        trainer._train_step(idx, lr)

    for i in range(warmup):
        step(i)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    with profile(activities=activities) as prof:
        for i in range(steps):
            with record_function("step"):
                step(i)
        sync()
    wall = time.perf_counter() - t0
    events = prof.key_averages()
    use_cuda = device.type == "cuda"

    def self_time(e) -> float:  # microseconds on the device that does the work
        return float(getattr(e, "self_device_time_total", 0.0) if use_cuda else e.self_cpu_time_total)

    total = sum(self_time(e) for e in events) or 1.0
    groups = {"backward": 0.0, "optimizer": 0.0, "forward and data": 0.0, "python overhead": 0.0}
    for e in events:
        key = e.key
        if key == "step":  # the marker's own time: Python between operators
            groups["python overhead"] += self_time(e)
        elif "backward" in key.lower() or key.startswith("autograd::"):
            groups["backward"] += self_time(e)
        elif "Optimizer" in key or "adam" in key.lower() or "_foreach" in key:
            groups["optimizer"] += self_time(e)
        else:
            groups["forward and data"] += self_time(e)
    top = sorted(events, key=self_time, reverse=True)[:12]
    return {"steps": steps, "batch_size": bs, "ms_per_step": 1000 * wall / steps,
            "frames_per_s": steps * bs / wall, "precision": trainer.precision, "device": api.device_name(device),
            "shares": {k: v / total for k, v in groups.items()},
            "top": [(e.key, self_time(e) / total, e.count // steps) for e in top]}


def _db(v) -> str:
    return "-" if v is None else f"{v:.2f}"  # measure=none (or psnr) leaves figures out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="bench_fit.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("video", nargs="?", help="video to fit (default: the bundled sample)")
    ap.add_argument("overrides", nargs="*", help="key=value fit overrides, e.g. model.size_m=1.5 data.crop=1280x640")
    ap.add_argument("--epochs", default=None, help="comma list: one fit per value (default: the config's epochs)")
    ap.add_argument("--threshold", type=float, default=35.57, help="PSNR to time (default 35.57, HNeRV's 300 epochs)")
    ap.add_argument("--csv", help="write the curves here: epochs_run, epoch, seconds, psnr")
    ap.add_argument("--outputs", default="outputs/bench_fit", help="root of the fits' run directories")
    ap.add_argument("--profile-steps", type=int, default=0, metavar="N", help="profile N training steps afterwards")
    a = ap.parse_args(argv)
    if a.video is not None and "=" in a.video:  # only overrides given
        a.overrides, a.video = [a.video, *a.overrides], None
    try:
        runs = [None] if a.epochs is None else [int(e) for e in a.epochs.split(",")]
    except ValueError:
        print(f"error: --epochs {a.epochs} is not a comma list of whole numbers", file=sys.stderr)
        return 2
    try:
        if a.video is not None:
            from ..io.common import require_file
            require_file(a.video)  # before the table's header: an error is then the only line printed
        rows = []
        print(f"{'epochs':>6} {'fit s':>8} {'s/epoch':>8} {'train dB':>9} {'model dB':>9} {'file dB':>8} "
              f"{'bytes':>10}  reached {a.threshold:g} dB")
        for n in runs:
            ov = list(a.overrides) + ([f"train.epochs={n}"] if n is not None else [])
            r = fit_curve(a.video, ov, Path(a.outputs))
            s, hist = r["summary"], r["history"]
            hit = crossing(hist, a.threshold)
            last = hist[-1]
            reached = f"epoch {hit[0]} at {hit[1]:.1f} s" if hit else "not reached"
            print(f"{s['epochs']:>6} {last[1]:>8.1f} {last[1] / max(last[0], 1):>8.3f} {last[3]:>9.2f} "
                  f"{_db(s['psnr_before_compression']):>9} {_db(s['psnr']):>8} {s['bytes']:>10,}  {reached}")
            rows += [(s["epochs"], e, sec, p) for e, sec, _m, p in hist]
        if a.csv:
            from ..io.common import atomic_file
            with atomic_file(a.csv) as tmp, open(tmp, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["epochs_run", "epoch", "seconds", "train_psnr"])
                w.writerows(rows)
            print(f"wrote {a.csv}")
        if a.profile_steps:
            p = profile_steps(a.video, a.overrides, a.profile_steps)
            print(f"\nprofile: {p['steps']} steps of batch {p['batch_size']} on {p['device']} ({p['precision']}): "
                  f"{p['ms_per_step']:.1f} ms/step, {p['frames_per_s']:.1f} frames/s (profiler on)")
            print("  " + ", ".join(f"{k} {v:.0%}" for k, v in p["shares"].items()))
            for key, share, count in p["top"]:
                print(f"  {share:6.1%}  {key}  (x{count}/step)")
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
