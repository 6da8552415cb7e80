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

import dataclasses
import os
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .data.annotations import read_coco_annotations, read_image
from .errors import RMPEError
from .formats import to_coco
from .io import atomic_write_json, check_output_path, read_json
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
    num_keypoints: int = 0  #: K of the file's keypoint annotations (0: the file does not say)


def load_dataset_images(ann_file: str, image_dir: Optional[str]) -> DatasetImages:
    """Read a COCO keypoint annotation file (:func:`rmpe.data.annotations.read_coco_annotations`).

    ``image_dir=None`` reads the annotations only (scoring a results file needs no images).

    Raises:
        RMPEError: missing annotation file or folder, a file that is not COCO keypoints JSON.
    """
    coco = read_coco_annotations(ann_file, image_dir=image_dir or "")
    if image_dir is not None and not os.path.isdir(image_dir):
        raise RMPEError(f"image folder not found: {image_dir}")
    paths = {int(i): p for i, p in coco.images.paths.items()}
    return DatasetImages(ann_file, image_dir or "", sorted(paths), paths, int(coco.num_keypoints))


def id_span(ids: Sequence[Any]) -> str:
    """A short text for a set of image ids: ``785..197388`` (ints) or the first few names."""
    ints = sorted(i for i in ids if isinstance(i, int))
    names = sorted(str(i) for i in ids if not isinstance(i, int))
    parts = []
    if ints:
        parts.append(str(ints[0]) if ints[0] == ints[-1] else f"{ints[0]}..{ints[-1]}")
    if names:
        parts.append(", ".join(repr(n) for n in names[:3]) + (", ..." if len(names) > 3 else ""))
    return ", ".join(parts) or "none"


def unmatched_ids(counts: Dict[Any, int], dataset: DatasetImages, what: str, source: str) -> Optional[str]:
    """Check the image ids of a detection or results file against the annotation file.

    Args:
        counts: image id -> number of entries of the file on that image.
        what: ``detections`` or ``results``, for the messages.
        source: the file's name.

    Returns:
        None when every entry is on an annotated image, else a one-line notice
        ``N detections for images not in the annotation file (ids a..b)``.

    Raises:
        RMPEError: the file has entries but none on an annotated image (it names both id ranges).
    """
    known = set(dataset.ids)
    unknown = {i: n for i, n in counts.items() if i not in known}
    if not unknown:
        return None
    total = sum(counts.values())
    missed = sum(unknown.values())
    if missed == total:
        raise RMPEError(
            f"none of the {total} {what} in {source} is on an image of the annotation file {dataset.ann_file}: "
            f"{what} image ids {id_span(list(unknown))}, annotation image ids {id_span(dataset.ids)}"
        )
    return (f"{missed} {what} for images not in the annotation file (ids {id_span(list(unknown))}); "
            f"{total - missed} on annotated images are used")


def check_keypoint_count(config: "Config", dataset: DatasetImages) -> None:
    """The annotations, ``model.num_keypoints`` and the config's keypoint set must agree on K.

    Raises:
        RMPEError: naming the three counts and the keys to change.
    """
    k_model = int(config.model.num_keypoints)
    kpset = config.data.keypoint_set()
    k_set = kpset.num_keypoints
    k_ann = dataset.num_keypoints
    if k_ann and k_ann != k_model:
        raise RMPEError(
            f"{dataset.ann_file} has {k_ann} keypoints per person but the config's model.num_keypoints is {k_model}; "
            f"evaluate with a config (and checkpoint) made for {k_ann} keypoints"
        )
    if k_set != k_model:
        raise RMPEError(
            f"the config's keypoint set (data.keypoint_names) has {k_set} keypoints but model.num_keypoints is "
            f"{k_model}; make them match"
        )
    if kpset.sigmas and len(kpset.sigmas) != k_model:
        raise RMPEError(f"data.sigmas has {len(kpset.sigmas)} OKS sigmas for {k_model} keypoints")
    if not kpset.sigmas and k_model != 17:
        raise RMPEError(f"{k_model} keypoints need OKS sigmas for COCO AP: set data.sigmas (the COCO defaults cover 17)")


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


