"""Poses from person boxes with an exported model and no PyTorch: numpy, OpenCV and a runtime.

:class:`LitePoseModel` does what :meth:`rmpe.model.RMPEModel.predict` does, with numpy
twins of the torch steps, for the runtimes of :mod:`rmpe.export.runtime`:

1. crop boxes and image -> crop matrices ``M`` (the rules of :func:`rmpe.geometry.crop_boxes`
   and :func:`rmpe.geometry.crop_matrices`, in float64);
2. crops by exact bilinear sampling with a zero border (:func:`sample_bilinear`, the numpy
   twin of :func:`rmpe.crop.crop_images`: crop pixel ``u`` = image at ``M^-1 u``);
3. with the STN: theta from the runtime, crop' cut once from the image with ``gamma @ M``;
4. heatmaps from the runtime (flip test: mirrored crop', flipped back, channels swapped,
   shifted one column, averaged);
5. argmax decoding with the quarter-pixel step (:func:`decode_argmax`, the twin of
   :func:`rmpe.codec.decode_argmax`), then heatmap px -> image px through ``M^-1 @ theta @ S``.

Pose NMS is not part of it (``pose_nms`` is torch code): the caller gets one pose per box.
Nothing here imports torch (``tests/rmpe/export/test_lite.py`` blocks the import and compares
the result with the torch path). The twins are kept equal to the torch code by that test.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

from ..errors import RMPEError
from .runtime import PoseRuntime, build_runtime


def crop_boxes_np(boxes: np.ndarray, aspect_ratio: float = 0.75, scale: float = 1.25) -> np.ndarray:
    """(N,4) xyxy person boxes -> (N,4) xyxy crop boxes (aspect fixed by growing, then x ``scale``)."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    centre = (b[:, :2] + b[:, 2:]) * 0.5
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    wide = w > aspect_ratio * h
    new_w = np.where(wide, w, h * aspect_ratio) * scale
    new_h = np.where(wide, w / aspect_ratio, h) * scale
    half = np.stack([new_w, new_h], axis=-1) * 0.5
    return np.concatenate([centre - half, centre + half], axis=-1)


def crop_matrices_np(crop_boxes: np.ndarray, out_size: Tuple[int, int]) -> np.ndarray:
    """(N,4) crop boxes -> (N,3,3) float64 image px -> crop px (crop-box centre to (W/2, H/2), scale W / crop_w)."""
    b = np.asarray(crop_boxes, np.float64).reshape(-1, 4)
    out_h, out_w = out_size
    s = out_w / (b[:, 2] - b[:, 0])
    m = np.zeros((b.shape[0], 3, 3))
    m[:, 0, 0] = m[:, 1, 1] = s
    m[:, 0, 2] = out_w * 0.5 - s * (b[:, 0] + b[:, 2]) * 0.5
    m[:, 1, 2] = out_h * 0.5 - s * (b[:, 1] + b[:, 3]) * 0.5
    m[:, 2, 2] = 1.0
    return m


def sample_bilinear(image: np.ndarray, sampling: np.ndarray, out_size: Tuple[int, int]) -> np.ndarray:
    """Crops of one image by exact bilinear sampling with a zero border.

    Args:
        image: (H,W,C) float32 image (RGB in [0, 1] for the model).
        sampling: (N,3,3) crop px -> image px (output pixel ``u`` takes the image at ``sampling @ u``).
        out_size: (h, w) of the crops.

    Returns:
        (N,C,h,w) float32 crops.
    """
    h, w = out_size
    in_h, in_w = image.shape[:2]
    ys, xs = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    pts = np.stack([xs.ravel(), ys.ravel(), np.ones(h * w)], axis=0)  # (3, h*w) crop pixel centres
    src = np.einsum("nij,jp->nip", sampling[:, :2, :], pts)  # (N, 2, h*w) image px
    x, y = src[:, 0], src[:, 1]
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
    out = np.zeros(x.shape + (image.shape[2],), np.float64)
    for dy, dx, weight in ((0, 0, (1 - fx) * (1 - fy)), (0, 1, fx * (1 - fy)), (1, 0, (1 - fx) * fy), (1, 1, fx * fy)):
        xi, yi = x0 + dx, y0 + dy  # the four neighbours; the ones outside the image count as zero
        inside = (xi >= 0) & (xi < in_w) & (yi >= 0) & (yi < in_h)
        values = image[np.clip(yi, 0, in_h - 1), np.clip(xi, 0, in_w - 1)]
        out += weight * values * inside[..., None]
    return out.reshape(-1, h, w, image.shape[2]).transpose(0, 3, 1, 2).astype(np.float32)


