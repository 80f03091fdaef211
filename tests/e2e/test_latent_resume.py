"""model=latent (3D grids, their own learning rate; soft rounding annealed over the fit): Ctrl-C mid-epoch,
then --resume, writes the file an uninterrupted run writes, byte for byte (CPU)."""
from fractions import Fraction
from pathlib import Path

import pytest

from inr_codec import api
from inr_codec.errors import FitInterrupted
from inr_codec.io import Video, write_video
from tests.conftest import moving_gradient
from tests.e2e.test_interrupt_resume import interrupt_at_step

FIT = ["model=latent", "model.levels=3", "model.hidden=8", "model.t_stride_max=4", "model.t_stride_base=2",
       "compress=rd", "train.epochs=4", "compress.rd_epochs=1", "compress.qat_epochs=1", "compress.lmbda=0.001",
       "train.lr=2e-2", "train.checkpoint_every=1", "device=cpu"]


@pytest.mark.parametrize("extra", [[], ["compress.soft_round=[0.3,0.1]"], ["compress.latent_model=nb"],
                                   ["model.motion=true", "model.motion_block=8", "model.motion_t_stride=2"],
                                   ["train.optimizer=schedule_free"]],
                         ids=["noise", "soft_round", "laplace_nb", "motion", "schedule_free"])
def test_latent_fit_interrupted_mid_epoch_resumes_to_the_same_file(tmp_path, monkeypatch, extra):
    clip = tmp_path / "clip.mkv"
    write_video(Video(moving_gradient(), Fraction(25)), str(clip), pix_fmt="rgb")
    clean = api.fit(clip, FIT + extra, out=tmp_path / "clean.bin", outputs_root=tmp_path / "a", show_progress=False)
    out = tmp_path / "resumed.bin"
    interrupt_at_step(monkeypatch, 5)  # epoch 1, batch 2 of 3 of the fit
    with pytest.raises(FitInterrupted) as info:
        api.fit(clip, FIT + extra, out=out, outputs_root=tmp_path / "b", show_progress=False)
    monkeypatch.undo()
    run_dir = Path(str(info.value).rsplit("--resume ", 1)[1])
    api.fit(resume=run_dir, show_progress=False)
    assert out.read_bytes() == Path(clean["file"]).read_bytes()


def test_the_fit_anneals_soft_rounding_step_by_step_the_candidates_and_phases_hold_it(tmp_path, monkeypatch):
    from inr_codec.compress import learned_quant as lq
    seen = []
    real = lq.RateTerm.at

    def spy(self, p):
        real(self, p)
        seen.append((self.schedule, p, next(q.alpha for q in self.quants if q.alpha is not None)))

    monkeypatch.setattr(lq.RateTerm, "at", spy)
    clip = tmp_path / "clip.mkv"
    write_video(Video(moving_gradient(), Fraction(25)), str(clip), pix_fmt="rgb")
    api.fit(clip, FIT + ["compress.soft_round=[0.3,0.1]", "train.candidates=2", "train.candidate_epochs=1"],
            out=tmp_path / "a.bin", outputs_root=tmp_path, show_progress=False)
    start = [a for schedule, _, a in seen if schedule == "start"]
    assert len(start) == 6 and start == pytest.approx([1 / 0.3] * 6)  # 2 candidates of 1 epoch of 3 batches
    fit = [(p, a) for schedule, p, a in seen if schedule == "anneal"]
    assert len(fit) == 12 and fit[0] == (0.0, pytest.approx(1 / 0.3))  # 4 epochs of 3 batches
    assert all(a1 > a0 for (_, a0), (_, a1) in zip(fit, fit[1:]))      # sharper at every step
    held = [a for schedule, _, a in seen if schedule == "end"]
    assert held and held == pytest.approx([1 / 0.1] * len(held))


def test_resuming_with_another_grid_model_is_one_line(tmp_path, monkeypatch):
    """A checkpoint trained under laplace_ctx cannot continue under laplace_nb (other parameters): refused
    with one line, not a traceback from load_state_dict."""
    from inr_codec.errors import InputError
    clip = tmp_path / "clip.mkv"
    write_video(Video(moving_gradient(), Fraction(25)), str(clip), pix_fmt="rgb")
    interrupt_at_step(monkeypatch, 5)
    with pytest.raises(FitInterrupted) as info:
        api.fit(clip, FIT, out=tmp_path / "a.bin", outputs_root=tmp_path / "a", show_progress=False)
    monkeypatch.undo()
    run_dir = Path(str(info.value).rsplit("--resume ", 1)[1])
    with pytest.raises(InputError, match="cannot resume .* grid_coding"):
        api.fit(None, ["compress.latent_model=nb"], resume=run_dir, show_progress=False)


def test_resuming_with_another_optimizer_is_one_line(tmp_path, monkeypatch):
    """A checkpoint of Schedule-Free Adam (z, x and v for each weight) cannot continue under Adam: one line."""
    from inr_codec.errors import InputError
    clip = tmp_path / "clip.mkv"
    write_video(Video(moving_gradient(), Fraction(25)), str(clip), pix_fmt="rgb")
    interrupt_at_step(monkeypatch, 5)
    with pytest.raises(FitInterrupted) as info:
        api.fit(clip, FIT + ["train.optimizer=schedule_free"], out=tmp_path / "a.bin", outputs_root=tmp_path / "a",
                show_progress=False)
    monkeypatch.undo()
    run_dir = Path(str(info.value).rsplit("--resume ", 1)[1])
    with pytest.raises(InputError, match="cannot resume .*train.optimizer=schedule_free"):
        api.fit(None, ["train.optimizer=adam"], resume=run_dir, show_progress=False)
