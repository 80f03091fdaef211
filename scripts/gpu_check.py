"""The GPU check: everything issue 15 asks to measure the first time an H100/H200 is at hand, in one command.

    bash scripts/gpu_check.sh OUT_DIR              # on the GPU machine: at most 8 minutes (docs/experiments.md)
    bash scripts/gpu_check.sh OUT_DIR --dry-run    # the same steps on the CPU at toy sizes (CI runs this)

scripts/gpu_check.sh installs the carried wheels (.whl/) and runs this driver. Steps, in this order (each
under its own time limit, all within --deadline seconds):

  env       GPU name, driver, torch/triton/CUDA versions
  kernels   the Triton kernel tests (tests/kernels; --dry-run: one file, in Triton's interpreter)
  roundtrip `inrcodec fit` of the bundled sample on the GPU, then `inrcodec decode` of that model.bin on the
            GPU (torch and triton backends) and on the CPU; the decoded frames (uint8 symbols) and the
            dequantized weights compared between the two
  b3        B3: scripts/bench_decode.py, batch 32, every backend (HNeRV 1.5M, 640x1280 synthetic model); then the
            latent codec: a synthetic 1920x1080 file of the default architecture (16 frames), torch (eager_fp32)
            and triton (fp16, bf16) backends, batch 1 and 8 (--dry-run: 12x8, eager_fp32 and triton_fp32 in
            Triton's interpreter)
  b1        B1: scripts/bench_fit.py, HNeRV 1.5M on the 1280x640 Bunny crop, 60 epochs: seconds per epoch
            and the PSNR at 60 epochs
  baseline  ../shared/tools/decode_baseline.py (or its copy in .whl/): the decode-speed baselines beside B3

Writes at most 8 files, flat, into OUT_DIR (what the device tool brings back): summary.json (every figure,
every step's status), gpu_check.log (every step's output), b1.csv, b3.csv, b3_latent.csv, roundtrip.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUNNY = "bunny_1280x640_132f_x264rgb_crf8.mkv"  # made by scripts/gpu_check_prepare.sh
ALL_B3 = "eager_fp32,eager_fp16_cl,compile_fp16_cl,triton_fp16,triton_bf16,triton_fp32"
LATENT_B3 = "eager_fp32,triton_fp16,triton_bf16"


class Check:
    def __init__(self, out: Path, deadline_s: float, dry: bool):
        self.out, self.dry = out, dry
        self.end = time.monotonic() + deadline_s
        self.summary: dict = {"dry_run": dry, "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                              "steps": {}}
        self.log = open(out / "gpu_check.log", "w")
        self.t0 = time.monotonic()
        # Fits, decoded frames: a private scratch folder (removed at the end), only the figures go to ``out``.
        self.work = Path(tempfile.mkdtemp(prefix="inrcodec_gpu_check_"))

    def left(self) -> float:
        return self.end - time.monotonic()

    def sh(self, name: str, cmd: list[str], limit_s: float, env: dict | None = None) -> tuple[int | str, str]:
        """Run one command (its output into the log), within its own limit and what is left of the deadline."""
        limit = max(5.0, min(limit_s, self.left() - 10))
        self.log.write(f"\n===== {name}: {' '.join(cmd)} (limit {limit:.0f} s)\n")
        self.log.flush()
        t0 = time.perf_counter()
        try:
            r = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {})),
                               capture_output=True, text=True, timeout=limit)
            rc, text = r.returncode, r.stdout + r.stderr
        except subprocess.TimeoutExpired as e:
            rc = "timeout"
            text = ((e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")) + \
                   ((e.stderr or b"").decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or ""))
        self.log.write(text + f"\n===== {name}: rc {rc} in {time.perf_counter() - t0:.1f} s\n")
        self.log.flush()
        return rc, text

    def step(self, name: str, fn) -> None:
        t0 = time.perf_counter()
        if self.left() < 20:
            self.summary["steps"][name] = {"status": "skipped: the deadline was reached"}
            return
        try:
            result = fn() or {}
            status = result.pop("status", "ok")
        except Exception as e:  # one step's failure must not cost the other steps' figures
            result, status = {}, f"failed: {type(e).__name__}: {e}"
        self.summary["steps"][name] = {"status": status, "seconds": round(time.perf_counter() - t0, 1), **result}
        self.write()
        print(f"[gpu_check] {name}: {status} ({time.perf_counter() - t0:.1f} s)", flush=True)

    def write(self) -> None:
        (self.out / "summary.json").write_text(json.dumps(self.summary, indent=2) + "\n")


def py() -> list[str]:
    return [sys.executable]


def env_step(c: Check) -> dict:
    import torch
    info = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None, "cpus": os.cpu_count()}
    try:
        import triton
        info["triton"] = triton.__version__
    except ImportError:
        info["triton"] = None
    if shutil.which("nvidia-smi"):
        rc, text = c.sh("nvidia-smi", ["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm",
                                       "--format=csv,noheader"], 30)
        info["nvidia_smi"] = text.strip()
    if not c.dry and not torch.cuda.is_available():
        info["status"] = "failed: no CUDA GPU (use --dry-run on a CPU)"
    return info


def kernels_step(c: Check) -> dict:
    target = ["tests/kernels/test_conv_head_uint8.py"] if c.dry else ["tests/kernels"]
    rc, text = c.sh("kernels", [*py(), "-m", "pytest", "-q", "-p", "no:cacheprovider", *target], 150 if c.dry else 200)
    last = [ln for ln in text.strip().splitlines() if ln.strip()][-1:] or [""]
    return {"status": "ok" if rc == 0 else f"failed: rc {rc}", "pytest": last[0]}


def _decode(c: Check, model: Path, out: Path, device: str, backend: str = "torch", dtype: str = "fp32"):
    rc, text = c.sh(f"decode {device} {backend} {dtype}", [*py(), "-m", "inr_codec", "decode", str(model), "-o",
                                                           str(out), "--device", device, "--backend", backend,
                                                           "--dtype", dtype], 90)
    if rc != 0:
        raise RuntimeError(f"decode on {device} ({backend}, {dtype}) failed (rc {rc}); see gpu_check.log")
    return text.strip().splitlines()[-1]


def roundtrip_step(c: Check) -> dict:
    import numpy as np
    import torch

    from inr_codec import container
    from inr_codec.decode.reference import build_decoder
    from inr_codec.io import read_video
    gpu = "cpu" if c.dry else "cuda"
    model = c.work / "roundtrip.bin"
    fit = [*py(), "-m", "inr_codec", "fit", f"train.epochs={2 if c.dry else 40}", f"device={gpu}", "measure=psnr",
           "-q", "-o", str(model), "--outputs", str(c.work / "outputs")]
    if c.dry:
        fit.append("data.max_frames=8")
    rc, text = c.sh("fit", fit, 150)
    if rc != 0:
        raise RuntimeError(f"fit failed (rc {rc}); see gpu_check.log")
    (summary,) = list((c.work / "outputs").rglob("summary.json"))
    s = json.loads(summary.read_text())
    result = {"fit": {k: s.get(k) for k in ("bytes", "bpp", "psnr", "fit_seconds", "epochs", "device", "threads")}}
    ref = c.work / "cpu_png"  # PNG folders: the decoded uint8 RGB values exactly
    result["decode_cpu"] = _decode(c, model, ref, "cpu")
    ref_frames = read_video(str(ref)).frames.astype(np.int16)
    backends = [("torch", "fp32")] + ([] if c.dry else [("triton", "fp16"), ("triton", "fp32")])
    for backend, dtype in backends:
        out = c.work / f"{gpu}_{backend}_{dtype}_png"
        line = _decode(c, model, out, gpu, backend, dtype)
        got = read_video(str(out)).frames.astype(np.int16)
        diff = np.abs(got - ref_frames)
        mse = float(np.mean(diff.astype(np.float64) ** 2))
        result[f"{gpu}_{backend}_{dtype}"] = {
            "decode": line, "max_abs_diff": int(diff.max()), "differing_values": float(np.mean(diff > 0)),
            "psnr_vs_cpu_db": None if mse == 0 else round(10 * np.log10(255 ** 2 / mse), 2)}
    # The weights the GPU decoder runs on are the same dequantized symbols as the CPU's.
    cm = container.read(model)
    w_cpu = build_decoder(cm, torch.device("cpu"), "fp32").state_dict()
    w_gpu = build_decoder(cm, torch.device(gpu), "fp32").state_dict()
    result["weights_max_abs_diff"] = max(float((w_cpu[k] - w_gpu[k].cpu()).abs().max()) for k in w_cpu)
    (c.out / "roundtrip.json").write_text(json.dumps(result, indent=2) + "\n")
    torch_row = result[f"{gpu}_torch_fp32"]
    ok = result["weights_max_abs_diff"] == 0 and torch_row["max_abs_diff"] <= 1
    return {**result, "status": "ok" if ok else "failed: GPU and CPU decodes differ by more than 1 level"}


def b3_step(c: Check) -> dict:
    csv = c.out / "b3.csv"
    if c.dry:
        cmd = [*py(), "scripts/bench_decode.py", "--device", "cpu", "--tiny", "--providers", "eager_fp32",
               "--batch-size", "4", "--repeats", "1", "--iters", "2", "--csv", str(csv)]
    else:
        cmd = [*py(), "scripts/bench_decode.py", "--batch-size", "32", "--providers", ALL_B3, "--csv", str(csv)]
    rc, text = c.sh("b3", cmd, 180)
    rows = _csv_rows(csv)
    latent = b3_latent(c)
    ok = rc == 0 and rows and latent["status"] == "ok"
    return {"status": "ok" if ok else f"failed: rc {rc}, latent {latent['status']}", "rows": rows,
            "latent_rows": latent["rows"]}


def b3_latent(c: Check) -> dict:
    """B3 for the latent codec: torch and triton backends, batch 1 and 8, on a synthetic default-architecture file."""
    csv = c.out / "b3_latent.csv"
    if c.dry:  # the kernel in Triton's interpreter, so the whole path runs on the CPU
        args, env = ["--device", "cpu", "--size", "8x12", "--frames", "2", "--providers", "eager_fp32,triton_fp32",
                     "--iters", "1"], {"TRITON_INTERPRET": "1"}
    else:
        args, env = ["--size", "1080x1920", "--frames", "16", "--providers", LATENT_B3, "--iters", "20"], None
    rc, _ = c.sh("b3 latent", [*py(), "scripts/bench_decode.py", "--latent", "--batch-size", "1,8", "--repeats", "1",
                               *args, "--csv", str(csv)], 150, env=env)
    rows = _csv_rows(csv)
    return {"status": "ok" if rc == 0 and rows else f"failed: rc {rc}", "rows": rows}


B1_MODEL = ("model=hnerv", "compress=default")  # B1 is HNeRV's benchmark (the default codec is the latent grids)


def b1_step(c: Check, video: str | None) -> dict:
    csv = c.out / "b1.csv"
    if c.dry:
        cmd = [*py(), "scripts/bench_fit.py", "data.max_frames=6", "data.crop=128x64", *B1_MODEL, "model.size_m=0.025",
               "measure=psnr", "--epochs", "2", "--csv", str(csv), "--outputs", str(c.work / "b1")]
    else:
        if video is None or not Path(video).is_file():
            return {"status": f"skipped: no Bunny clip ({BUNNY}: scripts/gpu_check_prepare.sh makes it)"}
        cmd = [*py(), "scripts/bench_fit.py", video, "data.crop=1280x640", *B1_MODEL, "model.size_m=1.5",
               "device=cuda", "measure=psnr", "--epochs", "60", "--csv", str(csv), "--outputs", str(c.work / "b1")]
    rc, text = c.sh("b1", cmd, 300)
    rows = _csv_rows(csv)
    if not rows:
        return {"status": f"failed: rc {rc}, no curve written"}
    last = rows[-1]
    per_epoch = float(last["seconds"]) / max(int(last["epoch"]), 1)
    return {"status": "ok" if rc == 0 else f"failed: rc {rc}", "epochs": int(last["epoch"]),
            "fit_seconds": float(last["seconds"]), "seconds_per_epoch": round(per_epoch, 3),
            "train_psnr_at_last_epoch": float(last["train_psnr"]), "report": text.strip().splitlines()[-12:]}


def baseline_step(c: Check, baseline: str | None) -> dict:
    if baseline is None:
        return {"status": "skipped: decode_baseline.py not found (../shared/tools/ or .whl/)"}
    if c.dry:  # no CUDA: build its decoder and count its MACs on the CPU, so the file is known to load
        code = ("import importlib.util, torch; s = importlib.util.spec_from_file_location('b', %r); "
                "m = importlib.util.module_from_spec(s); s.loader.exec_module(m); d = m.Dec().eval(); "
                "e = torch.randn(1, 16, 2, 4); print('params', sum(p.numel() for p in d.parameters()), "
                "'GMAC/frame', m.macs(d, e) / 1e9, 'output', tuple(d(e).shape))" % baseline)
        rc, text = c.sh("baseline", [*py(), "-c", code], 60)
    else:
        rc, text = c.sh("baseline", [*py(), baseline], 200)
    lines = [ln for ln in text.splitlines() if ln.startswith(("params", "B="))]
    return {"status": "ok" if rc == 0 else f"failed: rc {rc}", "lines": lines}


def _csv_rows(path: Path) -> list[dict]:
    import csv
    if not path.is_file():
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def _first(*paths) -> str | None:
    for p in paths:
        if p and Path(p).is_file():
            return str(p)
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="inrcodec's GPU check (docs/experiments.md, 'The GPU check').")
    ap.add_argument("out", nargs="?", help="folder for the results (default: $OUT, else outputs/gpu_check)")
    ap.add_argument("--dry-run", action="store_true", help="the same steps on the CPU at toy sizes")
    ap.add_argument("--deadline", type=float, default=450, help="seconds for all steps (default 450)")
    ap.add_argument("--bunny", help=f"the Bunny clip for B1 (default: .whl/{BUNNY})")
    ap.add_argument("--steps", default="env,kernels,roundtrip,b3,b1,baseline", help="comma list of steps to run")
    a = ap.parse_args(argv)
    out = Path(a.out or os.environ.get("OUT") or "outputs/gpu_check")
    out.mkdir(parents=True, exist_ok=True)
    c = Check(out, a.deadline, a.dry_run)
    bunny = _first(a.bunny, ROOT / ".whl" / BUNNY)
    baseline = _first(os.environ.get("GPU_CHECK_BASELINE"), ROOT.parent / "shared/tools/decode_baseline.py",
                      ROOT / ".whl/decode_baseline.py")
    steps = {"env": lambda: env_step(c), "kernels": lambda: kernels_step(c), "roundtrip": lambda: roundtrip_step(c),
             "b3": lambda: b3_step(c), "b1": lambda: b1_step(c, bunny), "baseline": lambda: baseline_step(c, baseline)}
    for name in a.steps.split(","):
        c.step(name, steps[name])
    c.summary["finished"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    c.summary["total_seconds"] = round(time.monotonic() - c.t0, 1)
    c.write()
    c.log.close()
    shutil.rmtree(c.work, ignore_errors=True)
    bad = {k: v["status"] for k, v in c.summary["steps"].items() if not v["status"].startswith(("ok", "skipped"))}
    print(f"[gpu_check] wrote {out}/summary.json" + (f"; failed: {bad}" if bad else "; every step ok or skipped"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
