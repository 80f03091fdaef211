"""Sweeps through a Hydra launcher plugin: ``inrcodec fit VIDEO -m ... hydra/launcher=joblib``.

Without a ``hydra/launcher=`` override a sweep runs its jobs one after another in this process
(``inr_codec.sweep``). With one, the sweep goes through Hydra's own multirun machinery, so the
launcher decides where the jobs run: ``joblib`` (local processes, hydra-joblib-launcher),
``submitit_slurm``/``submitit_local`` or our ``slurm`` preset (conf/hydra/launcher/slurm.yaml,
hydra-submitit-launcher). Each job is an ordinary ``api.fit`` whose run directory lies in the job's
folder of the sweep (``SWEEP/<job number>/<video stem>/<time>/``), so ``inrcodec gather SWEEP``
and the sweep's own sweep.csv see every job.
"""
from __future__ import annotations

import ast
import contextlib
import functools
import importlib.util
import io
import logging
import os
import sys
from pathlib import Path

from .errors import InputError

EXTRA = "pip install 'inrcodec[cluster]'"
# launcher option -> (plugin module, PyPI package)
PLUGINS = {
    "joblib": ("hydra_plugins.hydra_joblib_launcher", "hydra-joblib-launcher"),
    "submitit_slurm": ("hydra_plugins.hydra_submitit_launcher", "hydra-submitit-launcher"),
    "submitit_local": ("hydra_plugins.hydra_submitit_launcher", "hydra-submitit-launcher"),
    "slurm": ("hydra_plugins.hydra_submitit_launcher", "hydra-submitit-launcher"),
}


def launcher_of(overrides) -> str | None:
    """The launcher a ``hydra/launcher=NAME`` override asks for (None: the in-process sweep)."""
    names = [o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0].lstrip("+~") == "hydra/launcher"]
    return names[-1] if names else None


def concurrent_jobs(name: str | None, overrides) -> int:
    """How many of the sweep's jobs run at once on this machine: joblib's n_jobs (default -1: one per
    core; -k: cores + 1 - k, as joblib counts), at most the number of jobs. 1 for launchers that put
    each job on its own machine (SLURM) and for the in-process sweep."""
    if name != "joblib":
        return 1
    from .sweep import expand
    from .threads import cores
    n_jobs = -1
    for o in overrides:
        key, _, value = o.partition("=")
        if key.lstrip("+~") == "hydra.launcher.n_jobs":
            try:
                n_jobs = int(value)
            except ValueError:
                raise InputError(f"hydra.launcher.n_jobs={value} is not a whole number") from None
    if n_jobs == 0:
        raise InputError("hydra.launcher.n_jobs=0 runs nothing; give 1 or more (or -1: one job per core)")
    if n_jobs < 0:
        n_jobs = max(1, cores() + 1 + n_jobs)
    jobs = len(expand([o for o in overrides if not o.lstrip("+~").startswith("hydra")]))
    return max(1, min(n_jobs, jobs))


def check_launcher(name: str) -> None:
    """A one-line error naming the extra when the launcher's plugin is not installed."""
    if name in PLUGINS and importlib.util.find_spec(PLUGINS[name][0]) is None:
        raise InputError(f"hydra/launcher={name} needs the {PLUGINS[name][1]} package: {EXTRA}")
    # Other names (basic, or another installed plugin such as ray) are Hydra's to find or refuse.


def _job(cfg, *, video: str | None, quiet: bool, workers: int = 1, env: str | None = None) -> dict:
    """One job, run wherever the launcher puts it: its own overrides, its own folder of the sweep.
    ``workers``: jobs running at once on this machine (joblib), which share its cores; ``env``: the
    user's OMP_NUM_THREADS in the sweep's own process (joblib's workers get a value of joblib's)."""
    from hydra.core.hydra_config import HydraConfig

    from . import api, threads
    threads.set_context(workers=workers, env=env)
    hc = HydraConfig.get()
    overrides = [str(o) for o in hc.overrides.task]  # this job's key=value list, without hydra's own
    return api.fit(video, overrides, outputs_root=Path(hc.runtime.output_dir), show_progress=not quiet)


class _FailedJobLine(io.TextIOBase):
    """sys.stderr during a multirun: Hydra writes "Error executing job with overrides: [...]" before it
    re-raises a failed job's exception; keep those overrides for our one-line error, forward the rest."""

    PREFIX = "Error executing job with overrides:"

    def __init__(self, out):
        self.out, self.failed = out, None

    def write(self, s: str) -> int:
        if s.startswith(self.PREFIX):
            try:
                self.failed = [str(o) for o in ast.literal_eval(s[len(self.PREFIX):].strip())]
            except (ValueError, SyntaxError):
                self.failed = [s[len(self.PREFIX):].strip()]
            return len(s)
        return self.out.write(s)

    def flush(self) -> None:
        self.out.flush()


def run(video: str | None, overrides: list[str], sweep_dir: Path, *, quiet: bool = True) -> list[tuple[list[str], dict]]:
    """Run the sweep through Hydra's multirun with the launcher the overrides name.

    Returns (job overrides, summary) per job, in job order. Jobs log to their run directory's fit.log
    (Hydra's own job logging is off unless asked for with hydra/job_logging=...).
    """
    from hydra._internal.hydra import Hydra  # what @hydra.main runs; it cannot be a subcommand itself
    from hydra._internal.utils import create_config_search_path
    from hydra.core.global_hydra import GlobalHydra
    from hydra.version import setbase

    name = launcher_of(overrides)
    check_launcher(name)
    args = list(overrides) + [f"hydra.sweep.dir={Path(sweep_dir).resolve()}"]
    if not any(o.split("=", 1)[0] == "hydra/job_logging" for o in overrides):
        args.append("hydra/job_logging=none")
    video = None if video is None else str(Path(video).resolve())  # jobs may run in another directory
    job = functools.partial(_job, video=video, quiet=quiet, workers=concurrent_jobs(name, overrides),
                            env=os.environ.get("OMP_NUM_THREADS"))
    setbase("1.3")
    GlobalHydra.instance().clear()
    root = logging.getLogger()
    saved = root.handlers[:], root.level  # Hydra's log setup replaces the root handlers: put them back after
    stderr = _FailedJobLine(sys.stderr)
    try:
        hydra = Hydra.create_main_hydra2("fit", create_config_search_path("pkg://inr_codec.conf"))
        with contextlib.redirect_stderr(stderr):
            batches = hydra.multirun("fit", job, args)
    except InputError as e:  # a job's own one-line error: name the job
        if stderr.failed is None:
            raise
        raise InputError(f"sweep job [{' '.join(stderr.failed)}] failed: {e}") from None
    except Exception as e:  # Hydra's messages name the bad override or the failed job
        msg = " ".join(str(e).split()).split(" Config search path:")[0] or type(e).__name__
        raise InputError(f"sweep with hydra/launcher={name} failed: {msg}") from None
    finally:
        GlobalHydra.instance().clear()
        for h in root.handlers[:]:
            if h not in saved[0]:
                root.removeHandler(h)
                h.close()
        for h in saved[0]:
            if h not in root.handlers:
                root.addHandler(h)
        root.setLevel(saved[1])
    results = []
    for batch in batches:
        for r in batch:
            results.append((list(r.overrides), r.return_value))
    return results
