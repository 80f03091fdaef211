#!/usr/bin/env bash
# The GPU check in one command (docs/experiments.md, "The GPU check"): at most 8 minutes on one H100/H200.
#
#   bash scripts/gpu_check.sh OUT_DIR            # OUT_DIR defaults to $OUT, else outputs/gpu_check
#   bash scripts/gpu_check.sh OUT_DIR --dry-run  # the same steps on the CPU at toy sizes (tested in CI)
#
# On a machine without av, hydra-core, omegaconf or constriction, put their Python 3.12 wheels in .whl/
# (scripts/gpu_check_prepare.sh builds that folder, with the Bunny clip for B1 and decode_baseline.py);
# they are installed into a temporary folder, nothing else on the machine changes. Extra arguments go to
# scripts/gpu_check.py (--steps, --deadline, --bunny).
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-outputs/gpu_check}"
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then out="$1"; shift; fi
mkdir -p "$out"
PY="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1
if ls .whl/*.whl >/dev/null 2>&1 && ! "$PY" -c "import av, hydra, omegaconf, constriction" 2>/dev/null; then
    site="${TMPDIR:-/tmp}/inrcodec_gpu_check_site"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl \
        || { echo "gpu_check: installing .whl/*.whl failed" >&2; exit 1; }
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
# Not installed (a bare GPU machine): run from this tree, with kernels/ and conf/ where the package
# layout puts them (pyproject.toml maps them to inr_codec.kernels and inr_codec.conf).
linked=()
if ! "$PY" -c "import inr_codec.kernels, inr_codec.conf" 2>/dev/null; then
    for d in kernels conf; do
        [ -e "inr_codec/$d" ] || { ln -s "../$d" "inr_codec/$d" && linked+=("inr_codec/$d"); }
    done
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
cleanup() { for l in "${linked[@]}"; do rm -f "$l"; done; }
trap cleanup EXIT
# 8 minutes at most: the driver's own deadline (450 s) ends its steps; this is the backstop.
timeout -k 10 470 "$PY" scripts/gpu_check.py "$out" "$@"
