"""model=latent's grids in time (temporal strides), their learning rate and their precision."""
import pytest
import torch
from omegaconf import OmegaConf

from inr_codec import api, container
from inr_codec.compress import learned_quant
from inr_codec.config import compose, validate
from inr_codec.decode.reference import decode_frames
from inr_codec.errors import InputError
from inr_codec.models.latent import LatentModel, level_frames, t_strides_of, time_weights
from inr_codec.models.macs import macs_per_pixel
from inr_codec.train import accel
from inr_codec.train.trainer import _param_groups

CFG = dict(levels=4, hidden=8, layers=1, latent_lr_scale=10, t_stride_max=4)


def test_strides_grow_with_the_level_up_to_the_maximum_and_the_clip():
    assert t_strides_of(4, 6, 48) == [1, 2, 4, 4, 4, 4]
    assert t_strides_of(1, 3, 48) == [1, 1, 1]
    assert t_strides_of(64, 4, 3) == [1, 2, 3, 3]
    assert level_frames(9, [1, 2, 4]) == [9, 5, 3]


def test_a_frame_at_a_slice_centre_takes_that_slice_and_between_two_blends_them():
    # stride 2: slice i covers frames 2i, 2i+1, its centre at 2i + 0.5
    i0, i1, w = time_weights(torch.arange(6), 2, 3)
    assert i0.tolist() == [0, 0, 0, 1, 1, 2] and i1.tolist() == [1, 1, 1, 2, 2, 2]
    assert w.tolist() == pytest.approx([0, 0.25, 0.75, 0.25, 0.75, 0])


def test_strided_levels_have_fewer_slices_and_the_decoder_interpolates_them():
    m = LatentModel.create(CFG, 8, 16, 24)
    assert m.arch["t_strides"] == [1, 2, 4, 4]
    assert [g.shape[0] for g in m.decoder.latents.grids()] == [8, 4, 2, 2]
    g = m.decoder.latents.level2
    with torch.no_grad():
        g[0].fill_(1.0)
        g[1].fill_(3.0)
    feats = m.decoder.features(torch.arange(8))[:, 2]
    # slice centres at frames 1.5 and 5.5: constant before and after, linear between
    assert feats[:, 0, 0].tolist() == pytest.approx([1, 1, 1.25, 1.75, 2.25, 2.75, 3, 3])


def test_a_clip_without_strides_keeps_the_per_frame_architecture():
    arch = LatentModel.solve_arch(dict(CFG, t_stride_max=1), 8, 16, 24)
    assert "t_strides" not in arch


def test_strided_macs_count_the_blend_and_fewer_context_predictions():
    arch = dict(frames=4, h0=5, w0=7, strides=[1], level_sizes=[[5, 7], [3, 4]], hidden=4, layers=1,
                t_strides=[1, 2])
    px = 5 * 7
    synthesis = px * (4 * 2 + 3 * 4 + 3 * 3 * 9)
    upsample = 4 * px
    context = 22 * (5 * 7 + 3 * 4 * 2 / 4)  # level 1 has 2 slices for 4 frames; 22 MACs a latent (laplace_nb)
    blend = 2 * 3 * 4                        # two slices blended for every frame
    assert macs_per_pixel("latent", arch, 7, 5) == pytest.approx((synthesis + upsample + context + blend) / px)


def test_grids_learn_at_their_scale_and_the_synthesis_at_the_base_rate():
    m = LatentModel.create(CFG, 8, 16, 24)
    groups = {g["lr_scale"]: g["params"] for g in _param_groups(m)}
    assert set(groups) == {1.0, 10.0}
    assert {id(p) for p in groups[10.0]} == {id(g) for g in m.decoder.latents.grids()}


def test_auto_precision_keeps_the_latent_model_in_fp32_on_the_cpu(monkeypatch):
    monkeypatch.setattr(accel, "native_bf16", lambda device: True)
    cpu = torch.device("cpu")
    assert accel.resolve_precision("auto", cpu, LatentModel.create(CFG, 8, 16, 24)) == "fp32"
    assert accel.resolve_precision("auto", cpu, torch.nn.Linear(2, 2)) == "bf16"
    assert accel.resolve_precision("bf16", cpu, LatentModel.create(CFG, 8, 16, 24)) == "bf16"


def test_the_rate_of_a_strided_level_samples_the_slices_the_batch_blends():
    m = LatentModel.create(CFG, 8, 16, 24)
    quants = learned_quant.attach(m.decoder, OmegaConf.create(dict(bits=8, bias_bits=8, steps="tensor")))
    with torch.no_grad():
        for g in m.decoder.latents.grids():
            g.normal_(0, 2)
    m.train()
    m.decoder.features(torch.arange(8))  # a forward pass sets every level's values
    lq = quants[2]                       # level 2: 2 slices, stride 4
    assert lq.t_stride == 4
    whole = float(lq.rate_bits().detach())
    with torch.no_grad():
        assert float(lq.rate_bits(torch.tensor([0]))) == pytest.approx(float(
            lq.model.rate_bits(lq.last_y, lq.log_b, lq.aux, torch.tensor([0]))))
        assert float(lq.rate_bits(torch.tensor([3]))) == pytest.approx(whole)  # frame 3 blends both slices


