"""rmpe: regional multi-person pose estimation (RMPE / AlphaPose style) in PyTorch.

Submodules: ``keypoints``, ``geometry``, ``codec``, ``config``. Heavier parts (the
inference pipeline, evaluation) are imported on first use so ``import rmpe`` stays fast.
"""
from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "PoseEstimator": ("rmpe.api", "PoseEstimator"),
    "Person": ("rmpe.api", "Person"),
    "evaluate": ("rmpe.evaluation", "evaluate"),
    "load_config": ("rmpe.config", "load_config"),
    "Config": ("rmpe.config", "Config"),
    "HeatmapCodec": ("rmpe.codec", "HeatmapCodec"),
    "RMPEError": ("rmpe.errors", "RMPEError"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rmpe' has no attribute '{name}'")


__all__ = list(_LAZY) + ["__version__"]
