"""COCO keypoint evaluation (pycocotools ``COCOeval``, iouType ``"keypoints"``).

:func:`evaluate` returns the ten standard statistics by name (``AP``, ``AP50``, ``AP75``, ``APm``,
``APl``, ``AR``, ``AR50``, ``AR75``, ``ARm``, ``ARl``) plus the ``stats`` list in pycocotools
order. It is quiet unless ``verbose=True`` (pycocotools' own prints are swallowed).

Result order matters when scores tie. pycocotools keeps the order it is given: ``loadRes``
numbers the results in list order, groups them per image in that order, and every later sort
(per image in ``computeOks``/``evaluateImg``, across images in ``accumulate``) is a stable
mergesort. The results are therefore passed on in file order, untouched; that reproduces the
published numbers (e.g. mmpose's case with seven tied scores).

An empty result list is valid: it is evaluated against an empty detection set, which gives
0.0 for every statistic whose area range holds ground truth and -1.0 (pycocotools' "no ground
truth" value) for the others.

Example::

    metrics = evaluate("results.json", "person_keypoints_val2017.json")
    print(format_stats(metrics))
"""
from __future__ import annotations

import contextlib
import io
import math
import os
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Union

import numpy as np

from .errors import RMPEError
from .io import read_json

#: Names of ``COCOeval.stats`` for iouType "keypoints", in order.
STAT_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")

# (precision?, IoU threshold or None for 0.50:0.95, area range) of each statistic
_STAT_ROWS = (
    (True, None, "all"), (True, 0.5, "all"), (True, 0.75, "all"), (True, None, "medium"), (True, None, "large"),
    (False, None, "all"), (False, 0.5, "all"), (False, 0.75, "all"), (False, None, "medium"), (False, None, "large"),
)


@contextlib.contextmanager
def _quiet(verbose: bool) -> Iterator[None]:
    if verbose:
        yield
    else:
        with contextlib.redirect_stdout(io.StringIO()):
            yield


def _is_coco(obj: Any) -> bool:
    return hasattr(obj, "loadRes") and hasattr(obj, "dataset") and hasattr(obj, "getImgIds")


def _num_keypoints(coco: Any) -> Optional[int]:
    for cat in coco.dataset.get("categories", []) or []:
        names = cat.get("keypoints")
        if names:
            return len(names)
    for ann in coco.dataset.get("annotations", []) or []:
        if ann.get("keypoints"):
            return len(ann["keypoints"]) // 3
    return None


def _check_keypoint_annotations(coco: Any, source: str) -> None:
    anns = coco.dataset.get("annotations", []) or []
    cats = coco.dataset.get("categories", []) or []
    with_kp = [a for a in anns if "keypoints" in a]
    if not with_kp and not any(c.get("keypoints") for c in cats):
        raise RMPEError(
            f"{source}: no keypoint annotations (expected a COCO person_keypoints file with 'keypoints' per annotation)"
        )
    if len(with_kp) != len(anns):
        bad = next(a for a in anns if "keypoints" not in a)
        raise RMPEError(
            f"{source}: {len(anns) - len(with_kp)} annotations have no 'keypoints' "
            f"(first: id {bad.get('id')}); use a keypoint annotation file"
        )
    for a in with_kp:
        if "num_keypoints" not in a:
            raise RMPEError(f"{source}: annotation id {a.get('id')} has 'keypoints' but no 'num_keypoints'")


class _Dataset:
    """Minimal stand-in with a ``dataset`` attribute, to check a JSON dict before indexing it."""

    def __init__(self, data: dict) -> None:
        self.dataset = data


def load_coco(ann: Any, verbose: bool = False) -> Any:
    """A pycocotools ``COCO`` for a keypoint annotation file (or the given ``COCO`` object).

    Raises:
        RMPEError: the file is missing, is not JSON, is not a COCO annotation mapping, or holds
            no keypoint annotations. The message names the file.
    """
    from pycocotools.coco import COCO

    if _is_coco(ann):
        _check_keypoint_annotations(ann, "annotations")
        return ann
    path = os.fspath(ann)
    data = read_json(path, "annotation file")
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) or not isinstance(
        data.get("annotations"), list
    ):
        raise RMPEError(f"{path}: not a COCO annotation file (needs 'images' and 'annotations' lists)")
    _check_keypoint_annotations(_Dataset(data), path)
    coco = COCO()
    coco.dataset = data
    with _quiet(verbose):
        coco.createIndex()
    return coco


