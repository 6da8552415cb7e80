"""Does the STN learn to re-centre badly placed boxes at all? A probe for the ablation's finding.

The ablation (docs/ablation.md) found that its trained STNs apply nearly the same transform to
every crop. This probe separates "the mechanism cannot learn" from "the ablation gave it little
to learn": it trains the ``sstn`` variant from the ablation's seed-0 base SPPE on boxes with
large errors (AlphaPose's jitter: side offsets with a standard deviation of 7 to 13 % of the
box), then measures on the test split's true boxes jittered the same way whether the STN's
shift follows each box's error (``stn_motion``: correlation of crop''s centre shift with the
true centre's offset, per axis).

Usage (after ``python benchmarks/ablation.py``, whose cache it reads)::

    python benchmarks/stn_probe.py [--work work_dirs/ablation] [--epochs 1]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, ROOT)


def _ablation():
    spec = importlib.util.spec_from_file_location("ablation_script", os.path.join(ROOT, "benchmarks", "ablation.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def jittered_boxes(ann_path: str, out: str, seed: int = 0) -> str:
    """A detection file of every annotated person's true box, its sides moved by AlphaPose's
    jitter Gaussians (units of the box width / height)."""
    import numpy as np

    from pgpg.proposals import ALPHAPOSE_OFFSET_MEAN, ALPHAPOSE_OFFSET_STD
    from rmpe.io import atomic_write_json

    rng = np.random.default_rng(seed)
    with open(ann_path, "r", encoding="utf-8") as fh:
        ann = json.load(fh)
    dets = []
    for a in ann["annotations"]:
        x, y, w, h = a["bbox"]
        d = rng.normal(ALPHAPOSE_OFFSET_MEAN, ALPHAPOSE_OFFSET_STD) * np.array([w, h, w, h])
        x1, y1, x2, y2 = x + d[0], y + d[1], x + w + d[2], y + h + d[3]
        if x2 - x1 > 2 and y2 - y1 > 2:
            dets.append({"image_id": a["image_id"], "category_id": 1, "score": 1.0,
                         "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)]})
    atomic_write_json(out, dets)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default=os.path.join(ROOT, "work_dirs", "ablation"))
    ap.add_argument("--epochs", type=int, default=1)
    args = ap.parse_args(argv)
    ab = _ablation()
    from rmpe.config import as_config, load_config
    from rmpe.train import train

    w = args.work
    data = {k: {"ann": f"{w}/data/{k}/annotations.json", "images": f"{w}/data/{k}/images",
                "dets": f"{w}/data/{k}/detections.json"} for k in ("train", "tune", "test")}
    base_ckpt = os.path.join(w, "train", "base_s0", "last.pth")
    if not os.path.exists(base_ckpt):
        raise SystemExit(f"stn_probe: no {base_ckpt}: run python benchmarks/ablation.py first")
    base = load_config(ab.CROWD)
    cfg = ab.variant_config(base, "sstn", 0, ab.FULL, data, {}, init_from=base_ckpt)
    cfg = as_config(cfg, ["train.proposals.type=jitter", "train.proposals.model=null", f"train.epochs={args.epochs}",
                          "train.lr_steps=[]"])
    workdir = os.path.join(w, "probe", "sstn_alphapose_jitter")
    last = os.path.join(workdir, "last.pth")
    if not os.path.exists(last):
        train(cfg, workdir, resume=False, quiet=True)
    probe = dict(data["test"], dets=jittered_boxes(data["test"]["ann"], os.path.join(w, "probe", "test_jittered.json")))
    report = {"trained on AlphaPose jitter, test boxes jittered": ab.stn_motion(cfg, last, probe),
              "the ablation's sstn_s0, test boxes jittered": ab.stn_motion(cfg, os.path.join(w, "train", "sstn_s0", "last.pth"), probe)}
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
