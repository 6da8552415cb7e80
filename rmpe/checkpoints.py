"""Whole-model checkpoints: the SPPE in sppe's format plus the STN's weights.

An rmpe checkpoint is an ``sppe`` checkpoint (``sppe.save_checkpoint``) whose extra
entries carry ``stn`` (the localisation net's state_dict, when the model has an STN) and
whatever training adds (``config``, ``epoch``, optimiser state...). Everything is read with
``torch.load(weights_only=True)``. AlphaPose's plain state dicts load into the SPPE and
leave the STN at the identity.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Optional, Sequence, Tuple

from .errors import RMPEError
from .model import check_sppe_sizes, unwrap


def save_model_checkpoint(path, model, /, **extra: Any):
    """Write ``model`` (an :class:`rmpe.model.RMPEModel`, possibly DDP-wrapped) atomically."""
    from sppe import save_checkpoint

    from .bottomup.network import BottomUpNet

    target = unwrap(model)
    if isinstance(target, BottomUpNet):  # bottom-up (rmpe.bottomup): a whole-image network, its own format
        from .bottomup.checkpoint import save_bottomup_checkpoint

        return save_bottomup_checkpoint(path, target, **extra)
    if getattr(target, "stn", None) is not None:
        extra["stn"] = {k: v.detach().cpu() for k, v in target.stn.state_dict().items()}
    return save_checkpoint(path, target.sppe, **extra)


def load_model_checkpoint(model, path, map_location: Any = "cpu") -> Dict[str, Any]:
    """Load an rmpe, sppe or AlphaPose checkpoint into ``model``; returns the extra entries.

    Raises:
        RMPEError / SPPEError: missing or foreign file, shapes that do not match the config,
            STN weights for a model built without ``model.stn`` (or the other way round is
            fine: the STN then stays at the identity).
    """
    from sppe import load_checkpoint

    from .bottomup.network import BottomUpNet

    target = unwrap(model)
    if isinstance(target, BottomUpNet):  # bottom-up (rmpe.bottomup)
        from .bottomup.checkpoint import load_bottomup_checkpoint

        return load_bottomup_checkpoint(target, path, map_location=map_location)
    extra = load_checkpoint(target.sppe, path, map_location=map_location)
    check_sppe_sizes(target.sppe, target.codec, f"checkpoint {path}")
    stn_state = extra.pop("stn", None)
    if stn_state is not None:
        if target.stn is None:
            raise RMPEError(f"checkpoint {path} holds STN weights but the config has model.stn: false; set model.stn: true")
        try:
            target.stn.load_state_dict(stn_state)
        except RuntimeError as exc:
            raise RMPEError(f"checkpoint {path}: STN weights do not fit ({str(exc).splitlines()[0][:160]})") from None
    if getattr(target, "parallel_sppe", None) is not None:
        target.update_parallel_sppe()
    return extra


#: The config keys that decide a model's weights layout: a checkpoint made with other values
#: cannot be loaded, so ``--config`` and the checkpoint's stored config must agree on them.
ARCHITECTURE_KEYS: Tuple[str, ...] = (
    "model.name", "model.num_keypoints", "model.input_size", "model.heatmap_size", "model.stn",
)


def stored_config(path) -> Optional[Dict[str, Any]]:
    """The config an ``rmpe-train`` checkpoint was trained with, as a plain nested dict.

    Keys that have moved since (:data:`rmpe.config.MOVED_KEYS`) are moved to their new place
    silently: the checkpoint is not a file the user wrote. Returns None for checkpoints
    without a config (AlphaPose's zoo files, ``sppe`` checkpoints).

    Raises:
        SPPEError / RMPEError: the file is missing, refused or not a checkpoint.
    """
    from sppe.checkpoint import read_checkpoint

    if path is None:
        return None
    path = os.fspath(path)
    if os.path.isdir(path):
        raise RMPEError(f"checkpoint {path} is a folder; give the .pth file (e.g. {os.path.join(path, 'best.pth')})")
    if not os.path.isfile(path):
        raise RMPEError(f"checkpoint not found: {path}")
    _, _, extra = read_checkpoint(path, "cpu", mmap=True)
    data = extra.get("config")
    if not isinstance(data, dict):
        return None
    return migrate_config_dict(data)


def migrate_config_dict(data: Dict[str, Any]) -> Dict[str, Any]:
    """A copy of a stored config dict with the keys of :data:`rmpe.config.MOVED_KEYS` moved."""
    import copy

    from .config import MOVED_KEYS

    data = copy.deepcopy(data)
    for old, new in MOVED_KEYS.items():
        section, name = old.split(".")
        if not isinstance(data.get(section), dict) or name not in data[section]:
            continue
        value = data[section].pop(name)
        new_section, new_name = new.split(".")
        data.setdefault(new_section, {})
        if isinstance(data[new_section], dict):
            data[new_section].setdefault(new_name, value)
    return data


def architecture_differences(config: Any, stored: Any, keys: Sequence[str] = ARCHITECTURE_KEYS) -> Dict[str, Tuple[Any, Any]]:
    """``key -> (config value, stored value)`` for the architecture keys on which two configs differ."""
    a, b = config.to_dict(), stored.to_dict()
    out = {}
    for key in keys:
        section, name = key.split(".")
        va, vb = a.get(section, {}).get(name), b.get(section, {}).get(name)
        if va != vb:
            out[key] = (va, vb)
    return out