def load_results(results: Union[str, os.PathLike, Sequence[Mapping[str, Any]]]) -> List[Dict[str, Any]]:
    """COCO keypoint results as a list of (copied) dicts, from a JSON file or a list.

    Raises:
        RMPEError: a missing or malformed file, a file that is not a JSON list of objects.
    """
    if isinstance(results, (str, os.PathLike)):
        path = os.fspath(results)
        data = read_json(path, "results file")
        if not isinstance(data, list):
            raise RMPEError(f"{path}: a results file must hold a JSON list of keypoint results")
        results = data
    out = []
    for i, r in enumerate(results):
        if not isinstance(r, Mapping):
            raise RMPEError(f"result {i}: expected a dict, got {type(r).__name__}")
        out.append(dict(r))  # pycocotools' loadRes adds keys; the caller's dicts stay untouched
    return out


def _check_results(res: List[Dict[str, Any]], coco: Any, K: Optional[int]) -> None:
    image_ids = set(coco.getImgIds())
    for i, r in enumerate(res):
        for key in ("image_id", "category_id", "keypoints", "score"):
            if key not in r:
                raise RMPEError(f"result {i}: missing '{key}' (COCO keypoint results need image_id, category_id, "
                                "keypoints, score)")
        if r["image_id"] not in image_ids:
            raise RMPEError(f"result {i}: image_id {r['image_id']!r} is not in the annotation file")
        kp = r["keypoints"]
        if not isinstance(kp, (list, tuple)) or (K is not None and len(kp) != 3 * K):
            n = len(kp) if isinstance(kp, (list, tuple)) else type(kp).__name__
            raise RMPEError(f"result {i}: 'keypoints' must be a flat list of {3 * K if K else '3K'} numbers, got {n}")
        try:
            finite = all(math.isfinite(float(v)) for v in kp) and math.isfinite(float(r["score"]))
        except (TypeError, ValueError):
            finite = False
        if not finite:
            raise RMPEError(f"result {i}: keypoints and score must be finite numbers")


def evaluate(
    results: Union[str, os.PathLike, Sequence[Mapping[str, Any]]],
    ann: Any,
    *,
    sigmas: Optional[Sequence[float]] = None,
    image_ids: Optional[Sequence[int]] = None,
    verbose: bool = False,
) -> Dict[str, Any]:
    """COCO keypoint AP/AR of ``results`` against ``ann``.

    Args:
        results: COCO keypoint results (dicts with ``image_id``, ``category_id``,
            ``keypoints`` = flat ``[x, y, v] * K`` in image px, ``score``) or a JSON file of them.
            Evaluated in the given order (ties in score keep it).
        ann: a keypoint annotation JSON path or a pycocotools ``COCO`` object.
        sigmas: K OKS sigmas for a non-COCO keypoint set (``COCOeval.params.kpt_oks_sigmas``);
            default: pycocotools' COCO-17 values.
        image_ids: evaluate only these images (default: every image of ``ann``).
        verbose: let pycocotools print its progress and summary.

    Returns:
        ``{"AP": .., "AP50": .., ..., "ARl": .., "stats": [10 floats]}``.

    Raises:
        RMPEError: missing/invalid annotation or results file, annotations without keypoints,
            malformed results, results on images not in ``ann``, wrong number of sigmas.
    """
    ev = matched_cocoeval(results, ann, sigmas=sigmas, image_ids=image_ids, verbose=verbose)
    with _quiet(verbose):
        ev.accumulate()
        ev.summarize()
    stats = [float(v) for v in ev.stats]
    out: Dict[str, Any] = dict(zip(STAT_NAMES, stats))
    out["stats"] = stats
    return out


