"""Bottom-up model checkpoints: the network's weights, its name and limbs, plus training extras.

File layout (a dict, read with ``torch.load(weights_only=True)``)::

    format        "rmpe-bottomup"
    name          registry name (model.name)
    num_keypoints K
    limbs         [[a, b], ...]
    state_dict    the network's weights
    ...           whatever the caller adds (training: config, epoch, optimizer, ...)

Written atomically (temporary file in the same folder, then rename).
"""
from __future__ import annotations

import os
from typing import Any, Dict

import torch

from ..errors import RMPEError
from ..io import atomic_open

FORMAT = "rmpe-bottomup"


def save_bottomup_checkpoint(path, model, /, **extra: Any) -> str:
    """Write ``model`` (a :class:`rmpe.bottomup.network.BottomUpNet`) and ``extra`` to ``path``."""
    path = os.fspath(path)
    payload: Dict[str, Any] = dict(extra)
    payload.update({
        "format": FORMAT,
        "name": model.name,
        "num_keypoints": int(model.num_keypoints),
        "limbs": [list(p) for p in model.limbs],
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    })
    with atomic_open(path, "wb") as fh:
        torch.save(payload, fh)
    return path


def load_bottomup_checkpoint(model, path, map_location: Any = "cpu") -> Dict[str, Any]:
    """Load a bottom-up checkpoint into ``model``; returns the extra entries.

    Raises:
        RMPEError: missing or unreadable file, a checkpoint of another kind of model, or
            weights that do not fit the config's network.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise RMPEError(f"checkpoint not found: {path}")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's
        raise RMPEError(f"checkpoint {path} cannot be read ({str(exc).splitlines()[0][:160]})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise RMPEError(f"checkpoint {path} is not a bottom-up model checkpoint; model.name {model.name!r} needs one "
                        "written by rmpe-train with a bottom-up config")
    if data.get("name") != model.name or [list(p) for p in model.limbs] != data.get("limbs"):
        raise RMPEError(f"checkpoint {path} holds {data.get('name')!r} with {len(data.get('limbs') or [])} limbs but the "
                        f"config builds {model.name!r} with {len(model.limbs)}; use the config it was trained with")
    try:
        model.load_state_dict(data.pop("state_dict"))
    except RuntimeError as exc:
        raise RMPEError(f"checkpoint {path}: weights do not fit ({str(exc).splitlines()[0][:160]})") from None
    for key in ("format", "name", "num_keypoints", "limbs"):
        data.pop(key, None)
    return data
