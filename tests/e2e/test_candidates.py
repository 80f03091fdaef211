"""Warm-up candidates (train.candidates): the lowest loss is kept, the others' checkpoints go, and an
interrupted warm-up resumes to the file an uninterrupted run writes."""
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from omegaconf import OmegaConf

from inr_codec import api
from inr_codec.compress import learned_quant
from inr_codec.config import compose, validate
from inr_codec.errors import FitInterrupted, InputError
from inr_codec.io import Video, write_video
from inr_codec.models.latent import LatentModel
from inr_codec.train import candidates
from tests.conftest import moving_gradient
from tests.e2e.test_interrupt_resume import interrupt_at_step

FIT = ["model=latent", "model.levels=3", "model.hidden=8", "compress=latent", "train.epochs=3",
       "train.candidates=3", "train.candidate_epochs=2", "compress.qat_epochs=1", "compress.lmbda=0.001",
       "train.checkpoint_every=1", "device=cpu"]


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "clip.mkv"
    write_video(Video(moving_gradient(), Fraction(25)), str(path), pix_fmt="rgb")
    return path


def test_the_candidate_with_the_lowest_loss_is_kept(clip, tmp_path, monkeypatch):
    losses = iter([5.0, 1.0, 3.0])
    real = candidates.objective
    monkeypatch.setattr(candidates, "objective", lambda *a: (real(*a), next(losses))[1])
    summary = api.fit(clip, FIT, out=tmp_path / "m.bin", outputs_root=tmp_path / "o", show_progress=False)
    run = Path(summary["run_dir"])
    assert "warm-up: candidate 2 of 3 kept (seed 1)" in (run / "fit.log").read_text()
    assert sorted(p.name for p in (run / "checkpoints").glob("candidate*.pt")) == ["candidate1.pt"]


def test_the_objective_adds_the_rate_term_to_the_distortion():
    m = LatentModel.create(dict(levels=2, hidden=4, layers=1, t_stride_max=1), 4, 8, 8)
    quants = learned_quant.attach(m.decoder, OmegaConf.create(dict(bits=8, bias_bits=8, steps="tensor")))
    with torch.no_grad():
        m.decoder.latents.parametrizations.level0.original.normal_(0, 3)
    m.eval()
    m(torch.arange(4))  # outside training: the values rounded on their steps, as the file has them
    frames = type("F", (), {"height": 8, "width": 8, "__len__": lambda self: 4})()
    state = SimpleNamespace(history=[(1, 0.5, 0.02, 17.0)])
    cfg = OmegaConf.create({"compress": {"lmbda": 0.5}})
    bits = learned_quant.rounded_bits(m.decoder)
    assert bits > 1000 and bits == pytest.approx(learned_quant.estimate_bits(quants))
    assert candidates.objective(m, state, frames, cfg) == pytest.approx(0.02 + 0.5 * bits / (4 * 8 * 8))
    assert candidates.objective(m, state, frames, OmegaConf.create({"compress": {"lmbda": 0}})) == 0.02


@pytest.mark.parametrize("step, where", [
    (8, "candidate1 epoch 0"),    # inside the second candidate
    (13, "candidate2 epoch 0"),   # the first two finished: resumed, they score from their parameters
    (22, "fit epoch 1"),          # after the choice (its fit.pt removed, as by kill -9): the kept one rebuilt
])
def test_an_interrupted_warm_up_resumes_to_the_same_file(clip, tmp_path, monkeypatch, step, where):
    fit = FIT + ["compress.lmbda=0.016"]  # a rate term that counts in the choice
    clean = api.fit(clip, fit, out=tmp_path / "clean.bin", outputs_root=tmp_path / "a", show_progress=False)
    interrupt_at_step(monkeypatch, step)  # 3 steps an epoch, 2 epochs a candidate
    with pytest.raises(FitInterrupted, match=where) as info:
        api.fit(clip, fit, out=tmp_path / "r.bin", outputs_root=tmp_path / "b", show_progress=False)
    monkeypatch.undo()
    run_dir = Path(str(info.value).rsplit("--resume ", 1)[1])
    if step == 22:
        (run_dir / "checkpoints" / "fit.pt").unlink()
    api.fit(resume=run_dir, show_progress=False)
    assert (tmp_path / "r.bin").read_bytes() == Path(clean["file"]).read_bytes()
    if step == 22:
        assert "kept before" in (run_dir / "fit.log").read_text()


def test_candidates_do_not_apply_to_nirvana():
    with pytest.raises(InputError, match="train.candidates does not apply to model=nirvana"):
        validate(compose(["model=nirvana", "train.candidates=2"]))
