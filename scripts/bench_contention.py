"""Issue 15's CPU goals, measured back to back (docs/experiments.md, "CPU: threads on a busy machine").

    python scripts/bench_contention.py [OUT_DIR]            # the real figures: about 10-15 min on the 2-core CPU
    python scripts/bench_contention.py /tmp/bc --toy        # the same steps at toy size (8 frames, 1 epoch, the busy
                                                            # loops at nice 19): checks the script, ~2-3 min

Runs, one at a time, each a real command (its summary.json read back for bytes and PSNR):

  idle        inrcodec fit train.epochs=100                       (the README's first command)
  busy        the same with two `python -c "while True: pass"` busy loops holding both cores
  tried_*     the busy machine at --try-epochs (10) with threads=2 (torch's default, the old behaviour),
              threads=2 + OMP_WAIT_POLICY=PASSIVE, threads=1 and auto; and idle threads=2 as their reference
  sweep_par   inrcodec fit -m compress.bits=6,8 train.epochs=100 hydra/launcher=joblib hydra.launcher.n_jobs=2
  sweep_seq   inrcodec fit -m compress.bits=6,8 train.epochs=100  (the same two fits, one after the other)
  torchrun_*  torchrun --standalone --nproc_per_node 2 -m inr_codec fit train.epochs=20, without and with
              OMP_NUM_THREADS=1

OMP_NUM_THREADS is removed from every command's environment unless a row sets it. Writes OUT_DIR/results.csv,
OUT_DIR/results.md (the table for docs/experiments.md, with the command and the load beside each figure) and
one log per run; prints the table and the three goals. OUT_DIR defaults to $OUT, else
outputs/bench_contention/<time>.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

FIELDS = ["name", "command", "busy_loops", "load_before", "wall_s", "fit_s", "bytes", "psnr", "threads", "rc"]


INRCODEC = [shutil.which("inrcodec")] if shutil.which("inrcodec") else [sys.executable, "-m", "inr_codec"]


NICE = 0  # --toy: the busy loops at nice 19, so that checking the script does not load a shared machine


def start_busy(n: int) -> list[subprocess.Popen]:
    code = f"import os; os.nice({NICE})\nwhile True: pass" if NICE else "while True: pass"
    loops = [subprocess.Popen([sys.executable, "-c", code], start_new_session=True) for _ in range(n)]
    if loops:
        time.sleep(2.0)  # running before the measured command starts
    return loops


def stop_busy(loops: list[subprocess.Popen]) -> None:
    for p in loops:
        try:
            os.killpg(p.pid, signal.SIGKILL)  # the loop's own session: only what this script started
        except ProcessLookupError:
            pass
        p.wait()


def summaries(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.rglob("summary.json"))]


def run(out: Path, name: str, args: list[str], *, busy: int = 0, env: dict | None = None, shown: str = "",
        timeout: float = 3600.0) -> dict:
    folder = out / "runs" / name
    folder.mkdir(parents=True, exist_ok=True)
    full_env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    full_env.update(env or {})
    cmd = [*args, "--outputs", str(folder)]
    if not shown:
        plain = ["inrcodec", *args[len(INRCODEC):]] if args[:len(INRCODEC)] == INRCODEC else args
        shown = " ".join(plain)
    loops = start_busy(busy)
    try:
        load = os.getloadavg()[0]
        print(f"[{name}] {shown}  (busy loops {busy}, load {load:.2f})", flush=True)
        t0 = time.perf_counter()
        with open(out / f"{name}.log", "w") as log:
            try:
                rc = subprocess.run(cmd, env=full_env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout).returncode
            except subprocess.TimeoutExpired:
                rc = "timeout"
        wall = time.perf_counter() - t0
    finally:
        stop_busy(loops)
    ss = summaries(folder)
    row = {"name": name, "command": shown, "busy_loops": busy, "load_before": round(load, 2),
           "wall_s": round(wall, 1), "rc": rc,
           "fit_s": " + ".join(f"{s['fit_seconds']:.1f}" for s in ss),
           "bytes": " / ".join(f"{s['bytes']}" for s in ss),
           "psnr": " / ".join("-" if s["psnr"] is None else f"{s['psnr']:.2f}" for s in ss),
           "threads": " / ".join(str(s.get("threads", "?")) for s in ss)}
    print(f"    rc {rc}, wall {row['wall_s']} s, fit {row['fit_s']} s, {row['bytes']} B, {row['psnr']} dB, "
          f"threads {row['threads']}", flush=True)
    return row


def fit_s(row: dict) -> float:
    return sum(float(x) for x in row["fit_s"].split(" + ") if x)


def goals(rows: dict) -> list[str]:
    out = []
    if "idle" in rows and "busy" in rows and fit_s(rows["idle"]):
        r = fit_s(rows["busy"]) / fit_s(rows["idle"])
        out.append(f"busy / idle fit seconds = {r:.2f} (goal <= 3): {'met' if r <= 3 else 'NOT met'}; bytes "
                   f"{rows['busy']['bytes']} vs {rows['idle']['bytes']}, PSNR {rows['busy']['psnr']} vs "
                   f"{rows['idle']['psnr']} dB")
    if "sweep_par" in rows and "sweep_seq" in rows:
        r = rows["sweep_par"]["wall_s"] / rows["sweep_seq"]["wall_s"]
        out.append(f"joblib n_jobs=2 / sequential sweep wall = {r:.2f} (goal <= 0.6): {'met' if r <= 0.6 else 'NOT met'}")
    if "torchrun_auto" in rows and "torchrun_omp1" in rows:
        a, b = fit_s(rows["torchrun_auto"]), fit_s(rows["torchrun_omp1"])
        r = a / b if b else float("nan")
        out.append(f"torchrun without / with OMP_NUM_THREADS=1 fit seconds = {r:.2f} (goal <= 1, within noise)")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out", nargs="?", help="output folder (default: $OUT, else outputs/bench_contention/<time>)")
    p.add_argument("--toy", action="store_true", help="toy size (8 frames, 1 epoch): checks the script, not the goals")
    p.add_argument("--epochs", type=int, default=100, help="epochs of the idle/busy fits and the sweep (default 100)")
    p.add_argument("--try-epochs", type=int, default=10, help="epochs of the tried_* rows (default 10)")
    p.add_argument("--torchrun-epochs", type=int, default=20, help="epochs of the torchrun rows (default 20)")
    p.add_argument("--only", default="idle,busy,tried,sweep,torchrun", help="comma list of groups to run")
    a = p.parse_args(argv)
    out = Path(a.out or os.environ.get("OUT") or Path("outputs/bench_contention") / dt.datetime.now().strftime(
        "%Y-%m-%d_%H-%M-%S"))
    out.mkdir(parents=True, exist_ok=True)
    global NICE
    NICE = 19 if a.toy else 0
    extra = ["data.max_frames=8", "measure=psnr"] if a.toy else []
    e, te, tr = (1, 1, 1) if a.toy else (a.epochs, a.try_epochs, a.torchrun_epochs)
    only = set(a.only.split(","))
    fit = [*INRCODEC, "fit"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                "-m", "inr_codec", "fit"]
    rows: dict[str, dict] = {}
    try:
        if "idle" in only:
            rows["idle"] = run(out, "idle", [*fit, f"train.epochs={e}", *extra])
        if "busy" in only:
            rows["busy"] = run(out, "busy", [*fit, f"train.epochs={e}", *extra], busy=2)
        if "tried" in only:
            base = [*fit, f"train.epochs={te}", "-q", *extra]
            rows["tried_idle_t2"] = run(out, "tried_idle_t2", [*base, "threads=2"])
            rows["tried_busy_t2"] = run(out, "tried_busy_t2", [*base, "threads=2"], busy=2)
            rows["tried_busy_t2_passive"] = run(out, "tried_busy_t2_passive", [*base, "threads=2"], busy=2,
                                                env={"OMP_WAIT_POLICY": "PASSIVE"},
                                                shown="OMP_WAIT_POLICY=PASSIVE " + " ".join([*base, "threads=2"]))
            rows["tried_busy_t1"] = run(out, "tried_busy_t1", [*base, "threads=1"], busy=2)
            rows["tried_busy_auto"] = run(out, "tried_busy_auto", base, busy=2)
        if "sweep" in only:
            sweep = [*fit, "-m", "compress.bits=6,8", f"train.epochs={e}", "-q", *extra]
            rows["sweep_par"] = run(out, "sweep_par", [*sweep, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"])
            rows["sweep_seq"] = run(out, "sweep_seq", sweep)
        if "torchrun" in only:
            t = [*torchrun, f"train.epochs={tr}", "device=cpu", "-q", *extra]
            shown = "torchrun --standalone --nproc_per_node 2 -m inr_codec fit " + " ".join(t[9:])
            rows["torchrun_auto"] = run(out, "torchrun_auto", t, shown=shown)
            rows["torchrun_omp1"] = run(out, "torchrun_omp1", t, env={"OMP_NUM_THREADS": "1"},
                                        shown="OMP_NUM_THREADS=1 " + shown)
    finally:
        write(out, list(rows.values()), goals(rows), toy=a.toy)
    return 0 if all(r["rc"] == 0 for r in rows.values()) else 1


def write(out: Path, rows: list[dict], goal_lines: list[str], *, toy: bool) -> None:
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    cpu = f"{os.cpu_count()} cores"
    head = (f"{dt.datetime.now():%Y-%m-%d %H:%M} UTC, {cpu}, {sys.platform}, Python {sys.version.split()[0]}"
            + (" (TOY SIZE: not the goals' figures)" if toy else ""))
    lines = [head, "", "| run | command | busy loops | load before | wall s | fit s | bytes | PSNR (file) | threads |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | `{r['command']}` | {r['busy_loops']} | {r['load_before']} | {r['wall_s']} | "
                     f"{r['fit_s']} | {r['bytes']} | {r['psnr']} | {r['threads']} |")
    lines += ["", *goal_lines]
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {out / 'results.csv'} and {out / 'results.md'}")


if __name__ == "__main__":
    sys.exit(main())
