"""``rmpe-pgpg``: fit a pose-guided proposals generator (PGPG) and inspect a fitted one.

Usage::

    rmpe-pgpg fit --ann person_keypoints_train.json --dets detections.json --out pgpg.npz [--k 8]
    rmpe-pgpg show --model pgpg.npz

``--ann`` is a COCO keypoint annotation file; ``--dets`` holds a person detector's boxes on
the same images in the COCO results format (a JSON list of ``{"image_id", "bbox": [x, y,
w, h], "score", "category_id"}``; a COCO annotation file is accepted too). Crowd
annotations are skipped. ``fit`` prints one line per atomic pose: its number of poses and
matched detections, the mean and standard deviation of its offset mixture and whether it
fell back to the global mixture.
"""
from __future__ import annotations

import argparse
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from detectors.detection_file import parse_xywh
from detectors.detection_file import read_json as read_detections_json
from pgpg import (
    OffsetProposals,
    PoseNormalization,
    SamplingSettings,
    fit_pgpg,
    load_proposal_generator,
    save_proposal_generator,
)

from ..data.annotations import load_person_boxes
from ..errors import RMPEError, cli_main
from .options import ArgumentParser

#: COCO's person category id: detections of other categories are skipped.
PERSON = 1


def load_coco_people(path: str) -> Tuple[np.ndarray, np.ndarray, List[Any], int]:
    """Non-crowd person annotations of a COCO keypoint file (:func:`rmpe.data.annotations.load_person_boxes`).

    Returns:
        boxes (N, 4) xyxy pixels, keypoints (N, K, 3) (x, y, v) (zeros where an annotation has
        none), image ids (N,) as in the file, number of crowd annotations skipped.
    """
    people = load_person_boxes(path)
    if not len(people.boxes):
        raise RMPEError(f"annotation file {path} holds no non-crowd person annotations")
    if not people.has_keypoints.any():
        raise RMPEError(f"annotation file {path}: no person annotation has keypoints; PGPG clusters poses")
    return people.boxes, people.keypoints, people.image_ids, people.crowd


def load_coco_detections(path: str) -> Tuple[np.ndarray, np.ndarray, List[Any]]:
    """Person detections in the COCO results format (or the boxes of a COCO annotation file).

    The file and its boxes are read with the detectors package's parsers
    (:func:`detectors.detection_file.read_json`, :func:`detectors.detection_file.parse_xywh`);
    an annotation file is read by :func:`rmpe.data.annotations.load_person_boxes`.

    Returns:
        boxes (M, 4) xyxy pixels, scores (M,) (1 where absent), image ids (M,).
    """
    doc = read_detections_json(path, "detection file")
    if isinstance(doc, dict) and isinstance(doc.get("annotations"), list):
        people = load_person_boxes(path)
        return people.boxes, np.ones(len(people.boxes)), people.image_ids
    if not isinstance(doc, list):
        raise RMPEError(f"detection file {path} must be a JSON list of COCO results (image_id, bbox, score)")
    boxes, scores, ids = [], [], []
    for i, det in enumerate(doc):
        where = f"detection file {path}, entry {i}"
        if not isinstance(det, dict) or "image_id" not in det:
            raise RMPEError(f"{where}: must be an object with 'image_id', 'bbox' and 'score'")
        if det.get("category_id", PERSON) != PERSON or det.get("iscrowd", 0):
            continue
        score = det.get("score", 1.0)
        if not isinstance(score, (int, float)) or isinstance(score, bool):
            raise RMPEError(f"{where}: 'score' must be a number, got {score!r}")
        boxes.append(parse_xywh(det.get("bbox"), where))
        scores.append(float(score))
        ids.append(det["image_id"])
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4), np.asarray(scores, dtype=np.float64), ids


def _index_ids(gt_ids: Sequence[Any], det_ids: Sequence[Any]) -> Tuple[np.ndarray, np.ndarray]:
    table: Dict[Any, int] = {}
    try:
        g = np.asarray([table.setdefault(i, len(table)) for i in gt_ids], dtype=np.int64)
        d = np.asarray([table.setdefault(i, len(table)) for i in det_ids], dtype=np.int64)
    except TypeError:
        raise RMPEError("image ids must be numbers or strings") from None
    return g, d


def _pair(values: Sequence[int], flag: str) -> Tuple[int, int]:
    if len(values) != 2:
        raise RMPEError(f"{flag} takes two indices (left right)")
    return int(values[0]), int(values[1])


