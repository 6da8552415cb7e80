"""Shared helpers for the sppe tests."""
from __future__ import annotations

import pytest
import torch
from torch import nn


def randomize_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every parameter and BN statistic distinct, well-scaled random values, so
    eval-mode outputs depend on all of them (fresh BN stats are the identity)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=gen) * 0.5 + 0.75)
            elif name.endswith("running_mean") or name.endswith("bias"):
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.1)
            elif name.endswith("weight") and tensor.dim() == 1:  # BN gamma
                tensor.copy_(torch.rand(tensor.shape, generator=gen) * 0.5 + 0.5)
            else:
                fan_in = max(1, tensor[0].numel())
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * (1.0 / fan_in) ** 0.5)
    return model


@pytest.fixture(autouse=True)
def _one_thread():
    """The test machine has two shared cores; one thread keeps timings predictable."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def randomize():
    """The :func:`randomize_` helper, as a fixture."""
    return randomize_