def write_results(results: List[Dict[str, Any]], out: str) -> None:
    """Write the results to ``out`` (atomically) and remove an older ``<out>.metrics.json``.

    Called before scoring: if scoring then fails, the results are kept and no metrics file of
    an earlier run sits beside them looking current.
    """
    atomic_write_json(out, results)
    old = metrics_path(out)
    if os.path.isfile(old):
        os.unlink(old)


def score_results_file(
    config: "Config",
    results: str,
    ann: Optional[str] = None,
    *,
    out: Optional[str] = None,
    log: Callable[[str], None] = print,
) -> Dict[str, Any]:
    """COCO keypoint AP of an existing results file (no model, no images): ``rmpe-eval --results``.

    Args:
        config: gives ``data.val_ann`` (when ``ann`` is None) and the keypoint set's OKS sigmas.
        results: COCO keypoint results JSON (as ``rmpe-eval`` or ``rmpe-demo --format coco`` write).
        out: metrics JSON to write (default ``<results>.metrics.json`` beside the results).

    Results on images that are not in the annotation file are counted and left out (a
    notice says how many); when no result is on an annotated image it is an error.

    Raises:
        RMPEError: a missing or malformed file, no result on an annotated image, keypoint
            counts that differ, an output that cannot be written.
    """
    from .evaluation import evaluate, load_results

    ann = ann or config.data.val_ann
    if not ann:
        raise RMPEError("no annotation file: pass --ann or set data.val_ann")
    if not os.path.isfile(results):
        raise RMPEError(f"results file not found: {results}")
    out = check_output_path(out or metrics_path(results), inputs=(results, ann))
    dataset = load_dataset_images(ann, None)
    records = load_results(results)
    counts: Dict[Any, int] = {}
    for i, r in enumerate(records):
        missing = [k for k in ("image_id", "category_id", "keypoints", "score") if k not in r]
        key = r.get("image_id")
        if missing or isinstance(key, bool) or not isinstance(key, int):
            problem = f"has no {', '.join(repr(k) for k in missing)}" if missing else f"has image_id {key!r}"
            raise RMPEError(f"{results}: result {i} {problem}; COCO keypoint results need an integer image_id, "
                            "category_id, keypoints and score (rmpe-demo writes them with --format coco)")
        counts[key] = counts.get(key, 0) + 1
    if records:
        note = unmatched_ids(counts, dataset, "results", results)
        if note:
            log(note)
            known = set(dataset.ids)
            records = [r for r in records if r["image_id"] in known]
    k = dataset.num_keypoints
    if records and k and isinstance(records[0].get("keypoints"), list) and len(records[0]["keypoints"]) != 3 * k:
        raise RMPEError(f"{results}: results have {len(records[0]['keypoints']) // 3} keypoints per person but "
                        f"{ann} has {k}")
    sigmas = config.data.keypoint_set().sigmas or None
    if sigmas is not None and k and len(sigmas) != k:
        raise RMPEError(f"{ann} has {k} keypoints but the config's keypoint set has {len(sigmas)} OKS sigmas; "
                        "pass the config the results were made with (--config)")
    metrics = dict(evaluate(records, ann, sigmas=sigmas))
    metrics.update({"num_images": len(dataset.ids), "num_results": len(records), "results": results, "ann": ann})
    atomic_write_json(out, metrics, indent=2)
    log(f"{len(records)} results on {len(dataset.ids)} images scored; metrics -> {out}")
    return metrics


