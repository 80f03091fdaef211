"""model=latent under rate-distortion training: a lambda sweep gives a monotone curve, a rate target lands
within 5% of its size, and the file's estimate agrees with its payloads."""
import pytest

from inr_codec import api
from inr_codec.compress.target import within

LATENT = ["model=latent", "model.levels=3", "model.hidden=8", "model.t_stride_max=4", "compress=latent",
          "train.epochs=30", "compress.qat_epochs=3", "train.lr=2e-2", "measure=psnr", "device=cpu"]


@pytest.fixture(scope="module")
def sweep(module_clip, tmp_path_factory):
    root = tmp_path_factory.mktemp("latent_sweep")
    return [api.fit(module_clip, LATENT + [f"compress.lmbda={lm}"], outputs_root=root, show_progress=False)
            for lm in (0.0003, 0.01, 0.3)]


def test_lambda_sweep_is_monotone(sweep):
    sizes = [s["bytes"] for s in sweep]
    assert sizes[0] > sizes[1] > sizes[2], sizes
    assert sweep[0]["psnr"] > sweep[2]["psnr"]


def test_the_estimate_agrees_with_every_latent_payload(sweep):
    for s in sweep:
        for t in api.info(s["file"])["tensors"]:
            if t["name"].startswith("latents.") and t["payload_bytes"] > 200:
                assert abs(t["payload_bytes"] - t["model_bytes"]) <= 0.02 * t["model_bytes"] + 4


def test_rate_target_lands_within_tolerance(module_clip, tmp_path, sweep):
    target = (sweep[0]["bytes"] + sweep[1]["bytes"]) / 2 / 1000
    s = api.fit(module_clip, LATENT + [f"compress.target_kb={target:.3f}"], outputs_root=tmp_path, show_progress=False)
    assert within(s["bytes"], target * 1000), (s["bytes"], target)
    assert s["psnr"] > sweep[2]["psnr"]
