"""kernels/latent_decode.py compiled ahead of time for a Hopper GPU (sm_90) without one: Triton's own
front end and ptxas, which the interpreter skips, see the kernel at every GPU configuration and dtype."""
import os
import subprocess
import sys

import pytest

CODE = r"""
import importlib, sys
import triton, triton.language as tl
from triton.compiler import ASTSource
from triton.backends.compiler import GPUTarget
ld = importlib.import_module("inr_codec.kernels.latent_decode")
fn = ld._latent_decode_kernel
while not isinstance(fn, triton.runtime.jit.JITFunction):  # under the autotuner
    fn = fn.fn
ints = ("H", "W", "OH", "OW", "TOP", "LEFT")
for dtype, ptr, precision in ((tl.float16, "*fp16", "tf32"), (tl.bfloat16, "*bf16", "tf32")):
    for cfg in ld._CONFIGS:
        sig = {n: ("i32" if n in ints else "*i32" if n in ("lvl_ptr", "frm_ptr") else "*u8" if n == "y_ptr"
                   else ptr if n in ("w1_ptr", "wh_ptr", "w3_ptr") else "*fp32") for n in fn.arg_names
               if n in ints or n.endswith("_ptr")}
        const = dict(LEVELS=6, LP=16, HP=64, LAYERS=2, ACT=1, DTYPE=dtype, PRECISION=precision, UPCAST=False,
                     **cfg.kwargs)
        sig.update({k: "constexpr" for k in const})
        k = triton.compile(ASTSource(fn, sig, const), target=GPUTarget("cuda", 90, 32),
                           options=dict(num_warps=cfg.num_warps, num_stages=cfg.num_stages))
        assert k.asm["cubin"], cfg
        print("ok", dtype, cfg.kwargs, k.metadata.shared)
"""


def test_the_latent_kernel_compiles_for_sm90_at_every_gpu_configuration():
    pytest.importorskip("triton.backends.nvidia")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    r = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, timeout=300)
    if "ptxas" in r.stderr and "not found" in r.stderr:
        pytest.skip("no ptxas in this triton install")
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.count("ok ") == 4
