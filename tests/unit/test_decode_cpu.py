"""scripts/bench_decode_cpu.py: the CPU decode-speed stages of a whole file."""
from pathlib import Path

import pytest

from inr_codec.bench.decode_cpu import main, measure

GOLDEN = Path(__file__).parents[1] / "golden"


@pytest.mark.parametrize("name", ["v1.4_latent_tiny.bin", "v1.2_hnerv_rd_tiny.bin"])
def test_stages_are_timed_and_the_rate_counts_them_all(name):
    r = measure(GOLDEN / name, threads=1, repeats=1)
    assert (r["frames"], r["width"], r["height"], r["threads"]) == (6, 37, 23, 1)
    assert min(r["parse_s"], r["entropy_s"], r["frames_s"]) > 0
    assert r["fps"] == pytest.approx(6 / (r["parse_s"] + r["entropy_s"] + r["frames_s"]), rel=0.01)


def test_the_command_prints_one_line(capsys):
    assert main([str(GOLDEN / "v1.4_latent_tiny.bin"), "--repeats", "1"]) == 0
    out = capsys.readouterr().out.strip()
    assert "\n" not in out and "6 frames of 37x23 on 1 thread, torch backend:" in out and "frames/s" in out
