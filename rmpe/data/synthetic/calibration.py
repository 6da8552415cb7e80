"""How a person detector's boxes relate to the ground truth: the figures its simulation is tuned to.

:func:`detector_statistics` measures, over a set of images, how many boxes land on each
person, how well the best one fits, how many boxes fall on nobody, how the redundant boxes
are scored and how many people get no box. The same function reads a real detector's result
file (:func:`coco_detector_statistics`) and the simulated detector of a synthetic world
(:func:`simulated_detector_statistics`), so the two can be compared figure by figure
(``benchmarks/calibrate_detector.py``, docs/synthetic-data.md "Crowd world and detector
calibration"). :func:`person_box_rows` gives the per-person view (each box owned by one
person) that the video detector's duplicate scores and box errors are tuned to
(``benchmarks/calibrate_detector.py --per-person``).

Definitions (boxes xyxy in image pixels; only detections scoring ``>= score_threshold``):

* a box *hits* a person when their IoU exceeds ``iou_threshold`` (0.5);
* ``boxes_per_person``: mean number of boxes hitting a person;
* ``best_iou_median``: median over people of the largest IoU of any box with that person
  (0 for a person no box overlaps);
* ``false_positives_per_image``: boxes that hit no person, per image;
* ``miss_rate``: fraction of people hit by no box;
* ``second_score_median`` / ``second_ratio_median``: over the people hit by two boxes or more,
  the median score of the second-best-scored hitting box, and that score over the best one's;
* ``top_score_median``: median score of the best-scored box hitting each person;
* ``fp_score_median``: median score of the false positives.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from pgpg.matching import box_iou

#: Keys of :func:`detector_statistics`' result that the calibration compares, in table order.
CALIBRATED = (
    "boxes_per_person",
    "best_iou_median",
    "false_positives_per_image",
    "second_score_median",
    "second_ratio_median",
    "miss_rate",
)


def _median(values: List[float]) -> float:
    return float(np.median(values)) if values else float("nan")


def detector_statistics(
    gt_boxes: Sequence[np.ndarray],
    det_boxes: Sequence[np.ndarray],
    det_scores: Sequence[np.ndarray],
    *,
    score_threshold: float = 0.05,
    iou_threshold: float = 0.5,
) -> Dict[str, Any]:
    """Detector-versus-ground-truth figures over a set of images (module docstring).

    Args:
        gt_boxes: per image, (N_i, 4) xyxy ground-truth person boxes in image px.
        det_boxes: per image, (D_i, 4) xyxy detections in the same frame.
        det_scores: per image, (D_i,) detection scores.
        score_threshold: detections scoring below this are left out.
        iou_threshold: a box hits a person above this IoU.

    Returns:
        A dict with the figures of the module docstring plus ``images``, ``people`` and
        ``boxes`` (detections kept).
    """
    if not (len(gt_boxes) == len(det_boxes) == len(det_scores)):
        raise ValueError("gt_boxes, det_boxes and det_scores need one entry per image")
    hits_per_person: List[int] = []
    best_iou: List[float] = []
    second: List[float] = []
    ratio: List[float] = []
    top: List[float] = []
    fp_scores: List[float] = []
    boxes_kept = 0
    for gt, det, score in zip(gt_boxes, det_boxes, det_scores):
        gt = np.asarray(gt, np.float64).reshape(-1, 4)
        det = np.asarray(det, np.float64).reshape(-1, 4)
        score = np.asarray(score, np.float64).reshape(-1)
        keep = score >= score_threshold
        det, score = det[keep], score[keep]
        boxes_kept += len(score)
        iou = box_iou(gt, det) if len(gt) and len(det) else np.zeros((len(gt), len(det)))
        hit = iou > iou_threshold  # (N, D)
        hits_per_person.extend(hit.sum(axis=1).tolist())
        best_iou.extend((iou.max(axis=1) if len(det) else np.zeros(len(gt))).tolist())
        fp_scores.extend(score[~hit.any(axis=0)].tolist())
        for row in hit:  # per person: the scores of its boxes, best first
            s = np.sort(score[row])[::-1]
            if len(s):
                top.append(float(s[0]))
            if len(s) >= 2:
                second.append(float(s[1]))
                ratio.append(float(s[1] / max(s[0], 1e-12)))
    people = len(hits_per_person)
    images = len(gt_boxes)
    hits = np.asarray(hits_per_person, np.float64)
    return {
        "images": images,
        "people": people,
        "boxes": boxes_kept,
        "boxes_per_person": float(hits.mean()) if people else float("nan"),
        "best_iou_median": _median(best_iou),
        "false_positives_per_image": len(fp_scores) / images if images else float("nan"),
        "second_score_median": _median(second),
        "second_ratio_median": _median(ratio),
        "top_score_median": _median(top),
        "fp_score_median": _median(fp_scores),
        "miss_rate": float((hits == 0).mean()) if people else float("nan"),
    }


def person_box_rows(
    gt_boxes: Sequence[np.ndarray],
    det_boxes: Sequence[np.ndarray],
    det_scores: Sequence[np.ndarray],
    *,
    iou_threshold: float = 0.5,
) -> List[Dict[str, Any]]:
    """Per person, the boxes a detector gives it: the figures the video detector is tuned to.

    Every detection belongs to the ground-truth person it overlaps most, if that IoU is at
    least ``iou_threshold`` (so, unlike :func:`detector_statistics`, a box counts for one person).

    Args:
        gt_boxes, det_boxes, det_scores: as for :func:`detector_statistics`.

    Returns:
        One dict per person, image by image: ``scores`` (its boxes' scores, best first),
        ``top_iou`` (IoU of its best-scored box, 0 without one) and ``side_errors`` (4,):
        the best-scored box's x0, y0, x1, y1 minus the ground truth's, as fractions of the
        ground-truth width (x) or height (y); None without a box.
    """
    rows: List[Dict[str, Any]] = []
    for gt, det, score in zip(gt_boxes, det_boxes, det_scores):
        gt = np.asarray(gt, np.float64).reshape(-1, 4)
        det = np.asarray(det, np.float64).reshape(-1, 4)
        score = np.asarray(score, np.float64).reshape(-1)
        iou = box_iou(gt, det) if len(gt) and len(det) else np.zeros((len(gt), len(det)))
        owner = np.where(iou.max(axis=0) >= iou_threshold, iou.argmax(axis=0), -1) if len(gt) else np.full(len(det), -1)
        for g in range(len(gt)):
            mine = np.flatnonzero(owner == g)
            mine = mine[np.argsort(-score[mine], kind="stable")]
            if not len(mine):
                rows.append({"scores": [], "top_iou": 0.0, "side_errors": None})
                continue
            size = np.array([gt[g, 2] - gt[g, 0], gt[g, 3] - gt[g, 1]] * 2)
            rows.append({"scores": score[mine].tolist(), "top_iou": float(iou[g, mine[0]]),
                         "side_errors": (det[mine[0]] - gt[g]) / np.maximum(size, 1e-12)})
    return rows


def read_coco_detections(ann_file: str, det_file: str):
    """A COCO annotation file and a detection results file as per-image lists of arrays.

    Ground truth: every non-crowd person annotation (with or without keypoints, as a
    detector sees them all); images: those with at least one such person. Detections on
    other images are ignored.

    Returns:
        ``(gt_boxes, det_boxes, det_scores)``: per image (N_i, 4) and (D_i, 4) xyxy boxes in
        image px and (D_i,) scores, the inputs of :func:`detector_statistics`.
    """
    from detectors.detection_file import parse_xywh
    from detectors.detection_file import read_json as read_detections

    from ..annotations import load_person_boxes

    people = load_person_boxes(ann_file)
    ids: List[Any] = sorted(set(people.image_ids), key=str)
    index = {image_id: i for i, image_id in enumerate(ids)}
    gt: List[List[np.ndarray]] = [[] for _ in ids]
    for box, image_id in zip(people.boxes, people.image_ids):
        if image_id in index:
            gt[index[image_id]].append(box)
    det: List[List[np.ndarray]] = [[] for _ in ids]
    scores: List[List[float]] = [[] for _ in ids]
    for n, record in enumerate(read_detections(det_file, "detection results file")):
        i = index.get(record.get("image_id"))
        if i is None or int(record.get("category_id", 1)) != 1:
            continue
        det[i].append(parse_xywh(record["bbox"], f"{det_file}: detection {n}"))
        scores[i].append(float(record.get("score", 1.0)))
    return ([np.asarray(g).reshape(-1, 4) for g in gt], [np.asarray(d).reshape(-1, 4) for d in det],
            [np.asarray(s) for s in scores])


def coco_detector_statistics(ann_file: str, det_file: str, **options: Any) -> Dict[str, Any]:
    """:func:`detector_statistics` of a COCO detection results file against a COCO annotation file
    (read by :func:`read_coco_detections`)."""
    return detector_statistics(*read_coco_detections(ann_file, det_file), **options)


def simulated_detector_statistics(config: Any, num_images: int, seed: int = 0,
                                  first: Optional[int] = None, **options: Any) -> Dict[str, Any]:
    """:func:`detector_statistics` of the simulated detector on ``num_images`` images of a world.

    Args:
        config: a :class:`~rmpe.data.synthetic.config.SyntheticConfig` (its ``detector`` section
            is the simulated detector).
        num_images: images rendered in memory (nothing is written).
        seed: data set seed; image ``i`` is the one ``generate_dataset(seed=seed)`` writes.
        first: index of the first image (default 0).
    """
    from .generate import make_example

    gt, det, scores = [], [], []
    start = int(first or 0)
    for index in range(start, start + int(num_images)):
        scene, dets = make_example(seed, index, config)
        boxes = np.array([p["bbox"] for p in scene.people], np.float64).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        gt.append(boxes)
        det.append(dets.boxes)
        scores.append(dets.scores)
    return detector_statistics(gt, det, scores, **options)
