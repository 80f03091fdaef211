"""Logs that stay readable: where stderr is no terminal, a fit's progress is a plain line every few seconds
(train/fit_bar.py), not a carriage-return update per step."""
import subprocess
import sys

from tests.conftest import TINY
from inr_codec.train import fit_bar
from inr_codec.train.fit_bar import FitBar


def test_no_terminal_no_bar_one_line_at_the_end_of_a_short_phase(capsys):
    bar = FitBar("fit", epochs=20, steps_per_epoch=50, done_steps=0, show=True, tty=False)
    for s in range(1, 1001):
        bar.step(s / 1000, epoch=(s - 1) // 50, batch=(s - 1) % 50 + 1)
    bar.epoch_stats("loss 1.00e-02, psnr 20.00 dB")
    bar.close()
    err = capsys.readouterr().err
    assert "\r" not in err and err.count("\n") == 1, err  # a thousand steps within LINE_EVERY_S: one line
    assert err.startswith("fit: 100% [epoch 20/20, step 50/50") and "spent" in err, err


def test_a_line_every_interval_with_the_time_left(capsys, monkeypatch):
    monkeypatch.setattr(fit_bar, "LINE_EVERY_S", 0.0)
    bar = FitBar("rd", epochs=4, steps_per_epoch=1, done_steps=0, show=True, tty=False)
    for s in range(1, 5):
        bar.step(s / 4, epoch=s, batch=0)
    bar.close()
    lines = capsys.readouterr().err.splitlines()
    assert [ln.split("%")[0] for ln in lines] == ["rd:  25", "rd:  50", "rd:  75", "rd: 100", "rd: 100"], lines
    assert "left" in lines[0] and "left" not in lines[-1]


def test_quiet_and_terminal_write_no_lines(capsys):
    for kw in ({"show": False, "tty": False}, {"show": True, "tty": True}):
        bar = FitBar("fit", epochs=2, steps_per_epoch=2, done_steps=0, **kw)
        bar.step(0.5, epoch=0, batch=2)
        bar.close()
    assert "spent" not in capsys.readouterr().err


def test_a_fit_into_a_pipe_leaves_no_carriage_returns(tiny_clip, tmp_path):
    r = subprocess.run([sys.executable, "-m", "inr_codec", "fit", str(tiny_clip), *TINY, "train.epochs=3",
                        "measure=none", "--outputs", str(tmp_path / "o")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "\r" not in r.stderr and "fit: 100% [epoch 3/3" in r.stderr, r.stderr
