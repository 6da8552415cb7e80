"""Confidence intervals for COCO keypoint AP: bootstrap over images, paired differences, pooled seeds.

COCO AP is not a mean over images, so its sampling error is estimated by resampling the
images: draw I image indices with replacement, recompute AP on that multiset, repeat, and
take the 2.5 and 97.5 percentiles. Re-running pycocotools for every resample would repeat
the per-image matching; this module runs it once (:func:`per_image_matches`, pycocotools'
``COCOeval.evaluate``) and redoes only the ``accumulate`` step on each resample
(:func:`average_precision`), which is exact: for any multiset of images it returns the AP
pycocotools gives on a data set holding those images (a repeated image as a copy with its
own id), including the tie order (results concatenated in image order, then a stable sort by
score). The AP is the summary ``stats[0]``: area ``all``, ``maxDets`` 20, the mean over the
ten OKS thresholds of the 101-point interpolated precision.

Paired comparison: two models evaluated on the same images are resampled with the same
indices, and the interval of the difference of their APs is taken over those pairs
(:func:`paired_interval`), which is far narrower than comparing two separate intervals. Seeds
pooled: the APs of several training seeds on each resample are averaged before the
percentiles are taken (:func:`bootstrap`'s ``groups``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .evaluation import matched_cocoeval

#: pycocotools' recall thresholds of the interpolated precision (101 points 0, 0.01, ..., 1).
RECALL_THRESHOLDS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)


@dataclass
class PerImageMatches:
    """One model's per-image COCO keypoint matching (I images, T OKS thresholds, D detections).

    Attributes:
        image_ids: (I,) image ids in pycocotools' (sorted) order.
        scores: (D,) scores of every image's kept detections (the best ``maxDets`` by score),
            image after image; image i holds ``scores[starts[i]:starts[i] + counts[i]]``.
        matched: (T, D) bool, the detection matches a ground truth at threshold t.
        ignored: (T, D) bool, the detection is ignored at threshold t (matched to an ignored
            ground truth, e.g. a person without keypoints).
        starts, counts: (I,) first detection and detection count of each image.
        num_gt: (I,) ground-truth people per image that are not ignored.
    """

    image_ids: np.ndarray
    scores: np.ndarray
    matched: np.ndarray
    ignored: np.ndarray
    starts: np.ndarray
    counts: np.ndarray
    num_gt: np.ndarray

    @property
    def num_images(self) -> int:
        return len(self.image_ids)


def per_image_matches(
    results: Any, ann: Any, *, sigmas: Optional[Sequence[float]] = None, image_ids: Optional[Sequence[int]] = None
) -> PerImageMatches:
    """Run pycocotools' per-image matching once and keep what ``accumulate`` needs.

    Args:
        results: COCO keypoint results (a list of dicts or a JSON file), as :func:`rmpe.evaluation.evaluate`.
        ann: the annotation file or a pycocotools ``COCO`` object.
        sigmas: OKS sigmas for a non-COCO keypoint set.
        image_ids: the images (default: all of ``ann``).
    """
    ev = matched_cocoeval(results, ann, sigmas=sigmas, image_ids=image_ids)
    p = ev.params
    ids = list(p.imgIds)
    num_t = len(p.iouThrs)
    max_det = p.maxDets[-1]
    a_all = p.areaRngLbl.index("all")
    num_images = len(ids)
    k = 0  # the person category (useCats over the single keypoint category)
    scores: List[np.ndarray] = []
    matched: List[np.ndarray] = []
    ignored: List[np.ndarray] = []
    counts = np.zeros(num_images, np.int64)
    num_gt = np.zeros(num_images, np.int64)
    for i in range(num_images):
        e = ev.evalImgs[k * len(p.areaRng) * num_images + a_all * num_images + i]
        if e is None:
            continue
        s = np.asarray(e["dtScores"][:max_det], np.float64)
        scores.append(s)
        matched.append(np.asarray(e["dtMatches"][:, :max_det]).reshape(num_t, -1) > 0)
        ignored.append(np.asarray(e["dtIgnore"][:, :max_det]).reshape(num_t, -1).astype(bool))
        counts[i] = len(s)
        num_gt[i] = int(np.count_nonzero(np.asarray(e["gtIgnore"]) == 0))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    return PerImageMatches(
        image_ids=np.asarray(ids),
        scores=np.concatenate(scores) if scores else np.zeros(0),
        matched=np.concatenate(matched, axis=1) if matched else np.zeros((num_t, 0), bool),
        ignored=np.concatenate(ignored, axis=1) if ignored else np.zeros((num_t, 0), bool),
        starts=starts,
        counts=counts,
        num_gt=num_gt,
    )


def average_precision(m: PerImageMatches, sample: Optional[np.ndarray] = None) -> float:
    """COCO keypoint AP (``stats[0]``) on a multiset of the images.

    Args:
        m: the per-image matches.
        sample: (n,) image indices (into ``m.image_ids``), repeats allowed, in the order the
            images are concatenated (pass them sorted to mirror a data set in id order);
            None: every image once.

    Returns:
        AP in [0, 1]; -1.0 when the sample holds no ground truth (pycocotools' "undefined").
    """
    idx_img = np.arange(m.num_images) if sample is None else np.asarray(sample, np.int64)
    npig = int(m.num_gt[idx_img].sum())
    if npig == 0:
        return -1.0
    lengths = m.counts[idx_img]
    total = int(lengths.sum())
    if total == 0:
        return 0.0
    first = np.repeat(m.starts[idx_img], lengths)
    offset = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    det = first + offset
    order = np.argsort(-m.scores[det], kind="mergesort")
    det = det[order]
    dtm = m.matched[:, det]
    dtig = m.ignored[:, det]
    tp = np.cumsum(dtm & ~dtig, axis=1, dtype=np.float64)
    fp = np.cumsum(~dtm & ~dtig, axis=1, dtype=np.float64)
    recall = tp / npig
    precision = tp / (fp + tp + np.spacing(1))
    envelope = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]  # best precision at >= this recall
    q = np.zeros((len(tp), len(RECALL_THRESHOLDS)))
    for t in range(len(tp)):  # T = 10 thresholds
        pos = np.searchsorted(recall[t], RECALL_THRESHOLDS, side="left")
        ok = pos < total
        q[t, ok] = envelope[t, pos[ok]]
    return float(q.mean())


def bootstrap_samples(num_images: int, num_samples: int = 1000, seed: int = 0) -> np.ndarray:
    """(num_samples, num_images) image indices drawn with replacement, each row sorted."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.integers(0, num_images, size=(num_samples, num_images)), axis=1)


def sample_aps(m: PerImageMatches, samples: np.ndarray) -> np.ndarray:
    """(S,) AP of ``m`` on each row of ``samples`` (:func:`bootstrap_samples`)."""
    return np.array([average_precision(m, s) for s in samples])


def interval(values: np.ndarray, level: float = 0.95) -> Tuple[float, float]:
    """Percentile interval of bootstrap values (``level`` = 0.95: the 2.5 and 97.5 percentiles)."""
    values = np.asarray(values, np.float64)
    tail = 50.0 * (1.0 - level)
    return float(np.percentile(values, tail)), float(np.percentile(values, 100.0 - tail))


def _same_images(models: Sequence[PerImageMatches]) -> None:
    for m in models[1:]:
        if not np.array_equal(m.image_ids, models[0].image_ids):
            raise ValueError("paired bootstrap needs every model evaluated on the same images")


def bootstrap(
    groups: Mapping[str, Sequence[PerImageMatches]],
    *,
    num_samples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Dict[str, Dict[str, Any]]:
    """AP with a bootstrap interval for each model and for each group of models pooled.

    Args:
        groups: name -> the models of that group (e.g. one per training seed), all evaluated
            on the same images.
        num_samples, seed: the resamples (shared by every model, so differences are paired).
        level: interval coverage.

    Returns:
        name -> ``{"ap": pooled AP (mean of the models' APs on all images), "ci": [low, high]
        of the pooled AP, "seeds": [{"ap", "ci", "samples"} per model], "samples": (S,) pooled
        APs}``. Any two entries (pooled or one model's) can go to :func:`paired_interval`.
    """
    models = [m for ms in groups.values() for m in ms]
    if not models:
        return {}
    _same_images(models)
    samples = bootstrap_samples(models[0].num_images, num_samples, seed)
    out: Dict[str, Dict[str, Any]] = {}
    for name, ms in groups.items():
        per = [sample_aps(m, samples) for m in ms]
        full = [average_precision(m) for m in ms]
        pooled = np.mean(per, axis=0)
        out[name] = {
            "ap": float(np.mean(full)),
            "ci": list(interval(pooled, level)),
            "seeds": [{"ap": a, "ci": list(interval(p, level)), "samples": p} for a, p in zip(full, per)],
            "samples": pooled,
        }
    return out


def paired_interval(a: Dict[str, Any], b: Dict[str, Any], level: float = 0.95) -> Dict[str, Any]:
    """Difference ``a - b`` of two :func:`bootstrap` entries (same call, so same resamples).

    Returns:
        ``{"delta": a.ap - b.ap, "ci": [low, high] of the paired differences}``.
    """
    diff = np.asarray(a["samples"]) - np.asarray(b["samples"])
    return {"delta": float(a["ap"] - b["ap"]), "ci": list(interval(diff, level))}
