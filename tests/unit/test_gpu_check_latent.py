"""The GPU check's latent B3 in --dry-run: a synthetic latent file through bench_decode, torch and triton (in the
interpreter), batch 1 and 8, its rows in summary.json and b3_latent.csv."""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_dry_run_b3_measures_the_latent_codec_at_batch_1_and_8(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "scripts/gpu_check.py", str(tmp_path), "--dry-run", "--steps", "b3"], cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=400)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    b3 = json.loads((tmp_path / "summary.json").read_text())["steps"]["b3"]
    assert b3["status"] == "ok", b3["status"]
    rows = list(csv.DictReader((tmp_path / "b3_latent.csv").open()))
    assert rows == b3["latent_rows"]
    assert {(r["provider"], r["batch_size"]) for r in rows} == {(p, b) for p in ("eager_fp32", "triton_fp32")
                                                                   for b in ("1", "8")}
    assert all(float(r["file_fps"]) > 0 and 2000 < float(r["macs_per_pixel"]) < 2200 for r in rows)
    assert "===== b3 latent: " in (tmp_path / "gpu_check.log").read_text()
