"""The crowd world's simulated detector against a real person detector, figure by figure.

Usage::

    python benchmarks/calibrate_detector.py [--config configs/synthetic/crowd.yaml] [--images 200]
        [--seeds 0 1] [--real-ann ../shared/data/mmpose_coco/test_coco.json]
        [--real-dets ../shared/data/mmpose_coco/test_coco_det_AP_H_56.json] [--json out.json]

The real side is a detector's result file on COCO images (default: the 118 real boxes on 4
COCO val2017 images of ``../shared/data/mmpose_coco``); the simulated side renders
``--images`` images of the config's ``synthetic:`` world per seed in memory and runs its
simulated detector. Both are measured by
:func:`rmpe.data.synthetic.calibration.detector_statistics` at score >= 0.05 (definitions in
that module), and the table shows the simulated figure as a ratio of the real one. Tune
``synthetic.detector`` in the config until the ratios are near 1 (docs/synthetic-data.md,
"Crowd world and detector calibration").

``--per-person`` prints instead, for the real file only, every person's boxes (each box owned
by the person it overlaps most, :func:`rmpe.data.synthetic.calibration.person_box_rows`): their
scores, the second and third box's score over the top one, the top box's IoU, and summaries of
the people whose top box scores above ``--top`` (the figures the video detector's duplicate
scores and persistent box errors are set from, docs/synthetic-data.md "Simulated detector on
video")::

    python benchmarks/calibrate_detector.py --per-person [--top 0.9]
"""
from __future__ import annotations

import argparse
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from rmpe.config import load_config  # noqa: E402
from rmpe.data.synthetic.calibration import (  # noqa: E402
    CALIBRATED, coco_detector_statistics, person_box_rows, read_coco_detections, simulated_detector_statistics,
)
from rmpe.io import atomic_write_json  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
REAL = os.path.join(ROOT, "..", "shared", "data", "mmpose_coco")
ROWS = CALIBRATED + ("top_score_median", "fp_score_median")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default=os.path.relpath(os.path.join(ROOT, "configs", "synthetic", "crowd.yaml")))
    ap.add_argument("--images", type=int, default=200, help="simulated images per seed")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--score", type=float, default=0.05, help="detections below this score are left out")
    ap.add_argument("--real-ann", default=os.path.join(REAL, "test_coco.json"))
    ap.add_argument("--real-dets", default=os.path.join(REAL, "test_coco_det_AP_H_56.json"))
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    ap.add_argument("--per-person", action="store_true", help="per-person boxes of the real file (video detector figures)")
    ap.add_argument("--top", type=float, default=0.9, help="--per-person summaries: people whose top box scores above this")
    args = ap.parse_args()
    if args.per_person:
        per_person(args.real_ann, args.real_dets, args.top)
        return

    real = coco_detector_statistics(args.real_ann, args.real_dets, score_threshold=args.score)
    world = load_config(args.config).synthetic
    sims = [simulated_detector_statistics(world, args.images, seed=s, score_threshold=args.score) for s in args.seeds]
    print(f"score >= {args.score}; real: {real['images']} images, {real['people']} people, {real['boxes']} boxes "
          f"({os.path.basename(args.real_dets)})")
    print(f"simulated: {args.config}, {args.images} images per seed, seeds {args.seeds}, "
          + ", ".join(f"{s['people']} people" for s in sims))
    head = f"| figure | real | " + " | ".join(f"simulated (seed {s})" for s in args.seeds) + " | ratio (seed mean) |"
    print(head)
    print("|" + "---|" * (3 + len(args.seeds)))
    for key in ROWS:
        values = [s[key] for s in sims]
        mean = sum(values) / len(values)
        ratio = mean / real[key] if real[key] not in (0, 0.0) and not math.isnan(real[key]) else float("nan")
        cells = " | ".join(f"{v:.3f}" for v in values)
        print(f"| {key} | {real[key]:.3f} | {cells} | {ratio:.2f} |")
    if args.json:
        atomic_write_json(args.json, {"real": real, "simulated": dict(zip(map(str, args.seeds), sims)),
                                      "config": args.config, "score_threshold": args.score}, indent=2)


def per_person(ann_file: str, det_file: str, top: float) -> None:
    """Print every person's boxes and the summaries of the people with a top box above ``top``."""
    import numpy as np

    rows = person_box_rows(*read_coco_detections(ann_file, det_file))
    print(f"{'person':>6}  {'best scores':<28}  {'2nd/top, 3rd/top':<16}  top IoU")
    for n, r in enumerate(rows):
        s = np.asarray(r["scores"])
        ratios = s[1:3] / s[0] if len(s) else s
        print(f"{n:>6}  {' '.join(f'{v:.3f}' for v in s[:4]):<28}  {' '.join(f'{v:.3f}' for v in ratios):<16}  "
              f"{r['top_iou']:.2f}")
    sure = [r for r in rows if r["scores"] and r["scores"][0] > top]
    second = np.array([(r["scores"][1], r["scores"][1] / r["scores"][0]) for r in sure if len(r["scores"]) > 1])
    third = np.array([r["scores"][2] / r["scores"][0] for r in sure if len(r["scores"]) > 2])
    sides = np.array([r["side_errors"] for r in sure])
    print(f"people with a top box above {top}: {len(sure)} of {len(rows)}")
    if len(second):
        print(f"second box score: {second[:, 0].min():.3f}..{second[:, 0].max():.3f} (median "
              f"{np.median(second[:, 0]):.3f}); / top: {second[:, 1].min():.3f}..{second[:, 1].max():.3f}")
    if len(third):
        print(f"third box / top: {third.min():.3f}..{third.max():.3f} (median {np.median(third):.3f})")
    if len(sides):
        print("top box side errors (x0, y0, x1, y1; fraction of GT w/h): std "
              + ", ".join(f"{v:.3f}" for v in sides.std(axis=0)) + "; mean "
              + ", ".join(f"{v:+.3f}" for v in sides.mean(axis=0)))


if __name__ == "__main__":
    main()
