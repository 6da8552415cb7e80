"""Per-person box statistics of a real person detector, to calibrate the simulated one.

Reads a COCO ground-truth file and a detection-results file (default: the 4 COCO val2017
images of ../shared/data/mmpose_coco with the 118 boxes of mmpose's test detector), gives every
detection to the ground-truth person it overlaps most (IoU >= 0.5) and prints, per person, the
scores of its best boxes, their ratios to the top score, the top box's IoU and its side errors
(fractions of the ground-truth width or height). The summary lines are the figures quoted in
docs/synthetic-data.md ("Simulated detector on video").

    python benchmarks/detector_calibration.py
    python benchmarks/detector_calibration.py --gt my_gt.json --dets my_dets.json --top 0.9
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = (ROOT / ".." / "shared" / "data" / "mmpose_coco").resolve()


def iou_xywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of (4,) xywh box ``a`` with (D, 4) xywh boxes ``b`` -> (D,)."""
    iw = np.clip(np.minimum(a[0] + a[2], b[:, 0] + b[:, 2]) - np.maximum(a[0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[1] + a[3], b[:, 1] + b[:, 3]) - np.maximum(a[1], b[:, 1]), 0, None)
    inter = iw * ih
    return inter / (a[2] * a[3] + b[:, 2] * b[:, 3] - inter)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gt", default=str(DATA / "test_coco.json"))
    ap.add_argument("--dets", default=str(DATA / "test_coco_det_AP_H_56.json"))
    ap.add_argument("--top", type=float, default=0.9, help="summaries use people whose top box scores above this")
    args = ap.parse_args()
    gt = json.loads(Path(args.gt).read_text())
    dets = json.loads(Path(args.dets).read_text())
    rows, second, third, sides = [], [], [], []
    for image in gt["images"]:
        anns = [a for a in gt["annotations"] if a["image_id"] == image["id"] and not a["iscrowd"]]
        ds = [d for d in dets if d["image_id"] == image["id"]]
        if not anns or not ds:
            continue
        boxes = np.array([d["bbox"] for d in ds], float)
        scores = np.array([d["score"] for d in ds], float)
        ious = np.stack([iou_xywh(np.array(a["bbox"], float), boxes) for a in anns])  # (G, D)
        owner = np.where(ious.max(axis=0) >= 0.5, ious.argmax(axis=0), -1)
        for g, a in enumerate(anns):
            mine = np.flatnonzero(owner == g)
            mine = mine[np.argsort(-scores[mine], kind="stable")]
            if not len(mine):
                rows.append((a["id"], [], [], 0.0))
                continue
            s = scores[mine]
            top = boxes[mine[0]]
            x, y, w, h = a["bbox"]
            err = np.array([(top[0] - x) / w, (top[1] - y) / h, (top[0] + top[2] - x - w) / w,
                            (top[1] + top[3] - y - h) / h])
            rows.append((a["id"], s[:4].tolist(), (s[1:3] / s[0]).tolist(), float(ious[g, mine[0]])))
            if s[0] > args.top:
                sides.append(err)
                if len(s) > 1:
                    second.append((s[1], s[1] / s[0]))
                if len(s) > 2:
                    third.append(s[2] / s[0])
    print(f"{'person':>9}  {'best scores':<28}  {'2nd/top, 3rd/top':<16}  top IoU")
    for pid, s, r, iou in rows:
        print(f"{pid:>9}  {' '.join(f'{v:.3f}' for v in s):<28}  {' '.join(f'{v:.3f}' for v in r):<16}  {iou:.2f}")
    second_a = np.array(second)
    third_a = np.array(third)
    sides_a = np.array(sides)
    print(f"people with a top box above {args.top}: {len(sides_a)} of {len(rows)}")
    if len(second_a):
        print(f"second box score: {second_a[:, 0].min():.3f}..{second_a[:, 0].max():.3f} "
              f"(median {np.median(second_a[:, 0]):.3f}); / top: {second_a[:, 1].min():.3f}..{second_a[:, 1].max():.3f}")
    if len(third_a):
        print(f"third box / top: {third_a.min():.3f}..{third_a.max():.3f} (median {np.median(third_a):.3f})")
    if len(sides_a):
        print("top box side errors (x0, y0, x1, y1; fraction of GT w/h): std "
              + ", ".join(f"{v:.3f}" for v in sides_a.std(axis=0)) + "; mean "
              + ", ".join(f"{v:+.3f}" for v in sides_a.mean(axis=0)))


if __name__ == "__main__":
    main()
