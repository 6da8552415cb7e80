"""SPPE models by name: every variant is a small registered function (the timm pattern).

>>> model = build_sppe("fastpose_se50")                       # AlphaPose's FastPose, 17 keypoints
>>> small = build_sppe("fastpose_se18", num_keypoints=14, input_size=(128, 96))
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping

from .errors import SPPEError
from .fastpose import FastPose

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


def build_sppe_from_config(config: Any) -> FastPose:
    """Build from a model config: a mapping or an object with ``name`` and optionally
    ``num_keypoints``, ``input_size``, ``pixel_mean``, ``pixel_std``, ``heatmap_size``.

    ``heatmap_size``, when given, must equal ``input_size / 4``.
    """

    def get(key: str) -> Any:
        if isinstance(config, Mapping):
            return config.get(key)
        return getattr(config, key, None)

    name = get("name")
    if not name:
        raise SPPEError("model config has no 'name'; set model.name to one of " + ", ".join(list_sppe()))
    overrides = {k: get(k) for k in ("num_keypoints", "input_size", "pixel_mean", "pixel_std")}
    model = build_sppe(str(name), **{k: v for k, v in overrides.items() if v is not None})
    heatmap_size = get("heatmap_size")
    if heatmap_size is not None and tuple(int(v) for v in heatmap_size) != model.heatmap_size:
        raise SPPEError(
            f"model.heatmap_size {tuple(heatmap_size)} does not match input_size {model.input_size}: "
            f"{name} outputs input / 4 = {model.heatmap_size}"
        )
    return model
