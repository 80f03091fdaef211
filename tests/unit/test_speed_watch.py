"""The busy-machine line: once, when steps run far below the fit's expected speed, on the bar and in the log."""
import json
import time
from pathlib import Path

import pytest

from inr_codec import api
from inr_codec.cli import main
from inr_codec.train import speed_watch, trainer
from inr_codec.train.speed_watch import SpeedWatch
from tests.conftest import TINY


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _run(watch: SpeedWatch, clock: Clock, steps: list[float]) -> list[str]:
    lines = []
    for s in steps:
        clock.now += s
        line = watch.step(s)
        if line:
            lines.append(line)
    return lines


def test_slow_steps_give_one_line_after_min_seconds():
    clock = Clock()
    w = SpeedWatch(clock=clock, load=lambda: 7.2, cores=2, threads=lambda: 1, window=4, min_s=5.0)
    assert _run(w, clock, [0.05] * 40) == []            # as fast as ever: nothing
    assert _run(w, clock, [0.5] * 9) == []              # 10x slower, but not yet for 5 s
    lines = _run(w, clock, [0.5] * 200)                  # 100 s more of it: still one line
    assert len(lines) == 1
    assert "machine is busy" in lines[0] and "10x slower" in lines[0]
    assert "load average 7.2 on 2 cores, 1 thread)" in lines[0]


def test_brief_stalls_and_moderate_slowdowns_say_nothing():
    clock = Clock()
    w = SpeedWatch(clock=clock, load=lambda: 1.0, cores=2, window=4, min_s=5.0)
    steps = ([0.05] * 20 + [1.0] * 4) * 5 + [0.1] * 300  # 4 s stalls, then 2x slower (a fair share)
    assert _run(w, clock, steps) == []


class WaitingGovernor:
    """A governor that reports the fit's thread waiting for a core 80% of the time."""
    wait_share = 0.8

    def tick(self):
        return None


def test_a_fit_slow_from_its_first_step_is_caught_by_its_waiting():
    clock = Clock()
    w = SpeedWatch(governor=WaitingGovernor(), clock=clock, load=lambda: 9.0, cores=2, window=4, min_s=5.0)
    lines = _run(w, clock, [0.4] * 100)  # never ran faster: the steps alone cannot tell
    assert len(lines) == 1 and "5x slower" in lines[0]


def test_new_baseline_forgets_the_fastest_window():
    clock = Clock()
    w = SpeedWatch(clock=clock, load=lambda: None, cores=2, window=4, min_s=1.0)
    _run(w, clock, [0.01] * 20)
    w.new_baseline()  # the next group's steps cost 10x more, on an idle machine
    assert _run(w, clock, [0.1] * 50) == []


def test_simulated_slow_step_in_a_real_fit(tiny_clip, tmp_path, monkeypatch, capsys):
    """A tiny fit whose steps turn 20x slower half-way: the bar gets one line, fit.log one warning."""
    real_step = trainer.Trainer._train_step
    calls = {"n": 0}

    def step(self, idx, lr):
        calls["n"] += 1
        t = time.perf_counter()
        out = real_step(self, idx, lr)
        if calls["n"] > 30:  # the machine turns busy
            time.sleep(max(0.0, 20 * (time.perf_counter() - t)) + 0.02)
        return out

    def quick_watch(device):
        w = speed_watch.SpeedWatch(cores=2, window=4, min_s=0.5)
        return w

    monkeypatch.setattr(trainer.Trainer, "_train_step", step)
    monkeypatch.setattr(trainer, "for_device", quick_watch)
    s = api.fit(tiny_clip, [*TINY, "train.epochs=20", "measure=psnr"], outputs_root=tmp_path / "o",
                show_progress=True)
    err = capsys.readouterr().err
    assert err.count("inrcodec: the machine is busy") == 1, err
    log = (Path(s["run_dir"]) / "fit.log").read_text()
    assert log.count("WARNING inr_codec.train: fit: the machine is busy") == 1
    assert "threads: " in log and s["threads"] >= 1 and s["threads_source"]

    # decode and eval say how many threads they used
    assert main(["decode", s["file"], "-o", str(tmp_path / "out.y4m"), "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "1 thread:" in out
    r = api.evaluate(s["file"], tiny_clip, metrics="psnr", threads=1)
    assert r["threads"] == 1 and r["psnr"] == pytest.approx(s["psnr"], abs=1e-6)
    json.dumps(r)
    # through the Python API a command runs on its own threads and leaves the caller's as they were
    import torch
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    was = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        d = api.decode(s["file"], tmp_path / "again.y4m", threads=2)
        assert d["threads"] == 2 and "threads=2" in d["threads_why"] and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(was)


def test_no_watch_off_the_cpu():
    import torch
    assert speed_watch.for_device(torch.device("meta")) is None
    w = speed_watch.for_device(torch.device("cpu"))
    assert w is not None and w.governor is not None  # the thread governor is ticked by the same call