def test_a_strided_relu_latent_fit_goes_through_the_file_to_the_psnr_it_measured(tmp_path, tiny_clip):
    out = tmp_path / "m.bin"
    summary = api.fit(tiny_clip, ["model=latent", "model.levels=3", "model.hidden=8", "model.t_stride_max=4",
                                  "model.t_stride_base=2", "model.act=relu", "compress=rd", "train.epochs=30",
                                  "compress.rd_epochs=2", "compress.qat_epochs=2", "compress.lmbda=0.001",
                                  "train.lr=2e-2"],
                      out=out, outputs_root=tmp_path / "o", show_progress=False)
    cm = container.read(out)
    assert cm.model["t_strides"] == [6, 4, 4] and cm.model["act"] == "relu"  # t_stride_first 16, clamped to 6
    assert [t.shape[0] for t in cm.tensors if t.name.startswith("latents.level")] == [1, 2, 2]
    assert decode_frames(cm).shape[0] == 6
    assert api.evaluate(out, tiny_clip, metrics=["psnr"])["psnr"] == pytest.approx(summary["psnr"], abs=1e-6)
    assert summary["psnr"] > 12
    info = api.info(out)
    assert info["macs_per_pixel"] == pytest.approx(macs_per_pixel("latent", cm.model, 37, 23), abs=0.05)


def test_the_latent_model_sets_its_own_fit_learning_rate_unless_train_lr_is_given():
    assert compose(["model=latent", "compress=latent"]).train.lr == pytest.approx(3e-2)
    assert compose(["model=latent", "compress=latent", "train.lr=4e-3"]).train.lr == pytest.approx(4e-3)
    assert compose(["model=hnerv"]).train.lr == pytest.approx(3e-3)  # HNeRV keeps train.lr's default


@pytest.mark.parametrize("overrides, message", [
    (["model=latent", "compress=default"], "add compress=latent"),
    (["model=latent", "compress=latent", "model.act=tanh"], "model.act=tanh is not supported"),
    (["model=latent", "compress=latent", "model.t_stride_max=0"], "model.t_stride_max=0 is invalid"),
])
def test_bad_latent_settings_are_one_line(overrides, message):
    with pytest.raises(InputError, match=message):
        validate(compose(overrides))


def test_compress_latent_is_compress_rd_with_the_latent_schedule():
    c = compose(["model=latent", "compress=latent"]).compress
    assert (c.entropy, c.rd_fit, c.rd_epochs, c.qat_epochs) == ("learned", True, 0, 10)


def test_strides_by_hand_replace_the_rule_and_are_clamped_to_the_clip():
    arch = LatentModel.solve_arch(dict(CFG, t_strides=[4, 1, 64, 2]), 8, 16, 24)
    assert arch["t_strides"] == [4, 1, 8, 2]
    m = LatentModel(arch)
    assert [g.shape[0] for g in m.decoder.latents.grids()] == [2, 8, 1, 4]


@pytest.mark.parametrize("value", ["[4,4]", "3", "[0,1,1,1,1,1]", "[1.5,1,1,1,1,1]"])
def test_bad_strides_by_hand_are_one_line(value):
    with pytest.raises(InputError, match="model.t_strides=.* is invalid: give 6 whole numbers"):
        validate(compose(["model=latent", "compress=latent", f"model.t_strides={value}"]))


def test_the_first_level_can_take_its_own_stride():
    arch = LatentModel.solve_arch(dict(CFG, t_stride_first=16), 8, 16, 24)
    assert arch["t_strides"] == [8, 2, 4, 4]  # clamped to the clip's 8 frames
    default = compose(["model=latent", "compress=latent"]).model
    assert LatentModel.solve_arch(dict(default), 48, 144, 256)["t_strides"] == [16, 4, 8, 16, 32, 32]


def test_a_checkpoint_from_before_the_learning_rate_groups_still_resumes(tmp_path):
    from inr_codec.train.checkpoint import save_checkpoint
    from inr_codec.train.trainer import Trainer
    frames = type("F", (), {"device": torch.device("cpu"), "__len__": lambda self: 8})()
    cfg = OmegaConf.create(dict(epochs=1, lr=1e-3, weight_decay=0.0, batch_size=2, loss="l2", precision="fp32"))
    m = LatentModel.create(dict(CFG, latent_lr_scale=1), 8, 16, 24)  # one group, as every model had
    t = Trainer(m, frames, cfg, show_progress=False)
    opt = t.optimizer.state_dict()
    opt["param_groups"][0].pop("lr_scale")  # what an older inrcodec saved
    save_checkpoint(tmp_path / "old.pt", {"model": m.state_dict(), "optimizer": opt, "state": {}, "fingerprint": {}})
    t.resume(tmp_path / "old.pt")
    assert [g["lr_scale"] for g in t.optimizer.param_groups] == [1.0]
    t2 = Trainer(LatentModel.create(CFG, 8, 16, 24), frames, cfg, show_progress=False)  # two groups now
    with pytest.raises(InputError, match="its parameters learn in 1 group of their own rate, this run's in 2"):
        t2.resume(tmp_path / "old.pt")


def test_a_bad_model_fit_lr_names_itself():
    with pytest.raises(InputError, match="model.fit_lr=0 is invalid"):
        compose(["model=latent", "compress=latent", "model.fit_lr=0"])
