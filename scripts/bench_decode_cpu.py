"""Decode speed on the CPU, entropy decoding included, writing excluded (inr_codec/bench/decode_cpu.py).

    python scripts/bench_decode_cpu.py model.bin --threads 1
"""
import sys

from inr_codec.bench.decode_cpu import main

if __name__ == "__main__":
    sys.exit(main())