@dataclass
class EvalSetup:
    """What :func:`evaluate_model` and :func:`tune_pose_nms` share: the data set, its ids and the pipeline."""

    dataset: DatasetImages
    ids: List[int]
    pipeline: "PosePipeline"
    sigmas: Optional[Tuple[float, ...]]
    notes: List[str] = dataclasses.field(default_factory=list)  #: one-line notices for the user (unmatched ids)


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
    video: Optional[str] = None,
) -> EvalSetup:
    """Check the inputs, then build the data set view and the pipeline (model loading last).

    ``ann``/``images``/``boxes`` default to ``data.val_ann``, ``data.val_images`` and
    ``eval.boxes``; ``nms`` overrides ``pose_nms.type``. With ``video`` (a video file whose
    frames the annotations describe, tracking evaluation) no image folder is needed.
    """
    from .bottomup.network import is_bottomup
    from .bottomup.pipeline import build_pipeline, load_pose_model  # bottom-up or top-down, by model.name
    from .distributed import resolve_device

    ann = ann or config.data.val_ann
    images = None if video else images or config.data.val_images
    if not ann:
        raise RMPEError("no annotation file: pass --ann or set data.val_ann")
    if video is not None and not os.path.isfile(video):
        raise RMPEError(f"video not found: {video}")
    if not images and video is None:
        raise RMPEError("no image folder: pass --images or set data.val_images")
    if max_images is not None and max_images < 1:
        raise RMPEError(f"max_images must be at least 1, got {max_images}")
    boxes = boxes or config.eval.boxes
    check_boxes(boxes)
    dataset = load_dataset_images(ann, images)
    check_keypoint_count(config, dataset)
    notes: List[str] = []
    if boxes not in ("gt", "detector"):
        from detectors import build_detector

        # read (and check) the detection file before the model: unknown image ids are counted here
        file_detector = build_detector(config.detector, type="file", file=boxes, ann=ann)
        note = unmatched_ids(file_detector.entries_per_image(), dataset, "detections", boxes)
        if note:
            notes.append(note)
    dev = resolve_device(device or config.device)
    if model is None:
        if checkpoint is None or not os.path.isfile(checkpoint):
            raise RMPEError(f"checkpoint not found: {checkpoint}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model = load_pose_model(config, checkpoint, dev)
    if nms is not None:
        config = _with_nms(config, nms)
    if is_bottomup(config.model.name):  # bottom-up: whole images, no boxes
        detector = None
    else:
        detector = file_detector if boxes not in ("gt", "detector") else box_source(config, boxes, ann, dev)
    pipeline = build_pipeline(config, model=model, detector=detector, device=str(dev))
    ids = dataset.ids[:max_images] if max_images else list(dataset.ids)
    return EvalSetup(dataset, ids, pipeline, config.data.keypoint_set().sigmas or None, notes)


def _with_nms(config: "Config", nms: str) -> "Config":
    from .config import as_config

    return as_config(config, [f"pose_nms.type={nms}"])


def evaluate_model(
    config: "Config",
    *,
    out: Optional[str] = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    notes: Sequence[str] = (),
    **inputs: Any,
) -> Optional[Dict[str, Any]]:
    """COCO keypoint AP of a pose model on a data set, as ``rmpe-eval`` computes it.

    Args:
        config: the experiment config (``inference:``, ``pose_nms:``, ``detector:``, ``data:``).
        out: results JSON to write (metrics go to ``<out>.metrics.json``); None writes nothing.
        notes: lines for ``log`` once every input has been checked (so an input error stays
            the only line a user sees), before the long work; unmatched-id counts follow them.
        inputs: :func:`prepare`'s keywords: ``ann``, ``images``, ``boxes``, ``checkpoint`` (weights
            for the config's model) or ``model`` (anything with
            :meth:`rmpe.model.RMPEModel.predict`'s signature), ``device``, ``max_images``.

    Returns:
        The metrics (``AP``, ``AP50``, ..., ``stats``, ``num_images``, ``num_results``,
        ``unreadable_images``) on rank 0; None on the other ranks of a ``torchrun`` job.
    """
    from .distributed import barrier, init_distributed, shutdown

    if out is not None:
        check_output_path(out, inputs=(inputs.get("ann") or config.data.val_ann, inputs.get("checkpoint"),
                                       inputs.get("boxes")))
    setup = prepare(config, **inputs)
    info = init_distributed(setup.pipeline.device.type)
    for note in [*notes, *setup.notes] if info.is_main else ():
        log(note)
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
        dropped = getattr(setup.pipeline, "dropped_boxes", 0)
        if dropped:
            log(f"{dropped} boxes dropped: smaller than detector.min_box_size after clipping to the image")
        if out is not None:
            write_results(results, out)  # before scoring: a scoring failure keeps the predictions
        metrics = score_results(results, setup.dataset, setup.ids, setup.sigmas)
        metrics.update({"num_images": len(setup.ids), "num_results": len(results), "unreadable_images": len(missing),
                        "dropped_boxes": int(dropped), "checkpoint": inputs.get("checkpoint"),
                        "ann": setup.dataset.ann_file})
        if out is not None:
            path = metrics_path(out)
            atomic_write_json(path, metrics, indent=2)
            log(f"{len(results)} results on {len(setup.ids)} images -> {out}; metrics -> {path}")
        return metrics
    finally:
        shutdown(info)


def tune_pose_nms(config: "Config", *, out_yaml: str, progress: bool = True, log: Callable[[str], None] = print,
                  notes: Sequence[str] = (), **inputs: Any) -> Dict[str, Any]:
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

    check_output_path(out_yaml, flag="--tune-out", inputs=(inputs.get("ann") or config.data.val_ann,))
    setup = prepare(config, nms="none", **inputs)
    if init_distributed(setup.pipeline.device.type).enabled:
        raise RMPEError("--tune-nms runs in one process; start it without torchrun")
    for note in [*notes, *setup.notes]:
        log(note)
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


# ----------------------------------------------------------------------------- tracking evaluation


@dataclass
class TrackAnnotations:
    """The ground truth of an annotated video: its frames in order and the people of each.

    Attributes:
        ids: image ids in frame order (increasing ``frame_index``).
        frame_index: image id -> the frame's index in the video.
        people: image id -> :class:`rmpe.tracking.metrics.TrackFrame` (``track_id``s, boxes xyxy image
            px, keypoints ``(G, K, 3)`` x, y, v, COCO areas) of the frame's non-crowd people.
    """

    ids: List[Any]
    frame_index: Dict[Any, int]
    people: Dict[Any, Any]


def has_track_annotations(ann: str) -> bool:
    """True when every image of ``ann`` has a ``frame_index`` and every person annotation a ``track_id``
    (what ``rmpe-synth --video`` writes): ``rmpe-eval`` then evaluates tracking without ``--track``."""
    data = read_json(ann, "annotation file")
    images = data.get("images") if isinstance(data, dict) else None
    anns = data.get("annotations") if isinstance(data, dict) else None
    return bool(images) and bool(anns) and all(isinstance(i, dict) and "frame_index" in i for i in images) and \
        all(isinstance(a, dict) and "track_id" in a for a in anns)


def load_track_annotations(ann: str, num_keypoints: Optional[int] = None) -> TrackAnnotations:
    """Read a video's COCO keypoint annotations with ``track_id`` per person (and ``frame_index`` per image).

    Images without ``frame_index`` are ordered by image id. Crowd annotations are left out.

    Raises:
        RMPEError: a malformed file, or no annotation carries a ``track_id`` (or not every one does).
    """
    from .tracking.metrics import TrackFrame

    coco = read_coco_annotations(ann, num_keypoints)
    data = read_json(ann, "annotation file")
    anns = data["annotations"]
    with_id = [isinstance(a, dict) and isinstance(a.get("track_id"), int) and not isinstance(a.get("track_id"), bool)
               for a in anns]
    if not any(with_id):
        raise RMPEError(f"{ann}: no annotation has a track_id; tracking evaluation (--track) needs a video's "
                        "annotations with a track_id per person (rmpe-synth --video writes them)")
    if not all(with_id):
        bad = with_id.index(False)
        raise RMPEError(f"{ann}: annotation {anns[bad].get('id', bad)} has no integer track_id ({sum(with_id)} of "
                        f"{len(anns)} have one); every person needs one for tracking evaluation")
    frame_of: Dict[Any, int] = {}
    for position, image in enumerate(data.get("images") or []):
        index = image.get("frame_index")
        frame_of[image["id"]] = int(index) if isinstance(index, int) and not isinstance(index, bool) else None
    if any(v is None for v in frame_of.values()):
        ordered = sorted(frame_of, key=lambda i: (str(type(i)), i))
        frame_of = {image_id: n for n, image_id in enumerate(ordered)}
    ids = sorted(frame_of, key=lambda i: frame_of[i])
    k = coco.num_keypoints
    rows: Dict[Any, List[int]] = {i: [] for i in ids}
    for row, image_id in enumerate(coco.image_ids):
        if image_id in rows and coco.person[row] and not coco.crowd[row]:
            rows[image_id].append(row)
    people = {}
    for image_id, r in rows.items():
        r = np.asarray(r, np.int64)
        boxes = coco.boxes[r] if len(r) else np.zeros((0, 4))
        areas = coco.areas[r] if len(r) else np.zeros(0)
        box_areas = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), axis=1)
        areas = np.where(np.isfinite(areas) & (areas > 0), areas, box_areas)
        people[image_id] = TrackFrame(np.array([anns[i]["track_id"] for i in r], np.int64), boxes,
                                      coco.keypoints[r] if len(r) else np.zeros((0, k, 3)), areas)
    return TrackAnnotations(ids, frame_of, people)


