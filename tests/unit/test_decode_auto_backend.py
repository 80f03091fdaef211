"""decode's default backend, auto: the fused CPU decoder for latent files on the CPU in fp32, the reference
for everything else; the summary names the backend that ran."""
from pathlib import Path

import torch

from inr_codec import api, container
from inr_codec.decode import resolve_backend

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
CPU = torch.device("cpu")


def _latent_golden() -> Path:
    return next(p for p in sorted(GOLDEN.glob("*latent*.bin")))


def test_auto_picks_fused_for_latent_files_on_the_cpu_in_fp32_only():
    latent = container.read(_latent_golden())
    hnerv = container.read(GOLDEN / "v1.0_hnerv_tiny.bin")
    assert resolve_backend("auto", latent, CPU, "fp32") == "fused"
    assert resolve_backend("auto", latent, CPU, "bf16") == "torch"
    assert resolve_backend("auto", latent, torch.device("cuda"), "fp32") == "torch"
    assert resolve_backend("auto", hnerv, CPU, "fp32") == "torch"
    assert resolve_backend("torch", latent, CPU, "fp32") == "torch"  # a named backend is what runs


def test_decode_reports_the_backend_auto_chose(tmp_path):
    r = api.decode(_latent_golden(), tmp_path / "out.y4m", device="cpu")
    assert r["backend"] == "fused" and r["frames"] > 0
    r = api.decode(GOLDEN / "v1.0_hnerv_tiny.bin", tmp_path / "h.y4m", device="cpu")
    assert r["backend"] == "torch"
