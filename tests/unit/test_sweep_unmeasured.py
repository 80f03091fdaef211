"""A sweep whose jobs ran with measure=none: sweep.csv, and no empty RD plot (nor matplotlib's warning)."""
import csv
import warnings

import pytest

from inr_codec.sweep import write_results


def _summary(psnr):
    return {"model": "hnerv", "params": 10, "bits": 8, "prune": 0.0, "bytes": 1000, "bpp": 0.5, "psnr": psnr,
            "msssim": None, "psnr_before_compression": None, "fit_seconds": 1.0, "file": "m.bin"}


def test_no_plot_when_no_job_was_measured(tmp_path):
    pytest.importorskip("matplotlib")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        csv_path, png = write_results(tmp_path, [["measure=none"]], [_summary(None)])
    assert png is None and not (tmp_path / "rd_psnr.png").exists()
    (row,) = csv.DictReader(open(csv_path))
    assert row["psnr"] == "" and row["bytes"] == "1000"
    _, png = write_results(tmp_path, [["measure=none"], ["measure=psnr"]], [_summary(None), _summary(30.0)])
    assert png is not None and (tmp_path / "rd_psnr.png").is_file()  # a measured job: its point is plotted
