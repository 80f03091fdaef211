"""B6, fitting on the CPU: step throughput and time to quality (see docs/experiments.md): a thin wrapper over
inr_codec.bench.fit_cpu.

    python scripts/bench_fit_cpu.py --threads 1,2                      # the bundled sample, model=latent compress=latent
    python scripts/bench_fit_cpu.py --budgets 60,120,240 --csv b6.csv  # the written file against fit seconds
"""
import sys

from inr_codec.bench.fit_cpu import main

if __name__ == "__main__":
    sys.exit(main())
