"""SPPE models by name: every variant is a small registered function (the timm pattern).

>>> model = build_sppe("fastpose_se50")                       # AlphaPose's FastPose, 17 keypoints
>>> small = build_sppe("fastpose_se18", num_keypoints=14, input_size=(128, 96))
>>> loaded = build_sppe_from_checkpoint("fast_res50_256x192.pth")  # rebuilt from the file, eval mode

Checkpoints are matched to the registry here (a plain state dict is named after the first
registered variant of its depth); reading and writing them is :mod:`sppe.checkpoint`.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Union

import torch

from .checkpoint import FORMAT, infer_arch, load_checkpoint, read_checkpoint
from .errors import SPPEError
from .fastpose import FastPose, check_input_size, rgb_triple

PathLike = Union[str, "os.PathLike[str]"]

#: Options every registered variant accepts as ``build_sppe(name, **overrides)``.
OVERRIDABLE = ("num_keypoints", "input_size", "pixel_mean", "pixel_std", "se", "se_reduction", "duc_channels")

_REGISTRY: Dict[str, Callable[..., FastPose]] = {}
_VARIANT_ARCH: Dict[str, Dict[str, Any]] = {}


def register_sppe(**arch: Any) -> Callable[[Callable[..., FastPose]], Callable[..., FastPose]]:
    """Decorator registering a variant function under its own name.

    Args:
        **arch: the variant's architecture (``depth`` and defaults of :class:`FastPose`
            arguments); kept so checkpoints without metadata can be matched to a name.
    """

    def decorator(fn: Callable[..., FastPose]) -> Callable[..., FastPose]:
        name = fn.__name__
        if name in _REGISTRY:
            raise ValueError(f"SPPE model {name!r} is registered twice")
        _REGISTRY[name] = fn
        _VARIANT_ARCH[name] = dict(arch)
        return fn

    return decorator


def _create(name: str, overrides: Mapping[str, Any]) -> FastPose:
    unknown = sorted(set(overrides) - set(OVERRIDABLE))
    if unknown:
        raise SPPEError(
            f"build_sppe({name!r}): unknown option {unknown[0]!r}; valid options are {', '.join(OVERRIDABLE)}"
        )
    kwargs = dict(_VARIANT_ARCH[name])
    kwargs.update(overrides)
    return FastPose(name=name, **kwargs)


@register_sppe(depth=18, se="first", se_reduction=1, duc_channels=(512, 256))
def fastpose_se18(**overrides: Any) -> FastPose:
    """SE-ResNet-18 + DUC(128->512) + DUC(128->256) + conv 64->K; 12.8 M parameters (17 keypoints).

    Small enough to train on a CPU (e.g. at 128x96).
    """
    return _create("fastpose_se18", overrides)


@register_sppe(depth=34, se="first", se_reduction=1, duc_channels=(512, 256))
def fastpose_se34(**overrides: Any) -> FastPose:
    """SE-ResNet-34 + DUC(128->512) + DUC(128->256) + conv 64->K; 22.9 M parameters (17 keypoints)."""
    return _create("fastpose_se34", overrides)


@register_sppe(depth=50, se="first", se_reduction=1, duc_channels=(1024, 512))
def fastpose_se50(**overrides: Any) -> FastPose:
    """AlphaPose's FastPose: SE-ResNet-50 + DUC(512->1024) + DUC(256->512) + conv 128->K.

    With 17 keypoints: 348 state-dict entries, 40,577,745 parameters; loads AlphaPose's
    ``fast_res50_256x192.pth`` with strict checking.
    """
    return _create("fastpose_se50", overrides)


@register_sppe(depth=101, se="first", se_reduction=1, duc_channels=(1024, 512))
def fastpose_se101(**overrides: Any) -> FastPose:
    """SE-ResNet-101 + the FastPose head. With ``num_keypoints=33`` the state dict is
    that of AlphaPose's legacy ``duc_se.pth`` (whose first 17 channels are COCO)."""
    return _create("fastpose_se101", overrides)


@register_sppe(depth=152, se="first", se_reduction=1, duc_channels=(1024, 512))
def fastpose_se152(**overrides: Any) -> FastPose:
    """SE-ResNet-152 + the FastPose head."""
    return _create("fastpose_se152", overrides)


def list_sppe() -> List[str]:
    """Names of all registered SPPE models, sorted."""
    return sorted(_REGISTRY)


def variant_arch(name: str) -> Dict[str, Any]:
    """The registered architecture defaults of ``name`` (``depth``, ``se``, ...)."""
    if name not in _REGISTRY:
        raise SPPEError(f"unknown SPPE model {name!r}; known models: {', '.join(list_sppe())}")
    return dict(_VARIANT_ARCH[name])


