"""Data-parallel fitting: torchrun with 2 CPU processes (gloo) fits one network, rank 0 writes it,
and the result matches a single-process fit with the same (global) train.batch_size."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch.distributed as dist

from inr_codec import api, container, threads
from tests.conftest import TINY

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="torch.distributed with gloo is not available")

ROOT = Path(__file__).resolve().parents[2]
# batch 3 over 2 ranks: shards of 2 and 1 frames (the weighting by share matters); the pruning and
# QAT phases (masks, fake quantization, the rate term) run data-parallel too.
OVERRIDES = [o for o in TINY if not o.startswith("train.batch_size")] + [
    "train.batch_size=3", "compress.prune=0.3", "compress.prune_epochs=4", "compress.qat_epochs=4",
    "compress.lmbda=0.01"]


def _torchrun(clip, outputs, extra=(), overrides=OVERRIDES):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("WORLD_SIZE", None)
    env.pop("OMP_NUM_THREADS", None)  # each rank's threads are inrcodec's choice: cores / 2 local ranks
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "inr_codec", "fit", str(clip), *overrides, "-q", "--outputs", str(outputs), *extra]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180, cwd=outputs.parent)


def test_two_processes_fit_one_network(tiny_clip, tmp_path):
    outputs = tmp_path / "ddp"
    outputs.mkdir()
    r = _torchrun(tiny_clip, outputs)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("wrote ") == 1  # only rank 0 prints
    models = list(outputs.rglob("model.bin"))
    summaries = list(outputs.rglob("summary.json"))
    assert len(models) == 1 and len(summaries) == 1
    assert len(list(outputs.iterdir())) == 1 and len(list((outputs / tiny_clip.stem).iterdir())) == 1  # one run dir
    s = json.loads(summaries[0].read_text())
    assert s["processes"] == 2 and Path(s["file"]) == models[0]
    # The reported PSNR is the written file's.
    measured = api.measure_file(container.read(models[0]), api.load_video(tiny_clip, api.compose(OVERRIDES)).frames,
                            "cpu", ("psnr",))["psnr"]
    assert measured == pytest.approx(s["psnr"], abs=1e-9)
    log = (Path(s["run_dir"]) / "fit.log").read_text()
    assert "epoch 25 " in log and "prune" in str(list(Path(s["run_dir"], "checkpoints").iterdir()))
    assert f"auto, {threads.cores()} cores / 2 workers" in log  # torchrun's own OMP_NUM_THREADS=1 is not the user's
    assert s["threads"] == max(1, threads.cores() // 2) and s["threads_source"] == "auto"

    # One process, same global batch: summing the shards' gradients differs from the whole batch's only in
    # float rounding order, so the weights agree to ~1e-7, not bit for bit; the quality agrees closely.
    single = api.fit(tiny_clip, OVERRIDES, outputs_root=tmp_path / "single", show_progress=False)
    assert single["processes"] == 1
    assert s["psnr"] == pytest.approx(single["psnr"], abs=0.05)
    assert s["psnr_before_compression"] == pytest.approx(single["psnr_before_compression"], abs=0.05)
    assert s["bytes"] == pytest.approx(single["bytes"], rel=0.02)


def test_resume_is_refused_under_torchrun(tiny_clip, tmp_path):
    outputs = tmp_path / "ddp"
    outputs.mkdir()
    r = _torchrun(tiny_clip, outputs, extra=["--resume", str(tmp_path)])
    assert r.returncode != 0
    assert "--resume runs in one process" in r.stderr
    assert not list(outputs.rglob("*"))


LATENT = ["model=latent", "model.levels=3", "model.hidden=8", "model.t_stride_max=4", "compress=latent",
          "train.epochs=12", "train.batch_size=3", "train.candidates=2", "train.candidate_epochs=2",
          "compress.qat_epochs=2", "train.lr=2e-2", "device=cpu"]


def test_two_processes_fit_the_latent_model_with_candidates(tiny_clip, tmp_path):
    outputs = tmp_path / "ddp"
    outputs.mkdir()
    r = _torchrun(tiny_clip, outputs, overrides=LATENT)
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads(next(outputs.rglob("summary.json")).read_text())
    assert s["processes"] == 2
    assert "warm-up: candidate" in (Path(s["run_dir"]) / "fit.log").read_text()
    single = api.fit(tiny_clip, LATENT, outputs_root=tmp_path / "single", show_progress=False)
    assert s["psnr"] == pytest.approx(single["psnr"], abs=0.1)
    assert s["bytes"] == pytest.approx(single["bytes"], rel=0.05)
