"""The threads each process chooses (plain, joblib job, torchrun rank, threads=, OMP_NUM_THREADS), the thread
governor on a busy machine, and bad values as one-line errors."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from inr_codec import launch, threads
from inr_codec.cli import main
from inr_codec.errors import InputError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _restore_threads(monkeypatch):
    """Each test starts with no sweep context and ends with torch's thread count as it found it."""
    was = torch.get_num_threads()
    threads._context.clear()
    for key in ("WORLD_SIZE", "LOCAL_WORLD_SIZE", "TORCHELASTIC_RUN_ID"):
        monkeypatch.delenv(key, raising=False)
    yield
    threads._context.clear()
    torch.set_num_threads(was)


def test_plain_process_takes_every_core_of_an_idle_machine():
    c = threads.decide(None, env="", ncores=4, nworkers=1, others=0)
    assert (c.threads, c.source, c.target) == (4, "auto", 4) and "4 cores" in c.why


def test_busy_machine_gets_the_free_cores_and_at_least_one():
    assert threads.decide(None, env="", ncores=4, nworkers=1, others=1).threads == 3
    busy = threads.decide(None, env="", ncores=2, nworkers=1, others=2)
    assert (busy.threads, busy.target) == (1, 2) and "busy" in busy.why
    assert threads.decide("auto", env="", ncores=2, nworkers=1, others=7).threads == 1


def test_joblib_job_gets_its_share_and_its_siblings_do_not_count_as_load():
    assert threads.decide(None, env="", ncores=8, nworkers=2, others=0).threads == 4
    assert threads.decide(None, env="", ncores=8, nworkers=2, others=1).threads == 4  # the other job
    assert threads.decide(None, env="", ncores=8, nworkers=2, others=6).threads == 3  # and 5 strangers
    assert threads.decide(None, env="", ncores=2, nworkers=2, others=1).threads == 1
    assert threads.decide(None, env="", ncores=2, nworkers=4, others=0).threads == 1


