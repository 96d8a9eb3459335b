"""Which precision a pretraining runs in: ``pretrain.precision=auto`` asks the hardware.

bf16 pays only where the hardware multiplies in bf16 natively: on a CPU with AMX-BF16 or
AVX512-BF16 (oneDNN's bf16 kernels) and on GPUs of compute capability 8.0 and later. Elsewhere
PyTorch emulates it: on an AMD EPYC with AVX2 + FMA only, a 2048^3 bf16 matmul did not finish in
60 s where fp32 takes 0.33 s, and one NW-UCLA epoch of the ``cpu`` profile did not finish in 400 s
where fp32 takes 80 s (issue #32). So:

* ``auto`` (the ``cpu`` and ``paper`` profiles) resolves to bf16 where it is native, else fp32;
* ``bf16`` on hardware without it runs as asked, with one warning line that says what it costs;
* ``fp32`` is fp32 everywhere (the base default: the numerics tests and the smoke profile pin).

``resolve_precision(cfg)`` returns the config with the resolved value in place, in the driver, before
the chain computes its config hash and pretraining key. ``auto`` on a CPU with native bf16 therefore
hashes exactly as the explicit ``bf16`` that the ``cpu`` profile set before, so the chains and
checkpoints already recorded are found and reused; ``auto`` resolved to fp32 is another pretraining
(fp32 and bf16 do not compute the same numbers), never a bf16 checkpoint reused for it. MLflow's params
hold the resolved value and the ``crossmoco.precision`` tag says why (``PrecisionChoice.describe``).

``native_bf16`` is the one capability check; tests stub it (or ``cpu_flags``) both ways.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from crossmoco.training.config import Config
from crossmoco.training.runtime import Precision

log = logging.getLogger(__name__)

CPU_BF16_FLAGS = (("amx_bf16", "AMX-BF16"), ("avx512_bf16", "AVX512-BF16"))  # /proc/cpuinfo flag, name
# What emulated bf16 costs, as measured (issue #32, an AMD EPYC with AVX2 + FMA only, 2 cores)
EMULATED_COST = ("its matmuls and convolutions are emulated: a 2048^3 bf16 matmul took over 60 s against 0.33 s "
                 "in fp32, and one cpu-profile NW-UCLA epoch over 400 s against 80 s")  # fmt: skip
_logged: set[str] = set()


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as the kernel lists them (``/proc/cpuinfo``); empty where unreadable."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def native_bf16(device_type: str) -> str | None:
    """What gives ``device_type`` (``cpu`` or ``cuda``) native bf16 here, e.g. ``"AMX-BF16"``; None if nothing."""
    if device_type == "cuda":
        if not torch.cuda.is_available() or not torch.cuda.is_bf16_supported(including_emulation=False):
            return None
        major, minor = torch.cuda.get_device_capability()
        return f"{torch.cuda.get_device_name()} (compute capability {major}.{minor})"
    if device_type != "cpu":
        return None
    flags = cpu_flags()
    found = [name for flag, name in CPU_BF16_FLAGS if flag in flags]
    if not flags:  # no /proc/cpuinfo (not Linux): ask PyTorch's own CPU probe
        probes = (("AMX-BF16", "_is_amx_tile_supported"), ("AVX512-BF16", "_is_avx512_bf16_supported"))
        found = [name for name, probe in probes if getattr(torch.cpu, probe, lambda: False)()]
    return " and ".join(found) or None


@dataclass(frozen=True)
class PrecisionChoice:
    """The precision a run uses, what was asked, and why."""

    requested: str  # auto, fp32 or bf16: pretrain.precision as configured
    precision: Precision  # what runs
    device_type: str  # cpu or cuda
    native: str | None  # what gives the device native bf16, None if nothing
    remote: bool = False  # the device is a Ray worker's GPU this process cannot see (native assumed)

    @property
    def emulated(self) -> bool:
        """bf16 on a device that emulates it."""
        return self.precision == "bf16" and self.native is None and not self.remote

    def describe(self) -> str:
        """One line: what runs and why, e.g. ``fp32 (pretrain.precision=auto: this CPU has no native bf16 ...)``."""
        device = "this CPU" if self.device_type == "cpu" else "this GPU"
        asked = f"pretrain.precision={self.requested}"
        if self.remote:
            return (f"{self.precision} ({asked}: the workers' GPUs are not visible from here; bf16 is native on every "
                    "GPU of compute capability 8.0 and later, and a worker whose GPU emulates it warns)")
        if self.emulated:
            return f"bf16 ({asked} on {device} without native bf16: {EMULATED_COST}; auto or fp32 runs fp32 here)"
        if self.requested != "auto":
            return f"{self.precision} ({asked})"
        if self.native is not None:
            return f"bf16 ({asked}: {device} has native bf16, {self.native})"
        lacks = "neither AMX-BF16 nor AVX512-BF16" if self.device_type == "cpu" else "compute capability below 8.0"
        return f"fp32 ({asked}: {device} has no native bf16 ({lacks}), where bf16 would be emulated, many times slower)"


def choose_precision(requested: str, device_type: str, *, remote: bool = False) -> PrecisionChoice:
    """The precision ``requested`` (auto, fp32, bf16) resolves to on ``device_type`` in this process."""
    if requested not in ("auto", "fp32", "bf16"):
        raise ValueError(f"unknown precision {requested!r}; expected 'auto', 'fp32' or 'bf16'")
    native = None if remote else native_bf16(device_type)
    bf16 = requested == "bf16" or (requested == "auto" and (remote or native is not None))
    return PrecisionChoice(requested, "bf16" if bf16 else "fp32", device_type, native, remote)


def run_device_type(cfg: Config) -> tuple[str, bool]:
    """(the device type the pretraining of ``cfg`` runs on, whether that device is out of this process's
    sight): a GPU when ``resources.use_gpu`` and this process has one, or Ray workers will (a CPU-only
    driver of a GPU cluster); else the CPU (in-process pretraining falls back to it without a GPU)."""
    if not cfg.resources.use_gpu:
        return "cpu", False
    if torch.cuda.is_available():
        return "cuda", False
    return ("cuda", True) if cfg.resources.num_workers > 0 else ("cpu", False)


def resolve_precision(cfg: Config) -> tuple[Config, PrecisionChoice]:
    """``cfg`` with ``pretrain.precision`` resolved for the device it will run on, and the choice."""
    device_type, remote = run_device_type(cfg)
    choice = choose_precision(cfg.pretrain.precision, device_type, remote=remote)
    resolved = dataclasses.replace(cfg, pretrain=dataclasses.replace(cfg.pretrain, precision=choice.precision))
    return resolved, choice


def resolve_on_device(cfg: Config, device_type: str) -> Config:
    """In the process that trains, on its own device: ``auto`` resolved if the driver left it (a direct
    ``run_pretraining`` call), and the cost warning where bf16 is emulated here; each logged once."""
    choice = choose_precision(cfg.pretrain.precision, device_type)
    if cfg.pretrain.precision == "auto" or choice.emulated:
        log_choice(choice)
    return dataclasses.replace(cfg, pretrain=dataclasses.replace(cfg.pretrain, precision=choice.precision))


def log_choice(choice: PrecisionChoice, prefix: str = "precision: ", *, always: bool = False) -> None:
    """Log ``prefix`` and the choice: a warning where bf16 is emulated, else at info. Once per process
    (a later line for the same choice is dropped) unless ``always`` (a run's start line)."""
    line = choice.describe()
    if line in _logged and not always:
        return
    _logged.add(line)
    log.log(logging.WARNING if choice.emulated else logging.INFO, "%s%s", prefix, line)
