"""A simulated person detector with the error modes of a real one.

It reads the ground truth of a synthetic scene and produces boxes the way a real detector
errs (pose-dependent cuts and looseness, jitter, duplicates, false positives on clutter,
misses of small and occluded people); :class:`~rmpe.data.synthetic.config.SimulatedDetectorConfig`
documents every parameter. It is the adversary that the symmetric STN, PGPG and pose NMS
are measured against.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .config import SimulatedDetectorConfig

#: Values of :attr:`SimulatedDetections.kind`.
KIND_PERSON, KIND_DUPLICATE, KIND_FALSE_POSITIVE = 0, 1, 2


@dataclass
class SimulatedDetections:
    """Detections of one image, sorted by descending score (stable).

    Attributes:
        boxes: (D, 4) float32 xyxy image boxes (pixel-centre convention, like the GT bboxes).
        scores: (D,) float32 in (0, 1).
        source: (D,) int64 index into the scene's ``people`` list, -1 for false positives.
        kind: (D,) int64: 0 a person's main box, 1 a duplicate, 2 a false positive.
    """

    boxes: np.ndarray
    scores: np.ndarray
    source: np.ndarray
    kind: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


def pose_biased_boxes(
    boxes: np.ndarray, core: np.ndarray, extent: np.ndarray, heights: np.ndarray, config: SimulatedDetectorConfig
) -> np.ndarray:
    """The deterministic, pose-dependent part of the detector error.

    Args:
        boxes: (N, 4) xyxy ground-truth boxes (visible mask extent).
        core: (N, 4) xyxy boxes of each person's head, neck and torso.
        extent: (N, 4) xyxy boxes of each whole body (also outside the image).
        heights: (N,) standing heights in px.
        config: detector settings.

    Returns:
        (N, 4) xyxy boxes: raised arms cut at the top, spread limbs cut at the sides (beyond
        ``side_margin`` heights from the core), compact (crouching) people framed too loosely.
    """
    out = boxes.astype(np.float64).copy()
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    out[:, 1] += config.top_cut * np.maximum(core[:, 1] - boxes[:, 1], 0.0)
    margin = config.side_margin * heights
    out[:, 0] += config.side_cut * np.maximum(core[:, 0] - margin - boxes[:, 0], 0.0)
    out[:, 2] -= config.side_cut * np.maximum(boxes[:, 2] - core[:, 2] - margin, 0.0)
    reach = np.maximum(extent[:, 2] - extent[:, 0], extent[:, 3] - extent[:, 1]) / np.maximum(heights, 1e-6)
    loose = config.crouch_loose * np.clip(1.0 - reach / config.crouch_threshold, 0.0, None)
    out += loose[:, None] * np.stack([-w, -h, w, h], axis=1)
    return out


def _miss_probability(box_h: np.ndarray, occlusion: np.ndarray, config: SimulatedDetectorConfig) -> np.ndarray:
    p_small = np.where(box_h < config.miss_small_height, config.miss_small_prob, 0.0)
    span = max(1.0 - config.miss_occlusion_start, 1e-6)
    p_occ = config.miss_occlusion_prob * np.clip((occlusion - config.miss_occlusion_start) / span, 0.0, 1.0)
    return 1.0 - (1.0 - config.miss_prob) * (1.0 - p_small) * (1.0 - p_occ)


def _person_like_box(rng: np.random.Generator, cx: float, cy: float, h: float) -> Tuple[float, float, float, float]:
    w = h * rng.uniform(0.3, 0.7)
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def simulate_detections(
    rng: np.random.Generator,
    people: Sequence[dict],
    size: Tuple[int, int],
    clutter_boxes: Optional[np.ndarray] = None,
    limb_like: Optional[np.ndarray] = None,
    config: Optional[SimulatedDetectorConfig] = None,
) -> SimulatedDetections:
    """Detect the people of a synthetic scene the way a real detector would.

    Args:
        rng: random generator (use a stream separate from the scene's).
        people: the scene's people (dicts with ``bbox`` xywh, ``core`` and ``extent`` xyxy,
            ``height``, ``occlusion``; see :class:`~rmpe.data.synthetic.scene.SyntheticScene`).
        size: image (width, height).
        clutter_boxes: (M, 4) xyxy clutter boxes where false positives may appear.
        limb_like: (M,) bool, clutter that looks like limbs (preferred by false positives).
        config: error model; defaults to :class:`SimulatedDetectorConfig`.

    Returns:
        :class:`SimulatedDetections`.
    """
    config = config or SimulatedDetectorConfig()
    width, height = size
    n = len(people)
    boxes_out: List[np.ndarray] = []
    scores_out: List[float] = []
    source_out: List[int] = []
    kind_out: List[int] = []

    if n:
        gt = np.array([p["bbox"] for p in people], np.float64)
        gt[:, 2:] += gt[:, :2]
        core = np.array([p["core"] for p in people], np.float64)
        extent = np.array([p["extent"] for p in people], np.float64)
        heights = np.array([p["height"] for p in people], np.float64)
        occlusion = np.array([p["occlusion"] for p in people], np.float64)
        bw, bh = gt[:, 2] - gt[:, 0], gt[:, 3] - gt[:, 1]
        biased = pose_biased_boxes(gt, core, extent, heights, config)
        jitter = rng.normal(0.0, config.jitter, size=(n, 4)) * np.stack([bw, bh, bw, bh], axis=1)
        det = biased + jitter
        missed = rng.random(n) < _miss_probability(bh, occlusion, config)
        small = np.clip((config.score_small_height - bh) / config.score_small_height, 0.0, 1.0)
        score = (config.score_base - config.score_occlusion * occlusion - config.score_small * small
                 + rng.normal(0.0, config.score_std, size=n))
        score = np.clip(score, config.score_min, 0.999)
        dup_u = rng.random(n)
        for i in range(n):  # a few people per image; duplicates need a variable count
            if missed[i]:
                continue
            boxes_out.append(det[i])
            scores_out.append(float(score[i]))
            source_out.append(i)
            kind_out.append(KIND_PERSON)
            if config.duplicate_max > 0 and dup_u[i] < config.duplicate_prob:
                for _ in range(int(rng.integers(1, config.duplicate_max + 1))):
                    dw, dh = det[i, 2] - det[i, 0], det[i, 3] - det[i, 1]
                    extra = rng.normal(0.0, config.duplicate_jitter, 4) * np.array([dw, dh, dw, dh])
                    boxes_out.append(det[i] + extra)
                    scores_out.append(float(score[i] * rng.uniform(*config.duplicate_score)))
                    source_out.append(i)
                    kind_out.append(KIND_DUPLICATE)

    n_fp = int(rng.poisson(config.false_positives)) if config.false_positives > 0 else 0
    clutter = np.zeros((0, 4)) if clutter_boxes is None else np.asarray(clutter_boxes, np.float64).reshape(-1, 4)
    limbs = np.zeros(len(clutter), bool) if limb_like is None else np.asarray(limb_like, bool)
    for _ in range(n_fp):
        if len(clutter) and rng.random() < config.fp_on_clutter:
            pool = np.flatnonzero(limbs) if limbs.any() and rng.random() < 0.7 else np.arange(len(clutter))
            c = clutter[pool[int(rng.integers(0, len(pool)))]]
            cx, cy = 0.5 * (c[0] + c[2]), 0.5 * (c[1] + c[3])
            h = max(c[3] - c[1], 1.5 * (c[2] - c[0]), 16.0) * rng.uniform(0.8, 1.3)
        else:
            cx, cy = rng.uniform(0, width), rng.uniform(0, height)
            h = float(np.exp(rng.uniform(np.log(24.0), np.log(max(0.6 * height, 25.0)))))
        boxes_out.append(np.array(_person_like_box(rng, cx, cy, h)))
        scores_out.append(float(rng.uniform(*config.fp_score)))
        source_out.append(-1)
        kind_out.append(KIND_FALSE_POSITIVE)

    boxes = np.array(boxes_out, np.float64).reshape(-1, 4)
    scores = np.array(scores_out, np.float64)
    source = np.array(source_out, np.int64)
    kind = np.array(kind_out, np.int64)
    if config.clip_to_image and len(boxes):
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], -0.5, width - 0.5)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], -0.5, height - 0.5)
    keep = ((boxes[:, 2] - boxes[:, 0]) >= config.min_size) & ((boxes[:, 3] - boxes[:, 1]) >= config.min_size)
    boxes, scores, source, kind = boxes[keep], scores[keep], source[keep], kind[keep]
    order = np.argsort(-scores, kind="stable")
    return SimulatedDetections(
        boxes=boxes[order].astype(np.float32), scores=scores[order].astype(np.float32),
        source=source[order], kind=kind[order],
    )
