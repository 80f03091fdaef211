"""Kernel tests run the Triton kernels in Triton's interpreter on the CPU, unless there is a CUDA GPU.

Triton 3.x reads TRITON_INTERPRET when ``@triton.jit`` decorates a kernel, i.e. when
``inr_codec.kernels`` is first imported; pytest imports this file before the test modules here,
and no test module outside tests/kernels imports the kernels, so setting it now is early enough.
On a machine with a GPU the same tests run the compiled kernels on CUDA (set TRITON_INTERPRET=1
yourself to force the interpreter there).
"""
import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

INTERPRET = os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on", "yes")
DEVICE = "cpu" if INTERPRET else "cuda"



def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` are skipped where there is no CUDA GPU."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if item.get_closest_marker("gpu"):
            item.add_marker(skip)


@pytest.fixture
def device():
    """Where the kernels run in this session: the CPU under the interpreter, else CUDA."""
    return DEVICE
