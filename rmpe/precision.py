"""Which reduced precision ``--half`` (``inference.half``) means on this machine and backend.

One home for the decision, used by the pipeline (:func:`rmpe.pipeline.load_model` and
:meth:`rmpe.pipeline.PosePipeline.from_config`):

=============  ==================================  ==========================================
backend        CUDA device                         CPU
=============  ==================================  ==========================================
torch          fp16 autocast                       bf16 autocast + channels_last, where the
                                                   CPU has bf16 instructions; else fp32
openvino       (always its CPU plugin) as CPU      ``INFERENCE_PRECISION_HINT`` bf16 where the
                                                   CPU has bf16 instructions; else fp32
onnxruntime    the graph's own precision (export   fp32: its CPU provider has no bf16 kernels
               with ``rmpe-export --half``)        for these convolutions
=============  ==================================  ==========================================

Only the pose network runs reduced: the STN's localisation net, the crops, decoding and all
geometry stay float32/float64 (:meth:`rmpe.model.RMPEModel.predict_crops`).

Also the CPU thread defaults (:func:`pipelined_threads`). Nothing here imports torch, so the
numpy-only runtime path (:mod:`rmpe.export.lite`) can use it.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Optional

#: CPU flags (``/proc/cpuinfo``, as ``lscpu`` prints them) that give bf16 matrix arithmetic.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.lru_cache(maxsize=None)
def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset:
    """The CPU feature flags of the first processor in ``cpuinfo`` (empty where it cannot be read)."""
    try:
        with open(cpuinfo, "r", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags") and ":" in line:
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_bf16(flags: Optional[frozenset] = None) -> bool:
    """Whether the CPU has bf16 instructions (``avx512_bf16`` or ``amx_bf16``).

    ``RMPE_NO_BF16=1`` in the environment answers False (to force the fp32 fallback).
    """
    if os.environ.get("RMPE_NO_BF16", "") not in ("", "0"):
        return False
    flags = cpu_flags() if flags is None else flags
    return any(f in flags for f in BF16_CPU_FLAGS)


@dataclass(frozen=True)
class Precision:
    """The precision the pose network runs in.

    Attributes:
        name: ``fp32``, ``fp16`` or ``bf16``.
        note: one line for the user naming what runs and, for a fallback, why.
    """

    name: str
    note: str

    @property
    def reduced(self) -> bool:
        return self.name != "fp32"


def resolve_precision(half: bool, device: str = "cpu", backend: str = "torch",
                      has_bf16: Optional[bool] = None) -> Precision:
    """What ``half`` means for ``backend`` on ``device`` (the table in the module docstring).

    Args:
        half: ``inference.half`` / ``--half``.
        device: the pipeline's device (``cpu``, ``cuda``, ``cuda:N``).
        backend: ``torch``, ``onnxruntime`` or ``openvino``.
        has_bf16: the CPU's bf16 support (None: :func:`cpu_has_bf16`).
    """
    if not half:
        return Precision("fp32", f"precision fp32 ({backend})")
    cuda = str(device).startswith("cuda")
    bf16 = cpu_has_bf16() if has_bf16 is None else bool(has_bf16)
    if backend == "torch":
        if cuda:
            return Precision("fp16", "precision fp16 (torch autocast on CUDA)")
        if bf16:
            return Precision("bf16", "precision bf16 (torch autocast, channels_last; the STN and geometry stay fp32)")
        return Precision("fp32", "--half: this CPU has no bf16 instructions (avx512_bf16 / amx_bf16); running fp32")
    if backend == "openvino":  # OpenVINO always runs on its CPU plugin here
        if bf16:
            return Precision("bf16", "precision bf16 (OpenVINO INFERENCE_PRECISION_HINT; the STN stays fp32)")
        return Precision("fp32", "--half: this CPU has no bf16 instructions (avx512_bf16 / amx_bf16); "
                                 "OpenVINO runs fp32")
    if backend == "onnxruntime":
        if cuda:
            return Precision("fp32", "--half: onnxruntime runs the graph's own precision; for fp16 on CUDA "
                                     "export with rmpe-export --half; running fp32")
        return Precision("fp32", "--half: onnxruntime's CPU provider has no bf16 kernels for this network; "
                                 "running fp32 (use --backend openvino for bf16)")
    raise ValueError(f"unknown backend '{backend}'")


def default_threads() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def pipelined_threads(cores: Optional[int] = None) -> "tuple[int, int]":
    """(pose threads, detector threads) when detection runs beside pose estimation on the CPU
    and ``inference.threads`` is 0: the cores split between the two stages, the larger half to
    the pose network (2 cores: one each). Two stages that both spin every core on a 2-core
    machine ran at half the frame rate of one thread each (BENCHMARKS.md, "CPU real time")."""
    cores = default_threads() if cores is None else max(1, int(cores))
    detector = max(1, cores // 2)
    return max(1, cores - detector), detector
