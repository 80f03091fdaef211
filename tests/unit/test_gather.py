"""inrcodec gather: one CSV row per summary.json found under run dirs and sweep roots."""
import csv
import json

from inr_codec.cli import main


def _run(folder, psnr, overrides=None, **extra):
    folder.mkdir(parents=True)
    s = {"file": str(folder / "model.bin"), "bytes": 1000, "bpp": 0.5, "psnr": psnr, "msssim": 0.9, "params": 1234,
         "bits": 8, "prune": 0.0, "fit_seconds": 12.5, "device": "cpu", "model": "hnerv", **extra}
    (folder / "summary.json").write_text(json.dumps(s))
    if overrides is not None:
        (folder / "config.yaml").write_text("overrides:\n" + "".join(f"- {o}\n" for o in overrides))
    return folder


def test_gather_writes_one_row_per_run(tmp_path, capsys):
    a = _run(tmp_path / "outputs" / "clip" / "2026-01-01_00-00-00", 30.0, ["compress.bits=6", "seed=1"], bits=6)
    b = _run(tmp_path / "outputs" / "clip" / "2026-01-01_00-00-01", 31.5)  # no config.yaml
    c = _run(tmp_path / "elsewhere" / "run", 29.0, [], model="nerv")
    (tmp_path / "outputs" / "sweeps").mkdir()
    out = tmp_path / "all.csv"
    # a sweep root, the same run again (counted once), and a summary.json named directly
    assert main(["gather", str(tmp_path / "outputs"), str(a), str(c / "summary.json"), "-o", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["run_dir"] for r in rows] == sorted(str(p.resolve()) for p in (a, b, c))
    by_dir = {r["run_dir"]: r for r in rows}
    assert list(rows[0]) == ["run_dir", "model", "params", "bits", "prune", "bytes", "bpp", "psnr", "msssim",
                             "fit_seconds", "device", "overrides"]
    ra, rb, rc = (by_dir[str(p.resolve())] for p in (a, b, c))
    assert (ra["overrides"], ra["bits"], ra["psnr"]) == ("compress.bits=6 seed=1", "6", "30.0")
    assert rb["overrides"] == "" and rc["model"] == "nerv" and rc["overrides"] == ""
    printed = capsys.readouterr().out
    assert "31.50" in printed and "hnerv" in printed and "nerv" in printed and f"wrote {out}: 3 runs" in printed


def test_gather_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["gather", str(tmp_path / "empty"), "-o", str(tmp_path / "x.csv")]) == 2
    assert "no summary.json under" in capsys.readouterr().err
    assert main(["gather", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()
