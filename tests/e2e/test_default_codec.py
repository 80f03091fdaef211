"""The default codec (conf/fit.yaml: the latent grids with their own preset) and ``model=X`` alone for every
registered model: each fits a tiny clip with its own compress preset (only sizes and epochs shrunk), quality=N
falls in bytes along its ladder, and a time budget ends the default fit."""
import pytest

from inr_codec import api
from inr_codec.container import read
from inr_codec.decode.reference import decode_frames
from inr_codec.knobs import model_preset
from inr_codec.overrides import default_option, group_options

# Sizes and epochs only: no compress= preset, so each model runs under its own (conf/model/<name>.yaml).
SMALL = {
    "latent": ["model.levels=3", "model.hidden=8", "model.t_stride_max=4", "train.epochs=2"],
    "hnerv": ["model.size_m=0.012", "model.blocks=3", "model.latent_side=2", "train.epochs=2",
              "compress.rd_epochs=1", "compress.qat_epochs=1"],
    "nerv": ["model.size_m=0.012", "model.blocks=3", "model.latent_side=2", "train.epochs=2"],
    "nirvana": ["model.head=mlp", "model.grid_ch=0", "model.batch=0", "model.gop=3", "model.segment=1",
                "model.patch=4", "model.hidden=8", "model.layers=1", "model.pe_levels=2", "model.key_steps=5"],
}
ENTROPY = {"latent": "learned", "rd": "learned", "default": "static"}


def test_every_registered_model_has_its_small_settings_here():
    assert sorted(SMALL) == group_options("model")  # the options model= takes (test_fast_start: = the registry)


def test_the_default_is_the_latent_codec_with_its_preset():
    assert default_option("model") == "latent" and model_preset("latent") == "latent"


@pytest.mark.parametrize("name", sorted(SMALL))
def test_model_alone_fits_a_tiny_clip_under_its_own_preset(name, module_clip, tmp_path):
    s = api.fit(module_clip, [f"model={name}", *SMALL[name], "device=cpu", "measure=psnr"],
                out=tmp_path / "m.bin", outputs_root=tmp_path / "o", show_progress=False)
    assert s["model"] == name and s["frames"] == 6 and s["psnr"] > 8
    if name != "nirvana":  # group-wise: no entropy field (it quantizes while it trains)
        assert s["entropy"] == ENTROPY[model_preset(name)]
    assert decode_frames(read(tmp_path / "m.bin")).shape == (6, 23, 37, 3)


def test_the_quality_ladder_falls_in_bytes_on_a_tiny_clip(module_clip, tmp_path):
    sizes = []
    for q in range(1, 6):
        s = api.fit(module_clip, [*SMALL["latent"], "train.epochs=4", "compress.qat_epochs=2", "device=cpu",
                                         "measure=none", f"quality={q}"],
                    outputs_root=tmp_path / "o", show_progress=False)
        sizes.append(s["bytes"])
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1], sizes


def test_a_time_budget_ends_the_default_fit(module_clip, tmp_path):
    # 1 s: the tiny fit's 50 epochs take about 1.7 s on the 2-core CPU (a 2 s budget's fit share was not reached)
    s = api.fit(module_clip, ["model.levels=3", "model.hidden=8", "train.budget_s=1", "device=cpu", "measure=none"],
                outputs_root=tmp_path / "o", show_progress=False)
    assert s["model"] == "latent" and s["epochs_asked"] == 50  # the latent preset's epochs
    assert s["stopped_by_budget"] and s["fit_seconds"] <= 1 * 1.5
