"""Rate-distortion training end to end: compress=rd through the written file, a λ sweep, a rate target, resume."""
import shutil

import pytest

from inr_codec import api, container
from inr_codec.compress.codec import decode_symbols
from inr_codec.compress.target import within
from tests.conftest import TINY

RD = TINY + ["compress=rd", "compress.rd_epochs=6", "compress.qat_epochs=3", "measure=psnr"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from fractions import Fraction
    from inr_codec.io import Video, write_video
    from tests.conftest import moving_gradient
    path = tmp_path_factory.mktemp("rd") / "tiny.mkv"
    write_video(Video(moving_gradient(), Fraction(25)), str(path), pix_fmt="rgb")
    return path


@pytest.fixture(scope="module")
def sweep(clip, tmp_path_factory):
    root = tmp_path_factory.mktemp("rdsweep")
    return [api.fit(clip, RD + [f"compress.lmbda={lm}"], outputs_root=root, show_progress=False)
            for lm in (0.0001, 0.05, 2.0)]


def test_the_file_uses_learned_models_and_decodes_to_the_reported_psnr(sweep):
    s = sweep[0]
    cm = container.read(s["file"])
    assert {t.coder for t in cm.tensors} == {"laplace", "laplace_prev"}
    assert next(t for t in cm.tensors if t.name == "embeddings").coder == "laplace_prev"
    with open(s["file"], "rb") as f:
        assert f.read(6)[4:] == b"\x01\x02"
    from inr_codec.decode.reference import decode_frames
    from inr_codec.io import read_video
    from inr_codec.metrics import video_psnr
    frames = decode_frames(cm)
    assert video_psnr(frames, read_video(s["video"]).frames) == pytest.approx(s["psnr"], abs=1e-9)


def test_lambda_sweep_is_monotone(sweep):
    sizes = [s["bytes"] for s in sweep]
    assert sizes[0] > sizes[1] > sizes[2], sizes
    assert sweep[0]["psnr"] >= sweep[2]["psnr"]


def test_info_shows_the_estimate_beside_the_payload(sweep):
    r = api.info(sweep[0]["file"])
    for t in r["tensors"]:
        assert "model_bytes" in t
    big = [t for t in r["tensors"] if t["payload_bytes"] > 200]
    assert big
    for t in big:
        assert abs(t["payload_bytes"] - t["model_bytes"]) <= 0.02 * t["model_bytes"] + 4


def test_rate_target_lands_within_tolerance(clip, tmp_path):
    s = api.fit(clip, RD + ["compress.target_kb=8"], outputs_root=tmp_path, show_progress=False)
    assert within(s["bytes"], 8000), s["bytes"]


def test_resume_after_the_fit_gives_the_same_file(clip, tmp_path, sweep):
    s = sweep[1]
    run = tmp_path / "run"
    shutil.copytree(s["run_dir"], run)
    for phase in ("rd.pt",):
        (run / "checkpoints" / phase).unlink()  # as if stopped before the last phase's end
    again = api.fit(resume=run, show_progress=False)
    a, b = container.read(s["file"]), container.read(again["file"])
    assert [t.name for t in a.tensors] == [t.name for t in b.tensors]
    for x, y in zip(a.tensors, b.tensors):
        assert (decode_symbols(x) == decode_symbols(y)).all() and x.params == y.params
