"""model=nirvana end to end: fit → model.bin → decode / --frames / info; and 2 gloo processes writing the
same bytes as one."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist

from inr_codec import api, container
from inr_codec.errors import InputError
from inr_codec.decode.groups import GroupChain, decode_batches
from inr_codec.io import read_video

ROOT = Path(__file__).resolve().parents[2]
# 6 frames in groups of 2, 2 groups per segment: groups 0 (key), 1 (residual), 2 (key); a few steps each.
NV = ["model=nirvana", "device=cpu", "model.head=mlp", "model.grid_ch=0", "model.batch=0", "model.gop=2",
      "model.segment=2", "model.patch=4", "model.hidden=16", "model.layers=2", "model.pe_levels=4",
      "model.key_steps=150", "model.steps=60", "model.residual_train=all", "model.residual_lr=1e-3"]


def test_fit_decode_and_frames(tiny_clip, tmp_path):
    s = api.fit(tiny_clip, NV, out=tmp_path / "m.bin", outputs_root=tmp_path / "o", show_progress=False)
    assert (s["groups"], s["segments"], s["frames"]) == (3, 2, 6)
    cm = container.read(tmp_path / "m.bin")
    assert [g.key for g in cm.groups] == [True, False, True]
    assert s["bytes"] == (tmp_path / "m.bin").stat().st_size
    # The summary's PSNR is the file's, decoded through the public path.
    assert api.measure_file(cm, read_video(tiny_clip).frames, "cpu", ("psnr",))["psnr"] == pytest.approx(s["psnr"])
    assert s["psnr"] > 15

    r = api.decode(tmp_path / "m.bin", tmp_path / "all.y4m")
    assert r["frames"] == 6 and read_video(tmp_path / "all.y4m").frames.shape == (6, 23, 37, 3)
    part = api.decode(tmp_path / "m.bin", tmp_path / "part.y4m", frames="2:4")
    assert part["frames"] == 2
    chain = GroupChain(cm)
    frames_2_4 = np.concatenate(list(decode_batches(cm, frames=(2, 4), chain=chain)))
    assert chain.decoded == [0, 1]  # group 1's chain: its key group and itself, not group 2
    chain = GroupChain(cm)
    list(decode_batches(cm, frames=(4, 6), chain=chain))
    assert chain.decoded == [2]
    full = np.concatenate(list(decode_batches(cm)))
    assert np.array_equal(full[2:4], frames_2_4)

    info = api.info(tmp_path / "m.bin")
    assert info["format"] == "1.1" and info["groups"][1] == {"index": 1, "frames": "2-3", "key": False,
                                                                 "segment": 0, "bits": s["group_stats"][1]["bits"],
                                                                 "bytes": info["groups"][1]["bytes"]}


def test_resume_of_a_finished_run_fits_nothing_and_writes_the_same_file(tiny_clip, tmp_path):
    """Every group is kept in the run directory (some coded as all-zero residuals: empty payloads)."""
    s = api.fit(tiny_clip, NV + ["model.key_steps=2", "model.steps=2"], out=tmp_path / "m.bin",
                outputs_root=tmp_path / "o", show_progress=False)
    first = (tmp_path / "m.bin").read_bytes()
    (tmp_path / "m.bin").unlink()
    again = api.fit(None, [], resume=s["run_dir"], show_progress=False)
    assert (tmp_path / "m.bin").read_bytes() == first and again["psnr"] == s["psnr"]
    assert "coded in an earlier run, kept" in (Path(s["run_dir"]) / "fit.log").read_text()


def _cli(args, nproc, cwd):
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("WORLD_SIZE", None)
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
              "-m", "inr_codec"]
    return subprocess.run(launch + args, env=env, capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="no gloo")
def test_two_processes_write_the_same_file_as_one(tiny_clip, tmp_path, monkeypatch):
    quick = NV + ["model.key_steps=20", "model.steps=5"]
    two = _cli(["fit", str(tiny_clip), *quick, "-q", "--outputs", str(tmp_path / "o"), "-o", str(tmp_path / "two.bin")],
               nproc=2, cwd=tmp_path)
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("wrote ") == 1  # only rank 0 writes
    assert json.loads(next((tmp_path / "o").rglob("summary.json")).read_text())["processes"] == 2
    threads = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # as each torchrun worker: the same float arithmetic
    try:
        one = api.fit(tiny_clip, quick, out=tmp_path / "one.bin", outputs_root=tmp_path / "o1", show_progress=False)
    finally:
        torch.set_num_threads(threads)
    assert one["processes"] == 1
    assert (tmp_path / "two.bin").read_bytes() == (tmp_path / "one.bin").read_bytes()


def test_conv_head_fit_decode_and_frames(tiny_clip, tmp_path):
    """model.head=conv (the default): the upsampling decoder per group goes through the same file, residuals
    and --frames."""
    conv = [o for o in NV if not o.startswith(("model.head", "model.grid_ch", "model.batch", "model.key_steps",
                                               "model.residual_", "model.layers"))]  # the conv head's residual
    # defaults; model.layers shapes only the tile MLP (refused as changing nothing under the conv head)
    conv += ["model.head=conv", "model.grid_ch=4", "model.grid_t=2", "model.batch=1", "model.key_steps=80",
             "model.steps=20"]
    s = api.fit(tiny_clip, conv, out=tmp_path / "m.bin", outputs_root=tmp_path / "o", show_progress=False)
    cm = container.read(tmp_path / "m.bin")
    assert cm.model["head"] == 1 and [g.key for g in cm.groups] == [True, False, True]
    residual = {t.name: t for t in cm.groups[1].tensors}
    assert "blocks.1.conv.weight" in residual  # log2(patch=4) = 2 stages
    # model.residual_train=content: the decoder's residuals are all zero symbols (one-entry table, no payload)
    assert residual["blocks.1.conv.weight"].payload == b"" and len(residual["grid"].payload) > 0
    assert api.measure_file(cm, read_video(tiny_clip).frames, "cpu", ("psnr",))["psnr"] == pytest.approx(s["psnr"])
    assert s["psnr"] > 15
    full = np.concatenate(list(decode_batches(cm)))
    assert full.shape == (6, 23, 37, 3)
    assert np.array_equal(full[2:4], np.concatenate(list(decode_batches(cm, frames=(2, 4)))))
    with pytest.raises(InputError, match="power of two"):
        api.fit(tiny_clip, conv + ["model.patch=6"], outputs_root=tmp_path / "o2", show_progress=False)
