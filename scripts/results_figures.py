"""docs/results.md's BD-rate table and RD plots from its recorded points.

    python scripts/results_figures.py                 # prints the table, redraws docs/img/results_*_psnr.png
    python scripts/results_figures.py --no-plots

The points (docs/results/points.csv) are the bytes and RGB PSNR docs/experiments.md records, each row with
its section and date; the logic is inr_codec/bench/results.py.
"""
import argparse
from pathlib import Path

from inr_codec.bench.results import figures

DOCS = Path(__file__).resolve().parents[1] / "docs"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--points", default=str(DOCS / "results" / "points.csv"))
    p.add_argument("--img", default=str(DOCS / "img"))
    p.add_argument("--no-plots", action="store_true")
    a = p.parse_args(argv)
    for clip, rows in figures(a.points, a.img, plots=not a.no_plots).items():
        for r in rows:
            what = (f"BD-rate {r['bd_rate_pct']:+.1f}%" if r["bd_rate_pct"] is not None else
                    f"{r['ratio']:.2f}x the anchor's bytes at its PSNR" if r["ratio"] is not None else
                    "outside the anchor's PSNR range")
            print(f"{clip:<7} {r['test']:<24} vs {r['anchor']:<18} {what}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