def test_sweep_context_sets_workers_and_the_users_environment(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # what joblib's loky writes into its workers
    threads.set_context(workers=2, env=None)     # the user's own shell had none
    assert threads.workers() == 2 and threads.user_env() is None
    c = threads.decide(None, ncores=6, others=0)
    assert (c.threads, c.source) == (3, "auto") and "6 cores / 2 workers" in c.why
    threads.set_context(workers=2, env="5")
    assert threads.decide(None, ncores=6, others=0).threads == 5


def test_torchrun_rank_divides_the_cores_by_the_local_world(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")  # two ranks on this machine, two elsewhere
    assert threads.workers() == 2
    assert threads.decide(None, env="", ncores=16, others=0).threads == 8
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert threads.workers() == 1


def test_override_and_environment(monkeypatch):
    c = threads.decide(3, env="", ncores=2, nworkers=1, others=5)
    assert (c.threads, c.source) == (3, "threads=")  # by hand: even on a busy machine
    c = threads.decide("3", env="1", ncores=8, nworkers=1, others=0)
    assert (c.threads, c.source) == (1, "OMP_NUM_THREADS") and "OMP_NUM_THREADS=1" in c.why
    assert threads.decide(None, env="4,2", ncores=8, nworkers=1, others=0).threads == 4  # OpenMP's nested form
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert threads.user_env() == "2"
    assert threads.decide(None, ncores=8, nworkers=1, others=0).threads == 2


@pytest.mark.parametrize("bad", [0, -1, "abc", "1.5", True, 1025, ""])
def test_bad_thread_counts_are_refused(bad):
    with pytest.raises(InputError, match="give a whole number of threads"):
        threads.parse(bad)
    with pytest.raises(InputError):  # refused even where OMP_NUM_THREADS would win
        threads.decide(bad, env="1", ncores=2, nworkers=1, others=0)


def test_bad_environment_value_is_refused():
    with pytest.raises(InputError, match="OMP_NUM_THREADS=lots is invalid"):
        threads.decide(None, env="lots", ncores=2, nworkers=1, others=0)


@pytest.mark.parametrize("argv", [["fit", "threads=0"], ["fit", "threads=abc"],
                                  ["decode", "--threads", "0", "x.bin", "-o", "x.y4m"],
                                  ["eval", "x.bin", "--ref", "x.mkv", "--threads", "two"]])
def test_cli_bad_threads_is_one_line_exit_2(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "give a whole number of threads" in err, err
    assert not list(tmp_path.iterdir())  # no run directory, no output


def test_configure_applies_and_logs(caplog, monkeypatch):
    import logging
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    with caplog.at_level(logging.INFO, logger="inr_codec"):
        c = threads.configure(2, command="decode")
    assert torch.get_num_threads() == 2 and threads.current() is c
    assert "decode: 2 intra-op threads: threads=2" in caplog.text


def test_joblib_concurrency_from_the_overrides(monkeypatch):
    monkeypatch.setattr(threads, "cores", lambda: 4)
    sweep = ["-m", "compress.bits=4,6,8"][1:]
    assert launch.concurrent_jobs("joblib", sweep + ["hydra.launcher.n_jobs=2"]) == 2
    assert launch.concurrent_jobs("joblib", sweep + ["hydra.launcher.n_jobs=8"]) == 3  # only 3 jobs
    assert launch.concurrent_jobs("joblib", sweep) == 3                                 # default -1: a job per core
    assert launch.concurrent_jobs("joblib", sweep + ["hydra.launcher.n_jobs=-2"]) == 3  # cores + 1 - 2
    assert launch.concurrent_jobs("slurm", sweep) == 1                                  # each on its own node
    with pytest.raises(InputError, match="n_jobs=0"):
        launch.concurrent_jobs("joblib", sweep + ["hydra.launcher.n_jobs=0"])


def _rank_sees(parent_env: dict) -> str:
    """What user_env() says in a process started the way torchrun starts a rank: its parent was started with
    ``parent_env``, then (like torchrun) put OMP_NUM_THREADS=1 into its own environment for the child."""
    child = ("import os, subprocess, sys; os.environ.setdefault('OMP_NUM_THREADS', '1'); "
             "env = dict(os.environ, TORCHELASTIC_RUN_ID='t', LOCAL_WORLD_SIZE='2', WORLD_SIZE='2'); "
             "print(subprocess.run([sys.executable, '-c', 'from inr_codec import threads; "
             "print(threads.user_env())'], env=env, capture_output=True, text=True).stdout.strip())")
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env.update(parent_env, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", child], env=env, capture_output=True, text=True,
                          timeout=60).stdout.strip()


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_torchruns_own_default_is_not_the_users():
    assert _rank_sees({}) == "None"                        # torchrun set it: inrcodec decides
    assert _rank_sees({"OMP_NUM_THREADS": "1"}) == "1"     # the user set it: it wins


class FakeMachine:
    """A clock and a schedstat probe whose wait time grows at ``wait_share`` of the elapsed time."""

    def __init__(self):
        self.now, self.wait_ns, self.wait_share, self.set_to = 0.0, 0, 0.0, []

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.wait_ns += int(self.wait_share * seconds * 1e9)


def _governor(m: FakeMachine, choice: threads.Choice, others: float = 0.0) -> threads.Governor:
    return threads.Governor(choice, interval_s=1.0, clock=lambda: m.now, probe=lambda: (0, m.wait_ns),
                            others=lambda own: others, set_threads=m.set_to.append)


def test_governor_halves_the_threads_on_a_busy_machine_and_gives_them_back():
    m = FakeMachine()
    c = threads.decide(None, env="", ncores=8, nworkers=1, others=0)
    g = _governor(m, c)
    notes = []
    for share in [0.0] * 3 + [0.6] * 4:
        m.wait_share = share
        m.advance(1.0)
        notes.append(g.tick())
    assert m.set_to == [4, 2] and c.threads == 2  # two busy ticks per halving
    assert sum(n is not None for n in notes) == 2 and "the machine is busy" in [n for n in notes if n][0]
    for _ in range(4):
        m.wait_share = 0.0
        m.advance(1.0)
        g.tick()
    assert m.set_to == [4, 2, 8] and c.threads == 8  # free three times in a row, and room for all 8


def test_governor_waits_for_room_and_leaves_hand_set_threads_alone():
    m = FakeMachine()
    c = threads.decide(None, env="", ncores=2, nworkers=1, others=0)
    c.threads = 1  # lowered earlier; another process still holds one core
    g = _governor(m, c, others=1.0)
    for _ in range(6):
        m.advance(1.0)
        assert g.tick() is None
    assert m.set_to == []
    hand = threads.decide(2, env="", ncores=2, nworkers=1, others=0)
    g = _governor(m, hand)
    m.wait_share = 0.9
    for _ in range(5):
        m.advance(1.0)
        assert g.tick() is None
    assert m.set_to == [] and hand.threads == 2


def test_governor_samples_only_every_interval():
    m = FakeMachine()
    c = threads.decide(None, env="", ncores=4, nworkers=1, others=0)
    calls = []
    g = threads.Governor(c, interval_s=1.0, clock=lambda: m.now, probe=lambda: calls.append(1) or (0, 0))
    for _ in range(150):
        m.advance(0.01)  # 150 steps of 10 ms
        g.tick()
    assert len(calls) == 2  # the first sample, and one a second later
