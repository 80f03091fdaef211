#!/usr/bin/env bash
# Build .whl/ for the GPU check on a machine with pip and a package index (docs/experiments.md, "The GPU
# check"): the Python 3.12 wheels the GPU machine lacks, the 1280x640 Bunny crop for B1 and a copy of
# ../shared/tools/decode_baseline.py. About 60 MB in all (the device tool carries 64 MiB with the tree).
#
#   bash scripts/gpu_check_prepare.sh [SOURCE_CLIP]   # default /work/shared/data/bunny_1280x720_132f_rgb_lossless.mkv
set -euo pipefail
cd "$(dirname "$0")/.."
src="${1:-/work/shared/data/bunny_1280x720_132f_rgb_lossless.mkv}"
mkdir -p .whl
plat=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
      --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${plat[@]}" \
    -d .whl av==18.1.0 hydra-core==1.3.8 omegaconf==2.3.1 constriction==0.5.0
# omegaconf needs antlr4-python3-runtime 4.9.*, published only as a source archive: build its (pure Python) wheel.
[ -e .whl/antlr4_python3_runtime-4.9.3-py3-none-any.whl ] || \
    python3 -m pip wheel -q --no-deps --no-binary :all: antlr4-python3-runtime==4.9.3 -w .whl
[ -e ../shared/tools/decode_baseline.py ] && cp ../shared/tools/decode_baseline.py .whl/
clip=.whl/bunny_1280x640_132f_x264rgb_crf8.mkv
if [ ! -e "$clip" ]; then  # the centre 1280x640 of the 132 frames, RGB H.264 at crf 8 (about 50.6 dB, 21.7 MB)
    nice -n 10 python3 - "$src" "$clip" <<'PY'
import sys, av, numpy as np
src, dst = sys.argv[1], sys.argv[2]
inp = av.open(src)
s = inp.streams.video[0]
out = av.open(dst + ".part.mkv", "w")
st = out.add_stream("libx264rgb", rate=s.average_rate)
st.width, st.height, st.pix_fmt, st.options = 1280, 640, "rgb24", {"crf": "8", "preset": "medium"}
top = (s.height - 640) // 2
for f in inp.decode(video=0):
    a = np.ascontiguousarray(f.to_ndarray(format="rgb24")[top:top + 640, (s.width - 1280) // 2:][:, :1280])
    for p in st.encode(av.VideoFrame.from_ndarray(a, format="rgb24")):
        out.mux(p)
for p in st.encode():
    out.mux(p)
out.close()
PY
    mv "$clip.part.mkv" "$clip"
fi
ls -la .whl
du -cb .whl | tail -1
