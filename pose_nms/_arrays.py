"""Input conversion shared by the NMS functions: numpy or torch in, torch to compute, the
caller's kind back out."""
from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np
import torch

from .errors import PoseNMSError


def compute_spec(*arrays: Any) -> Tuple[torch.device, torch.dtype, bool]:
    """Pick the device, the floating dtype and whether the caller wants numpy back.

    The first torch tensor among ``arrays`` decides the device (CPU when none is a tensor).
    float64 input (torch or numpy) computes in float64; float16/bfloat16 and integer input
    compute in float32. Numpy is returned when the first array is not a torch tensor.
    """
    device = torch.device("cpu")
    for a in arrays:
        if isinstance(a, torch.Tensor):
            device = a.device
            break
    first = arrays[0]
    dtype = torch.float32
    if isinstance(first, torch.Tensor):
        if first.dtype == torch.float64:
            dtype = torch.float64
    else:
        if np.asarray(first).dtype == np.float64:
            dtype = torch.float64
    return device, dtype, not isinstance(first, torch.Tensor)


def to_tensor(value: Any, name: str, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Convert ``value`` (tensor, numpy array or nested list) to ``dtype`` on ``device``."""
    try:
        if isinstance(value, torch.Tensor):
            return value.detach().to(device=device, dtype=dtype)
        return torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=dtype, device=device)
    except (TypeError, ValueError, RuntimeError):
        raise PoseNMSError(f"{name}: expected a numeric array, got {type(value).__name__}") from None


def check_shape(t: torch.Tensor, name: str, shape: Tuple[Optional[int], ...], text: str) -> None:
    """Raise a PoseNMSError unless ``t`` has the given shape (None = any size)."""
    ok = t.dim() == len(shape) and all(s is None or s == d for s, d in zip(shape, t.shape))
    if not ok:
        raise PoseNMSError(f"{name}: expected shape {text}, got {tuple(t.shape)}")


def check_finite(t: torch.Tensor, name: str, what: str = "proposal") -> None:
    """Raise a PoseNMSError naming the first row with a NaN or infinite value."""
    if t.numel() == 0:
        return
    if bool(torch.isfinite(t.sum())):  # one reduction; NaN/inf propagate (a huge finite sum falls through)
        return
    bad = ~torch.isfinite(t)
    if bool(bad.any()):
        rows = bad.reshape(t.shape[0], -1).any(1) if t.dim() > 1 else bad
        first = int(torch.nonzero(rows)[0, 0])
        raise PoseNMSError(
            f"{name} contain NaN or infinite values ({what} {first}); drop or fix those entries before NMS"
        )


def to_output(t: torch.Tensor, numpy_out: bool) -> Any:
    """Return ``t`` as is, or as a numpy array (moved to the CPU)."""
    return t.cpu().numpy() if numpy_out else t
