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


def train_stn_only(cfg, steps: int, path: str, seed: int = 0) -> str:
    """Train only the localisation net, against the base SPPE frozen (as the parallel SPPE and
    as the SPPE), on the parallel-SPPE loss alone: the cleanest test of the STN's training
    signal. Saves the model's state to ``path``."""
    import torch

    from rmpe.checkpoints import save_model_checkpoint
    from rmpe.data.dataset import COCOKeypointDataset
    from rmpe.data.loader import build_loader
    from rmpe.model import RMPEModel, weighted_heatmap_mse

    torch.manual_seed(seed)
    model = RMPEModel.from_config(cfg)  # loads model.init_from into the SPPE and its parallel copy
    model.train()
    model.sppe.eval()
    model.sppe.requires_grad_(False)
    opt = torch.optim.Adam(model.stn.parameters(), lr=cfg.train.lr)
    data = COCOKeypointDataset.from_config(cfg, "train")
    loader = build_loader(data, batch_size=cfg.train.batch_size, num_workers=cfg.data.num_workers, drop_last=True)
    step = 0
    while step < steps:
        for batch in loader:
            crops = batch["image"].float().div(255.0)
            centred, weights = model.codec.encode(batch["centred"], batch["visible"])
            output = model.forward_crops(crops)
            loss = weighted_heatmap_mse(output.parallel_heatmaps, centred, weights)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if step % 50 == 0:
                grad = float(model.stn.fc_theta.weight.grad.norm())
                theta = model.stn.fc_theta.bias.detach().tolist()
                print(f"stn-only step {step}: parallel loss {float(loss.detach()):.6f}, |grad fc_theta| {grad:.2e}, "
                      f"bias {[round(v, 4) for v in theta]}", file=sys.stderr)
            if step >= steps:
                break
    save_model_checkpoint(path, model, config=cfg.to_dict())
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default=os.path.join(ROOT, "work_dirs", "ablation"))
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--stn-only", type=int, default=0, metavar="STEPS",
                    help="also train the localisation net alone (SPPE frozen, parallel loss only) for STEPS steps")
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
    if args.stn_only:
        only = os.path.join(w, "probe", f"stn_only_{args.stn_only}.pth")
        if not os.path.exists(only):
            train_stn_only(cfg, args.stn_only, only)
        report[f"localisation net alone, {args.stn_only} steps, test boxes jittered"] = ab.stn_motion(cfg, only, probe)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
