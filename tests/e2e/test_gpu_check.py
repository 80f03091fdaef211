"""The GPU check's --dry-run: the same steps as on a GPU machine, on the CPU at toy sizes, end to end, so the
script cannot rot before a GPU machine is at hand."""
import re
import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_check_dry_run_end_to_end(tmp_path):
    out = tmp_path / "out"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run(["bash", "scripts/gpu_check.sh", str(out), "--dry-run"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=400)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    files = sorted(p.relative_to(out) for p in out.rglob("*"))
    # what the device tool brings back: at most 8 files, none in sub-folders
    assert len(files) <= 8 and all(len(p.parts) == 1 for p in files), files
    s = json.loads((out / "summary.json").read_text())
    steps = s["steps"]
    assert s["dry_run"] is True and list(steps) == ["env", "kernels", "roundtrip", "b3", "b1", "baseline"]
    for name in ("env", "kernels", "roundtrip", "b3", "b1"):
        assert steps[name]["status"] == "ok", (name, steps[name])
    assert steps["baseline"]["status"] == "ok" or steps["baseline"]["status"].startswith("skipped: decode_baseline")
    assert " passed" in steps["kernels"]["pytest"]
    rt = steps["roundtrip"]
    assert rt["fit"]["bytes"] > 0 and rt["weights_max_abs_diff"] == 0
    assert rt["cpu_torch_fp32"]["max_abs_diff"] == 0  # the same file, the same decoder: the same symbols
    assert re.search(r"\d+ threads?\b", rt["decode_cpu"])
    assert steps["b3"]["rows"][0]["provider"] == "eager_fp32" and float(steps["b3"]["rows"][0]["file_fps"]) > 0
    assert steps["b1"]["epochs"] == 2 and steps["b1"]["seconds_per_epoch"] > 0
    assert (out / "b1.csv").is_file() and (out / "b3.csv").is_file() and (out / "roundtrip.json").is_file()
    assert "[gpu_check] b1: ok" in r.stdout
    log = (out / "gpu_check.log").read_text()
    assert "===== fit: " in log and "===== b3: " in log  # every command and its output, for reading afterwards
    assert s["total_seconds"] < 480