def flip_back(heatmaps: np.ndarray, flip_pairs: Sequence[Sequence[int]]) -> np.ndarray:
    """Heatmaps (N,K,h,w) of mirrored crops -> the unmirrored crop's frame (mirror, swap pairs, shift one column)."""
    k = heatmaps.shape[1]
    perm = np.arange(k)
    for a, b in flip_pairs:
        perm[a], perm[b] = b, a
    out = heatmaps[:, perm, :, ::-1]
    return np.concatenate([out[..., :1], out[..., :-1]], axis=-1)


def decode_argmax(heatmaps: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(N,K,h,w) -> coords (N,K,2) heatmap px (argmax + 0.25 px toward the larger neighbour
    inside the map) and scores (N,K) = map maxima."""
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, k, h * w)
    idx = flat.argmax(-1)
    scores = np.take_along_axis(flat, idx[..., None], -1)[..., 0]
    x, y = idx % w, idx // w

    def at(xx, yy):
        return np.take_along_axis(flat, (np.clip(yy, 0, h - 1) * w + np.clip(xx, 0, w - 1))[..., None], -1)[..., 0]

    interior = (x > 0) & (x < w - 1) & (y > 0) & (y < h - 1)
    dx = np.sign(at(x + 1, y) - at(x - 1, y))
    dy = np.sign(at(x, y + 1) - at(x, y - 1))
    coords = np.stack([x, y], -1).astype(np.float64) + 0.25 * np.stack([dx, dy], -1) * interior[..., None]
    return coords, scores


class LitePoseModel:
    """An exported model on a runtime, from boxes to keypoints, without torch.

    Args:
        path: the ``.onnx`` file from ``rmpe-export`` (float32 input, no flip inside).
        backend: ``onnxruntime`` or ``openvino``.
        threads: runtime threads (0: its default).
    """

    def __init__(self, path: str, backend: str = "onnxruntime", threads: int = 0, runtime: Optional[PoseRuntime] = None) -> None:
        self.runtime = runtime if runtime is not None else build_runtime(backend, path, "cpu", threads)
        self.meta = self.runtime.meta
        decoder = self.meta.codec.get("decoder", "argmax")
        if decoder != "argmax":
            raise RMPEError(f"{path}: the torch-free path decodes with argmax only (the file says '{decoder}')")

    def predict(self, image_bgr: np.ndarray, boxes: np.ndarray, flip: bool = False) -> Tuple[np.ndarray, np.ndarray]:
        """Keypoints of the people in ``boxes``.

        Args:
            image_bgr: (H,W,3) uint8 BGR image (as ``cv2.imread`` gives).
            boxes: (N,4) xyxy person boxes in image px.
            flip: flip test.

        Returns:
            keypoints (N,K,2) float64 in image px, scores (N,K) float32.
        """
        meta = self.meta
        size = tuple(meta.input_size)
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        k = meta.num_keypoints
        if boxes.shape[0] == 0:
            return np.zeros((0, k, 2)), np.zeros((0, k), np.float32)
        image = np.ascontiguousarray(image_bgr[:, :, ::-1]).astype(np.float32) / 255.0  # RGB in [0, 1]
        m = crop_matrices_np(crop_boxes_np(boxes, meta.aspect_ratio, meta.box_scale), size)
        m_inv = np.linalg.inv(m)
        crops = sample_bilinear(image, m_inv, size)
        theta = None
        if meta.stn:
            theta = self.runtime.theta(crops).astype(np.float64)
            crops = sample_bilinear(image, m_inv @ theta, size)  # (gamma @ M)^-1 = M^-1 @ theta
        heatmaps = self.runtime.heatmaps(crops)
        if flip:
            mirrored = self.runtime.heatmaps(np.ascontiguousarray(crops[..., ::-1]))
            heatmaps = 0.5 * (heatmaps + flip_back(mirrored, meta.flip_pairs))
        coords, scores = decode_argmax(heatmaps)
        hm_h, hm_w = heatmaps.shape[-2:]
        s = np.diag([size[1] / hm_w, size[0] / hm_h, 1.0])
        back = m_inv @ theta @ s if theta is not None else m_inv @ s
        pts = np.einsum("nij,nkj->nki", back[:, :2, :2], coords) + back[:, None, :2, 2]
        return pts, scores.astype(np.float32)
