"""Process-group helpers for training: the trainer runs alone or under ``torchrun`` unchanged.

Joining and leaving the group reuses :mod:`rmpe.distributed` (shared with ``rmpe-eval``):
``torchrun --nproc_per_node N`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT``; the group then uses NCCL on CUDA and gloo on the CPU.
Without those variables everything here is a single-process no-op. Training adds the sum
and broadcast used for its statistics and its wall-time stop.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.distributed as dist

from ..distributed import DistInfo, barrier, init_distributed, shutdown

__all__ = ["DistInfo", "init_distributed", "barrier", "shutdown", "all_reduce_sum", "broadcast_flag"]


def _active(info: DistInfo) -> bool:
    return info.world_size > 1 and dist.is_initialized()


def all_reduce_sum(value: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Sum a tensor over ranks (a copy; returned unchanged in a single process)."""
    if _active(info):
        value = value.clone()
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value


def broadcast_flag(flag: bool, info: DistInfo, device: Optional[torch.device] = None) -> bool:
    """Rank 0's value of ``flag`` on every rank (so all ranks stop at the same step)."""
    if not _active(info):
        return bool(flag)
    t = torch.tensor([1 if flag else 0], dtype=torch.int64, device=device or torch.device("cpu"))
    dist.broadcast(t, src=0)
    return bool(t.item())