def _predicted_frame(people: Sequence[Any], k: int):
    """A frame's tracked people as a :class:`~rmpe.tracking.metrics.TrackFrame` (``-1`` where no id)."""
    from .tracking.metrics import TrackFrame

    if not people:
        return TrackFrame(np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros((0, k, 3)))
    return TrackFrame(np.array([-1 if p.track_id is None else p.track_id for p in people], np.int64),
                      np.stack([np.asarray(p.box, np.float64) for p in people]),
                      np.stack([np.asarray(p.keypoints, np.float64) for p in people]))


def _ordered_frames(setup: EvalSetup, ids: Sequence[Any], frame_of: Dict[Any, int], video: Optional[str],
                    batch: int) -> Iterator[List[Tuple[Any, Any, Optional[np.ndarray]]]]:
    """Batches of ``(image id, detector id, image or None)`` in frame order: from the image folder
    (unreadable images give None) or from the video (frame t is the image whose ``frame_index`` is
    t; a frame that no image describes has image id None and the detector id ``"video frame t"``,
    which no detection file or ground truth names; frames after the last wanted one are not read)."""
    if video is None:
        for start in range(0, len(ids), batch):
            yield [(i, i, _read(setup.dataset.paths[i])) for i in ids[start:start + batch]]
        return
    from .sources import VideoSource, batched

    by_frame = {frame_of[i]: i for i in ids}
    last = max(by_frame) if by_frame else -1
    source = iter(VideoSource(video))
    try:
        for frames in batched(source, batch):
            out = [(by_frame.get(f.index), by_frame.get(f.index, f"video frame {f.index}"), f.image)
                   for f in frames if f.index <= last]
            if out:
                yield out
            if frames[-1].index >= last:
                break
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()


