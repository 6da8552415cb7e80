"""Devices and processes: the device to run on, and the ``torchrun`` process group.

One home for the runtime set-up that training (:mod:`rmpe.train`), evaluation
(``rmpe-eval``) and inference (:mod:`rmpe.pipeline`, :mod:`rmpe.api`) share:

* :func:`resolve_device` turns a user's device string (``auto``, ``cpu``, ``cuda``,
  ``cuda:N``) into a ``torch.device``, with one error message for a device this machine
  does not have;
* :func:`init_distributed` joins the process group when the program was started by
  ``torchrun --nproc_per_node N`` (which sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
  ``MASTER_ADDR`` and ``MASTER_PORT``): NCCL on CUDA, gloo on the CPU. Without those
  variables it returns rank 0 of 1 and every helper below is a single-process no-op;
* :func:`barrier`, :func:`all_reduce_sum` and :func:`any_rank` are the collectives the
  trainer and the evaluator use (wait, sum statistics, agree to stop), and
  :func:`shutdown` leaves the group.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import List, Optional, Sequence

import torch
import torch.distributed as dist

from .errors import RMPEError

__all__ = [
    "DistInfo",
    "all_reduce_sum",
    "any_rank",
    "barrier",
    "init_distributed",
    "resolve_device",
    "shutdown",
]


def resolve_device(device: Optional[str]) -> torch.device:
    """The ``torch.device`` for a user's device string.

    Args:
        device: ``auto``, ``""`` or None (CUDA when present, else the CPU), or anything
            ``torch.device`` accepts (``cpu``, ``cuda``, ``cuda:N``).

    Raises:
        RMPEError: the string names no device, or asks for CUDA on a machine without it.
    """
    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise RMPEError(f"unknown device '{device}' (use auto, cpu, cuda or cuda:N)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RMPEError(f"device '{device}' requested but CUDA is not available on this machine")
    return dev


@dataclass
class DistInfo:
    """This process's place in the process group (rank 0 of 1 without ``torchrun``).

    Attributes:
        rank: global rank, 0 ... world_size - 1.
        world_size: number of processes.
        local_rank: rank on this machine (the CUDA device index under ``torchrun``).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """More than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes files and prints."""
        return self.rank == 0


def init_distributed(device_type: str = "cpu") -> DistInfo:
    """Join the process group when started by ``torchrun`` (``WORLD_SIZE`` > 1).

    Uses NCCL for CUDA and gloo on the CPU, and selects the CUDA device ``LOCAL_RANK``.
    Without torchrun it returns rank 0 of 1 and joins nothing.

    Args:
        device_type: ``"cpu"`` or ``"cuda"`` (``torch.device.type``).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" and dist.is_nccl_available() else "gloo"
        dist.init_process_group(backend=backend)
    if device_type == "cuda":
        torch.cuda.set_device(local)
    return DistInfo(rank, world, local)


def _active(info: DistInfo) -> bool:
    return info.enabled and dist.is_initialized()


def barrier(info: DistInfo) -> None:
    """Wait until every rank arrives (nothing in a single process)."""
    if _active(info):
        dist.barrier()


def shutdown(info: DistInfo) -> None:
    """Leave the process group (nothing in a single process)."""
    if _active(info):
        dist.destroy_process_group()


def _collective_device() -> torch.device:
    """Where the group's backend takes tensors: this rank's CUDA device for NCCL, else the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(value: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """The sum of ``value`` over ranks, as a new tensor (``value`` itself in a single process).

    Args:
        value: a tensor of the same shape and dtype on every rank, on any device (it is
            exchanged where the backend needs it, and the sum returned on ``value``'s device).
    """
    if not _active(info):
        return value
    total = value.to(_collective_device(), copy=True)
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total.to(value.device)


def any_rank(flags: Sequence[bool], info: DistInfo) -> List[bool]:
    """Element-wise OR over ranks: ``flags[i]`` is true on every rank when it is true on one.

    One exchange for all flags, so that every rank takes the same branch.

    Args:
        flags: this rank's values (the same number on every rank).
    """
    if not _active(info):
        return [bool(f) for f in flags]
    votes = all_reduce_sum(torch.tensor([1 if f else 0 for f in flags], dtype=torch.int64), info)
    return [bool(v > 0) for v in votes.tolist()]
