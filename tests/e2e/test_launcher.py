"""Sweeps through Hydra launcher plugins: joblib for real, the SLURM preset composed, missing plugins named."""
import csv
import logging

import pytest

from inr_codec import launch
from inr_codec.cli import main
from tests.conftest import TINY

FAST = TINY + ["train.epochs=2", "compress.qat_epochs=0", "compress.prune_epochs=0"]


def test_joblib_sweep_runs_jobs_in_parallel_processes_and_gathers(tmp_path, tiny_clip, capsys, monkeypatch):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # the jobs' threads are inrcodec's choice
    out = tmp_path / "outputs"
    handlers = logging.getLogger().handlers[:]
    code = main(["fit", str(tiny_clip), "-m", "compress.bits=6,8", "hydra/launcher=joblib",
                 "hydra.launcher.n_jobs=2", "--outputs", str(out), *FAST])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert logging.getLogger().handlers == handlers  # Hydra's log setup is undone
    assert "[2/2] compress.bits=8" in printed and "sweep: 2 runs" in printed
    (sweep,) = (out / "sweeps").iterdir()
    rows = list(csv.DictReader(open(sweep / "sweep.csv")))
    assert [r["bits"] for r in rows] == ["6", "8"] and all(float(r["psnr"]) > 5 for r in rows)
    for n in (0, 1):  # each job in its own folder of the sweep, with Hydra's record of its overrides
        assert len(list((sweep / str(n)).rglob("summary.json"))) == 1
        assert (sweep / str(n) / ".hydra" / "overrides.yaml").is_file()
        (log,) = (sweep / str(n)).rglob("fit.log")  # two jobs at once share the cores
        assert "cores / 2 workers" in log.read_text()  # joblib's own OMP_NUM_THREADS is not the user's
    assert main(["gather", str(sweep), "-o", str(tmp_path / "all.csv")]) == 0
    assert sorted(r["bits"] for r in csv.DictReader(open(tmp_path / "all.csv"))) == ["6", "8"]


def test_slurm_preset_composes_over_submitit():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    from hydra import compose, initialize_config_module
    with initialize_config_module(config_module="inr_codec.conf", version_base="1.3"):
        cfg = compose("fit", overrides=["hydra/launcher=slurm", "hydra.launcher.partition=gpu", "model=nerv"],
                      return_hydra_config=True)
    lc = cfg.hydra.launcher
    assert lc._target_.endswith("submitit_launcher.SlurmLauncher")
    assert (lc.partition, lc.gpus_per_node, lc.tasks_per_node, lc.timeout_min) == ("gpu", 1, 1, 240)
    assert cfg.model.name == "nerv"


def test_launcher_errors_are_one_line(tmp_path, monkeypatch, capsys):
    real = launch.importlib.util.find_spec
    monkeypatch.setattr(launch.importlib.util, "find_spec",
                        lambda name, *a: None if name.startswith("hydra_plugins") else real(name, *a))
    for args, needle in [(["-m", "model=nerv,hnerv", "hydra/launcher=joblib"],
                          "needs the hydra-joblib-launcher package: pip install 'inrcodec[cluster]'"),
                         (["-m", "hydra/launcher=slurm"], "needs the hydra-submitit-launcher package"),
                         (["-m", "hydra/launcher=nosuch"], "Could not find 'hydra/launcher/nosuch'"),
                         (["hydra/launcher=joblib"], "add -m")]:
        assert main(["fit", "--outputs", str(tmp_path), *args]) == 2
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") == 1, err
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("launcher", [[], ["hydra/launcher=joblib"]])
def test_a_bad_value_in_any_job_stops_the_sweep_before_it_starts(tmp_path, tiny_clip, capsys, launcher):
    out = tmp_path / "outputs"
    assert main(["fit", str(tiny_clip), "-m", "compress.bits=6,1", *launcher, "--outputs", str(out), *FAST]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sweep job [compress.bits=1" in err and "compress.bits=1 is invalid" in err, err
    assert not out.exists()  # no job ran


def test_a_failed_launcher_job_is_one_line_naming_the_job(tmp_path, tiny_clip, capsys):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    code = main(["fit", str(tiny_clip), "-q", "-m", "data.start=0,100", "hydra/launcher=joblib",
                 "hydra.launcher.n_jobs=2", "--outputs", str(tmp_path / "outputs"), *FAST])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err  # Hydra's own "Error executing job" line is not printed
    assert err.startswith("inrcodec: error: sweep job [data.start=100") and "only 6 frames" in err, err
