"""How this process runs the models fast: bf16 autocast, an optional torch.compile path, the glibc allocator.

* ``autocast(precision, device_type)``: bf16 autocast on CPU (AMX) or GPU when ``"bf16"``; the
  losses cast the embeddings back to fp32 and compute the logits outside autocast. Which precision
  a run uses (``auto``: what the hardware has natively) is ``training.precision``'s decision.
* ``compile_encoders_(model)``: compiles every ST-GCN in place (``nn.Module.compile``, so state
  dict keys do not change). Off by default; ``bench/bench_step.py`` shows whether it pays.
* glibc's malloc returns large freed blocks to the OS (mmap / trim), so every training step
  page-faults its activations back in; on the CrosSCLR code that cost 35-40 % of CPU throughput.
  ``allocator_env()`` gives ``MALLOC_MMAP_MAX_=0`` and a large ``MALLOC_TRIM_THRESHOLD_``; glibc
  reads them when the process starts, so apply them to the environment of *child* processes
  (subprocess ``env=``, Ray ``runtime_env={"env_vars": ...}``). ``tune_allocator_()`` sets the
  same options in the running process through ``mallopt`` (effective for later allocations).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
from typing import Literal

import torch
from torch import nn

from crossmoco.models.stgcn import STGCN

Precision = Literal["fp32", "bf16"]

_TRIM_THRESHOLD = 1 << 34  # 16 GiB: never give the heap top back to the OS during training
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # <malloc.h>


def local_device(use_gpu: bool) -> torch.device:
    """This process's device: CUDA where the config asks for a GPU and one is visible, else the CPU."""
    return torch.device("cuda" if use_gpu and torch.cuda.is_available() else "cpu")


def autocast(precision: str, device_type: str) -> contextlib.AbstractContextManager:
    """A context running the forward pass in ``precision`` (no-op for fp32)."""
    if precision == "auto":
        raise ValueError("precision 'auto' depends on the device: resolve it first (training.precision)")
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"unknown precision {precision!r}; expected 'fp32' or 'bf16'")
    return torch.autocast(device_type=device_type, dtype=torch.bfloat16, enabled=precision == "bf16")


def compile_encoders_(model: nn.Module, **compile_kwargs: object) -> int:
    """``torch.compile`` every ST-GCN inside ``model`` in place; returns how many."""
    encoders = [m for m in model.modules() if isinstance(m, STGCN)]
    for enc in encoders:
        enc.compile(**compile_kwargs)
    return len(encoders)


def allocator_env() -> dict[str, str]:
    """glibc malloc settings for training processes; set them before the process starts."""
    return {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(_TRIM_THRESHOLD)}


def tune_allocator_() -> bool:
    """Apply ``allocator_env()``'s settings to this process via ``mallopt``; False if not glibc."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    ok_mmap = mallopt(_M_MMAP_MAX, 0)
    ok_trim = mallopt(_M_TRIM_THRESHOLD, ctypes.c_int(min(_TRIM_THRESHOLD, 2**31 - 1)))
    return bool(ok_mmap and ok_trim)
