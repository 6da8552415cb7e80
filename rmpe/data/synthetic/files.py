"""Output helpers shared by the synthetic data set and video writers."""
from __future__ import annotations

import os
from dataclasses import replace
from typing import Optional, Tuple

import cv2
import numpy as np

from ...errors import RMPEError
from .config import SyntheticConfig


def encode_image(image: np.ndarray, config: SyntheticConfig) -> bytes:
    """JPEG or PNG bytes of a BGR image, per ``config.image_format``."""
    if config.image_format == "jpg":
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(config.jpeg_quality)])
    else:
        ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:  # pragma: no cover - OpenCV failure, not a user error
        raise RuntimeError(f"OpenCV could not encode a {config.image_format} image")
    return buf.tobytes()


def write_bytes(path: str, data: bytes) -> None:
    """Write a file via a temporary name in the same folder and a rename (no fsync: bulk images)."""
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def resolve_config(config: Optional[SyntheticConfig], size: Optional[Tuple[int, int]]) -> SyntheticConfig:
    """A validated copy of ``config`` (default world) with ``size`` applied."""
    config = config if config is not None else SyntheticConfig()
    if size is not None:
        if len(tuple(size)) != 2:
            raise RMPEError(f"synthetic size must be (width, height), got {size!r}")
        config = replace(config, size=(int(size[0]), int(size[1])))
    return config.validate()


def check_seed(seed) -> int:
    """A seed as a non-negative int; anything else is an RMPEError."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise RMPEError(f"synthetic seed must be an integer >= 0, got {seed!r}")
    return int(seed)
