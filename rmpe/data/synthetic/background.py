"""Backgrounds of the synthetic world: gradients, blotchy noise, floors, clutter, limb-like distractors.

Everything is cheap: the smooth part is drawn at 1/20 of the resolution and upsampled with
``cv2.resize``; shapes are OpenCV primitives; the pixel grain is a slice of a cached noise
tile (made once per size from a fixed seed, so images stay deterministic).
"""
from __future__ import annotations

from functools import lru_cache
from typing import List, Tuple

import cv2
import numpy as np

from .render import SHIFT, _col, _fp

_FP = float(1 << SHIFT)


def _random_colours(rng: np.random.Generator, n: int, sat=(0.1, 0.7), val=(0.25, 0.95)) -> np.ndarray:
    hsv = np.stack(
        [rng.uniform(0, 180, n), rng.uniform(*sat, n) * 255, rng.uniform(*val, n) * 255], axis=-1
    ).astype(np.uint8)[None]
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0].astype(np.float64)


def make_background(
    rng: np.random.Generator, size: Tuple[int, int], clutter: Tuple[int, int], distractors: Tuple[int, int]
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A cluttered background image.

    Args:
        rng: random generator.
        size: (width, height) in pixels.
        clutter: inclusive range of the number of plain clutter shapes.
        distractors: inclusive range of the number of limb-like distractors.

    Returns:
        image: (H, W, 3) uint8 BGR.
        boxes: (M, 4) float32 xyxy image boxes of the clutter shapes (pixel-centre convention).
        limb_like: (M,) bool, True for the limb-like distractors.
    """
    w, h = size
    lw, lh = max(2, w // 20), max(2, h // 20)
    c0, c1 = _random_colours(rng, 2, sat=(0.05, 0.5), val=(0.3, 0.9))
    theta = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:lh, 0:lw].astype(np.float64)
    t = (xx / lw - 0.5) * np.cos(theta) + (yy / lh - 0.5) * np.sin(theta) + 0.5
    low = c0 + (c1 - c0) * np.clip(t, 0, 1)[..., None]
    amp = rng.uniform(4, 22)
    low += rng.normal(0, amp, size=(lh, lw, 1)) + rng.normal(0, 0.3 * amp, size=low.shape)
    image = cv2.resize(np.clip(low, 0, 255).astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)

    if rng.random() < 0.5:  # a floor below a horizon line
        y0 = rng.uniform(0.35, 0.75) * h
        tilt = rng.uniform(-0.08, 0.08) * h
        floor = np.array([[0, y0 - tilt], [w - 1, y0 + tilt], [w - 1, h - 1], [0, h - 1]])
        (fc,) = _random_colours(rng, 1, sat=(0.05, 0.4), val=(0.2, 0.7))
        cv2.fillConvexPoly(image, np.round(floor * _FP).astype(np.int32), _col(fc), cv2.LINE_AA, SHIFT)
        for x in rng.uniform(-0.5, 1.5, rng.integers(0, 6)) * w:  # floor seams in perspective
            a = (w / 2 + (x - w / 2) * 0.3, y0)
            cv2.line(image, _fp(a), _fp((x, h - 1)), _col(fc, 0.8), 1, cv2.LINE_AA, SHIFT)

    boxes: List[Tuple[float, float, float, float]] = []
    limb_like: List[bool] = []
    n_clutter = int(rng.integers(clutter[0], clutter[1] + 1))
    colours = _random_colours(rng, max(n_clutter, 1))
    for i in range(n_clutter):
        boxes.append(_clutter_shape(rng, image, colours[i], w, h))
        limb_like.append(False)
    n_limbs = int(rng.integers(distractors[0], distractors[1] + 1))
    for _ in range(n_limbs):
        boxes.append(_limb_distractor(rng, image, w, h))
        limb_like.append(True)
    return image, np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(limb_like, bool)


def _clutter_shape(rng: np.random.Generator, image: np.ndarray, colour: np.ndarray, w: int, h: int):
    kind = int(rng.integers(0, 5))
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    sx, sy = rng.uniform(8, 0.3 * w), rng.uniform(8, 0.3 * h)
    col = _col(colour)
    if kind == 0:  # rectangle, filled or outlined
        p0, p1 = (cx - sx / 2, cy - sy / 2), (cx + sx / 2, cy + sy / 2)
        thick = -1 if rng.random() < 0.6 else int(rng.integers(1, 5))
        cv2.rectangle(image, _fp(p0), _fp(p1), col, thick, cv2.LINE_AA, SHIFT)
        if thick == -1 and rng.random() < 0.5:  # striped box
            for y in np.arange(p0[1], p1[1], max(3.0, sy / rng.integers(3, 8))):
                cv2.line(image, _fp((p0[0], y)), _fp((p1[0], y)), _col(colour, 0.6), 1, cv2.LINE_AA, SHIFT)
        return (p0[0], p0[1], p1[0], p1[1])
    if kind == 1:  # ellipse
        ang = float(rng.uniform(0, 180))
        cv2.ellipse(image, _fp((cx, cy)), _fp((sx / 2, sy / 2)), ang, 0, 360, col, -1, cv2.LINE_AA, SHIFT)
        r = max(sx, sy) / 2
        return (cx - r, cy - r, cx + r, cy + r)
    if kind == 2:  # polyline
        pts = np.stack([rng.uniform(cx - sx, cx + sx, 4), rng.uniform(cy - sy, cy + sy, 4)], axis=1)
        cv2.polylines(image, [np.round(pts * _FP).astype(np.int32)], False, col,
                      int(rng.integers(1, 6)), cv2.LINE_AA, SHIFT)
        return (*pts.min(axis=0), *pts.max(axis=0))
    if kind == 3:  # triangle
        pts = np.stack([rng.uniform(cx - sx / 2, cx + sx / 2, 3), rng.uniform(cy - sy / 2, cy + sy / 2, 3)], axis=1)
        cv2.fillConvexPoly(image, np.round(pts * _FP).astype(np.int32), col, cv2.LINE_AA, SHIFT)
        return (*pts.min(axis=0), *pts.max(axis=0))
    # a thin pole
    x, top, bottom = cx, cy - sy, cy + sy
    thick = int(rng.integers(2, 10))
    cv2.line(image, _fp((x, top)), _fp((x, bottom)), col, thick, cv2.LINE_AA, SHIFT)
    return (x - thick / 2, top, x + thick / 2, bottom)


def _limb_distractor(rng: np.random.Generator, image: np.ndarray, w: int, h: int):
    """One or two connected shaded capsules with joint discs, sized like a person's limbs."""
    body_h = rng.uniform(60, 300)
    width = body_h * rng.uniform(0.045, 0.09)
    (colour,) = _random_colours(rng, 1, sat=(0.2, 0.8), val=(0.3, 0.95))
    a = np.array([rng.uniform(0, w), rng.uniform(0, h)])
    pts = [a]
    for _ in range(int(rng.integers(1, 3))):
        ang = rng.uniform(0, 2 * np.pi)
        pts.append(pts[-1] + body_h * rng.uniform(0.14, 0.25) * np.array([np.cos(ang), np.sin(ang)]))
    t = max(1, int(round(width)))
    for p, q in zip(pts[:-1], pts[1:]):
        cv2.line(image, _fp(p), _fp(q), _col(colour, 0.78), t, cv2.LINE_AA, SHIFT)
        cv2.line(image, _fp(p - 0.15 * width), _fp(q - 0.15 * width), _col(colour, 1.08),
                 max(1, int(round(0.45 * width))), cv2.LINE_AA, SHIFT)
        if rng.random() < 0.5:  # bands, like a person's left sleeve
            d = q - p
            n = np.array([-d[1], d[0]]) / max(np.hypot(*d), 1e-6) * width * 0.47
            m0, m1 = p + d * 0.4, p + d * 0.52
            quad = np.stack([m0 - n, m0 + n, m1 + n, m1 - n])
            cv2.fillConvexPoly(image, np.round(quad * _FP).astype(np.int32), _col(colour, 0.3), cv2.LINE_AA, SHIFT)
    for p in pts[1:]:
        cv2.circle(image, _fp(p), max(8, int(round(0.55 * width * _FP))), _col(colour, 0.7), -1, cv2.LINE_AA, SHIFT)
    arr = np.stack(pts)
    r = width / 2 + 1
    return (*(arr.min(axis=0) - r), *(arr.max(axis=0) + r))


@lru_cache(maxsize=8)
def _grain_tiles(width: int, height: int, std: float) -> Tuple[np.ndarray, np.ndarray]:
    gen = np.random.default_rng(20240607)
    noise = gen.normal(0, std, size=(height + 32, width + 32, 3)).astype(np.float32)
    pos = np.clip(noise, 0, 255).astype(np.uint8)
    neg = np.clip(-noise, 0, 255).astype(np.uint8)
    pos.setflags(write=False)
    neg.setflags(write=False)
    return pos, neg


def add_grain(rng: np.random.Generator, image: np.ndarray, std: float) -> None:
    """Add zero-mean pixel grain of std ``std`` grey levels to ``image`` in place (saturating)."""
    if std <= 0:
        return
    h, w = image.shape[:2]
    pos, neg = _grain_tiles(w, h, float(std))
    ox, oy = int(rng.integers(0, 33)), int(rng.integers(0, 33))
    cv2.add(image, pos[oy:oy + h, ox:ox + w], dst=image)
    cv2.subtract(image, neg[oy:oy + h, ox:ox + w], dst=image)
