"""bench --inr with a summary of a fit run with measure=none (its psnr is null)."""
import json

import pytest

from inr_codec.bench import inr, run
from inr_codec.errors import InputError


def _summary(tmp_path, file):
    s = {"bpp": 0.5, "psnr": None, "msssim": None, "bytes": 1000, "frames": 6, "width": 37, "height": 23,
         "model": "hnerv", "file": str(file)}
    p = tmp_path / "summary.json"
    p.write_text(json.dumps(s))
    return p


def test_an_unmeasured_summary_loads(tmp_path):
    (point,) = inr.load_points([_summary(tmp_path, tmp_path / "model.bin")])
    assert point["psnr"] is None and point["bytes"] == 1000


def test_an_unmeasured_summary_without_its_file_is_one_line(tmp_path):
    (point,) = inr.load_points([_summary(tmp_path, tmp_path / "gone.bin")])
    with pytest.raises(InputError, match=r"gone.bin is gone and the fit did not measure it \(measure=none\)"):
        run._inr_metrics(point, None, ("psnr",), None, "cpu")
