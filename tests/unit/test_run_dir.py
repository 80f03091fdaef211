"""Run directories: fits started in the same second (a sweep's jobs, two shells) each get their own."""
import datetime as dt
from concurrent.futures import ThreadPoolExecutor

from inr_codec import runs


class _Frozen(dt.datetime):
    @classmethod
    def now(cls, tz=None):
        return cls(2026, 12, 3, 15, 34, 46)


def test_runs_started_in_the_same_second_get_distinct_directories(tmp_path, monkeypatch):
    monkeypatch.setattr(runs.dt, "datetime", _Frozen)
    (tmp_path / "clip" / "2026-12-03_15-34-46").mkdir(parents=True)  # one already there
    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda _: runs.new_run_dir(tmp_path, "clip"), range(8)))
    assert len(set(made)) == 8 and all(p.is_dir() for p in made)
    assert sorted(p.name for p in made) == sorted(f"2026-12-03_15-34-46_{n}" for n in range(2, 10))
