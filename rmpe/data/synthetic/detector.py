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


def _false_positive_box(
    rng: np.random.Generator, clutter: np.ndarray, limbs: np.ndarray, size: Tuple[int, int],
    config: SimulatedDetectorConfig,
) -> np.ndarray:
    """(4,) xyxy person-like box of one false positive: on clutter (limb-like first) or anywhere."""
    width, height = size
    if len(clutter) and rng.random() < config.fp_on_clutter:
        pool = np.flatnonzero(limbs) if limbs.any() and rng.random() < 0.7 else np.arange(len(clutter))
        c = clutter[pool[int(rng.integers(0, len(pool)))]]
        cx, cy = 0.5 * (c[0] + c[2]), 0.5 * (c[1] + c[3])
        h = max(c[3] - c[1], 1.5 * (c[2] - c[0]), 16.0) * rng.uniform(0.8, 1.3)
    else:
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        h = float(np.exp(rng.uniform(np.log(24.0), np.log(max(0.6 * height, 25.0)))))
    return np.array(_person_like_box(rng, cx, cy, h))


def _clutter(clutter_boxes: Optional[np.ndarray], limb_like: Optional[np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    clutter = np.zeros((0, 4)) if clutter_boxes is None else np.asarray(clutter_boxes, np.float64).reshape(-1, 4)
    limbs = np.zeros(len(clutter), bool) if limb_like is None else np.asarray(limb_like, bool)
    return clutter, limbs


def _person_arrays(people: Sequence[dict]) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """GT boxes (N, 4) xyxy, cores (N, 4), extents (N, 4), heights (N,), occlusion (N,) of a scene's people."""
    gt = np.array([p["bbox"] for p in people], np.float64).reshape(-1, 4)
    gt[:, 2:] += gt[:, :2]
    core = np.array([p["core"] for p in people], np.float64).reshape(-1, 4)
    extent = np.array([p["extent"] for p in people], np.float64).reshape(-1, 4)
    heights = np.array([p["height"] for p in people], np.float64)
    occlusion = np.array([p["occlusion"] for p in people], np.float64)
    return gt, core, extent, heights, occlusion


def _box_scale(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) ``[w, h, w, h]`` of (N, 4) xyxy boxes: turns side errors in box fractions into px."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return np.stack([w, h, w, h], axis=1)


def _person_scores(box_h: np.ndarray, occlusion: np.ndarray, noise: np.ndarray, config: SimulatedDetectorConfig) -> np.ndarray:
    """(N,) main-box scores: the occlusion and size penalties plus ``noise``, clipped."""
    small = np.clip((config.score_small_height - box_h) / config.score_small_height, 0.0, 1.0)
    score = config.score_base - config.score_occlusion * occlusion - config.score_small * small + noise
    return np.clip(score, config.score_min, 0.999)


def _finish(
    boxes: List[np.ndarray], scores: List[float], source: List[int], kind: List[int], size: Tuple[int, int],
    config: SimulatedDetectorConfig,
) -> SimulatedDetections:
    """Clip to the image, drop boxes below ``min_size``, sort by descending score (stable)."""
    width, height = size
    boxes_a = np.array(boxes, np.float64).reshape(-1, 4)
    scores_a = np.array(scores, np.float64)
    source_a = np.array(source, np.int64)
    kind_a = np.array(kind, np.int64)
    if config.clip_to_image and len(boxes_a):
        boxes_a[:, [0, 2]] = np.clip(boxes_a[:, [0, 2]], -0.5, width - 0.5)
        boxes_a[:, [1, 3]] = np.clip(boxes_a[:, [1, 3]], -0.5, height - 0.5)
    keep = ((boxes_a[:, 2] - boxes_a[:, 0]) >= config.min_size) & ((boxes_a[:, 3] - boxes_a[:, 1]) >= config.min_size)
    boxes_a, scores_a, source_a, kind_a = boxes_a[keep], scores_a[keep], source_a[keep], kind_a[keep]
    order = np.argsort(-scores_a, kind="stable")
    return SimulatedDetections(
        boxes=boxes_a[order].astype(np.float32), scores=scores_a[order].astype(np.float32),
        source=source_a[order], kind=kind_a[order],
    )


def simulate_detections(
    rng: np.random.Generator,
    people: Sequence[dict],
    size: Tuple[int, int],
    clutter_boxes: Optional[np.ndarray] = None,
    limb_like: Optional[np.ndarray] = None,
    config: Optional[SimulatedDetectorConfig] = None,
) -> SimulatedDetections:
    """Detect the people of a synthetic scene the way a real detector would.

    Every error is drawn anew for each call (a still image); :class:`VideoDetector` is the
    same model with errors that persist from frame to frame.

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
    n = len(people)
    boxes_out: List[np.ndarray] = []
    scores_out: List[float] = []
    source_out: List[int] = []
    kind_out: List[int] = []

    if n:
        gt, core, extent, heights, occlusion = _person_arrays(people)
        biased = pose_biased_boxes(gt, core, extent, heights, config)
        det = biased + rng.normal(0.0, config.jitter, size=(n, 4)) * _box_scale(gt)
        missed = rng.random(n) < _miss_probability(gt[:, 3] - gt[:, 1], occlusion, config)
        score = _person_scores(gt[:, 3] - gt[:, 1], occlusion, rng.normal(0.0, config.score_std, size=n), config)
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
                    extra = rng.normal(0.0, config.duplicate_jitter, 4) * _box_scale(det[i:i + 1])[0]
                    boxes_out.append(det[i] + extra)
                    scores_out.append(float(score[i] * rng.uniform(*config.duplicate_score)))
                    source_out.append(i)
                    kind_out.append(KIND_DUPLICATE)

    n_fp = int(rng.poisson(config.false_positives)) if config.false_positives > 0 else 0
    clutter, limbs = _clutter(clutter_boxes, limb_like)
    for _ in range(n_fp):
        boxes_out.append(_false_positive_box(rng, clutter, limbs, size, config))
        scores_out.append(float(rng.uniform(*config.fp_score)))
        source_out.append(-1)
        kind_out.append(KIND_FALSE_POSITIVE)
    return _finish(boxes_out, scores_out, source_out, kind_out, size, config)


def _switch(rng: np.random.Generator, on: np.ndarray, rate: float, run: float) -> np.ndarray:
    """One step of on/off Markov chains with stationary on-probability ``rate`` and mean on-run ``run``.

    Args:
        on: (M,) bool current states.

    Returns:
        (M,) bool next states: on -> off with probability ``1 / run``, off -> on with
        ``rate / (run (1 - rate))`` (clipped to 1), so ``rate`` is the long-run fraction on.
    """
    u = rng.random(len(on))
    if rate >= 1.0:
        return np.ones(len(on), bool)
    return np.where(on, u >= 1.0 / run, u < min(rate / (run * (1.0 - rate)), 1.0))


class VideoDetector:
    """The simulated detector of :func:`simulate_detections` with memory, for the frames of a video.

    Construct one per video and call it once per frame, in order. People are told apart by
    their ``index`` (the video's track id); a person's state survives frames in which it is
    not visible, and its AR(1) errors advance by the frames missed. The error model and the
    ``video_*`` settings are described in
    :class:`~rmpe.data.synthetic.config.SimulatedDetectorConfig`.

    Args:
        size: image (width, height).
        clutter_boxes: (M, 4) xyxy background clutter (false-positive sites sit there).
        limb_like: (M,) bool, limb-like clutter (preferred by false positives).
        config: error model; defaults to :class:`SimulatedDetectorConfig`.
        rng: draws the false-positive sites (use a stream separate from the frames').

    Example::

        detector = VideoDetector((w, h), clutter, limbs, config, rng=np.random.default_rng([seed, 0, 4]))
        for t, people in enumerate(frames):
            dets = detector(np.random.default_rng([seed, t, 1]), people)
    """

    def __init__(
        self,
        size: Tuple[int, int],
        clutter_boxes: Optional[np.ndarray] = None,
        limb_like: Optional[np.ndarray] = None,
        config: Optional[SimulatedDetectorConfig] = None,
        *,
        rng: np.random.Generator,
    ) -> None:
        self.size = (int(size[0]), int(size[1]))
        self.config = config or SimulatedDetectorConfig()
        c = self.config
        clutter, limbs = _clutter(clutter_boxes, limb_like)
        n_sites = int(np.ceil(c.false_positives / c.video_fp_duty - 1e-9)) if c.false_positives > 0 else 0
        self.site_rate = c.false_positives / n_sites if n_sites else 0.0
        #: (S, 4) xyxy false-positive sites and their (S,) base scores.
        self.sites = np.array([_false_positive_box(rng, clutter, limbs, self.size, c) for _ in range(n_sites)],
                              np.float64).reshape(-1, 4)
        self.site_scores = rng.uniform(*c.fp_score, size=n_sites)
        self.site_on = rng.random(n_sites) < self.site_rate
        self.site_err = rng.normal(0.0, 1.0, (n_sites, 5))  # 4 side errors + score, in stds
        self.frame = -1
        self._state: dict = {}  # track id -> per-person state (see _person_state)

    def _person_state(self, rng: np.random.Generator, tid: int) -> dict:
        """Fresh state of a person first seen now, drawn from the stationary distributions."""
        c = self.config
        dmax = max(c.duplicate_max, 0)
        state = {
            "seen": self.frame,
            "err": rng.normal(0.0, 1.0, 5),  # 4 side errors + score noise, in stds
            "miss_u": rng.random(),
            "dup_on": bool(dmax > 0 and rng.random() < c.duplicate_prob),
            "dup_n": 0, "dup_f": 0.0, "dup_err": rng.normal(0.0, 1.0, (dmax, 4)),
        }
        if state["dup_on"]:
            self._start_duplicates(rng, state)
        self._state[tid] = state
        return state

    def _start_duplicates(self, rng: np.random.Generator, state: dict) -> None:
        c = self.config
        state["dup_n"] = int(rng.integers(1, c.duplicate_max + 1))
        state["dup_f"] = float(rng.uniform(*c.video_duplicate_score))

    @staticmethod
    def _ar1(rng: np.random.Generator, err: np.ndarray, corr: float, steps: int) -> np.ndarray:
        """Advance unit-variance AR(1) errors by ``steps`` frames (lag-1 correlation ``corr``)."""
        r = corr ** max(steps, 1)
        return r * err + np.sqrt(1.0 - r * r) * rng.normal(0.0, 1.0, err.shape)

    def __call__(self, rng: np.random.Generator, people: Sequence[dict]) -> SimulatedDetections:
        """Detections of the next frame.

        Args:
            rng: this frame's random stream.
            people: the frame's visible people (as for :func:`simulate_detections`, each with
                its track id as ``index``).

        Returns:
            :class:`SimulatedDetections` (``source`` indexes ``people``).
        """
        c = self.config
        self.frame += 1
        boxes_out: List[np.ndarray] = []
        scores_out: List[float] = []
        source_out: List[int] = []
        kind_out: List[int] = []
        n = len(people)
        if n:
            gt, core, extent, heights, occlusion = _person_arrays(people)
            biased = pose_biased_boxes(gt, core, extent, heights, c)
            p_miss = _miss_probability(gt[:, 3] - gt[:, 1], occlusion, c)
            err = np.zeros((n, 5))
            missed = np.zeros(n, bool)
            states = []
            for i, person in enumerate(people):  # per-person state; a few dozen people at most
                tid = int(person["index"])
                st = self._state.get(tid)
                if st is None:
                    st = self._person_state(rng, tid)
                else:
                    steps = self.frame - st["seen"]
                    st["err"] = self._ar1(rng, st["err"], c.video_corr, steps)
                    st["dup_err"] = self._ar1(rng, st["dup_err"], c.video_corr, steps)
                    if rng.random() < 1.0 - (1.0 - 1.0 / c.video_miss_hold) ** steps:
                        st["miss_u"] = rng.random()
                    for _ in range(steps):
                        was_on = st["dup_on"]
                        st["dup_on"] = bool(c.duplicate_max > 0 and _switch(
                            rng, np.array([was_on]), c.duplicate_prob, c.video_duplicate_run)[0])
                        if st["dup_on"] and not was_on:
                            self._start_duplicates(rng, st)
                    st["seen"] = self.frame
                states.append(st)
                err[i] = st["err"]
                missed[i] = st["miss_u"] < p_miss[i]
            det = biased + c.jitter * err[:, :4] * _box_scale(gt)
            score = _person_scores(gt[:, 3] - gt[:, 1], occlusion, c.score_std * err[:, 4], c)
            for i, st in enumerate(states):
                if missed[i]:
                    continue
                boxes_out.append(det[i])
                scores_out.append(float(score[i]))
                source_out.append(i)
                kind_out.append(KIND_PERSON)
                if st["dup_on"]:
                    scale = _box_scale(det[i:i + 1])[0]
                    for k in range(st["dup_n"]):
                        boxes_out.append(det[i] + c.duplicate_jitter * st["dup_err"][k] * scale)
                        scores_out.append(float(score[i] * st["dup_f"] ** (k + 1)))
                        source_out.append(i)
                        kind_out.append(KIND_DUPLICATE)

        if len(self.sites):
            self.site_on = _switch(rng, self.site_on, self.site_rate, c.video_fp_run)
            self.site_err = self._ar1(rng, self.site_err, c.video_corr, 1)
            boxes = self.sites + c.jitter * self.site_err[:, :4] * _box_scale(self.sites)
            scores = np.clip(self.site_scores + c.score_std * self.site_err[:, 4], 0.01, 0.999)
            for s in np.flatnonzero(self.site_on):
                boxes_out.append(boxes[s])
                scores_out.append(float(scores[s]))
                source_out.append(-1)
                kind_out.append(KIND_FALSE_POSITIVE)
        return _finish(boxes_out, scores_out, source_out, kind_out, self.size, c)
