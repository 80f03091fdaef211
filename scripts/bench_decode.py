"""B3 decode speed (see docs/experiments.md): a thin wrapper over inr_codec.bench.decode_speed.

    python scripts/bench_decode.py                    # synthetic HNeRV 1.5M, 640x1280, batch 32, on cuda
    python scripts/bench_decode.py model.bin --csv b3.csv
"""
import sys

from inr_codec.bench.decode_speed import main

if __name__ == "__main__":
    sys.exit(main())
