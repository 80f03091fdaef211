"""scripts/bench_contention.py at toy size (the steps without busy loops), so that the script the goals are
measured with keeps working: each run's summary.json read back, results.md and results.csv written."""
import csv
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_contention_toy_runs_and_writes_the_table(tmp_path):
    out = tmp_path / "bc"
    r = subprocess.run([sys.executable, "scripts/bench_contention.py", str(out), "--toy", "--only", "idle,torchrun"],
                       cwd=ROOT, env=dict(os.environ, OMP_NUM_THREADS="7"), capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    rows = {row["name"]: row for row in csv.DictReader(open(out / "results.csv"))}
    assert list(rows) == ["idle", "torchrun_auto", "torchrun_omp1"]
    for row in rows.values():
        assert row["rc"] == "0" and int(row["bytes"]) > 0 and float(row["psnr"]) > 5 and float(row["fit_s"]) > 0
    # the driver's own OMP_NUM_THREADS (7 here) never reaches the commands: inrcodec decides, or the row sets 1
    assert int(rows["idle"]["threads"]) <= os.cpu_count() and rows["torchrun_omp1"]["threads"] == "1"
    assert rows["torchrun_omp1"]["command"].startswith("OMP_NUM_THREADS=1 torchrun --standalone")
    md = (out / "results.md").read_text()
    assert "TOY SIZE" in md and "| idle | `inrcodec fit train.epochs=1" in md
    assert "torchrun without / with OMP_NUM_THREADS=1 fit seconds" in md
