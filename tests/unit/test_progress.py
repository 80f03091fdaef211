"""Progress that never goes quiet: the phase bar moves within the first epoch and shows one time left,
the budget forecast speaks once when the budget allows far fewer epochs than asked, the stages of a fit
each say what they do, and the fit leaves worst_frame.png (measure=none: no picture)."""
import json
from pathlib import Path

import numpy as np
import pytest

from inr_codec import api, runtime
from inr_codec.cli import main
from inr_codec.config import compose
from inr_codec.io import read_video
from inr_codec.train.budget import BudgetForecast
from inr_codec.train.fit_bar import FitBar
from inr_codec.words import plural
from tests.conftest import TINY

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_plural():
    assert [plural(n, "epoch") for n in (0, 1, 2)] == ["0 epochs", "1 epoch", "2 epochs"]
    assert plural(1, "process") == "1 process" and plural(3, "process") == "3 processes"
    assert plural(12345, "byte", fmt=",") == "12,345 bytes"


def test_forecast_says_once_how_many_epochs_the_budget_allows():
    f = BudgetForecast("fit", budget_s=10.0, epochs=20, steps_per_epoch=10)
    lines = [f.step(step, 1.0 + 0.5 * (step - 1)) for step in range(1, 40)]  # 1 s warm-up, then 0.5 s a step
    said = [ln for ln in lines if ln]
    assert len(said) == 1 and lines.index(said[0]) == 5  # after the first step and 5 measured ones
    # at step 6, 3.5 s in: 6.5 s left at 0.5 s a step = 13 more steps, 19 in all: about 2 of the 20 epochs
    assert "about 2 epochs of the 20 epochs asked for" in said[0] and "train.budget_s" in said[0], said[0]


def test_forecast_is_silent_when_the_budget_suffices_and_counts_steps_below_one_epoch():
    enough = BudgetForecast("fit", budget_s=1000.0, epochs=20, steps_per_epoch=10)
    assert not any(enough.step(s, 0.5 * s) for s in range(1, 40))
    short = BudgetForecast("qat", budget_s=4.0, epochs=5, steps_per_epoch=100)
    said = [ln for ln in (short.step(s, 0.5 * s) for s in range(1, 20)) if ln]
    assert len(said) == 1 and "less than one epoch (about 8 of its 100 steps)" in said[0], said
    assert said[0].startswith("qat: ") and "5 epochs asked for" in said[0]


def test_bar_moves_within_the_first_epoch_with_one_time_left(capsys):
    bar = FitBar("fit", epochs=20, steps_per_epoch=50, done_steps=0, show=True, tty=True)  # the terminal's bar
    for b in range(1, 6):
        bar.step(b / 1000, epoch=0, batch=b)
    text = str(bar.bar)
    bar.close()
    assert bar.bar.n == 5 and "epoch 1/20, step 5/50" in text, text
    assert text.count("<") == 1 and "left" not in text, text  # tqdm's one time left, no second figure
    # under a budget the position is the schedule's progress (the budget's share of time where larger)
    budget = FitBar("fit", epochs=20, steps_per_epoch=50, done_steps=0, show=True, tty=True)
    budget.step(0.25, epoch=0, batch=3)
    assert budget.bar.n == 250
    budget.close()
    capsys.readouterr()


@pytest.mark.parametrize("name", ["tiny.mkv", "tiny.y4m"])
def test_reading_with_a_bar_gives_the_same_frames(tiny_clip, tmp_path, name):
    from inr_codec.io import write_video
    path = tiny_clip if name == "tiny.mkv" else tmp_path / name
    if name != "tiny.mkv":
        write_video(read_video(str(tiny_clip)), str(path))
    for overrides in ([], ["data.start=1", "data.max_frames=4"]):
        cfg = compose(overrides, only=("data",), command="eval")
        counted = []
        a, b = runtime.load_video(path, cfg), runtime.load_video(path, cfg, progress=counted.append)
        assert np.array_equal(a.frames, b.frames) and a.fps == b.fps and a.source_pix_fmt == b.source_pix_fmt
        assert sum(counted) == a.num_frames


