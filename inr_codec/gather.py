"""``inrcodec gather``: one CSV row per fit run found under some folders (run dirs, sweep roots)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from .errors import InputError

COLUMNS = ["run_dir", "model", "params", "bits", "prune", "bytes", "bpp", "psnr", "msssim", "fit_seconds",
           "device", "overrides"]


def find_summaries(paths) -> list[Path]:
    """Every summary.json under ``paths`` (folders, searched recursively, or summary.json files), sorted,
    each once."""
    found: set[Path] = set()
    for p in map(Path, paths):
        if p.is_file() and p.name == "summary.json":
            found.add(p.resolve())
        elif p.is_dir():
            found.update(f.resolve() for f in p.rglob("summary.json") if f.is_file())
        elif p.exists():
            raise InputError(f"{p} is neither a folder nor a summary.json")
        else:
            raise InputError(f"{p} does not exist")
    return sorted(found)


def _overrides(run_dir: Path) -> str | None:
    cfg = run_dir / "config.yaml"
    if not cfg.is_file():
        return None
    from omegaconf import OmegaConf
    try:
        saved = OmegaConf.load(cfg)
        return " ".join(str(o) for o in saved.get("overrides", []) or [])
    except Exception:  # a damaged config.yaml costs its run only the overrides column
        return None


def row(summary_path: Path) -> dict:
    try:
        s = json.loads(summary_path.read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read {summary_path}: {e}") from None
    run_dir = summary_path.parent
    return {"run_dir": str(run_dir), **{k: s.get(k) for k in COLUMNS[1:-1]}, "overrides": _overrides(run_dir)}


def gather(paths, out: str | Path = "summary.csv") -> list[dict]:
    """Write one CSV row per run (the columns of ``COLUMNS``) to ``out``; returns the rows."""
    files = find_summaries(paths)
    if not files:
        raise InputError(f"no summary.json under {', '.join(map(str, paths))}")
    rows = [row(f) for f in files]
    from .io.common import atomic_file
    with atomic_file(out) as tmp, open(tmp, "w", newline="") as f:  # a one-line error, no partial CSV
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return rows


def table(rows: list[dict]) -> str:
    """A short text table: run, model, parameters, bits, prune, bytes, bpp, PSNR, fit seconds."""
    def num(v, fmt):
        return "" if v is None else format(v, fmt)
    lines = [f"{'run':<40} {'model':<6} {'params':>9} {'bits':>4} {'prune':>5} {'bytes':>9} {'bpp':>8} "
             f"{'psnr':>6} {'fit_s':>7}"]
    for r in rows:
        name = r["run_dir"] if len(r["run_dir"]) <= 40 else "..." + r["run_dir"][-37:]
        lines.append(f"{name:<40} {r['model'] or '':<6} {num(r['params'], ','):>9} {num(r['bits'], 'd'):>4} "
                     f"{num(r['prune'], '.2f'):>5} {num(r['bytes'], ','):>9} {num(r['bpp'], '.4f'):>8} "
                     f"{num(r['psnr'], '.2f'):>6} {num(r['fit_seconds'], '.1f'):>7}")
    return "\n".join(lines)
