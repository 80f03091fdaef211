"""B1 fit speed and quality (see docs/experiments.md): a thin wrapper over inr_codec.bench.fit_speed.

    python scripts/bench_fit.py                                        # the bundled sample, default config
    python scripts/bench_fit.py bunny.mkv data.crop=1280x640 model.size_m=1.5 --epochs 60,120,180,300 \
        --threshold 35.57 --csv b1.csv --profile-steps 20
"""
import sys

from inr_codec.bench.fit_speed import main

if __name__ == "__main__":
    sys.exit(main())
