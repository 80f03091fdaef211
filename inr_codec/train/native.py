"""Small C kernels for the CPU training step, compiled on first use and loaded with ctypes.

The kernels are plain C over float pointers (no torch headers), so gcc builds one in about a second; the
shared object is cached under ``$XDG_CACHE_HOME/inrcodec/native`` (``~/.cache`` by default) by a hash of
its source, the flags and the compiler. Where no C compiler exists, or the build fails, ``library`` says
so in one line (once) and returns None: the callers then run their torch reference path, the same math.
``INRCODEC_NATIVE=0`` turns the kernels off (a reference run, or a comparison).
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

log = logging.getLogger("inr_codec.train")

# -O3 with FMA contraction; no -ffast-math (the kernels test for NaN-free branches and clamp as torch does).
FLAGS = ["-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math", "-fopenmp-simd", "-shared", "-fPIC", "-std=gnu11"]


# A prelude for the kernels' sources: 8-lane float vectors and their exp and log.
VECTOR_MATH = r"""
#include <stdint.h>
/* Eight lanes at a time in GCC's generic vectors (AVX2 here, two SSE halves or scalars elsewhere): gcc's
   autovectorizer left the rate's loop scalar. exp and log: Cephes' polynomials (about 1 ulp), branch-free. */
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
#define SPLAT(x) ((v8f){x, x, x, x, x, x, x, x})
#define SEL(m, a, b) ((v8f)(((v8i)(a) & (m)) | ((v8i)(b) & ~(m))))  /* m: lanes of -1 or 0 */

static inline v8f vload(const float *p) { v8f v; __builtin_memcpy(&v, p, 32); return v; }
static inline void vstore(float *p, v8f v) { __builtin_memcpy(p, &v, 32); }
static inline v8f vabs(v8f x) { return (v8f)((v8i)x & 0x7fffffff); }
static inline v8f vmin(v8f a, v8f b) { return SEL(a < b, a, b); }
static inline v8f vmax(v8f a, v8f b) { return SEL(a > b, a, b); }
static inline v8f vsign(v8f x) { return SEL(x > 0.f, SPLAT(1.f), SEL(x < 0.f, SPLAT(-1.f), SPLAT(0.f))); }
/* round half to even (as torch.round) for |x| < 2**22; larger floats are integers already */
static inline v8f vround(v8f x) {
    const v8f big = SPLAT(12582912.f);  /* 1.5 * 2**23 */
    return SEL(vabs(x) < 4194304.f, (x + big) - big, x);
}

static inline v8f vexp(v8f x) {
    x = vmax(vmin(x, SPLAT(88.0f)), SPLAT(-87.0f));
    const v8f n = vround(x * 1.44269504088896341f);
    v8f r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    v8f p = SPLAT(1.9875691500E-4f);
    p = p * r + 1.3981999507E-3f;
    p = p * r + 8.3334519073E-3f;
    p = p * r + 4.1665795894E-2f;
    p = p * r + 1.6666665459E-1f;
    p = p * r + 5.0000001201E-1f;
    p = p * (r * r) + r + 1.0f;
    const v8i bits = (__builtin_convertvector(n, v8i) + 127) << 23;
    return p * (v8f)bits;
}

static inline v8f vlog(v8f x) {  /* x positive and normal */
    v8i i = (v8i)x;
    v8f e = __builtin_convertvector(((i >> 23) & 0xff) - 126, v8f);
    const v8f m = (v8f)((i & 0x007fffff) | 0x3f000000);  /* x = m * 2**e, m in [0.5, 1) */
    const v8i small = m < 0.707106781186547524f;
    e = SEL(small, e - 1.f, e);
    const v8f f = SEL(small, m + m - 1.f, m - 1.f), z = f * f;
    v8f y = SPLAT(7.0376836292E-2f);
    y = y * f - 1.1514610310E-1f;
    y = y * f + 1.1676998740E-1f;
    y = y * f - 1.2420140846E-1f;
    y = y * f + 1.4249322787E-1f;
    y = y * f - 1.6668057665E-1f;
    y = y * f + 2.0000714765E-1f;
    y = y * f - 2.4999993993E-1f;
    y = y * f + 3.3333331174E-1f;
    y = y * f * z;
    y = y - e * 2.12194440e-4f;
    y = y - z * 0.5f;
    return (f + y) + e * 0.693359375f;
}

"""


def enabled() -> bool:
    return os.environ.get("INRCODEC_NATIVE", "1") not in ("0", "false", "no", "off")


def _compiler() -> str | None:
    for cc in (os.environ.get("CC"), "gcc", "cc", "clang"):
        if cc and shutil.which(cc):
            return cc
    return None


def _cpu() -> str:
    """What -march=native compiles for: the CPU's model and flags (Linux), else the machine's name."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return "".join(sorted({ln for ln in lines if ln.startswith(("model name", "flags"))}))
    except OSError:
        return platform.machine() + platform.processor()


def _cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "inrcodec" / "native"


@functools.lru_cache(maxsize=None)
def _warn_no_compiler() -> None:
    """Once a process, whichever kernel asks first."""
    log.warning("no C compiler found (gcc, cc or clang; or set CC): the training step runs its slower torch path")


# A C type for each kind of kernel argument: pointers to tensors' data, sizes, floats.
PTR, I64, F32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_float


@functools.lru_cache(maxsize=None)
def library(name: str, source: str, signatures: tuple = ()) -> ctypes.CDLL | None:
    """The compiled ``source`` (C), built once per source and machine, its functions typed by ``signatures``
    ((function, restype, argtypes) triples); None (one logged line) where it cannot be built or
    ``INRCODEC_NATIVE=0``."""
    if not enabled():
        return None
    cc = _compiler()
    if cc is None:
        _warn_no_compiler()
        return None
    key = hashlib.sha256("\0".join([source, cc, *FLAGS, _cpu()]).encode()).hexdigest()[:16]
    path = _cache_dir() / f"{name}-{key}.so"
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
                src, out = Path(tmp) / f"{name}.c", Path(tmp) / f"{name}.so"
                src.write_text(source)
                subprocess.run([cc, *FLAGS, str(src), "-o", str(out), "-lm"], check=True, capture_output=True,
                               text=True, timeout=120)
                os.replace(out, path)  # atomic: another process may build the same file
        lib = ctypes.CDLL(str(path))
        for fn, restype, argtypes in signatures:
            getattr(lib, fn).restype, getattr(lib, fn).argtypes = restype, list(argtypes)
        return lib
    except (OSError, subprocess.SubprocessError) as e:
        detail = getattr(e, "stderr", None) or str(e)
        log.warning("the C kernel %s failed to build with %s (%s): the training step runs its slower torch path",
                    name, cc, detail.strip().splitlines()[0][:200] if detail.strip() else type(e).__name__)
        return None


def ptr(t) -> ctypes.c_void_p:
    """A contiguous CPU tensor's data pointer for a kernel."""
    return ctypes.c_void_p(t.data_ptr())
