"""Evaluation orchestration: a pose pipeline over a COCO-format keypoint data set, scored by COCO AP.

One path serves ``rmpe-eval``, training validation and Python callers, so the same
checkpoint and config give the same AP everywhere:

* :func:`box_source` picks where the people's boxes come from (``gt``, the config's
  ``detector``, or a detection results file);
* :func:`predict_dataset` runs a :class:`rmpe.pipeline.PosePipeline` over the images in batches
  and writes each image's people with :func:`rmpe.formats.to_coco` (the one COCO results writer);
* :func:`score_results` scores them with :func:`rmpe.evaluation.evaluate`;
* :func:`evaluate_model` does all of it from a config, under ``torchrun`` too: every rank takes
  the images ``ids[rank::world]``, writes its results to a shard file, and rank 0 merges the
  shards back into the single-process order (image order, then the order within an image), so
  the metrics do not depend on the number of processes;
* :func:`tune_pose_nms` searches the pose-NMS constants on the data set's proposals.

Example::

    cfg = load_config("configs/synthetic/quickstart.yaml")
    metrics = evaluate_model(cfg, checkpoint="work_dirs/quickstart/best.pth", boxes="gt")
    metrics["AP"]
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .data.annotations import load_coco_images, read_image
from .errors import RMPEError
from .formats import to_coco
from .io import atomic_write_json, read_json
from .structures import FrameResult

if TYPE_CHECKING:
    from .config import Config
    from .pipeline import PosePipeline


@dataclass
class DatasetImages:
    """The images of a COCO keypoint file: ids in increasing order and their file paths."""

    ann_file: str
    image_dir: str
    ids: List[int]
    paths: Dict[int, str]


def load_dataset_images(ann_file: str, image_dir: str) -> DatasetImages:
    """Read a COCO keypoint annotation file (:func:`rmpe.data.annotations.load_coco_images`).

    Raises:
        RMPEError: missing annotation file or folder, a file that is not COCO keypoints JSON.
    """
    images = load_coco_images(ann_file, image_dir)
    paths = {int(i): p for i, p in images.paths.items()}
    return DatasetImages(ann_file, image_dir, sorted(paths), paths)


def _read(path: str) -> Optional[np.ndarray]:
    try:
        return read_image(path)
    except RMPEError:
        return None


def image_batches(
    dataset: DatasetImages, ids: Sequence[int], batch: int
) -> Iterator[Tuple[List[np.ndarray], List[int], List[int]]]:
    """Per step of ``batch`` ids: the readable images (BGR uint8), their ids, and the unreadable ids."""
    for start in range(0, len(ids), batch):
        frames, good, bad = [], [], []
        for image_id in ids[start:start + batch]:
            image = _read(dataset.paths[image_id])
            if image is None:
                bad.append(image_id)
            else:
                frames.append(image)
                good.append(image_id)
        yield frames, good, bad


def box_source(config: "Config", boxes: str, ann: str, device: Any):
    """The person detector of an evaluation.

    Args:
        boxes: ``gt`` (the ground-truth boxes of the people with labelled keypoints: COCOeval
            ignores the others, so poses there could only count as false positives),
            ``detector`` (the config's ``detector:`` section) or a COCO detection results
            ``.json`` file (matched to ``ann``'s images).
        ann: the annotation file being evaluated.
    """
    from detectors import build_detector

    from .pipeline import build_person_detector

    if boxes == "gt":
        return build_detector(config.detector, type="gt", ann=ann, require_keypoints=True)
    if boxes == "detector":
        return build_person_detector(config, None, device)
    check_boxes(boxes)
    return build_detector(config.detector, type="file", file=boxes, ann=ann)


def check_boxes(boxes: str) -> None:
    """Raise RMPEError unless ``boxes`` is ``gt``, ``detector`` or an existing ``.json`` file."""
    if boxes in ("gt", "detector"):
        return
    if not boxes.lower().endswith(".json"):
        raise RMPEError(f"--boxes (eval.boxes) must be gt, detector or a .json detection file, got '{boxes}'")
    if not os.path.isfile(boxes):
        raise RMPEError(f"detection file not found: {boxes}")


def predict_dataset(
    pipeline: Callable[[List[np.ndarray], List[int]], List[list]],
    dataset: DatasetImages,
    ids: Sequence[int],
    batch: int = 8,
    progress: Any = True,
    desc: str = "rmpe-eval",
) -> Tuple[List[Dict[str, Any]], List[int]]:
    """COCO keypoint results for the images ``ids`` (in order) and the ids of unreadable images.

    Args:
        pipeline: ``pipeline(frames, image_ids) -> per image a list of Person`` (a
            :class:`rmpe.pipeline.PosePipeline`).
        batch: images per pipeline call.
        progress: True for a tqdm bar, False for none, or a callable given the number of
            images done after every batch.
    """
    from tqdm import tqdm

    results: List[Dict[str, Any]] = []
    missing: List[int] = []
    bar = tqdm(total=len(ids), unit="img", disable=progress is not True, desc=desc, dynamic_ncols=True)
    try:
        for frames, good, bad in image_batches(dataset, ids, batch):
            missing.extend(bad)
            if frames:
                people = pipeline(frames, good)
                for image_id, p in zip(good, people):
                    results.extend(to_coco(FrameResult(index=image_id, people=p, image_id=image_id)))
            bar.update(len(good) + len(bad))
            if callable(progress):
                progress(len(good) + len(bad))
    finally:
        bar.close()
    if missing:
        warnings.warn(f"{len(missing)} images could not be read (first: {dataset.paths[missing[0]]})")
    return results, missing


def score_results(
    results: List[Dict[str, Any]], dataset: DatasetImages, ids: Sequence[int], sigmas: Optional[Sequence[float]] = None,
) -> Dict[str, Any]:
    """COCO keypoint statistics of ``results`` on the images ``ids`` of ``dataset``."""
    from .evaluation import evaluate

    return dict(evaluate(results, dataset.ann_file, sigmas=sigmas or None, image_ids=list(ids)))


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
    """Write the results to ``out`` and the metrics beside it (both atomically); returns the metrics path."""
    atomic_write_json(out, results)
    path = metrics_path(out)
    atomic_write_json(path, metrics, indent=2)
    return path


@dataclass
class EvalSetup:
    """What :func:`evaluate_model` and :func:`tune_pose_nms` share: the data set, its ids and the pipeline."""

    dataset: DatasetImages
    ids: List[int]
    pipeline: "PosePipeline"
    sigmas: Optional[Tuple[float, ...]]


def prepare(
    config: "Config",
    *,
    ann: Optional[str] = None,
    images: Optional[str] = None,
    boxes: Optional[str] = None,
    checkpoint: Optional[str] = None,
    model: Any = None,
    device: Optional[str] = None,
    max_images: Optional[int] = None,
    nms: Optional[str] = None,
) -> EvalSetup:
    """Check the inputs, then build the data set view and the pipeline (model loading last).

    ``ann``/``images``/``boxes`` default to ``data.val_ann``, ``data.val_images`` and
    ``eval.boxes``; ``nms`` overrides ``pose_nms.type``.
    """
    from .distributed import resolve_device
    from .pipeline import PosePipeline, load_model

    ann = ann or config.data.val_ann
    images = images or config.data.val_images
    if not ann:
        raise RMPEError("no annotation file: pass --ann or set data.val_ann")
    if not images:
        raise RMPEError("no image folder: pass --images or set data.val_images")
    if max_images is not None and max_images < 1:
        raise RMPEError(f"max_images must be at least 1, got {max_images}")
    boxes = boxes or config.eval.boxes
    check_boxes(boxes)
    dataset = load_dataset_images(ann, images)
    dev = resolve_device(device or config.device)
    if model is None:
        if checkpoint is None or not os.path.isfile(checkpoint):
            raise RMPEError(f"checkpoint not found: {checkpoint}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model = load_model(config, checkpoint, dev)
    if nms is not None:
        config = _with_nms(config, nms)
    detector = box_source(config, boxes, ann, dev)
    pipeline = PosePipeline.from_config(config, model=model, detector=detector, device=str(dev))
    ids = dataset.ids[:max_images] if max_images else list(dataset.ids)
    return EvalSetup(dataset, ids, pipeline, config.data.keypoint_set().sigmas or None)


def _with_nms(config: "Config", nms: str) -> "Config":
    from .config import as_config

    return as_config(config, [f"pose_nms.type={nms}"])


def evaluate_model(
    config: "Config",
    *,
    out: Optional[str] = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    **inputs: Any,
) -> Optional[Dict[str, Any]]:
    """COCO keypoint AP of a pose model on a data set, as ``rmpe-eval`` computes it.

    Args:
        config: the experiment config (``inference:``, ``pose_nms:``, ``detector:``, ``data:``).
        out: results JSON to write (metrics go to ``<out>.metrics.json``); None writes nothing.
        inputs: :func:`prepare`'s keywords: ``ann``, ``images``, ``boxes``, ``checkpoint`` (weights
            for the config's model) or ``model`` (anything with
            :meth:`rmpe.model.RMPEModel.predict`'s signature), ``device``, ``max_images``.

    Returns:
        The metrics (``AP``, ``AP50``, ..., ``stats``, ``num_images``, ``num_results``,
        ``unreadable_images``) on rank 0; None on the other ranks of a ``torchrun`` job.
    """
    from .distributed import barrier, init_distributed, shutdown

    setup = prepare(config, **inputs)
    info = init_distributed(setup.pipeline.device.type)
    try:
        mine = setup.ids[info.rank::info.world_size]
        results, missing = predict_dataset(setup.pipeline, setup.dataset, mine, config.inference.batch,
                                           progress and info.is_main)
        if info.enabled:
            if out is None:
                raise RMPEError("a torchrun evaluation needs an output file (--out) for its shards")
            shard = f"{out}.rank{info.rank}.json"
            atomic_write_json(shard, results)
            barrier(info)
            if not info.is_main:
                return None
            shards = []
            for rank in range(info.world_size):
                path = f"{out}.rank{rank}.json"
                shards.append(read_json(path))
                os.unlink(path)
            results = merge_in_image_order(shards, setup.ids)
        metrics = score_results(results, setup.dataset, setup.ids, setup.sigmas)
        metrics.update({"num_images": len(setup.ids), "num_results": len(results), "unreadable_images": len(missing),
                        "checkpoint": inputs.get("checkpoint"), "ann": setup.dataset.ann_file})
        if out is not None:
            path = write_results_and_metrics(results, out, metrics)
            log(f"{len(results)} results on {len(setup.ids)} images -> {out}; metrics -> {path}")
        return metrics
    finally:
        shutdown(info)


def tune_pose_nms(config: "Config", *, out_yaml: str, progress: bool = True, **inputs: Any) -> Dict[str, Any]:
    """Search the pose-NMS constants (delta1, delta2, mu, gamma) maximising AP on a data set.

    The pipeline runs once without NMS to collect every image's pose proposals; the search
    then re-runs only pose NMS and scoring. The best constants are written to ``out_yaml``
    (use them with ``pose_nms.params_file``). ``inputs`` are :func:`prepare`'s keywords.

    Returns:
        ``initial_AP``, ``tuned_AP`` and ``params_file``.
    """
    from pose_nms import search_params
    from tqdm import tqdm

    from .distributed import init_distributed
    from .evaluation import coco_objective

    setup = prepare(config, nms="none", **inputs)
    if init_distributed(setup.pipeline.device.type).enabled:
        raise RMPEError("--tune-nms runs in one process; start it without torchrun")
    batch = config.inference.batch
    boxes_, box_scores, kps, kp_scores, image_ids = [], [], [], [], []
    steps = tqdm(image_batches(setup.dataset, setup.ids, batch), total=-(-len(setup.ids) // batch),
                 disable=not progress, desc="proposals", unit="batch")
    for frames, good, _ in steps:
        if not frames:
            continue
        for image_id, (b, bs, k, ks) in zip(good, setup.pipeline.proposals(frames, good)):
            boxes_.append(b), box_scores.append(bs), kps.append(k), kp_scores.append(ks), image_ids.append(image_id)
    objective = coco_objective(setup.dataset.ann_file, sigmas=setup.sigmas, image_ids=setup.ids)
    result = search_params(boxes_, box_scores, kps, kp_scores, image_ids, objective, initial=config.pose_nms,
                           out_path=out_yaml)
    return {"initial_AP": result.initial_value, "tuned_AP": result.best_value, "params_file": out_yaml}
