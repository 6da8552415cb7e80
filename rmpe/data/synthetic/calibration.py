"""How a person detector's boxes relate to the ground truth: the figures its simulation is tuned to.

:func:`detector_statistics` measures, over a set of images, how many boxes land on each
person, how well the best one fits, how many boxes fall on nobody, how the redundant boxes
are scored and how many people get no box. The same function reads a real detector's result
file (:func:`coco_detector_statistics`) and the simulated detector of a synthetic world
(:func:`simulated_detector_statistics`), so the two can be compared figure by figure
(``benchmarks/calibrate_detector.py``, docs/synthetic-data.md "Crowd world and detector
calibration").

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


def coco_detector_statistics(ann_file: str, det_file: str, **options: Any) -> Dict[str, Any]:
    """:func:`detector_statistics` of a COCO detection results file against a COCO annotation file.

    Ground truth: every non-crowd person annotation (with or without keypoints, as a
    detector sees them all); images: those with at least one such person. Detections on
    other images are ignored.
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
    return detector_statistics([np.asarray(g).reshape(-1, 4) for g in gt], [np.asarray(d).reshape(-1, 4) for d in det],
                               [np.asarray(s) for s in scores], **options)


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
