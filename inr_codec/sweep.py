"""Expand a sweep (``-m a=1,2 b=x,y``) into one override list per job, with Hydra's override grammar."""
from __future__ import annotations

import itertools

from .errors import InputError


def expand(overrides: list[str]) -> list[list[str]]:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception as e:
        raise InputError(f"bad sweep override: {' '.join(str(e).split())}") from None
    axes = []
    for o in parsed:
        key = o.get_key_element()
        if o.is_sweep_override():
            axes.append([f"{key}={v}" for v in o.sweep_string_iterator()])
        else:
            axes.append([f"{key}={o.get_value_element_as_str()}"])
    return [list(job) for job in itertools.product(*axes)]


def check_jobs(jobs: list[list[str]]) -> None:
    """Every job's config composed and checked before the first job starts: a bad value in the fifth job
    is a one-line error now, not after four fits (nor a failed job on a cluster)."""
    from .config import compose, validate
    for job in jobs:
        own = [o for o in job if not o.lstrip("+~").startswith("hydra")]  # the launcher's keys are Hydra's
        try:
            validate(compose(own))
        except InputError as e:
            raise InputError(f"sweep job [{' '.join(job)}]: {e}") from None


COLUMNS = ["job", "overrides", "model", "params", "bits", "prune", "bytes", "bpp", "psnr", "msssim",
           "psnr_before_compression", "fit_seconds", "file"]


def write_results(folder, jobs: list[list[str]], summaries: list[dict]) -> tuple[str, str | None]:
    """One CSV row per job (bpp, PSNR, MS-SSIM, ...) and an RD plot PNG; returns their paths.

    The plot needs matplotlib and a measured job (measure=none measures none); without them the CSV
    is still written and the plot path is None.
    """
    import csv
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    csv_path = folder / "sweep.csv"
    from .io.common import atomic_file
    with atomic_file(csv_path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for n, (job, s) in enumerate(zip(jobs, summaries)):
            w.writerow({"job": n, "overrides": " ".join(job), **{k: s.get(k) for k in COLUMNS[2:]}})
    try:
        from .bench.plots import rd_plot
        png = folder / "rd_psnr.png"
        curves: dict[str, dict] = {}
        for s in (s for s in summaries if s["psnr"] is not None):  # measure=none: no point to plot
            # one curve per model and pruning setting, points along bits/size
            c = curves.setdefault(f"{s['model']} prune {s.get('prune', 0):g}",
                                  {"kind": "inr", "bpp": [], "psnr": []})
            c["bpp"].append(s["bpp"])
            c["psnr"].append(s["psnr"])
        if not curves:  # every job so far ran with measure=none: an empty plot would say nothing
            return str(csv_path), None
        rd_plot(png, [dict(c, label=k) for k, c in curves.items()], "psnr", title="inrcodec sweep")
        return str(csv_path), str(png)
    except InputError:  # matplotlib missing
        return str(csv_path), None
