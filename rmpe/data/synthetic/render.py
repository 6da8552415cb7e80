"""Drawing synthetic people with OpenCV: appearance sampling and the per-person painter.

A person is painted as shaded capsules (limbs), a convex torso, an elliptic head with hair,
eyes, nose and ears, and a disc on every joint (the visual anchor of each keypoint). Its
parts are sorted by depth, so far limbs disappear behind the torso. Every part is painted
twice: anti-aliased into the image, and as a hard silhouette (value 255) into the person's
own mask, which the scene turns into the occlusion label map.

Appearance rules that make the world learnable: the person's *left* sleeve and trouser
leg carry contrasting bands, the right ones are plain; joints are darker discs; the face
(eyes, nose) is shown only on the side turned to the camera and hair covers the back of the
head, so front and back views differ.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Tuple

import cv2
import numpy as np

from .body import (
    CHEST, CHEST_IN, HEAD, HEAD_FWD, HEAD_UP, L_HAND, L_TOE, NECK, NUM_POINTS, PELVIS, R_HAND, R_TOE,
    TORSO_CORNERS, BodyShape,
)

SHIFT = 4  # fractional bits of OpenCV drawing coordinates
_FP = float(1 << SHIFT)

# Limb widths (diameters) in standing heights, before the per-person girth factor.
W_UPPER_ARM, W_FOREARM, W_THIGH, W_SHIN, W_NECK, W_FOOT, R_HAND_DISC = 0.058, 0.047, 0.088, 0.066, 0.05, 0.042, 0.03

_SKIN = np.array([[188, 206, 238], [140, 172, 222], [104, 140, 196], [72, 104, 160], [46, 66, 110]], np.float64)
_HAIR = np.array([[22, 22, 26], [32, 52, 92], [96, 172, 214], [150, 150, 152], [40, 70, 150]], np.float64)


@dataclass
class Looks:
    """Appearance of N people; colours are BGR floats (N, 3)."""

    skin: np.ndarray
    hair: np.ndarray
    shirt: np.ndarray
    pants: np.ndarray
    shoes: np.ndarray
    shirt_band: np.ndarray  #: band colour on the left sleeve
    pants_band: np.ndarray  #: band colour on the left trouser leg
    emblem: np.ndarray
    pattern: np.ndarray  #: (N,) int: 0 plain shirt, 1 striped, 2 chest emblem
    long_sleeves: np.ndarray  #: (N,) bool

    def row(self, i: int) -> "Looks":
        return Looks(**{k: v[i] for k, v in self.__dict__.items()})


def _hsv_to_bgr(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    if len(h) == 0:  # OpenCV rejects an empty image
        return np.zeros((0, 3))
    hsv = np.stack([h * 180.0, s * 255.0, v * 255.0], axis=-1).astype(np.uint8)[None]
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0].astype(np.float64)


def _contrast(colour: np.ndarray) -> np.ndarray:
    """A band colour that stands out from ``colour`` (dark on light cloth, light on dark)."""
    lum = colour @ np.array([0.114, 0.587, 0.299])
    return np.where((lum > 120)[:, None], colour * 0.3, colour * 0.35 + 165.0)


def sample_looks(rng: np.random.Generator, n: int) -> Looks:
    """Random clothing, skin and hair colours for N people."""
    skin = _SKIN[rng.integers(0, len(_SKIN), n)] + rng.normal(0, 8, (n, 3))
    hair = _HAIR[rng.integers(0, len(_HAIR), n)] + rng.normal(0, 6, (n, 3))
    shirt = _hsv_to_bgr(rng.random(n), rng.uniform(0.35, 0.9, n), rng.uniform(0.35, 0.95, n))
    pants = _hsv_to_bgr(rng.random(n), rng.uniform(0.2, 0.8, n), rng.uniform(0.2, 0.6, n))
    shoes = np.repeat(rng.uniform(15, 70, (n, 1)), 3, axis=1) + rng.normal(0, 8, (n, 3))
    emblem = _hsv_to_bgr(rng.random(n), rng.uniform(0.5, 1.0, n), rng.uniform(0.6, 1.0, n))
    light = rng.uniform(0.82, 1.12, (n, 1))
    return Looks(
        skin=np.clip(skin * light, 0, 255), hair=np.clip(hair * light, 0, 255),
        shirt=np.clip(shirt * light, 0, 255), pants=np.clip(pants * light, 0, 255),
        shoes=np.clip(shoes, 0, 255), shirt_band=_contrast(shirt * light),
        pants_band=_contrast(pants * light), emblem=emblem,
        pattern=rng.integers(0, 3, n), long_sleeves=rng.random(n) < 0.5,
    )


def limb_widths(shape: BodyShape, height_px: np.ndarray) -> dict:
    """Pixel diameters of each limb for N people (each (N,)), at least 1.5 px."""
    g = shape.girth * height_px
    w = {
        "upper_arm": W_UPPER_ARM * g, "forearm": W_FOREARM * g, "thigh": W_THIGH * g,
        "shin": W_SHIN * g, "neck": W_NECK * g, "foot": W_FOOT * g, "hand": R_HAND_DISC * g,
    }
    w = {k: np.maximum(v, 1.5) for k, v in w.items()}
    w["head_r"] = np.maximum(shape.head_r * height_px, 2.0)
    return w


def point_radii(widths: dict) -> np.ndarray:
    """(N, NUM_POINTS) how far paint reaches beyond each body point (px), for extents."""
    n = len(widths["thigh"])
    r = np.zeros((n, NUM_POINTS))
    hr = widths["head_r"]
    r[:, HEAD] = 1.3 * hr
    r[:, [0, 1, 2]] = 0.25 * hr[:, None]
    r[:, [3, 4]] = 0.3 * hr[:, None]
    r[:, [5, 6]] = 0.62 * widths["upper_arm"][:, None]
    r[:, [7, 8]] = 0.62 * widths["upper_arm"][:, None]
    r[:, [9, 10]] = 0.6 * widths["forearm"][:, None]
    r[:, [11, 12, 13, 14]] = 0.62 * widths["thigh"][:, None]
    r[:, [15, 16]] = 0.6 * widths["shin"][:, None]
    r[:, [L_HAND, R_HAND]] = widths["hand"][:, None]
    r[:, [L_TOE, R_TOE]] = 0.6 * widths["foot"][:, None]
    r[:, NECK] = 0.6 * widths["neck"]
    return r + 1.0


# ----------------------------------------------------------------------------- painter


def _fp(p) -> Tuple[int, int]:
    """A point (x, y) in pixels as OpenCV fixed-point integers."""
    return int(round(p[0] * _FP)), int(round(p[1] * _FP))


def _col(c, k: float = 1.0) -> Tuple[float, float, float]:
    """A BGR colour scaled by ``k`` and clipped to 0..255, as a tuple for OpenCV."""
    return (min(255.0, max(0.0, float(c[0]) * k)), min(255.0, max(0.0, float(c[1]) * k)),
            min(255.0, max(0.0, float(c[2]) * k)))


class _Canvas:
    """Paints into the image (anti-aliased) and into a person's ROI mask (hard, 255).

    Points are (x, y) tuples of floats in image pixels; colours are BGR tuples.
    """

    def __init__(self, image: np.ndarray, mask: np.ndarray, origin: Tuple[int, int]):
        self.image, self.mask = image, mask
        self.ox, self.oy = int(origin[0] * _FP), int(origin[1] * _FP)

    def _m(self, p: Tuple[int, int]) -> Tuple[int, int]:
        return p[0] - self.ox, p[1] - self.oy

    def capsule(self, a, b, width: float, colour, shade: bool = True) -> None:
        pa, pb = _fp(a), _fp(b)
        t = max(1, int(round(width)))
        if shade and width >= 3:
            cv2.line(self.image, pa, pb, _col(colour, 0.78), t, cv2.LINE_AA, SHIFT)
            dx, dy = b[0] - a[0], b[1] - a[1]
            norm = max(math.hypot(dx, dy), 1e-6)
            nx, ny = -dy / norm, dx / norm
            if nx + ny > 0:  # light from the top left
                nx, ny = -nx, -ny
            ox, oy = nx * 0.18 * width, ny * 0.18 * width
            hi = max(1, int(round(width * 0.45)))
            cv2.line(self.image, _fp((a[0] + ox, a[1] + oy)), _fp((b[0] + ox, b[1] + oy)),
                     _col(colour, 1.08), hi, cv2.LINE_AA, SHIFT)
        else:
            cv2.line(self.image, pa, pb, _col(colour), t, cv2.LINE_AA, SHIFT)
        cv2.line(self.mask, self._m(pa), self._m(pb), 255, t, cv2.LINE_8, SHIFT)

    def disc(self, c, radius: float, colour, mask: bool = True, min_radius: float = 1.25) -> None:
        """A filled disc; the mask disc is at least 1.25 px wide so that it always covers the
        pixel nearest to its centre (OpenCV's fixed-point rounding can miss it below that)."""
        pc, r = _fp(c), int(round(radius * _FP))
        cv2.circle(self.image, pc, max(r, int(min_radius * _FP)), _col(colour), -1, cv2.LINE_AA, SHIFT)
        if mask:
            cv2.circle(self.mask, self._m(pc), max(r, int(1.25 * _FP)), 255, -1, cv2.LINE_8, SHIFT)

    def polygon(self, pts: np.ndarray, colour, mask: bool = True) -> None:
        p = np.round(np.asarray(pts) * _FP).astype(np.int32)
        cv2.fillConvexPoly(self.image, p, _col(colour), cv2.LINE_AA, SHIFT)
        if mask:
            cv2.fillConvexPoly(self.mask, p - np.array([self.ox, self.oy], np.int32), 255, cv2.LINE_8, SHIFT)

    def ellipse(self, c, axes, angle: float, colour) -> None:
        pc = _fp(c)
        ax = (max(int(round(axes[0] * _FP)), 8), max(int(round(axes[1] * _FP)), 8))
        cv2.ellipse(self.image, pc, ax, angle, 0, 360, _col(colour), -1, cv2.LINE_AA, SHIFT)
        cv2.ellipse(self.mask, self._m(pc), ax, angle, 0, 360, 255, -1, cv2.LINE_8, SHIFT)

    def limb(self, a, b, width: float, colour, band=None) -> None:
        """A shaded limb capsule a->b; with a ``band`` colour also the left-side marking (:meth:`bands`)."""
        self.capsule(a, b, width, colour)
        if band is not None:
            self.bands(a, b, width, band)

    def bands(self, a, b, width: float, colour, fractions=(0.3, 0.58)) -> None:
        """Two bands across the limb a->b (the left-side marking), each 12 % of its length."""
        dx, dy = b[0] - a[0], b[1] - a[1]
        length = math.hypot(dx, dy)
        if length < 2.0:
            return
        k = 0.5 * width * 0.95 / length
        nx, ny = -dy * k, dx * k
        col = _col(colour)
        for t in fractions:
            x0, y0 = a[0] + dx * t, a[1] + dy * t
            x1, y1 = x0 + dx * 0.12, y0 + dy * 0.12
            quad = np.array([[x0 - nx, y0 - ny], [x0 + nx, y0 + ny], [x1 + nx, y1 + ny], [x1 - nx, y1 - ny]])
            cv2.fillConvexPoly(self.image, np.round(quad * _FP).astype(np.int32), col, cv2.LINE_AA, SHIFT)


def draw_person(
    image: np.ndarray,
    mask: np.ndarray,
    origin: Tuple[int, int],
    xy: np.ndarray,
    depth: np.ndarray,
    widths: dict,
    look: Looks,
) -> None:
    """Paint one person into ``image`` and its silhouette into ``mask``.

    Args:
        image: (H, W, 3) uint8 BGR scene, painted in place.
        mask: (h, w) uint8 zeros, the person's region of interest; its pixel (0, 0) is image
            pixel ``origin`` (x, y). Painted 255 where the person is.
        origin: (x, y) image pixel of the mask's top-left pixel.
        xy: (NUM_POINTS, 2) body points in image pixels (pixel centres at integers).
        depth: (NUM_POINTS,) depth of each point in pixels (larger = nearer the camera).
        widths: this person's limb widths (scalars, see :func:`limb_widths`).
        look: this person's appearance (one row of :class:`Looks`).
    """
    cv = _Canvas(image, mask, origin)
    hr = float(widths["head_r"])
    P = xy.tolist()
    D = depth.tolist()
    shirt, pants, skin = _col(look.shirt), _col(look.pants), _col(look.skin)
    shirt_band, pants_band = _col(look.shirt_band), _col(look.pants_band)
    sleeve = bool(look.long_sleeves)
    w_ua, w_fa, w_th, w_sh = (float(widths[k]) for k in ("upper_arm", "forearm", "thigh", "shin"))

    parts: List[Tuple[float, int, tuple]] = [
        (D[NECK] - 0.8 * hr, 0, ("neck",)),
        (sum(D[i] for i in TORSO_CORNERS) / len(TORSO_CORNERS), 1, ("torso",)),
        (D[HEAD] + 0.15 * hr, 2, ("head",)),
    ]
    bias = 0.3 * hr  # limbs win depth ties against the torso
    for side, (sho, elb, wri, hand, hip, kne, ank, toe) in enumerate(
        ((5, 7, 9, L_HAND, 11, 13, 15, L_TOE), (6, 8, 10, R_HAND, 12, 14, 16, R_TOE))
    ):
        parts.append(((D[sho] + D[elb]) / 2 + bias, 3, ("upper_arm", side, sho, elb)))
        parts.append(((D[elb] + D[wri]) / 2 + bias, 3, ("forearm", side, elb, wri, hand)))
        parts.append(((D[hip] + D[kne]) / 2 + bias, 3, ("thigh", side, hip, kne)))
        parts.append(((D[kne] + D[ank]) / 2 + bias, 3, ("shin", side, kne, ank, toe)))
    parts.sort(key=lambda p: (p[0], p[1]))

    for _, _, part in parts:
        kind = part[0]
        if kind == "neck":
            cv.capsule(P[NECK], P[HEAD], float(widths["neck"]), skin)
        elif kind == "torso":
            _draw_torso(cv, xy, depth, look, widths)
        elif kind == "head":
            _draw_head(cv, P, D, look, hr)
        elif kind == "upper_arm":
            _, side, a, b = part
            cv.disc(P[a], 0.6 * w_ua, _col(shirt, 0.85))  # shoulder
            cv.limb(P[a], P[b], w_ua, shirt, shirt_band if side == 0 else None)
        elif kind == "forearm":
            _, side, a, b, hand = part
            cloth = shirt if sleeve else skin
            cv.limb(P[a], P[b], w_fa, cloth, shirt_band if side == 0 and sleeve else None)
            cv.disc(P[a], 0.58 * w_ua, _col(cloth, 0.72))  # elbow
            cv.disc(P[hand], float(widths["hand"]), skin)
            cv.disc(P[b], 0.55 * w_fa, _col(cloth, 0.6 if sleeve else 0.7))  # wrist cuff
        elif kind == "thigh":
            _, side, a, b = part
            cv.disc(P[a], 0.55 * w_th, _col(pants, 0.85))  # hip
            cv.limb(P[a], P[b], w_th, pants, pants_band if side == 0 else None)
        else:  # shin and foot
            _, side, a, b, toe = part
            cv.limb(P[a], P[b], w_sh, pants, pants_band if side == 0 else None)
            cv.disc(P[a], 0.56 * w_th, _col(pants, 0.7))  # knee
            cv.capsule(P[b], P[toe], float(widths["foot"]), look.shoes, shade=False)
            cv.disc(P[b], 0.55 * w_sh, _col(look.shoes * 0.6 + 90.0))  # ankle (sock)


def _draw_torso(cv: _Canvas, xy: np.ndarray, depth: np.ndarray, look: Looks, widths: dict) -> None:
    corners = xy[list(TORSO_CORNERS)].astype(np.float32)
    hull = cv2.convexHull(corners)[:, 0, :].astype(np.float64)
    cv.polygon(hull, _col(look.shirt, 0.8))
    centre = hull.mean(axis=0)
    cv.polygon(centre + (hull - centre) * 0.72 - 0.04 * np.ptp(hull, axis=0), _col(look.shirt), mask=False)
    axis = xy[NECK] - xy[PELVIS]
    length = float(np.hypot(axis[0], axis[1]))
    if look.pattern == 1 and length > 6:
        # Stripes across the trunk, between the extreme hull points at each height.
        perp = np.array([-axis[1], axis[0]]) / length
        across = (hull - xy[PELVIS]) @ perp
        lo, hi = across.min(), across.max()
        thick = max(1, int(round(0.045 * length)))
        inset = 0.5 * thick
        if hi - lo > 2 * inset + 1:
            for t in (0.25, 0.45, 0.65):
                base = xy[PELVIS] + axis * t
                a, b = base + perp * (lo + inset), base + perp * (hi - inset)
                cv2.line(cv.image, _fp(a), _fp(b), _col(look.shirt_band), thick, cv2.LINE_AA, SHIFT)
    elif look.pattern == 2:
        d = np.array([*(xy[CHEST] - xy[CHEST_IN]), depth[CHEST] - depth[CHEST_IN]])
        if d[2] > 0.7 * np.linalg.norm(d):  # chest turned to the camera
            cv.disc(xy[CHEST], 0.3 * float(widths["thigh"]), _col(look.emblem), mask=False)


def _draw_head(cv: _Canvas, P: list, D: list, look: Looks, hr: float) -> None:
    cx, cy = P[HEAD]
    ux, uy = P[HEAD_UP][0] - cx, P[HEAD_UP][1] - cy
    fx, fy = P[HEAD_FWD][0] - cx, P[HEAD_FWD][1] - cy
    fz = (D[HEAD_FWD] - D[HEAD]) / hr  # forward normal towards the camera
    up_len = math.hypot(ux, uy)
    angle = math.degrees(math.atan2(uy, ux)) + 90.0 if up_len > 0.3 * hr else 0.0
    side = min(1.0, math.hypot(fx, fy) / hr)
    axes = (hr * (0.88 + 0.17 * side), hr * 1.1)
    skin = _col(look.skin)
    ear_r = 0.25 * hr
    near_ears = []
    for ear in (3, 4):
        if D[ear] < D[HEAD]:
            cv.disc(P[ear], ear_r, _col(skin, 0.85))
        else:
            near_ears.append(ear)
    cv.ellipse((cx, cy), axes, angle, skin)
    # Nose: skin when the face is turned to the camera, else part of the hair at the back.
    cv.disc(P[0], 0.2 * hr, _col(skin, 0.9) if fz > -0.2 else _col(look.hair))
    for eye in (1, 2):  # eyes on the far side of the head: under the hair
        if (D[eye] - D[HEAD]) / hr <= 0.3:
            cv.disc(P[eye], 0.16 * hr, _col(look.hair))
    cover = min(max(-fz, 0.0), 1.0)
    if up_len > 1e-6:
        ux, uy = ux / up_len, uy / up_len
    else:
        ux, uy = 0.0, -1.0
    k = hr * 0.38 * (1 - cover)
    hair_c = (cx + ux * k - fx * 0.4, cy + uy * k - fy * 0.4)
    cv.ellipse(hair_c, (axes[0] * 0.95, axes[1] * (0.68 + 0.3 * cover)), angle, _col(look.hair))
    for eye in (1, 2):
        if (D[eye] - D[HEAD]) / hr > 0.3:
            cv.disc(P[eye], 0.16 * hr, (245.0, 245.0, 245.0), min_radius=0.7)
            cv.disc(P[eye], 0.09 * hr, (30.0, 20.0, 20.0), mask=False, min_radius=0.5)
    for ear in near_ears:
        cv.disc(P[ear], ear_r, _col(skin, 0.9))