def test_budget_warning_summary_stages_and_worst_frame(tiny_clip, tmp_path, capsys):
    out = tmp_path / "m.bin"
    code = main(["fit", str(tiny_clip), *TINY, "train.epochs=200000", "train.budget_s=1.5", "train.log_every=1000",
                 "-o", str(out), "--outputs", str(tmp_path / "runs")])
    assert code == 0
    captured = capsys.readouterr()
    err, printed = captured.err, captured.out
    assert err.count("inrcodec: fit: its time budget of 2 s (train.budget_s) will stop it after about") == 1, err
    assert "of the 200000 epochs asked for" in err
    for stage in ("inrcodec: reading", "inrcodec: quantizing and entropy-coding", f"inrcodec: writing {out}",
                  f"inrcodec: measuring {out}"):
        assert stage in err, stage
    (run_dir,) = (tmp_path / "runs").glob("*/*")
    s = json.loads((run_dir / "summary.json").read_text())
    assert s["stopped_by_budget"] is True and s["epochs"] < s["epochs_asked"] == 200000
    assert f"{s['epochs']} of 200000 epochs: train.budget_s ended the fit" in printed, printed
    assert "its time budget" in (run_dir / "fit.log").read_text()
    picture = run_dir / "worst_frame.png"
    assert picture.read_bytes()[:8] == PNG_MAGIC
    w = s["worst_frame"]
    assert w["image"] == str(picture) and 0 <= w["index"] < 6 and w["psnr"] <= s["psnr"] + 1e-9
    r = api.evaluate(out, tiny_clip, metrics="psnr", device="cpu")
    assert r["worst_frame"]["index"] == w["index"]  # the frame eval calls the worst
    lines = printed.strip().splitlines()
    assert f"worst frame {w['index']}" in lines[-2] and str(picture) in lines[-2]
    assert f"run directory {run_dir}" in lines[-1]  # -o put the model elsewhere: the last line names the run


def test_quiet_and_measure_none(tiny_clip, tmp_path, capsys):
    assert main(["fit", str(tiny_clip), *TINY, "train.epochs=1", "measure=none", "-q",
                 "--outputs", str(tmp_path / "runs")]) == 0
    captured = capsys.readouterr()
    assert "inrcodec:" not in captured.err and "fit:" not in captured.err  # -q: no bar, no stage lines
    assert "(1 epoch)" in captured.out and "worst frame" not in captured.out
    (run_dir,) = (tmp_path / "runs").glob("*/*")
    assert not (run_dir / "worst_frame.png").exists()
    s = json.loads((run_dir / "summary.json").read_text())
    assert s["worst_frame"] is None and s["stopped_by_budget"] is False


def test_nirvana_shows_one_bar_over_its_groups_and_draws_the_worst_frame(tiny_clip, tmp_path, capsys):
    nv = ["model=nirvana", "device=cpu", "model.head=mlp", "model.grid_ch=0", "model.batch=0", "model.gop=3",
          "model.segment=1", "model.patch=4", "model.hidden=8", "model.layers=1", "model.pe_levels=2",
          "model.key_steps=5", "measure=psnr"]
    assert main(["fit", str(tiny_clip), *nv, "--outputs", str(tmp_path / "runs")]) == 0
    captured = capsys.readouterr()
    assert "nirvana:" in captured.err and "group 2/2 (key, segment 1)" in captured.err, captured.err
    assert "inrcodec: fitting" in captured.err and "2 groups of 3" in captured.err
    (run_dir,) = (tmp_path / "runs").glob("*/*")
    assert (run_dir / "worst_frame.png").read_bytes()[:8] == PNG_MAGIC
    assert "1 segment" not in captured.out and "2 groups in 2 segments" in captured.out, captured.out
    assert Path(json.loads((run_dir / "summary.json").read_text())["worst_frame"]["image"]).is_file()