def evaluate_tracking_model(
    config: "Config",
    *,
    track_step: Callable[[list], Any],
    out: Optional[str] = None,
    video: Optional[str] = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    notes: Sequence[str] = (),
    **inputs: Any,
) -> Dict[str, Any]:
    """Keypoint AP and tracking metrics of a pose model plus tracker on an annotated video.

    The frames go through the pipeline (detector, crops, model, decoding, pose NMS) in frame order,
    then through ``track_step`` one frame at a time; the people's ``track_id`` are scored against the
    annotations' ``track_id`` with :func:`rmpe.tracking.metrics.evaluate_tracking` (HOTA, DetA, AssA,
    IDF1, MOTA, IDSW on boxes and on keypoints; a predicted keypoint counts when it scores at least
    ``tracking.keypoint_threshold``), and the COCO results (with ``track_id``) by COCO AP.

    Args:
        config: the experiment config (``tracking:`` too).
        track_step: called with each frame's list of :class:`rmpe.structures.Person`, in frame order
            (frames without people too); sets their ``track_id`` (``rmpe.api.assign_track_ids`` with
            one new tracker, and the smoother with ``tracking.smooth``). With ``tracking.appearance``
            the people carry their SPPE features (:attr:`Person.feature`) for it, as in
            ``PoseEstimator.run``.
        out: results JSON (COCO records with ``track_id``; metrics to ``<out>.metrics.json``).
        video: read the frames from this video file (frame t = the image with ``frame_index`` t)
            instead of the image folder.
        inputs: :func:`prepare`'s keywords (``ann``, ``images``, ``boxes``, ``checkpoint`` or ``model``,
            ``device``, ``max_images``: the first N frames).

    Returns:
        The COCO metrics (``AP``, ..., ``stats``) plus ``tracking`` (``{"boxes": {...}, "poses": {...}}``),
        ``num_frames``, ``num_results``, ``unreadable_images``.

    Raises:
        RMPEError: the annotations carry no ``track_id``, a missing input, a torchrun launch.
    """
    from .distributed import init_distributed
    from .tracking.metrics import evaluate_tracking

    ann = inputs.get("ann") or config.data.val_ann
    if out is not None:
        check_output_path(out, inputs=(ann, inputs.get("checkpoint"), inputs.get("boxes"), video))
    # the track ids are checked before the model is loaded (a missing file is prepare's error)
    truth = load_track_annotations(ann) if ann and os.path.isfile(ann) else None
    setup = prepare(config, video=video, **inputs)
    truth = truth or load_track_annotations(setup.dataset.ann_file)
    if init_distributed(setup.pipeline.device.type).enabled:
        raise RMPEError("tracking evaluation runs the frames in order in one process; start it without torchrun")
    for note in [*notes, *setup.notes]:
        log(note)
    # as PoseEstimator.run with track=True: the SPPE's pooled features go to the tracker (tracking.appearance)
    setup.pipeline.features = bool(config.tracking.appearance)
    max_images = inputs.get("max_images")
    ids = truth.ids[:max_images] if max_images else list(truth.ids)
    k = int(config.model.num_keypoints)
    from tqdm import tqdm

    results: List[Dict[str, Any]] = []
    predicted: Dict[Any, Any] = {}
    missing: List[Any] = []
    bar = tqdm(total=len(ids), unit="frame", disable=not progress, desc="rmpe-eval --track", dynamic_ncols=True)
    try:
        for chunk in _ordered_frames(setup, ids, truth.frame_index, video, config.inference.batch):
            readable = [(key, image) for _, key, image in chunk if image is not None]
            people = iter(setup.pipeline([image for _, image in readable], [key for key, _ in readable])
                          if readable else [])
            for image_id, _, image in chunk:  # frame order, unreadable frames included (tracks age)
                found = next(people) if image is not None else []
                track_step(found)
                if image_id is None:
                    continue
                if image is None:
                    missing.append(image_id)
                predicted[image_id] = _predicted_frame(found, k)
                results.extend(to_coco(FrameResult(index=image_id, people=found, image_id=image_id, tracked=True)))
                bar.update(1)
    finally:
        bar.close()
    if missing:
        warnings.warn(f"{len(missing)} frames could not be read (first: image id {missing[0]})")
    if out is not None:
        write_results(results, out)
    metrics = score_results(results, setup.dataset, ids, setup.sigmas)
    gt = [truth.people[i] for i in ids]
    pred = [predicted[i] if i in predicted else _predicted_frame([], k) for i in ids]
    metrics["tracking"] = evaluate_tracking(gt, pred, sigmas=setup.sigmas or None,
                                            keypoint_threshold=config.tracking.keypoint_threshold)
    metrics.update({"num_frames": len(ids), "num_results": len(results), "unreadable_images": len(missing),
                    "checkpoint": inputs.get("checkpoint"), "ann": setup.dataset.ann_file, "video": video})
    if out is not None:
        path = metrics_path(out)
        atomic_write_json(path, metrics, indent=2)
        log(f"{len(results)} results on {len(ids)} frames -> {out}; metrics -> {path}")
    return metrics


def format_tracking(tracking: Dict[str, Dict[str, Any]]) -> str:
    """The tracking metrics as a small table: one row per similarity (boxes, poses)."""
    from .tracking.metrics import SUMMARY_KEYS

    lines = [f"{'tracking':<9}" + "".join(f"{k:>8}" for k in SUMMARY_KEYS)]
    for part, m in tracking.items():
        cells = "".join(f"{m[k]:>8d}" if k == "IDSW" else f"{m[k]:>8.3f}" for k in SUMMARY_KEYS)
        lines.append(f"{part:<9}{cells}")
    return "\n".join(lines)
