"""Whole-model checkpoints: the SPPE in sppe's format plus the STN's weights.

An rmpe checkpoint is an ``sppe`` checkpoint (``sppe.save_checkpoint``) whose extra
entries carry ``stn`` (the localisation net's state_dict, when the model has an STN) and
whatever training adds (``config``, ``epoch``, optimiser state...). Everything is read with
``torch.load(weights_only=True)``. AlphaPose's plain state dicts load into the SPPE and
leave the STN at the identity.
"""
from __future__ import annotations

from typing import Any, Dict

from .errors import RMPEError
from .model import check_sppe_sizes, unwrap


def save_model_checkpoint(path, model, /, **extra: Any):
    """Write ``model`` (an :class:`rmpe.model.RMPEModel`, possibly DDP-wrapped) atomically."""
    from sppe import save_checkpoint

    target = unwrap(model)
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

    target = unwrap(model)
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
