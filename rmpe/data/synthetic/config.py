"""Settings of the synthetic people world (:mod:`rmpe.data.synthetic`).

Three dataclasses, nested: :class:`SyntheticConfig` (the scene, the files written, the video)
holds :class:`PoseFamilyWeights` (how often each kind of posture is drawn) and
:class:`SimulatedDetectorConfig` (the error model of the simulated person detector). All
fields have defaults, so ``SyntheticConfig()`` is a complete world; a YAML ``synthetic:``
section overrides any subset. Lengths are pixels unless a field says "fraction", sizes are
``(width, height)``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import List, Literal, Tuple

from ...errors import RMPEError

#: Motion scenarios of the synthetic videos (:mod:`rmpe.data.synthetic.scenarios`).
VIDEO_SCENARIOS: Tuple[str, ...] = ("lanes", "crossing", "crowd")

#: Posture families, in the order of :class:`PoseFamilyWeights`.
POSE_FAMILIES: Tuple[str, ...] = (
    "standing", "walking", "arms_raised", "sitting", "bending", "lying", "partial",
)


@dataclass
class PoseFamilyWeights:
    """Relative frequency of each posture family (they need not sum to 1; 0 disables one).

    ``sitting`` includes crouching and squatting; ``partial`` is an upright person (standing,
    walking or arms raised) placed so that 20 to 60 % of the body lies outside the image.
    """

    standing: float = 0.22
    walking: float = 0.24
    arms_raised: float = 0.16
    sitting: float = 0.12
    bending: float = 0.10
    lying: float = 0.06
    partial: float = 0.10

    def as_list(self) -> List[float]:
        """Weights in :data:`POSE_FAMILIES` order."""
        return [float(getattr(self, name)) for name in POSE_FAMILIES]


@dataclass
class SimulatedDetectorConfig:
    """Error model of the simulated person detector (all box errors are fractions of the box).

    Each annotated person starts from its ground-truth box (the visible mask extent) and is
    distorted the way real detectors err:

    * pose-dependent bias: the part of the box above the head (raised arms) loses
      ``top_cut`` of its height; the parts left and right of the body core (head, neck and
      torso: spread legs, outstretched arms) lose ``side_cut`` of their width; compact people
      (crouching, sitting, bending: full body extent below ``crouch_threshold`` standing
      heights) get a box too loose by ``crouch_loose * (1 - extent / crouch_threshold)`` of
      the box size on every side;
    * jitter: every side moves by a normal error of std ``jitter`` x the box width (x sides)
      or height (y sides);
    * misses: a person is missed with probability ``miss_prob``, plus ``miss_small_prob``
      when its box is lower than ``miss_small_height`` px, plus up to ``miss_occlusion_prob``
      rising linearly from 0 at occlusion ``miss_occlusion_start`` to 1 (occlusion = fraction
      of the person's in-image pixels hidden by nearer people); the three combine as
      independent events;
    * duplicates: with probability ``duplicate_prob`` a detected person gets 1 to
      ``duplicate_max`` extra boxes, each the detected box with a further jitter of std
      ``duplicate_jitter`` and a score of the main score times a uniform factor in
      ``duplicate_score``;
    * false positives: a Poisson number with mean ``false_positives`` per image, a fraction
      ``fp_on_clutter`` of them on background clutter (limb-like distractors first), the rest
      anywhere, with person-like aspect ratios and scores uniform in ``fp_score``.

    Score of a detected person: ``score_base - score_occlusion * occlusion - score_small *
    clip((score_small_height - box height) / score_small_height, 0, 1)`` plus normal noise of
    std ``score_std``, clipped to ``[score_min, 0.999]``. Boxes are clipped to the image
    when ``clip_to_image``; boxes with a side below ``min_size`` px are dropped.

    On video (:class:`~rmpe.data.synthetic.detector.VideoDetector`) the same errors have
    memory, with the ``video_*`` keys (lengths in frames):

    * each box side error and the score noise follow an AR(1) process per person with
      lag-1 correlation ``video_corr`` and the still-image std (``jitter``, ``score_std``);
    * a person is missed when a uniform number held for a geometric number of frames (mean
      ``video_miss_hold``) lies below its per-frame miss probability, so misses keep the
      still-image rate but come in runs (long ones while a person is hidden);
    * duplicates switch on and off per person (a Markov chain with the stationary rate
      ``duplicate_prob`` and mean run ``video_duplicate_run``); during a run the count is
      fixed, each extra box keeps an AR(1) offset of std ``duplicate_jitter``, and the k-th
      extra box scores the main score times ``f ** k`` for a factor ``f`` drawn once per run
      uniform in ``video_duplicate_score`` (measured on real detector output, see
      docs/synthetic-data.md);
    * false positives sit at fixed sites drawn once per video (``ceil(false_positives /
      video_fp_duty)`` sites, placed as the still-image ones), each switching on and off with
      the stationary rate ``false_positives / sites`` and mean run ``video_fp_run``, so they
      recur at the same place with the still-image mean count per frame.
    """

    jitter: float = 0.04
    top_cut: float = 0.6
    side_cut: float = 0.4
    side_margin: float = 0.06
    crouch_threshold: float = 0.9
    crouch_loose: float = 0.6
    duplicate_prob: float = 0.3
    duplicate_max: int = 2
    duplicate_jitter: float = 0.07
    duplicate_score: Tuple[float, float] = (0.3, 0.9)
    false_positives: float = 0.5
    fp_on_clutter: float = 0.8
    fp_score: Tuple[float, float] = (0.05, 0.6)
    miss_prob: float = 0.01
    miss_small_height: float = 48.0
    miss_small_prob: float = 0.4
    miss_occlusion_start: float = 0.5
    miss_occlusion_prob: float = 0.9
    score_base: float = 0.92
    score_std: float = 0.05
    score_occlusion: float = 0.4
    score_small_height: float = 96.0
    score_small: float = 0.3
    score_min: float = 0.05
    clip_to_image: bool = True
    min_size: float = 2.0
    video_corr: float = 0.9  #: frame-to-frame correlation of box and score errors on video
    video_miss_hold: float = 4.0  #: mean frames a miss decision is held on video
    video_duplicate_run: float = 8.0  #: mean frames a duplicate run lasts on video
    video_duplicate_score: Tuple[float, float] = (0.3, 0.5)  #: video duplicate score / main score
    video_fp_run: float = 10.0  #: mean frames a false-positive site stays on
    video_fp_duty: float = 0.25  #: highest fraction of frames a false-positive site is on


@dataclass
class SyntheticConfig:
    """The synthetic world: image size, people, clutter, output files and video.

    Person height is the standing height in pixels (head top to soles), drawn log-uniform in
    ``[small_height, height_range[1]]``, or with probability ``small_prob`` log-uniform in
    ``[height_range[0], small_height]``; a person too large for the image is shrunk until
    the whole body fits (except ``partial`` people, which are cut by the border on purpose).
    """

    size: Tuple[int, int] = (640, 480)  #: image (width, height)
    people: Tuple[int, int] = (1, 4)  #: people per image, inclusive range
    height_range: Tuple[float, float] = (40.0, 400.0)  #: standing height range in px
    small_height: float = 90.0  #: split between "small" and ordinary heights
    small_prob: float = 0.12  #: chance a person is drawn from the small range
    overlap_prob: float = 0.35  #: chance a person is placed beside an earlier one so they overlap
    partial_cut: Tuple[float, float] = (0.2, 0.6)  #: fraction of a ``partial`` body outside the image
    clutter: Tuple[int, int] = (4, 12)  #: background shapes per image (rectangles, discs, lines)
    distractors: Tuple[int, int] = (1, 4)  #: limb-like distractor shapes per image
    noise: float = 5.0  #: std of the pixel grain added to every image (grey levels)
    pose_families: PoseFamilyWeights = field(default_factory=PoseFamilyWeights)
    image_format: Literal["jpg", "png"] = "jpg"
    jpeg_quality: int = 92
    segmentation: bool = False  #: also write each person's final mask as COCO RLE
    fps: float = 10.0  #: video frame rate
    video_people: int = 3  #: people in every video frame (they stay inside the frame)
    detector: SimulatedDetectorConfig = field(default_factory=SimulatedDetectorConfig)

    def to_dict(self) -> dict:
        """Plain nested dict (tuples as lists), as stored in the annotation file's ``info``."""
        return _plain(dataclasses.asdict(self))

    def validate(self) -> "SyntheticConfig":
        """Check value ranges; raise :class:`~rmpe.errors.RMPEError` naming the bad key."""
        w, h = self.size
        _check(w >= 16 and h >= 16, "synthetic.size", f"must be at least 16x16, got {w}x{h}")
        _check(w <= 8192 and h <= 8192, "synthetic.size", f"must be at most 8192x8192, got {w}x{h}")
        _range(self.people, "synthetic.people", 0)
        _range(self.clutter, "synthetic.clutter", 0)
        _range(self.distractors, "synthetic.distractors", 0)
        lo, hi = self.height_range
        _check(8 <= lo <= hi, "synthetic.height_range", f"needs 8 <= min <= max, got {lo}, {hi}")
        _check(lo <= self.small_height <= hi, "synthetic.small_height", "must lie inside height_range")
        for key in ("small_prob", "overlap_prob"):
            _prob(getattr(self, key), f"synthetic.{key}")
        a, b = self.partial_cut
        _check(0 <= a <= b < 1, "synthetic.partial_cut", f"needs 0 <= a <= b < 1, got {a}, {b}")
        _check(self.noise >= 0, "synthetic.noise", "must be >= 0")
        weights = self.pose_families.as_list()
        _check(all(x >= 0 for x in weights) and sum(weights) > 0, "synthetic.pose_families",
               "weights must be >= 0 and not all 0")
        _check(1 <= self.jpeg_quality <= 100, "synthetic.jpeg_quality", "must be 1..100")
        _check(self.fps > 0, "synthetic.fps", "must be > 0")
        _check(self.video_people >= 0, "synthetic.video_people", "must be >= 0")
        d = self.detector
        for key in ("jitter", "duplicate_jitter", "false_positives", "crouch_loose", "score_std", "side_margin",
                    "score_occlusion", "score_small", "min_size"):
            _check(getattr(d, key) >= 0, f"synthetic.detector.{key}", "must be >= 0")
        for key in ("top_cut", "side_cut", "duplicate_prob", "fp_on_clutter", "miss_prob",
                    "miss_small_prob", "miss_occlusion_start", "miss_occlusion_prob", "score_min"):
            _prob(getattr(d, key), f"synthetic.detector.{key}")
        _check(d.duplicate_max >= 0, "synthetic.detector.duplicate_max", "must be >= 0")
        _check(d.crouch_threshold > 0, "synthetic.detector.crouch_threshold", "must be > 0")
        _check(0 <= d.video_corr < 1, "synthetic.detector.video_corr", f"must be in [0, 1), got {d.video_corr}")
        for key in ("video_miss_hold", "video_duplicate_run", "video_fp_run"):
            _check(getattr(d, key) >= 1, f"synthetic.detector.{key}", f"must be >= 1 frame, got {getattr(d, key)}")
        _check(0 < d.video_fp_duty <= 1, "synthetic.detector.video_fp_duty",
               f"must be in (0, 1], got {d.video_fp_duty}")
        for key in ("duplicate_score", "fp_score", "video_duplicate_score"):
            a, b = getattr(d, key)
            _check(0 <= a <= b <= 1, f"synthetic.detector.{key}", f"needs 0 <= a <= b <= 1, got {a}, {b}")
        return self


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _check(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise RMPEError(f"{key}: {message}")


def _prob(value: float, key: str) -> None:
    _check(0.0 <= value <= 1.0, key, f"must be a probability in [0, 1], got {value}")


def _range(pair: Tuple[int, int], key: str, minimum: int) -> None:
    a, b = pair
    _check(minimum <= a <= b, key, f"needs {minimum} <= min <= max, got {a}, {b}")
