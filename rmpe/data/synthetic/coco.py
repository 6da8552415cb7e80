"""COCO JSON records for the synthetic world, written byte-reproducibly.

Floats are rounded (coordinates to 2 decimals, scores to 4), keys are sorted and the
separators fixed, so the same seed always gives byte-identical files.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional

import numpy as np

from ...io import atomic_write_text
from ...keypoints import coco_category
from .detector import SimulatedDetections


def _r(value: float, digits: int = 2) -> float:
    out = round(float(value), digits)
    return 0.0 if out == 0 else out  # no "-0.0"


def coco_keypoints(keypoints: np.ndarray) -> List[float]:
    """(17, 3) ``[x, y, v]`` -> flat COCO list; unlabelled (v = 0) keypoints become 0, 0, 0."""
    flat: List[float] = []
    for x, y, v in np.asarray(keypoints, np.float64).tolist():
        if v > 0:
            flat += [_r(x), _r(y), int(v)]
        else:
            flat += [0, 0, 0]
    return flat


def annotation_record(person: dict, ann_id: int, image_id: int, segmentation: bool = False,
                      track_id: Optional[int] = None) -> Dict[str, Any]:
    """One COCO person_keypoints annotation (plus ``pose_family``, ``occlusion``, ``depth_rank``)."""
    kp = np.asarray(person["keypoints"])
    record: Dict[str, Any] = {
        "id": int(ann_id),
        "image_id": int(image_id),
        "category_id": 1,
        "keypoints": coco_keypoints(kp),
        "num_keypoints": int(np.count_nonzero(kp[:, 2] > 0)),
        "bbox": [_r(v) for v in person["bbox"]],
        "area": int(person["area"]),
        "iscrowd": 0,
        "pose_family": str(person["pose_family"]),
        "occlusion": _r(person["occlusion"], 3),
        "depth_rank": int(person["depth_rank"]),
    }
    if track_id is not None:
        record["track_id"] = int(track_id)
    if segmentation and "mask" in person:
        from pycocotools import mask as mask_utils

        rle = mask_utils.encode(np.asfortranarray(person["mask"].astype(np.uint8)))
        record["segmentation"] = {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}
    return record


def detection_records(dets: SimulatedDetections, image_id: int) -> List[Dict[str, Any]]:
    """COCO detection results (``bbox`` xywh in the annotation's pixel convention) for one image."""
    out = []
    for box, score in zip(dets.boxes.tolist(), dets.scores.tolist()):
        x0, y0, x1, y1 = box
        out.append({
            "image_id": int(image_id),
            "category_id": 1,
            "bbox": [_r(x0), _r(y0), _r(x1 - x0), _r(y1 - y0)],
            "score": _r(score, 4),
        })
    return out


def image_record(image_id: int, file_name: str, width: int, height: int, **extra: Any) -> Dict[str, Any]:
    record = {"id": int(image_id), "file_name": file_name, "width": int(width), "height": int(height)}
    record.update(extra)
    return record


#: ``info.description`` of the annotation files rmpe-synth writes (images / video).
IMAGES_DESCRIPTION = "rmpe synthetic people (rmpe.data.synthetic)"
VIDEO_DESCRIPTION = "rmpe synthetic video (rmpe.data.synthetic)"


def is_synthetic(description: Any) -> bool:
    """True when an annotation file's ``info.description`` says rmpe-synth wrote it."""
    return description in (IMAGES_DESCRIPTION, VIDEO_DESCRIPTION)


def dataset_dict(images: List[dict], annotations: List[dict], info: Dict[str, Any]) -> Dict[str, Any]:
    """A whole COCO person_keypoints file."""
    return {
        "info": info,
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [coco_category()],
    }


def dumps(obj: Any) -> str:
    """Deterministic compact JSON text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def write_json(path: "os.PathLike[str] | str", obj: Any) -> None:
    """Write ``obj`` as deterministic JSON, atomically."""
    atomic_write_text(path, dumps(obj) + "\n")


def write_coco_files(
    ann_path: str,
    det_path: str,
    images: List[dict],
    annotations: List[dict],
    detections: List[dict],
    info: Dict[str, Any],
) -> None:
    """Write the annotation file (:func:`dataset_dict`) and the detection results, deterministically."""
    write_json(ann_path, dataset_dict(images, annotations, info))
    write_json(det_path, detections)
