"""B6's benchmark (scripts/bench_fit_cpu.py) at its smallest: step throughput and a time-to-quality row."""
import csv

from inr_codec.bench.fit_cpu import main as bench_fit_cpu


def test_smallest_setting_measures_steps_and_writes_a_curve(tiny_clip, tmp_path, capsys):
    out = tmp_path / "b6.csv"
    rc = bench_fit_cpu([str(tiny_clip), "model.levels=3", "model.hidden=8", "compress.qat_epochs=1",
                        "--threads", "1", "--steps", "2", "--epochs", "1,2", "--outputs", str(tmp_path / "runs"),
                        "--csv", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0
    throughput = printed.splitlines()[1].split()
    assert throughput[0] == "1" and float(throughput[3]) > 0 and float(throughput[4]) > 0
    rows = list(csv.DictReader(open(out)))
    assert [r["train.epochs"] for r in rows] == ["1", "2"]
    assert all(int(r["bytes"]) > 0 and float(r["psnr"]) > 5 and float(r["fit_s"]) > 0 for r in rows)


def test_bad_lists_are_one_line(capsys):
    assert bench_fit_cpu(["--threads", "0"]) == 2
    assert bench_fit_cpu(["--epochs", "1,x"]) == 2
    assert bench_fit_cpu(["--budgets", "5", "--epochs", "1"]) == 2
    assert capsys.readouterr().err.count("\n") == 3
