"""One synthetic image in memory: people placed on a background, painted in depth order, annotated.

Keypoint visibility (the definition every consumer and test relies on). A keypoint at
``(x, y)`` (pixel centres at integers, values rounded to 2 decimals) falls on the pixel
``(floor(x + 0.5), floor(y + 0.5))``. Its flag is

* ``v = 0`` when that pixel is outside the image (the COCO JSON then stores ``0, 0, 0``);
* ``v = 2`` when the pixel belongs to the person's own final mask (after occlusion).
  Self-occlusion does not hide a joint: an elbow behind the person's own torso or the eyes of
  a head seen from behind lie on the person's own pixels and count as visible, because the
  joint's position is still defined by that body's silhouette;
* ``v = 1`` when the pixel is covered by a nearer person.

Every keypoint is painted onto its own person (a joint disc, or a face feature inside the
head), so no other case can arise. Boxes and areas come from the final mask: ``area`` is its
pixel count, ``bbox`` its extent in the pixel-centre convention, ``[x0 - 0.5, y0 - 0.5,
x1 - x0 + 1, y1 - y0 + 1]`` for the first/last mask columns x0, x1 and rows y0, y1 (add 0.5
to x and y to compare with ``pycocotools.mask.toBbox``, which puts pixel centres at +0.5).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np

from .background import add_grain, make_background
from .body import HEAD, NECK, TORSO_CORNERS, BodyShape, body_points, project, sample_shape
from .config import POSE_FAMILIES, SyntheticConfig
from .pose import PoseParams, sample_pose
from .render import Looks, draw_person, limb_widths, point_radii, sample_looks

K = 17


@dataclass
class SyntheticScene:
    """A rendered image with its people.

    Attributes:
        image: (H, W, 3) uint8 BGR.
        people: one dict per annotated person (final mask area > 0), in drawing-index order:
            ``keypoints`` (17, 3) float64 ``[x, y, v]`` in image pixels (x, y are kept for
            ``v = 0`` too, the true off-image position); ``bbox`` (4,) xywh; ``area`` int;
            ``pose_family`` str; ``index`` int (its value in ``owner``); ``depth_rank`` int
            (0 = farthest); ``height`` standing height px; ``occlusion`` fraction of its in-image
            pixels hidden by nearer people; ``extent`` (4,) xyxy of the whole body, also the
            parts outside the image; ``core`` (4,) xyxy of head, neck and torso; ``mask``
            (H, W) bool final mask when requested.
        owner: (H, W) int16 label map: the ``index`` of the person seen at each pixel, -1 for
            background.
        clutter_boxes: (M, 4) float32 xyxy boxes of background clutter.
        limb_like: (M,) bool, True where the clutter is a limb-like distractor.
    """

    image: np.ndarray
    people: List[dict]
    owner: np.ndarray
    clutter_boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    limb_like: np.ndarray = field(default_factory=lambda: np.zeros((0,), bool))


def sample_heights(rng: np.random.Generator, n: int, config: SyntheticConfig) -> np.ndarray:
    """(N,) standing heights in px, log-uniform in the small or the ordinary range."""
    lo, hi = config.height_range
    mid = config.small_height
    small = rng.random(n) < config.small_prob
    u = rng.random(n)
    log_small = np.log(lo) + u * (np.log(mid) - np.log(lo))
    log_big = np.log(mid) + u * (np.log(hi) - np.log(mid))
    return np.exp(np.where(small, log_small, log_big))


def body_geometry(
    pose: PoseParams,
    shape: BodyShape,
    heights: np.ndarray,
    positions: Optional[np.ndarray] = None,
    unit: Optional[Tuple[np.ndarray, np.ndarray]] = None,
) -> Tuple[np.ndarray, np.ndarray, dict, np.ndarray]:
    """Image geometry of N bodies.

    Args:
        pose, shape: the bodies.
        heights: (N,) standing heights in px.
        positions: (N, 2) pelvis positions in image px; None puts every pelvis at (0, 0).
        unit: the bodies' :func:`~rmpe.data.synthetic.body.project` output, if already computed.

    Returns:
        xy: (N, P, 2) body points in image px; depth: (N, P) in px (larger = nearer);
        widths: limb widths in px (each (N,)); extent: (N, 4) xyxy painted extent in px.
    """
    xy, depth = unit if unit is not None else project(body_points(pose, shape), pose.yaw, pose.roll)
    xy = xy * heights[:, None, None]
    depth = depth * heights[:, None]
    if positions is not None:
        xy = xy + positions[:, None, :]
    widths = limb_widths(shape, heights)
    radii = point_radii(widths)
    extent = np.concatenate([(xy - radii[..., None]).min(axis=1), (xy + radii[..., None]).max(axis=1)], axis=1)
    return xy, depth, widths, extent


def _place(
    rng: np.random.Generator, extent: np.ndarray, partial: np.ndarray, size: Tuple[int, int], config: SyntheticConfig
) -> np.ndarray:
    """(N, 2) pelvis positions; ``extent`` is relative to the pelvis (N, 4) xyxy."""
    w, h = size
    n = len(extent)
    pos = np.zeros((n, 2))
    placed: List[int] = []
    for i in range(n):  # a handful of people per image: the loop is scene setup, not a hot path
        x0, y0, x1, y1 = extent[i]
        ew, eh = x1 - x0, y1 - y0
        lo_x, hi_x = -x0, (w - 1) - x1
        lo_y, hi_y = -y0, (h - 1) - y1
        fx = rng.uniform(lo_x, hi_x) if hi_x > lo_x else 0.5 * (lo_x + hi_x)
        fy = rng.uniform(lo_y, hi_y) if hi_y > lo_y else 0.5 * (lo_y + hi_y)
        if partial[i]:
            cut = rng.uniform(*config.partial_cut)
            border = rng.choice(4, p=[0.55, 0.15, 0.15, 0.15])  # bottom, left, right, top
            if border == 0:
                fy = (h - 1) - y1 + cut * eh
            elif border == 1:
                fx = -x0 - cut * ew
            elif border == 2:
                fx = (w - 1) - x1 + cut * ew
            else:
                fy = -y0 - cut * eh
        elif placed and rng.random() < config.overlap_prob:
            j = placed[int(rng.integers(0, len(placed)))]
            jx0, jy0, jx1, jy1 = extent[j] + np.tile(pos[j], 2)
            gap = rng.uniform(0.2, 0.7) * 0.5 * (ew + (jx1 - jx0)) * rng.choice([-1.0, 1.0])
            cx = 0.5 * (jx0 + jx1) + gap
            fx = np.clip(cx - 0.5 * (x0 + x1), min(lo_x, hi_x), max(lo_x, hi_x))
            bottom = jy1 + rng.uniform(-0.15, 0.15) * eh
            fy = np.clip(bottom - y1, min(lo_y, hi_y), max(lo_y, hi_y))
        pos[i] = (fx, fy)
        placed.append(i)
    return pos


def render_people(
    image: np.ndarray,
    pose: PoseParams,
    shape: BodyShape,
    looks: Looks,
    heights: np.ndarray,
    positions: np.ndarray,
    order: Optional[np.ndarray] = None,
    return_masks: bool = False,
    unit: Optional[Tuple[np.ndarray, np.ndarray]] = None,
) -> Tuple[List[dict], np.ndarray]:
    """Paint N people into ``image`` (in place) far to near and annotate them.

    Args:
        image: (H, W, 3) uint8 BGR background, painted in place.
        pose, shape, looks: the N bodies.
        heights: (N,) standing heights in px.
        positions: (N, 2) pelvis positions in image px.
        order: (N,) drawing order, far to near; default: by the lowest painted row (people
            lower in the image stand nearer the camera).
        return_masks: add each person's final (H, W) bool mask as ``mask``.
        unit: the bodies' projection in standing heights, if already computed.

    Returns:
        people: the annotated people (see :class:`SyntheticScene`).
        owner: (H, W) int16 label map (person index or -1).
    """
    h, w = image.shape[:2]
    n = len(heights)
    xy, depth, widths, extent = body_geometry(pose, shape, heights, positions, unit)
    xy[:, :K] = np.round(xy[:, :K], 2)  # annotation precision; painting uses the same values
    if order is None:
        order = np.argsort(extent[:, 3], kind="stable")
    rank = np.empty(n, np.int64)
    rank[np.asarray(order, np.int64)] = np.arange(n)
    owner = np.full((h, w), -1, np.int16)
    raw_area = np.zeros(n, np.int64)
    rois = np.zeros((n, 4), np.int64)
    for i in order:  # painter's algorithm: one person at a time
        x0, y0 = max(int(np.floor(extent[i, 0])), 0), max(int(np.floor(extent[i, 1])), 0)
        x1, y1 = min(int(np.ceil(extent[i, 2])) + 1, w), min(int(np.ceil(extent[i, 3])) + 1, h)
        rois[i] = (x0, y0, x1, y1)
        if x1 <= x0 or y1 <= y0:
            continue
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        draw_person(image, mask, (x0, y0), xy[i], depth[i], {k: v[i] for k, v in widths.items()}, looks.row(i))
        painted = mask > 0
        owner[y0:y1, x0:x1][painted] = i
        raw_area[i] = int(np.count_nonzero(painted))

    # Final masks: a person can only own pixels inside its own region of interest.
    area = np.zeros(n, np.int64)
    boxes = np.zeros((n, 4), np.int64)
    for i in range(n):
        x0, y0, x1, y1 = rois[i]
        if raw_area[i] == 0:
            continue
        sub = owner[y0:y1, x0:x1] == i
        cols = np.flatnonzero(sub.any(axis=0))
        if len(cols) == 0:
            continue
        rows = np.flatnonzero(sub.any(axis=1))
        area[i] = int(np.count_nonzero(sub[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]))
        boxes[i] = (x0 + cols[0], y0 + rows[0], x0 + cols[-1], y0 + rows[-1])
    kp = xy[:, :K]
    px = np.floor(kp[..., 0] + 0.5).astype(np.int64)
    py = np.floor(kp[..., 1] + 0.5).astype(np.int64)
    inside = (px >= 0) & (px < w) & (py >= 0) & (py < h)
    seen = owner[np.clip(py, 0, h - 1), np.clip(px, 0, w - 1)].astype(np.int64)
    own = seen == np.arange(n)[:, None]
    nearer = (seen >= 0) & (rank[np.clip(seen, 0, None)] > rank[:, None])
    vis = np.where(~inside, 0, np.where(own, 2, np.where(nearer, 1, -1)))
    if np.any(vis < 0):  # a keypoint not painted on its own body: a bug in the painter
        i, k = np.argwhere(vis < 0)[0]
        raise RuntimeError(f"synthetic person {i} keypoint {k} at {kp[i, k]} is not on its own mask")

    core_pts = xy[:, list(TORSO_CORNERS) + [NECK]]
    hr = widths["head_r"][:, None]
    core = np.concatenate(
        [np.minimum(core_pts.min(axis=1), xy[:, HEAD] - 1.1 * hr), np.maximum(core_pts.max(axis=1), xy[:, HEAD] + 1.1 * hr)],
        axis=1,
    )
    people = []
    for i in range(n):
        if area[i] == 0:
            continue
        bx0, by0, bx1, by1 = boxes[i]
        person = {
            "keypoints": np.concatenate([kp[i], vis[i][:, None].astype(np.float64)], axis=1),
            "bbox": np.array([bx0 - 0.5, by0 - 0.5, bx1 - bx0 + 1, by1 - by0 + 1], np.float64),
            "area": int(area[i]),
            "pose_family": str(pose.family[i]),
            "index": int(i),
            "depth_rank": int(rank[i]),
            "height": float(heights[i]),
            "occlusion": float(1.0 - area[i] / raw_area[i]) if raw_area[i] else 0.0,
            "extent": extent[i].copy(),
            "core": core[i].copy(),
        }
        if return_masks:
            person["mask"] = owner == i
        people.append(person)
    return people, owner


def render_scene(
    rng: np.random.Generator,
    size: Optional[Tuple[int, int]] = None,
    config: Optional[SyntheticConfig] = None,
    *,
    return_masks: bool = False,
) -> SyntheticScene:
    """Render one random image of the synthetic world in memory.

    Args:
        rng: random generator; the same generator state gives the same image and people.
        size: (width, height) in px; None uses ``config.size`` (default 640x480).
        config: world settings (defaults: :class:`SyntheticConfig`).
        return_masks: also return each person's final mask.

    Returns:
        :class:`SyntheticScene`.
    """
    config = config or SyntheticConfig()
    w, h = (int(v) for v in (size if size is not None else config.size))
    image, clutter_boxes, limb_like = make_background(rng, (w, h), config.clutter, config.distractors)
    n = int(rng.integers(config.people[0], config.people[1] + 1))
    weights = np.asarray(config.pose_families.as_list())
    families = rng.choice(np.asarray(POSE_FAMILIES, dtype=object), size=n, p=weights / weights.sum())
    pose = sample_pose(rng, families)
    shape = sample_shape(rng, n)
    looks = sample_looks(rng, n)
    heights = sample_heights(rng, n, config)
    partial = families == "partial"
    unit = project(body_points(pose, shape), pose.yaw, pose.roll)
    _, _, _, rel = body_geometry(pose, shape, heights, unit=unit)
    # Shrink people who would not fit (partial people are meant to be cut by the border).
    fit = np.minimum((w - 2) / (rel[:, 2] - rel[:, 0]), (h - 2) / (rel[:, 3] - rel[:, 1]))
    shrink = np.where(partial, np.minimum(1.0, 1.6 * fit), np.minimum(1.0, fit))
    if np.any(shrink < 1.0):
        heights = heights * shrink
        _, _, _, rel = body_geometry(pose, shape, heights, unit=unit)
    positions = _place(rng, rel, partial, (w, h), config)
    jitter = rng.normal(0, 4.0, n)
    order = np.argsort(rel[:, 3] + positions[:, 1] + jitter, kind="stable")
    people, owner = render_people(image, pose, shape, looks, heights, positions, order, return_masks, unit)
    add_grain(rng, image, config.noise)
    return SyntheticScene(image=image, people=people, owner=owner, clutter_boxes=clutter_boxes, limb_like=limb_like)
