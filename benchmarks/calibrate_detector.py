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
"""
from __future__ import annotations

import argparse
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from rmpe.config import load_config  # noqa: E402
from rmpe.data.synthetic.calibration import (  # noqa: E402
    CALIBRATED, coco_detector_statistics, simulated_detector_statistics,
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
    args = ap.parse_args()

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


if __name__ == "__main__":
    main()
