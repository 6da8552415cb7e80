"""Running the pipeline over a COCO-format keypoint data set and scoring it.

Used by ``rmpe-eval``. Images are processed in batches with the same
:class:`rmpe.pipeline.PosePipeline` as the demo. Under ``torchrun`` every rank takes the
images ``ids[rank::world]``, writes its results to a shard file, and rank 0 merges the
shards back into the single-process order (image order, then the order within an image),
so the metrics do not depend on the number of processes.
"""
from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .errors import RMPEError
from .formats import to_coco
from .io import atomic_write_json
from .structures import FrameResult


@dataclass
class DatasetImages:
    """Image ids (sorted) and their file paths from a COCO annotation file."""

    ann_file: str
    image_dir: str
    ids: List[int]
    paths: Dict[int, str]
    data: Dict[str, Any] = field(repr=False, default_factory=dict)


def load_dataset_images(ann_file: str, image_dir: str) -> DatasetImages:
    """Read a COCO keypoint annotation file and resolve its images in ``image_dir``.

    Raises:
        RMPEError: missing annotation file or folder, a file that is not COCO keypoints JSON.
    """
    if not ann_file or not os.path.isfile(ann_file):
        raise RMPEError(f"annotation file not found: {ann_file}")
    if not image_dir or not os.path.isdir(image_dir):
        raise RMPEError(f"image folder not found: {image_dir}")
    try:
        with open(ann_file, "r", encoding="utf-8") as fh:
            data = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RMPEError(f"{ann_file} is not valid JSON ({str(exc).splitlines()[0][:100]})") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) or not isinstance(data.get("annotations"), list):
        raise RMPEError(f"{ann_file} is not a COCO annotation file (needs 'images' and 'annotations' lists)")
    if not any(isinstance(c, dict) and c.get("keypoints") for c in data.get("categories", [])):
        raise RMPEError(f"{ann_file} has no keypoint category: not a COCO person_keypoints file")
    if not any(isinstance(a, dict) and "keypoints" in a for a in data["annotations"]):
        raise RMPEError(f"{ann_file} has no annotations with keypoints: not a COCO person_keypoints file")
    paths = {}
    for im in data["images"]:
        try:
            paths[int(im["id"])] = os.path.join(image_dir, str(im["file_name"]))
        except (KeyError, TypeError, ValueError):
            raise RMPEError(f"{ann_file}: image entry without a valid 'id' and 'file_name': {str(im)[:80]}") from None
    return DatasetImages(ann_file, image_dir, sorted(paths), paths, data)


def _read(path: str) -> Optional[np.ndarray]:
    if not os.path.isfile(path):
        return None
    return cv2.imread(path, cv2.IMREAD_COLOR)


def run_pipeline_on_images(
    pipeline: Callable[[List[np.ndarray], List[int]], List[list]],
    dataset: DatasetImages,
    ids: Sequence[int],
    batch: int = 8,
    progress: bool = True,
    desc: str = "rmpe-eval",
) -> Tuple[List[Dict[str, Any]], List[int]]:
    """COCO keypoint results for ``ids`` (in order) and the ids of unreadable images."""
    from tqdm import tqdm

    results: List[Dict[str, Any]] = []
    missing: List[int] = []
    bar = tqdm(total=len(ids), unit="img", disable=not progress, desc=desc, dynamic_ncols=True)
    try:
        for start in range(0, len(ids), batch):
            chunk = list(ids[start:start + batch])
            frames, good = [], []
            for image_id in chunk:
                image = _read(dataset.paths[image_id])
                if image is None:
                    missing.append(image_id)
                    continue
                frames.append(image)
                good.append(image_id)
            if frames:
                people = pipeline(frames, good)
                for image_id, p in zip(good, people):
                    results.extend(to_coco(FrameResult(index=image_id, people=p, image_id=image_id)))
            bar.update(len(chunk))
    finally:
        bar.close()
    if missing:
        warnings.warn(f"{len(missing)} images could not be read (first: {dataset.paths[missing[0]]})")
    return results, missing


def merge_in_image_order(shards: Sequence[List[Dict[str, Any]]], ids: Sequence[int]) -> List[Dict[str, Any]]:
    """Concatenate per-rank results and restore the single-process order (stable)."""
    position = {image_id: i for i, image_id in enumerate(ids)}
    merged = [r for shard in shards for r in shard]
    return sorted(merged, key=lambda r: position.get(r["image_id"], len(position)))


def metrics_path(results_path: str) -> str:
    """``results.json`` -> ``results.metrics.json`` beside it."""
    root, ext = os.path.splitext(results_path)
    return root + ".metrics" + (ext or ".json")


def write_results_and_metrics(results: List[Dict[str, Any]], out: str, metrics: Dict[str, Any]) -> str:
    atomic_write_json(out, results)
    path = metrics_path(out)
    atomic_write_json(path, metrics, indent=2)
    return path
