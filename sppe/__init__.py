"""Single-person pose estimation networks: SE-ResNet trunks, DUC heads, FastPose, checkpoints.

Public API::

    build_sppe(name, **overrides) -> FastPose         # registered variants: list_sppe()
    load_checkpoint(model, path, map_location="cpu", strict=True) -> dict of extra entries
    save_checkpoint(path, model, **extra) -> Path      # atomic; weights + name/keypoints/normalisation
    read_checkpoint_metadata(path) -> dict             # name, num_keypoints, arch, ... without a model
    build_sppe_from_checkpoint(path) -> FastPose       # rebuild + load, eval mode

This package imports only torch; it never imports ``rmpe``.
"""
from .checkpoint import infer_arch, load_checkpoint, read_checkpoint, save_checkpoint
from .duc import DUC
from .errors import SPPEError
from .fastpose import ALPHAPOSE_PIXEL_MEAN, ALPHAPOSE_PIXEL_STD, OUTPUT_STRIDE, FastPose, default_duc_channels
from .registry import (
    build_sppe,
    build_sppe_from_checkpoint,
    list_sppe,
    read_checkpoint_metadata,
    register_sppe,
    variant_arch,
)
from .resnet import SE_PLACEMENTS, BasicBlock, Bottleneck, ResNet, SELayer

__all__ = [
    "ALPHAPOSE_PIXEL_MEAN",
    "ALPHAPOSE_PIXEL_STD",
    "OUTPUT_STRIDE",
    "SE_PLACEMENTS",
    "BasicBlock",
    "Bottleneck",
    "DUC",
    "FastPose",
    "ResNet",
    "SELayer",
    "SPPEError",
    "build_sppe",
    "build_sppe_from_checkpoint",
    "default_duc_channels",
    "infer_arch",
    "list_sppe",
    "load_checkpoint",
    "read_checkpoint",
    "read_checkpoint_metadata",
    "register_sppe",
    "save_checkpoint",
    "variant_arch",
]