def build_sppe(name: str, **overrides: Any) -> FastPose:
    """Build a registered SPPE model with fresh (random) weights.

    Args:
        name: a name from :func:`list_sppe`, e.g. ``"fastpose_se50"``.
        **overrides: any of :data:`OVERRIDABLE`, e.g. ``num_keypoints=14``,
            ``input_size=(128, 96)``, ``pixel_mean=(0.485, 0.456, 0.406)``.

    Returns:
        the model, in training mode, on the CPU, float32.

    Raises:
        SPPEError: unknown name (the message lists the known ones) or unknown/invalid option.
    """
    if name not in _REGISTRY:
        raise SPPEError(f"unknown SPPE model {name!r}; known models: {', '.join(list_sppe())}")
    return _REGISTRY[name](**overrides)


# ---------------------------------------------------------------------------- checkpoints
def _name_for_depth(depth: int) -> Optional[str]:
    return next((n for n in list_sppe() if _VARIANT_ARCH[n].get("depth") == depth), None)


def read_checkpoint_metadata(path: PathLike) -> Dict[str, Any]:
    """Describe a checkpoint without building a model (memory-maps the file where it can).

    Returns:
        dict with ``format`` (``"rmpe-sppe"`` or ``"state_dict"``), ``name`` (registry
        name, inferred for plain state dicts, ``None`` if unknown), ``num_keypoints``,
        ``arch`` (``depth``, ``se``, ``se_reduction``, ``duc_channels``; ``None`` if unknown),
        ``pixel_mean``, ``pixel_std``, ``input_size`` (``None`` for plain state dicts, which
        carry none), ``num_parameters`` and ``extra`` (the extra entries that are plain
        scalars, e.g. ``epoch``; larger ones only by name in ``extra_keys``).
    """
    state, meta, extra = read_checkpoint(path, "cpu", mmap=True)
    num_parameters = sum(v.numel() for k, v in state.items() if v.is_floating_point() and "running_" not in k)
    scalars = {k: v for k, v in extra.items() if isinstance(v, (str, int, float, bool)) or v is None}
    if meta is not None:
        return {
            "format": FORMAT,
            "name": meta.get("name"),
            "num_keypoints": meta.get("num_keypoints"),
            "arch": meta.get("arch"),
            "pixel_mean": meta.get("pixel_mean"),
            "pixel_std": meta.get("pixel_std"),
            "input_size": meta.get("input_size"),
            "num_parameters": num_parameters,
            "extra": scalars,
            "extra_keys": sorted(extra),
        }
    arch = infer_arch(state)
    num_keypoints = arch.pop("num_keypoints") if arch else None
    return {
        "format": "state_dict",
        "name": _name_for_depth(arch["depth"]) if arch else None,
        "num_keypoints": num_keypoints,
        "arch": arch,
        "pixel_mean": None,
        "pixel_std": None,
        "input_size": None,
        "num_parameters": num_parameters,
        "extra": scalars,
        "extra_keys": sorted(extra),
    }


def build_sppe_from_checkpoint(path: PathLike, map_location: Any = "cpu", **overrides: Any) -> FastPose:
    """Build the network a checkpoint describes and load it, in eval mode.

    Our checkpoints carry their name, architecture and normalisation; for a plain state
    dict (e.g. AlphaPose's ``fast_res50_256x192.pth``) the architecture is inferred from
    the shapes and AlphaPose's normalisation and 256x192 input are assumed unless
    ``overrides`` (``input_size``, ``pixel_mean``, ``pixel_std``) say otherwise.

    Raises:
        SPPEError: the file is not a checkpoint or not a FastPose network.
    """
    info = read_checkpoint_metadata(path)
    arch = info.get("arch")
    if not isinstance(arch, Mapping) or "depth" not in arch:
        raise SPPEError(
            f"checkpoint {path} is not a FastPose network this package can build; build the model with "
            f"sppe.build_sppe(name) ({', '.join(list_sppe())}) and call sppe.load_checkpoint"
        )
    kwargs: Dict[str, Any] = {k: arch[k] for k in ("depth", "se", "se_reduction", "duc_channels") if k in arch}
    kwargs["num_keypoints"] = info["num_keypoints"]
    for key in ("input_size", "pixel_mean", "pixel_std"):
        if info.get(key) is not None:
            kwargs[key] = info[key]
    kwargs.update(overrides)
    model = FastPose(name=info.get("name") or f"fastpose_depth{arch['depth']}", **kwargs)
    load_checkpoint(model, path, map_location=map_location)
    # the caller's word wins over the checkpoint's (validated by the constructor above)
    if "input_size" in overrides:
        model.input_size = check_input_size(overrides["input_size"])
    for key in ("pixel_mean", "pixel_std"):
        if key in overrides:
            setattr(model, key, rgb_triple(overrides[key], key))
    if isinstance(map_location, (str, torch.device)):
        model = model.to(map_location)
    return model.eval()
