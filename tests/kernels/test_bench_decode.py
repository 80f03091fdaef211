"""The B3 decode-speed benchmark: a CPU smoke run with a tiny model, and its refusal without a GPU."""
import csv

import torch

from inr_codec.bench.decode_speed import main


def test_cpu_smoke_run_writes_a_row_per_provider(tmp_path, device, capsys):
    out = tmp_path / "b3.csv"
    args = ["--device", device, "--tiny", "--repeats", "1", "--iters", "1", "--batch-size", "2", "--csv", str(out)]
    if device == "cpu":
        args += ["--providers", "eager_fp32,triton_fp32"]
    assert main(args) == 0
    rows = list(csv.DictReader(out.open()))
    assert {r["provider"] for r in rows} >= {"eager_fp32"}
    assert all(float(r["file_fps"]) > 0 and float(r["macs_per_pixel"]) > 0 for r in rows)
    assert "MACs/pixel" in capsys.readouterr().out


def test_needs_a_gpu_without_cpu_smoke_mode(capsys):
    if torch.cuda.is_available():
        return
    assert main(["--tiny"]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err
