"""The triton backend end to end: the golden file and a NeRV model against the reference decoder,
frame ranges, batching, the CLI, and the errors where it cannot run."""
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from inr_codec import api, container
from inr_codec.cli import main
from inr_codec.decode import reference
from inr_codec.decode import triton as tb
from inr_codec.errors import BackendError
from inr_codec.io import read_video

GOLDEN = Path(__file__).parents[1] / "golden" / "v1.0_hnerv_tiny.bin"
# (largest difference in levels of 255, share of pixels that must be within 1 level)
WITHIN = {"fp32": (1, 0.999), "fp16": (1, 0.999), "bf16": (3, 0.999)}


def assert_close_frames(got: np.ndarray, expected: np.ndarray, dtype: str) -> None:
    assert got.shape == expected.shape and got.dtype == np.uint8
    diff = np.abs(got.astype(int) - expected.astype(int))
    worst, share = WITHIN[dtype]
    assert diff.max() <= worst
    assert (diff <= 1).mean() >= share


@pytest.fixture(scope="module")
def golden():
    cm = container.read(GOLDEN)
    return cm, reference.decode_frames(cm)


@pytest.mark.parametrize("dtype", ["fp32", "fp16", "bf16"])
def test_golden_file_matches_the_reference(golden, device, dtype):
    cm, expected = golden
    got = np.concatenate(list(tb.decode_batches(cm, device=device, dtype=dtype, batch_size=4)))
    assert_close_frames(got, expected, dtype)


def test_frame_range_and_ragged_batches_stream_in_order(golden, device):
    cm, expected = golden
    batches = list(tb.decode_batches(cm, device=device, batch_size=2, frames=(1, 6)))
    assert [len(b) for b in batches] == [2, 2, 1]
    assert_close_frames(np.concatenate(batches), expected[1:6], "fp32")


def test_nerv_matches_the_reference(device):
    from inr_codec.compress.pipeline import compress_decoder
    from inr_codec.config import compose, model_settings
    from inr_codec.container.records import VideoMeta
    from inr_codec.models import get_model_class
    cfg = compose(["model=nerv", "model.size_m=0.01", "model.blocks=2", "model.latent_side=3",
                   "model.mlp_hidden=16", "model.pe_levels=4"])
    settings = model_settings(cfg, 3, 13, 17)
    model = get_model_class("nerv").create(settings, 3, 13, 17)
    p = int(np.prod(model.arch["strides"]))
    meta = VideoMeta(width=17, height=13, frames=3, fps=Fraction(25), pad_width=model.arch["w0"] * p,
                     pad_height=model.arch["h0"] * p, source_pix_fmt="rgb24")
    cm = container.from_bytes(container.to_bytes(compress_decoder(model.decoder, "nerv", model.arch, meta,
                                                                  cfg.compress)))
    got = np.concatenate(list(tb.decode_batches(cm, device=device, batch_size=2)))
    assert_close_frames(got, reference.decode_frames(cm), "fp32")


def test_cli_decodes_with_triton_and_says_so(golden, device, tmp_path, capsys):
    out = tmp_path / "frames"
    assert main(["decode", str(GOLDEN), "-o", str(out), "--backend", "triton", "--device", device,
                 "--frames", "2:5", "--batch-size", "2"]) == 0
    assert "by the triton backend" in capsys.readouterr().out
    _, expected = golden
    assert_close_frames(read_video(str(out)).frames, expected[2:5], "fp32")


def test_api_stream_is_lazy_but_checks_up_front(device):
    cm, batches = api.decode_stream(GOLDEN, backend="triton", device=device, frames="0:3", batch_size=2)
    assert cm.video.frames == 6
    assert [len(b) for b in batches] == [2, 1]


def test_cpu_without_the_interpreter_is_an_error(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(BackendError, match="needs a CUDA GPU, or TRITON_INTERPRET=1"):
        tb.check_available("cpu")
    assert main(["decode", str(GOLDEN), "-o", str(tmp_path / "x.y4m"), "--backend", "triton",
                 "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "TRITON_INTERPRET=1" in err
    assert not (tmp_path / "x.y4m").exists()


def test_missing_triton_is_an_error(monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "triton" else real(name, *a))
    with pytest.raises(BackendError, match="needs the triton package"):
        tb.check_available("cpu")


def test_cuda_without_a_gpu_is_an_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(BackendError, match="no usable CUDA GPU"):
        tb.check_available("cuda")


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["fp16", "bf16"])
def test_cuda_graphs_match_the_reference(golden, dtype):
    cm, expected = golden
    plan = tb.build_plan(cm, "cuda", dtype)
    assert plan.use_graphs
    for bs in (4, 4, 5):  # the second 4 replays the captured graph
        got = np.concatenate(list(tb.decode_batches(cm, batch_size=bs, plan=plan)))
        assert_close_frames(got, expected, dtype)
