"""Training checkpoints: model, optimiser, schedulers, AMP scaler, position and RNG states.

A training checkpoint is an ordinary rmpe model checkpoint
(:func:`rmpe.checkpoints.save_model_checkpoint`: the SPPE in ``sppe``'s format plus the STN
under ``stn``), so ``sppe.load_checkpoint``, ``rmpe-eval`` and ``rmpe-demo`` read it as is.
Training adds these extra entries (all plain containers and tensors, so the file loads with
``torch.load(weights_only=True)``)::

    config        the whole experiment config (Config.to_dict())
    epoch         index of the epoch in progress (0-based)
    step          batches of that epoch already done (0: the epoch has not started)
    global_step   optimiser steps so far
    optimizer     optimizer.state_dict()
    schedulers    {"warmup": ..., "multistep": ...} scheduler state dicts
    scaler        GradScaler.state_dict() ({} without AMP)
    rng           {"torch", "numpy", "python", "cuda"} generator states
    best_ap       best validation AP so far (None before the first validation)
    parallel_sppe the frozen parallel SPPE's weights (only with the STN)
    world_size    number of training processes that wrote it
    trainer       {"bad_images": int, "elapsed_s": float}
"""
from __future__ import annotations

import collections
import random
from typing import Any, Dict, Mapping, Optional

import numpy as np
import torch

from ..checkpoints import load_model_checkpoint, save_model_checkpoint
from ..errors import RMPEError


def plain(value: Any) -> Any:
    """Turn dict subclasses (Counter, defaultdict), numpy scalars/arrays into plain values/tensors."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.array(value))
    if isinstance(value, np.generic):
        return value.item()
    return value


def rng_state() -> Dict[str, Any]:
    """The torch, numpy, Python and CUDA generator states as weights-only-loadable values."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    py = random.getstate()
    state: Dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "name": str(name),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "python": [int(py[0]), [int(v) for v in py[1]], py[2]],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` returned (missing parts are left alone)."""
    if "torch" in state:
        torch.set_rng_state(state["torch"].cpu().to(torch.uint8))
    if "numpy" in state:
        n = state["numpy"]
        keys = n["keys"].numpy().astype(np.uint32)
        np.random.set_state((n["name"], keys, int(n["pos"]), int(n["has_gauss"]), float(n["cached"])))
    if "python" in state:
        version, internal, gauss = state["python"]
        random.setstate((int(version), tuple(int(v) for v in internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = [s.cpu().to(torch.uint8) for s in state["cuda"]]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


def save_training_checkpoint(
    path,
    model: torch.nn.Module,
    *,
    optimizer: torch.optim.Optimizer,
    schedulers: Mapping[str, Any],
    scaler: Any,
    config: Dict[str, Any],
    epoch: int,
    step: int,
    global_step: int,
    best_ap: Optional[float],
    world_size: int = 1,
    trainer: Optional[Dict[str, Any]] = None,
):
    """Write a training checkpoint atomically (temporary file + rename); returns the path.

    Args:
        model: the :class:`rmpe.model.RMPEModel` (optionally DDP-wrapped).
        schedulers: name -> LR scheduler (None entries are skipped).
        scaler: ``torch.amp.GradScaler``.
        epoch / step / global_step: where training stands (see the module docstring).
    """
    target = getattr(model, "module", model)
    extra: Dict[str, Any] = {
        "config": config,
        "epoch": int(epoch),
        "step": int(step),
        "global_step": int(global_step),
        "optimizer": plain(optimizer.state_dict()),
        "schedulers": {k: plain(s.state_dict()) for k, s in schedulers.items() if s is not None},
        "scaler": plain(scaler.state_dict()) if scaler is not None else {},
        "rng": rng_state(),
        "best_ap": None if best_ap is None else float(best_ap),
        "world_size": int(world_size),
        "trainer": dict(trainer or {}),
    }
    parallel = getattr(target, "parallel_sppe", None)
    if parallel is not None:
        extra["parallel_sppe"] = {k: v.detach().cpu() for k, v in parallel.state_dict().items()}
    return save_model_checkpoint(path, target, **extra)


def load_training_checkpoint(
    path,
    model: torch.nn.Module,
    *,
    optimizer: Optional[torch.optim.Optimizer] = None,
    schedulers: Optional[Mapping[str, Any]] = None,
    scaler: Any = None,
    map_location: Any = "cpu",
    restore_rng: bool = True,
) -> Dict[str, Any]:
    """Restore a training checkpoint into the given objects.

    Returns:
        the remaining entries (``epoch``, ``step``, ``global_step``, ``best_ap``, ``config``,
        ``trainer``...).

    Raises:
        RMPEError: the file is not a training checkpoint (no optimiser state or position).
    """
    target = getattr(model, "module", model)
    extra = load_model_checkpoint(target, path, map_location=map_location)
    missing = [k for k in ("epoch", "step", "global_step", "optimizer") if k not in extra]
    if missing:
        raise RMPEError(
            f"checkpoint {path} is not a training checkpoint (no '{missing[0]}'); to start from its weights "
            f"set model.init_from instead of --resume"
        )
    parallel = getattr(target, "parallel_sppe", None)
    if parallel is not None and "parallel_sppe" in extra:
        parallel.load_state_dict(extra.pop("parallel_sppe"))
    if optimizer is not None:
        try:
            optimizer.load_state_dict(extra.pop("optimizer"))
        except (ValueError, KeyError) as exc:
            raise RMPEError(f"checkpoint {path}: optimiser state does not fit this model ({exc})") from None
    for name, sched in (schedulers or {}).items():
        state = extra.get("schedulers", {}).get(name)
        if sched is None or state is None:
            continue
        milestones = getattr(sched, "milestones", None)
        sched.load_state_dict(state)
        if milestones is not None:  # a Counter in torch; the file stores a plain dict
            sched.milestones = collections.Counter({int(k): int(v) for k, v in dict(sched.milestones).items()})
    if scaler is not None and extra.get("scaler"):
        scaler.load_state_dict(extra["scaler"])
    if restore_rng and "rng" in extra:
        set_rng_state(extra["rng"])
    return extra
