"""rmpe.distributed: device resolution, and the collectives alone and over two gloo processes."""
from __future__ import annotations

import socket

import pytest
import torch
import torch.multiprocessing as mp

from rmpe.distributed import DistInfo, all_reduce_sum, any_rank, barrier, init_distributed, resolve_device, shutdown
from rmpe.errors import RMPEError


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    expect = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    for auto in (None, "", "auto"):
        assert resolve_device(auto) == expect
    with pytest.raises(RMPEError, match="unknown device 'gpu0'"):
        resolve_device("gpu0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_resolve_device_without_cuda():
    with pytest.raises(RMPEError, match="CUDA is not available"):
        resolve_device("cuda:0")


def test_single_process_is_rank_0_of_1(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    info = init_distributed("cpu")
    assert info == DistInfo(0, 1, 0) and info.is_main and not info.enabled
    value = torch.tensor([1.5, 2.0])
    assert all_reduce_sum(value, info) is value
    assert any_rank([True, False], info) == [True, False]
    barrier(info)
    shutdown(info)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, flags, queue) -> None:
    import os

    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    info = init_distributed("cpu")
    try:
        total = all_reduce_sum(torch.tensor([float(rank + 1), 10.0 * rank]), info)
        anyf = any_rank(flags[rank], info)
        barrier(info)
        queue.put((info.rank, info.world_size, info.is_main, total.tolist(), anyf))
    finally:
        shutdown(info)


@pytest.mark.slow
def test_collectives_over_two_gloo_processes():
    """Against plain references: the element-wise sum and OR of the per-rank values."""
    world = 2
    flags = [[False, True, False], [False, False, True]]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    mp.start_processes(_worker, args=(world, _free_port(), flags, queue), nprocs=world, join=True,
                       start_method="spawn")
    results = sorted(queue.get(timeout=60) for _ in range(world))
    per_rank = [[float(r + 1), 10.0 * r] for r in range(world)]
    sums = [sum(col) for col in zip(*per_rank)]
    ors = [any(col) for col in zip(*flags)]
    assert [r[:3] for r in results] == [(0, 2, True), (1, 2, False)]
    for _, _, _, total, anyf in results:
        assert total == sums and anyf == ors