def _fit(args: argparse.Namespace) -> int:
    boxes, keypoints, gt_ids, crowd = load_coco_people(args.ann)
    det_boxes, det_scores, det_ids = load_coco_detections(args.dets)
    g_idx, d_idx = _index_ids(gt_ids, det_ids)
    if not args.out.lower().endswith((".npz", ".json")):
        raise RMPEError(f"--out {args.out} must end in .npz or .json")
    gen = fit_pgpg(
        boxes,
        keypoints,
        g_idx,
        det_boxes,
        d_idx,
        det_scores,
        k=args.k,
        n_components=args.components,
        iou_threshold=args.iou,
        min_score=args.min_score,
        min_samples=args.min_samples,
        reg_covar=args.reg,
        seed=args.seed,
        normalization=PoseNormalization(shoulders=_pair(args.shoulders, "--shoulders"), hips=_pair(args.hips, "--hips")),
        settings=SamplingSettings(subpatch_probability=args.subpatch_probability),
    )
    save_proposal_generator(gen, args.out)
    info = gen.fit_info
    print(
        f"rmpe-pgpg: {info['people']} people ({crowd} crowd skipped) on {info['images']} images, "
        f"{info['poses_clustered']} poses in k={args.k} atomic poses ({info['poses_without_atom']} without); "
        f"{info['detections']} detections with score >= {args.min_score}, {info['matched']} matched at IoU >= {args.iou} "
        f"({info['matched_without_atom']} to poses without atom)"
    )
    print(format_summary(gen))
    print(f"rmpe-pgpg: wrote {args.out}")
    return 0


def format_summary(generator: OffsetProposals) -> str:
    """The generator's per-atom :meth:`~pgpg.OffsetProposals.summary` as a plain-text table."""
    head = (
        f"{'atom':>6} {'poses':>7} {'matched':>8} {'comp':>4} "
        f"{'mean dx1/w':>10} {'dy1/h':>7} {'dx2/w':>7} {'dy2/h':>7}  {'std dx1/w':>9} {'dy1/h':>7} "
        f"{'dx2/w':>7} {'dy2/h':>7}  fallback"
    )
    lines = [head]
    for r in generator.summary():
        m, s = r["mean"], r["std"]
        lines.append(
            f"{r['atom']!s:>6} {r['poses']:>7d} {r['matched']:>8d} {r['components']:>4d} "
            f"{m[0]:>+10.4f} {m[1]:>+7.4f} {m[2]:>+7.4f} {m[3]:>+7.4f}  {s[0]:>9.4f} {s[1]:>7.4f} "
            f"{s[2]:>7.4f} {s[3]:>7.4f}  {'global' if r['fallback'] else ('-' if r['atom'] == 'global' else 'no')}"
        )
    return "\n".join(lines)


def _show(args: argparse.Namespace) -> int:
    gen = load_proposal_generator(args.model)
    print(repr(gen))
    if isinstance(gen, OffsetProposals):
        print(format_summary(gen))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="rmpe-pgpg", description="Fit or inspect a pose-guided proposals generator.")
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit", help="fit atomic poses and per-atom offset mixtures")
    fit.add_argument("--ann", required=True, help="COCO keypoint annotation JSON")
    fit.add_argument("--dets", required=True, help="COCO detection results JSON on the same images")
    fit.add_argument("--out", required=True, help="model file to write (.npz or .json)")
    fit.add_argument("--k", type=int, default=8, help="number of atomic poses (default 8)")
    fit.add_argument("--components", type=int, default=2, help="Gaussians per offset mixture (default 2)")
    fit.add_argument("--min-samples", type=int, default=30, help="fewer matches -> the atom uses the global mixture (30)")
    fit.add_argument("--iou", type=float, default=0.5, help="minimum IoU of a detection-GT match (0.5)")
    fit.add_argument("--min-score", type=float, default=0.0, help="ignore detections scored below this (0)")
    fit.add_argument("--reg", type=float, default=1e-5, help="added to covariance diagonals (1e-5)")
    fit.add_argument("--seed", type=int, default=0, help="seed of k-means and EM (0)")
    fit.add_argument("--subpatch-probability", type=float, default=0.15, help="random sub-patch chance (0.15)")
    fit.add_argument("--shoulders", type=int, nargs=2, default=[5, 6], metavar=("L", "R"), help="shoulder indices (5 6)")
    fit.add_argument("--hips", type=int, nargs=2, default=[11, 12], metavar=("L", "R"), help="hip indices (11 12)")
    fit.set_defaults(func=_fit)
    show = sub.add_parser("show", help="print the per-atom summary of a model file")
    show.add_argument("--model", required=True, help="model file written by `rmpe-pgpg fit`")
    show.set_defaults(func=_show)
    return parser


@cli_main
def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``rmpe-pgpg``; returns the exit status (2 for bad input)."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