def matched_cocoeval(
    results: Union[str, os.PathLike, Sequence[Mapping[str, Any]]],
    ann: Any,
    *,
    sigmas: Optional[Sequence[float]] = None,
    image_ids: Optional[Sequence[int]] = None,
    verbose: bool = False,
) -> Any:
    """The pycocotools ``COCOeval`` (``iouType="keypoints"``) of :func:`evaluate` after its
    per-image matching step (``evaluate()``), before ``accumulate()``: its ``evalImgs`` hold
    each image's matches (:mod:`rmpe.evaluation_bootstrap` resamples them). Arguments and
    errors as :func:`evaluate`."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    coco_gt = load_coco(ann, verbose=verbose)
    K = _num_keypoints(coco_gt)
    res = load_results(results)
    _check_results(res, coco_gt, K)
    with _quiet(verbose):
        if res:
            coco_dt = coco_gt.loadRes(res)
        else:
            coco_dt = COCO()
            coco_dt.dataset = {
                "images": list(coco_gt.dataset.get("images", [])),
                "categories": list(coco_gt.dataset.get("categories", [])),
                "annotations": [],
            }
            coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, "keypoints")
        if sigmas is not None:
            sig = np.asarray(sigmas, dtype=np.float64).reshape(-1)
            if K is not None and sig.size != K:
                raise RMPEError(f"sigmas: {sig.size} OKS sigmas given for {K} keypoints")
            ev.params.kpt_oks_sigmas = sig
        elif K is not None and K != len(ev.params.kpt_oks_sigmas):
            raise RMPEError(
                f"annotations have {K} keypoints but no sigmas were given (the COCO defaults cover 17); pass sigmas"
            )
        if image_ids is not None:
            known = set(coco_gt.getImgIds())
            unknown = [i for i in image_ids if i not in known]
            if unknown:
                raise RMPEError(f"image_ids: {unknown[0]!r} is not in the annotation file")
            ev.params.imgIds = sorted(set(image_ids))
        ev.evaluate()
    return ev


def format_stats(stats: Union[Mapping[str, Any], Sequence[float]], max_dets: int = 20) -> str:
    """The standard ten-line COCO keypoint summary, as pycocotools prints it.

    Args:
        stats: the dict from :func:`evaluate` (its ``stats`` or the named values) or the list
            of ten numbers.
        max_dets: the maxDets shown (COCOeval uses 20 for keypoints).
    """
    if isinstance(stats, Mapping):
        values = list(stats["stats"]) if "stats" in stats else [stats[name] for name in STAT_NAMES]
    else:
        values = list(stats)
    if len(values) != len(STAT_NAMES):
        raise ValueError(f"expected {len(STAT_NAMES)} keypoint statistics, got {len(values)}")
    lines = []
    for (precision, iou, area), value in zip(_STAT_ROWS, values):
        title = "Average Precision" if precision else "Average Recall"
        kind = "(AP)" if precision else "(AR)"
        iou_text = "0.50:0.95" if iou is None else f"{iou:0.2f}"
        lines.append(
            f" {title:<18} {kind} @[ IoU={iou_text:<9} | area={area:>6s} | maxDets={max_dets:>3d} ] = {value:0.3f}"
        )
    return "\n".join(lines)


def print_stats(stats: Union[Mapping[str, Any], Sequence[float]], file: Any = None) -> None:
    """Print :func:`format_stats` (to stdout unless ``file`` is given)."""
    print(format_stats(stats), file=file)


def coco_objective(
    ann: Any,
    metric: str = "AP",
    *,
    sigmas: Optional[Sequence[float]] = None,
    image_ids: Optional[Sequence[int]] = None,
) -> Callable[[Sequence[Mapping[str, Any]]], float]:
    """An objective for :func:`pose_nms.search_params`: COCO keypoint results -> ``metric``.

    The annotation file is read once. Pass the validation ``image_ids`` so images without
    proposals still count their ground truth, and other images of ``ann`` do not.
    """
    if metric not in STAT_NAMES:
        raise RMPEError(f"metric '{metric}' is not one of {', '.join(STAT_NAMES)}")
    coco = load_coco(ann)

    def objective(results: Sequence[Mapping[str, Any]]) -> float:
        return float(evaluate(results, coco, sigmas=sigmas, image_ids=image_ids)[metric])

    return objective
