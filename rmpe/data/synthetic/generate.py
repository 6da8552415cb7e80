"""Writing a synthetic image data set: one scene and its detections per image, then the COCO files.

Image ``i`` of seed ``s`` is drawn from ``numpy.random.default_rng([s, i, 0])``
(:func:`scene_rng`) and its detections from ``[s, i, 1]`` (:func:`detector_rng`), so images
can be made in any order or in parallel with identical results, and the same seed gives
byte-identical JSON files.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ...errors import RMPEError
from .coco import IMAGES_DESCRIPTION, annotation_record, detection_records, image_record, write_coco_files
from .config import POSE_FAMILIES, SyntheticConfig
from .detector import SimulatedDetections, simulate_detections
from .files import check_seed, encode_image, resolve_config, write_bytes
from .scene import SyntheticScene, render_scene

PathLike = Union[str, "os.PathLike[str]"]


def scene_rng(seed: int, index: int) -> np.random.Generator:
    """The random stream of image ``index`` of data set ``seed``."""
    return np.random.default_rng([int(seed), int(index), 0])


def detector_rng(seed: int, index: int) -> np.random.Generator:
    """The random stream of the simulated detector on image ``index`` of data set ``seed``."""
    return np.random.default_rng([int(seed), int(index), 1])


def make_example(seed: int, index: int, config: SyntheticConfig) -> Tuple[SyntheticScene, SimulatedDetections]:
    """Image ``index`` of data set ``seed`` and its simulated detections, in memory."""
    scene = render_scene(scene_rng(seed, index), config.size, config, return_masks=config.segmentation)
    dets = simulate_detections(detector_rng(seed, index), scene.people, config.size,
                               scene.clutter_boxes, scene.limb_like, config.detector)
    return scene, dets


def _make_chunk(args: Tuple[str, int, Sequence[int], SyntheticConfig]) -> List[Tuple[dict, List[dict], List[dict]]]:
    """Render, write and annotate the images ``indices`` (worker function; ids filled in later)."""
    images_dir, seed, indices, config = args
    w, h = config.size
    out = []
    for index in indices:
        scene, dets = make_example(seed, index, config)
        image_id = index + 1
        name = f"{image_id:06d}.{config.image_format}"
        write_bytes(os.path.join(images_dir, name), encode_image(scene.image, config))
        anns = [annotation_record(p, 0, image_id, config.segmentation) for p in scene.people]
        out.append((image_record(image_id, name, w, h), anns, detection_records(dets, image_id)))
    return out


def generate_dataset(
    out_dir: PathLike,
    num_images: int,
    seed: int = 0,
    size: Optional[Tuple[int, int]] = None,
    config: Optional[SyntheticConfig] = None,
    workers: int = 1,
    progress: bool = False,
) -> Dict[str, Any]:
    """Write a synthetic COCO keypoint data set.

    Args:
        out_dir: output folder; gets ``images/``, ``annotations.json``, ``detections.json``.
        num_images: number of images (>= 0).
        seed: data set seed; image ``i`` depends only on ``(seed, i)``.
        size: (width, height) in px; None keeps ``config.size`` (default 640x480).
        config: world settings (defaults: :class:`SyntheticConfig`).
        workers: processes rendering images in parallel (results are identical for any count).
        progress: show a tqdm bar.

    Returns:
        Summary dict: ``out_dir``, ``images_dir``, ``annotations``, ``detections`` (paths),
        ``num_images``, ``num_people``, ``num_detections``, ``families`` (people per pose
        family), ``seconds``.

    Raises:
        RMPEError: a negative count or seed, a bad size or config value, an unwritable folder.
    """
    if isinstance(num_images, bool) or not isinstance(num_images, (int, np.integer)) or num_images < 0:
        raise RMPEError(f"number of synthetic images must be an integer >= 0, got {num_images!r}")
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise RMPEError(f"workers must be an integer >= 1, got {workers!r}")
    config = resolve_config(config, size)
    seed = check_seed(seed)
    out_dir = os.fspath(out_dir)
    images_dir = os.path.join(out_dir, "images")
    try:
        os.makedirs(images_dir, exist_ok=True)
    except OSError as exc:
        raise RMPEError(f"cannot create output folder {images_dir}: {exc.strerror}") from None
    start = time.perf_counter()

    chunk = 16
    jobs = [(images_dir, seed, range(i, min(i + chunk, num_images)), config) for i in range(0, num_images, chunk)]
    from tqdm import tqdm

    bar = tqdm(total=num_images, unit="img", disable=not progress, desc="rmpe-synth")
    results: List[Tuple[dict, List[dict], List[dict]]] = []
    if workers == 1 or len(jobs) <= 1:
        for job in jobs:
            part = _make_chunk(job)
            results.extend(part)
            bar.update(len(part))
    else:
        with ProcessPoolExecutor(max_workers=int(workers)) as pool:
            for part in pool.map(_make_chunk, jobs):
                results.extend(part)
                bar.update(len(part))
    bar.close()

    images, annotations, detections = [], [], []
    families = {name: 0 for name in POSE_FAMILIES}
    for image, anns, dets in results:
        images.append(image)
        for ann in anns:
            ann["id"] = len(annotations) + 1
            families[ann["pose_family"]] += 1
            annotations.append(ann)
        detections.extend(dets)
    info = {
        "description": IMAGES_DESCRIPTION,
        "version": "1",
        "seed": seed,
        "num_images": int(num_images),
        "config": config.to_dict(),
    }
    ann_path = os.path.join(out_dir, "annotations.json")
    det_path = os.path.join(out_dir, "detections.json")
    write_coco_files(ann_path, det_path, images, annotations, detections, info)
    return {
        "out_dir": out_dir,
        "images_dir": images_dir,
        "annotations": ann_path,
        "detections": det_path,
        "num_images": int(num_images),
        "num_people": len(annotations),
        "num_detections": len(detections),
        "families": families,
        "seconds": time.perf_counter() - start,
    }
