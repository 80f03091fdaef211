"""eval/bench/sweep outputs (CSV, JSON, PNG) appear whole or not at all."""
import errno

import numpy as np
import pytest

from inr_codec.bench import plots
from inr_codec.errors import InputError
from inr_codec.metrics.frames import write_csv


def test_per_frame_csv_failing_midway_leaves_nothing(tmp_path):
    out = tmp_path / "frames.csv"
    write_csv(out, {"psnr": np.array([30.0, 31.0])})
    assert out.read_text().splitlines() == ["frame,psnr", "0,30.000000", "1,31.000000"]
    bad = {"psnr": np.array([30.0, 31.0]), "lpips": [0.1, "not a number"]}  # the second row cannot be formatted
    with pytest.raises(InputError, match=f"cannot write {tmp_path / 'again.csv'}"):
        write_csv(tmp_path / "again.csv", bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames.csv"]


def test_plots_failing_midway_leave_nothing(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    curves = [{"label": "x264", "kind": "anchor", "bpp": [0.1, 0.2], "psnr": [30.0, 33.0]}]
    plots.rd_plot(tmp_path / "rd.png", curves)
    assert (tmp_path / "rd.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    from matplotlib.figure import Figure

    def full_disk(self, path, **kw):
        with open(path, "wb") as f:
            f.write(b"\x89PNG half a plot")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", full_disk)
    with pytest.raises(InputError, match="rd2.png: No space left on device"):
        plots.rd_plot(tmp_path / "rd2.png", curves)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rd.png"]
